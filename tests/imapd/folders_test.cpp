// tests/imapd/folders_test.cpp: mailbox names, LIST patterns, subscriptions.
#include "imapd/folders.hpp"

#include <gtest/gtest.h>

#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

TEST(Folders, ResolvesNames) {
  struct Case {
    const char* label;
    const char* name;
    const char* folder;  // nullptr: refused
  } cases[] = {
      {"inbox", "INBOX", ""},
      {"inbox any case", "iNbOx", ""},
      {"child", "INBOX.Sent", "Sent"},
      {"child lower inbox", "inbox.Sent.2024", "Sent.2024"},
      {"utf8", "INBOX.日本語", "日本語"},
      {"outside namespace", "Sent", nullptr},
      {"empty", "", nullptr},
      {"dot dot", "INBOX..x", nullptr},
      {"trailing dot", "INBOX.x.", nullptr},
      {"slash", "INBOX.a/b", nullptr},
      {"parent escape", "INBOX.../etc", nullptr},
      {"control", "INBOX.a\tb", nullptr},
      {"bad utf8", "INBOX.\xff", nullptr},
      {"inbox dot only", "INBOX.", nullptr},
  };
  for (const auto& c : cases) {
    std::string why;
    auto r = resolve_mailbox(c.name, why);
    if (c.folder) {
      ASSERT_TRUE(r.has_value()) << c.label << ": " << why;
      EXPECT_EQ(r->folder, c.folder) << c.label;
    } else {
      EXPECT_FALSE(r.has_value()) << c.label;
      EXPECT_FALSE(why.empty()) << c.label;
    }
  }
  std::string why;
  EXPECT_FALSE(resolve_mailbox("INBOX." + std::string(300, 'a'), why).has_value());
}

TEST(Folders, ListMatch) {
  struct Case {
    const char* pattern;
    const char* name;
    bool match;
  } cases[] = {
      {"*", "INBOX", true},       {"*", "INBOX.a.b", true},   {"%", "INBOX", true},
      {"%", "INBOX.a", false},    {"INBOX.%", "INBOX.a", true}, {"INBOX.%", "INBOX.a.b", false},
      {"INBOX.*", "INBOX.a.b", true}, {"inbox", "INBOX", true}, {"inbox.a", "INBOX.a", true},
      {"INBOX.A", "INBOX.a", false},  {"I*X", "INBOX", true},   {"*.b", "INBOX.a.b", true},
      {"%.b", "INBOX.a.b", false},    {"INBOX.%.%", "INBOX.a.b", true}, {"", "INBOX", false},
  };
  for (const auto& c : cases) EXPECT_EQ(list_match(c.pattern, c.name), c.match) << c.pattern << " ~ " << c.name;
}

TEST(Folders, HostilePatternIsFast) {
  std::string pattern(60, '*');
  pattern += "x";
  std::string name(250, 'a');
  EXPECT_FALSE(list_match(pattern, name));  // DP: quadratic, not exponential
  EXPECT_FALSE(list_match(std::string(65, '%'), "INBOX"));
}

TEST(Folders, SpecialUse) {
  EXPECT_EQ(special_use("Sent", "Trash"), "\\Sent");
  EXPECT_EQ(special_use("Drafts", "Trash"), "\\Drafts");
  EXPECT_EQ(special_use("Trash", "Trash"), "\\Trash");
  EXPECT_EQ(special_use("Bin", "Bin"), "\\Trash");
  EXPECT_EQ(special_use("Other", "Trash"), "");
}

TEST(Folders, SubscriptionsRoundTrip) {
  testutil::TempDir dir;
  ASSERT_TRUE(lib::maildir::create_maildir(dir.path() + "/m").ok());
  auto none = read_subscriptions(dir.path() + "/m");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(write_subscriptions(dir.path() + "/m", {"INBOX.a", "INBOX.b"}).ok());
  EXPECT_EQ(testutil::read_file(dir.path() + "/m/courierimapsubscribed"), "INBOX.a\nINBOX.b\n");
  testutil::write_file(dir.path() + "/m/courierimapsubscribed", "inbox.x\n\nINBOX.a\n");
  auto back = read_subscriptions(dir.path() + "/m");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::set<std::string>{"INBOX.x", "INBOX.a"}));
}

}  // namespace
}  // namespace imapd
