// tests/lib/config_test.cpp: lib/config.hpp - shell-style and spaced config files,
// typed accessors, unknown-setting warnings and list sources, with good, malformed,
// truncated, oversized and hostile input.
#include "lib/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include "tests/lib/test_util.hpp"

namespace {

using lib::Config;
using Settings = std::vector<std::pair<std::string, std::string>>;

Settings all_of(const Config& c) {
  Settings out;
  for (const auto& n : c.names()) out.emplace_back(n, *c.get(n));
  return out;
}

bool any_warning_contains(const Config& c, const std::string& text) {
  for (const auto& w : c.warnings())
    if (w.find(text) != std::string::npos) return true;
  return false;
}

// ---- shell-style: good input ------------------------------------------------------

struct GoodCase {
  const char* label;
  std::string text;
  Settings expected;
};

class ShellGood : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ShellGood, Parses) {
  const GoodCase& c = GetParam();
  setenv("CFGIO_TEST_ENV", "from-env", 1);
  auto r = Config::parse(c.text, "imapd");
  ASSERT_TRUE(r.ok()) << c.label << ": " << r.error().message;
  EXPECT_EQ(all_of(r.value()), c.expected) << c.label;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ShellGood,
    ::testing::Values(
        GoodCase{"simple", "A=1\n", {{"A", "1"}}},
        GoodCase{"no final newline", "A=1", {{"A", "1"}}},
        GoodCase{"empty value", "A=\n", {{"A", ""}}},
        GoodCase{"comments and blank lines",
                 "# comment\n\n   \n##NAME: A:0\nA=1 # trailing comment\n\t# indented\nB=2\n",
                 {{"A", "1"}, {"B", "2"}}},
        GoodCase{"hash inside a word is literal", "A=a#b\n", {{"A", "a#b"}}},
        GoodCase{"single quotes are literal", "A='$B \\x \"q\"'\n", {{"A", "$B \\x \"q\""}}},
        GoodCase{"double quotes expand", "B=x\nA=\"$B-${B}-$B.y\"\n",
                 {{"B", "x"}, {"A", "x-x-x.y"}}},
        GoodCase{"double quote escapes", "A=\"a\\\"b\\\\c\\$d\\e\\`f\"\n",
                 {{"A", "a\"b\\c$d\\e`f"}}},
        GoodCase{"unquoted escapes", "A=a\\ b\\$c\\\\\n", {{"A", "a b$c\\"}}},
        GoodCase{"continuation unquoted", "A=abc\\\ndef\nB=2\n", {{"A", "abcdef"}, {"B", "2"}}},
        GoodCase{"continuation in double quotes", "A=\"abc\\\ndef\"\n", {{"A", "abcdef"}}},
        GoodCase{"single quotes span lines", "A='x\ny'\nB=1\n", {{"A", "x\ny"}, {"B", "1"}}},
        GoodCase{"double quotes span lines", "A=\"x\ny\"\n", {{"A", "x\ny"}}},
        GoodCase{"mixed quoting in one word", "B=b\nA=x'$B'\"$B\"$B\n",
                 {{"B", "b"}, {"A", "x$Bbb"}}},
        GoodCase{"export NAME=value", "export A=1\n", {{"A", "1"}}},
        GoodCase{"export NAME alone", "A=1\nexport A\nexport UNSET_NAME\n", {{"A", "1"}}},
        GoodCase{"export several", "export A=1 B C=3\n", {{"A", "1"}, {"C", "3"}}},
        GoodCase{"name starting with export", "exportdir=/x\n", {{"exportdir", "/x"}}},
        GoodCase{"two assignments on a line", "A=1 B=2\n", {{"A", "1"}, {"B", "2"}}},
        GoodCase{"semicolons", "A=1; B=2;\n", {{"A", "1"}, {"B", "2"}}},
        GoodCase{"later assignment wins, order kept", "A=1\nB=2\nA=3\n", {{"A", "3"}, {"B", "2"}}},
        GoodCase{"self reference", "A=x\nA=$A:y\n", {{"A", "x:y"}}},
        GoodCase{"environment", "A=$CFGIO_TEST_ENV\n", {{"A", "from-env"}}},
        GoodCase{"unset variable is empty", "A=[$CFGIO_SURELY_UNSET]\n", {{"A", "[]"}}},
        GoodCase{"lone dollar is literal", "A=$\nB=\"cost $ 5\"\n", {{"A", "$"}, {"B", "cost $ 5"}}},
        GoodCase{"default when unset", "A=${CFGIO_SURELY_UNSET:-def}\n", {{"A", "def"}}},
        GoodCase{"default when empty", "E=\nA=${E:-def}\nB=${E-def}\n",
                 {{"E", ""}, {"A", "def"}, {"B", ""}}},
        GoodCase{"alternative", "S=1\nE=\nA=${S:+alt}\nB=${E:+alt}\nC=${E+alt}\n",
                 {{"S", "1"}, {"E", ""}, {"A", "alt"}, {"B", ""}, {"C", "alt"}}},
        GoodCase{"nested default", "B=b\nA=${CFGIO_SURELY_UNSET:-${B}x}\n",
                 {{"B", "b"}, {"A", "bx"}}},
        GoodCase{"Courier esmtpd sample",
                 "##NAME: BOFHCHECKDNS:0\nBOFHCHECKDNS=1\n"
                 "TCPDOPTS=\"-stderrlogger=/usr/sbin/courierlogger -noidentlookup\"\n"
                 "ESMTPAUTH=\"\"\nDEFAULTDELIVERY='| /usr/bin/maildrop -A \"$DTLINE\"'\n",
                 {{"BOFHCHECKDNS", "1"},
                  {"TCPDOPTS", "-stderrlogger=/usr/sbin/courierlogger -noidentlookup"},
                  {"ESMTPAUTH", ""},
                  {"DEFAULTDELIVERY", "| /usr/bin/maildrop -A \"$DTLINE\""}}},
        GoodCase{"UTF-8 in a value", "A=\"caf\xc3\xa9\"\n", {{"A", "caf\xc3\xa9"}}}),
    [](const auto& p) {
      std::string s = p.param.label;
      for (char& ch : s)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

// ---- shell-style: malformed and hostile input --------------------------------------

struct BadCase {
  const char* label;
  std::string text;
  std::string expected;  // a substring of the error, including "imapd:LINE:"
};

class ShellBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ShellBad, Rejected) {
  const BadCase& c = GetParam();
  auto r = Config::parse(c.text, "imapd");
  ASSERT_FALSE(r.ok()) << c.label;
  EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
      << c.label << ": got " << r.error().message;
  EXPECT_FALSE(r.error().temporary()) << c.label;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ShellBad,
    ::testing::Values(
        BadCase{"name without value", "A=1\nIMAPDSTART yes\n", "imapd:2: 'IMAPDSTART' has no value"},
        BadCase{"bare word", "A=1\n\nIMAPDSTART\n", "imapd:3: 'IMAPDSTART' has no value"},
        BadCase{"spaces around equals", "A = 1\n", "imapd:1: spaces around '=' are not allowed"},
        BadCase{"name starts with digit", "1A=2\n", "imapd:1: illegal setting name '1A'"},
        BadCase{"dash in name", "A-B=1\n", "imapd:1: illegal setting name 'A-B'"},
        BadCase{"missing name", "=1\n", "imapd:1: missing setting name"},
        BadCase{"unbalanced single quote", "X=1\nA='abc\n\nB=2\n",
                "imapd:2: unbalanced single quote"},
        BadCase{"unbalanced double quote", "X=1\nY=2\nA=\"abc\n", "imapd:3: unbalanced double quote"},
        BadCase{"command substitution", "A=$(hostname)\n", "imapd:1: command substitution $(...)"},
        BadCase{"backticks", "A=`hostname`\n", "imapd:1: command substitution `...`"},
        BadCase{"backticks in double quotes", "A=\"`hostname`\"\n", "command substitution"},
        BadCase{"unquoted pipe", "A=| /usr/bin/maildrop\n", "imapd:1: unquoted '|' in the value of A"},
        BadCase{"unquoted redirect", "A=x>y\n", "unquoted '>'"},
        BadCase{"unquoted space in value", "A=hello world\n",
                "imapd:1: unexpected 'world' after the value of A"},
        BadCase{"shell command", "unset A\n", "imapd:1: 'unset' is a shell command"},
        BadCase{"leading semicolon", "A=1\n;B=2\n", "imapd:2: ';' without a setting"},
        BadCase{"double semicolon", "A=1;;\n", "imapd:1: ';' without a setting"},
        BadCase{"source without a slash", ". environment\n", "imapd:1: . environment: give the file's path with a /"},
        BadCase{"source without a file", "source\n", "imapd:1: source needs a file name"},
        BadCase{"source with arguments", ". /etc/environment x\n", "arguments to . are not supported"},
        BadCase{"positional parameter", "A=$1\n", "shell parameter $1"},
        BadCase{"pid parameter", "A=\"$$\"\n", "shell parameter $$"},
        BadCase{"unterminated brace", "A=${B\n", "unterminated ${"},
        BadCase{"unsupported expansion", "A=${B%x}\n", "unsupported expansion"},
        BadCase{"length expansion", "A=${#B}\n", "bad substitution"},
        BadCase{"quotes inside braces", "A=${B:-'x'}\n", "quotes inside ${...}"},
        BadCase{"NUL byte", std::string("A=1\nB=2\nC=x\0y\n", 14), "imapd:3: contains a NUL byte"},
        BadCase{"invalid UTF-8 name", "A=1\n\xff\xfe=1\n", "imapd:2: setting name '\\xff\\xfe' is not valid UTF-8"},
        BadCase{"non-ASCII name", "\xc3\x89T\xc3\x89=1\n", "imapd:1: illegal setting name"},
        BadCase{"invalid UTF-8 word", "\xff\xfe\n", "imapd:1: '\\xff\\xfe' is not valid UTF-8"},
        BadCase{"overlong line", "A=1\nB=" + std::string(70000, 'x') + "\n",
                "imapd:2: line is 70002 bytes long"},
        BadCase{"deep nesting", "A=" + [] {
                  std::string s;
                  for (int i = 0; i < 100; ++i) s += "${X:-";
                  return s + "x" + std::string(100, '}') + "\n";
                }(),
                "nested too deeply"},
        BadCase{"exponential growth",
                [] {
                  std::string s = "A=" + std::string(1000, 'x') + "\n";
                  for (int i = 0; i < 20; ++i) s += "A=$A$A\n";
                  return s;
                }(),
                "longer than 1048576 bytes"}),
    [](const auto& p) {
      std::string s = p.param.label;
      for (char& ch : s)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

TEST(ShellParse, TooLargeFile) {
  std::string text;
  while (text.size() <= lib::config_max_file_bytes) text += "A=" + std::string(1000, 'x') + "\n";
  auto r = Config::parse(text, "big");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("big is larger than the limit"), std::string::npos);
}

TEST(ShellParse, TooManySettings) {
  std::string text;
  for (size_t i = 0; i <= lib::config_max_settings; ++i) text += "A" + std::to_string(i) + "=1\n";
  auto r = Config::parse(text, "many");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 10000 settings"), std::string::npos);
}

TEST(ShellParse, OriginsAreFirstLineOfEachSetting) {
  auto r = Config::parse("# c\nA='x\ny'\nB=1\\\n2\nC=3\n", "/etc/courier/imapd");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->where("A"), "/etc/courier/imapd:2");
  EXPECT_EQ(r->where("B"), "/etc/courier/imapd:4");
  EXPECT_EQ(r->where("C"), "/etc/courier/imapd:6");
  EXPECT_EQ(r->origin("C")->line, 6);
  EXPECT_EQ(r->origin("C")->file, "/etc/courier/imapd");
  EXPECT_FALSE(r->origin("D").has_value());
  EXPECT_EQ(r->where("D"), "(not set)");
}

TEST(ShellParse, LookupOrderFileThenBaseThenEnvironment) {
  setenv("CFGIO_ORDER", "env", 1);
  Config base;
  base.set("CFGIO_ORDER", "base");
  base.set("ONLY_BASE", "b");
  auto r = Config::parse("A=$CFGIO_ORDER\nCFGIO_ORDER=file\nB=$CFGIO_ORDER\nC=$ONLY_BASE\n",
                         "imapd-ssl", &base);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->get_string("A", ""), "base");
  EXPECT_EQ(r->get_string("B", ""), "file");
  EXPECT_EQ(r->get_string("C", ""), "b");
  EXPECT_FALSE(r->has("ONLY_BASE"));  // the base is looked at, not copied
  auto no_base = Config::parse("A=$CFGIO_ORDER\n", "x");
  ASSERT_TRUE(no_base.ok());
  EXPECT_EQ(no_base->get_string("A", ""), "env");
}

TEST(ShellParse, UnsetVariableWarnsOnceWithLine) {
  auto r = Config::parse("A=1\nB=$CFGIO_NOT_THERE\nC=${CFGIO_NOT_THERE}\nD=${CFGIO_NOT_THERE2:-x}\n",
                         "esmtpd");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->warnings().size(), 1u);
  EXPECT_NE(r->warnings()[0].find("esmtpd:2: $CFGIO_NOT_THERE is not set"), std::string::npos);
}

TEST(ShellParse, CrlfIsReadAsLfWithAWarning) {
  auto r = Config::parse("A=1\r\nB=\"two\"\r\n", "pop3d");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->get_string("A", ""), "1");
  EXPECT_EQ(r->get_string("B", ""), "two");
  EXPECT_TRUE(any_warning_contains(*r, "pop3d: has DOS (CRLF) line endings"));
}

TEST(ShellParse, SourcedFiles) {
  testutil::TempDir dir;
  testutil::write_file(dir / "environment", "LANG=en_US.UTF-8\nPATH=\"/bin:$EXTRA\"\n");
  testutil::write_file(dir / "courierd",
                       "EXTRA=/opt/bin\n. " + dir / "environment" +
                           "\nsource '" + dir / "missing" + "'\nDEFAULTDELIVERY=./Maildir\n");
  auto r = Config::load_file(dir / "courierd");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(all_of(*r), (Settings{{"EXTRA", "/opt/bin"},
                                  {"LANG", "en_US.UTF-8"},
                                  {"PATH", "/bin:/opt/bin"},
                                  {"DEFAULTDELIVERY", "./Maildir"}}));
  EXPECT_EQ(r->where("LANG"), dir / "environment" + ":1");
  EXPECT_EQ(r->origin("LANG")->include_depth, 1);
  EXPECT_EQ(r->origin("EXTRA")->include_depth, 0);
  EXPECT_TRUE(any_warning_contains(*r, dir / "courierd" + ":3: source " + dir / "missing" +
                                           ": no such file; skipped"));
  // Settings from a sourced file are not the daemon's: no unknown-setting warnings.
  Config cfg = r.value();
  const std::string_view known[] = {"EXTRA", "DEFAULTDELIVERY"};
  size_t before = cfg.warnings().size();
  cfg.warn_unknown(known);
  EXPECT_EQ(cfg.warnings().size(), before);

  testutil::write_file(dir / "bad", "X=1\nY='\n");
  testutil::write_file(dir / "includes-bad", ". " + dir / "bad" + "\n");
  auto bad = Config::load_file(dir / "includes-bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(dir / "includes-bad:1: in . " + dir / "bad" + ": " +
                                     dir / "bad" + ":2: unbalanced single quote"),
            std::string::npos)
      << bad.error().message;

  testutil::write_file(dir / "loop", "A=1\n. " + dir / "loop" + "\n");
  auto loop = Config::load_file(dir / "loop");
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.error().message.find("sourced more than 8 deep"), std::string::npos)
      << loop.error().message;
}

// ---- files --------------------------------------------------------------------------

TEST(LoadFile, ReadsAFile) {
  testutil::TempDir dir;
  testutil::write_file(dir / "imapd", "IMAPDSTART=YES\nPORT=143\n");
  auto r = Config::load_file(dir / "imapd");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->get_int("PORT", 0), 143);
  EXPECT_EQ(r->where("PORT"), dir / "imapd" + ":2");
}

TEST(LoadFile, ErrorsNameThePathAndCause) {
  testutil::TempDir dir;
  auto missing = Config::load_file(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(dir / "nope"), std::string::npos);
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos);

  auto directory = Config::load_file(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);

  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto fifo = Config::load_file(dir / "fifo");  // must not hang
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos);

  testutil::write_file(dir / "bad", "A=1\nB='x\n");
  auto bad = Config::load_file(dir / "bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(dir / "bad" + ":2: unbalanced single quote"),
            std::string::npos);
}

// ---- spaced files ---------------------------------------------------------------------

TEST(Spaced, Parses) {
  auto r = Config::parse_spaced(
      "##NAME: MARKER:0\n"
      "# comment\n"
      "\n"
      "LDAP_URI\t\tldap://localhost/\n"
      "LDAP_BASEDN   o=example, c=com   \n"
      "PGSQL_SELECT_CLAUSE SELECT id FROM users \\\n"
      "  WHERE login = '$(local_part)@$(domain)'\n"
      "LDAP_BINDPW pass#word $x\n"
      "EMPTY\n"
      "  INDENTED value\r\n",
      "authldaprc");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(all_of(*r),
            (Settings{{"LDAP_URI", "ldap://localhost/"},
                      {"LDAP_BASEDN", "o=example, c=com"},
                      {"PGSQL_SELECT_CLAUSE",
                       "SELECT id FROM users   WHERE login = '$(local_part)@$(domain)'"},
                      {"LDAP_BINDPW", "pass#word $x"},
                      {"EMPTY", ""},
                      {"INDENTED", "value"}}));
  EXPECT_EQ(r->where("PGSQL_SELECT_CLAUSE"), "authldaprc:6");
  EXPECT_EQ(r->where("LDAP_BINDPW"), "authldaprc:8");
}

TEST(Spaced, Malformed) {
  struct Case {
    const char* label;
    std::string text;
    std::string expected;
  } cases[] = {
      {"shell syntax", "LDAP_URI=ldap://x\n",
       "authpgsqlrc:1: 'LDAP_URI=ldap://x': this file uses NAME<space>value"},
      {"illegal name", "A\nLDAP-URI x\n", "authpgsqlrc:2: illegal setting name 'LDAP-URI'"},
      {"invalid UTF-8", "\xff x\n", "authpgsqlrc:1: setting name '\\xff' is not valid UTF-8"},
      {"NUL", std::string("A x\nB \0\n", 8), "authpgsqlrc:2: contains a NUL byte"},
      {"overlong", "A " + std::string(70000, 'y') + "\n", "authpgsqlrc:1: line is"},
  };
  for (const auto& c : cases) {
    auto r = Config::parse_spaced(c.text, "authpgsqlrc");
    ASSERT_FALSE(r.ok()) << c.label;
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
        << c.label << ": " << r.error().message;
  }
}

TEST(Spaced, LoadFile) {
  testutil::TempDir dir;
  testutil::write_file(dir / "authldaprc", "LDAP_TIMEOUT 5\n");
  auto r = Config::load_spaced_file(dir / "authldaprc");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->get_int("LDAP_TIMEOUT", 0), 5);
  EXPECT_FALSE(Config::load_spaced_file(dir / "missing").ok());
}

// ---- typed accessors ------------------------------------------------------------------

Config from(const std::string& text) {
  auto r = Config::parse(text, "cfg");
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : Config();
}

TEST(Accessors, GetInt) {
  struct Case {
    const char* label;
    std::string value;
    long long expected;
    bool warns;
  } cases[] = {
      {"plain", "42", 42, false},
      {"plus sign", "+42", 42, false},
      {"negative", "-7", -7, false},
      {"blanks", "' 12 '", 12, false},
      {"empty is default", "", 99, false},
      {"letters", "abc", 99, true},
      {"trailing junk", "12abc", 99, true},
      {"double sign", "+-3", 99, true},
      {"sign only", "+", 99, true},
      {"overflow", "99999999999999999999999", 99, true},
      {"float", "1.5", 99, true},
  };
  for (const auto& c : cases) {
    Config cfg = from("\nN=" + c.value + "\n");
    EXPECT_EQ(cfg.get_int("N", 99), c.expected) << c.label;
    EXPECT_EQ(cfg.warnings().size(), c.warns ? 1u : 0u) << c.label;
    if (c.warns) {
      EXPECT_NE(cfg.warnings()[0].find("cfg:2: N="), std::string::npos) << cfg.warnings()[0];
      EXPECT_NE(cfg.warnings()[0].find("using the default 99"), std::string::npos);
    }
  }
  Config cfg = from("A=5\n");
  EXPECT_EQ(cfg.get_int("MISSING", -1), -1);
  EXPECT_EQ(cfg.get_int("A", 1, 1, 10), 5);
  EXPECT_EQ(cfg.get_int("A", 1, 6, 10), 1);
  EXPECT_TRUE(any_warning_contains(cfg, "cfg:1: A=\"5\" is outside the range 6 to 10"));
  EXPECT_EQ(cfg.get_int("MISSING", 100, 1, 10), 100);  // the default is the caller's business
  // Each warning once, however often the value is read.
  Config twice = from("N=x\n");
  twice.get_int("N", 1);
  twice.get_int("N", 1);
  EXPECT_EQ(twice.warnings().size(), 1u);
}

TEST(Accessors, GetBool) {
  struct Case {
    std::string value;
    bool def;
    bool expected;
    bool warns;
  } cases[] = {
      {"1", false, true, false},   {"0", true, false, false},    {"yes", false, true, false},
      {"YES", false, true, false}, {"No", true, false, false},   {"true", false, true, false},
      {"False", true, false, false}, {"on", false, true, false}, {"OFF", true, false, false},
      {"", true, true, false},     {"maybe", true, true, true},  {"2", false, false, true},
  };
  for (const auto& c : cases) {
    Config cfg = from("B=" + (c.value.empty() ? std::string() : c.value) + "\n");
    EXPECT_EQ(cfg.get_bool("B", c.def), c.expected) << c.value;
    EXPECT_EQ(cfg.warnings().size(), c.warns ? 1u : 0u) << c.value;
  }
  EXPECT_TRUE(from("").get_bool("B", true));
}

TEST(Accessors, GetDuration) {
  using std::chrono::seconds;
  struct Case {
    std::string value;
    long long expected;
    bool warns;
  } cases[] = {
      {"300", 300, false},
      {"10s", 10, false},
      {"5m", 300, false},
      {"2h", 7200, false},
      {"1d", 86400, false},
      {"1w2d", 9 * 86400, false},
      {"'1h 30m'", 5400, false},
      {"1W", 604800, false},
      {"1h30", 3630, false},
      {"0", 0, false},
      {"", 60, false},
      {"5x", 60, true},
      {"m5", 60, true},
      {"-5", 60, true},
      {"99999999999999999w", 60, true},
      {"1.5h", 60, true},
  };
  for (const auto& c : cases) {
    Config cfg = from("T=" + c.value + "\n");
    EXPECT_EQ(cfg.get_duration("T", seconds(60)).count(), c.expected) << c.value;
    EXPECT_EQ(cfg.warnings().size(), c.warns ? 1u : 0u) << c.value;
  }
}

TEST(Accessors, GetListStringHasSetNames) {
  Config cfg = from("L=\"authuserdb, authpam  authpwd,,\"\nE=\n");
  EXPECT_EQ(cfg.get_list("L"), (std::vector<std::string>{"authuserdb", "authpam", "authpwd"}));
  EXPECT_TRUE(cfg.get_list("E").empty());
  EXPECT_TRUE(cfg.get_list("MISSING").empty());
  EXPECT_EQ(cfg.get_string("MISSING", "def"), "def");
  EXPECT_EQ(cfg.get_string("E", "def"), "");  // set but empty is not missing
  EXPECT_FALSE(cfg.get("MISSING").has_value());
  EXPECT_TRUE(cfg.has("E"));
  cfg.set("NEW", "v");
  cfg.set("L", "x");
  EXPECT_EQ(cfg.names(), (std::vector<std::string>{"L", "E", "NEW"}));
  EXPECT_EQ(cfg.where("NEW"), "(set by program)");
  EXPECT_TRUE(cfg.erase("E"));
  EXPECT_FALSE(cfg.erase("E"));
  EXPECT_EQ(cfg.names(), (std::vector<std::string>{"L", "NEW"}));
  EXPECT_EQ(cfg.get_string("NEW", ""), "v");
}

TEST(Accessors, MergeOverlays) {
  Config base = from("PORT=143\nADDRESS=0\n");
  auto ssl = Config::parse("PORT=993\nTLS_CERTFILE=/x\n", "imapd-ssl");
  ASSERT_TRUE(ssl.ok());
  base.merge(*ssl);
  EXPECT_EQ(base.get_int("PORT", 0), 993);
  EXPECT_EQ(base.where("PORT"), "imapd-ssl:1");
  EXPECT_EQ(base.names(), (std::vector<std::string>{"PORT", "ADDRESS", "TLS_CERTFILE"}));
}

TEST(Accessors, WarnUnknown) {
  Config cfg = from(
      "IMAP_IDLE_TIMEOUT=60\nIMAP_IDEL_TIMEOUT=60\nAUTHSERVICE993=imaps\nFOO=1\n"
      "imapdstart=YES\nTLS_PROTOCOL=TLS1_2\n");
  const std::string_view known[] = {"IMAP_IDLE_TIMEOUT", "IMAPDSTART", "AUTHSERVICE*", "TLS_*"};
  cfg.warn_unknown(known);
  ASSERT_EQ(cfg.warnings().size(), 3u);
  EXPECT_EQ(cfg.warnings()[0],
            "cfg:2: unknown setting IMAP_IDEL_TIMEOUT (ignored); maybe a typo of "
            "IMAP_IDLE_TIMEOUT?");
  EXPECT_EQ(cfg.warnings()[1], "cfg:4: unknown setting FOO (ignored)");
  EXPECT_EQ(cfg.warnings()[2],
            "cfg:5: unknown setting imapdstart (ignored); maybe a typo of IMAPDSTART?");
}

TEST(Parsers, BoolAndDurationHelpers) {
  EXPECT_EQ(lib::parse_bool(" On "), true);
  EXPECT_EQ(lib::parse_bool("nope"), std::nullopt);
  EXPECT_EQ(lib::parse_duration("1w2d3h4m5s")->count(), 7 * 86400 + 2 * 86400 + 3 * 3600 + 245);
  EXPECT_EQ(lib::parse_duration(""), std::nullopt);
  EXPECT_TRUE(lib::valid_setting_name("_A1"));
  EXPECT_FALSE(lib::valid_setting_name("1A"));
  EXPECT_FALSE(lib::valid_setting_name(""));
}

// ---- list sources -------------------------------------------------------------------

std::vector<std::string> texts(const std::vector<lib::ListEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.text);
  return out;
}

void set_mtime(const std::string& path, time_t when) {
  struct timespec ts[2] = {{when, 0}, {when, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), ts, 0), 0);
}

TEST(ListSource, PlainFile) {
  testutil::TempDir dir;
  testutil::write_file(dir / "locals",
                       "# local domains\n\nexample.com\n  example.net  \r\n\t# indented comment\n"
                       "b\xc3\xbc" "cher.example\nlast-without-newline");
  auto r = lib::read_list_source(dir / "locals");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(texts(*r), (std::vector<std::string>{"example.com", "example.net",
                                                 "b\xc3\xbc" "cher.example",
                                                 "last-without-newline"}));
  EXPECT_EQ((*r)[1].line, 4);
  EXPECT_EQ((*r)[1].file, dir / "locals");
  EXPECT_EQ((*r)[3].line, 7);
}

TEST(ListSource, Continuation) {
  testutil::TempDir dir;
  testutil::write_file(dir / "aliases", "a: x,\\\n  y\nb: z\\\n");
  lib::ListOptions on;
  on.continuation = true;
  auto joined = lib::read_list_source(dir / "aliases", on);
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(texts(*joined), (std::vector<std::string>{"a: x,  y", "b: z"}));
  EXPECT_EQ((*joined)[1].line, 3);
  auto plain = lib::read_list_source(dir / "aliases");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(texts(*plain), (std::vector<std::string>{"a: x,\\", "y", "b: z\\"}));
}

TEST(ListSource, DirectoryInNameOrderWithCourierRules) {
  testutil::TempDir dir;
  const std::string d = dir / "smtpaccess";
  ASSERT_EQ(mkdir(d.c_str(), 0700), 0);
  testutil::write_file(d + "/20-b", "b1\nb2\n");
  testutil::write_file(d + "/10-a", "a1\n");
  testutil::write_file(d + "/10-a~", "backup, skipped\n");
  testutil::write_file(d + "/.hidden", "skipped\n");
  ASSERT_EQ(mkdir((d + "/CVS").c_str(), 0700), 0);
  testutil::write_file(d + "/default", "d1\n");
  testutil::write_file(d + "/default.dist", "old defaults\n");
  set_mtime(d + "/default.dist", 1000000);
  set_mtime(d + "/default", 2000000);
  auto r = lib::read_list_source(d);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(texts(*r), (std::vector<std::string>{"a1", "b1", "b2", "d1"}));
  EXPECT_EQ((*r)[2].file, d + "/20-b");
  EXPECT_EQ((*r)[2].line, 2);
}

TEST(ListSource, DirectoryErrors) {
  struct Case {
    const char* label;
    std::string file;
    std::string expected;
  } cases[] = {
      {"rpmsave", "x.rpmsave", "x.rpmsave was left by the package manager"},
      {"rpmnew", "x.rpmnew", "x.rpmnew was left by the package manager"},
      {"dpkg", "x.dpkg-old", "x.dpkg-old was left by the package manager"},
      {"dist without base", "lonely.dist", "lonely.dist is newer than"},
  };
  for (const auto& c : cases) {
    testutil::TempDir dir;
    testutil::write_file(dir / "ok", "entry\n");
    testutil::write_file(dir / c.file, "x\n");
    auto r = lib::read_list_source(dir.path());
    ASSERT_FALSE(r.ok()) << c.label;
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
        << c.label << ": " << r.error().message;
  }
  {
    testutil::TempDir dir;
    testutil::write_file(dir / "hosts", "new\n");
    testutil::write_file(dir / "hosts.dist", "newer\n");
    set_mtime(dir / "hosts", 1000000);
    set_mtime(dir / "hosts.dist", 2000000);
    auto r = lib::read_list_source(dir.path());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("hosts.dist is newer than " + dir / "hosts"),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("touch hosts"), std::string::npos);
  }
  {
    testutil::TempDir dir;
    ASSERT_EQ(mkdir((dir / "sub").c_str(), 0700), 0);
    auto r = lib::read_list_source(dir.path());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("sub is a directory"), std::string::npos);
  }
  {
    testutil::TempDir dir;
    ASSERT_EQ(mkfifo((dir / "pipe").c_str(), 0600), 0);
    auto r = lib::read_list_source(dir.path());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
  }
}

TEST(ListSource, BadContent) {
  lib::ListOptions small;
  small.max_line_bytes = 20;
  small.max_file_bytes = 100;
  struct Case {
    const char* label;
    std::string content;
    std::string expected;
  } cases[] = {
      {"invalid UTF-8", "ok\n# \xff fine\nbad\xff\n",
       "list:3: invalid UTF-8 (byte 0xff after 'bad')"},
      {"overlong UTF-8 form", "\xc0\xaf\n", "list:1: invalid UTF-8"},
      {"surrogate", "\xed\xa0\x80\n", "list:1: invalid UTF-8"},
      {"truncated UTF-8", "ab\xc3", "list:1: invalid UTF-8"},
      {"NUL", std::string("a\nb\0c\n", 6), "list:2: contains a NUL byte"},
      {"long line", "a\n" + std::string(21, 'x') + "\n", "list:2: line is 21 bytes long"},
      {"big file", std::string(101, '\n'), "is larger than the limit of 100 bytes"},
  };
  for (const auto& c : cases) {
    testutil::TempDir dir;
    testutil::write_file(dir / "list", c.content);
    auto r = lib::read_list_source(dir / "list", small);
    ASSERT_FALSE(r.ok()) << c.label;
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
        << c.label << ": " << r.error().message;
  }
  // Exactly at the limits is fine.
  testutil::TempDir dir;
  testutil::write_file(dir / "list", std::string(20, 'x') + "\n");
  EXPECT_TRUE(lib::read_list_source(dir / "list", small).ok());
}

TEST(ListSource, MissingPathNamesItAndErrno) {
  testutil::TempDir dir;
  auto r = lib::read_list_source(dir / "hosteddomains");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("cannot read " + dir / "hosteddomains" +
                                   ": No such file or directory"),
            0u)
      << r.error().message;
}

TEST(ListSource, TooManyFiles) {
  testutil::TempDir dir;
  for (int i = 0; i < 5; ++i) testutil::write_file(dir / std::to_string(i), "x\n");
  lib::ListOptions opts;
  opts.max_files = 4;
  auto r = lib::read_list_source(dir.path(), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 4 files"), std::string::npos);
  opts.max_files = 5;
  opts.max_total_bytes = 8;
  r = lib::read_list_source(dir.path(), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("holds more than 8 bytes"), std::string::npos);
}

}  // namespace
