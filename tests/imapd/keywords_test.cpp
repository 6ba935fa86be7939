// tests/imapd/keywords_test.cpp: Courier's courierimapkeywords.
#include "imapd/keywords.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

TEST(Keywords, ParsesList) {
  auto map = parse_keyword_list("$Label1\nImportant\n\nmsg1:0 1\nmsg2:1\n");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map["msg1"], (std::set<std::string>{"$Label1", "Important"}));
  EXPECT_EQ(map["msg2"], (std::set<std::string>{"Important"}));
}

TEST(Keywords, HostileListLinesAreSkipped) {
  auto map = parse_keyword_list("ok\nbad word\n\nm1:0 1 99 x -1\n../x:0\nnocolon\n:0\nm2:\n");
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map["m1"], (std::set<std::string>{"ok"}));
}

TEST(Keywords, FormatRoundTrips) {
  KeywordMap map{{"m1", {"a", "b"}}, {"m2", {"b"}}};
  EXPECT_EQ(parse_keyword_list(format_keyword_list(map)), map);
}

TEST(Keywords, ValidKeyword) {
  EXPECT_TRUE(valid_keyword("$Forwarded"));
  EXPECT_TRUE(valid_keyword("Important"));
  for (const char* bad : {"", "a b", "\\Seen", "a(b", "x*", "q\"", "br]", "{", "%"})
    EXPECT_FALSE(valid_keyword(bad)) << bad;
  EXPECT_FALSE(valid_keyword(std::string(201, 'k')));
}

TEST(Keywords, PendingUpdatesOverrideTheList) {
  testutil::TempDir dir;
  ASSERT_TRUE(lib::maildir::create_maildir(dir.path() + "/m").ok());
  std::string kw = dir.path() + "/m/courierimapkeywords";
  ::mkdir(kw.c_str(), 0700);
  testutil::write_file(kw + "/:list", "old\n\nm1:0\nm2:0\n");
  testutil::write_file(kw + "/m1", "new\nnewer\n");
  testutil::write_file(kw + "/.5.m2", "");
  auto map = read_keywords(dir.path() + "/m");
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)["m1"], (std::set<std::string>{"new", "newer"}));
  EXPECT_EQ(map->count("m2"), 0u);
  ASSERT_TRUE(write_keywords(dir.path() + "/m", *map).ok());
  EXPECT_EQ(testutil::read_file(kw + "/m1"), "");  // folded and removed
  auto again = read_keywords(dir.path() + "/m");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *map);
}

// Entries of messages gone leave :list when it is written anyway, or once
// they are a quarter of it; a message the caller does not know but that is
// in cur/ (delivered since) keeps its entry; nothing changed, nothing written.
TEST(Keywords, GoneEntriesLeaveTheListLazily) {
  testutil::TempDir dir;
  const std::string m = dir.path() + "/m";
  ASSERT_TRUE(lib::maildir::create_maildir(m).ok());
  std::vector<KeywordChange> all;
  for (int i = 0; i < 8; ++i) {
    testutil::write_file(m + "/cur/" + std::to_string(i) + ".x.host:2,S", "x");
    all.push_back({std::to_string(i) + ".x.host", KeywordChange::Op::set, {"$Work"}});
  }
  ASSERT_TRUE(update_keywords(m, all).ok());
  const std::string list = m + "/courierimapkeywords/:list";
  auto inode = [&] {
    struct stat st {};
    return ::stat(list.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const ino_t first = inode();
  // 0 expunged; 7 delivered since the caller scanned (it knows 1-6 only).
  ASSERT_EQ(::unlink((m + "/cur/0.x.host:2,S").c_str()), 0);
  auto known = [](std::string_view b) { return b != "0.x.host" && b != "7.x.host"; };
  auto same = update_keywords(m, {{"1.x.host", KeywordChange::Op::add, {"$Work"}}}, known);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->size(), 8u);  // 1 gone of 8: kept
  EXPECT_EQ(inode(), first);
  auto changed = update_keywords(m, {{"1.x.host", KeywordChange::Op::add, {"$Home"}}}, known);
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(inode(), first);
  auto now = read_keywords(m);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->size(), 7u);
  EXPECT_EQ(now->count("0.x.host"), 0u);
  EXPECT_EQ(now->count("7.x.host"), 1u);  // in cur/: kept
  // One gone of seven: kept; three (a quarter): written without them.
  ASSERT_EQ(::unlink((m + "/cur/1.x.host:2,S").c_str()), 0);
  const ino_t second = inode();
  auto nobody = [](std::string_view) { return false; };
  ASSERT_TRUE(update_keywords(m, {}, nobody).ok());
  EXPECT_EQ(inode(), second);
  for (const char* f : {"/cur/2.x.host:2,S", "/cur/3.x.host:2,S"}) ASSERT_EQ(::unlink((m + f).c_str()), 0);
  ASSERT_TRUE(update_keywords(m, {}, nobody).ok());
  EXPECT_NE(inode(), second);
  now = read_keywords(m);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->size(), 4u);
  // Without `known`, gone entries are left alone.
  ASSERT_EQ(::unlink((m + "/cur/4.x.host:2,S").c_str()), 0);
  ASSERT_TRUE(update_keywords(m, {{"5.x.host", KeywordChange::Op::add, {"$Home"}}}).ok());
  now = read_keywords(m);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->count("4.x.host"), 1u);
}

}  // namespace
}  // namespace imapd
