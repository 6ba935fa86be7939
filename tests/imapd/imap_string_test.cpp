// tests/imapd/imap_string_test.cpp: IMAP string rendering
// (imapd/imap_string.hpp): quoted vs literal choice, escapes, NIL handling,
// astrings, UTF8=ACCEPT, literal8, lists; and that what is written parses
// back to the same bytes with the command lexer.
#include "imapd/imap_string.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "imapd/lexer.hpp"

namespace imapd {
namespace {

using namespace std::string_literals;

struct Case {
  const char* label;
  std::string in;
  std::string string_out;   // append_string
  std::string astring_out;  // append_astring
};

TEST(ImapString, StringAndAstring) {
  const Case cases[] = {
      {"plain", "hello", "\"hello\"", "hello"},
      {"empty", "", "\"\"", "\"\""},
      {"space", "a b", "\"a b\"", "\"a b\""},
      {"quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
      {"NIL must be quoted as astring", "NIL", "\"NIL\"", "\"NIL\""},
      {"nil lower case", "nil", "\"nil\"", "\"nil\""},
      {"nil longer is an atom", "NILS", "\"NILS\"", "NILS"},
      {"wildcards", "a*b%", "\"a*b%\"", "\"a*b%\""},
      {"resp-special is fine in astring", "INBOX]", "\"INBOX]\"", "INBOX]"},
      {"parenthesis", "(x)", "\"(x)\"", "\"(x)\""},
      {"brace", "{5}", "\"{5}\"", "\"{5}\""},
      {"CRLF forces literal", "a\r\nb", "{4}\r\na\r\nb", "{4}\r\na\r\nb"},
      {"LF forces literal", "a\nb", "{3}\r\na\nb", "{3}\r\na\nb"},
      {"8-bit forces literal", "B\xc3\xa4r", "{4}\r\nB\xc3\xa4r", "{4}\r\nB\xc3\xa4r"},
      {"NUL forces literal8", "a\0b"s, "~{3}\r\na\0b"s, "~{3}\r\na\0b"s},
      {"control char is quotable", "a\tb", "\"a\tb\"", "\"a\tb\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::string s = "x ";
    append_string(s, c.in);
    EXPECT_EQ(s, "x " + c.string_out);
    std::string a;
    append_astring(a, c.in);
    EXPECT_EQ(a, c.astring_out);
  }
}

TEST(ImapString, Utf8AcceptAndLength) {
  StringStyle utf8;
  utf8.utf8 = true;
  std::string s;
  append_string(s, "B\xc3\xa4r", utf8);
  EXPECT_EQ(s, "\"B\xc3\xa4r\"");
  s.clear();
  append_string(s, "B\xe4r", utf8);  // invalid UTF-8 still a literal
  EXPECT_EQ(s, "{3}\r\nB\xe4r");
  StringStyle short_quotes;
  short_quotes.max_quoted_bytes = 3;
  s.clear();
  append_string(s, "abcd", short_quotes);
  EXPECT_EQ(s, "{4}\r\nabcd");
  EXPECT_TRUE(can_quote("abc", short_quotes));
  EXPECT_FALSE(can_quote("abcd", short_quotes));
}

TEST(ImapString, NstringAndLists) {
  std::string s;
  append_nstring(s, std::nullopt);
  s += ' ';
  append_nstring(s, std::string_view(""));
  s += ' ';
  append_nstring_or_nil(s, "");
  s += ' ';
  append_nstring_or_nil(s, "x");
  EXPECT_EQ(s, "NIL \"\" NIL \"x\"");

  const std::vector<std::string> items = {"a", "b c"};
  s.clear();
  append_list(s, items, [](std::string& o, const std::string& i) { append_string(o, i); });
  EXPECT_EQ(s, "(\"a\" \"b c\")");
  s.clear();
  append_list(s, std::vector<std::string>{}, [](std::string& o, const std::string& i) { append_string(o, i); });
  EXPECT_EQ(s, "()");
  s.clear();
  append_list(s, std::vector<std::string>{}, [](std::string& o, const std::string& i) { append_string(o, i); },
              true);
  EXPECT_EQ(s, "NIL");
}

TEST(ImapString, RoundTripsThroughTheLexer) {
  const std::string samples[] = {"plain",      "",         "with space", "q\"uote",  "back\\slash",
                                 "line\r\nbreak", "B\xc3\xa4r", "NIL",        "a]b",      "%*",
                                 "x{3}",       "(paren)",  std::string(2000, 'z')};
  for (const auto& in : samples) {
    SCOPED_TRACE(in.substr(0, 20));
    std::string cmd = "a1 LOGIN ";
    append_astring(cmd, in);
    cmd += ' ';
    append_string(cmd, in);
    const auto parsed = parse_command(cmd);
    ASSERT_TRUE(parsed.ok()) << parsed.error;
    ASSERT_EQ(parsed.args.size(), 2u);
    EXPECT_EQ(parsed.args[0].str(), in);
    EXPECT_EQ(parsed.args[1].str(), in);
    EXPECT_NE(parsed.args[0].kind, Value::Kind::nil);
  }
}

}  // namespace
}  // namespace imapd
