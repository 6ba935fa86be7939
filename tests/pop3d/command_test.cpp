// tests/pop3d/command_test.cpp: the POP3 command parser (pop3d/command.hpp):
// good commands in every shape, and malformed, oversized and hostile ones.
#include "pop3d/command.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pop3d {
namespace {

struct GoodCase {
  const char* label;
  std::string line;
  Verb verb;
  std::optional<std::uint64_t> message;
  std::optional<std::uint64_t> lines;
  std::string text;
  std::string initial;
};

TEST(CommandParser, AcceptsEveryCommandShape) {
  const GoodCase cases[] = {
      {"stat", "STAT", Verb::stat, {}, {}, "", ""},
      {"lower case keyword", "stat", Verb::stat, {}, {}, "", ""},
      {"mixed case keyword", "sTaT", Verb::stat, {}, {}, "", ""},
      {"trailing blanks", "NOOP  \t", Verb::noop, {}, {}, "", ""},
      {"leading blanks", "  RSET", Verb::rset, {}, {}, "", ""},
      {"list all", "LIST", Verb::list, {}, {}, "", ""},
      {"list one", "LIST 7", Verb::list, 7, {}, "", ""},
      {"list several blanks", "LIST   7  ", Verb::list, 7, {}, "", ""},
      {"leading zeros", "RETR 0003", Verb::retr, 3, {}, "", ""},
      {"retr max", "RETR 4294967295", Verb::retr, 4294967295ull, {}, "", ""},
      {"dele", "DELE 12", Verb::dele, 12, {}, "", ""},
      {"top", "TOP 1 10", Verb::top, 1, 10, "", ""},
      {"top zero lines", "TOP 2 0", Verb::top, 2, 0, "", ""},
      {"uidl all", "UIDL", Verb::uidl, {}, {}, "", ""},
      {"uidl one", "uidl 9", Verb::uidl, 9, {}, "", ""},
      {"quit", "QUIT", Verb::quit, {}, {}, "", ""},
      {"capa", "CAPA", Verb::capa, {}, {}, "", ""},
      {"stls", "STLS", Verb::stls, {}, {}, "", ""},
      {"utf8", "UTF8", Verb::utf8, {}, {}, "", ""},
      {"user", "USER alice@example.test", Verb::user, {}, {}, "alice@example.test", ""},
      {"user trimmed", "USER   alice  ", Verb::user, {}, {}, "alice", ""},
      {"user with space inside", "USER john smith", Verb::user, {}, {}, "john smith", ""},
      {"user utf8", "USER j\xc3\xb6rg", Verb::user, {}, {}, "j\xc3\xb6rg", ""},
      {"pass", "PASS secret", Verb::pass, {}, {}, "secret", ""},
      {"pass with spaces", "PASS two words ", Verb::pass, {}, {}, "two words ", ""},
      {"pass leading space kept", "PASS  lead", Verb::pass, {}, {}, " lead", ""},
      {"pass lower case", "pass x", Verb::pass, {}, {}, "x", ""},
      {"pass with tab", "PASS a\tb", Verb::pass, {}, {}, "a\tb", ""},
      {"auth list", "AUTH", Verb::auth, {}, {}, "", ""},
      {"auth mechanism", "AUTH PLAIN", Verb::auth, {}, {}, "PLAIN", ""},
      {"auth initial response", "AUTH PLAIN AGEAYg==", Verb::auth, {}, {}, "PLAIN", "AGEAYg=="},
      {"auth empty initial response", "AUTH PLAIN =", Verb::auth, {}, {}, "PLAIN", "="},
      {"apop parsed", "APOP a b", Verb::apop, {}, {}, "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto parsed = parse_command(c.line);
    ASSERT_TRUE(std::holds_alternative<Command>(parsed));
    const auto& cmd = std::get<Command>(parsed);
    EXPECT_EQ(cmd.verb, c.verb);
    EXPECT_EQ(cmd.message, c.message);
    EXPECT_EQ(cmd.lines, c.lines);
    EXPECT_EQ(std::string(cmd.text), c.text);
    EXPECT_EQ(std::string(cmd.initial_response), c.initial);
  }
}

struct BadCase {
  const char* label;
  std::string line;
  SyntaxError error;
};

TEST(CommandParser, RejectsMalformedAndHostileLines) {
  const BadCase cases[] = {
      {"empty", "", SyntaxError::empty_line},
      {"blanks only", " \t ", SyntaxError::empty_line},
      {"unknown", "HELO", SyntaxError::unknown_command},
      {"keyword too long", "STATS", SyntaxError::unknown_command},
      {"keyword too short", "ST", SyntaxError::unknown_command},
      {"keyword prefix", "RET 1", SyntaxError::unknown_command},
      {"garbage bytes", "\xff\xfe\x80", SyntaxError::unknown_command},
      {"very long keyword", std::string(5000, 'A'), SyntaxError::unknown_command},
      {"stat with argument", "STAT 1", SyntaxError::extra_argument},
      {"quit with argument", "QUIT now", SyntaxError::extra_argument},
      {"retr without number", "RETR", SyntaxError::missing_argument},
      {"retr blanks only", "RETR   ", SyntaxError::missing_argument},
      {"retr zero", "RETR 0", SyntaxError::bad_number},
      {"retr negative", "RETR -1", SyntaxError::bad_number},
      {"retr plus sign", "RETR +1", SyntaxError::bad_number},
      {"retr hex", "RETR 0x10", SyntaxError::bad_number},
      {"retr letters", "RETR one", SyntaxError::bad_number},
      {"retr too large", "RETR 4294967296", SyntaxError::bad_number},
      {"retr eleven digits", "RETR 00000000001", SyntaxError::bad_number},
      {"retr huge", "RETR " + std::string(400, '9'), SyntaxError::bad_number},
      {"retr two numbers", "RETR 1 2", SyntaxError::extra_argument},
      {"dele two numbers", "DELE 1 1", SyntaxError::extra_argument},
      {"list two numbers", "LIST 1 2", SyntaxError::extra_argument},
      {"list zero", "LIST 0", SyntaxError::bad_number},
      {"top one number", "TOP 1", SyntaxError::missing_argument},
      {"top no number", "TOP", SyntaxError::missing_argument},
      {"top bad lines", "TOP 1 x", SyntaxError::bad_number},
      {"top negative lines", "TOP 1 -5", SyntaxError::bad_number},
      {"top three numbers", "TOP 1 2 3", SyntaxError::extra_argument},
      {"user without name", "USER", SyntaxError::missing_argument},
      {"user blank name", "USER   ", SyntaxError::missing_argument},
      {"user control character", "USER al\x01ice", SyntaxError::bad_character},
      {"user escape sequence", "USER \x1b[31m", SyntaxError::bad_character},
      {"pass without password", "PASS", SyntaxError::missing_argument},
      {"pass only separator", "PASS ", SyntaxError::missing_argument},
      {"pass glued", "PASSword", SyntaxError::unknown_command},
      {"pass control character", "PASS a\x7f", SyntaxError::bad_character},
      {"auth three words", "AUTH PLAIN abc def", SyntaxError::extra_argument},
      {"auth control", "AUTH PL\x02IN", SyntaxError::bad_character},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto parsed = parse_command(c.line);
    ASSERT_TRUE(std::holds_alternative<SyntaxError>(parsed));
    EXPECT_EQ(std::get<SyntaxError>(parsed), c.error);
    EXPECT_FALSE(syntax_error_text(c.error).empty());
  }
}

TEST(CommandParser, StatesMatchRfc1939) {
  struct Case {
    Verb verb;
    bool authorization;
    bool transaction;
  };
  const Case cases[] = {
      {Verb::user, true, false}, {Verb::pass, true, false}, {Verb::auth, true, false},
      {Verb::stls, true, false}, {Verb::capa, true, true},  {Verb::quit, true, true},
      {Verb::stat, false, true}, {Verb::list, false, true}, {Verb::retr, false, true},
      {Verb::dele, false, true}, {Verb::noop, false, true}, {Verb::rset, false, true},
      {Verb::top, false, true},  {Verb::uidl, false, true}, {Verb::utf8, true, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(verb_name(c.verb)));
    EXPECT_EQ(valid_in(c.verb, State::authorization), c.authorization);
    EXPECT_EQ(valid_in(c.verb, State::transaction), c.transaction);
  }
}

TEST(CommandParser, NumbersAreStrictDecimal) {
  EXPECT_EQ(parse_number("0"), 0u);
  EXPECT_EQ(parse_number("42"), 42u);
  EXPECT_EQ(parse_number("4294967295"), 4294967295ull);
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("4294967296"));
  EXPECT_FALSE(parse_number("1 "));
  EXPECT_FALSE(parse_number(" 1"));
  EXPECT_FALSE(parse_number("1e3"));
  EXPECT_FALSE(parse_number(std::string_view("1\0", 2)));
}

TEST(CheckLine, CommandOrTheRefusalForTheState) {
  using lib::io::ReadStatus;
  auto retr = check_line(ReadStatus::ok, "RETR 2", State::transaction);
  ASSERT_TRUE(retr.command);
  EXPECT_EQ(retr.command->verb, Verb::retr);
  EXPECT_EQ(retr.command->message, 2u);
  EXPECT_EQ(check_line(ReadStatus::ok, "RETR 2", State::authorization).refusal,
            "-ERR Log in first (USER/PASS or AUTH).");
  EXPECT_EQ(check_line(ReadStatus::ok, "USER bob", State::transaction).refusal, "-ERR Already logged in.");
  EXPECT_EQ(check_line(ReadStatus::ok, "FROB", State::transaction).refusal,
            "-ERR " + std::string(syntax_error_text(SyntaxError::unknown_command)));
  EXPECT_EQ(check_line(ReadStatus::too_long, "", State::authorization).refusal, "-ERR Command line too long.");
  EXPECT_EQ(check_line(ReadStatus::nul_byte, "", State::transaction).refusal,
            "-ERR Invalid characters in the command line.");
  EXPECT_FALSE(check_line(ReadStatus::bare_cr, "NOOP", State::transaction).command);
}

}  // namespace
}  // namespace pop3d
