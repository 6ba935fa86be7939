// tests/lib/privileges_test.cpp: lib::drop_privileges, resolve_identity,
// refuse_root. The drops run in forked children (they cannot be undone);
// those that need root skip without it.
#include <gtest/gtest.h>

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "lib/privileges.hpp"

namespace {

// Runs fn in a child; its exit code (128+signal when killed).
int in_child(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

lib::Identity nobody() {
  auto id = lib::resolve_identity("nobody", "");
  EXPECT_TRUE(static_cast<bool>(id));
  return id ? *id : lib::Identity{};
}

TEST(Privileges, ResolvesNamesNumbersAndTheUsersGroup) {
  struct passwd* pw = ::getpwnam("nobody");
  ASSERT_NE(pw, nullptr);
  auto by_name = lib::resolve_identity("nobody", "");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->uid, pw->pw_uid);
  EXPECT_EQ(by_name->gid, pw->pw_gid);  // -user alone: that account's group
  EXPECT_EQ(by_name->name, "nobody");
  auto by_number = lib::resolve_identity(std::to_string(pw->pw_uid), "0");
  ASSERT_TRUE(by_number);
  EXPECT_EQ(by_number->uid, pw->pw_uid);
  EXPECT_EQ(by_number->gid, 0u);  // -group wins
}

TEST(Privileges, UnknownAccountOrGroupNamesTheOptionAndTheFix) {
  auto u = lib::resolve_identity("no-such-user-xyz", "");
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("-user=no-such-user-xyz: no such account"), std::string::npos);
  EXPECT_NE(u.error().message.find("useradd -r no-such-user-xyz"), std::string::npos);
  auto g = lib::resolve_identity("", "no-such-group-xyz");
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("-group=no-such-group-xyz: no such group"), std::string::npos);
}

TEST(Privileges, RootDropsEveryIdAndCannotComeBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  lib::Identity who = nobody();
  int code = in_child([&] {
    if (::setgroups(0, nullptr) != 0) return 10;
    gid_t extra[] = {0, 4};
    if (::setgroups(2, extra) != 0) return 11;  // supplementary groups that must go
    if (!lib::drop_privileges(who)) return 12;
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0) return 13;
    if (ru != who.uid || eu != who.uid || su != who.uid) return 14;
    if (rg != who.gid || eg != who.gid || sg != who.gid) return 15;
    gid_t groups[8];
    int n = ::getgroups(8, groups);
    if (n > 1 || (n == 1 && groups[0] != who.gid)) return 16;
    if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::setgid(0) == 0) return 17;
    if (lib::refuse_root("test")) return 0;
    return 18;
  });
  EXPECT_EQ(code, 0);
}

TEST(Privileges, RefuseRootNamesUidOrGidZero) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto as_root = lib::refuse_root("imapd");
  ASSERT_FALSE(as_root);
  EXPECT_NE(as_root.error().message.find("imapd refuses to run as root (uid 0)"), std::string::npos);
  // A uid that is not root but group root: refused too.
  lib::Identity who = nobody();
  who.gid = 0;
  int code = in_child([&] {
    if (!lib::drop_privileges(who)) return 10;
    auto r = lib::refuse_root("pop3d");
    if (r) return 11;
    return r.error().message.find("pop3d refuses to run with group root (gid 0)") != std::string::npos ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

TEST(Privileges, NotRootSwitchingElsewhereIsRefusedOrIgnoredAsAsked) {
  lib::Identity who = nobody();
  int code = in_child([&] {
    if (::geteuid() == 0) {
      lib::Identity daemon_user{1, 1, "daemon", ""};
      if (!lib::drop_privileges(daemon_user)) return 10;
    }
    // Now unprivileged: becoming ourselves is a no-op.
    lib::Identity self{::geteuid(), ::getegid(), "self", ""};
    if (!lib::drop_privileges(self)) return 11;
    auto refused = lib::drop_privileges(who);
    if (refused || refused.error().message.find("only root can") == std::string::npos) return 12;
    if (!lib::drop_privileges(who, lib::NotRoot::keep_going)) return 13;
    return ::geteuid() == self.uid ? 0 : 14;
  });
  EXPECT_EQ(code, 0);
}

TEST(Privileges, MailUserComesFromTheEnvironmentElseTheDefault) {
  int code = in_child([] {
    ::setenv("MAILUSER", "nobody", 1);
    if (lib::mail_user_name() != "nobody" || !lib::mail_user()) return 10;
    ::setenv("MAILUSER", "no-such-user-xyz", 1);
    auto missing = lib::mail_user();
    if (missing || missing.error().message.find("set MAILUSER") == std::string::npos) return 11;
    ::unsetenv("MAILUSER");
    return lib::mail_user_name().empty() ? 12 : 0;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
