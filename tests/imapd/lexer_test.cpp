// tests/imapd/lexer_test.cpp: the IMAP command parser (imapd/lexer.hpp):
// well-formed commands of every shape, literals of every kind, sections, and
// hostile input (unbalanced, deeply nested, NUL, 8-bit, truncated literals).
#include "imapd/lexer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace imapd {
namespace {

using namespace std::string_literals;

// A compact rendering of parsed values for table comparisons:
// atom a, number #n, quoted "q", literal {l}, nil NIL, list (..), section S[..]<o.c>.
std::string show(const Value& v) {
  switch (v.kind) {
    case Value::Kind::atom:
      return v.text;
    case Value::Kind::number:
      return "#" + std::to_string(v.number);
    case Value::Kind::quoted:
      return "\"" + v.text + "\"";
    case Value::Kind::literal:
      return std::string(v.binary ? "~" : "") + "{" + std::string(v.literal) +
             (v.non_synchronizing ? "+" : "") + "}";
    case Value::Kind::nil:
      return "NIL";
    case Value::Kind::list:
    case Value::Kind::section: {
      std::string s = v.kind == Value::Kind::list ? "(" : v.text + "[";
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) s += ' ';
        s += show(v.items[i]);
      }
      s += v.kind == Value::Kind::list ? ")" : "]";
      if (v.partial) {
        s += "<" + std::to_string(v.partial->origin);
        if (v.partial->count) s += "." + std::to_string(*v.partial->count);
        s += ">";
      }
      return s;
    }
  }
  return "?";
}

std::string show_args(const ParsedCommand& c) {
  std::string s;
  for (std::size_t i = 0; i < c.args.size(); ++i) {
    if (i) s += ' ';
    s += show(c.args[i]);
  }
  return s;
}

struct GoodCase {
  const char* label;
  std::string input;
  const char* tag;
  const char* name;
  bool uid;
  std::string args;
};

TEST(Lexer, ParsesWellFormedCommands) {
  const GoodCase cases[] = {
      {"no args", "a1 NOOP", "a1", "NOOP", false, ""},
      {"lower-case name", "a1 noop\r\n", "a1", "NOOP", false, ""},
      {"login atoms", "a1 LOGIN alice secret", "a1", "LOGIN", false, "alice secret"},
      {"login quoted", "a1 LOGIN \"al ice\" \"p\\\"w\\\\d\"", "a1", "LOGIN", false,
       "\"al ice\" \"p\"w\\d\""},
      {"login literals", "a1 LOGIN {5}\r\nalice {3+}\r\npwd", "a1", "LOGIN", false,
       "{alice} {pwd+}"},
      {"literal with LF only", "a1 LOGIN {5}\nalice x", "a1", "LOGIN", false, "{alice} x"},
      {"empty literal", "a1 LOGIN {0}\r\n x", "a1", "LOGIN", false, "{} x"},
      {"literal ending in CRLF", "a1 APPEND INBOX {4}\r\nab\r\n", "a1", "APPEND", false,
       "INBOX {ab\r\n}"},
      {"binary literal", "a1 APPEND INBOX ~{3}\r\na\0b"s, "a1", "APPEND", false,
       "INBOX ~{a\0b}"s},
      {"append flags and date", "A003 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {3}\r\nabc",
       "A003", "APPEND", false, "saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {abc}"},
      {"NIL any case", "a1 X nil NiL", "a1", "X", false, "NIL NIL"},
      {"numbers", "a1 FETCH 1 (UID)", "a1", "FETCH", false, "#1 (UID)"},
      {"sequence set atom", "a1 FETCH 1:3,5,7:* FLAGS", "a1", "FETCH", false, "1:3,5,7:* FLAGS"},
      {"uid prefix", "a2 uid fetch 4 (FLAGS)", "a2", "FETCH", true, "#4 (FLAGS)"},
      {"nested lists", "a1 X (a (b (c)) ())", "a1", "X", false, "(a (b (c)) ())"},
      {"body section", "a1 FETCH 1 BODY[]", "a1", "FETCH", false, "#1 BODY[]"},
      {"body peek partial", "a1 FETCH 1 (BODY.PEEK[1.2.TEXT]<0.100> UID)", "a1", "FETCH", false,
       "#1 (BODY.PEEK[1.2.TEXT]<0.100> UID)"},
      {"header fields", "a1 FETCH 1 body[HEADER.FIELDS (From \"To\")]", "a1", "FETCH", false,
       "#1 body[HEADER.FIELDS (From \"To\")]"},
      {"binary size", "a1 FETCH 1 BINARY.SIZE[1]", "a1", "FETCH", false, "#1 BINARY.SIZE[#1]"},
      {"bracket mailbox is an atom", "a1 SELECT [Gmail]/Sent", "a1", "SELECT", false, "[Gmail]/Sent"},
      {"list wildcards", "a1 LIST \"\" %/*", "a1", "LIST", false, "\"\" %/*"},
      {"resp-special in tag", "a]1 NOOP", "a]1", "NOOP", false, ""},
      {"runs of spaces", "a1 LOGIN  alice   pwd", "a1", "LOGIN", false, "alice pwd"},
      {"8-bit quoted (UTF8=ACCEPT)", "a1 SELECT \"B\xc3\xa4r\"", "a1", "SELECT", false, "\"B\xc3\xa4r\""},
      {"tilde atom", "a1 SELECT ~foo", "a1", "SELECT", false, "~foo"},
      {"store flags", "a1 STORE 1 +FLAGS.SILENT (\\Deleted $Junk)", "a1", "STORE", false,
       "#1 +FLAGS.SILENT (\\Deleted $Junk)"},
      {"number too big is an atom", "a1 X 99999999999999999999999", "a1", "X", false,
       "99999999999999999999999"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto cmd = parse_command(c.input);
    ASSERT_TRUE(cmd.ok()) << cmd.error;
    EXPECT_EQ(cmd.tag, c.tag);
    EXPECT_EQ(cmd.name, c.name);
    EXPECT_EQ(cmd.uid, c.uid);
    EXPECT_EQ(show_args(cmd), c.args);
  }
}

TEST(Lexer, ValueAccessors) {
  const auto cmd = parse_command("a1 X atom \"q\" {3}\r\nlit 42 NIL BODY[1] (x)");
  ASSERT_TRUE(cmd.ok()) << cmd.error;
  ASSERT_EQ(cmd.args.size(), 7u);
  EXPECT_EQ(cmd.args[0].str(), "atom");
  EXPECT_EQ(cmd.args[1].str(), "q");
  EXPECT_EQ(cmd.args[2].str(), "lit");
  EXPECT_EQ(cmd.args[3].str(), "42");
  EXPECT_EQ(cmd.args[3].number, 42u);
  EXPECT_EQ(cmd.args[4].str(), "NIL");
  EXPECT_EQ(cmd.args[5].str(), "BODY[1]");
  EXPECT_TRUE(cmd.args[5].is_astring());
  EXPECT_FALSE(cmd.args[6].is_astring());
  EXPECT_TRUE(cmd.args[0].is_word("ATOM"));
  EXPECT_FALSE(cmd.args[1].is_word("q"));  // quoted is not an atom
  EXPECT_TRUE(cmd.args[1].is_string());
  EXPECT_TRUE(cmd.args[2].is_string());
  EXPECT_EQ(cmd.args[6].raw, "(x)");
  EXPECT_EQ(cmd.args[1].raw, "\"q\"");
}

TEST(Lexer, PartialForms) {
  auto cmd = parse_command("a FETCH 1 BODY[]<5>");
  ASSERT_TRUE(cmd.ok()) << cmd.error;
  ASSERT_TRUE(cmd.args[1].partial);
  EXPECT_EQ(cmd.args[1].partial->origin, 5u);
  EXPECT_FALSE(cmd.args[1].partial->count);
  cmd = parse_command("a FETCH 1 BODY[]<4294967295.4294967295>");
  ASSERT_TRUE(cmd.ok()) << cmd.error;
  EXPECT_EQ(*cmd.args[1].partial->count, 4294967295u);
}

struct BadCase {
  const char* label;
  std::string input;
  bool tag_readable;
};

TEST(Lexer, RejectsMalformedAndHostileInput) {
  const BadCase cases[] = {
      {"empty", "", false},
      {"only CRLF", "\r\n", false},
      {"leading space", " a1 NOOP", false},
      {"star tag", "* NOOP", false},
      {"plus in tag", "a+1 NOOP", false},
      {"brace in tag", "a{1 NOOP", false},
      {"8-bit tag", "\xe4 NOOP", false},
      {"no command", "a1", true},
      {"no command after space", "a1 ", true},
      {"uid without command", "a1 UID", true},
      {"bad command name", "a1 NO\"OP", true},
      {"unbalanced open", "a1 X (a (b)", true},
      {"unbalanced close", "a1 X a)", true},
      {"close without open", "a1 X )", true},
      {"unterminated quote", "a1 LOGIN \"alice", true},
      {"quote with CR", "a1 LOGIN \"al\rice\" x", true},
      {"quote with NUL", std::string("a1 LOGIN \"a\0b\" x", 15), true},
      {"bad escape", "a1 LOGIN \"a\\nb\" x", true},
      {"backslash at end", "a1 LOGIN \"a\\", true},
      {"NUL in atom", std::string("a1 LOGIN a\0b x", 14), true},
      {"8-bit atom", "a1 SELECT B\xe4r", true},
      {"8-bit alone", "a1 SELECT \xe4", true},
      {"control char", "a1 SELECT a\x01", true},
      {"bare CR", "a1 SELECT a\rb", true},
      {"line break mid command", "a1 SELECT a\r\nb", true},
      {"literal short", "a1 LOGIN {10}\r\nabc", true},
      {"literal no CRLF", "a1 LOGIN {3}abc", true},
      {"literal bad number", "a1 LOGIN {x}\r\nabc", true},
      {"literal empty braces", "a1 LOGIN {}\r\n", true},
      {"literal overflow", "a1 LOGIN {999999999999999999999999}\r\nabc", true},
      {"missing space", "a1 X \"a\"b", true},
      {"missing space after list", "a1 X (a)(b)", true},
      {"section unclosed", "a1 FETCH 1 BODY[HEADER", true},
      {"section bad close", "a1 FETCH 1 BODY[(a])", true},
      {"partial unclosed", "a1 FETCH 1 BODY[]<0.10", true},
      {"partial bad", "a1 FETCH 1 BODY[]<a>", true},
      {"partial overflow", "a1 FETCH 1 BODY[]<4294967296>", true},
      {"unexpected bracket", "a1 X ]", false /* "]" is an atom here: see below */},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto cmd = parse_command(c.input);
    if (std::string(c.label) == "unexpected bracket") {
      EXPECT_TRUE(cmd.ok());  // "]" outside a section is an ASTRING-CHAR
      continue;
    }
    EXPECT_FALSE(cmd.ok());
    EXPECT_FALSE(cmd.error.empty());
    EXPECT_TRUE(cmd.args.empty());
    EXPECT_EQ(!cmd.tag.empty(), c.tag_readable) << "tag=" << cmd.tag;
  }
}

TEST(Lexer, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "a1 X ";
  for (int i = 0; i < 10000; ++i) deep += '(';
  for (int i = 0; i < 10000; ++i) deep += ')';
  auto cmd = parse_command(deep);
  EXPECT_FALSE(cmd.ok());
  EXPECT_EQ(cmd.error, "Nesting too deep");
  EXPECT_EQ(cmd.tag, "a1");

  // Exactly at the limit is fine.
  LexerLimits limits;
  limits.max_depth = 3;
  cmd = parse_command("a1 X (((a)))", limits);
  EXPECT_TRUE(cmd.ok()) << cmd.error;
  cmd = parse_command("a1 X ((((a))))", limits);
  EXPECT_FALSE(cmd.ok());
  // Sections count towards the depth.
  cmd = parse_command("a1 FETCH 1 (BODY[HEADER.FIELDS ((a))])", limits);
  EXPECT_FALSE(cmd.ok());
}

TEST(Lexer, TooManyValues) {
  LexerLimits limits;
  limits.max_values = 5;
  EXPECT_TRUE(parse_command("a1 X a b c d e", limits).ok());
  EXPECT_FALSE(parse_command("a1 X a b c d e f", limits).ok());
  EXPECT_FALSE(parse_command("a1 X (a b) (c d)", limits).ok());  // lists count too
  std::string many = "a1 X";
  for (int i = 0; i < 200000; ++i) many += " a";
  const auto cmd = parse_command(many);
  EXPECT_FALSE(cmd.ok());
  EXPECT_EQ(cmd.error, "Too many arguments");
}

struct LiteralCase {
  const char* label;
  std::string line;
  std::optional<LiteralSpec> want;
};

TEST(Lexer, TrailingLiteral) {
  const auto max = std::numeric_limits<std::uint64_t>::max();
  const LiteralCase cases[] = {
      {"sync", "a1 LOGIN {5}\r\n", LiteralSpec{5, false, false}},
      {"no line end", "a1 LOGIN {5}", LiteralSpec{5, false, false}},
      {"LF only", "a1 LOGIN {5}\n", LiteralSpec{5, false, false}},
      {"non-sync", "a1 APPEND x {123+}\r\n", LiteralSpec{123, true, false}},
      {"binary", "a1 APPEND x ~{7}\r\n", LiteralSpec{7, false, true}},
      {"binary non-sync", "a1 APPEND x ~{7+}", LiteralSpec{7, true, true}},
      {"zero", "a1 LOGIN {0}", LiteralSpec{0, false, false}},
      {"after a literal", " {3}\r\n", LiteralSpec{3, false, false}},
      {"overflow", "a1 LOGIN {99999999999999999999999}", LiteralSpec{max, false, false}},
      {"20 digits overflow", "a1 LOGIN {18446744073709551616}", LiteralSpec{max, false, false}},
      {"none", "a1 NOOP\r\n", std::nullopt},
      {"empty", "", std::nullopt},
      {"empty braces", "a1 LOGIN {}", std::nullopt},
      {"plus only", "a1 LOGIN {+}", std::nullopt},
      {"no open brace", "a1 LOGIN 5}", std::nullopt},
      {"in quotes", "a1 LOGIN \"{5}", std::nullopt},
      {"after quotes", "a1 LOGIN \"a\\\"b\" {5}", LiteralSpec{5, false, false}},
      {"escaped quote keeps quoting", "a1 LOGIN \"a\\\" {5}", std::nullopt},
      {"text after", "a1 LOGIN {5} x", std::nullopt},
      {"letters inside", "a1 LOGIN {5a}", std::nullopt},
      {"only brace", "}", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto got = trailing_literal(c.line);
    ASSERT_EQ(got.has_value(), c.want.has_value());
    if (got) {
      EXPECT_EQ(got->bytes, c.want->bytes);
      EXPECT_EQ(got->non_synchronizing, c.want->non_synchronizing);
      EXPECT_EQ(got->binary, c.want->binary);
    }
  }
}

TEST(Lexer, CharacterClasses) {
  EXPECT_TRUE(is_valid_tag("A001"));
  EXPECT_TRUE(is_valid_tag("tag.]x"));
  EXPECT_FALSE(is_valid_tag(""));
  EXPECT_FALSE(is_valid_tag("a+b"));
  EXPECT_FALSE(is_valid_tag("a*b"));
  EXPECT_FALSE(is_valid_tag("a%b"));
  EXPECT_FALSE(is_valid_tag("a\\b"));
  EXPECT_FALSE(is_valid_tag("a b"));
  EXPECT_TRUE(is_atom_char('a'));
  EXPECT_FALSE(is_atom_char(']'));
  EXPECT_TRUE(is_astring_char(']'));
  EXPECT_FALSE(is_atom_char('\x7f'));
  EXPECT_FALSE(is_atom_char('\x80'));
}

}  // namespace
}  // namespace imapd
