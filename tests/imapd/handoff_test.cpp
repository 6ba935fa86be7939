// tests/imapd/handoff_test.cpp: the imaplogin -> imapd hand-off (imapd/handoff.hpp).
#include "imapd/handoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

std::vector<char*> envp_of(std::vector<std::string>& strings) {
  std::vector<char*> v;
  for (auto& s : strings) v.push_back(s.data());
  v.push_back(nullptr);
  return v;
}

TEST(Handoff, RoundTripsThroughTheEnvironment) {
  authlib::Account a;
  a.home = "/home/alice";
  a.address = "alice@example.test";
  a.fullname = "Alice Liddell";
  a.maildir = "/home/alice/Mail";
  a.quota = "1000000S";
  a.options = "disablepop3=1";
  a.uid = 1000;
  auto h = imapd::Handoff::after_login(a, "alice@example.test", "a001", true);
  auto env = h.to_environment();
  EXPECT_NE(std::find(env.begin(), env.end(), "AUTHENTICATED=alice@example.test"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "IMAPLOGINTAG=a001"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "IMAP_TLS=1"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "MAILDIR=/home/alice/Mail"), env.end());
  auto envp = envp_of(env);
  auto back = imapd::Handoff::from_environment(envp.data());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->login, h.login);
  EXPECT_EQ(back->tag, h.tag);
  EXPECT_EQ(back->home, h.home);
  EXPECT_EQ(back->address, h.address);
  EXPECT_EQ(back->fullname, h.fullname);
  EXPECT_EQ(back->maildir, h.maildir);
  EXPECT_EQ(back->quota, h.quota);
  EXPECT_EQ(back->options, h.options);
  EXPECT_TRUE(back->tls);
}

TEST(Handoff, WithoutAuthenticatedImapdRefusesToStart) {
  std::vector<std::string> env = {"PATH=/bin", "MAILDIR=/x", "AUTHENTICATED="};
  auto envp = envp_of(env);
  auto h = imapd::Handoff::from_environment(envp.data());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("without AUTHENTICATED"), std::string::npos);
  EXPECT_NE(h.error().message.find("imaplogin"), std::string::npos);
}

TEST(Handoff, MergeReplacesInheritedVariablesOfTheSameName) {
  std::vector<std::string> inherited = {"PATH=/bin", "HOME=/root", "IMAP_TLS=0", "MAILDIRPATH=Maildir"};
  auto envp = envp_of(inherited);
  auto merged = imapd::merge_environment(envp.data(), {"HOME=/home/alice", "IMAP_TLS=1"});
  EXPECT_EQ(merged, (std::vector<std::string>{"PATH=/bin", "MAILDIRPATH=Maildir", "HOME=/home/alice", "IMAP_TLS=1"}));
}

}  // namespace
