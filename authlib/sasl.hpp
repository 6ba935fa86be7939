// authlib/sasl.hpp: the SASL pieces every service shares (imapd, pop3d,
// esmtpd, the outbound SMTP client and authdaemond), so none of them parses
// client credentials on its own:
//   - strict base64 (RFC 4648 section 4) with hard size limits;
//   - PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), EXTERNAL
//     (RFC 4422 appendix A), CRAM-MD5 (RFC 2195) and its SHA-1/SHA-256
//     variants, including Courier's precomputed hmac-*pw userdb secrets;
//   - the authdaemon AUTH payload "service\nauthtype\nfield1\nfield2\n"
//     (COURIER-COMPAT.md section 7), built by the services and parsed by
//     authdaemond.
// All parsers are pure: bytes in, a value or a Problem out. A Problem is a
// client's mistake; the service turns it into a protocol reply (STYLE.md 5).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "lib/result.hpp"
#include "lib/secret.hpp"

namespace authlib::sasl {

// ---------------------------------------------------------------------------
// Limits. Every parser refuses input beyond these before doing any work.

// RFC 4616 section 2 requires servers to accept identities and passwords of
// at least 255 octets; these leave room for long UTF-8 addresses.
inline constexpr size_t max_identity_bytes = 512;
inline constexpr size_t max_password_bytes = 1024;
// One decoded SASL message (a PLAIN blob, a CRAM response).
inline constexpr size_t max_message_bytes = 4096;
// The same message base64-encoded (RFC 4648: 4 characters per 3 bytes).
inline constexpr size_t max_encoded_message_bytes = (max_message_bytes + 2) / 3 * 4;
// A CRAM challenge "<random.time@hostname>".
inline constexpr size_t max_challenge_bytes = 512;
// A service name in the authdaemon payload ("imap", "pop3", "esmtp"...).
inline constexpr size_t max_service_bytes = 64;
// The whole authdaemon AUTH payload.
inline constexpr size_t max_auth_payload_bytes = 16384;

// ---------------------------------------------------------------------------
// What was wrong with a client's SASL message.

enum class Problem {
  empty,              // nothing where something is required
  too_long,           // over one of the limits above
  bad_base64,         // not canonical base64: bad character, padding or length
  missing_nul,        // PLAIN: fewer than two NUL separators
  extra_nul,          // PLAIN: a NUL inside a field (more than two NULs)
  empty_authcid,      // PLAIN: empty authentication identity
  empty_username,     // LOGIN, CRAM, authdaemon: empty user name
  empty_password,     // PLAIN, LOGIN, authdaemon: empty password
  bad_character,      // a control character (CR, LF, TAB...) in a field
  missing_space,      // CRAM: no space between user name and digest
  bad_digest,         // CRAM: digest of wrong length or not hexadecimal; bad hex
  missing_field,      // authdaemon payload: fewer lines than the authtype needs
  extra_field,        // authdaemon payload: data after the last field
  unknown_authtype,   // authdaemon payload: not login/cram-md5/cram-sha1/cram-sha256
  bad_service,        // authdaemon payload: empty or odd service name
};

// A short English text for the Problem, fit for a protocol reply or a log
// line ("invalid base64"). Never contains client data.
std::string_view problem_text(Problem problem) noexcept;

// A parsed value or the Problem that prevented it.
template <class T>
class [[nodiscard]] Parsed {
 public:
  Parsed(T value) : v_(std::move(value)) {}
  Parsed(Problem problem) : v_(problem) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  Problem problem() const { return std::get<1>(v_); }

 private:
  std::variant<T, Problem> v_;
};

template <>
class [[nodiscard]] Parsed<void> {
 public:
  Parsed() = default;
  Parsed(Problem problem) : problem_(problem) {}

  bool ok() const noexcept { return !problem_; }
  explicit operator bool() const noexcept { return ok(); }
  Problem problem() const { return *problem_; }

 private:
  std::optional<Problem> problem_;
};

// ---------------------------------------------------------------------------
// Base64 (RFC 4648 section 4, standard alphabet, with padding).

// Encodes any bytes. For bytes that are secret, use encode_base64_secret.
std::string encode_base64(std::string_view bytes);
lib::Secret encode_base64_secret(std::string_view bytes);

// Decodes canonical base64 only: length a multiple of 4, the standard
// alphabet, at most two '=' and only at the end, zero bits in the unused
// part of the last character (RFC 4648 section 3.5). No whitespace or line
// breaks. An empty text decodes to empty bytes. Problems: bad_base64, or
// too_long when the decoded size would exceed max_decoded_bytes.
Parsed<std::string> decode_base64(std::string_view text,
                                  size_t max_decoded_bytes = max_message_bytes);
// The same, for data that holds a password; the result wipes itself.
Parsed<lib::Secret> decode_base64_secret(std::string_view text,
                                         size_t max_decoded_bytes = max_message_bytes);

// Hexadecimal, as in CRAM digests and Courier's precomputed secrets.
std::string encode_hex(std::string_view bytes);  // lower case
// Decodes an even number of hex digits of either case. Problems: bad_digest
// (odd length or a non-hex character), too_long.
Parsed<std::string> decode_hex(std::string_view text,
                               size_t max_decoded_bytes = max_message_bytes);

// A client's line "*" cancels the exchange (RFC 4954 section 4, RFC 3501
// section 6.2.2); the service answers with its "authentication cancelled".
bool is_cancel(std::string_view line) noexcept;

// Decodes an initial response given with the AUTH command itself: "=" is an
// empty response (RFC 4954 section 4, RFC 4959), anything else is base64.
Parsed<lib::Secret> decode_initial_response(std::string_view text);

// ---------------------------------------------------------------------------
// Mechanisms.

enum class Mechanism { plain, login, cram_md5, cram_sha1, cram_sha256, external };

// "PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1", "CRAM-SHA256", "EXTERNAL".
std::string_view mechanism_name(Mechanism mechanism) noexcept;
// The mechanism a client named in AUTHENTICATE/AUTH, case-insensitively
// (RFC 4422 section 3.1); nullopt for anything else.
std::optional<Mechanism> mechanism_from_name(std::string_view name) noexcept;

// ---------------------------------------------------------------------------
// PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd.

struct PlainCredentials {
  std::string authzid;   // empty: act as authcid
  std::string authcid;   // never empty
  lib::Secret password;  // never empty
};

// Parses the decoded PLAIN message. Problems: empty, too_long, missing_nul,
// extra_nul, empty_authcid, empty_password, bad_character (a control
// character in an identity, or CR/LF in the password, which the authdaemon
// payload could not carry).
Parsed<PlainCredentials> parse_plain(std::string_view message);

// The client side: the base64 PLAIN message for AUTH PLAIN. Problems as
// parse_plain would report for the same fields.
Parsed<lib::Secret> encode_plain(std::string_view authzid, std::string_view authcid,
                                 const lib::Secret& password);

// ---------------------------------------------------------------------------
// LOGIN: the server sends base64 "Username:", the client answers with its
// base64 user name, then "Password:" and the password.

inline constexpr std::string_view login_username_prompt = "VXNlcm5hbWU6";  // "Username:"
inline constexpr std::string_view login_password_prompt = "UGFzc3dvcmQ6";  // "Password:"

class LoginExchange {
 public:
  // The base64 prompt to send next; empty once both answers are in.
  std::string_view challenge() const noexcept;
  // Takes the client's base64 answer to the current prompt (or an initial
  // response, which answers "Username:"). After a Problem the exchange is
  // over and the service replies with a failure. Must not be called once
  // done(). Problems: bad_base64, too_long, empty_username, empty_password,
  // bad_character.
  Parsed<void> respond(std::string_view client_b64);

  bool done() const noexcept { return step_ == Step::done; }
  const std::string& username() const noexcept { return username_; }
  const lib::Secret& password() const noexcept { return password_; }

 private:
  enum class Step { username, password, done };
  Step step_ = Step::username;
  std::string username_;
  lib::Secret password_;
};

// ---------------------------------------------------------------------------
// EXTERNAL (RFC 4422 appendix A): the message is an optional authzid.

// Parses the decoded EXTERNAL message; empty means "the identity the TLS
// certificate gave". Problems: too_long, bad_character (NUL or control).
Parsed<std::string> parse_external(std::string_view message);

// ---------------------------------------------------------------------------
// CRAM-MD5 (RFC 2195) and the CRAM-SHA1 / CRAM-SHA256 variants Courier offers.

enum class CramHash { md5, sha1, sha256 };

// "md5", "sha1", "sha256": the suffix in "cram-md5", "hmac-md5pw", "-hmac-md5".
std::string_view cram_hash_name(CramHash hash) noexcept;
// The authdaemon authtype: "cram-md5", "cram-sha1", "cram-sha256".
std::string_view cram_authtype(CramHash hash) noexcept;
// The userdb field holding the precomputed secret: "hmac-md5pw"...
std::string_view cram_userdb_field(CramHash hash) noexcept;
// Digest length in bytes: 16, 20, 32.
size_t cram_digest_bytes(CramHash hash) noexcept;

// HMAC(key, text) (RFC 2104) with the hash through OpenSSL's EVP_MAC, the
// digest as raw bytes; nullopt if OpenSSL refuses the hash (MD5 under FIPS).
// Also imapd's URLAUTH tokens (HMAC-SHA256, imapd/urlauth.hpp).
std::optional<lib::Secret> hmac(CramHash hash, std::string_view key, std::string_view text);

// Makes a challenge "<random.seconds@hostname>" in msg-id form (RFC 2195
// section 2), the random part from RAND_bytes. hostname is the server's
// name from its configuration. Errors: temporary if the random generator
// fails; permanent if hostname is empty, too long or not a plain domain name
// (letters, digits, '-', '.', '_').
lib::Result<std::string> make_cram_challenge(std::string_view hostname);

// A decoded CRAM exchange, as authdaemond needs it to check the digest.
struct CramExchange {
  CramHash hash = CramHash::md5;
  std::string challenge;  // the decoded challenge the server sent
  std::string username;   // from the client's response
  std::string digest;     // the client's digest, raw bytes (cram_digest_bytes long)
};

// Parses a decoded client response "username SP hexdigest". The digest is
// whatever follows the last space, so user names may contain spaces, as in
// Courier. Problems: empty, too_long, missing_space, empty_username,
// bad_character, bad_digest.
Parsed<CramExchange> parse_cram_response(CramHash hash, std::string_view challenge,
                                         std::string_view response);

// Decodes the two base64 fields of the authdaemon payload and parses the
// response. Problems: those of decode_base64 and parse_cram_response.
Parsed<CramExchange> decode_cram(CramHash hash, std::string_view challenge_b64,
                                 std::string_view response_b64);

// True if the client's digest is HMAC(secret, challenge) (RFC 2104), the
// comparison in constant time. False for an empty secret, and if OpenSSL
// refuses the hash (e.g. MD5 under FIPS).
bool verify_cram(const CramExchange& exchange, const lib::Secret& secret);

// The same against Courier's precomputed form (userdb hmac-md5pw,
// hmac-sha1pw, hmac-sha256pw, made by `userdbpw -hmac-md5`): the hex of the
// hash's chaining state after the block key XOR opad, then after key XOR
// ipad (libhmac's hmac_hashkey), 4 * cram_digest_bytes hex digits. False if
// stored is not of that form.
bool verify_cram_precomputed(const CramExchange& exchange, std::string_view stored);

// Courier's precomputed form of secret, as `userdbpw -hmac-md5` prints it.
// Errors: permanent if the secret is empty or OpenSSL refuses the hash.
lib::Result<std::string> make_cram_precomputed(CramHash hash, const lib::Secret& secret);

// The client side: the decoded response "username SP hexdigest" to send
// (base64-encoded) for challenge. Errors: permanent if OpenSSL refuses the
// hash or the secret is empty.
lib::Result<lib::Secret> cram_client_response(CramHash hash, std::string_view username,
                                              const lib::Secret& secret,
                                              std::string_view challenge);

// ---------------------------------------------------------------------------
// The authdaemon AUTH payload: "service\nauthtype\nfield1\nfield2\n".

// authtype "login": from PLAIN or LOGIN.
struct LoginFields {
  std::string username;
  lib::Secret password;
};
// authtype "cram-md5" / "cram-sha1" / "cram-sha256": the challenge the
// server sent and the client's response, both base64 as on the wire.
struct CramFields {
  CramHash hash = CramHash::md5;
  std::string challenge_b64;
  std::string response_b64;
};

struct AuthRequest {
  std::string service;  // "imap", "pop3", "esmtp"...: selects <service>pw fields
  std::variant<LoginFields, CramFields> fields;
};

// The payload bytes for "AUTH <len>\n<payload>". It holds the password, so
// it is a Secret. Problems: bad_service, empty_username, empty_password,
// bad_character (a control character in the user name, CR/LF in the
// password), too_long, bad_base64 (CRAM fields), empty.
Parsed<lib::Secret> build_auth_payload(const AuthRequest& request);

// Parses a payload received by authdaemond. The final newline is optional,
// as in Courier. Problems: too_long, missing_field, extra_field,
// unknown_authtype, bad_service, and those of build_auth_payload.
Parsed<AuthRequest> parse_auth_payload(std::string_view payload);

}  // namespace authlib::sasl
