// tests/lib/io_test.cpp: lib/io.hpp over socketpairs and pipes - line endings (CRLF,
// LF, bare CR, bare LF, NUL), line limits at and over the edge, input split into
// 1-byte pieces, timeouts against a silent peer, EOF mid-line, literals, pipelining,
// buffered writes, send_file and dot-stuffing across chunk boundaries.
//
// SOCK_SEQPACKET socketpairs keep write boundaries: a read returns one write, so the
// reader really sees input split the way the test wrote it, and the writer's "one write
// per flush" can be checked.
#include "lib/io.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include "lib/unique_fd.hpp"
#include "tests/lib/test_util.hpp"

namespace {

using lib::UniqueFd;
using lib::io::LineEnding;
using lib::io::ReaderOptions;
using lib::io::ReadStatus;
using lib::io::WriterOptions;

std::pair<UniqueFd, UniqueFd> socket_pair(int type = SOCK_STREAM) {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

std::pair<UniqueFd, UniqueFd> pipe_pair(int flags = 0) {
  int p[2];
  EXPECT_EQ(pipe2(p, O_CLOEXEC | flags), 0);
  return {UniqueFd(p[0]), UniqueFd(p[1])};
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Everything from fd until EOF.
std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 7 + i / 251) % 53);
  return s;
}

// ---- read_line: table over three transports ---------------------------------------

ReaderOptions strict(size_t max = 8192) {
  ReaderOptions o;
  o.max_line_bytes = max;
  o.line_ending = LineEnding::crlf_strict;
  return o;
}
ReaderOptions lenient(bool reject_cr, size_t max = 8192) {
  ReaderOptions o;
  o.max_line_bytes = max;
  o.line_ending = LineEnding::lf_lenient;
  o.reject_bare_cr = reject_cr;
  return o;
}
ReaderOptions allow_nul() {
  ReaderOptions o;
  o.reject_nul = false;
  return o;
}

using Expect = std::vector<std::pair<ReadStatus, std::string>>;

struct LineCase {
  const char* label;
  std::string input;
  ReaderOptions opts;
  Expect expected;  // then eof forever
};

enum class Transport { stream_whole, seqpacket_bytes, blocking_pipe, nonblocking_pipe };

const char* name_of(Transport t) {
  switch (t) {
    case Transport::stream_whole: return "stream socket, one write";
    case Transport::seqpacket_bytes: return "1-byte packets";
    case Transport::blocking_pipe: return "blocking pipe";
    case Transport::nonblocking_pipe: return "non-blocking pipe";
  }
  return "?";
}

void run_line_case(const LineCase& c, Transport t) {
  SCOPED_TRACE(std::string(c.label) + " over " + name_of(t));
  std::pair<UniqueFd, UniqueFd> ends;
  if (t == Transport::stream_whole) ends = socket_pair(SOCK_STREAM);
  if (t == Transport::seqpacket_bytes) ends = socket_pair(SOCK_SEQPACKET);
  if (t == Transport::blocking_pipe) ends = pipe_pair();
  if (t == Transport::nonblocking_pipe) {
    ends = pipe_pair();
    set_nonblocking(ends.first.get());
  }
  UniqueFd writer_end = std::move(ends.second);
  std::thread peer([&] {
    if (t == Transport::seqpacket_bytes) {
      for (char ch : c.input) ASSERT_EQ(write(writer_end.get(), &ch, 1), 1);
    } else {
      ASSERT_TRUE(write_all(writer_end.get(), c.input));
    }
    writer_end.reset();
  });
  ReaderOptions o = c.opts;
  o.read_timeout_ms = 20000;  // only a safety net against a hung test
  o.idle_timeout_ms = 20000;
  lib::io::Reader reader(ends.first.get(), o);
  std::string line;
  for (size_t i = 0; i < c.expected.size(); ++i) {
    ReadStatus s = reader.read_line(line);
    EXPECT_EQ(lib::io::describe(s), lib::io::describe(c.expected[i].first)) << "line " << i;
    EXPECT_EQ(line, c.expected[i].second) << "line " << i;
  }
  EXPECT_EQ(reader.read_line(line), ReadStatus::eof);
  EXPECT_EQ(line, "");
  EXPECT_EQ(reader.read_line(line), ReadStatus::eof);
  peer.join();
}

class ReadLine : public ::testing::TestWithParam<LineCase> {};

TEST_P(ReadLine, OverEveryTransport) {
  for (Transport t : {Transport::stream_whole, Transport::seqpacket_bytes,
                      Transport::blocking_pipe, Transport::nonblocking_pipe})
    run_line_case(GetParam(), t);
}

const std::string huge(40000, 'h');  // more than the reader's 32 KiB buffer

INSTANTIATE_TEST_SUITE_P(
    Cases, ReadLine,
    ::testing::Values(
        LineCase{"crlf lines", "a\r\nbb\r\n\r\nccc\r\n", strict(),
                 {{ReadStatus::ok, "a"}, {ReadStatus::ok, "bb"}, {ReadStatus::ok, ""},
                  {ReadStatus::ok, "ccc"}}},
        LineCase{"strict bare LF", "abc\ndef\r\n", strict(),
                 {{ReadStatus::bare_lf, "abc"}, {ReadStatus::ok, "def"}}},
        LineCase{"strict smuggling LF.LF", "DATA\r\nx\n.\nMAIL\r\n", strict(),
                 {{ReadStatus::ok, "DATA"}, {ReadStatus::bare_lf, "x"},
                  {ReadStatus::bare_lf, "."}, {ReadStatus::ok, "MAIL"}}},
        LineCase{"strict bare CR", "ab\rcd\r\nnext\r\n", strict(),
                 {{ReadStatus::bare_cr, "ab"}, {ReadStatus::ok, "next"}}},
        LineCase{"strict CR CR LF", "ab\r\r\nnext\r\n", strict(),
                 {{ReadStatus::bare_cr, "ab"}, {ReadStatus::ok, "next"}}},
        LineCase{"lenient LF and CRLF", "a\nb\r\n\nc\n", lenient(true),
                 {{ReadStatus::ok, "a"}, {ReadStatus::ok, "b"}, {ReadStatus::ok, ""},
                  {ReadStatus::ok, "c"}}},
        LineCase{"lenient bare CR kept", "a\rb\nc\r\r\n", lenient(false),
                 {{ReadStatus::ok, "a\rb"}, {ReadStatus::ok, "c\r"}}},
        LineCase{"lenient bare CR rejected", "a\rb\nc\n", lenient(true),
                 {{ReadStatus::bare_cr, "a"}, {ReadStatus::ok, "c"}}},
        LineCase{"NUL rejected", std::string("a\0b\r\nc\r\n", 8), strict(),
                 {{ReadStatus::nul_byte, "a"}, {ReadStatus::ok, "c"}}},
        LineCase{"NUL allowed", std::string("a\0b\r\n", 5), allow_nul(),
                 {{ReadStatus::ok, std::string("a\0b", 3)}}},
        LineCase{"exactly at the limit", "12345678\r\n1234567\r\n", strict(8),
                 {{ReadStatus::ok, "12345678"}, {ReadStatus::ok, "1234567"}}},
        LineCase{"one over the limit", "123456789\r\nnext\r\n", strict(8),
                 {{ReadStatus::too_long, "12345678"}, {ReadStatus::ok, "next"}}},
        LineCase{"lenient at and over the limit", "12345678\n123456789\nok\n", lenient(true, 8),
                 {{ReadStatus::ok, "12345678"}, {ReadStatus::too_long, "12345678"},
                  {ReadStatus::ok, "ok"}}},
        LineCase{"kept bare CR counts toward the limit", "1234567\r8\nok\n", lenient(false, 8),
                 {{ReadStatus::too_long, "1234567\r"}, {ReadStatus::ok, "ok"}}},
        LineCase{"huge line is discarded", huge + "\r\nafter\r\n", strict(100),
                 {{ReadStatus::too_long, huge.substr(0, 100)}, {ReadStatus::ok, "after"}}},
        LineCase{"huge line at a big limit", huge + "\r\n", strict(40000),
                 {{ReadStatus::ok, huge}}},
        LineCase{"huge line one over a big limit", huge + "\r\nz\r\n", strict(39999),
                 {{ReadStatus::too_long, huge.substr(0, 39999)}, {ReadStatus::ok, "z"}}},
        LineCase{"EOF mid-line", "ok\r\npartial", strict(),
                 {{ReadStatus::ok, "ok"}, {ReadStatus::eof, "partial"}}},
        LineCase{"EOF after CR", "abc\r", strict(), {{ReadStatus::eof, "abc\r"}}},
        LineCase{"EOF while discarding", "123456789", strict(4),
                 {{ReadStatus::too_long, "1234"}, {ReadStatus::eof, ""}}},
        LineCase{"empty input", "", strict(), {}}),
    [](const auto& p) {
      std::string s = p.param.label;
      for (char& ch : s)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

// ---- timeouts -----------------------------------------------------------------------

TEST(ReaderTimeout, SilentPeerEveryTransport) {
  struct Case {
    const char* label;
    int read_ms, idle_ms;
    bool idle;
  } cases[] = {{"read deadline", 50, 0, false}, {"idle timeout", 0, 50, true},
               {"both", 50, 50, false}};
  for (const auto& c : cases) {
    for (int kind = 0; kind < 3; ++kind) {
      SCOPED_TRACE(std::string(c.label) + " kind " + std::to_string(kind));
      auto ends = kind == 0 ? socket_pair() : pipe_pair();
      if (kind == 2) set_nonblocking(ends.first.get());
      ReaderOptions o;
      o.read_timeout_ms = c.read_ms;
      o.idle_timeout_ms = c.idle_ms;
      lib::io::Reader reader(ends.first.get(), o);
      std::string line;
      EXPECT_EQ(reader.read_line(line), ReadStatus::timeout);
      if (c.read_ms == 0) {
        EXPECT_TRUE(reader.last_timeout_was_idle());
      }
      std::string data;
      EXPECT_EQ(reader.read_exact(10, data), ReadStatus::timeout);
    }
  }
}

TEST(ReaderTimeout, PartialLineSurvivesATimeout) {
  auto [r, w] = socket_pair();
  ReaderOptions o;
  o.read_timeout_ms = 50;
  lib::io::Reader reader(r.get(), o);
  ASSERT_TRUE(write_all(w.get(), "abc"));
  std::string line;
  EXPECT_EQ(reader.read_line(line), ReadStatus::timeout);
  EXPECT_EQ(reader.buffered(), 3u);
  ASSERT_TRUE(write_all(w.get(), "def\r\n"));
  EXPECT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "abcdef");
}

TEST(ReaderTimeout, TricklingPeerHitsTheCallDeadline) {
  // One byte at a time, never a line end: the idle timeout never fires, the per-call
  // deadline must.
  auto [r, w] = socket_pair();
  std::atomic<bool> stop{false};
  std::thread peer([&, fd = w.get()] {
    while (!stop) {
      if (write(fd, "x", 1) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  ReaderOptions o;
  o.read_timeout_ms = 100;
  o.idle_timeout_ms = 60000;
  o.max_line_bytes = 1 << 20;
  lib::io::Reader reader(r.get(), o);
  std::string line;
  EXPECT_EQ(reader.read_line(line), ReadStatus::timeout);
  EXPECT_FALSE(reader.last_timeout_was_idle());
  stop = true;
  peer.join();
}

// ---- errors, pipelining, literals -------------------------------------------------------

TEST(Reader, ErrorStatusAndErrno) {
  auto [r, w] = socket_pair();
  lib::io::Reader reader(r.get());
  r.reset();  // the descriptor is gone: EBADF
  std::string line;
  EXPECT_EQ(reader.read_line(line), ReadStatus::error);
  EXPECT_EQ(reader.last_errno(), EBADF);
}

TEST(Reader, BufferedShowsPipeliningAndDiscardDropsIt) {
  auto [r, w] = socket_pair();
  ASSERT_TRUE(write_all(w.get(), "STARTTLS\r\nMAIL FROM:<evil>\r\n"));
  lib::io::Reader reader(r.get());
  std::string line;
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "STARTTLS");
  EXPECT_EQ(reader.buffered(), 18u);
  EXPECT_EQ(reader.discard_buffered(), 18u);
  EXPECT_EQ(reader.buffered(), 0u);
  ASSERT_TRUE(write_all(w.get(), "EHLO x\r\n"));
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "EHLO x");
}

TEST(Reader, PushFrontIsReadBeforeBufferedAndNewBytes) {
  auto [r, w] = socket_pair();
  lib::io::ReaderOptions o;
  o.max_line_bytes = 16;  // the smallest buffer: pushed bytes beyond it grow it
  lib::io::Reader reader(r.get(), o);
  ASSERT_TRUE(write_all(w.get(), "b2 NOOP\r\nc3 LOG"));
  std::string line;
  reader.push_front("");
  reader.push_front("a1 SELECT INBOX\r\na1b CHECK\r\n");
  std::string big(5000, 'x');
  reader.push_front("a0 " + big + "\r\n");
  ASSERT_EQ(reader.read_line(line), ReadStatus::too_long);  // the limit still holds for what was pushed
  reader.set_max_line_bytes(8192);
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "a1 SELECT INBOX");
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "a1b CHECK");
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "b2 NOOP");
  ASSERT_TRUE(write_all(w.get(), "OUT\r\n"));
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "c3 LOGOUT");
}

TEST(Reader, ImapLiteral) {
  auto [r, w] = socket_pair(SOCK_SEQPACKET);
  for (std::string_view piece : {"a1 LOGIN {5}\r", "\nhel", "lo", " {3}\r\n", "a b", "\r\nx\r\n"})
    ASSERT_TRUE(write_all(w.get(), piece));
  lib::io::Reader reader(r.get());
  std::string line, lit;
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "a1 LOGIN {5}");
  ASSERT_EQ(reader.read_exact(5, lit), ReadStatus::ok);
  EXPECT_EQ(lit, "hello");
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, " {3}");
  ASSERT_EQ(reader.read_exact(3, lit), ReadStatus::ok);
  EXPECT_EQ(lit, "a b");
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "");
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "x");
}

TEST(Reader, LiteralContentIsNotChecked) {
  auto [r, w] = socket_pair();
  const std::string binary("\r\0\n\r\r\n\xff", 7);
  ASSERT_TRUE(write_all(w.get(), binary + "end\r\n"));
  lib::io::Reader reader(r.get());
  std::string lit, line;
  ASSERT_EQ(reader.read_exact(binary.size(), lit), ReadStatus::ok);
  EXPECT_EQ(lit, binary);
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "end");
  EXPECT_EQ(reader.read_exact(0, lit), ReadStatus::ok);
  EXPECT_EQ(lit, "");
}

TEST(Reader, LiteralCutShortByEof) {
  auto [r, w] = socket_pair();
  ASSERT_TRUE(write_all(w.get(), "abc"));
  w.reset();
  lib::io::Reader reader(r.get());
  std::string lit;
  EXPECT_EQ(reader.read_exact(10, lit), ReadStatus::eof);
  EXPECT_EQ(lit, "abc");
}

TEST(Reader, StreamedLiteralIsNeverHeldWhole) {
  const std::string body = pattern(3 * 1024 * 1024 + 17);
  auto [r, w] = socket_pair();
  std::thread peer([&, fd = w.get()] {
    ASSERT_TRUE(write_all(fd, "APPEND\r\n" + body + "tail\r\n"));
  });
  lib::io::Reader reader(r.get());
  std::string line;
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  std::string got;
  size_t biggest = 0, chunks = 0;
  ASSERT_EQ(reader.read_exact_to(body.size(),
                                 [&](std::string_view c) {
                                   biggest = std::max(biggest, c.size());
                                   ++chunks;
                                   got.append(c);
                                   return true;
                                 }),
            ReadStatus::ok);
  EXPECT_TRUE(got == body);
  EXPECT_LE(biggest, 64u * 1024);
  EXPECT_GT(chunks, 40u);
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "tail");
  peer.join();
}

TEST(Reader, AbortAndSkip) {
  auto [r, w] = socket_pair();
  ASSERT_TRUE(write_all(w.get(), "0123456789next\r\n"));
  lib::io::Reader reader(r.get());
  int calls = 0;
  EXPECT_EQ(reader.read_exact_to(4, [&](std::string_view) { return ++calls > 5; }),
            ReadStatus::aborted);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(reader.skip_exact(6), ReadStatus::ok);
  std::string line;
  ASSERT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "next");
}

TEST(Reader, OptionChangesMidSession) {
  auto [r, w] = socket_pair();
  ASSERT_TRUE(write_all(w.get(), "short\nlonger line here\r\n"));
  lib::io::Reader reader(r.get(), strict(8));
  std::string line;
  EXPECT_EQ(reader.read_line(line), ReadStatus::bare_lf);
  reader.set_line_ending(LineEnding::lf_lenient, true);
  reader.set_max_line_bytes(100000);
  EXPECT_EQ(reader.read_line(line), ReadStatus::ok);
  EXPECT_EQ(line, "longer line here");
  reader.set_timeouts(50, 50);
  EXPECT_EQ(reader.read_line(line), ReadStatus::timeout);
}

// ---- Writer -----------------------------------------------------------------------------

// One recv from a SOCK_SEQPACKET socket is one write of the other side.
std::string one_packet(int fd) {
  std::string buf(1 << 20, '\0');
  ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

TEST(Writer, FlushIsOneWrite) {
  auto [a, b] = socket_pair(SOCK_SEQPACKET);
  lib::io::Writer writer(a.get(), WriterOptions{1024, 1000});
  writer.append("250-mail.example.com\r\n");
  writer.append("250-PIPELINING\r\n");
  writer.append("250 8BITMIME\r\n");
  EXPECT_EQ(writer.pending(), 52u);
  EXPECT_EQ(one_packet(b.get()), "");  // nothing sent before the flush
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(one_packet(b.get()), "250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  ASSERT_TRUE(writer.flush().ok());  // nothing to do
  EXPECT_EQ(one_packet(b.get()), "");
}

TEST(Writer, OverflowAndWriteNowUseOneWritev) {
  auto [a, b] = socket_pair(SOCK_SEQPACKET);
  lib::io::Writer writer(a.get(), WriterOptions{16, 1000});
  writer.append("* 1 FETCH ");
  writer.append(std::string(100, 'x'));  // does not fit: buffer and data go together
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(one_packet(b.get()), "* 1 FETCH " + std::string(100, 'x'));
  writer.append("a1 ");
  ASSERT_TRUE(writer.write_now("OK done\r\n").ok());
  EXPECT_EQ(one_packet(b.get()), "a1 OK done\r\n");
}

TEST(Writer, PeerGoneIsAnErrorNotASignal) {
  auto [a, b] = socket_pair();
  b.reset();
  lib::io::Writer writer(a.get());
  writer.append("+OK\r\n");
  auto r = writer.flush();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find("Broken pipe"), std::string::npos) << r.error().message;
  EXPECT_TRUE(writer.failed());
  EXPECT_EQ(writer.last_errno(), EPIPE);
  writer.append("more");
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_FALSE(writer.flush().ok());
  EXPECT_FALSE(writer.write_now("x").ok());
  EXPECT_FALSE(writer.send_file(0, 0, 1).ok());
}

TEST(Writer, StalledPeerTimesOut) {
  for (int kind = 0; kind < 4; ++kind) {
    SCOPED_TRACE("kind " + std::to_string(kind));
    auto ends = kind < 2 ? socket_pair() : pipe_pair();
    int fd = kind < 2 ? ends.first.get() : ends.second.get();
    if (kind == 1 || kind == 3) set_nonblocking(fd);
    lib::io::Writer writer(fd, WriterOptions{4096, 50});
    auto r = writer.write_now(std::string(8 * 1024 * 1024, 'z'));  // nobody reads
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("timed out after 50 ms"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(writer.last_errno(), ETIMEDOUT);
    // A blocking descriptor stays blocking.
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, (kind == 1 || kind == 3) ? O_NONBLOCK : 0);
  }
}

// FdKind::socket: the caller says what fd is and the constructors look at
// nothing (authdaemond, a Reader and a Writer per request). Blocking or not,
// the socket is still read and written within the deadlines, and a blocking
// one stays blocking.
TEST(FdKindSocket, DeadlinesHoldWithoutLooking) {
  for (bool nonblocking : {false, true}) {
    SCOPED_TRACE(nonblocking ? "non-blocking" : "blocking");
    auto [a, b] = socket_pair();
    if (nonblocking) set_nonblocking(a.get());
    ReaderOptions ro;
    ro.read_timeout_ms = 50;
    ro.idle_timeout_ms = 50;
    ro.line_ending = LineEnding::lf_lenient;
    ro.fd_kind = lib::io::FdKind::socket;
    lib::io::Reader reader(a.get(), ro);
    std::string line;
    ASSERT_TRUE(write_all(b.get(), "PRE . pop3 "));
    EXPECT_EQ(reader.read_line(line), ReadStatus::timeout);  // half a request: no hang
    ASSERT_TRUE(write_all(b.get(), "alice\n"));
    EXPECT_EQ(reader.read_line(line), ReadStatus::ok);
    EXPECT_EQ(line, "PRE . pop3 alice");

    WriterOptions wo;
    wo.write_timeout_ms = 50;
    wo.fd_kind = lib::io::FdKind::socket;
    lib::io::Writer writer(a.get(), wo);
    ASSERT_TRUE(writer.write_now("FAIL\n").ok());
    char got[16] = {};
    EXPECT_EQ(read(b.get(), got, sizeof got), 5);
    EXPECT_STREQ(got, "FAIL\n");
    auto r = writer.write_now(std::string(8 * 1024 * 1024, 'z'));  // nobody reads
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("timed out after 50 ms"), std::string::npos) << r.error().message;
    EXPECT_EQ(fcntl(a.get(), F_GETFL) & O_NONBLOCK, nonblocking ? O_NONBLOCK : 0);
  }
}

TEST(FdKindSocket, SendFileStillWorks) {
  testutil::TempDir dir;
  const std::string content = pattern(300000);
  testutil::write_file(dir / "msg", content);
  UniqueFd file(open((dir / "msg").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file);
  auto [a, b] = socket_pair();
  std::string got;
  std::thread reader([&, fd = b.get()] { got = read_all(fd); });
  {
    WriterOptions wo;
    wo.fd_kind = lib::io::FdKind::socket;
    lib::io::Writer writer(a.get(), wo);
    writer.append("+OK\r\n");
    ASSERT_TRUE(writer.send_file(file.get(), 0, content.size()).ok());
    EXPECT_EQ(fcntl(a.get(), F_GETFL) & O_NONBLOCK, 0);  // blocking again afterwards
  }
  a.reset();
  reader.join();
  EXPECT_EQ(got, "+OK\r\n" + content);
}

TEST(Writer, SendFileOverEveryDestination) {
  testutil::TempDir dir;
  const std::string content = pattern(300000);
  testutil::write_file(dir / "msg", content);
  UniqueFd file(open((dir / "msg").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file);
  const off_t offset = 1234;
  const size_t count = 250000;
  const std::string expected = "+OK 250000 octets\r\n" + content.substr(offset, count) + ".\r\n";
  for (int kind = 0; kind < 5; ++kind) {
    SCOPED_TRACE("kind " + std::to_string(kind));
    std::string got;
    if (kind == 4) {
      UniqueFd out(open((dir / "copy").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      lib::io::Writer writer(out.get());
      writer.append("+OK 250000 octets\r\n");
      ASSERT_TRUE(writer.send_file(file.get(), offset, count).ok());
      writer.append(".\r\n");
      ASSERT_TRUE(writer.flush().ok());
      got = testutil::read_file(dir / "copy");
    } else {
      auto ends = kind < 2 ? socket_pair() : pipe_pair();
      if (kind == 1 || kind == 3) set_nonblocking(ends.second.get());
      int rfd = ends.first.get();
      std::thread reader([&] { got = read_all(rfd); });
      {
        lib::io::Writer writer(ends.second.get(), WriterOptions{16384, 20000});
        writer.append("+OK 250000 octets\r\n");
        auto r = writer.send_file(file.get(), offset, count);
        EXPECT_TRUE(r.ok()) << r.error().message;
        writer.append(".\r\n");
        EXPECT_TRUE(writer.flush().ok());
        EXPECT_EQ(fcntl(ends.second.get(), F_GETFL) & O_NONBLOCK,
                  (kind == 1 || kind == 3) ? O_NONBLOCK : 0);
      }
      ends.second.reset();
      reader.join();
    }
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
    EXPECT_EQ(lseek(file.get(), 0, SEEK_CUR), 0);  // the file's own offset is untouched
  }
}

TEST(Writer, SendFileOfATruncatedFileFails) {
  testutil::TempDir dir;
  testutil::write_file(dir / "short", "only ten b");
  UniqueFd file(open((dir / "short").c_str(), O_RDONLY | O_CLOEXEC));
  for (int kind = 0; kind < 2; ++kind) {
    auto ends = kind == 0 ? socket_pair() : pipe_pair();  // sendfile, then the copy path
    std::thread reader([fd = ends.first.get()] { read_all(fd); });
    lib::io::Writer writer(ends.second.get());
    auto r = writer.send_file(file.get(), 2, 100);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("file ended after 8 of 100 bytes"), std::string::npos)
        << r.error().message;
    ends.second.reset();
    reader.join();
  }
}

// ---- dot-stuffing -----------------------------------------------------------------------

struct DotCase {
  const char* label;
  std::string message;
  std::string wire;
};

const DotCase dot_cases[] = {
    {"LF lines", "hello\nworld\n", "hello\r\nworld\r\n.\r\n"},
    {"CRLF lines", "hello\r\nworld\r\n", "hello\r\nworld\r\n.\r\n"},
    {"no final line end", "hello", "hello\r\n.\r\n"},
    {"empty message", "", ".\r\n"},
    {"only a line end", "\n", "\r\n.\r\n"},
    {"leading dots", ".\n..x\r\n.y", "..\r\n...x\r\n..y\r\n.\r\n"},
    {"dot line inside", "x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n"},
    {"bare LF dot bare LF", "x\n.\ny", "x\r\n..\r\ny\r\n.\r\n"},
    {"dots elsewhere", "a.b\n x.\n", "a.b\r\n x.\r\n.\r\n"},
    {"bare CR", "a\rb", "a\r\nb\r\n.\r\n"},
    {"trailing CR", "a\r", "a\r\n.\r\n"},
    {"CR CR LF", "\r\r\n.", "\r\n\r\n..\r\n.\r\n"},
    {"bare CR then dot", "a\r.b\n", "a\r\n..b\r\n.\r\n"},
};

std::string stuff(const std::vector<std::string_view>& chunks, const testutil::TempDir& dir) {
  const std::string path = dir / "wire";
  UniqueFd out(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  lib::io::Writer writer(out.get(), WriterOptions{7, 1000});  // tiny: forces many writes
  for (size_t i = 0; i < chunks.size(); ++i) writer.append_dot_stuffed(chunks[i], i + 1 == chunks.size());
  EXPECT_TRUE(writer.flush().ok());
  return testutil::read_file(path);
}

TEST(DotStuffing, WholeAndSplitAtEveryPoint) {
  testutil::TempDir dir;
  for (const auto& c : dot_cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(stuff({c.message}, dir), c.wire) << "whole";
    for (size_t cut = 0; cut <= c.message.size(); ++cut) {
      std::string_view m = c.message;
      EXPECT_EQ(stuff({m.substr(0, cut), m.substr(cut), ""}, dir), c.wire) << "cut at " << cut;
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < c.message.size(); ++i) bytes.push_back(std::string_view(c.message).substr(i, 1));
    bytes.push_back("");
    EXPECT_EQ(stuff(bytes, dir), c.wire) << "1-byte chunks";
  }
}

TEST(DotStuffing, StateResetsBetweenMessages) {
  testutil::TempDir dir;
  UniqueFd out(open((dir / "w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  lib::io::Writer writer(out.get());
  writer.append_dot_stuffed("first\nno end", true);
  writer.append("+OK\r\n");
  writer.append_dot_stuffed(".second\r", false);
  writer.reset_dot_stuffing();  // aborted: the CR is forgotten
  writer.append_dot_stuffed(".third", true);
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(testutil::read_file(dir / "w"),
            "first\r\nno end\r\n.\r\n+OK\r\n..second..third\r\n.\r\n");
}

}  // namespace
