// imapd/urlauth.cpp: URLAUTH keys and tokens (see urlauth.hpp).
#include "imapd/urlauth.hpp"

// OpenSSL's headers for the functions' types only: libcrypto is loaded when a
// session first uses URLAUTH (lib/lazy_library.hpp), not at every exec.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cerrno>

#include "build-config.h"
#include "imapd/folder_lock.hpp"
#include "lib/ascii.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/lazy_library.hpp"
#include "lib/log.hpp"

namespace imapd {
namespace {

lib::LazyLibrary& libcrypto() {
  static lib::LazyLibrary library(LIBCRYPTO_SONAME, "URLAUTH (its keys and HMAC-SHA256 tokens)");
  return library;
}

// RAND_bytes from the lazily loaded libcrypto.
lib::Result<void> random_bytes(std::string& out) {
  auto rand_bytes = libcrypto().function<decltype(::RAND_bytes)>("RAND_bytes");
  if (!rand_bytes) return rand_bytes.error();
  if (rand_bytes->call(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1)
    return lib::temporary_error("URLAUTH: OpenSSL RAND_bytes failed: the system's random source is not available");
  return {};
}

// HMAC-SHA256(key, text) from the lazily loaded libcrypto (RFC 4467's
// INTERNAL mechanism as authlib::sasl::hmac computed it before).
lib::Result<std::string> hmac_sha256(std::string_view key, std::string_view text) {
  auto sha256 = libcrypto().function<decltype(::EVP_sha256)>("EVP_sha256");
  if (!sha256) return sha256.error();
  auto hmac = libcrypto().function<decltype(::HMAC)>("HMAC");
  if (!hmac) return hmac.error();
  static const unsigned char no_key = 0;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  const void* key_bytes = key.empty() ? static_cast<const void*>(&no_key) : key.data();
  if (!hmac->call(sha256->call(), key_bytes, static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(text.data()), text.size(), out, &out_len) ||
      out_len != 32)
    return lib::temporary_error("URLAUTH: OpenSSL's HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

constexpr std::size_t key_bytes = 32;
constexpr std::size_t max_key_file_bytes = 4u << 20;

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    out += digits[u >> 4];
    out += digits[u & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (std::size_t k = i; k < i + 2; ++k) {
      char c = lib::ascii::to_lower(hex[k]);
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    out += static_cast<char>(v);
  }
  return out;
}

std::string key_path(const std::string& root) { return root + "/" + std::string(urlauth_keys_file_name); }

lib::Result<std::map<std::string, std::string>> read_keys(const std::string& root) {
  const std::string path = key_path(root);
  int open_errno = 0;
  auto text = lib::read_small_file(path, max_key_file_bytes, &open_errno);
  if (!text) {
    if (open_errno == ENOENT) return std::map<std::string, std::string>{};
    return text.error();
  }
  return parse_urlauth_keys(*text, path);
}

lib::Result<void> write_keys(const std::string& root, const std::map<std::string, std::string>& keys) {
  lib::AtomicFileOptions opts;
  opts.mode = 0600;
  return lib::write_file_atomically(key_path(root), format_urlauth_keys(keys), opts);
}

lib::Error lock_failed(const std::string& root) {
  return lib::temporary_error("URLAUTH: cannot open " + root + " to lock " + std::string(urlauth_keys_file_name) +
                              ": " + lib::errno_text(errno));
}

}  // namespace

lib::Result<std::map<std::string, std::string>> parse_urlauth_keys(std::string_view text, const std::string& origin) {
  std::map<std::string, std::string> keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return lib::permanent_error(origin + ": line " + std::to_string(line_no) +
                                  " is cut short (no newline); remove the file to start over "
                                  "(URLAUTH URLs made so far stop working)");
    }
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    std::size_t sp = line.find(' ');
    auto key = sp == 2 * key_bytes ? from_hex(line.substr(0, sp)) : std::nullopt;
    if (!key || sp + 1 >= line.size()) {
      return lib::permanent_error(origin + ": line " + std::to_string(line_no) +
                                  " is not \"<64 hex digits> <mailbox>\"; remove the file to start over "
                                  "(URLAUTH URLs made so far stop working)");
    }
    keys[std::string(line.substr(sp + 1))] = std::move(*key);
  }
  return keys;
}

std::string format_urlauth_keys(const std::map<std::string, std::string>& keys) {
  std::string out;
  for (const auto& [mailbox, key] : keys) out += to_hex(key) + " " + mailbox + "\n";
  return out;
}

lib::Result<std::optional<std::string>> urlauth_key(const std::string& root, const std::string& mailbox,
                                                    bool create) {
  if (mailbox.find('\n') != std::string::npos) return lib::permanent_error("URLAUTH: mailbox name with a newline");
  if (!create) {
    auto keys = read_keys(root);
    if (!keys) return keys.error();
    auto it = keys->find(mailbox);
    if (it == keys->end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  FolderLock lock(root);
  if (!lock.ok()) return lock_failed(root);
  auto keys = read_keys(root);
  if (!keys) return keys.error();
  auto it = keys->find(mailbox);
  if (it != keys->end()) return std::optional<std::string>(it->second);
  std::string key(key_bytes, '\0');
  auto r = random_bytes(key);
  if (!r) return r.error();
  (*keys)[mailbox] = key;
  auto w = write_keys(root, *keys);
  if (!w) return w.error();
  return std::optional<std::string>(key);
}

lib::Result<void> reset_urlauth_keys(const std::string& root, const std::optional<std::string>& mailbox) {
  FolderLock lock(root);
  if (!lock.ok()) return lock_failed(root);
  auto keys = read_keys(root);
  // A corrupt file is replaced when every key goes anyway.
  if (!keys && mailbox) return keys.error();
  std::map<std::string, std::string> kept;
  if (keys && mailbox) {
    kept = std::move(*keys);
    if (kept.erase(*mailbox) == 0) return {};
  }
  return write_keys(root, kept);
}

lib::Result<void> forget_urlauth_keys(const std::string& root, const std::string& mailbox, bool children) {
  FolderLock lock(root);
  if (!lock.ok()) return lock_failed(root);
  auto keys = read_keys(root);
  if (!keys) return keys.error();
  const std::size_t before = keys->size();
  std::erase_if(*keys, [&](const auto& entry) {
    const std::string& name = entry.first;
    return name == mailbox ||
           (children && name.size() > mailbox.size() && name.compare(0, mailbox.size(), mailbox) == 0 &&
            name[mailbox.size()] == '.');
  });
  if (keys->size() == before) return {};
  return write_keys(root, *keys);
}

std::string urlauth_token(std::string_view key, std::string_view rump) {
  auto mac = hmac_sha256(key, rump);
  if (!mac) {
    lib::log::error("%s", mac.error().message.c_str());
    return {};
  }
  return to_hex(*mac);
}

bool urlauth_token_matches(std::string_view key, std::string_view rump, std::string_view token) {
  std::string expected = urlauth_token(key, rump);
  std::string given = lib::ascii::to_lower(token);
  if (expected.empty() || given.size() != expected.size()) return false;
  // urlauth_token has loaded libcrypto.
  auto memcmp = libcrypto().function<decltype(::CRYPTO_memcmp)>("CRYPTO_memcmp");
  return memcmp && memcmp->call(expected.data(), given.data(), given.size()) == 0;
}

}  // namespace imapd
