// tests/esmtpd/command_test.cpp: SMTP command parsing.
#include "esmtpd/command.hpp"

#include <gtest/gtest.h>

using namespace esmtpd;

TEST(Command, Verbs) {
  EXPECT_EQ(parse_command("ehlo client.example").verb, Verb::ehlo);
  EXPECT_EQ(parse_command("ehlo client.example").arg, "client.example");
  EXPECT_EQ(parse_command("MAIL FROM:<a@b>").verb, Verb::mail);
  EXPECT_EQ(parse_command("STARTTLS").verb, Verb::starttls);
  EXPECT_EQ(parse_command("XYZZY").verb, Verb::unknown);
  EXPECT_EQ(parse_command("").verb, Verb::unknown);
}

TEST(Command, PathWithoutBracketsIs517) {
  auto [p, e] = parse_path_command("FROM:user@example.com", "FROM:", true);
  ASSERT_FALSE(p);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 517);
  EXPECT_NE(e->reply.find("violates RFC 821"), std::string::npos);
}

TEST(Command, PathsAndParams) {
  auto [p, e] = parse_path_command("FROM: <a@b.example> SIZE=100 BODY=8BITMIME", "FROM:", true);
  ASSERT_TRUE(p) << e->reply;
  EXPECT_EQ(p->address, "a@b.example");
  ASSERT_EQ(p->params.size(), 2u);
  EXPECT_EQ(p->params[0].keyword, "SIZE");
  EXPECT_EQ(p->params[0].value, "100");
  auto n = parse_path_command("from:<>", "FROM:", true);
  ASSERT_TRUE(n.first);
  EXPECT_EQ(n.first->address, "");
  EXPECT_FALSE(parse_path_command("TO:<>", "TO:", false).first);
  auto sr = parse_path_command("TO:<@relay.example:u@d.example>", "TO:", false);
  ASSERT_TRUE(sr.first);
  EXPECT_EQ(sr.first->address, "u@d.example");
  EXPECT_FALSE(parse_path_command("TO:<u@d.example", "TO:", false).first);
  EXPECT_FALSE(parse_path_command("TO:<u@d.example>junk", "TO:", false).first);
}

TEST(Command, Mailbox) {
  EXPECT_TRUE(valid_mailbox("a.b@c.example", false));
  EXPECT_TRUE(valid_mailbox("\"a b\"@c.example", false));
  EXPECT_TRUE(valid_mailbox("a@[192.0.2.1]", false));
  EXPECT_FALSE(valid_mailbox("a..b@c", false));
  EXPECT_FALSE(valid_mailbox("a@", false));
  EXPECT_FALSE(valid_mailbox("@c", false));
  EXPECT_FALSE(valid_mailbox("a@b..c", false));
  EXPECT_FALSE(valid_mailbox("j\xc3\xb6rg@c.example", false));
  EXPECT_TRUE(valid_mailbox("j\xc3\xb6rg@c.example", true));
}

TEST(Command, XtextAndBdat) {
  EXPECT_EQ(*xtext_decode("a+2Bb"), "a+b");
  EXPECT_FALSE(xtext_decode("a+2"));
  EXPECT_FALSE(xtext_decode("a=b"));
  auto b = parse_bdat("100 LAST");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size, 100u);
  EXPECT_TRUE(b->last);
  EXPECT_FALSE(parse_bdat("x"));
  EXPECT_FALSE(parse_bdat("10 FIRST"));
  EXPECT_FALSE(parse_bdat("10LAST"));
}
