// authlib/verified_cache.cpp: see verified_cache.hpp.
#include "authlib/verified_cache.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdint>

#include "lib/log.hpp"

namespace authlib {

void VerifiedCache::configure(std::chrono::seconds ttl) {
  ttl_ = ttl.count() > 0 ? ttl : std::chrono::seconds(0);
  entries_.clear();
}

std::string VerifiedCache::digest(std::string_view login, std::string_view stored, const lib::Secret& password) {
  if (key_pid_ != ::getpid()) {
    entries_.clear();
    if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) return {};
    key_pid_ = ::getpid();
  }
  // Each field behind its length, so that no two triples give the same text.
  std::string text;
  // Longer than any short-string buffer, so the move below hands the heap
  // block over and leaves no copy of the password behind.
  text.reserve(64 + login.size() + stored.size() + password.size());
  auto add = [&text](std::string_view field) {
    const auto n = static_cast<std::uint32_t>(field.size());
    text.append(reinterpret_cast<const char*>(&n), sizeof n);
    text.append(field);
  };
  add(login);
  add(stored);
  add(password.reveal());
  lib::Secret wiped(std::move(text));  // holds the password: wiped when done
  std::array<unsigned char, 32> out{};
  size_t out_len = 0;
  const auto data = wiped.reveal();
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_.data(), key_.size(),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), out.size(),
                 &out_len) ||
      out_len != out.size())
    return {};
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

bool VerifiedCache::verified(std::string_view login, std::string_view stored, const lib::Secret& password,
                             Clock::time_point now) {
  if (!enabled() || entries_.empty()) return false;
  const std::string d = digest(login, stored, password);
  if (d.empty()) return false;
  auto it = entries_.find(d);
  if (it == entries_.end()) return false;
  if (now - it->second >= ttl_ || now < it->second) {
    entries_.erase(it);
    return false;
  }
  return true;
}

void VerifiedCache::remember(std::string_view login, std::string_view stored, const lib::Secret& password,
                             Clock::time_point now) {
  if (!enabled()) return;
  std::string d = digest(login, stored, password);
  if (d.empty()) return;
  if (entries_.size() >= max_entries) {
    std::erase_if(entries_, [&](const auto& e) { return now - e.second >= ttl_; });
    if (entries_.size() >= max_entries) entries_.clear();
  }
  entries_[std::move(d)] = now;
}

VerifiedCache& verified_cache() {
  static VerifiedCache cache;
  return cache;
}

Verdict check_password_cached(std::string_view login, const lib::Secret& password, std::string_view stored) {
  VerifiedCache& cache = verified_cache();
  if (cache.verified(login, stored, password)) {
    lib::log::debug_if("DEBUG_LOGIN", 2, "%.*s: password verified within AUTH_CACHE_TTL; crypt skipped",
                       static_cast<int>(login.size()), login.data());
    return Verdict::match;
  }
  Verdict v = check_password(password, stored);
  if (v == Verdict::match) cache.remember(login, stored, password);
  return v;
}

}  // namespace authlib
