// tests/tcpd/ident_test.cpp: RFC 1413 replies, and a lookup against a
// real ident server on loopback.
#include "tcpd/ident.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace tcpd {
namespace {

TEST(IdentTest, Query) { EXPECT_EQ(ident_query(6191, 23), "6191 , 23\r\n"); }

TEST(IdentTest, Replies) {
  struct Case {
    const char* label;
    std::string line;
    std::optional<std::string> user;
  } cases[] = {
      {"rfc example", "6193, 23 : USERID : UNIX : stjohns", "stjohns"},
      {"charset", "6193,23:USERID:UNIX,US-ASCII:  joe  ", "joe"},
      {"lowercase type", "6193 , 23 : userid : OTHER : 42", "42"},
      {"user id with colon", "6193, 23 : USERID : UNIX : a:b", "a:b"},
      {"crlf kept out", "6193, 23 : USERID : UNIX : joe\r", "joe"},
      {"error reply", "6195, 23 : ERROR : NO-USER", std::nullopt},
      {"wrong ports", "6194, 23 : USERID : UNIX : joe", std::nullopt},
      {"swapped ports", "23, 6193 : USERID : UNIX : joe", std::nullopt},
      {"empty user", "6193, 23 : USERID : UNIX :   ", std::nullopt},
      {"no user field", "6193, 23 : USERID : UNIX", std::nullopt},
      {"control char", "6193, 23 : USERID : UNIX : jo\x01" "e", std::nullopt},
      {"garbage", "hello world", std::nullopt},
      {"huge port", "99999999, 23 : USERID : UNIX : joe", std::nullopt},
      {"too long user", "6193, 23 : USERID : UNIX : " + std::string(600, 'u'), std::nullopt},
      {"empty", "", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_ident_reply(c.line, 6193, 23), c.user) << c.label;
}

// A one-shot ident server on 127.0.0.1: answers the query it reads with reply(query).
class FakeIdent {
 public:
  explicit FakeIdent(std::function<std::string(const std::string&)> reply) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    socklen_t len = sizeof sin;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    port_ = ntohs(sin.sin_port);
    ::listen(fd_, 1);
    thread_ = std::thread([this, reply] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string q;
      char ch;
      while (::read(c, &ch, 1) == 1 && ch != '\n') q += ch;
      query_ = q;
      std::string r = reply(q);
      (void)!::write(c, r.data(), r.size());
      ::close(c);
    });
  }
  ~FakeIdent() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string query_;

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::optional<std::optional<std::string>> run_lookup(uint16_t ident_port, std::chrono::milliseconds timeout) {
  lib::EventBase base(event_base_new());
  auto lo = *IpAddress::parse("127.0.0.1");
  std::optional<std::optional<std::string>> result;
  auto q = IdentLookup::start(base.get(), lo, 143, lo, 40000, ident_port, timeout,
                              [&](std::optional<std::string> user) { result = std::move(user); });
  if (!q) return std::optional<std::string>();  // could not even start: no user
  event_base_dispatch(base.get());
  return result;
}

TEST(IdentTest, LookupAgainstServer) {
  FakeIdent server([](const std::string&) { return "40000 , 143 : USERID : UNIX : alice\r\n"; });
  auto r = run_lookup(server.port(), std::chrono::seconds(10));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, std::optional<std::string>("alice"));
  EXPECT_EQ(server.query_, "40000 , 143\r");
}

TEST(IdentTest, ErrorReplyGivesNothing) {
  FakeIdent server([](const std::string&) { return "40000 , 143 : ERROR : HIDDEN-USER\r\n"; });
  auto r = run_lookup(server.port(), std::chrono::seconds(10));
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST(IdentTest, SilentServerTimesOut) {
  // Listens but never accepts: the lookup must end by its timeout.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  ::listen(fd, 1);
  auto r = run_lookup(ntohs(sin.sin_port), std::chrono::milliseconds(200));
  ::close(fd);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

}  // namespace
}  // namespace tcpd
