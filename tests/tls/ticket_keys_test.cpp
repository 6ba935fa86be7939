// tests/tls/ticket_keys_test.cpp: the session-ticket key file (TLS_CACHEFILE).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/lib/test_util.hpp"
#include "tls/ticket_keys.hpp"

namespace {

TEST(TicketKeys, FormatParseRoundTrip) {
  tls::TicketKey a;
  a.created = 1700000000;
  a.name.fill(0x11);
  a.aes_key.fill(0x22);
  a.hmac_key.fill(0xab);
  auto text = tls::format_ticket_keys({a, a});
  auto back = tls::parse_ticket_keys(text);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].created, a.created);
  EXPECT_EQ((*back)[0].hmac_key, a.hmac_key);
}

TEST(TicketKeys, MalformedFiles) {
  const char* bad[] = {
      "v2 1 00 00 00\n",
      "v1 x 00000000000000000000000000000000 " "0000000000000000000000000000000000000000000000000000000000000000 "
      "0000000000000000000000000000000000000000000000000000000000000000\n",
      "v1 1 0000 00 00\n",
      "\x01\x02 binary Courier cache\n",
      "v1 1 ZZ000000000000000000000000000000 0000000000000000000000000000000000000000000000000000000000000000 "
      "0000000000000000000000000000000000000000000000000000000000000000\n",
  };
  for (const char* text : bad) EXPECT_FALSE(tls::parse_ticket_keys(text)) << text;
}

TEST(TicketKeys, CreatedRotatedAndKept) {
  testutil::TempDir dir;
  std::string path = dir / "cache";
  auto first = tls::load_ticket_keys(path, 1000000);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->size(), 1u);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto same = tls::load_ticket_keys(path, 1000000 + 3600);
  ASSERT_TRUE(same);
  EXPECT_EQ((*same)[0].name, (*first)[0].name);

  auto rotated = tls::load_ticket_keys(path, 1000000 + tls::ticket_key_rotation_s + 1);
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->size(), 2u);
  EXPECT_NE((*rotated)[0].name, (*first)[0].name);
  EXPECT_EQ((*rotated)[1].name, (*first)[0].name);  // old tickets still resume

  testutil::write_file(path, "garbage from an old Courier cache\n");
  chmod(path.c_str(), 0600);
  auto replaced = tls::load_ticket_keys(path, 2000000);
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->size(), 1u);
}

TEST(TicketKeys, UnsafeFilesAreRefused) {
  testutil::TempDir dir;
  std::string path = dir / "cache";
  ASSERT_TRUE(tls::load_ticket_keys(path, 1000000));
  chmod(path.c_str(), 0644);
  auto loose = tls::load_ticket_keys(path, 1000000);
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().message.find("mode 600"), std::string::npos);
  auto nowhere = tls::load_ticket_keys(dir / "missing/dir/cache", 1000000);
  ASSERT_FALSE(nowhere);
  EXPECT_NE(nowhere.error().message.find("TLS_CACHEFILE="), std::string::npos);
}

}  // namespace
