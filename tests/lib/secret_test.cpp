// tests/lib/secret_test.cpp: lib::Secret and constant-time comparison.
#include "lib/secret.hpp"

#include <gtest/gtest.h>

namespace {

TEST(Secret, EqualsComparesExactly) {
  lib::Secret s("hunter2");
  EXPECT_TRUE(s.equals("hunter2"));
  EXPECT_FALSE(s.equals("hunter3"));
  EXPECT_FALSE(s.equals("hunter2 "));
  EXPECT_FALSE(s.equals(""));
  EXPECT_TRUE(lib::Secret().equals(""));
}

TEST(Secret, EmbeddedNulIsSignificant) {
  lib::Secret s(std::string_view("a\0b", 3));
  EXPECT_TRUE(s.equals(std::string_view("a\0b", 3)));
  EXPECT_FALSE(s.equals("a"));
}

TEST(Secret, MoveLeavesSourceEmpty) {
  lib::Secret a("password");
  lib::Secret b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b.reveal(), "password");
  lib::Secret c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(c.reveal(), "password");
}

TEST(Secret, WipeEmpties) {
  lib::Secret s("x");
  s.wipe();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
}

}  // namespace
