// tests/imapd/mutf7_test.cpp: modified UTF-7 (imapd/mutf7.hpp), RFC 3501
// 5.1.3 examples, round trips, and every kind of invalid or non-canonical input.
#include "imapd/mutf7.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imapd {
namespace {

struct Pair {
  const char* label;
  const char* mutf7;
  const char* utf8;
};

TEST(Mutf7, DecodesAndEncodes) {
  const Pair cases[] = {
      {"ascii", "INBOX.Sent", "INBOX.Sent"},
      {"empty", "", ""},
      {"ampersand", "Tom &- Jerry", "Tom & Jerry"},
      {"only ampersand", "&-", "&"},
      {"two ampersands", "&-&-", "&&"},
      {"rfc 3501 example", "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
       "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
      {"latin-1", "Entw&APw-rfe", "Entw\xc3\xbc" "rfe"},
      {"two letters one run", "&AOQA9g-", "\xc3\xa4\xc3\xb6"},
      {"three letters", "&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc"},
      {"surrogate pair", "&2D3eAA-", "\xf0\x9f\x98\x80"},
      {"run then ampersand", "&AOQ-&-", "\xc3\xa4&"},
      {"control char encoded", "&AAk-", "\t"},
      {"delete char encoded", "&AH8-", "\x7f"},
      {"euro", "&IKw-", "\xe2\x82\xac"},
      {"slash in base64", "&,,8-", "\xef\xbf\xbf"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto utf8 = mutf7_to_utf8(c.mutf7);
    ASSERT_TRUE(utf8);
    EXPECT_EQ(*utf8, c.utf8);
    const auto back = utf8_to_mutf7(c.utf8);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, c.mutf7);
    EXPECT_TRUE(is_valid_mutf7(c.mutf7));
  }
}

TEST(Mutf7, RejectsInvalidModifiedUtf7) {
  const struct {
    const char* label;
    std::string in;
  } cases[] = {
      {"unterminated", "&AOQ"},
      {"unterminated ampersand", "a&"},
      {"8-bit", "B\xe4r"},
      {"control", "a\tb"},
      {"NUL", std::string("a\0b", 3)},
      {"DEL", "a\x7f"},
      {"standard base64 slash", "&U/BTFw-"},
      {"base64 padding", "&AOQ=-"},
      {"bad char", "&AO.Q-"},
      {"encoded ascii", "&AGE-"},
      {"encoded ampersand", "&ACY-"},
      {"encoded NUL", "&AAA-"},
      {"nonzero padding bits", "&AOR-"},
      {"partial unit", "&AO-"},
      {"single char", "&A-"},
      {"extra char", "&AOQA-"},
      {"adjacent runs", "&AOQ-&APY-"},
      {"lone high surrogate", "&2D0-"},
      {"lone low surrogate", "&3gA-"},
      {"high then bmp", "&2D0A5A-"},
      {"reversed pair", "&3gDYPQ-"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_FALSE(mutf7_to_utf8(c.in));
    EXPECT_FALSE(is_valid_mutf7(c.in));
  }
}

TEST(Mutf7, RejectsInvalidUtf8) {
  const struct {
    const char* label;
    std::string in;
  } cases[] = {
      {"lone continuation", "\x80"},
      {"truncated 2", "\xc3"},
      {"truncated 3", "\xe2\x82"},
      {"overlong slash", "\xc0\xaf"},
      {"overlong 3", "\xe0\x80\xaf"},
      {"surrogate", "\xed\xa0\x80"},
      {"above max", "\xf4\x90\x80\x80"},
      {"invalid lead", "\xff"},
      {"NUL", std::string("a\0", 2)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_FALSE(utf8_to_mutf7(c.in));
  }
}

TEST(Mutf7, RoundTripsEveryPlane) {
  // Every code point class: 2, 3 and 4 byte UTF-8, mixed with ASCII.
  std::string utf8;
  for (char32_t cp : {U'a', U'\u00e9', U'&', U'\u4e2d', U'.', U'\U0001f600', U'\u00ff', U'z'}) {
    if (cp < 0x80) {
      utf8 += static_cast<char>(cp);
    } else if (cp < 0x800) {
      utf8 += static_cast<char>(0xc0 | (cp >> 6));
      utf8 += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      utf8 += static_cast<char>(0xe0 | (cp >> 12));
      utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      utf8 += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      utf8 += static_cast<char>(0xf0 | (cp >> 18));
      utf8 += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      utf8 += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  const auto m = utf8_to_mutf7(utf8);
  ASSERT_TRUE(m);
  const auto back = mutf7_to_utf8(*m);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, utf8);
}

}  // namespace
}  // namespace imapd
