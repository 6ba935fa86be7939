// tests/pop3d/sizelist_test.cpp: Courier's courierpop3dsizelist format
// (pop3d/sizelist.hpp): Courier's own files, round trips, and corrupt or
// hostile content.
#include "pop3d/sizelist.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace pop3d {
namespace {

TEST(SizeList, ReadsCourierVersion3) {
  // As Courier's pop3d writes it (savepop3dlist).
  const std::string text =
      "/3 4 1700000000\n"
      "1700000001.M1P2.host,S=120:2,S 124 1:1700000000:0\n"
      "1700000002.M3P4.host,S=99:2, 105 2:1700000000:1\n"
      "1700000003.M5P6.host 10 3:1699999999:0\n";
  size_t skipped = 99;
  auto list = parse_sizelist(text, &skipped);
  ASSERT_TRUE(list);
  EXPECT_EQ(skipped, 0u);
  EXPECT_EQ(list->version, 3);
  EXPECT_EQ(list->next_uid, 4u);
  EXPECT_EQ(list->uidv, 1700000000u);
  ASSERT_EQ(list->entries.size(), 3u);
  EXPECT_EQ(list->entries[0].file_name, "1700000001.M1P2.host,S=120:2,S");
  EXPECT_EQ(list->entries[0].size, 124u);
  EXPECT_EQ(list->entries[0].uid, 1u);
  EXPECT_EQ(list->entries[0].uidv, 1700000000u);
  EXPECT_FALSE(list->entries[0].utf8);
  EXPECT_TRUE(list->entries[1].utf8);
  EXPECT_EQ(list->entries[2].uidv, 1699999999u);
  EXPECT_EQ(format_uidl(list->entries[0].uid, list->entries[0].uidv), "UID1-1700000000");
}

TEST(SizeList, ReadsVersion2AndNamesWithSpaces) {
  auto list = parse_sizelist("/2 7\nname with space 5 6:0\nother 9 3:1234\n");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->version, 2);
  EXPECT_EQ(list->uidv, 0u);  // the caller uses the time, as Courier
  ASSERT_EQ(list->entries.size(), 2u);
  EXPECT_EQ(list->entries[0].file_name, "name with space");
  EXPECT_EQ(list->entries[0].uidv, 0u);
  EXPECT_EQ(format_uidl(6, 0), "UID6");  // version 1 UIDLs had no uidv
  EXPECT_EQ(list->entries[1].uidv, 1234u);
}

TEST(SizeList, RoundTrips) {
  SizeList list;
  list.next_uid = 10;
  list.uidv = 42;
  list.entries = {{"a:2,S", 1, 3, 42, false}, {"b", 2000000000000ull, 9, 41, true}};
  std::string text = format_sizelist(list);
  EXPECT_EQ(text, "/3 10 42\na:2,S 1 3:42:0\nb 2000000000000 9:41:1\n");
  auto back = parse_sizelist(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->next_uid, 10u);
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[1].file_name, "b");
  EXPECT_EQ(back->entries[1].size, 2000000000000ull);
  EXPECT_TRUE(back->entries[1].utf8);
}

TEST(SizeList, RefusesBadHeaders) {
  const char* cases[][2] = {
      {"empty", ""},
      {"no newline", "/3 1 2"},
      {"no slash", "3 1 2\n"},
      {"version 1", "/1 1 2\n"},
      {"version 4", "/4 1 2\n"},
      {"version 3 without uidv", "/3 1\n"},
      {"letters", "/3 a b\n"},
      {"next uid zero", "/3 0 5\n"},
      {"next uid huge", "/3 99999999999999999999 5\n"},
      {"negative", "/3 -1 5\n"},
      {"too many fields", "/3 1 2 3\n"},
      {"binary", "\x00\x01\x02\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c[0]);
    EXPECT_FALSE(parse_sizelist(c[1]));
  }
}

TEST(SizeList, SkipsBadLinesAndKeepsTheRest) {
  const std::string text = std::string("/3 5 100\n") +
                           "good 1 1:100:0\n"
                           "no fields\n"
                           "x 1 notanumber:100:0\n"
                           "x -1 2:100:0\n"
                           "x 1 0:100:0\n"          // uid 0
                           "x 1 2:100:7\n"          // utf8 not 0/1
                           "x 1 2:100\n"            // version 3 needs the utf8 field
                           " 1 2:100:0\n"           // empty name
                           "a/b 1 2:100:0\n"        // a path
                           "ctl\x01 1 2:100:0\n" +  // control character
                           std::string(3000, 'n') + " 1 2:100:0\n" +
                           "also good 2 4:100:1\n"
                           "cut short 3 5:10";  // no final newline
  size_t skipped = 0;
  auto list = parse_sizelist(text, &skipped);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->entries.size(), 2u);
  EXPECT_EQ(list->entries[0].file_name, "good");
  EXPECT_EQ(list->entries[1].file_name, "also good");
  EXPECT_EQ(skipped, 11u);
}

TEST(SizeList, NextUidNeverReusesAListedUid) {
  // A corrupt header must not make new messages collide with listed ones.
  auto list = parse_sizelist("/3 2 7\na 1 9:7:0\nb 1 3:6:0\n");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->next_uid, 10u);
}

TEST(SizeList, MessageBase) {
  EXPECT_EQ(message_base("123.M1P2.h,S=5:2,RS"), "123.M1P2.h,S=5");
  EXPECT_EQ(message_base("123.M1P2.h"), "123.M1P2.h");
  EXPECT_EQ(message_base(""), "");
}

TEST(SizeList, CourierMessageOrder) {
  // By delivery time as a number first (999 before 1000 though "1000" < "999"
  // as bytes), then by name up to the flags.
  std::vector<std::string> names = {"1000.a:2,S", "999.b:2,", "1000.A:2,", "1000.a", "20.z"};
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return compare_message_names(a, b) < 0; });
  EXPECT_EQ(names, (std::vector<std::string>{"20.z", "999.b:2,", "1000.A:2,", "1000.a", "1000.a:2,S"}));
  EXPECT_EQ(compare_message_names("5.x:2,S", "5.x:2,RS"), 0);  // the same message
  EXPECT_NE(compare_message_names("5.x", "5.y"), 0);
}

}  // namespace
}  // namespace pop3d
