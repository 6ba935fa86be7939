// authlib/password.cpp: see password.hpp. crypt(3) schemes go to libxcrypt
// (crypt_rn, crypt_gensalt_rn, crypt_checksalt); the {SCHEME} digests to
// OpenSSL's EVP interface (RFC 2307 section 5.3 for the userPassword forms).
#include "authlib/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "authlib/openssl_handles.hpp"
#include "authlib/sasl.hpp"
#include "lib/openssl_error.hpp"
#include "lib/ascii.hpp"

namespace authlib {

namespace {

// --- the {SCHEME} digests ----------------------------------------------------

struct DigestScheme {
  Scheme scheme;
  std::string_view prefix;      // canonical spelling, matched case-insensitively
  const char* openssl_name;     // for EVP_MD_fetch
  const char* display_name;     // in messages to the admin
  size_t digest_bytes;
  bool hex;                     // hex digits instead of base64
  size_t new_salt_bytes;        // 0: unsalted; else salt after the digest
};

// {SSHA} salts are 4 bytes, the only length Courier's checkpasswordsha1
// reads (and what OpenLDAP writes); verification here takes any length.
constexpr DigestScheme digest_schemes[] = {
    {Scheme::md5, "{MD5}", "MD5", "MD5", 16, false, 0},
    {Scheme::md5_raw, "{MD5RAW}", "MD5", "MD5", 16, true, 0},
    {Scheme::sha1, "{SHA}", "SHA1", "SHA-1", 20, false, 0},
    {Scheme::ssha1, "{SSHA}", "SHA1", "SHA-1", 20, false, 4},
    {Scheme::sha256, "{SHA256}", "SHA256", "SHA-256", 32, false, 0},
    {Scheme::sha512, "{SHA512}", "SHA512", "SHA-512", 64, false, 0},
    {Scheme::ssha256, "{SSHA256}", "SHA256", "SHA-256", 32, false, 8},
    {Scheme::ssha512, "{SSHA512}", "SHA512", "SHA-512", 64, false, 8},
};

constexpr size_t max_salt_bytes = 64;
constexpr size_t max_prefix_bytes = 16;  // "{...}" longer than this is no prefix
constexpr std::string_view crypt_prefix = "{CRYPT}";

// --- the crypt(3) schemes ----------------------------------------------------

struct CryptScheme {
  Scheme scheme;
  std::string_view setting_prefix;  // how stored hashes start
  const char* gensalt_prefix;       // for crypt_gensalt_rn; null: verify only
  int random_bytes;                 // what crypt_gensalt_rn needs for a full salt
};

constexpr CryptScheme crypt_schemes[] = {
    {Scheme::yescrypt, "$y$", "$y$", 16},
    {Scheme::sha512_crypt, "$6$", "$6$", 16},
    {Scheme::sha256_crypt, "$5$", "$5$", 16},
    {Scheme::bcrypt, "$2b$", "$2b$", 16},
    {Scheme::bcrypt, "$2y$", nullptr, 0},
    {Scheme::bcrypt, "$2a$", nullptr, 0},
    {Scheme::bcrypt, "$2x$", nullptr, 0},
    {Scheme::md5_crypt, "$1$", "$1$", 6},
};

struct SchemeName {
  Scheme scheme;
  std::string_view name;
};
constexpr SchemeName scheme_names[] = {
    {Scheme::yescrypt, "yescrypt"},       {Scheme::sha512_crypt, "sha512-crypt"},
    {Scheme::sha256_crypt, "sha256-crypt"}, {Scheme::bcrypt, "bcrypt"},
    {Scheme::md5_crypt, "md5-crypt"},     {Scheme::des_crypt, "des-crypt"},
    {Scheme::other_crypt, "other-crypt"},      {Scheme::md5, "md5"},
    {Scheme::md5_raw, "md5raw"},          {Scheme::sha1, "sha1"},
    {Scheme::ssha1, "ssha"},              {Scheme::sha256, "sha256"},
    {Scheme::sha512, "sha512"},           {Scheme::ssha256, "ssha256"},
    {Scheme::ssha512, "ssha512"},
};

using lib::ascii::iequals;

// The alphabet of crypt(3) output ("./0-9A-Za-z").
bool is_crypt64(char ch) noexcept {
  unsigned char c = static_cast<unsigned char>(ch);
  return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

bool looks_like_des(std::string_view s) noexcept {
  if (s.size() != 13) return false;
  for (char c : s)
    if (!is_crypt64(c)) return false;
  return true;
}

// What a stored hash is, once its prefix has been read.
struct Classified {
  Scheme scheme = Scheme::unknown;
  const DigestScheme* digest = nullptr;  // for the {SCHEME} digests
  std::string_view body;                 // digest text, or the crypt setting
  std::string_view prefix;               // "{...}" as written, if any
};

Scheme classify_crypt(std::string_view setting) {
  if (setting.empty() || setting.find('\0') != std::string_view::npos) return Scheme::unknown;
  for (const auto& c : crypt_schemes)
    if (setting.substr(0, c.setting_prefix.size()) == c.setting_prefix) return c.scheme;
  if (looks_like_des(setting)) return Scheme::des_crypt;
  // "$id$..." and BSDi "_..." forms this table does not name: libxcrypt
  // decides whether it knows them.
  if (setting[0] == '$' || setting[0] == '_') {
    std::string copy(setting);
    int check = crypt_checksalt(copy.c_str());
    if (check == CRYPT_SALT_OK || check == CRYPT_SALT_METHOD_LEGACY) return Scheme::other_crypt;
  }
  return Scheme::unknown;
}

Classified classify(std::string_view stored) {
  Classified c;
  if (stored.empty() || stored.size() > max_stored_hash_bytes) return c;
  if (stored[0] == '{') {
    const size_t close = stored.find('}');
    if (close == std::string_view::npos || close + 1 > max_prefix_bytes) return c;
    c.prefix = stored.substr(0, close + 1);
    c.body = stored.substr(close + 1);
    if (iequals(c.prefix, crypt_prefix)) {
      c.scheme = classify_crypt(c.body);
      return c;
    }
    for (const auto& d : digest_schemes) {
      if (iequals(c.prefix, d.prefix)) {
        c.scheme = d.scheme;
        c.digest = &d;
        return c;
      }
    }
    return c;  // unknown prefix
  }
  c.body = stored;
  c.scheme = classify_crypt(stored);
  return c;
}

// Digest of a then b; nullopt if OpenSSL refuses the algorithm (e.g. MD5
// under a FIPS-only configuration).
std::optional<lib::Secret> digest_of(const char* openssl_name, std::string_view a,
                                     std::string_view b) {
  EvpMd md(EVP_MD_fetch(nullptr, openssl_name, nullptr));
  if (!md) return std::nullopt;
  EvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return std::nullopt;
  std::array<unsigned char, EVP_MAX_MD_SIZE> out;
  unsigned int out_len = 0;
  std::optional<lib::Secret> result;
  if (EVP_DigestInit_ex2(ctx.get(), md.get(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) == 1 &&
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.get(), out.data(), &out_len) == 1) {
    result.emplace(std::string_view(reinterpret_cast<const char*>(out.data()), out_len));
  }
  OPENSSL_cleanse(out.data(), out.size());
  return result;
}

// The digest and salt bytes of a {SCHEME} body, or nullopt when malformed.
std::optional<std::string> decode_digest_body(const DigestScheme& d, std::string_view body) {
  const size_t max_bytes = d.digest_bytes + max_salt_bytes;
  auto decoded = d.hex ? sasl::decode_hex(body, max_bytes) : sasl::decode_base64(body, max_bytes);
  if (!decoded) return std::nullopt;
  return std::move(decoded.value());
}

bool digest_length_ok(const DigestScheme& d, size_t n) noexcept {
  if (d.new_salt_bytes == 0) return n == d.digest_bytes;
  return n > d.digest_bytes && n <= d.digest_bytes + max_salt_bytes;
}

bool verify_digest(const lib::Secret& password, const DigestScheme& d, std::string_view body) {
  auto decoded = decode_digest_body(d, body);
  if (!decoded || !digest_length_ok(d, decoded->size())) return false;
  std::string_view stored_digest = std::string_view(*decoded).substr(0, d.digest_bytes);
  std::string_view salt = std::string_view(*decoded).substr(d.digest_bytes);
  auto computed = digest_of(d.openssl_name, password.reveal(), salt);
  bool match = computed && computed->equals(stored_digest);
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return match;
}

// A crypt_data of its own for every call, on the heap (32 KiB), so that
// threads and forked children never share libxcrypt's scratch space. It is
// wiped before it is freed: it held the password.
struct CryptDataDeleter {
  void operator()(crypt_data* p) const noexcept {
    OPENSSL_cleanse(p, sizeof *p);
    delete p;
  }
};
using CryptData = std::unique_ptr<crypt_data, CryptDataDeleter>;

CryptData new_crypt_data() {
  // Value-initialised: libxcrypt wants the struct zeroed before first use.
  return CryptData(new (std::nothrow) crypt_data());
}

// crypt_rn(phrase, setting) into data->output; null on any failure. The
// phrase and setting are copied into the fields of crypt_data that libxcrypt
// sets aside for them, so the password never sits in a heap string.
const char* run_crypt(crypt_data& data, std::string_view phrase, std::string_view setting) {
  if (phrase.find('\0') != std::string_view::npos || phrase.size() >= sizeof data.input ||
      setting.find('\0') != std::string_view::npos || setting.size() >= sizeof data.setting) {
    return nullptr;
  }
  std::memcpy(data.input, phrase.data(), phrase.size());
  data.input[phrase.size()] = '\0';
  std::memcpy(data.setting, setting.data(), setting.size());
  data.setting[setting.size()] = '\0';
  const char* out = crypt_rn(data.input, data.setting, &data, static_cast<int>(sizeof data));
  // crypt_rn returns null on failure; a '*' result is the older failure
  // convention ("*0"), never a valid hash.
  if (out == nullptr || out[0] == '*') return nullptr;
  return out;
}

Verdict verify_crypt(const lib::Secret& password, std::string_view setting) {
  CryptData data = new_crypt_data();
  if (!data) return Verdict::mismatch;  // out of memory: not the hash's fault
  const char* out = run_crypt(*data, password.reveal(), setting);
  if (out == nullptr) return Verdict::unusable;
  if (lib::constant_time_equal(out, setting)) return Verdict::match;
  // A well-formed hash gives output of its own length for any password.
  return std::string_view(out).size() == setting.size() ? Verdict::mismatch : Verdict::unusable;
}

lib::Result<std::string> random_bytes(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return lib::temporary_error("making a password hash: OpenSSL RAND_bytes failed (" +
                                lib::openssl_error_text() +
                                "): the system's random source is not available");
  }
  return bytes;
}

std::string known_prefixes() {
  std::string list(crypt_prefix);
  for (const auto& d : digest_schemes) {
    list += ' ';
    list += d.prefix;
  }
  return list;
}

std::string describe_digest_problem(const DigestScheme& d, std::string_view body) {
  const std::string name(d.prefix);
  EvpMd md(EVP_MD_fetch(nullptr, d.openssl_name, nullptr));
  if (!md) {
    return name + ": OpenSSL refuses " + d.display_name + " (" + lib::openssl_error_text() +
           "); is it restricted to FIPS algorithms? Rehash the password with another scheme";
  }
  if (body.empty()) return name + ": nothing follows the prefix";
  auto decoded = decode_digest_body(d, body);
  if (!decoded) {
    if (d.hex) {
      return name + ": the digest must be " + std::to_string(2 * d.digest_bytes) +
             " hexadecimal digits";
    }
    return name + ": the digest is not valid base64 (RFC 4648 alphabet, '=' padding, no "
                  "spaces or line breaks) or is too long";
  }
  const size_t n = decoded->size();
  OPENSSL_cleanse(decoded->data(), decoded->size());
  if (digest_length_ok(d, n)) return {};
  if (d.new_salt_bytes == 0) {
    return name + ": the digest is " + std::to_string(n) + " bytes; " + d.display_name +
           " gives " + std::to_string(d.digest_bytes) + " (truncated, or another scheme?)";
  }
  return name + ": " + std::to_string(n) + " bytes decoded; " + d.display_name + " gives " +
         std::to_string(d.digest_bytes) + ", followed by 1 to " + std::to_string(max_salt_bytes) +
         " bytes of salt (truncated, or another scheme?)";
}

std::string describe_crypt_problem(Scheme scheme, std::string_view setting) {
  if (scheme == Scheme::unknown) {
    if (!setting.empty() && (setting[0] == '$' || setting[0] == '_')) {
      return "crypt(3) scheme not supported by libxcrypt (crypt_checksalt rejects the "
             "setting): rehash the password with a supported scheme such as yescrypt";
    }
    return "not a recognised password hash: no {SCHEME} prefix (known are " +
           known_prefixes() + "), and not a crypt(3) hash ($id$... or 13-character DES)";
  }
  CryptData data = new_crypt_data();
  if (!data) return "cannot check the hash: out of memory";
  // A fixed phrase: whatever it is, a well-formed hash gives output of the
  // same shape as the stored hash.
  const char* out = run_crypt(*data, "describe_hash_problem", setting);
  if (out == nullptr) {
    return "crypt returned *0: the hash is malformed or the scheme is not supported by "
           "libxcrypt";
  }
  std::string_view result(out);
  if (result.size() != setting.size()) {
    return "the hash is " + std::to_string(setting.size()) + " characters where its scheme gives " +
           std::to_string(result.size()) + ": it is truncated or has extra characters";
  }
  // libxcrypt 4.4 already refuses characters outside its alphabet; the
  // checks below also catch what an older or laxer build would accept.
  // libxcrypt writes back the settings (salt, cost) it used; if they differ
  // from the stored ones, no password can ever match.
  const size_t last_dollar = result.rfind('$');
  if (last_dollar != std::string_view::npos) {
    if (setting.substr(0, last_dollar + 1) != result.substr(0, last_dollar + 1)) {
      return "libxcrypt reads the hash's settings (salt or cost) differently from how they "
             "are written: the hash is damaged, no password can match it";
    }
    for (char c : setting.substr(last_dollar + 1)) {
      if (!is_crypt64(c)) {
        return "the hash part contains a character outside crypt(3)'s alphabet "
               "(./0-9A-Za-z): it is damaged";
      }
    }
  } else {
    // Traditional DES, or BSDi's "_" followed by count, salt and hash.
    const std::string_view chars = setting[0] == '_' ? setting.substr(1) : setting;
    for (char c : chars) {
      if (!is_crypt64(c)) {
        return "the hash contains a character outside crypt(3)'s alphabet (./0-9A-Za-z): it "
               "is damaged";
      }
    }
  }
  return {};
}

}  // namespace

Scheme detect_scheme(std::string_view stored) { return classify(stored).scheme; }

std::string_view scheme_name(Scheme scheme) noexcept {
  for (const auto& n : scheme_names)
    if (n.scheme == scheme) return n.name;
  return "unknown";
}

std::optional<Scheme> scheme_from_name(std::string_view name) noexcept {
  for (const auto& n : scheme_names)
    if (iequals(n.name, name)) return n.scheme;
  return std::nullopt;
}

Verdict check_password(const lib::Secret& password, std::string_view stored) {
  const Classified c = classify(stored);
  if (c.scheme == Scheme::unknown) return Verdict::unusable;
  if (c.digest != nullptr) {
    if (verify_digest(password, *c.digest, c.body)) return Verdict::match;
    // Describing a digest only decodes it: cheap, no hashing.
    return describe_digest_problem(*c.digest, c.body).empty() ? Verdict::mismatch : Verdict::unusable;
  }
  return verify_crypt(password, c.body);
}

bool verify_password(const lib::Secret& password, std::string_view stored) {
  return check_password(password, stored) == Verdict::match;
}

bool verify_clear(const lib::Secret& password, std::string_view clear) {
  if (clear.empty()) return false;
  // Comparing digests hides the length of the clear password as well as
  // its content from timing.
  auto a = digest_of("SHA256", password.reveal(), {});
  auto b = digest_of("SHA256", clear, {});
  if (a && b) return a->equals(b->reveal());
  return password.equals(clear);
}

std::string describe_hash_problem(std::string_view stored) {
  if (stored.empty()) return "the stored hash is empty: the account has no password set";
  if (stored.size() > max_stored_hash_bytes) {
    return "the stored hash is " + std::to_string(stored.size()) + " bytes, over the limit of " +
           std::to_string(max_stored_hash_bytes) + ": it is not a password hash";
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(stored[i]);
    if (ch < 0x20 || ch == 0x7f) {
      return "the stored hash contains a control character (NUL, tab, CR or LF) at offset " +
             std::to_string(i) + ": a stray line break or tab in the source file?";
    }
  }
  if (stored.front() == ' ' || stored.back() == ' ') {
    return "the stored hash begins or ends with a space: remove it from the source";
  }
  if (stored.front() == '!' || stored.front() == '*') {
    return std::string("the stored hash begins with '") + stored.front() +
           "': the account is locked (passwd -l, usermod -L) or has no password";
  }
  const Classified c = classify(stored);
  if (stored.front() == '{' && c.prefix.empty()) {
    return "the stored hash begins with '{' but has no closing '}' within " +
           std::to_string(max_prefix_bytes) + " characters for its {SCHEME} prefix";
  }
  if (!c.prefix.empty() && c.digest == nullptr && !iequals(c.prefix, crypt_prefix)) {
    return "unknown prefix " + std::string(c.prefix) + ": known are " + known_prefixes();
  }
  if (c.digest != nullptr) return describe_digest_problem(*c.digest, c.body);
  if (c.body.empty()) return "nothing follows the {CRYPT} prefix";
  return describe_crypt_problem(c.scheme, c.body);
}

lib::Result<std::string> make_password_hash(const lib::Secret& password, Scheme scheme) {
  if (password.empty()) {
    return lib::permanent_error("refusing to hash an empty password: choose a password");
  }
  for (const auto& d : digest_schemes) {
    if (d.scheme != scheme) continue;
    std::string salt;
    if (d.new_salt_bytes > 0) {
      auto r = random_bytes(d.new_salt_bytes);
      if (!r) return r.error();
      salt = std::move(r.value());
    }
    auto digest = digest_of(d.openssl_name, password.reveal(), salt);
    if (!digest) {
      return lib::permanent_error("making a " + std::string(d.prefix) + " hash: OpenSSL refuses " +
                                  d.display_name + " (" + lib::openssl_error_text() +
                                  "); is it restricted to FIPS algorithms? Use yescrypt");
    }
    std::string raw(digest->reveal());
    raw += salt;
    std::string hash(d.prefix);
    hash += d.hex ? sasl::encode_hex(raw) : sasl::encode_base64(raw);
    OPENSSL_cleanse(raw.data(), raw.size());
    return hash;
  }

  const char* gensalt_prefix = nullptr;
  int nrandom = 0;
  for (const auto& c : crypt_schemes) {
    if (c.scheme == scheme && c.gensalt_prefix != nullptr) {
      gensalt_prefix = c.gensalt_prefix;
      nrandom = c.random_bytes;
      break;
    }
  }
  if (scheme == Scheme::des_crypt) {
    gensalt_prefix = "";  // libxcrypt: the empty prefix selects traditional DES
    nrandom = 2;
  }
  if (gensalt_prefix == nullptr) {
    return lib::permanent_error("cannot make a password hash of scheme \"" +
                                std::string(scheme_name(scheme)) +
                                "\": choose yescrypt, sha512-crypt, sha256-crypt, bcrypt, "
                                "md5-crypt, des-crypt, md5, md5raw, sha1, ssha, sha256, "
                                "sha512, ssha256 or ssha512");
  }
  const std::string_view phrase = password.reveal();
  if (phrase.find('\0') != std::string_view::npos) {
    return lib::permanent_error("cannot make a crypt(3) hash of a password containing a NUL "
                                "byte: choose another password");
  }
  if (phrase.size() >= CRYPT_MAX_PASSPHRASE_SIZE) {
    return lib::permanent_error("the password is " + std::to_string(phrase.size()) +
                                " bytes; libxcrypt hashes at most " +
                                std::to_string(CRYPT_MAX_PASSPHRASE_SIZE - 1) +
                                ": choose a shorter one");
  }
  auto rbytes = random_bytes(static_cast<size_t>(nrandom));
  if (!rbytes) return rbytes.error();
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  const char* salt = crypt_gensalt_rn(gensalt_prefix, 0, rbytes->data(), nrandom, setting.data(),
                                      static_cast<int>(setting.size()));
  if (salt == nullptr) {
    const int err = errno;
    return lib::permanent_error("libxcrypt's crypt_gensalt_rn refuses scheme \"" +
                                std::string(scheme_name(scheme)) + "\" (" +
                                lib::errno_text(err) +
                                "): it may be disabled in this build of libxcrypt; use yescrypt");
  }
  CryptData data = new_crypt_data();
  if (!data) return lib::temporary_error("making a password hash: out of memory");
  const char* out = run_crypt(*data, phrase, salt);
  if (out == nullptr) {
    const int err = errno;
    return lib::permanent_error("libxcrypt's crypt_rn failed for scheme \"" +
                                std::string(scheme_name(scheme)) + "\" (" +
                                lib::errno_text(err) + "); use yescrypt");
  }
  return std::string(out);
}

}  // namespace authlib
