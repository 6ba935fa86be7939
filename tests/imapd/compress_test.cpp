// tests/imapd/compress_test.cpp: COMPRESS=DEFLATE (RFC 4978): the zlib
// stream wrapper (raw DEFLATE both ways, sync-flushed output decodable at
// once, corrupt input refused) and the relay process between a client
// socket and the session's descriptor.
#include "imapd/compress.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace imapd {
namespace {

std::string deflate_all(ZStream& z, std::string_view in) {
  std::string out;
  auto r = z.process(in, out);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return out;
}

TEST(ZStream, RoundTripInPieces) {
  auto d = ZStream::create(ZStream::Mode::deflate);
  auto i = ZStream::create(ZStream::Mode::inflate);
  ASSERT_TRUE(d && i);
  std::string big;
  for (int k = 0; k < 20000; ++k) big += "* " + std::to_string(k) + " FETCH (FLAGS (\\Seen))\r\n";
  for (std::string_view piece : {std::string_view("a OK done\r\n"), std::string_view(big), std::string_view("x")}) {
    std::string z = deflate_all(*d, piece);
    EXPECT_LT(z.size(), piece.size() + 16);
    // Sync-flushed: the piece decodes completely without what follows.
    std::string plain;
    ASSERT_TRUE(i->process(z, plain));
    EXPECT_EQ(plain, piece);
  }
  EXPECT_LT(deflate_all(*d, big).size(), big.size() / 5);
}

TEST(ZStream, CorruptInputRefused) {
  auto i = ZStream::create(ZStream::Mode::inflate);
  ASSERT_TRUE(i);
  std::string out;
  auto r = i->process(std::string("\xff\xff\xff\xff garbage", 12), out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("corrupt DEFLATE"), std::string::npos);
}

TEST(DeflateRelay, BothDirectionsThenEof) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const int client = sv[0], server = sv[1];
  ASSERT_TRUE(start_deflate_relay(server, server));  // `server` is now the plain side
  auto cd = ZStream::create(ZStream::Mode::deflate);
  auto ci = ZStream::create(ZStream::Mode::inflate);
  ASSERT_TRUE(cd && ci);
  std::string z = deflate_all(*cd, "b NOOP\r\n");
  ASSERT_EQ(::write(client, z.data(), z.size()), static_cast<ssize_t>(z.size()));
  char buf[4096];
  ssize_t n = ::read(server, buf, sizeof buf);
  ASSERT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "b NOOP\r\n");
  const std::string reply = "b OK NOOP completed.\r\n";
  ASSERT_EQ(::write(server, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
  std::string plain;
  while (plain.size() < reply.size()) {
    n = ::read(client, buf, sizeof buf);
    ASSERT_GT(n, 0);
    ASSERT_TRUE(ci->process(std::string_view(buf, static_cast<std::size_t>(n)), plain));
  }
  EXPECT_EQ(plain, reply);
  ::close(server);  // the session ends: the relay ends and closes the client side
  EXPECT_EQ(::read(client, buf, sizeof buf), 0);
  ::close(client);
  while (::waitpid(-1, nullptr, 0) > 0) {
  }
}

}  // namespace
}  // namespace imapd
