// authlib/sasl.cpp: see sasl.hpp. RFC 4648 (base64), RFC 4616 (PLAIN),
// RFC 4422 (SASL, EXTERNAL), RFC 2195 and RFC 2104 (CRAM-MD5, HMAC).
#include "authlib/sasl.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "authlib/sasl_internal.hpp"
#include "lib/ascii.hpp"
#include "lib/mime.hpp"

// This file links no OpenSSL (base64 and the parsers are plain code, the CRAM
// challenge's random digits come from getrandom(2)), so that a program that
// only speaks the authdaemon protocol, as imapd does, does not load libcrypto
// at each exec (issue 16). What needs OpenSSL (HMAC, Courier's precomputed
// CRAM secrets) is in sasl_crypto.cpp.

namespace authlib::sasl {

namespace {

using detail::to_secret_and_wipe;
using detail::wipe;

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

int hex_value(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes into out (which the caller wipes if the data is secret).
Parsed<void> decode_base64_into(std::string_view text, size_t max_decoded_bytes,
                                std::string& out) {
  switch (lib::mime::decode_base64_strict(text, max_decoded_bytes, out)) {
    case lib::mime::StrictBase64::ok: return {};
    case lib::mime::StrictBase64::too_long: return Problem::too_long;
    case lib::mime::StrictBase64::invalid: break;
  }
  return Problem::bad_base64;
}

void encode_base64_into(std::string_view bytes, std::string& out) {
  wipe(out);
  out = lib::mime::encode_base64(bytes, 0);  // reserves its exact size: no copy is left behind
}

}  // namespace

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
  // getrandom(2), the kernel's generator that OpenSSL's RAND_bytes seeds from.
  if (getrandom(random.data(), random.size(), 0) != static_cast<ssize_t>(random.size())) {
    return lib::temporary_error("CRAM challenge: getrandom failed (" + lib::errno_text(errno) +
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
