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

TEST(Handoff, PipelinedBytesRoundTripAsBase64) {
  authlib::Account a;
  auto h = imapd::Handoff::after_login(a, "alice", "a1", false);
  h.pipelined = std::string("a2 SELECT INBOX\r\na3 FETCH 1 (BODY[])\r\n\0\xff", 40);
  auto env = h.to_environment();
  auto it = std::find_if(env.begin(), env.end(), [](const std::string& s) { return s.starts_with("IMAPLOGINPIPELINED="); });
  ASSERT_NE(it, env.end());
  EXPECT_EQ(it->find('\r'), std::string::npos);
  auto envp = envp_of(env);
  auto back = imapd::Handoff::from_environment(envp.data());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->pipelined, h.pipelined);

  h.pipelined.clear();
  auto none = h.to_environment();
  EXPECT_EQ(std::find_if(none.begin(), none.end(), [](const std::string& s) { return s.starts_with("IMAPLOGINPIPELINED="); }),
            none.end());
}

TEST(Handoff, PipelinedBytesThatAreNotBase64OrTooManyAreRefused) {
  std::vector<std::string> env = {"AUTHENTICATED=alice", "IMAPLOGINPIPELINED=not base64!"};
  auto envp = envp_of(env);
  auto h = imapd::Handoff::from_environment(envp.data());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("IMAPLOGINPIPELINED"), std::string::npos);

  authlib::Account a;
  auto big = imapd::Handoff::after_login(a, "alice", "a1", false);
  big.pipelined.assign(imapd::Handoff::max_pipelined_bytes + 3, 'x');
  auto env2 = big.to_environment();
  for (const auto& s : env2) EXPECT_LT(s.size(), 128u * 1024) << "over Linux's MAX_ARG_STRLEN";
  auto envp2 = envp_of(env2);
  EXPECT_FALSE(imapd::Handoff::from_environment(envp2.data()));
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
