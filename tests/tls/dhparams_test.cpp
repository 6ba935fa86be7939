// tests/tls/dhparams_test.cpp: DH_BITS, the RFC 7919 groups, the age rule and
// the atomic replace of mkdhparams.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include "tests/lib/test_util.hpp"
#include "tls/dhparams.hpp"
#include "tls/pem.hpp"

namespace {

TEST(DhBits, Table) {
  struct Case {
    const char* label;
    const char* text;
    tls::DhMethod method;
    int bits;  // 0: error
  } cases[] = {
      {"default", "", tls::DhMethod::named_group, 3072},
      {"2048", "2048", tls::DhMethod::named_group, 2048},
      {"4096 blanks", " 4096 ", tls::DhMethod::named_group, 4096},
      {"1024 weak", "1024", tls::DhMethod::named_group, 0},
      {"not a number", "big", tls::DhMethod::named_group, 0},
      {"no such group", "2500", tls::DhMethod::named_group, 0},
      {"random any size", "2500", tls::DhMethod::random_prime, 2500},
      {"too large", "20000", tls::DhMethod::random_prime, 0},
  };
  for (const auto& c : cases) {
    auto r = tls::parse_dh_bits(c.text, c.method);
    if (c.bits == 0) {
      EXPECT_FALSE(r) << c.label;
      if (!r) {
        EXPECT_NE(r.error().message.find("DH_BITS="), std::string::npos) << c.label;
      }
    } else {
      ASSERT_TRUE(r) << c.label << ": " << r.error().message;
      EXPECT_EQ(*r, c.bits) << c.label;
    }
  }
}

TEST(DhParams, NamedGroupIsReadBack) {
  auto pem = tls::generate_dh_params_pem(3072, tls::DhMethod::named_group);
  ASSERT_TRUE(pem) << pem.error().message;
  auto decoded = tls::decode_pem(*pem, "dh");
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_TRUE(decoded->dh_params);
  EXPECT_EQ(EVP_PKEY_get_bits(decoded->dh_params.get()), 3072);
}

TEST(DhParams, AgeRuleAndReplace) {
  testutil::TempDir dir;
  std::string path = dir / "dhparams.pem";
  std::string why;
  EXPECT_TRUE(tls::dh_params_need_refresh(path, time(nullptr), false, &why));
  EXPECT_EQ(why, "it does not exist");
  ASSERT_TRUE(tls::replace_file(path, "first\n", 0644));
  EXPECT_EQ(testutil::read_file(path), "first\n");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_FALSE(tls::dh_params_need_refresh(path, time(nullptr), false, &why));
  EXPECT_TRUE(tls::dh_params_need_refresh(path, time(nullptr), true, &why));
  struct utimbuf old = {time(nullptr) - 26 * 86400, time(nullptr) - 26 * 86400};
  ASSERT_EQ(utime(path.c_str(), &old), 0);
  EXPECT_TRUE(tls::dh_params_need_refresh(path, time(nullptr), false, &why));
  EXPECT_NE(why.find("26 days old"), std::string::npos);
  ASSERT_TRUE(tls::replace_file(path, "second\n", 0644));
  EXPECT_EQ(testutil::read_file(path), "second\n");
  auto bad = tls::replace_file(dir / "no/such/dir/x", "x", 0644);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cannot create"), std::string::npos);
}

}  // namespace
