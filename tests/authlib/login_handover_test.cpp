// tests/authlib/login_handover_test.cpp: the login child's hand-over to its
// root parent (authlib/login_handover.hpp): the codec, and the transport with
// the client's descriptors over a real socketpair and a real child process.
#include "authlib/login_handover.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

namespace login = authlib::login;

login::Handover sample() {
  login::Handover h;
  h.ticket = std::string(64, 'a');
  h.tag = "a001";
  h.method = "PLAIN";
  h.utf8 = true;
  h.starttls = true;
  h.tls_environment = {"TLS_CONNECTED_PROTOCOL=TLSv1.3", "TLS_SUBJECT_CN=alice"};
  h.pipelined = std::string("a002 SELECT INBOX\r\n\0\n", 22);
  return h;
}

std::string error_of(std::string_view bytes) {
  auto r = login::parse(bytes);
  return r ? std::string("parsed") : r.error().message;
}

TEST(LoginHandover, RoundTrip) {
  auto h = sample();
  auto back = login::parse(login::encode(h));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->ticket, h.ticket);
  EXPECT_EQ(back->tag, h.tag);
  EXPECT_EQ(back->method, h.method);
  EXPECT_TRUE(back->utf8);
  EXPECT_TRUE(back->starttls);
  EXPECT_EQ(back->tls_environment, h.tls_environment);
  EXPECT_EQ(back->pipelined, h.pipelined);

  login::Handover minimal;
  minimal.ticket = std::string(64, '0');
  auto m = login::parse(login::encode(minimal));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->starttls);
  EXPECT_TRUE(m->pipelined.empty());
}

TEST(LoginHandover, MalformedIsRefusedWithItsProblem) {
  const std::string good = login::encode(sample());
  EXPECT_NE(error_of("").find("no end record"), std::string::npos);
  EXPECT_NE(error_of("hello 1\nx\n").find("not a hand-over"), std::string::npos);
  EXPECT_NE(error_of("handover 1\n1\nticket 3\nabc\nend 0\n\n").find("64 lowercase hex"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() - 7)).find("no end record"), std::string::npos);
  EXPECT_NE(error_of(good + "x").find("after the end record"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() - 1)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() - 2)).find("no length"), std::string::npos);
  std::string ticket = "ticket 64\n" + std::string(64, 'b') + "\n";
  std::string base = "handover 1\n1\n" + ticket;
  EXPECT_NE(error_of(base + "bogus 1\nx\nend 0\n\n").find("unknown name \"bogus\""), std::string::npos);
  EXPECT_NE(error_of(base + "tag 2\na1\ntag 2\na2\nend 0\n\n").find("twice"), std::string::npos);
  EXPECT_NE(error_of(base + "utf8 1\n2\nend 0\n\n").find("neither 0 nor 1"), std::string::npos);
  EXPECT_NE(error_of(base + "tag 3\na b\nend 0\n\n").find("malformed tag"), std::string::npos);
  EXPECT_NE(error_of(base + "tlsenv 7\nPATH=/x\nend 0\n\n").find("TLS variable"), std::string::npos);
  EXPECT_NE(error_of(base + "tag 99999999\n").find("no length"), std::string::npos);
  EXPECT_NE(error_of(base + "tag x\n").find("bad length"), std::string::npos);
  std::string big(login::max_pipelined_bytes + 1, 'x');
  EXPECT_NE(error_of(base + "pipelined " + std::to_string(big.size()) + "\n" + big + "\nend 0\n\n").find("oversized"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(login::max_handover_bytes + 1, 'x')).find("oversized"), std::string::npos);
}

TEST(LoginHandover, SentWithTheClientDescriptorsAndReceivedAfterTheChildEnds) {
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  int client[2];
  ASSERT_EQ(::pipe(client), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sp[0]);
    auto h = sample();
    h.pipelined = std::string(70000 - 100, 'p');  // several reads on the parent's side
    h.pipelined.resize(login::max_pipelined_bytes);
    ::_exit(login::send_handover(sp[1], h, client[0], client[1]) ? 0 : 1);
  }
  ::close(sp[1]);
  auto got = login::receive_handover(sp[0], pid);
  ::close(sp[0]);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->handover.pipelined.size(), login::max_pipelined_bytes);
  // The descriptors are the pipe's two ends: what goes in one comes out of the other.
  ASSERT_EQ(::write((*got)->out.get(), "hi", 2), 2);
  char buf[2];
  ASSERT_EQ(::read((*got)->in.get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  ::close(client[0]);
  ::close(client[1]);
}

TEST(LoginHandover, NothingFromTheChildIsNoHandover) {
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::close(sp[1]);
  auto got = login::receive_handover(sp[0], pid);
  ::close(sp[0]);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
}

TEST(LoginHandover, BytesWithoutDescriptorsAreRefused) {
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string bytes = login::encode(sample());
    ::_exit(::write(sp[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) ? 0 : 1);
  }
  ::close(sp[1]);
  auto got = login::receive_handover(sp[0], pid);
  ::close(sp[0]);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("0 descriptors"), std::string::npos);
}

}  // namespace
