// tests/lib/lazy_library_test.cpp: lib::LazyLibrary (dlopen on first use).
#include "lib/lazy_library.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include "build-config.h"

namespace {

TEST(LazyLibrary, LoadsOnFirstUseAndCallsTheFunction) {
  lib::LazyLibrary z(ZLIB_SONAME, "the test");
  EXPECT_FALSE(z.loaded());
  auto version = z.function<decltype(::zlibVersion)>("zlibVersion");
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_TRUE(z.loaded());
  EXPECT_STREQ(version->call(), ZLIB_VERSION);  // the library the headers came with
}

TEST(LazyLibrary, AMissingLibraryIsATemporaryErrorNamingItAndItsUse) {
  lib::LazyLibrary none("libcourier-suite-no-such-library.so.7", "the test's feature");
  auto f = none.symbol("anything");
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.error().temporary());
  EXPECT_NE(f.error().message.find("libcourier-suite-no-such-library.so.7"), std::string::npos);
  EXPECT_NE(f.error().message.find("the test's feature"), std::string::npos);
  EXPECT_FALSE(none.loaded());
}

TEST(LazyLibrary, AMissingSymbolNamesTheSymbol) {
  lib::LazyLibrary z(ZLIB_SONAME, "the test");
  auto f = z.symbol("courier_suite_no_such_symbol");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("courier_suite_no_such_symbol"), std::string::npos);
  EXPECT_TRUE(z.loaded());
}

}  // namespace
