// tests/lib/log_test.cpp: lib/log.hpp - line format, levels, sanitising of hostile
// text, truncation, masking of credentials, debug switches, and several processes
// sharing one log file. Output is captured by logging to a file in a temp dir.
#include "lib/log.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "tests/lib/test_util.hpp"

namespace {

namespace log = lib::log;

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(testutil::read_file(path));
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Splits "2026-11-22T09:00:00Z imapd[1234]: ERR: text" into pid and "ERR: text";
// false if the line does not have that shape.
bool parse_line(const std::string& line, std::string& pid, std::string& rest) {
  const std::string stamp_shape = "dddd-dd-ddTdd:dd:ddZ ";
  if (line.size() < stamp_shape.size()) return false;
  for (size_t i = 0; i < stamp_shape.size(); ++i) {
    char want = stamp_shape[i];
    if (want == 'd' ? !isdigit(static_cast<unsigned char>(line[i])) : line[i] != want) return false;
  }
  const std::string prog = "imapd[";
  size_t p = stamp_shape.size();
  if (line.compare(p, prog.size(), prog) != 0) return false;
  p += prog.size();
  size_t close = line.find("]: ", p);
  if (close == std::string::npos || close == p) return false;
  pid = line.substr(p, close - p);
  for (char c : pid)
    if (!isdigit(static_cast<unsigned char>(c))) return false;
  rest = line.substr(close + 3);
  return true;
}

// Logs to a fresh file for the duration of a test.
class LogToFile : public ::testing::Test {
 protected:
  void SetUp() override { open_with(log::Level::debug); }
  void TearDown() override { log::close(); }
  void open_with(log::Level min, size_t max_line_bytes = 4000) {
    log::Options o;
    o.target = log::Target::file;
    o.file_path = path_;
    o.min_level = min;
    o.max_line_bytes = max_line_bytes;
    auto r = log::try_open("imapd", o);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::vector<std::string> lines() const { return lines_of(path_); }
  // The message part: what follows "imapd[pid]: ".
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const auto& l : lines()) {
      size_t p = l.find("]: ");
      out.push_back(p == std::string::npos ? l : l.substr(p + 3));
    }
    return out;
  }

  testutil::TempDir dir_;
  std::string path_ = dir_ / "mail.log";
};

TEST_F(LogToFile, LineFormatPerLevel) {
  log::critical("c %d", 1);
  log::error("e %s", "two");
  log::warning("w");
  log::notice("n");
  log::info("i");
  log::debug("d");
  log::write(log::Level::error, "via write %u", 7u);
  auto ls = lines();
  ASSERT_EQ(ls.size(), 7u);
  const std::string pid = std::to_string(getpid());
  const char* expected[] = {"CRIT: c 1", "ERR: e two", "WARN: w", "NOTICE: n",
                            "INFO: i", "DEBUG: d", "ERR: via write 7"};
  for (size_t i = 0; i < ls.size(); ++i) {
    std::string got_pid, rest;
    ASSERT_TRUE(parse_line(ls[i], got_pid, rest)) << ls[i];
    EXPECT_EQ(got_pid, pid);
    EXPECT_EQ(rest, expected[i]);
  }
  std::string p, r;
  EXPECT_FALSE(parse_line("2026-11-22 09:00:00 imapd[1]: x", p, r));  // the checker can fail
  EXPECT_FALSE(parse_line("2026-11-22T09:00:00Z imapd[]: x", p, r));
}

TEST_F(LogToFile, MinLevelFilters) {
  open_with(log::Level::warning);
  EXPECT_FALSE(log::enabled(log::Level::notice));
  EXPECT_TRUE(log::enabled(log::Level::warning));
  log::debug("no");
  log::info("no");
  log::notice("no");
  log::warning("yes 1");
  log::error("yes 2");
  log::critical("yes 3");
  EXPECT_EQ(messages(), (std::vector<std::string>{"WARN: yes 1", "ERR: yes 2", "CRIT: yes 3"}));
  log::set_min_level(log::Level::debug);
  EXPECT_EQ(log::min_level(), log::Level::debug);
  log::debug("now yes");
  EXPECT_EQ(messages().back(), "DEBUG: now yes");
}

TEST_F(LogToFile, PeerCannotForgeLines) {
  // A client sends a user name with CRLF and a fake log line in it.
  log::info("LOGIN user=%s", "bob\r\n2026-01-01T00:00:00Z imapd[1]: INFO: LOGIN user=admin");
  log::info("tab\there, bell\a, esc\x1b[31m, del\x7f");
  auto ms = messages();
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0],
            "INFO: LOGIN user=bob\\r\\n2026-01-01T00:00:00Z imapd[1]: INFO: LOGIN user=admin");
  EXPECT_EQ(ms[1], "INFO: tab\\there, bell\\x07, esc\\x1b[31m, del\\x7f");
}

TEST_F(LogToFile, OverlongLinesAreTruncatedWithAMarker) {
  open_with(log::Level::debug, 100);
  log::error("%s", std::string(100000, 'x').c_str());
  log::error("%s", std::string(100, 'y').c_str());  // exactly at the limit: intact
  log::error("%s", std::string(51, '\n').c_str());  // escaping makes it too long
  auto ms = messages();
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0], "ERR: " + std::string(100 - 14, 'x') + "...[truncated]");
  EXPECT_EQ(ms[1], "ERR: " + std::string(100, 'y'));
  std::string cut;
  for (int i = 0; i < 43; ++i) cut += "\\n";
  EXPECT_EQ(ms[2], "ERR: " + cut + "...[truncated]");
}

TEST_F(LogToFile, PasswordsAreMaskedInProtocolDetail) {
  const std::string line = "a001 LOGIN alice s3cr3t-pass";
  log::debug_if("CFGIO_TEST_DEBUG_LOGIN", 0, "C: %s", log::mask_auth_line(line).c_str());
  const std::string text = testutil::read_file(path_);
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  EXPECT_NE(text.find("DEBUG: C: a001 LOGIN alice ***"), std::string::npos) << text;
}

TEST_F(LogToFile, DebugSwitches) {
  unsetenv("CFGIO_DBG");
  EXPECT_EQ(log::debug_switch("CFGIO_DBG"), 0);
  struct Case {
    const char* env;
    int expected;
  } cases[] = {{"0", 0}, {"1", 1}, {"2", 2}, {"9", 2}, {"-1", 0}, {"yes", 0}, {"1x", 0}, {"", 0}};
  for (const auto& c : cases) {
    setenv("CFGIO_DBG", c.env, 1);
    EXPECT_EQ(log::debug_switch("CFGIO_DBG"), c.expected) << "env '" << c.env << "'";
  }
  // A value from a config file overrides the environment.
  setenv("CFGIO_DBG2", "0", 1);
  log::set_debug_switch("CFGIO_DBG2", 2);
  EXPECT_EQ(log::debug_switch("CFGIO_DBG2"), 2);
  log::set_debug_switch("CFGIO_DBG2", 7);
  EXPECT_EQ(log::debug_switch("CFGIO_DBG2"), 2);

  // debug_if writes at DEBUG even when DEBUG lines are otherwise filtered out.
  open_with(log::Level::info);
  log::set_debug_switch("CFGIO_DBG3", 1);
  log::debug_if("CFGIO_DBG3", 1, "step %d", 1);
  log::debug_if("CFGIO_DBG3", 2, "detail hidden");
  log::debug("plain debug hidden");
  EXPECT_EQ(messages(), (std::vector<std::string>{"DEBUG: step 1"}));
}

TEST_F(LogToFile, ReopenAfterRotation) {
  log::info("before");
  ASSERT_EQ(rename(path_.c_str(), (dir_ / "mail.log.1").c_str()), 0);
  log::info("still old");
  ASSERT_TRUE(log::reopen().ok());
  log::info("after");
  EXPECT_EQ(lines_of(dir_ / "mail.log.1").size(), 2u);
  EXPECT_EQ(messages(), (std::vector<std::string>{"INFO: after"}));
}

TEST_F(LogToFile, ProcessesSharingTheFileNeverInterleave) {
  constexpr int children = 4, per_child = 300;
  const std::string payload(300, 'p');
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int i = 0; i < per_child; ++i) log::info("child=%d n=%d %s", c, i, payload.c_str());
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto ls = lines();
  ASSERT_EQ(ls.size(), static_cast<size_t>(children * per_child));
  std::vector<int> next(children, 0);
  for (const auto& l : ls) {
    std::string pid, rest;
    ASSERT_TRUE(parse_line(l, pid, rest)) << l;
    int c = -1, n = -1, used = 0;
    ASSERT_EQ(sscanf(rest.c_str(), "INFO: child=%d n=%d %n", &c, &n, &used), 2) << l;
    ASSERT_TRUE(c >= 0 && c < children) << l;
    EXPECT_EQ(n, next[c]++) << "lines of one process stay in order";
    EXPECT_EQ(rest.substr(static_cast<size_t>(used)), payload) << l;
  }
}

TEST(LogOpen, FailureIsReportedAndFallsBackToStderr) {
  testutil::TempDir dir;
  log::Options o;
  o.target = log::Target::file;
  o.file_path = dir / "no-such-dir/mail.log";
  auto r = log::try_open("pop3d", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(o.file_path), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos);
  o.file_path.clear();
  EXPECT_FALSE(log::try_open("pop3d", o).ok());
  log::close();
}

TEST(LogOpen, SyslogTargetOpensAndCloses) {
  log::Options o;
  o.target = log::Target::syslog;
  ASSERT_TRUE(log::try_open("cfgio-test", o).ok());
  log::debug("not sent: below min_level");
  log::close();
}

TEST(LogOpen, ServiceOptionsAndTheSyslogFallback) {
  auto f = log::service_options("/var/log/imapd.log", true);
  EXPECT_EQ(f.target, log::Target::file);
  EXPECT_EQ(f.file_path, "/var/log/imapd.log");
  EXPECT_EQ(log::service_options("", true).target, log::Target::stderr);
  auto s = log::service_options("", false);
  EXPECT_EQ(s.target, log::Target::syslog);
  ASSERT_TRUE(log::try_open("fallback-test", s).ok());
  // Without /dev/log (containers, minimal hosts) the lines go to stderr.
  EXPECT_EQ(log::current_target(),
            log::syslog_socket_present() ? log::Target::syslog : log::Target::stderr);
  log::close();
}

TEST(LogLevels, ParseAndPrefix) {
  EXPECT_EQ(log::parse_level("WARN"), log::Level::warning);
  EXPECT_EQ(log::parse_level("crit"), log::Level::critical);
  EXPECT_EQ(log::parse_level("Debug"), log::Level::debug);
  EXPECT_EQ(log::parse_level("loud"), std::nullopt);
  EXPECT_STREQ(log::level_prefix(log::Level::error), "ERR:");
  EXPECT_STREQ(log::level_prefix(log::Level::notice), "NOTICE:");
}

TEST(Sanitize, Table) {
  struct Case {
    const char* label;
    std::string in;
    size_t max;
    std::string out;
  } cases[] = {
      {"plain", "hello", 100, "hello"},
      {"CR LF TAB", "a\r\nb\tc", 100, "a\\r\\nb\\tc"},
      {"NUL", std::string("a\0b", 3), 100, "a\\x00b"},
      {"valid UTF-8 kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", 100,
       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7"},
      {"invalid byte", "a\xff" "b", 100, "a\\xffb"},
      {"overlong slash", "\xc0\xaf", 100, "\\xc0\\xaf"},
      {"surrogate", "\xed\xa0\x80", 100, "\\xed\\xa0\\x80"},
      {"truncated sequence", "a\xe2\x82", 100, "a\\xe2\\x82"},
      {"C1 control NEL", "a\xc2\x85" "b", 100, "a\\xc2\\x85b"},
      {"line separator", "a\xe2\x80\xa8" "b", 100, "a\\xe2\\x80\\xa8b"},
      {"bidi override", "\xe2\x80\xae" "txt", 100, "\\xe2\\x80\\xaetxt"},
      {"exactly at limit", std::string(20, 'a'), 20, std::string(20, 'a')},
      {"one over", std::string(21, 'a'), 20, "aaaaaa...[truncated]"},
      {"escapes count", "abcd" + std::string(10, '\n'), 20, "abcd\\n...[truncated]"},
      {"never splits an escape", "abcde" + std::string(10, '\n'), 20, "abcde...[truncated]"},
      {"never splits a character", "abcde" + [] {
         std::string s;
         for (int i = 0; i < 10; ++i) s += "\xc3\xa9";
         return s;
       }(), 20, "abcde...[truncated]"},
  };
  for (const auto& c : cases) {
    std::string got = log::sanitize(c.in, c.max);
    EXPECT_EQ(got, c.out) << c.label;
    EXPECT_LE(got.size(), c.max) << c.label;
  }
}

TEST(MaskAuthLine, Table) {
  struct Case {
    const char* label;
    std::string in;
    bool continuation;
    std::string out;
  } cases[] = {
      {"IMAP LOGIN", "a1 LOGIN alice secret", false, "a1 LOGIN alice ***"},
      {"IMAP login lower case", "a1 login alice secret", false, "a1 login alice ***"},
      {"IMAP LOGIN quoted", "a1 LOGIN \"al ice\" \"sec ret\"", false, "a1 LOGIN \"al ice\" ***"},
      {"IMAP LOGIN quoted escape", "a1 LOGIN \"a\\\"b\" pw", false, "a1 LOGIN \"a\\\"b\" ***"},
      {"IMAP LOGIN unbalanced quote", "a1 LOGIN \"alice secret", false, "a1 LOGIN ***"},
      {"IMAP LOGIN literal user", "a1 LOGIN {5}", false, "a1 LOGIN ***"},
      {"IMAP LOGIN password literal", "a1 LOGIN alice {6+}", false, "a1 LOGIN alice ***"},
      {"IMAP LOGIN no password", "a1 LOGIN alice", false, "a1 LOGIN alice"},
      {"IMAP LOGIN CRLF kept", "a1 LOGIN alice secret\r\n", false, "a1 LOGIN alice ***\r\n"},
      {"IMAP AUTHENTICATE SASL-IR", "a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", false,
       "a2 AUTHENTICATE PLAIN ***"},
      {"IMAP AUTHENTICATE no IR", "a2 AUTHENTICATE PLAIN", false, "a2 AUTHENTICATE PLAIN"},
      {"IMAP other command", "a3 SELECT INBOX", false, "a3 SELECT INBOX"},
      {"POP3 PASS", "PASS secret with spaces", false, "PASS ***"},
      {"POP3 pass lower", "pass secret", false, "pass ***"},
      {"POP3 USER kept", "USER alice", false, "USER alice"},
      {"POP3 APOP", "APOP alice c4c9334bac560ecc979e58001b3e22fb", false, "APOP alice ***"},
      {"SMTP AUTH PLAIN", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", false, "AUTH PLAIN ***"},
      {"SMTP AUTH LOGIN", "AUTH LOGIN YWxpY2U=", false, "AUTH LOGIN ***"},
      {"SMTP AUTH no IR", "AUTH LOGIN", false, "AUTH LOGIN"},
      {"tabs", "AUTH\tPLAIN\tAGFs", false, "AUTH\tPLAIN ***"},
      {"SMTP MAIL kept", "MAIL FROM:<a@b>", false, "MAIL FROM:<a@b>"},
      {"continuation", "AGFsaWNlAHNlY3JldA==", true, "***"},
      {"continuation CRLF", "c2VjcmV0\r\n", true, "***\r\n"},
      {"continuation cancel", "*", true, "*"},
      {"continuation empty", "", true, ""},
      {"empty", "", false, ""},
  };
  for (const auto& c : cases) EXPECT_EQ(log::mask_auth_line(c.in, c.continuation), c.out) << c.label;
}

}  // namespace
