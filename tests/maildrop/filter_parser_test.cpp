// tests/maildrop/filter_parser_test.cpp: the filter language parser: every
// construct parses to the expected tree; syntax errors name the right line.
#include "maildrop/filter_parser.hpp"

#include <gtest/gtest.h>

namespace maildrop {
namespace {

Program parse_ok(const std::string& text) {
  auto r = parse_filter(text, "t");
  if (auto* e = std::get_if<SyntaxError>(&r)) ADD_FAILURE() << "line " << e->line << ": " << e->message << "\n" << text;
  return std::holds_alternative<Program>(r) ? std::move(std::get<Program>(r)) : Program{};
}

struct StmtCase {
  const char* label;
  const char* text;
  StmtKind kind;
};

TEST(FilterParser, EveryStatementKind) {
  const StmtCase cases[] = {
      {"assignment", "A = 1", StmtKind::assign},
      {"assignment, no blanks", "A=\"x\"", StmtKind::assign},
      {"empty assignment", "A=", StmtKind::assign},
      {"to", "to \"$HOME/Maildir\"", StmtKind::to},
      {"to bare word", "to $DEFAULT/.Spam/", StmtKind::to},
      {"cc", "cc \"|cat\"", StmtKind::cc},
      {"xfilter", "xfilter \"sed s/a/b/\"", StmtKind::xfilter},
      {"system", "system \"true\"", StmtKind::system},
      {"exit", "exit", StmtKind::exit},
      {"log", "log \"hello $A\"", StmtKind::log},
      {"logfile", "logfile \"/tmp/x\"", StmtKind::logfile},
      {"echo", "echo 'x'", StmtKind::echo},
      {"import", "import EXT", StmtKind::import},
      {"include", "include \"other\"", StmtKind::include},
      {"exception", "exception {\n to x\n}", StmtKind::exception},
      {"if", "if (/^Subject: x/)\n{\n exit\n}", StmtKind::if_},
      {"while", "while ($A < 3) { A = $A + 1 }", StmtKind::while_},
      {"foreach pattern", "foreach /^To: (.*)/ { log $MATCH1 }", StmtKind::foreach},
      {"foreach match", "foreach ($A) =~ /[a-z]+/ { log $MATCH }", StmtKind::foreach},
      {"dotlock", "dotlock \"f.lock\" { cc f }", StmtKind::dotlock},
      {"flock", "flock \"f\" { cc f }", StmtKind::flock},
      {"backtick statement", "`true`", StmtKind::expr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    Program p = parse_ok(c.text);
    ASSERT_EQ(p.body.size(), 1u);
    EXPECT_EQ(p.body[0]->kind, c.kind);
  }
}

TEST(FilterParser, IfElsifElseChain) {
  Program p = parse_ok("if ($A == 1)\n{\n  B=1\n}\nelsif ($A == 2)\n{\n  B=2\n}\nelse if ($A == 3) { B=3 }\nelse\n{\n  B=4\n}\nC=5\n");
  ASSERT_EQ(p.body.size(), 2u);
  EXPECT_EQ(p.body[0]->conds.size(), 3u);
  EXPECT_TRUE(p.body[0]->else_block.has_value());
  EXPECT_EQ(p.body[1]->kind, StmtKind::assign);
}

TEST(FilterParser, PatternFlagsAndWeights) {
  Program p = parse_ok("S = /free money/:bD,10,0.5");
  const Expr& e = *p.body[0]->value;
  ASSERT_EQ(e.kind, ExprKind::pattern);
  EXPECT_FALSE(e.pattern->headers);
  EXPECT_TRUE(e.pattern->body);
  EXPECT_TRUE(e.pattern->case_sensitive);
  EXPECT_TRUE(e.pattern->weighted);
  EXPECT_DOUBLE_EQ(e.pattern->weight1, 10);
  EXPECT_DOUBLE_EQ(e.pattern->weight2, 0.5);
  Program w = parse_ok("X = /spam/:hbw");
  EXPECT_TRUE(w.body[0]->value->pattern->whole_word);
  EXPECT_TRUE(w.body[0]->value->pattern->headers);
}

TEST(FilterParser, DivisionIsNotAPattern) {
  Program p = parse_ok("A = 10 / 2 / 5");
  const Expr& e = *p.body[0]->value;
  EXPECT_EQ(e.kind, ExprKind::binary);
  EXPECT_EQ(e.text, "/");
}

TEST(FilterParser, OperatorPrecedence) {
  Program p = parse_ok("A = 1 + 2 * 3 < 10 && !0 || 0");
  const Expr& e = *p.body[0]->value;
  EXPECT_EQ(e.text, "||");
  EXPECT_EQ(e.args[0]->text, "&&");
  EXPECT_EQ(e.args[0]->args[0]->text, "<");
  EXPECT_EQ(e.args[0]->args[0]->args[0]->text, "+");
}

TEST(FilterParser, InterpolationParts) {
  Program p = parse_ok("A = \"x $B y ${C}z \\$D\"");
  const auto& parts = p.body[0]->value->parts;
  ASSERT_EQ(parts.size(), 5u);
  EXPECT_EQ(parts[1].text, "B");
  EXPECT_TRUE(parts[1].is_var);
  EXPECT_EQ(parts[3].text, "C");
  EXPECT_EQ(parts[4].text, "z $D");
}

TEST(FilterParser, FunctionCalls) {
  Program p = parse_ok("A = substr(tolower($B), 1, length(\"abc\"))");
  const Expr& e = *p.body[0]->value;
  EXPECT_EQ(e.kind, ExprKind::call);
  EXPECT_EQ(e.text, "substr");
  EXPECT_EQ(e.args.size(), 3u);
}

TEST(FilterParser, CommentsSemicolonsContinuations) {
  Program p = parse_ok("# comment\nA=1; B=2 # trailing\nC = \\\n 3\n");
  EXPECT_EQ(p.body.size(), 3u);
}

struct ErrorCase {
  const char* label;
  const char* text;
  int line;
  const char* message_part;
};

TEST(FilterParser, SyntaxErrorsNameTheLine) {
  const ErrorCase cases[] = {
      {"unterminated string", "A=1\nB=\"abc\n", 2, "unterminated string"},
      {"unterminated pattern", "\n\nif (/abc)\n{ exit }", 3, "unterminated pattern"},
      {"missing brace", "if (1)\n{\n exit\n", 4, "missing '}'"},
      {"stray brace", "A=1\n}\n", 2, "no block is open"},
      {"if without block", "if (1) exit", 1, "expected '{'"},
      {"else alone", "else { exit }", 1, "without a preceding if"},
      {"bad flag", "A = /x/:q", 1, "unknown pattern flag"},
      {"to without target", "to\n", 1, "needs an argument"},
      {"bad call", "A = length(1,\n", 1, "expected a value"},
      {"two statements", "A = 1 B = 2", 1, "after a statement"},
      {"bad weight", "A = /x/:b,1", 1, "two weights"},
      {"unclosed paren", "A = (1 + 2", 1, "expected ')'"},
      {"NUL byte", std::string("A=1\nB=\0", 7).c_str(), 2, "NUL"},
      {"bad import", "import \"X\"", 1, "import needs a variable"},
      {"foreach without pattern", "foreach ($A) { exit }", 1, "foreach needs"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::string text = c.text;
    if (std::string(c.label) == "NUL byte") text = std::string("A=1\nB=\0", 7);
    auto r = parse_filter(text, "t");
    ASSERT_TRUE(std::holds_alternative<SyntaxError>(r));
    const auto& e = std::get<SyntaxError>(r);
    EXPECT_EQ(e.line, c.line) << e.message;
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.message;
  }
}

TEST(FilterParser, DeepNestingIsRefused) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "if (1) {\n";
  auto r = parse_filter(text, "t");
  ASSERT_TRUE(std::holds_alternative<SyntaxError>(r));
  EXPECT_NE(std::get<SyntaxError>(r).message.find("nesting"), std::string::npos);
  std::string expr = "A = " + std::string(1000, '(') + "1" + std::string(1000, ')');
  EXPECT_TRUE(std::holds_alternative<SyntaxError>(parse_filter(expr, "t")));
}

}  // namespace
}  // namespace maildrop
