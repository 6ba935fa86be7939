#include <gtest/gtest.h>

#include "courierd/smtp_reply.hpp"

using courierd::SmtpReplyParser;
using Step = SmtpReplyParser::Step;

TEST(SmtpReply, SingleLineWithEnhancedCode) {
  SmtpReplyParser p;
  ASSERT_EQ(p.feed("550 5.1.1 <x@y>: no such user"), Step::done);
  EXPECT_EQ(p.reply().code, 550);
  EXPECT_EQ(p.reply().enhanced, "5.1.1");
  EXPECT_EQ(p.reply().status(), "5.1.1");
  EXPECT_TRUE(p.reply().permanent());
  EXPECT_EQ(p.reply().text(), "550 5.1.1 <x@y>: no such user");
}

TEST(SmtpReply, MultiLineEhlo) {
  SmtpReplyParser p;
  EXPECT_EQ(p.feed("250-mx.example.com hello"), Step::more);
  EXPECT_EQ(p.feed("250-8BITMIME"), Step::more);
  EXPECT_EQ(p.feed("250-SIZE 1000"), Step::more);
  EXPECT_EQ(p.feed("250-AUTH PLAIN LOGIN"), Step::more);
  EXPECT_EQ(p.feed("250 STARTTLS"), Step::done);
  auto caps = courierd::parse_ehlo(p.reply());
  EXPECT_TRUE(caps.eightbitmime);
  EXPECT_TRUE(caps.starttls);
  EXPECT_FALSE(caps.dsn);
  ASSERT_TRUE(caps.size.has_value());
  EXPECT_EQ(*caps.size, 1000u);
  EXPECT_EQ(caps.auth, (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

TEST(SmtpReply, StatusWithoutEnhancedCodeComesFromTheClass) {
  SmtpReplyParser p;
  ASSERT_EQ(p.feed("451 try later"), Step::done);
  EXPECT_EQ(p.reply().status(), "4.0.0");
  ASSERT_EQ(p.feed("250"), Step::done);  // a bare code is legal
  EXPECT_EQ(p.reply().status(), "2.0.0");
  // An enhanced code of another class than the reply is not believed.
  ASSERT_EQ(p.feed("250 5.1.1 odd"), Step::done);
  EXPECT_EQ(p.reply().status(), "2.0.0");
}

TEST(SmtpReply, MalformedLinesAreErrors) {
  SmtpReplyParser p;
  EXPECT_EQ(p.feed("hello"), Step::error);
  EXPECT_EQ(p.feed("25"), Step::error);
  EXPECT_EQ(p.feed("250x"), Step::error);
  EXPECT_EQ(p.feed("999 no"), Step::error);
  EXPECT_EQ(p.feed("250-a"), Step::more);
  EXPECT_EQ(p.feed("550 b"), Step::error);  // codes differ
  EXPECT_NE(p.error().find("different codes"), std::string::npos);
  EXPECT_EQ(p.feed(std::string(5000, '2')), Step::error);
}

TEST(SmtpReply, TooManyLinesAreRefused) {
  SmtpReplyParser p;
  Step s = Step::more;
  for (size_t i = 0; i < courierd::smtp_reply_max_lines + 5 && s == Step::more; ++i) s = p.feed("250-x");
  EXPECT_EQ(s, Step::error);
}

TEST(SmtpReply, EnhancedStatusSyntax) {
  EXPECT_TRUE(courierd::is_enhanced_status("4.7.0"));
  EXPECT_TRUE(courierd::is_enhanced_status("5.123.456"));
  EXPECT_FALSE(courierd::is_enhanced_status("3.1.1"));
  EXPECT_FALSE(courierd::is_enhanced_status("5.1"));
  EXPECT_FALSE(courierd::is_enhanced_status("5.1.1234"));
}
