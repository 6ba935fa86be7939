// tests/authlib/protocol_test.cpp: the authdaemon wire protocol (authlib/protocol.hpp).
#include "authlib/protocol.hpp"

#include <gtest/gtest.h>

namespace {

using namespace authlib::protocol;

// The request of type T that r holds, as a copy (r is usually a temporary).
template <class T>
std::optional<T> as(const std::variant<Line, LineError>& r) {
  auto* line = std::get_if<Line>(&r);
  auto* value = line ? std::get_if<T>(line) : nullptr;
  if (!value) return std::nullopt;
  return *value;
}

TEST(Protocol, PreRequest) {
  auto r = parse_line("PRE . imap alice@example.test");
  auto pre = as<PreRequest>(r);
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->module, ".");
  EXPECT_EQ(pre->service, "imap");
  EXPECT_EQ(pre->user, "alice@example.test");
}

TEST(Protocol, PreUserMayContainSpaces) {
  auto pre = as<PreRequest>(parse_line("PRE authuserdb pop3 John Smith"));
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->module, "authuserdb");
  EXPECT_EQ(pre->user, "John Smith");
}

TEST(Protocol, AuthHeaderAndLimits) {
  auto h = as<AuthHeader>(parse_line("AUTH 27"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->payload_bytes, 27u);
  EXPECT_TRUE(std::holds_alternative<LineError>(parse_line("AUTH 0")));
}

TEST(Protocol, PasswdRequest) {
  auto p = as<PasswdRequest>(parse_line("PASSWD imap\talice\told pw\tnew pw\t"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->service, "imap");
  EXPECT_EQ(p->user, "alice");
  EXPECT_TRUE(p->old_password.equals("old pw"));
  EXPECT_TRUE(p->new_password.equals("new pw"));
}

TEST(Protocol, MetadataAndEnumerate) {
  auto m = as<Metadata>(parse_line("TCPREMOTEIP=192.0.2.7"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->name, "TCPREMOTEIP");
  EXPECT_EQ(m->value, "192.0.2.7");
  EXPECT_TRUE(as<EnumerateRequest>(parse_line("ENUMERATE")));
  EXPECT_TRUE(as<PreRequest>(parse_line("PRE . imap bob\r")));  // a CRLF client
}

struct BadLine {
  const char* label;
  std::string line;
};

class ProtocolBadLine : public ::testing::TestWithParam<BadLine> {};

TEST_P(ProtocolBadLine, IsAnError) {
  auto r = parse_line(GetParam().line);
  ASSERT_TRUE(std::holds_alternative<LineError>(r)) << GetParam().label;
  EXPECT_FALSE(std::get<LineError>(r).message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ProtocolBadLine,
    ::testing::Values(BadLine{"empty", ""}, BadLine{"unknown", "HELLO"}, BadLine{"pre_short", "PRE . imap"},
                      BadLine{"pre_empty_user", "PRE . imap "}, BadLine{"auth_nan", "AUTH x12"},
                      BadLine{"auth_negative", "AUTH -5"}, BadLine{"auth_huge", "AUTH 99999999999999999999"},
                      BadLine{"auth_over_limit", "AUTH 16385"}, BadLine{"passwd_3_fields", "PASSWD imap\talice\told"},
                      BadLine{"passwd_empty_user", "PASSWD imap\t\ta\tb\t"},
                      BadLine{"control_char", std::string("PRE . imap al\x01ice")},
                      BadLine{"nul", std::string("PRE . imap al\0ice", 17)},
                      BadLine{"too_long", "PRE . imap " + std::string(9000, 'a')},
                      BadLine{"bad_metadata_name", "TCP-IP=1"}),
    [](const auto& p) { return std::string(p.param.label); });

TEST(Protocol, FormatAccountRoundTrip) {
  authlib::Account a;
  a.uid = 1000;
  a.gid = 100;
  a.home = "/home/alice";
  a.address = "alice@example.test";
  a.fullname = "Alice Liddell";
  a.maildir = "/home/alice/Maildir";
  a.quota = "1000000S";
  a.options = "disableimap=0";
  a.crypted_password = "$6$salt$hash";
  a.clear_password = lib::Secret("secret");
  std::string text = format_account(a);
  EXPECT_EQ(text.find("PASSWD"), std::string::npos) << "never send stored secrets";
  EXPECT_EQ(text.substr(text.size() - 2), ".\n");
  auto back = parse_account_reply(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back->uid, 1000u);
  EXPECT_EQ(back->gid, 100u);
  EXPECT_EQ(back->home, a.home);
  EXPECT_EQ(back->address, a.address);
  EXPECT_EQ(back->fullname, a.fullname);
  EXPECT_EQ(back->maildir, a.maildir);
  EXPECT_EQ(back->quota, a.quota);
  EXPECT_EQ(back->options, a.options);
}

TEST(Protocol, FieldsCannotForgeLines) {
  authlib::Account a;
  a.uid = 5;
  a.gid = 5;
  a.home = "/h";
  a.fullname = "Eve\nUID=0";
  auto back = parse_account_reply(format_account(a));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back->uid, 5u);
}

TEST(Protocol, CourierStyleReplyWithUsername) {
  auto a = parse_account_reply("USERNAME=vmail\nGID=8\nHOME=/srv/mail/bob\nADDRESS=bob\nPASSWD=x\n.\n");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->uid);
  EXPECT_EQ(a->username, "vmail");
  EXPECT_EQ(a->crypted_password, "x");
}

TEST(Protocol, MalformedRepliesAreRefused) {
  EXPECT_FALSE(parse_account_reply("UID=1\nGID=1\nHOME=/h\n"));             // no "."
  EXPECT_FALSE(parse_account_reply("UID=1\nGID=1\n.\n"));                  // no HOME
  EXPECT_FALSE(parse_account_reply("UID=x\nGID=1\nHOME=/h\n.\n"));          // bad UID
  EXPECT_FALSE(parse_account_reply("UID=1\nGID=1\nHOME=/h\ngarbage\n.\n"));  // no "="
  EXPECT_FALSE(parse_account_reply("GID=1\nHOME=/h\n.\n"));                 // neither UID nor USERNAME
  EXPECT_FALSE(parse_account_reply(""));
}

TEST(Protocol, EnumerateLines) {
  authlib::Account a;
  a.address = "alice";
  a.uid = 1;
  a.gid = 2;
  a.home = "/h/a";
  a.maildir = "/h/a/Maildir";
  a.options = "group=staff";
  auto line = format_enumerate_line(a);
  EXPECT_EQ(line, "alice\t1\t2\t/h/a\t/h/a/Maildir\tgroup=staff");
  auto back = parse_enumerate_line(line);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->address, "alice");
  EXPECT_EQ(back->options, "group=staff");
  EXPECT_FALSE(parse_enumerate_line("alice\t1"));
  EXPECT_FALSE(parse_enumerate_line("alice\t1\tx\t/h"));
}

TEST(Protocol, PasswdRequestRoundTrip) {
  auto s = passwd_request("imap", "alice", lib::Secret("a"), lib::Secret("b"));
  std::string_view text = s.reveal();
  ASSERT_EQ(text.back(), '\n');
  auto p = as<PasswdRequest>(parse_line(text.substr(0, text.size() - 1)));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->new_password.equals("b"));
}

}  // namespace

TEST(Protocol, RedeemRequest) {
  auto r = as<RedeemRequest>(parse_line("REDEEM imap 0123abcd"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->service, "imap");
  EXPECT_EQ(r->ticket, "0123abcd");
  EXPECT_EQ(redeem_request("pop3", "ff"), "REDEEM pop3 ff\n");
  EXPECT_TRUE(std::holds_alternative<LineError>(parse_line("REDEEM imap")));
  EXPECT_TRUE(std::holds_alternative<LineError>(parse_line("REDEEM imap a b")));
  EXPECT_TRUE(std::holds_alternative<LineError>(parse_line("REDEEM  abc")));
}
