// tests/imapd/body_stream_test.cpp: the chunked LF -> CRLF converter and the
// range streamer (imapd/body_stream.hpp) against whole-buffer to_crlf(), at
// every chunk split and range, for CRLF, LF and mixed files.
#include "imapd/body_stream.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "imapd/fetch.hpp"

namespace imapd {
namespace {

std::string chunked(std::string_view raw, std::size_t step) {
  CrlfConverter c;
  std::string out;
  for (std::size_t i = 0; i < raw.size(); i += step) c.convert(raw.substr(i, step), out);
  return out;
}

std::uint64_t measured(std::string_view raw, std::size_t step) {
  CrlfConverter c;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < raw.size(); i += step) n += c.measure(raw.substr(i, step));
  return n;
}

TEST(CrlfConverter, EveryChunkSizeMatchesWholeConversion) {
  for (std::string raw : {std::string("a\nb\r\nc\rd\n\n\r\r\n"), std::string("\n"), std::string("\r"),
                          std::string("\r\n\r\n"), std::string("x\r"), std::string("plain"),
                          std::string("\r\r\n\n\r")}) {
    for (std::size_t step = 1; step <= raw.size(); ++step) {
      EXPECT_EQ(chunked(raw, step), to_crlf(raw)) << step;
      EXPECT_EQ(measured(raw, step), crlf_size(raw)) << step;
    }
  }
}

TEST(CrlfConverter, RandomTextRandomSplits) {
  std::mt19937 rng(15);
  const char alphabet[] = {'a', '\n', '\r', 'b', '\0'};
  for (int round = 0; round < 300; ++round) {
    std::string raw(rng() % 200, 'a');
    for (char& ch : raw) ch = alphabet[rng() % sizeof alphabet];
    CrlfConverter c;
    std::string out;
    for (std::size_t i = 0; i < raw.size();) {
      std::size_t n = 1 + rng() % 17;
      c.convert(std::string_view(raw).substr(i, n), out);
      i += n;
    }
    EXPECT_EQ(out, to_crlf(raw));
  }
}

// Streams [origin, origin + count) of `raw` (written to a file) through a
// Writer into a socket pair and returns what arrived.
std::string stream(const std::string& raw, std::uint64_t origin, std::uint64_t count, bool use_measure) {
  char name[] = "/tmp/body_stream_testXXXXXX";
  int fd = ::mkstemp(name);
  EXPECT_GE(fd, 0);
  ::unlink(name);
  EXPECT_EQ(::write(fd, raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string got;
  std::thread reader([&] {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(sv[1], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  {
    lib::io::Writer w(sv[0]);
    BodyStreamBuffers bufs;
    bool whole = false;
    std::uint64_t crlf = crlf_size(raw);
    if (use_measure) {
      auto m = measure_crlf_size(fd, "test", raw.size(), bufs, whole);
      EXPECT_TRUE(m.ok());
      EXPECT_EQ(*m, crlf);
    }
    auto r = stream_crlf_range(fd, "test", raw.size(), crlf, origin, count, whole, bufs, w);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    EXPECT_TRUE(w.flush().ok());
    // Memory stays at one chunk whatever the message size.
    EXPECT_LE(bufs.read.capacity(), 2 * BodyStreamBuffers::chunk_bytes);
    EXPECT_LE(bufs.stage.capacity(), 4 * BodyStreamBuffers::chunk_bytes);
  }
  ::shutdown(sv[0], SHUT_WR);
  reader.join();
  ::close(sv[0]);
  ::close(sv[1]);
  ::close(fd);
  return got;
}

TEST(StreamCrlfRange, RangesAtChunkBoundaries) {
  const std::size_t chunk = BodyStreamBuffers::chunk_bytes;
  std::string lf, crlf_file, mixed;
  for (std::size_t i = 0; lf.size() < 3 * chunk; ++i) lf += "line " + std::to_string(i) + " of text\n";
  crlf_file = to_crlf(lf);
  for (std::size_t i = 0; mixed.size() < 3 * chunk; ++i) mixed += (i % 3 ? "mixed line\n" : "crlf line\r\n");
  mixed += "\r";  // a bare CR at the very end
  for (const std::string* raw : {&lf, &crlf_file, &mixed}) {
    const std::string want = to_crlf(*raw);
    for (std::uint64_t origin : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{chunk - 1}, std::uint64_t{chunk},
                                 std::uint64_t{chunk + 1}, std::uint64_t{2 * chunk + 7}, std::uint64_t{want.size() - 1}}) {
      for (std::uint64_t count : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{chunk}, std::uint64_t{chunk + 3},
                                  std::uint64_t{want.size()}}) {
        const std::uint64_t n = std::min<std::uint64_t>(count, want.size() - origin);
        ASSERT_EQ(stream(*raw, origin, n, true), want.substr(origin, n)) << origin << " " << count;
      }
    }
  }
}

TEST(StreamCrlfRange, SmallFilesFromTheMeasuringRead) {
  for (std::string raw : {std::string("Subject: x\n\nbody\n"), std::string("A: b\r\n\r\nc\r\n"), std::string("a\r\nb\nc")}) {
    const std::string want = to_crlf(raw);
    for (std::uint64_t o = 0; o < want.size(); ++o)
      for (std::uint64_t n = 1; o + n <= want.size(); ++n) ASSERT_EQ(stream(raw, o, n, true), want.substr(o, n));
    EXPECT_EQ(stream(raw, 0, want.size(), false), want);
  }
}

TEST(StreamCrlfRange, ShorterFileIsAnError) {
  char name[] = "/tmp/body_stream_testXXXXXX";
  int fd = ::mkstemp(name);
  ::unlink(name);
  ASSERT_EQ(::write(fd, "abc\n", 4), 4);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lib::io::Writer w(sv[0]);
  BodyStreamBuffers bufs;
  auto r = stream_crlf_range(fd, "/m/cur/x", 400000, 400100, 0, 400100, false, bufs, w);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/m/cur/x changed"), std::string::npos) << r.error().message;
  ::close(sv[0]);
  ::close(sv[1]);
  ::close(fd);
}

}  // namespace
}  // namespace imapd

namespace imapd {
namespace {

// lib::io::Writer::set_buffer_bytes, as the streamed FETCH uses it: larger
// writes while streaming, and shrinking back writes out what is held.
TEST(WriterBufferBytes, GrowCollectsShrinkWritesOut) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lib::io::Writer w(sv[0]);
  ASSERT_TRUE(w.set_buffer_bytes(100000).ok());
  const std::string piece(30000, 'x');
  w.append(piece);
  w.append(piece);
  w.append(piece);
  EXPECT_EQ(w.pending(), 90000u);  // held: under the new size
  ASSERT_TRUE(w.set_buffer_bytes(16384).ok());
  EXPECT_EQ(w.pending(), 0u);  // written out when shrinking
  std::string got;
  char buf[65536];
  while (got.size() < 90000) {
    ssize_t n = ::read(sv[1], buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, piece + piece + piece);
  w.append("abc");
  EXPECT_EQ(w.pending(), 3u);
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace
}  // namespace imapd
