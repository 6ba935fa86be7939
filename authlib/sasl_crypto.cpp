// authlib/sasl_crypto.cpp: the parts of sasl.hpp that need OpenSSL: HMAC
// (RFC 2104) for CRAM, and Courier's precomputed CRAM secrets. Apart from
// sasl.cpp so that programs which only build and parse authdaemon requests
// (imapd) link no libcrypto (issue 16).
#include "authlib/sasl.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "authlib/openssl_handles.hpp"
#include "authlib/sasl_internal.hpp"
#include "lib/openssl_error.hpp"

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

using detail::to_secret_and_wipe;
using detail::wipe;

namespace {

const char* openssl_digest_name(CramHash hash) noexcept {
  switch (hash) {
    case CramHash::md5: return "MD5";
    case CramHash::sha1: return "SHA1";
    case CramHash::sha256: return "SHA256";
  }
  return "MD5";
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
                                lib::openssl_error_text() +
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

}  // namespace authlib::sasl
