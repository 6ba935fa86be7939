// tests/authlib/verified_cache_test.cpp: authlib/verified_cache.hpp, alone and
// through check_secret (the step every module's AUTH goes through).
#include "authlib/verified_cache.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "authlib/module.hpp"
#include "authlib/password.hpp"

namespace {

using authlib::VerifiedCache;
using namespace std::chrono_literals;

lib::Secret secret(std::string_view s) { return lib::Secret(s); }

const std::string kStored = "$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1";  // "secret", MD5-crypt

TEST(VerifiedCache, OffUntilConfigured) {
  VerifiedCache c;
  c.remember("u@x", kStored, secret("secret"));
  EXPECT_FALSE(c.verified("u@x", kStored, secret("secret")));
  EXPECT_EQ(c.size(), 0u);
}

TEST(VerifiedCache, HitsOnlyTheSameLoginHashAndPassword) {
  VerifiedCache c;
  c.configure(60s);
  const auto t0 = VerifiedCache::Clock::now();
  c.remember("u@x", kStored, secret("secret"), t0);
  EXPECT_TRUE(c.verified("u@x", kStored, secret("secret"), t0 + 1s));
  EXPECT_FALSE(c.verified("u@x", kStored, secret("secreT"), t0 + 1s));
  EXPECT_FALSE(c.verified("v@x", kStored, secret("secret"), t0 + 1s));
  // A new stored hash (the password was changed, even back to the same one
  // with a new salt) misses at once.
  EXPECT_FALSE(c.verified("u@x", "$1$zzzzzzzz$cHJi5PXp/ki/ktXzqlk6I1", secret("secret"), t0 + 1s));
  // Field boundaries count: ("u@x", hash + "s", "ecret") is another triple.
  EXPECT_FALSE(c.verified("u@x", kStored + "s", secret("ecret"), t0 + 1s));
}

TEST(VerifiedCache, EntriesExpireAfterTheTtl) {
  VerifiedCache c;
  c.configure(30s);
  const auto t0 = VerifiedCache::Clock::now();
  c.remember("u@x", kStored, secret("secret"), t0);
  EXPECT_TRUE(c.verified("u@x", kStored, secret("secret"), t0 + 29s));
  EXPECT_FALSE(c.verified("u@x", kStored, secret("secret"), t0 + 30s));
  EXPECT_EQ(c.size(), 0u);  // the expired entry is gone
}

TEST(VerifiedCache, ConfiguringForgetsAndZeroTurnsItOff) {
  VerifiedCache c;
  c.configure(60s);
  c.remember("u@x", kStored, secret("secret"));
  c.configure(60s);
  EXPECT_FALSE(c.verified("u@x", kStored, secret("secret")));
  c.configure(0s);
  EXPECT_FALSE(c.enabled());
  c.remember("u@x", kStored, secret("secret"));
  EXPECT_FALSE(c.verified("u@x", kStored, secret("secret")));
}

TEST(VerifiedCache, StaysBoundedWhenFull) {
  VerifiedCache c;
  c.configure(60s);
  for (size_t i = 0; i < VerifiedCache::max_entries + 10; ++i)
    c.remember("user" + std::to_string(i), kStored, secret("secret"));
  EXPECT_LE(c.size(), VerifiedCache::max_entries);
  EXPECT_TRUE(c.verified("user" + std::to_string(VerifiedCache::max_entries + 9), kStored, secret("secret")));
}

TEST(VerifiedCache, AForkedProcessDrawsItsOwnKeyAndStartsEmpty) {
  VerifiedCache c;
  c.configure(60s);
  c.remember("u@x", kStored, secret("secret"));
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(c.verified("u@x", kStored, secret("secret")) ? 1 : 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(c.verified("u@x", kStored, secret("secret")));
}

authlib::AuthRequest request(std::string user, std::string_view password) {
  authlib::AuthRequest r;
  r.service = "imap";
  r.user = std::move(user);
  r.password = lib::Secret(password);
  return r;
}

TEST(VerifiedCache, CheckSecretUsesItAndAChangedHashRejectsTheOldPassword) {
  authlib::verified_cache().configure(60s);
  authlib::Account a;
  a.crypted_password = kStored;
  EXPECT_EQ(authlib::check_secret(request("u@x", "secret"), a).outcome, authlib::Outcome::ok);
  EXPECT_EQ(authlib::verified_cache().size(), 1u);
  EXPECT_EQ(authlib::check_secret(request("u@x", "secret"), a).outcome, authlib::Outcome::ok);
  // Failures are not remembered.
  EXPECT_EQ(authlib::check_secret(request("u@x", "wrong"), a).outcome, authlib::Outcome::rejected);
  EXPECT_EQ(authlib::verified_cache().size(), 1u);
  // The password changes: the old one is refused at once, the new one works.
  auto changed = authlib::make_password_hash(secret("new secret"), authlib::Scheme::md5_crypt);
  ASSERT_TRUE(changed);
  a.crypted_password = *changed;
  EXPECT_EQ(authlib::check_secret(request("u@x", "secret"), a).outcome, authlib::Outcome::rejected);
  EXPECT_EQ(authlib::check_secret(request("u@x", "new secret"), a).outcome, authlib::Outcome::ok);
  authlib::verified_cache().configure(0s);
}

}  // namespace
