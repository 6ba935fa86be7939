// authlib/sasl.cpp: see sasl.hpp. RFC 4648 (base64), RFC 4616 (PLAIN),
// RFC 4422 (SASL, EXTERNAL), RFC 2195 and RFC 2104 (CRAM-MD5, HMAC).
#include "authlib/sasl.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "authlib/openssl_handles.hpp"
#include "lib/ascii.hpp"

// Courier's precomputed CRAM secrets are hash chaining states; only
// OpenSSL's low-level digest API (deprecated in 3.0, still public) can start
// a digest from a given state. See the section "Courier's precomputed
// secrets" below.
#ifndef OPENSSL_NO_DEPRECATED_3_0
#include <openssl/md5.h>
#include <openssl/sha.h>
#define AUTHLIB_HAVE_LOW_LEVEL_DIGESTS 1
#else
#define AUTHLIB_HAVE_LOW_LEVEL_DIGESTS 0
#endif

namespace authlib::sasl {

namespace {

// A temporary std::string that held secret bytes is wiped before it goes.
void wipe(std::string& s) noexcept {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

lib::Secret to_secret_and_wipe(std::string& s) {
  lib::Secret secret(s);
  wipe(s);
  return secret;
}

using lib::ascii::iequals;

bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

// Identities (user names, authzids) may hold any UTF-8 or legacy 8-bit
// bytes, but no control characters: they end up in log lines and in the
// line-based authdaemon protocol.
bool has_control(std::string_view s) noexcept {
  for (char c : s)
    if (is_control(static_cast<unsigned char>(c))) return true;
  return false;
}

// Passwords may hold anything but NUL, CR and LF, which the authdaemon
// payload uses as separators (and C-string backends cannot carry).
bool password_has_separator(std::string_view s) noexcept {
  return s.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos;
}

// The value of a base64 character, or -1 (RFC 4648 table 1).
int base64_value(unsigned char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_value(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes into out (which the caller wipes if the data is secret).
Parsed<void> decode_base64_into(std::string_view text, size_t max_decoded_bytes,
                                std::string& out) {
  out.clear();
  if (text.empty()) return {};
  // Size first, before looking at any byte. The bound also keeps the
  // length within EVP_DecodeBlock's int.
  constexpr size_t max_text = 1u << 28;
  if (text.size() > max_text || text.size() / 4 > max_decoded_bytes / 3 + 1) {
    return Problem::too_long;
  }
  if (text.size() % 4 != 0) return Problem::bad_base64;
  size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  if (pad > 2) return Problem::bad_base64;
  const size_t data_chars = text.size() - pad;
  int last = 0;
  for (size_t i = 0; i < data_chars; ++i) {
    last = base64_value(static_cast<unsigned char>(text[i]));
    if (last < 0) return Problem::bad_base64;
  }
  // RFC 4648 section 3.5: the bits that the padding leaves over must be
  // zero, so every byte string has exactly one accepted encoding.
  if ((pad == 1 && (last & 0x3) != 0) || (pad == 2 && (last & 0xf) != 0)) {
    return Problem::bad_base64;
  }
  const size_t decoded = text.size() / 4 * 3 - pad;
  if (decoded > max_decoded_bytes) return Problem::too_long;

  out.resize(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  // EVP_DecodeBlock counts padding as zero bytes; the checks above have
  // already made sure it accepts the text.
  if (n < 0 || static_cast<size_t>(n) != text.size() / 4 * 3) {
    wipe(out);
    return Problem::bad_base64;
  }
  out.resize(decoded);
  return {};
}

void encode_base64_into(std::string_view bytes, std::string& out) {
  out.clear();
  // EVP_EncodeBlock takes an int length: encode in whole 3-byte groups.
  constexpr size_t chunk = 3 * 16384;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::array<unsigned char, chunk / 3 * 4 + 1> buf;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    const size_t n = std::min(chunk, bytes.size() - at);
    int written = EVP_EncodeBlock(buf.data(),
                                  reinterpret_cast<const unsigned char*>(bytes.data() + at),
                                  static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(written));
  }
  OPENSSL_cleanse(buf.data(), buf.size());
}

const char* openssl_digest_name(CramHash hash) noexcept {
  switch (hash) {
    case CramHash::md5: return "MD5";
    case CramHash::sha1: return "SHA1";
    case CramHash::sha256: return "SHA256";
  }
  return "MD5";
}

// The last OpenSSL error as text, for an admin.
std::string openssl_error_text() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "no OpenSSL error recorded";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

// HMAC(key, text) with EVP_MAC (RFC 2104); nullopt if OpenSSL refuses, for
// instance MD5 under a FIPS-only configuration.
std::optional<lib::Secret> hmac(CramHash hash, std::string_view key, std::string_view text) {
  EvpMac mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
  if (!mac) return std::nullopt;
  EvpMacCtx ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return std::nullopt;
  std::string digest_name = openssl_digest_name(hash);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name.data(), 0),
      OSSL_PARAM_construct_end(),
  };
  // A non-null key pointer even for an empty key: null would mean "keep
  // the previous key".
  static const unsigned char no_key = 0;
  const unsigned char* key_bytes =
      key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
  std::array<unsigned char, EVP_MAX_MD_SIZE> out;
  size_t out_len = 0;
  bool good = EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) == 1 &&
              EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(text.data()),
                             text.size()) == 1 &&
              EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) == 1 &&
              out_len == cram_digest_bytes(hash);
  std::optional<lib::Secret> result;
  if (good) result.emplace(std::string_view(reinterpret_cast<const char*>(out.data()), out_len));
  OPENSSL_cleanse(out.data(), out.size());
  return result;
}

namespace {

Parsed<void> check_identity(std::string_view name, Problem if_empty) {
  if (name.empty()) return if_empty;
  if (name.size() > max_identity_bytes) return Problem::too_long;
  if (has_control(name)) return Problem::bad_character;
  return {};
}

Parsed<void> check_password(std::string_view password) {
  if (password.empty()) return Problem::empty_password;
  if (password.size() > max_password_bytes) return Problem::too_long;
  if (password_has_separator(password)) return Problem::bad_character;
  return {};
}

// Service names select "<service>pw" fields in userdb: keep them to a
// plain, printable word.
bool valid_service(std::string_view service) noexcept {
  if (service.empty() || service.size() > max_service_bytes) return false;
  for (char ch : service) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Parsed<void> check_cram_fields(const CramFields& cram) {
  if (cram.challenge_b64.empty() || cram.response_b64.empty()) return Problem::empty;
  std::string scratch;
  if (auto p = decode_base64_into(cram.challenge_b64, max_challenge_bytes, scratch); !p) {
    return p.problem();
  }
  auto p = decode_base64_into(cram.response_b64, max_message_bytes, scratch);
  wipe(scratch);
  return p;
}

Parsed<void> check_request(const AuthRequest& request) {
  if (!valid_service(request.service)) return Problem::bad_service;
  if (const auto* login = std::get_if<LoginFields>(&request.fields)) {
    if (auto p = check_identity(login->username, Problem::empty_username); !p) return p;
    return check_password(login->password.reveal());
  }
  return check_cram_fields(std::get<CramFields>(request.fields));
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view problem_text(Problem problem) noexcept {
  switch (problem) {
    case Problem::empty: return "empty message";
    case Problem::too_long: return "message too long";
    case Problem::bad_base64: return "invalid base64";
    case Problem::missing_nul: return "PLAIN message lacks its NUL separators";
    case Problem::extra_nul: return "NUL inside a PLAIN field";
    case Problem::empty_authcid: return "empty authentication identity";
    case Problem::empty_username: return "empty user name";
    case Problem::empty_password: return "empty password";
    case Problem::bad_character: return "control character in a field";
    case Problem::missing_space: return "CRAM response lacks the space before the digest";
    case Problem::bad_digest: return "invalid hexadecimal digest";
    case Problem::missing_field: return "authentication request lacks a field";
    case Problem::extra_field: return "authentication request has data after its last field";
    case Problem::unknown_authtype: return "unknown authentication type";
    case Problem::bad_service: return "invalid service name";
  }
  return "invalid message";
}

// --- base64 and hex ----------------------------------------------------------

std::string encode_base64(std::string_view bytes) {
  std::string out;
  encode_base64_into(bytes, out);
  return out;
}

lib::Secret encode_base64_secret(std::string_view bytes) {
  std::string out;
  encode_base64_into(bytes, out);
  return to_secret_and_wipe(out);
}

Parsed<std::string> decode_base64(std::string_view text, size_t max_decoded_bytes) {
  std::string out;
  if (auto p = decode_base64_into(text, max_decoded_bytes, out); !p) return p.problem();
  return out;
}

Parsed<lib::Secret> decode_base64_secret(std::string_view text, size_t max_decoded_bytes) {
  std::string out;
  if (auto p = decode_base64_into(text, max_decoded_bytes, out); !p) return p.problem();
  return to_secret_and_wipe(out);
}

std::string encode_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    unsigned char c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

Parsed<std::string> decode_hex(std::string_view text, size_t max_decoded_bytes) {
  if (text.size() / 2 > max_decoded_bytes) return Problem::too_long;
  if (text.size() % 2 != 0) return Problem::bad_digest;
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = hex_value(static_cast<unsigned char>(text[i]));
    int lo = hex_value(static_cast<unsigned char>(text[i + 1]));
    if (hi < 0 || lo < 0) {
      wipe(out);
      return Problem::bad_digest;
    }
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

bool is_cancel(std::string_view line) noexcept { return line == "*"; }

Parsed<lib::Secret> decode_initial_response(std::string_view text) {
  if (text == "=") return lib::Secret();
  if (text.empty()) return Problem::empty;  // RFC 4954: an empty response is written "="
  return decode_base64_secret(text);
}

// --- mechanisms ------------------------------------------------------------

namespace {
struct MechanismName {
  Mechanism mechanism;
  std::string_view name;
};
constexpr MechanismName mechanism_names[] = {
    {Mechanism::plain, "PLAIN"},         {Mechanism::login, "LOGIN"},
    {Mechanism::cram_md5, "CRAM-MD5"},   {Mechanism::cram_sha1, "CRAM-SHA1"},
    {Mechanism::cram_sha256, "CRAM-SHA256"}, {Mechanism::external, "EXTERNAL"},
};
}  // namespace

std::string_view mechanism_name(Mechanism mechanism) noexcept {
  for (const auto& m : mechanism_names)
    if (m.mechanism == mechanism) return m.name;
  return "PLAIN";
}

std::optional<Mechanism> mechanism_from_name(std::string_view name) noexcept {
  for (const auto& m : mechanism_names)
    if (iequals(m.name, name)) return m.mechanism;
  return std::nullopt;
}

// --- PLAIN -----------------------------------------------------------------

Parsed<PlainCredentials> parse_plain(std::string_view message) {
  if (message.empty()) return Problem::empty;
  if (message.size() > max_message_bytes) return Problem::too_long;
  // RFC 4616 section 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd,
  // and none of the three may contain NUL.
  const size_t first = message.find('\0');
  if (first == std::string_view::npos) return Problem::missing_nul;
  const size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return Problem::missing_nul;
  if (message.find('\0', second + 1) != std::string_view::npos) return Problem::extra_nul;

  std::string_view authzid = message.substr(0, first);
  std::string_view authcid = message.substr(first + 1, second - first - 1);
  std::string_view passwd = message.substr(second + 1);

  if (authcid.empty()) return Problem::empty_authcid;
  if (auto p = check_identity(authcid, Problem::empty_authcid); !p) return p.problem();
  if (!authzid.empty()) {
    if (auto p = check_identity(authzid, Problem::empty); !p) return p.problem();
  }
  if (auto p = check_password(passwd); !p) return p.problem();
  return PlainCredentials{std::string(authzid), std::string(authcid), lib::Secret(passwd)};
}

Parsed<lib::Secret> encode_plain(std::string_view authzid, std::string_view authcid,
                                 const lib::Secret& password) {
  if (authzid.find('\0') != std::string_view::npos ||
      authcid.find('\0') != std::string_view::npos) {
    return Problem::extra_nul;
  }
  std::string message;
  message.reserve(authzid.size() + authcid.size() + password.size() + 2);
  message.append(authzid);
  message += '\0';
  message.append(authcid);
  message += '\0';
  message.append(password.reveal());
  // The same rules the server applies, so a client never sends what a
  // server of this suite would refuse.
  auto parsed = parse_plain(message);
  if (!parsed) {
    wipe(message);
    return parsed.problem();
  }
  lib::Secret encoded = encode_base64_secret(message);
  wipe(message);
  return encoded;
}

// --- LOGIN -----------------------------------------------------------------

std::string_view LoginExchange::challenge() const noexcept {
  switch (step_) {
    case Step::username: return login_username_prompt;
    case Step::password: return login_password_prompt;
    case Step::done: break;
  }
  return {};
}

Parsed<void> LoginExchange::respond(std::string_view client_b64) {
  assert(step_ != Step::done && "LoginExchange::respond after the exchange is done");
  if (step_ == Step::username) {
    auto name = decode_base64(client_b64, max_identity_bytes);
    if (!name) return name.problem();
    if (auto p = check_identity(name.value(), Problem::empty_username); !p) return p;
    username_ = std::move(name.value());
    step_ = Step::password;
    return {};
  }
  auto password = decode_base64_secret(client_b64, max_password_bytes);
  if (!password) return password.problem();
  if (auto p = check_password(password->reveal()); !p) return p;
  password_ = std::move(password.value());
  step_ = Step::done;
  return {};
}

// --- EXTERNAL --------------------------------------------------------------

Parsed<std::string> parse_external(std::string_view message) {
  if (message.size() > max_identity_bytes) return Problem::too_long;
  if (has_control(message)) return Problem::bad_character;
  return std::string(message);
}

// --- CRAM ------------------------------------------------------------------

std::string_view cram_hash_name(CramHash hash) noexcept {
  switch (hash) {
    case CramHash::md5: return "md5";
    case CramHash::sha1: return "sha1";
    case CramHash::sha256: return "sha256";
  }
  return "md5";
}

std::string_view cram_authtype(CramHash hash) noexcept {
  switch (hash) {
    case CramHash::md5: return "cram-md5";
    case CramHash::sha1: return "cram-sha1";
    case CramHash::sha256: return "cram-sha256";
  }
  return "cram-md5";
}

std::string_view cram_userdb_field(CramHash hash) noexcept {
  switch (hash) {
    case CramHash::md5: return "hmac-md5pw";
    case CramHash::sha1: return "hmac-sha1pw";
    case CramHash::sha256: return "hmac-sha256pw";
  }
  return "hmac-md5pw";
}

size_t cram_digest_bytes(CramHash hash) noexcept {
  switch (hash) {
    case CramHash::md5: return 16;
    case CramHash::sha1: return 20;
    case CramHash::sha256: return 32;
  }
  return 16;
}

lib::Result<std::string> make_cram_challenge(std::string_view hostname) {
  // The host name goes inside a msg-id (RFC 5322 section 3.6.4): keep it
  // to the characters of a domain name so the challenge stays well formed.
  bool valid = !hostname.empty() && hostname.size() <= 253;
  for (char ch : hostname) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '.' || c == '_')) {
      valid = false;
    }
  }
  if (!valid) {
    return lib::permanent_error(
        "CRAM challenge: the server's host name is empty, longer than 253 characters or "
        "not a plain domain name (letters, digits, '-', '.', '_'); set the host name in "
        "the service's configuration");
  }
  std::array<unsigned char, 8> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return lib::temporary_error("CRAM challenge: OpenSSL RAND_bytes failed (" +
                                openssl_error_text() +
                                "): the system's random source is not available");
  }
  std::uint64_t r = 0;
  for (unsigned char b : random) r = (r << 8) | b;
  // RFC 2195 section 2: "<random-digits.timestamp@hostname>".
  std::string challenge = "<" + std::to_string(r) + "." +
                          std::to_string(static_cast<long long>(std::time(nullptr))) + "@" +
                          std::string(hostname) + ">";
  return challenge;
}

Parsed<CramExchange> parse_cram_response(CramHash hash, std::string_view challenge,
                                         std::string_view response) {
  if (challenge.empty() || response.empty()) return Problem::empty;
  if (challenge.size() > max_challenge_bytes || response.size() > max_message_bytes) {
    return Problem::too_long;
  }
  // RFC 2195 section 2: user name, a space, the digest in lower-case hex.
  // The last space splits them, as in Courier, so names may contain spaces.
  const size_t space = response.rfind(' ');
  if (space == std::string_view::npos) return Problem::missing_space;
  std::string_view username = response.substr(0, space);
  std::string_view hex = response.substr(space + 1);
  if (auto p = check_identity(username, Problem::empty_username); !p) return p.problem();
  // Upper-case hex is accepted too: RFC 2195 asks clients for lower case,
  // and Courier's parser has always taken either.
  if (hex.size() != 2 * cram_digest_bytes(hash)) return Problem::bad_digest;
  auto digest = decode_hex(hex, cram_digest_bytes(hash));
  if (!digest) return Problem::bad_digest;
  return CramExchange{hash, std::string(challenge), std::string(username),
                      std::move(digest.value())};
}

Parsed<CramExchange> decode_cram(CramHash hash, std::string_view challenge_b64,
                                 std::string_view response_b64) {
  if (challenge_b64.empty() || response_b64.empty()) return Problem::empty;
  auto challenge = decode_base64(challenge_b64, max_challenge_bytes);
  if (!challenge) return challenge.problem();
  auto response = decode_base64(response_b64, max_message_bytes);
  if (!response) return response.problem();
  return parse_cram_response(hash, challenge.value(), response.value());
}

bool verify_cram(const CramExchange& exchange, const lib::Secret& secret) {
  if (secret.empty() || exchange.digest.size() != cram_digest_bytes(exchange.hash)) {
    return false;
  }
  auto mac = hmac(exchange.hash, secret.reveal(), exchange.challenge);
  if (!mac) return false;
  return mac->equals(exchange.digest);
}

lib::Result<lib::Secret> cram_client_response(CramHash hash, std::string_view username,
                                              const lib::Secret& secret,
                                              std::string_view challenge) {
  if (secret.empty()) {
    return lib::permanent_error("CRAM response: the password for " + std::string(username) +
                                " is empty; set one in the client configuration");
  }
  auto mac = hmac(hash, secret.reveal(), challenge);
  if (!mac) {
    return lib::permanent_error("CRAM response: OpenSSL refuses HMAC-" +
                                std::string(openssl_digest_name(hash)) + " (" +
                                openssl_error_text() +
                                "); is OpenSSL restricted to FIPS algorithms? Use "
                                "another mechanism such as PLAIN over TLS");
  }
  std::string response(username);
  response += ' ';
  response += encode_hex(mac->reveal());
  return to_secret_and_wipe(response);
}

// --- Courier's precomputed secrets ------------------------------------------
//
// Courier's libhmac (hmac_hashkey) runs one compression-function block of
// key XOR opad and one of key XOR ipad (RFC 2104 section 2; a key longer than
// the 64-byte block is hashed first) and stores the two chaining states,
// outer first, each serialized as the hash would serialize its digest
// (MD5: little-endian words; SHA-1 and SHA-256: big-endian words), all in
// hex. Verifying resumes each digest from its state with 64 bytes already
// counted. The EVP API cannot start a digest from a given state, so this
// uses OpenSSL's low-level MD5/SHA interface, whose context structures are
// public; it is deprecated in OpenSSL 3.0 but present in all its builds that
// keep the deprecated API.

#if AUTHLIB_HAVE_LOW_LEVEL_DIGESTS

namespace {

constexpr size_t hmac_block_bytes = 64;  // MD5, SHA-1 and SHA-256 alike

std::uint32_t load_le32(const unsigned char* p) noexcept {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}
std::uint32_t load_be32(const unsigned char* p) noexcept {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 |
         std::uint32_t(p[3]);
}
void store_le32(unsigned char* p, std::uint32_t w) noexcept {
  p[0] = static_cast<unsigned char>(w);
  p[1] = static_cast<unsigned char>(w >> 8);
  p[2] = static_cast<unsigned char>(w >> 16);
  p[3] = static_cast<unsigned char>(w >> 24);
}
void store_be32(unsigned char* p, std::uint32_t w) noexcept {
  p[0] = static_cast<unsigned char>(w >> 24);
  p[1] = static_cast<unsigned char>(w >> 16);
  p[2] = static_cast<unsigned char>(w >> 8);
  p[3] = static_cast<unsigned char>(w);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

// The chaining state after one block, written to state (digest-size bytes).
void state_after_block(CramHash hash, const unsigned char* block, unsigned char* state) {
  switch (hash) {
    case CramHash::md5: {
      MD5_CTX c;
      MD5_Init(&c);
      MD5_Update(&c, block, hmac_block_bytes);
      store_le32(state, c.A);
      store_le32(state + 4, c.B);
      store_le32(state + 8, c.C);
      store_le32(state + 12, c.D);
      OPENSSL_cleanse(&c, sizeof c);
      return;
    }
    case CramHash::sha1: {
      SHA_CTX c;
      SHA1_Init(&c);
      SHA1_Update(&c, block, hmac_block_bytes);
      const std::uint32_t h[5] = {c.h0, c.h1, c.h2, c.h3, c.h4};
      for (size_t i = 0; i < 5; ++i) store_be32(state + 4 * i, h[i]);
      OPENSSL_cleanse(&c, sizeof c);
      return;
    }
    case CramHash::sha256: {
      SHA256_CTX c;
      SHA256_Init(&c);
      SHA256_Update(&c, block, hmac_block_bytes);
      for (size_t i = 0; i < 8; ++i) store_be32(state + 4 * i, c.h[i]);
      OPENSSL_cleanse(&c, sizeof c);
      return;
    }
  }
}

// The digest of (the block that led to state) + text, written to out.
void finish_from_state(CramHash hash, const unsigned char* state, const unsigned char* text,
                       size_t text_len, unsigned char* out) {
  // One block of 64 bytes already hashed: 512 bits in the length counter,
  // nothing buffered.
  switch (hash) {
    case CramHash::md5: {
      MD5_CTX c;
      MD5_Init(&c);
      c.A = load_le32(state);
      c.B = load_le32(state + 4);
      c.C = load_le32(state + 8);
      c.D = load_le32(state + 12);
      c.Nl = hmac_block_bytes * 8;
      c.Nh = 0;
      c.num = 0;
      MD5_Update(&c, text, text_len);
      MD5_Final(out, &c);
      OPENSSL_cleanse(&c, sizeof c);
      return;
    }
    case CramHash::sha1: {
      SHA_CTX c;
      SHA1_Init(&c);
      c.h0 = load_be32(state);
      c.h1 = load_be32(state + 4);
      c.h2 = load_be32(state + 8);
      c.h3 = load_be32(state + 12);
      c.h4 = load_be32(state + 16);
      c.Nl = hmac_block_bytes * 8;
      c.Nh = 0;
      c.num = 0;
      SHA1_Update(&c, text, text_len);
      SHA1_Final(out, &c);
      OPENSSL_cleanse(&c, sizeof c);
      return;
    }
    case CramHash::sha256: {
      SHA256_CTX c;
      SHA256_Init(&c);
      for (size_t i = 0; i < 8; ++i) c.h[i] = load_be32(state + 4 * i);
      c.Nl = hmac_block_bytes * 8;
      c.Nh = 0;
      c.num = 0;
      SHA256_Update(&c, text, text_len);
      SHA256_Final(out, &c);
      OPENSSL_cleanse(&c, sizeof c);
      return;
    }
  }
}

// A key longer than a block is replaced by its digest (RFC 2104 section 2).
size_t shorten_key(CramHash hash, std::string_view key, unsigned char* out) {
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  switch (hash) {
    case CramHash::md5: MD5(k, key.size(), out); break;
    case CramHash::sha1: SHA1(k, key.size(), out); break;
    case CramHash::sha256: SHA256(k, key.size(), out); break;
  }
  return cram_digest_bytes(hash);
}

#pragma GCC diagnostic pop

}  // namespace

lib::Result<std::string> make_cram_precomputed(CramHash hash, const lib::Secret& secret) {
  if (secret.empty()) {
    return lib::permanent_error(
        "cannot make a " + std::string(cram_userdb_field(hash)) +
        " secret from an empty password; give the account a password");
  }
  std::array<unsigned char, hmac_block_bytes> key{};
  size_t key_len = secret.size();
  if (key_len > hmac_block_bytes) {
    key_len = shorten_key(hash, secret.reveal(), key.data());
  } else {
    std::memcpy(key.data(), secret.reveal().data(), key_len);
  }
  const size_t L = cram_digest_bytes(hash);
  std::array<unsigned char, hmac_block_bytes> block{};
  std::array<unsigned char, 64> states{};  // outer state, then inner state
  for (size_t i = 0; i < hmac_block_bytes; ++i) block[i] = key[i] ^ 0x5c;
  state_after_block(hash, block.data(), states.data());
  for (size_t i = 0; i < hmac_block_bytes; ++i) block[i] = key[i] ^ 0x36;
  state_after_block(hash, block.data(), states.data() + L);
  std::string hex = encode_hex(std::string_view(reinterpret_cast<const char*>(states.data()), 2 * L));
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(states.data(), states.size());
  return hex;
}

bool verify_cram_precomputed(const CramExchange& exchange, std::string_view stored) {
  const size_t L = cram_digest_bytes(exchange.hash);
  if (stored.size() != 4 * L || exchange.digest.size() != L) return false;
  auto states = decode_hex(stored, 2 * L);
  if (!states) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(states->data());
  std::array<unsigned char, 32> inner{};
  std::array<unsigned char, 32> outer{};
  finish_from_state(exchange.hash, s + L,
                    reinterpret_cast<const unsigned char*>(exchange.challenge.data()),
                    exchange.challenge.size(), inner.data());
  finish_from_state(exchange.hash, s, inner.data(), L, outer.data());
  bool match = CRYPTO_memcmp(outer.data(), exchange.digest.data(), L) == 0;
  wipe(states.value());
  OPENSSL_cleanse(inner.data(), inner.size());
  OPENSSL_cleanse(outer.data(), outer.size());
  return match;
}

#else  // !AUTHLIB_HAVE_LOW_LEVEL_DIGESTS

lib::Result<std::string> make_cram_precomputed(CramHash hash, const lib::Secret&) {
  return lib::permanent_error(
      "cannot make a " + std::string(cram_userdb_field(hash)) +
      " secret: this OpenSSL was built without its deprecated low-level digest API, "
      "which Courier's precomputed CRAM secrets need; store a clear-text password for "
      "CRAM instead, or rebuild against an OpenSSL with the deprecated API");
}

bool verify_cram_precomputed(const CramExchange&, std::string_view) { return false; }

#endif

// --- the authdaemon AUTH payload -------------------------------------------

Parsed<lib::Secret> build_auth_payload(const AuthRequest& request) {
  if (auto p = check_request(request); !p) return p.problem();
  std::string payload = request.service;
  payload += '\n';
  if (const auto* login = std::get_if<LoginFields>(&request.fields)) {
    payload += "login\n";
    payload += login->username;
    payload += '\n';
    payload += login->password.reveal();
    payload += '\n';
  } else {
    const auto& cram = std::get<CramFields>(request.fields);
    payload += cram_authtype(cram.hash);
    payload += '\n';
    payload += cram.challenge_b64;
    payload += '\n';
    payload += cram.response_b64;
    payload += '\n';
  }
  if (payload.size() > max_auth_payload_bytes) {
    wipe(payload);
    return Problem::too_long;
  }
  return to_secret_and_wipe(payload);
}

Parsed<AuthRequest> parse_auth_payload(std::string_view payload) {
  if (payload.empty()) return Problem::empty;
  if (payload.size() > max_auth_payload_bytes) return Problem::too_long;
  // service \n authtype \n field1 \n field2 [\n]
  std::string_view rest = payload;
  std::array<std::string_view, 3> head;
  for (auto& field : head) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return Problem::missing_field;
    field = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  std::string_view last = rest;
  if (const size_t nl = rest.find('\n'); nl != std::string_view::npos) {
    last = rest.substr(0, nl);
    if (nl + 1 != rest.size()) return Problem::extra_field;
  }
  const std::string_view service = head[0];
  const std::string_view authtype = head[1];

  AuthRequest request;
  request.service = std::string(service);
  if (iequals(authtype, "login")) {
    request.fields = LoginFields{std::string(head[2]), lib::Secret(last)};
  } else {
    std::optional<CramHash> hash;
    for (CramHash h : {CramHash::md5, CramHash::sha1, CramHash::sha256})
      if (iequals(authtype, cram_authtype(h))) hash = h;
    if (!hash) return Problem::unknown_authtype;
    request.fields = CramFields{*hash, std::string(head[2]), std::string(last)};
  }
  if (auto p = check_request(request); !p) return p.problem();
  return request;
}

}  // namespace authlib::sasl
