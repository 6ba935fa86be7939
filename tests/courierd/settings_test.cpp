#include <gtest/gtest.h>

#include "courierd/settings.hpp"

TEST(Settings, ClassifiesLocalsHostedAndRemote) {
  courierd::Settings s;
  s.me = "mail.example.com";
  s.locals = {"!host.example.com", ".example.com", "example.org"};
  s.hosteddomains = {"hosted.test"};
  EXPECT_TRUE(courierd::classify(s, "alice").local);
  auto a = courierd::classify(s, "alice@MAIL.example.com");
  EXPECT_TRUE(a.local);
  EXPECT_EQ(a.account_key, "alice");
  EXPECT_TRUE(courierd::classify(s, "a@x.example.com").local);
  EXPECT_FALSE(courierd::classify(s, "a@host.example.com").local);
  EXPECT_TRUE(courierd::classify(s, "a@example.org").local);
  auto h = courierd::classify(s, "bob+lists@hosted.test");
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.account_key, "bob+lists@hosted.test");
  auto r = courierd::classify(s, "carol@remote.example");
  EXPECT_FALSE(r.local);
  EXPECT_EQ(r.domain, "remote.example");
}

TEST(Settings, ExtensionCandidates) {
  auto c = courierd::account_candidates("bob+lists-x@hosted.test", "+");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].login, "bob+lists-x@hosted.test");
  EXPECT_EQ(c[1].login, "bob+lists@hosted.test");
  EXPECT_EQ(c[1].ext, "x");
  EXPECT_EQ(c[2].login, "bob@hosted.test");
  EXPECT_EQ(c[2].ext, "lists-x");
  auto plain = courierd::account_candidates("alice", "+");
  ASSERT_EQ(plain.size(), 1u);
}

TEST(Settings, DeliveryProgramCheckNamesTheSetting) {
  courierd::Settings s;
  s.config_file = "/etc/courier/courierd";
  s.default_delivery = "| /nonexistent/maildrop -d x";
  auto r = courierd::check_delivery_program(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("DEFAULTDELIVERY in /etc/courier/courierd"), std::string::npos);
  EXPECT_NE(r.error().message.find("/nonexistent/maildrop"), std::string::npos);
  s.default_delivery = "./Maildir";
  EXPECT_TRUE(courierd::check_delivery_program(s));
  s.default_delivery = "| cat > /dev/null";
  EXPECT_TRUE(courierd::check_delivery_program(s));
}
