// tests/pop3d/message_test.cpp: POP3 sizes and TOP (pop3d/message.hpp). The
// size must be exactly what RETR sends (lib::io::Writer::append_dot_stuffed)
// without the dot-stuffing, for every kind of line end, in any chunking.
#include "pop3d/message.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "lib/io.hpp"
#include "tests/lib/test_util.hpp"

namespace pop3d {
namespace {

// RFC 1939's view of a message: every line end CRLF, a last line ended.
std::string crlf_normalized(const std::string& m) {
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\r') {
      out += "\r\n";
      if (i + 1 < m.size() && m[i + 1] == '\n') ++i;
    } else if (m[i] == '\n') {
      out += "\r\n";
    } else {
      out += m[i];
    }
  }
  if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) out += "\r\n";
  return out;
}

std::string dot_stuffed(const std::string& normalized) {
  std::string out;
  bool line_start = true;
  for (char c : normalized) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  return out + ".\r\n";
}

// What the Writer really sends for a message.
std::string writer_output(const std::string& message, size_t chunk) {
  testutil::TempDir dir;
  std::string path = dir / "out";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  EXPECT_GE(fd, 0);
  {
    lib::io::Writer w(fd);
    for (size_t i = 0; i < message.size(); i += chunk)
      w.append_dot_stuffed(std::string_view(message).substr(i, chunk), false);
    w.append_dot_stuffed({}, true);
    EXPECT_TRUE(w.flush().ok());
  }
  ::close(fd);
  return testutil::read_file(path);
}

MessageMeasure measure(const std::string& message, size_t chunk) {
  SizeCounter c;
  for (size_t i = 0; i < message.size(); i += chunk) c.feed(std::string_view(message).substr(i, chunk));
  return c.finish();
}

struct SizeCase {
  const char* label;
  std::string message;
  bool utf8;
};

TEST(MessageSize, MatchesWhatRetrSends) {
  const SizeCase cases[] = {
      {"empty", "", false},
      {"lf lines", "Subject: x\n\nbody\n", false},
      {"crlf lines", "Subject: x\r\n\r\nbody\r\n", false},
      {"no final newline", "Subject: x\n\nbody", false},
      {"only a newline", "\n", false},
      {"bare cr", "a\rb\r", false},
      {"cr at the very end", "a\r", false},
      {"mixed", "a\r\nb\nc\rd", false},
      {"dots", ".\n..\n.x\nx.\n.", false},
      {"blank lines", "\n\n\n", false},
      {"8-bit header", "Subject: gr\xc3\xbc\xc3\x9f\n\nx\n", true},
      {"8-bit body only", "Subject: x\n\ngr\xc3\xbc\xc3\x9f\n", false},
      {"8-bit after crlf header end", "A: b\r\n\r\n\xff\n", false},
      {"no body separator 8-bit", "A: \xff", true},
      {"nul bytes", std::string("a\0b\n", 4), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::string normalized = crlf_normalized(c.message);
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{65536}}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk));
      auto m = measure(c.message, chunk);
      EXPECT_EQ(m.pop3_size, normalized.size());
      EXPECT_EQ(m.utf8_header, c.utf8);
      EXPECT_EQ(writer_output(c.message, chunk), dot_stuffed(normalized));
    }
  }
}

TEST(MessageSize, EqualsCourierForLfFiles) {
  // Courier's calcsize(): file size + one per LF (+2 without a final LF).
  std::string m = "From: a\nTo: b\n\n" + std::string(1000, 'x') + "\n.\nend";
  size_t lfs = 0;
  for (char c : m) lfs += c == '\n';
  EXPECT_EQ(measure(m, 100).pop3_size, m.size() + lfs + 2);
}

TEST(MessageSize, MeasuresFiles) {
  testutil::TempDir dir;
  std::string path = dir / "m";
  std::string m = "Subject: s\n\n" + std::string(200000, 'y') + "\n";
  testutil::write_file(path, m);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto r = measure_file(fd, path);
  ::close(fd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pop3_size, crlf_normalized(m).size());
  auto bad = measure_file(-1, "/nonexistent");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/nonexistent"), std::string::npos);
}

std::string top_of(const std::string& message, std::uint64_t lines, size_t chunk) {
  TopFilter f(lines);
  std::string out;
  for (size_t i = 0; i < message.size() && !f.done(); i += chunk) {
    std::string_view piece = std::string_view(message).substr(i, chunk);
    out += piece.substr(0, f.take(piece));
  }
  return out;
}

struct TopCase {
  const char* label;
  std::string message;
  std::uint64_t lines;
  std::string expected;
};

TEST(TopFilter, SendsHeaderAndLines) {
  const std::string lf = "A: 1\nB: 2\n\nl1\nl2\nl3\n";
  const std::string crlf = "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
  const TopCase cases[] = {
      {"header only", lf, 0, "A: 1\nB: 2\n\n"},
      {"two lines", lf, 2, "A: 1\nB: 2\n\nl1\nl2\n"},
      {"all lines", lf, 3, lf},
      {"more than there are", lf, 1000, lf},
      {"crlf header only", crlf, 0, "A: 1\r\nB: 2\r\n\r\n"},
      {"crlf one line", crlf, 1, "A: 1\r\nB: 2\r\n\r\nl1\r\n"},
      {"no body separator", "A: 1\nB: 2\n", 0, "A: 1\nB: 2\n"},
      {"empty message", "", 5, ""},
      {"body starts at once", "\nbody\nmore\n", 1, "\nbody\n"},
      {"last line unterminated", "A: 1\n\nx\ny", 2, "A: 1\n\nx\ny"},
      {"header line starting with cr", "A: 1\n\rX\n\nb\n", 0, "A: 1\n\rX\n\n"},
      {"dots kept for stuffing", "A: 1\n\n.\n..\nz\n", 2, "A: 1\n\n.\n..\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{5}, size_t{4096}}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk));
      EXPECT_EQ(top_of(c.message, c.lines, chunk), c.expected);
    }
  }
}

}  // namespace
}  // namespace pop3d
