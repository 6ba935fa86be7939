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

}  // namespace
}  // namespace imapd
