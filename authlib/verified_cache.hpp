// authlib/verified_cache.hpp: a short memory, in each authdaemond worker, of
// passwords it has just verified against a stored hash, so that a client
// logging in again and again (IMAP clients open a connection per folder and
// per poll) costs one crypt(3), not one per login (issue 16; Dovecot's
// auth_cache does the same).
//
// What is kept is never the password: an entry is HMAC-SHA-256, under a key
// drawn at random in each worker process, over (login, stored hash,
// password), plus the time it was verified. A hit therefore needs the same
// stored hash: a changed password (or any change to the hash) misses at
// once, whatever the TTL. The account is still looked up on every request,
// so a removed or disabled account is refused at once too; only the crypt
// step is skipped. Failures are never cached.
//
// Settings (authdaemonrc): AUTH_CACHE_TTL, how long a verification counts
// (default 60 s; 0 turns the cache off). At most max_entries per worker;
// when full, expired entries go, and if none has expired, all of them.
// The trade-off: someone who can read a worker's memory finds the key and
// the digests, and can test guesses against them at HMAC speed instead of
// crypt speed, for passwords used within the last TTL. Set AUTH_CACHE_TTL=0
// where that matters more than the CPU.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <unordered_map>

#include "authlib/password.hpp"
#include "lib/secret.hpp"

namespace authlib {

class VerifiedCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t max_entries = 4096;

  // ttl 0: off. Forgets every entry.
  void configure(std::chrono::seconds ttl);
  bool enabled() const { return ttl_.count() > 0; }
  std::chrono::seconds ttl() const { return ttl_; }

  // Whether password was verified against stored for login within the TTL.
  bool verified(std::string_view login, std::string_view stored, const lib::Secret& password,
                Clock::time_point now = Clock::now());
  // Records a successful verification.
  void remember(std::string_view login, std::string_view stored, const lib::Secret& password,
                Clock::time_point now = Clock::now());
  std::size_t size() const { return entries_.size(); }

 private:
  // The entry's key; empty if OpenSSL failed (then nothing is cached).
  std::string digest(std::string_view login, std::string_view stored, const lib::Secret& password);

  std::chrono::seconds ttl_{0};
  std::array<unsigned char, 32> key_{};
  pid_t key_pid_ = 0;  // the process the key was drawn in: a forked worker draws its own
  std::unordered_map<std::string, Clock::time_point> entries_;
};

// This process's cache (one per authdaemond worker), configured by
// load_daemon_config from AUTH_CACHE_TTL; off until configured.
VerifiedCache& verified_cache();

// check_password (password.hpp) through this process's cache: a match within
// the TTL for the same login and stored hash skips the hash computation; a
// new match is remembered. What every module's password check calls.
Verdict check_password_cached(std::string_view login, const lib::Secret& password, std::string_view stored);

}  // namespace authlib
