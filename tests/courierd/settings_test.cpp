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

#include <filesystem>
#include <fstream>

namespace {
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/courierd_settings_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
};
}  // namespace

TEST(Settings, ReadsCourierdAndControlFiles) {
  TempDir d;
  d.write("courierd", "DEFAULTDELIVERY='| /usr/bin/maildrop'\nMAXDELS=7\nMAXDLES=3\n");
  d.write("me", "# this host\nMail.Example.COM\n");
  d.write("queuetime", "1w2d\n");
  d.write("retrybeta", "5\n");
  d.write("locals", "example.com\n.sub.example.com\n");
  d.write("esmtproutes", "example.net: [127.0.0.1],2525\n");
  auto s = courierd::load_settings(d.path.string());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->default_delivery, "| /usr/bin/maildrop");
  EXPECT_EQ(s->max_deliveries, 7);
  EXPECT_EQ(s->me, "mail.example.com");
  EXPECT_EQ(s->retry.queuetime, std::chrono::hours(24 * 9));
  EXPECT_EQ(s->retry.beta, 5);
  ASSERT_EQ(s->routes.size(), 1u);
  EXPECT_EQ(s->dsnfrom, "\"Courier mail server at mail.example.com\" <@>");
  bool typo_reported = false;
  for (const auto& w : s->warnings) typo_reported |= w.find("MAXDLES") != std::string::npos;
  EXPECT_TRUE(typo_reported);
}

TEST(Settings, BadControlFilesNameTheFile) {
  TempDir d;
  d.write("retrybeta", "many\n");
  auto s = courierd::load_settings(d.path.string());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find((d.path / "retrybeta").string()), std::string::npos);
  TempDir e;
  e.write("queuetime", "forever\n");
  auto t = courierd::load_settings(e.path.string());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("queuetime"), std::string::npos);
  TempDir f;
  f.write("esmtproutes", "bad line\n");
  auto u = courierd::load_settings(f.path.string());
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("esmtproutes:1"), std::string::npos);
}
