// tests/imapd/status_test.cpp: STATUS=SIZE (RFC 8438) pieces of
// imapd/mailbox.hpp: file_crlf_size() counts bare LFs across read
// boundaries, folder_status() sums ",W=" sizes and counts files without one.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>

#include "imapd/fetch.hpp"
#include "imapd/mailbox.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

TEST(FileCrlfSize, CountsBareLineFeeds) {
  testutil::TempDir dir;
  testutil::write_file(dir / "a", "a\nb\r\nc\n");
  auto n = file_crlf_size(dir / "a");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 9u);
  // A CR at the end of one 64 KiB read and its LF at the start of the next.
  std::string big(65535, 'x');
  big += "\r\n\n";
  testutil::write_file(dir / "b", big);
  n = file_crlf_size(dir / "b");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, crlf_size(big));
  EXPECT_EQ(*n, 65535u + 4u);
  EXPECT_FALSE(file_crlf_size(dir / "missing"));
}

TEST(FolderStatus, SizeFromNamesAndFiles) {
  testutil::TempDir dir;
  for (const char* d : {"cur", "new", "tmp"}) ::mkdir((dir / d).c_str(), 0700);
  testutil::write_file(dir / "cur/1.M1P1.h,S=3,W=1000:2,S", "a\nb");  // the name is believed
  testutil::write_file(dir / "new/2.M1P1.h", "x\ny\n");             // counted: 6
  auto st = folder_status(dir.path(), true);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->messages, 2u);
  EXPECT_EQ(st->size, 1006u);
  EXPECT_EQ(st->deleted, 0u);
  testutil::write_file(dir / "cur/3.M1P1.h,W=10:2,T", "");  // \Deleted
  st = folder_status(dir.path(), true);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->deleted, 1u);
  EXPECT_EQ(st->deleted_size, 10u);
  auto without = folder_status(dir.path());
  ASSERT_TRUE(without);
  EXPECT_EQ(without->size, 0u);
}

}  // namespace
}  // namespace imapd
