// tests/imapd/uiddb_test.cpp: Courier's courierimapuiddb, read and written.
#include "imapd/uiddb.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

TEST(UidDb, ParsesVersionOneAndRaisesNextUid) {
  auto db = parse_uiddb("1 1129891669 5\n3 1700000000.M1P1.host\n9 1700000001.M2P1.host\n", "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uidvalidity, 1129891669u);
  EXPECT_EQ(db->next_uid, 10u);  // 9 is taken: never hand it out again
  EXPECT_EQ(db->uids.at("1700000000.M1P1.host"), 3u);
}

TEST(UidDb, ParsesVersionTwoRuns) {
  auto db = parse_uiddb("2 77 1\na 4\nb\nc\nd 10\n", "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uids.at("a"), 4u);
  EXPECT_EQ(db->uids.at("b"), 5u);
  EXPECT_EQ(db->uids.at("c"), 6u);
  EXPECT_EQ(db->uids.at("d"), 10u);
  EXPECT_EQ(db->next_uid, 11u);
}

TEST(UidDb, RejectsBadHeaders) {
  struct Case {
    const char* label;
    const char* text;
  } cases[] = {
      {"empty", ""},
      {"words", "hello world\n"},
      {"version 3", "3 1 1\n"},
      {"overflow", "1 99999999999 1\n"},
      {"two fields", "1 5\n"},
      {"negative", "1 -5 1\n"},
  };
  for (const auto& c : cases) EXPECT_FALSE(parse_uiddb(c.text, "t").ok()) << c.label;
}

TEST(UidDb, SkipsHostileMessageLines) {
  auto db = parse_uiddb("1 5 1\n0 zero\n7 ../../etc/passwd\n8 a/b\nx y\n9 .hidden\n10 ok\n\n11\n", "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uids.size(), 1u);
  EXPECT_EQ(db->uids.at("ok"), 10u);
  EXPECT_EQ(db->next_uid, 11u);
}

TEST(UidDb, WriteThenReadRoundTrip) {
  testutil::TempDir dir;
  ASSERT_TRUE(lib::maildir::create_maildir(dir.path() + "/m").ok());
  UidDb db{123, 7, {{"b", 2}, {"a", 1}, {"c", 6}}};
  ASSERT_TRUE(write_uiddb(dir.path() + "/m", db).ok());
  EXPECT_EQ(testutil::read_file(dir.path() + "/m/courierimapuiddb"), "1 123 7\n1 a\n2 b\n6 c\n");
  auto back = read_uiddb(dir.path() + "/m");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->uids, db.uids);
  EXPECT_EQ(back->next_uid, 7u);
}

TEST(UidDb, SnapshotTellsWhetherTheFileWasReplaced) {
  testutil::TempDir dir;
  const std::string m = dir.path() + "/m";
  ASSERT_TRUE(lib::maildir::create_maildir(m).ok());
  // No file yet: unchanged while there is still none.
  auto none = read_uiddb_snapshot(m);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->db.uidvalidity, 0u);
  EXPECT_TRUE(same_uiddb(m, *none));
  UidDb db{123, 7, {{"a", 1}}};
  ASSERT_TRUE(write_uiddb(m, db).ok());
  EXPECT_FALSE(same_uiddb(m, *none));
  auto snap = read_uiddb_snapshot(m);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->db.uids, db.uids);
  EXPECT_TRUE(same_uiddb(m, *snap));
  // The same text written again is another file (a rename), which a
  // session must read again: only the name's inode tells.
  ASSERT_TRUE(write_uiddb(m, db).ok());
  EXPECT_FALSE(same_uiddb(m, *snap));
  auto again = read_uiddb_snapshot(m);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(::unlink((m + "/courierimapuiddb").c_str()), 0);
  EXPECT_FALSE(same_uiddb(m, *again));
}

TEST(UidDb, MissingFileIsEmpty) {
  testutil::TempDir dir;
  auto db = read_uiddb(dir.path());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uidvalidity, 0u);
  EXPECT_TRUE(db->uids.empty());
}

}  // namespace
}  // namespace imapd
