// tests/pop3d/session_test.cpp: pop3d's TRANSACTION and UPDATE states
// (pop3d/session.hpp), script in, transcript out, over a socket pair, on a
// real Maildir: every command, RETR byte-exact through dot-stuffing, DELE
// with RSET / QUIT / a dropped connection, messages vanishing under the
// session, pipelining, and hostile input.
#include "pop3d/session.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace pop3d {
namespace {

struct Transcript {
  std::string text;
  SessionEnd end = SessionEnd::disconnected;
  SessionStats stats;
};

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Runs a session on the maildir with `script` as the client's input; with
// close_input false the client keeps its side open (for the idle timeout).
Transcript converse(const std::string& maildir, const std::string& script, SessionOptions options = {},
                    bool close_input = true) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Transcript t;
  OpenReport report;
  auto box = Mailbox::open(maildir, report);
  EXPECT_TRUE(box.ok());
  std::thread server([&] {
    Session s(*box, std::move(options), sv[1], sv[1]);
    t.end = s.run();
    t.stats = s.stats();
    ::close(sv[1]);
  });
  write_all(sv[0], script);
  if (close_input) ::shutdown(sv[0], SHUT_WR);
  t.text = read_all(sv[0]);
  server.join();
  ::close(sv[0]);
  return t;
}

std::string crlf(const std::string& lines) {
  std::string out;
  for (char c : lines) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    md_ = dir_ / "Maildir";
    ASSERT_TRUE(lib::maildir::create_maildir(md_).ok());
  }
  void deliver(const std::string& text) { ASSERT_TRUE(lib::maildir::deliver(md_, text).ok()); }
  size_t files() {
    auto scan = lib::maildir::scan_messages(md_, false);
    return scan.ok() ? scan->size() : 999;
  }
  testutil::TempDir dir_;
  std::string md_;
};

TEST_F(SessionTest, StatListUidlNoop) {
  deliver("Subject: a\n\nhello\n");
  deliver("Subject: b\n\nworld!\n");
  auto t = converse(md_, crlf("STAT\nLIST\nLIST 2\nLIST 3\nUIDL\nUIDL 1\nNOOP\nQUIT\n"));
  // Sizes: "Subject: a\r\n\r\nhello\r\n" = 21, "...world!\r\n" = 22.
  EXPECT_EQ(t.text.rfind(crlf("+OK logged in.\n+OK 2 43\n+OK 2 messages (43 octets)\n1 21\n2 22\n.\n+OK 2 22\n"
                              "-ERR No such message.\n+OK\n1 UID1-"),
                         0),
            0u)
      << t.text;
  EXPECT_NE(t.text.find("\r\n2 UID2-"), std::string::npos);
  EXPECT_NE(t.text.find("\r\n.\r\n+OK 1 UID1-"), std::string::npos);
  EXPECT_NE(t.text.find("+OK Yup.\r\n+OK Bye-bye.\r\n"), std::string::npos);
  EXPECT_EQ(t.end, SessionEnd::quit);
  EXPECT_EQ(files(), 2u);
}

TEST_F(SessionTest, RetrIsByteExactThroughDotStuffing) {
  const std::string message =
      "From: a@example.test\nSubject: dots\n\n.\n..\n.leading dot\nbare lf line\r\nCRLF line\r\n"
      "8-bit: gr\xc3\xbc\xc3\x9f\n\xff\xfe binary\n.\nlast line without newline";
  deliver(message);
  auto t = converse(md_, crlf("RETR 1\nQUIT\n"));
  const std::string body =
      "From: a@example.test\r\nSubject: dots\r\n\r\n..\r\n...\r\n..leading dot\r\nbare lf line\r\nCRLF line\r\n"
      "8-bit: gr\xc3\xbc\xc3\x9f\r\n\xff\xfe binary\r\n..\r\nlast line without newline\r\n.\r\n";
  // The size counts CRLFs but not the stuffed dots (RFC 1939 section 11).
  const size_t size = body.size() - 3 - 4;
  EXPECT_EQ(t.text, "+OK logged in.\r\n+OK " + std::to_string(size) + " octets follow.\r\n" + body +
                        "+OK Bye-bye.\r\n");
  EXPECT_EQ(t.stats.retr, 1u);
  EXPECT_EQ(t.stats.retr_bytes, size);
}

TEST_F(SessionTest, RetrOfALargeMessage) {
  std::string big = "Subject: big\n\n";
  for (int i = 0; big.size() < 5 * 1024 * 1024; ++i) big += (i % 7 == 0 ? "." : "x") + std::to_string(i) + "\n";
  deliver(big);
  auto t = converse(md_, crlf("RETR 1\nQUIT\n"));
  std::string expected;
  for (size_t i = 0, start = 0; i < big.size(); ++i) {
    if (big[i] != '\n') continue;
    std::string line = big.substr(start, i - start);
    if (!line.empty() && line[0] == '.') expected += '.';
    expected += line + "\r\n";
    start = i + 1;
  }
  ASSERT_GT(t.text.size(), expected.size());
  EXPECT_NE(t.text.find(expected + ".\r\n+OK Bye-bye.\r\n"), std::string::npos);
}

TEST_F(SessionTest, RetrMarksSeenAndTopDoesNot) {
  deliver("Subject: a\n\n1\n2\n3\n");
  deliver("Subject: b\n\nx\n");
  auto t = converse(md_, crlf("TOP 1 1\nTOP 2 0\nRETR 2\nQUIT\n"));
  EXPECT_NE(t.text.find("+OK headers follow.\r\nSubject: a\r\n\r\n1\r\n.\r\n"), std::string::npos) << t.text;
  EXPECT_NE(t.text.find("+OK headers follow.\r\nSubject: b\r\n\r\n.\r\n"), std::string::npos);
  auto scan = lib::maildir::scan_messages(md_, false);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->size(), 2u);
  int seen = 0;
  for (const auto& m : *scan) seen += lib::maildir::has_flag(m.flags, 'S');
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(t.stats.top, 2u);
}

TEST_F(SessionTest, DeleThenRsetKeepsEverything) {
  deliver("a\n");
  deliver("b\n");
  auto t = converse(md_, crlf("DELE 1\nSTAT\nLIST 1\nRETR 1\nDELE 1\nRSET\nSTAT\nQUIT\n"));
  EXPECT_NE(t.text.find(crlf("+OK Deleted.\n+OK 1 3\n-ERR Message already deleted.\n-ERR Message already "
                             "deleted.\n-ERR Message already deleted.\n+OK Resurrected.\n+OK 2 6\n+OK Bye-bye.\n")),
            std::string::npos)
      << t.text;
  EXPECT_EQ(files(), 2u);
}

TEST_F(SessionTest, DeleThenQuitRemoves) {
  deliver("a\n");
  deliver("b\n");
  deliver("c\n");
  auto t = converse(md_, crlf("DELE 1\nDELE 3\nQUIT\n"));
  EXPECT_EQ(t.end, SessionEnd::quit);
  EXPECT_EQ(t.stats.dele, 2u);
  EXPECT_EQ(files(), 1u);
  // The survivor keeps its UIDL (2) in the next session; numbering restarts.
  auto next = converse(md_, crlf("UIDL\nQUIT\n"));
  EXPECT_NE(next.text.find("\r\n1 UID2-"), std::string::npos) << next.text;
}

TEST_F(SessionTest, DeleThenDroppedConnectionDeletesNothing) {
  deliver("a\n");
  auto t = converse(md_, crlf("DELE 1\n"));
  EXPECT_EQ(t.end, SessionEnd::disconnected);
  EXPECT_EQ(files(), 1u);
}

TEST_F(SessionTest, DeleThenIdleTimeoutDeletesNothing) {
  deliver("a\n");
  SessionOptions o;
  o.idle_timeout = std::chrono::seconds(1);
  auto t = converse(md_, crlf("DELE 1\n"), o, /*close_input=*/false);
  EXPECT_EQ(t.end, SessionEnd::timeout);
  EXPECT_NE(t.text.find("-ERR Timeout"), std::string::npos);
  EXPECT_EQ(files(), 1u);
}

TEST_F(SessionTest, MessageRemovedByAnotherSession) {
  deliver("a\n");
  deliver("b\n");
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  OpenReport report;
  auto box = Mailbox::open(md_, report);
  ASSERT_TRUE(box.ok());
  // An IMAP client expunges message 1 after our snapshot.
  ASSERT_EQ(::unlink((md_ + "/cur/" + box->message(0).file_name).c_str()), 0);
  std::thread server([&] {
    Session s(*box, {}, sv[1], sv[1]);
    (void)s.run();
    ::close(sv[1]);
  });
  write_all(sv[0], crlf("RETR 1\nTOP 1 0\nRETR 2\nDELE 1\nQUIT\n"));
  ::shutdown(sv[0], SHUT_WR);
  std::string text = read_all(sv[0]);
  server.join();
  ::close(sv[0]);
  EXPECT_NE(text.find(crlf("-ERR Message was removed by another session.\n-ERR Message was removed by another "
                           "session.\n+OK 3 octets follow.\nb\n.\n+OK Deleted.\n+OK Bye-bye.\n")),
            std::string::npos)
      << text;
  EXPECT_EQ(files(), 1u);
}

TEST_F(SessionTest, PipelinedInputFromLoginComesFirst) {
  deliver("a\n");
  SessionOptions o;
  o.pipelined_input = "STAT\r\nUIDL 1\r\nNO";  // a line cut in two
  auto t = converse(md_, crlf("OP\nQUIT\n"), o);
  EXPECT_NE(t.text.find(crlf("+OK logged in.\n+OK 1 3\n+OK 1 UID1-")), std::string::npos) << t.text;
  EXPECT_NE(t.text.find(crlf("+OK Yup.\n+OK Bye-bye.\n")), std::string::npos);
}

TEST_F(SessionTest, ManyPipelinedCommandsAreAllAnswered) {
  deliver("a\n");
  std::string script;
  for (int i = 0; i < 1000; ++i) script += (i % 2 ? "NOOP\r\n" : "STAT\r\n");
  script += "QUIT\r\n";
  auto t = converse(md_, script);
  size_t yups = 0, stats = 0;
  for (size_t p = 0; (p = t.text.find("+OK Yup.\r\n", p)) != std::string::npos; ++p) ++yups;
  for (size_t p = 0; (p = t.text.find("+OK 1 3\r\n", p)) != std::string::npos; ++p) ++stats;
  EXPECT_EQ(yups, 500u);
  EXPECT_EQ(stats, 500u);
  EXPECT_EQ(t.end, SessionEnd::quit);
}

TEST_F(SessionTest, HostileInputGetsErrorsAndTheSessionGoesOn) {
  deliver("a\n");
  std::string script = std::string(5000, 'A') + "\r\n" + std::string("ST\0AT\r\n", 7) + "\xff\xfe\r\n" +
                       "USER bob\r\nPASS x\r\nSTLS\r\nAUTH PLAIN\r\nRETR 99999999999\r\nbare\rcr\r\n" +
                       "CAPA\r\nNOOP\r\nQUIT\r\n";
  auto t = converse(md_, script);
  EXPECT_NE(t.text.find("-ERR Command line too long.\r\n-ERR Invalid characters in the command line.\r\n"
                        "-ERR Invalid command.\r\n-ERR Already logged in.\r\n-ERR Already logged in.\r\n"
                        "-ERR Already logged in.\r\n-ERR Already logged in.\r\n-ERR Invalid number.\r\n"
                        "-ERR Invalid characters in the command line.\r\n+OK Here's what I can do:\r\n"),
            std::string::npos)
      << t.text;
  // After login: no USER, SASL or STLS in CAPA.
  size_t capa = t.text.find("+OK Here's what I can do:");
  std::string capa_text = t.text.substr(capa, t.text.find("\r\n.\r\n", capa) - capa);
  EXPECT_EQ(capa_text.find("USER"), std::string::npos);
  EXPECT_EQ(capa_text.find("SASL"), std::string::npos);
  EXPECT_NE(capa_text.find("PIPELINING"), std::string::npos);
  EXPECT_NE(capa_text.find("UIDL"), std::string::npos);
  EXPECT_NE(t.text.find("+OK Yup.\r\n+OK Bye-bye.\r\n"), std::string::npos);
}

TEST_F(SessionTest, TooManyInvalidCommandsCloseWithoutUpdate) {
  deliver("a\n");
  std::string script = "DELE 1\r\n";
  for (int i = 0; i < 25; ++i) script += "BOGUS\r\n";
  script += "QUIT\r\n";
  auto t = converse(md_, script);
  EXPECT_EQ(t.end, SessionEnd::too_many_errors);
  EXPECT_NE(t.text.find("-ERR Too many invalid commands"), std::string::npos);
  EXPECT_EQ(t.text.find("Bye-bye"), std::string::npos);
  EXPECT_EQ(files(), 1u);
}

TEST_F(SessionTest, EmptyMailbox) {
  auto t = converse(md_, crlf("STAT\nLIST\nUIDL\nRETR 1\nQUIT\n"));
  EXPECT_EQ(t.text, crlf("+OK logged in.\n+OK 0 0\n+OK 0 messages (0 octets)\n.\n+OK\n.\n-ERR No such "
                         "message.\n+OK Bye-bye.\n"));
}

}  // namespace
}  // namespace pop3d
