// tests/maildrop/interpreter_test.cpp: every construct of the filter
// language run against a real message and real Maildirs in a temporary folder.
#include "maildrop/interpreter.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "maildrop/filter_parser.hpp"
#include "tests/maildrop/test_support.hpp"

namespace maildrop {
namespace {

using test::TempDir;

const char* const sample =
    "From: Alice Example <alice@example.test>\n"
    "To: bob@example.test, \"Carol\" <carol@example.test>\n"
    "Subject: Cheap pills for you\n"
    "X-Spam-Score: 7\n"
    "Message-ID: <m1@example.test>\n"
    "X-Long: first\n"
    " second\n"
    "\n"
    "Hello Bob,\n"
    "buy cheap pills, cheap cheap!\n"
    "From here on\n";

class InterpreterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(lib::maildir::create_maildir(dir.str("Maildir")).ok());
    ASSERT_TRUE(lib::maildir::create_folder(dir.str("Maildir"), "Spam").ok());
    msg.emplace(test::spool_text(dir, sample));
    in.emplace(*msg, DeliveryContext{});
    in->vars()["HOME"] = dir.str();
    in->vars()["DEFAULT"] = dir.str("Maildir");
    in->vars()["PATH"] = "/usr/bin:/bin";
  }
  std::variant<FilterOutcome, FilterFailure> run(const std::string& text) {
    auto p = parse_filter(text, "test.filter");
    if (auto* e = std::get_if<SyntaxError>(&p)) {
      ADD_FAILURE() << "syntax error line " << e->line << ": " << e->message;
      return FilterFailure{};
    }
    program = std::move(std::get<Program>(p));
    return in->run(program);
  }
  FilterOutcome run_ok(const std::string& text) {
    auto r = run(text);
    if (auto* f = std::get_if<FilterFailure>(&r)) {
      ADD_FAILURE() << f->describe();
      return FilterOutcome::fell_through;
    }
    return std::get<FilterOutcome>(r);
  }
  std::string var(const char* n) { return in->var(n); }

  TempDir dir;
  std::optional<Message> msg;
  std::optional<Interpreter> in;
  Program program;
};

struct ExprCase {
  const char* label;
  const char* expr;
  const char* expected;
};

TEST_F(InterpreterTest, Expressions) {
  in->vars()["N"] = "5";
  in->vars()["S"] = "Hello World";
  in->vars()["1"] = "one";
  in->vars()["2"] = "two";
  const ExprCase cases[] = {
      {"integer arithmetic", "1 + 2 * 3", "7"},
      {"division", "7 / 2", "3.5"},
      {"unary minus", "-$N + 1", "-4"},
      {"numeric compare", "$N > 4", "1"},
      {"numeric equality of 5 and 5.0", "$N == 5.0", "1"},
      {"string compare", "\"abc\" lt \"abd\"", "1"},
      {"string eq", "\"a\" eq \"b\"", "0"},
      {"string ne", "\"a\" ne \"b\"", "1"},
      {"not", "!0", "1"},
      {"and short circuit value", "1 && \"x\"", "x"},
      {"or", "0 || 7", "7"},
      {"interpolation", "\"n=$N s=${S}!\"", "n=5 s=Hello World!"},
      {"positional arguments", "\"$1-${2}\"", "one-two"},
      {"single quotes are literal", "'$N'", "$N"},
      {"length", "length($S)", "11"},
      {"substr", "substr($S, 6)", "World"},
      {"substr with length", "substr($S, 0, 5)", "Hello"},
      {"tolower", "tolower($S)", "hello world"},
      {"toupper", "toupper($S)", "HELLO WORLD"},
      {"escape", "escape(\"a b;c\")", "a\\ b\\;c"},
      {"getaddr", "getaddr(\"A <a@x.test>, b@y.test\")", "a@x.test\nb@y.test\n"},
      {"hasaddr to", "hasaddr(\"Carol@Example.test\")", "1"},
      {"hasaddr absent", "hasaddr(\"alice@example.test\")", "0"},
      {"backtick", "`echo hi; echo there`", "hi\nthere"},
      {"backtick reads the message", "`grep -c cheap`", "1"},
      {"SIZE is the message size", "$SIZE", "244"},
      {"LINES", "$LINES", "11"},
      {"match operator", "$S =~ /w(or)ld/", "1"},
      {"match operator D is case-sensitive", "$S =~ /world/:D", "0"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    run_ok(std::string("R = ") + c.expr);
    EXPECT_EQ(var("R"), c.expected);
  }
}

TEST_F(InterpreterTest, HeaderPatternsSetMatchAndGroups) {
  run_ok("if (/^Subject: (cheap) (\\w+)/) { R=\"$MATCH1-$MATCH2\" }");
  EXPECT_EQ(var("R"), "Cheap-pills");
  EXPECT_EQ(var("MATCH"), "Subject: Cheap pills");
}

TEST_F(InterpreterTest, HeaderPatternsSeeUnfoldedFields) {
  run_ok("R = /^X-Long: first second/");
  EXPECT_EQ(var("R"), "1");
}

TEST_F(InterpreterTest, BodyPatternsOnlyWithB) {
  run_ok("H = /^Hello Bob/\nB = /^Hello Bob/:b\nHB = /^Subject|^Hello/:hb");
  EXPECT_EQ(var("H"), "0");
  EXPECT_EQ(var("B"), "1");
  EXPECT_EQ(var("HB"), "1");
}

TEST_F(InterpreterTest, CaseSensitivityAndWholeWords) {
  run_ok("A = /cheap pills/\nB = /cheap pills/:D\nC = /chea/:bw\nD = /cheap/:bw");
  EXPECT_EQ(var("A"), "1");
  EXPECT_EQ(var("B"), "0");
  EXPECT_EQ(var("C"), "0");
  EXPECT_EQ(var("D"), "1");
}

TEST_F(InterpreterTest, WeightedScoring) {
  // "cheap" occurs 3 times in the body: 4 + 4*0.5 + 4*0.25 = 7
  run_ok("S = /cheap/:b,4,0.5");
  EXPECT_EQ(var("S"), "7");
  run_ok("S = /nothing/:b,4,0.5");
  EXPECT_EQ(var("S"), "0");
}

TEST_F(InterpreterTest, VariablesInPatterns) {
  run_ok("W = pills\nR = /${W} for/");
  EXPECT_EQ(var("R"), "1");
}

TEST_F(InterpreterTest, ToDeliversAndStops) {
  EXPECT_EQ(run_ok("to \"$DEFAULT/.Spam\"\nR=after"), FilterOutcome::delivered);
  EXPECT_EQ(var("R"), "");
  EXPECT_EQ(test::count_messages(dir.str("Maildir/.Spam")), 1);
  EXPECT_EQ(test::only_message(dir.str("Maildir/.Spam")), sample);
}

TEST_F(InterpreterTest, CcDeliversAndContinues) {
  EXPECT_EQ(run_ok("cc \"$DEFAULT/.Spam/\"\nR=after"), FilterOutcome::fell_through);
  EXPECT_EQ(var("R"), "after");
  EXPECT_EQ(test::count_messages(dir.str("Maildir/.Spam")), 1);
}

TEST_F(InterpreterTest, ToMboxCreatesAndQuotesFrom) {
  EXPECT_EQ(run_ok("to \"$HOME/mbox\""), FilterOutcome::delivered);
  std::string mbox = test::read_file(dir.str("mbox"));
  EXPECT_EQ(mbox.rfind("From ", 0), 0u);
  EXPECT_NE(mbox.find("\n>From here on\n"), std::string::npos);
  EXPECT_EQ(mbox.substr(mbox.size() - 2), "\n\n");
}

TEST_F(InterpreterTest, ToProgramGetsTheMessage) {
  EXPECT_EQ(run_ok("to \"| cat > $HOME/piped\""), FilterOutcome::delivered);
  EXPECT_EQ(test::read_file(dir.str("piped")), sample);
}

TEST_F(InterpreterTest, ProgramEnvironmentIsTheFilterVariablesOnly) {
  ::setenv("MAILDROP_TEST_LEAK", "leaked", 1);
  run_ok("MINE=visible\ncc \"| env > $HOME/env\"");
  std::string env = test::read_file(dir.str("env"));
  EXPECT_NE(env.find("MINE=visible\n"), std::string::npos);
  EXPECT_EQ(env.find("MAILDROP_TEST_LEAK"), std::string::npos);
}

TEST_F(InterpreterTest, FailingProgramIsAnError) {
  auto r = run("\n\nto \"|exit 3\"");
  ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
  auto& f = std::get<FilterFailure>(r);
  EXPECT_EQ(f.line, 3);
  EXPECT_TRUE(f.temporary);
  EXPECT_NE(f.describe().find("test.filter:3: program \"exit 3\" failed: exit 3"), std::string::npos);
}

TEST_F(InterpreterTest, ProgramTimeLimit) {
  auto r = run("PROGRAMTIMEOUT=1\nto \"|sleep 30\"");
  ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
  EXPECT_NE(std::get<FilterFailure>(r).message.find("longer than 1 s"), std::string::npos);
}

TEST_F(InterpreterTest, XfilterReplacesTheMessage) {
  run_ok("xfilter \"sed s/Cheap/Nice/\"\nR = /^Subject: Nice/\nto $DEFAULT");
  EXPECT_EQ(var("R"), "1");
  std::string got = test::only_message(dir.str("Maildir"));
  EXPECT_NE(got.find("Subject: Nice pills"), std::string::npos);
  EXPECT_EQ(var("SIZE"), std::to_string(got.size()));
}

TEST_F(InterpreterTest, XfilterFailureLeavesMessage) {
  auto r = run("xfilter \"exit 1\"");
  ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
  EXPECT_NE(std::get<FilterFailure>(r).message.find("unchanged"), std::string::npos);
}

TEST_F(InterpreterTest, SystemSetsReturnCode) {
  run_ok("system \"exit 4\"");
  EXPECT_EQ(var("RETURNCODE"), "4");
}

TEST_F(InterpreterTest, ExitStopsWithExitCode) {
  EXPECT_EQ(run_ok("EXITCODE=99\nexit\nR=1"), FilterOutcome::exited);
  EXPECT_EQ(var("EXITCODE"), "99");
  EXPECT_EQ(var("R"), "");
}

TEST_F(InterpreterTest, LogAndLogfile) {
  run_ok("logfile \"$HOME/filter.log\"\nlog \"subject matched: ${SIZE}\"");
  EXPECT_EQ(test::read_file(dir.str("filter.log")), "subject matched: 244\n");
}

TEST_F(InterpreterTest, EchoWritesStdout) {
  testing::internal::CaptureStdout();
  run_ok("echo \"hi $SIZE\"");
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "hi 244\n");
}

TEST_F(InterpreterTest, ImportReadsTheOriginalEnvironment) {
  in->set_import_environment({{"EXT", "lists"}});
  run_ok("import EXT\nimport NOPE");
  EXPECT_EQ(var("EXT"), "lists");
  EXPECT_EQ(var("NOPE"), "");
}

TEST_F(InterpreterTest, IncludeRunsAnotherFile) {
  test::write_file(dir.str("inc"), "INCLUDED=yes\n");
  run_ok("include \"$HOME/inc\"\nR=$INCLUDED");
  EXPECT_EQ(var("R"), "yes");
}

TEST_F(InterpreterTest, IncludeSyntaxErrorNamesTheIncludedFile) {
  test::write_file(dir.str("inc"), "A=1\nif (\n");
  auto r = run("include \"$HOME/inc\"");
  ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
  EXPECT_NE(std::get<FilterFailure>(r).describe().find(dir.str("inc") + ":2: syntax error"), std::string::npos);
}

TEST_F(InterpreterTest, IncludeLoopIsStopped) {
  test::write_file(dir.str("loop"), "include \"" + dir.str("loop") + "\"\n");
  auto r = run("include \"$HOME/loop\"");
  ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
  EXPECT_NE(std::get<FilterFailure>(r).message.find("nested"), std::string::npos);
}

TEST_F(InterpreterTest, ExceptionCatchesErrors) {
  EXPECT_EQ(run_ok("exception {\n to \"$HOME/missing-dir/\"\n}\nR=continued"), FilterOutcome::fell_through);
  EXPECT_EQ(var("R"), "continued");
}

TEST_F(InterpreterTest, IfElsifElse) {
  const char* f = "if ($N == 1) { R=one } elsif ($N == 2) { R=two } else { R=other }";
  for (auto [n, want] : {std::pair{"1", "one"}, {"2", "two"}, {"3", "other"}}) {
    in->vars()["N"] = n;
    run_ok(f);
    EXPECT_EQ(var("R"), want);
  }
}

TEST_F(InterpreterTest, WhileLoop) {
  run_ok("I=0\nS=\"\"\nwhile ($I < 4) { S=\"$S$I\"; I=$I + 1 }");
  EXPECT_EQ(var("S"), "0123");
}

TEST_F(InterpreterTest, EndlessLoopIsStopped) {
  auto r = run("while (1) { A=1 }");
  ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
  EXPECT_NE(std::get<FilterFailure>(r).message.find("endless"), std::string::npos);
}

TEST_F(InterpreterTest, ForeachOverHeadersAndStrings) {
  run_ok("L=\"\"\nforeach /^(To|From): / { L=\"$L$MATCH1,\" }");
  EXPECT_EQ(var("L"), "From,To,");
  run_ok("N=0\nforeach /cheap/:b { N=$N + 1 }");
  EXPECT_EQ(var("N"), "3");
  run_ok("L=\"\"\nforeach (getaddr(\"a@x, b@y\")) =~ /[^\\n]+/ { L=\"$L[$MATCH]\" }");
  EXPECT_EQ(var("L"), "[a@x][b@y]");
}

TEST_F(InterpreterTest, DotlockAndFlock) {
  run_ok("dotlock \"$HOME/box.lock\" { R=`test -f $HOME/box.lock && echo held` }");
  EXPECT_EQ(var("R"), "held");
  struct stat st;
  EXPECT_NE(::stat(dir.str("box.lock").c_str(), &st), 0);  // released
  run_ok("flock \"$HOME/f\" { F=inside }");
  EXPECT_EQ(var("F"), "inside");
}

TEST_F(InterpreterTest, LookupFile) {
  test::write_file(dir.str("list"), "# blocked senders\nspam@.*\n^alice@example\\.test$\n");
  run_ok("A = lookup(\"alice@example.test\", \"$HOME/list\")\nB = lookup(\"bob@x\", \"$HOME/list\")");
  EXPECT_EQ(var("A"), "1");
  EXPECT_EQ(var("B"), "0");
}

TEST_F(InterpreterTest, GdbmFunctionsUseBerkeleyDb) {
  run_ok("R = gdbmopen(\"$HOME/vac.db\", \"C\")\nS = gdbmstore(\"k\", \"v1\")\nX = gdbmfetch(\"k\")\n"
         "Y = gdbmfetch(\"none\", \"\", \"dflt\")\nZ = gdbmclose()");
  EXPECT_EQ(var("R"), "0");
  EXPECT_EQ(var("X"), "v1");
  EXPECT_EQ(var("Y"), "dflt");
  run_ok("R = gdbmopen(\"$HOME/vac.db\")\nX = gdbmfetch(\"k\")");
  EXPECT_EQ(var("X"), "v1");
  run_ok("R = gdbmopen(\"$HOME/absent.db\")");
  EXPECT_EQ(var("R"), "-1");
}

TEST_F(InterpreterTest, DuplicateSuppressionByMessageId) {
  run_ok("A = isduplicate(7)\nB = isduplicate(7)");
  EXPECT_EQ(var("A"), "0");
  EXPECT_EQ(var("B"), "1");
}

TEST_F(InterpreterTest, RuntimeErrorsNameFileAndLine) {
  struct Case {
    const char* label;
    const char* text;
    int line;
    const char* part;
  } cases[] = {
      {"bad regex", "A=1\nB = /(unclosed/", 2, "bad pattern"},
      {"division by zero", "\n\nA = 1 / 0", 3, "division by zero"},
      {"unknown function", "A = nosuch(1)", 1, "unknown function nosuch()"},
      {"wrong arity", "A = length()", 1, "length() takes 1"},
      {"missing maildir", "to \"$HOME/nope/\"", 1, "create it: maildirmake"},
      {"gdbmfetch without open", "A = gdbmfetch(\"x\")", 1, "without gdbmopen"},
      {"missing include", "include \"/nonexistent/x\"", 0, "/nonexistent/x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = run(c.text);
    ASSERT_TRUE(std::holds_alternative<FilterFailure>(r));
    const auto& f = std::get<FilterFailure>(r);
    EXPECT_EQ(f.line, c.line) << f.describe();
    EXPECT_NE(f.describe().find(c.part), std::string::npos) << f.describe();
  }
}

TEST_F(InterpreterTest, TimeIsNow) {
  std::time_t before = std::time(nullptr);
  run_ok("T = time()");
  std::time_t t = std::strtoll(var("T").c_str(), nullptr, 10);
  EXPECT_GE(t, before);
  EXPECT_LE(t, std::time(nullptr));
}

TEST(FilterValues, Truthiness) {
  EXPECT_FALSE(truthy(""));
  EXPECT_FALSE(truthy("0"));
  EXPECT_FALSE(truthy("0.0"));
  EXPECT_TRUE(truthy("1"));
  EXPECT_TRUE(truthy("abc"));
  EXPECT_EQ(format_number(3), "3");
  EXPECT_EQ(format_number(0.25), "0.25");
  EXPECT_EQ(to_number("x"), 0);
}

}  // namespace
}  // namespace maildrop
