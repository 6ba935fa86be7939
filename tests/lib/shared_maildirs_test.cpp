// tests/lib/shared_maildirs_test.cpp: shared-maildirs / maildirshared parsing.
#include "lib/shared_maildirs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/lib/test_util.hpp"

namespace md = lib::maildir;

namespace {

struct Case {
  const char* label;
  std::string text;
  std::vector<std::pair<std::string, std::string>> want;  // nick, path
  std::size_t warnings;
};

TEST(SharedMaildirs, ParseTable) {
  const Case cases[] = {
      {"empty", "", {}, 0},
      {"tab separated", "firm\t/home/boss/Maildir-shared\n", {{"firm", "/home/boss/Maildir-shared"}}, 0},
      {"spaces and no final newline", "tech   /srv/tech", {{"tech", "/srv/tech"}}, 0},
      {"comments and blanks", "# list\n\n  \nfirm /a # trailing\n", {{"firm", "/a"}}, 0},
      {"CRLF line ends", "firm /a\r\ntech /b\r\n", {{"firm", "/a"}, {"tech", "/b"}}, 0},
      {"leading spaces", "   firm /a\n", {{"firm", "/a"}}, 0},
      {"path with spaces kept", "firm /srv/my share\n", {{"firm", "/srv/my share"}}, 0},
      {"no path", "firm\n", {}, 1},
      {"dot in nick", "a.b /x\n", {}, 1},
      {"slash in nick", "a/b /x\n", {}, 1},
      {"relative path", "firm Maildir-shared\n", {}, 1},
      {"duplicate nick: first wins", "firm /a\nfirm /b\n", {{"firm", "/a"}}, 1},
      {"NUL byte", std::string("firm /a\0b\n", 10), {}, 1},
      {"control char in nick", "fi\x01rm /a\n", {}, 1},
      {"overlong nick", std::string(65, 'n') + " /a\n", {}, 1},
      {"bad line does not hide good ones", "bad\nfirm /a\n.x /y\n", {{"firm", "/a"}}, 2},
  };
  for (const auto& c : cases) {
    auto r = md::parse_shared_maildirs(c.text, "shared-maildirs");
    ASSERT_EQ(r.entries.size(), c.want.size()) << c.label;
    for (std::size_t i = 0; i < c.want.size(); ++i) {
      EXPECT_EQ(r.entries[i].nick, c.want[i].first) << c.label;
      EXPECT_EQ(r.entries[i].path, c.want[i].second) << c.label;
    }
    EXPECT_EQ(r.warnings.size(), c.warnings) << c.label;
  }
}

TEST(SharedMaildirs, WarningNamesFileAndLine) {
  auto r = md::parse_shared_maildirs("firm /a\nbad.nick /b\n", "/etc/courier/maildirshared");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("/etc/courier/maildirshared:2:"), std::string::npos) << r.warnings[0];
  EXPECT_EQ(r.entries[0].line, 1u);
}

TEST(SharedMaildirs, FormatRoundTrips) {
  std::vector<md::SharedMaildir> in{{"firm", "/a", 0}, {"tech", "/srv/b c", 0}};
  auto text = md::format_shared_maildirs(in);
  EXPECT_EQ(text, "firm\t/a\ntech\t/srv/b c\n");
  auto back = md::parse_shared_maildirs(text, "x");
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[1].path, "/srv/b c");
}

TEST(SharedMaildirs, NickRules) {
  std::string why;
  EXPECT_TRUE(md::valid_share_nick("firmwide", why));
  EXPECT_TRUE(md::valid_share_nick("t\xc3\xa9", why));  // UTF-8 is fine
  EXPECT_FALSE(md::valid_share_nick("", why));
  EXPECT_FALSE(md::valid_share_nick("a b", why));
  EXPECT_NE(why.find("spaces"), std::string::npos);
}

TEST(SharedMaildirs, ReachableSystemFirstThenOwn) {
  testutil::TempDir t;
  testutil::write_file(t / "maildirshared", "firm /sys/firm\n");
  ::mkdir((t / "Maildir").c_str(), 0700);
  testutil::write_file(t / "Maildir/shared-maildirs", "firm /own/firm\ntech /own/tech\n");
  auto r = md::reachable_shared_maildirs(t / "Maildir", t / "maildirshared");
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].path, "/sys/firm");  // the system file wins
  EXPECT_EQ(r.entries[1].nick, "tech");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(SharedMaildirs, MissingFilesAreEmptyUnreadableWarns) {
  testutil::TempDir t;
  auto r = md::reachable_shared_maildirs(t / "nothing", t / "none");
  EXPECT_TRUE(r.entries.empty());
  EXPECT_TRUE(r.warnings.empty());
  ::mkdir((t / "dir").c_str(), 0700);
  ::mkdir((t / "dir/shared-maildirs").c_str(), 0700);  // a directory, not a file
  auto d = md::reachable_shared_maildirs(t / "dir", "");
  EXPECT_TRUE(d.entries.empty());
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("shared-maildirs"), std::string::npos) << d.warnings[0];
}

}  // namespace
