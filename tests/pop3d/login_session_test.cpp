// tests/pop3d/login_session_test.cpp: pop3login's AUTHORIZATION state
// (pop3d/login_session.hpp), script in, transcript out, over a socket pair,
// with a stand-in for authdaemond: USER/PASS, every SASL mechanism, STLS,
// the failed-login delay and cap, account options, and hostile input.
#include "pop3d/login_session.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

namespace pop3d {
namespace {

namespace sasl = authlib::sasl;

// authdaemond's stand-in: accounts with passwords, a switch for "down".
class FakeAuth : public Authenticator {
 public:
  struct Entry {
    std::string password;
    std::string options;
  };
  std::map<std::string, Entry> accounts;
  bool down = false;
  std::vector<std::string> calls;  // "service user"

  authlib::AuthResult answer(std::string_view service, std::string_view user, bool ok) {
    calls.push_back(std::string(service) + " " + std::string(user));
    authlib::AuthResult r;
    if (down) {
      r.status = authlib::AuthStatus::temporary;
      r.error = "authdaemond is down";
      return r;
    }
    auto it = accounts.find(std::string(user));
    if (!ok || it == accounts.end()) {
      r.status = authlib::AuthStatus::rejected;
      r.error = "rejected";
      return r;
    }
    r.status = authlib::AuthStatus::ok;
    r.account.address = std::string(user);
    r.account.home = "/home/" + std::string(user);
    r.account.options = it->second.options;
    r.account.uid = 1000;
    return r;
  }
  authlib::AuthResult login(std::string_view service, std::string_view user, const lib::Secret& password) override {
    auto it = accounts.find(std::string(user));
    return answer(service, user, it != accounts.end() && password.equals(it->second.password));
  }
  authlib::AuthResult cram(std::string_view service, sasl::CramHash hash, std::string_view challenge_b64,
                           std::string_view response_b64) override {
    auto ex = sasl::decode_cram(hash, challenge_b64, response_b64);
    if (!ex) return answer(service, "?", false);
    auto it = accounts.find(ex->username);
    bool ok = it != accounts.end() && sasl::verify_cram(*ex, lib::Secret(it->second.password));
    return answer(service, ex->username, ok);
  }
  authlib::AuthResult lookup(std::string_view service, std::string_view user) override {
    return answer(service, user, true);
  }
};

struct Result {
  std::string text;
  std::optional<LoginSuccess> success;
  LoginEnd end = LoginEnd::disconnected;
  std::string pipelined;
  std::vector<int> sleeps;
  bool utf8 = false;
};

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

LoginSettings base_settings() {
  LoginSettings s;
  s.peer.remote_ip = "192.0.2.7";
  s.sasl_plain = {sasl::Mechanism::plain, sasl::Mechanism::login, sasl::Mechanism::cram_md5};
  s.cram_hostname = "pop.example.test";
  return s;
}

// The whole script is sent (and the client side shut) before the session
// reads anything, so what it pipelines is deterministic.
Result run_script(FakeAuth& auth, const std::string& script, LoginSettings settings = base_settings(),
                  TlsStarter tls = {}) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_EQ(::write(sv[0], script.data(), script.size()), static_cast<ssize_t>(script.size()));
  ::shutdown(sv[0], SHUT_WR);
  Result r;
  {
    LoginSession session(std::move(settings), auth, std::move(tls),
                         [&r](std::chrono::seconds s) { r.sleeps.push_back(static_cast<int>(s.count())); });
    r.success = session.run(sv[1], sv[1]);
    r.end = session.end();
    r.pipelined = session.pipelined_input();
    r.utf8 = session.utf8();
  }
  ::close(sv[1]);
  r.text = read_all(sv[0]);
  ::close(sv[0]);
  return r;
}

FakeAuth accounts() {
  FakeAuth a;
  a.accounts["alice@example.test"] = {"wonder land", ""};
  a.accounts["bob"] = {"builder", "disablepop3=1"};
  a.accounts["carol"] = {"secret", "disableinsecurepop3=1"};
  return a;
}

const std::string greeting = "+OK Hello there.\r\n";

TEST(LoginSession, QuitBeforeLogin) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "QUIT\r\n");
  EXPECT_EQ(r.text, greeting + "+OK Better luck next time.\r\n");
  EXPECT_EQ(r.end, LoginEnd::quit);
  EXPECT_FALSE(r.success);
}

TEST(LoginSession, UserPassLeavesTheReplyToPop3d) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "user alice@example.test\r\nPASS wonder land\r\n");
  EXPECT_EQ(r.text, greeting + "+OK Password required.\r\n");
  ASSERT_TRUE(r.success);
  EXPECT_EQ(r.success->login, "alice@example.test");
  EXPECT_EQ(r.success->method, "USER");
  EXPECT_EQ(r.end, LoginEnd::logged_in);
  EXPECT_EQ(auth.calls, (std::vector<std::string>{"pop3 alice@example.test"}));
  EXPECT_TRUE(r.sleeps.empty());
}

TEST(LoginSession, CommandsPipelinedBehindTheLoginAreHandedOn) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "USER alice@example.test\r\nPASS wonder land\r\nSTAT\r\nLIST\r\nRE");
  ASSERT_TRUE(r.success);
  EXPECT_EQ(r.pipelined, "STAT\r\nLIST\r\nRE");
}

TEST(LoginSession, WrongPasswordIsDelayedThenRetried) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "USER alice@example.test\r\nPASS wrong\r\nPASS wonder land\r\n");
  EXPECT_EQ(r.text, greeting + "+OK Password required.\r\n-ERR [AUTH] Login failed.\r\n");
  EXPECT_EQ(r.sleeps, (std::vector<int>{5}));
  ASSERT_TRUE(r.success);
}

TEST(LoginSession, FailuresAreCapped) {
  FakeAuth auth = accounts();
  LoginSettings s = base_settings();
  s.failed_login_delay = std::chrono::seconds(2);
  auto r = run_script(auth, "USER x\r\nPASS 1\r\nPASS 2\r\nPASS 3\r\nPASS 4\r\n", s);
  EXPECT_EQ(r.text, greeting +
                        "+OK Password required.\r\n-ERR [AUTH] Login failed.\r\n-ERR [AUTH] Login failed.\r\n"
                        "-ERR [AUTH] Too many failed logins, closing the connection.\r\n");
  EXPECT_EQ(r.sleeps, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(r.end, LoginEnd::too_many_failures);
  EXPECT_EQ(auth.calls.size(), 3u);
}

TEST(LoginSession, RepliesToMistakes) {
  struct Case {
    const char* label;
    std::string script;
    std::string reply;
  };
  const Case cases[] = {
      {"pass first", "PASS x\r\n", "-ERR USER first, then PASS.\r\n"},
      {"transaction command", "STAT\r\n", "-ERR Log in first (USER/PASS or AUTH).\r\n"},
      {"retr", "RETR 1\r\n", "-ERR Log in first (USER/PASS or AUTH).\r\n"},
      {"unknown", "HELO x\r\n", "-ERR Invalid command.\r\n"},
      {"apop", "APOP alice 0123456789abcdef\r\n", "-ERR APOP is not supported; use USER/PASS or AUTH.\r\n"},
      {"stls without tls", "STLS\r\n", "-ERR TLS support not available.\r\n"},
      {"unknown mechanism", "AUTH DIGEST-MD5\r\n", "-ERR Unsupported authentication mechanism.\r\n"},
      {"mechanism not offered", "AUTH CRAM-SHA256\r\n", "-ERR Unsupported authentication mechanism.\r\n"},
      {"external without certificate", "AUTH EXTERNAL\r\n", "-ERR Unsupported authentication mechanism.\r\n"},
      {"cram with initial response", "AUTH CRAM-MD5 abcd\r\n", "-ERR This mechanism takes no initial response.\r\n"},
      {"too long", std::string(9000, 'x') + "\r\n", "-ERR Command line too long.\r\n"},
      {"nul", std::string("US\0ER x\r\n", 9), "-ERR Invalid characters in the command line.\r\n"},
      {"bare cr", "USER a\rb\r\n", "-ERR Invalid characters in the command line.\r\n"},
      {"empty line", "\r\n", "-ERR Empty command line.\r\n"},
      {"utf8", "UTF8\r\n", "+OK UTF8 enabled\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    FakeAuth auth = accounts();
    auto r = run_script(auth, c.script + "QUIT\r\n");
    EXPECT_EQ(r.text, greeting + c.reply + "+OK Better luck next time.\r\n");
    EXPECT_TRUE(auth.calls.empty());
    EXPECT_TRUE(r.sleeps.empty());
  }
}

TEST(LoginSession, TooManyInvalidCommandsClose) {
  FakeAuth auth = accounts();
  std::string script;
  for (int i = 0; i < 30; ++i) script += "GARBAGE\r\n";
  auto r = run_script(auth, script);
  EXPECT_EQ(r.end, LoginEnd::too_many_errors);
  EXPECT_NE(r.text.find("-ERR Too many invalid commands"), std::string::npos);
}

TEST(LoginSession, CapaDependsOnTls) {
  FakeAuth auth = accounts();
  auto plain = run_script(auth, "CAPA\r\nQUIT\r\n", base_settings(),
                          [](int) -> lib::Result<TlsStarted> { return lib::temporary_error("unused"); });
  // Without STARTTLS enabled, no STLS even with a starter.
  EXPECT_NE(plain.text.find("\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"), std::string::npos) << plain.text;
  EXPECT_NE(plain.text.find("\r\nUSER\r\n"), std::string::npos);
  EXPECT_EQ(plain.text.find("STLS"), std::string::npos);
  for (const char* cap : {"TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "UTF8 USER",
                          "IMPLEMENTATION courier-suite"})
    EXPECT_NE(plain.text.find(std::string("\r\n") + cap + "\r\n"), std::string::npos) << cap;

  LoginSettings s = base_settings();
  s.starttls_enabled = true;
  s.tls_required = true;
  auto required = run_script(auth, "CAPA\r\nUSER alice@example.test\r\nAUTH PLAIN\r\nQUIT\r\n", s,
                             [](int) -> lib::Result<TlsStarted> { return lib::temporary_error("unused"); });
  EXPECT_NE(required.text.find("\r\nSTLS\r\n"), std::string::npos) << required.text;
  EXPECT_EQ(required.text.find("\r\nUSER\r\n"), std::string::npos);
  EXPECT_EQ(required.text.find("SASL"), std::string::npos);
  EXPECT_NE(required.text.find("-ERR [AUTH] TLS required to log in: use STLS first.\r\n-ERR [AUTH] TLS required"),
            std::string::npos);
  EXPECT_TRUE(auth.calls.empty());
}

TEST(LoginSession, AuthList) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "AUTH\r\nQUIT\r\n");
  EXPECT_EQ(r.text, greeting + "+OK Supported SASL mechanisms follow.\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n" +
                        "+OK Better luck next time.\r\n");
}

TEST(LoginSession, AuthPlain) {
  // "\0alice@example.test\0wonder land"
  const std::string blob = sasl::encode_base64(std::string("\0alice@example.test\0wonder land", 31));
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "AUTH PLAIN " + blob + "\r\n");
    ASSERT_TRUE(r.success);
    EXPECT_EQ(r.success->method, "PLAIN");
    EXPECT_EQ(r.text, greeting);
  }
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "auth plain\r\n" + blob + "\r\n");
    ASSERT_TRUE(r.success);
    EXPECT_EQ(r.text, greeting + "+ \r\n");
  }
  {
    // authzid equal to the login name is fine; another one is not.
    FakeAuth auth = accounts();
    const std::string same =
        sasl::encode_base64(std::string("alice@example.test\0alice@example.test\0wonder land", 49));
    EXPECT_TRUE(run_script(auth, "AUTH PLAIN " + same + "\r\n").success);
    const std::string other = sasl::encode_base64(std::string("root\0alice@example.test\0wonder land", 35));
    auto r = run_script(auth, "AUTH PLAIN " + other + "\r\nQUIT\r\n");
    EXPECT_FALSE(r.success);
    EXPECT_NE(r.text.find("-ERR [AUTH] Logging in as another user is not supported."), std::string::npos);
  }
}

TEST(LoginSession, AuthPlainGarbageIsAFailedLogin) {
  struct Case {
    const char* label;
    std::string script;
  };
  const Case cases[] = {
      {"bad base64", "AUTH PLAIN !!!!\r\n"},
      {"no nul", "AUTH PLAIN " + sasl::encode_base64("alicewonder") + "\r\n"},
      {"continuation garbage", "AUTH PLAIN\r\n%%%\r\n"},
      {"continuation too long", "AUTH PLAIN\r\n" + std::string(9000, 'A') + "\r\n"},
      {"empty password", "AUTH PLAIN " + sasl::encode_base64(std::string("\0alice\0", 7)) + "\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    FakeAuth auth = accounts();
    auto r = run_script(auth, c.script + "QUIT\r\n");
    EXPECT_FALSE(r.success);
    EXPECT_NE(r.text.find("-ERR [AUTH] Invalid SASL response: "), std::string::npos) << r.text;
    EXPECT_EQ(r.sleeps, (std::vector<int>{5}));
    EXPECT_TRUE(auth.calls.empty());
  }
}

TEST(LoginSession, AuthCancel) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "AUTH PLAIN\r\n*\r\nAUTH LOGIN\r\n*\r\nQUIT\r\n");
  EXPECT_EQ(r.text, greeting + "+ \r\n-ERR Authentication cancelled.\r\n+ VXNlcm5hbWU6\r\n"
                               "-ERR Authentication cancelled.\r\n+OK Better luck next time.\r\n");
  EXPECT_TRUE(r.sleeps.empty());
}

TEST(LoginSession, AuthLogin) {
  FakeAuth auth = accounts();
  auto r = run_script(auth, "AUTH LOGIN\r\n" + sasl::encode_base64("alice@example.test") + "\r\n" +
                                sasl::encode_base64("wonder land") + "\r\n");
  EXPECT_EQ(r.text, greeting + "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n");
  ASSERT_TRUE(r.success);
  EXPECT_EQ(r.success->method, "LOGIN");
  // With the user name as initial response.
  FakeAuth again = accounts();
  auto r2 = run_script(again, "AUTH LOGIN " + sasl::encode_base64("alice@example.test") + "\r\n" +
                                  sasl::encode_base64("wonder land") + "\r\n");
  EXPECT_EQ(r2.text, greeting + "+ UGFzc3dvcmQ6\r\n");
  EXPECT_TRUE(r2.success);
}

// An interactive client, for exchanges that depend on what the server says.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  std::string line() {
    for (;;) {
      size_t nl = buf_.find("\r\n");
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 2);
        return l;
      }
      char tmp[4096];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) return "<eof>";
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  void send(const std::string& s) { EXPECT_EQ(::write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

 private:
  int fd_;
  std::string buf_;
};

struct Live {
  int sv[2];
  std::thread server;
  std::optional<LoginSuccess> success;
  LoginEnd end = LoginEnd::disconnected;
  int tls_fd = -1;
  Live(FakeAuth& auth, LoginSettings settings, TlsStarter tls) {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    server = std::thread([this, &auth, settings = std::move(settings), tls = std::move(tls)]() mutable {
      LoginSession session(std::move(settings), auth, std::move(tls), [](std::chrono::seconds) {});
      success = session.run(sv[1], sv[1]);
      end = session.end();
      tls_fd = session.tls_fd();
      ::shutdown(sv[1], SHUT_RDWR);
    });
  }
  // Waits for the session to end.
  void wait() {
    if (server.joinable()) server.join();
  }
  ~Live() {
    ::shutdown(sv[0], SHUT_WR);
    wait();
    ::close(sv[0]);
    ::close(sv[1]);
  }
};

TEST(LoginSession, AuthCramMd5) {
  FakeAuth auth = accounts();
  Live live(auth, base_settings(), {});
  Peer client(live.sv[0]);
  EXPECT_EQ(client.line(), "+OK Hello there.");
  client.send("AUTH CRAM-MD5\r\n");
  std::string challenge_line = client.line();
  ASSERT_EQ(challenge_line.substr(0, 2), "+ ");
  auto challenge = sasl::decode_base64(challenge_line.substr(2));
  ASSERT_TRUE(challenge);
  EXPECT_NE(challenge->find("@pop.example.test>"), std::string::npos);
  auto response = sasl::cram_client_response(sasl::CramHash::md5, "alice@example.test", lib::Secret("wonder land"),
                                              *challenge);
  ASSERT_TRUE(response.ok());
  client.send(sasl::encode_base64(response->reveal()) + "\r\n");
  live.wait();
  ASSERT_TRUE(live.success);
  EXPECT_EQ(live.success->method, "CRAM-MD5");
  EXPECT_EQ(live.success->login, "alice@example.test");
}

TEST(LoginSession, AuthCramWithDefdomainRebuildsTheResponse) {
  FakeAuth auth = accounts();
  LoginSettings s = base_settings();
  s.defdomain = "@example.test";
  Live live(auth, s, {});
  Peer client(live.sv[0]);
  client.line();
  client.send("AUTH CRAM-MD5\r\n");
  auto challenge = sasl::decode_base64(client.line().substr(2));
  ASSERT_TRUE(challenge);
  auto response = sasl::cram_client_response(sasl::CramHash::md5, "alice", lib::Secret("wonder land"), *challenge);
  ASSERT_TRUE(response.ok());
  client.send(sasl::encode_base64(response->reveal()) + "\r\n");
  live.wait();
  ASSERT_TRUE(live.success);
  EXPECT_EQ(live.success->login, "alice@example.test");
}

TEST(LoginSession, AuthExternalUsesTheCertificate) {
  LoginSettings s = base_settings();
  s.tls_active = true;
  s.tls_external_field = "emailaddress";
  s.external_identity = "alice@example.test";
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "CAPA\r\nAUTH EXTERNAL =\r\n", s);
    EXPECT_NE(r.text.find("SASL PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n"), std::string::npos) << r.text;
    ASSERT_TRUE(r.success);
    EXPECT_EQ(r.success->method, "EXTERNAL");
    EXPECT_EQ(r.success->login, "alice@example.test");
  }
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "AUTH EXTERNAL\r\n" + sasl::encode_base64("alice@example.test") + "\r\n", s);
    EXPECT_TRUE(r.success);
  }
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "AUTH EXTERNAL " + sasl::encode_base64("root") + "\r\nQUIT\r\n", s);
    EXPECT_FALSE(r.success);
    EXPECT_TRUE(auth.calls.empty());
  }
}

TEST(LoginSession, AccountOptionsAndTls) {
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "USER bob\r\nPASS builder\r\nQUIT\r\n");
    EXPECT_FALSE(r.success);
    EXPECT_NE(r.text.find("-ERR [AUTH] POP3 access disabled for this account.\r\n"), std::string::npos);
    EXPECT_TRUE(r.sleeps.empty());  // the password was right
  }
  {
    FakeAuth auth = accounts();
    auto r = run_script(auth, "USER carol\r\nPASS secret\r\nQUIT\r\n");
    EXPECT_FALSE(r.success);
    EXPECT_NE(r.text.find("-ERR [AUTH] POP3 access disabled via insecure connection: use STLS first.\r\n"),
              std::string::npos);
  }
  {
    FakeAuth auth = accounts();
    LoginSettings s = base_settings();
    s.tls_active = true;
    EXPECT_TRUE(run_script(auth, "USER carol\r\nPASS secret\r\n", s).success);
  }
}

TEST(LoginSession, TemporaryFailureEndsTheSession) {
  FakeAuth auth = accounts();
  auth.down = true;
  auto r = run_script(auth, "USER alice@example.test\r\nPASS wonder land\r\nQUIT\r\n");
  EXPECT_EQ(r.text, greeting + "+OK Password required.\r\n-ERR [SYS/TEMP] Temporary problem, please try again later.\r\n");
  EXPECT_EQ(r.end, LoginEnd::temporary_failure);
  EXPECT_TRUE(r.sleeps.empty());
}

TEST(LoginSession, DefdomainAndAuthService) {
  FakeAuth auth = accounts();
  LoginSettings s = base_settings();
  s.defdomain = "@example.test";
  s.service = "pop3s";
  auto r = run_script(auth, "USER alice\r\nPASS wonder land\r\n", s);
  ASSERT_TRUE(r.success);
  EXPECT_EQ(r.success->login, "alice@example.test");
  EXPECT_EQ(auth.calls, (std::vector<std::string>{"pop3s alice@example.test"}));
}

TEST(LoginSession, StlsSwitchesDescriptorsAndDropsInjectedCommands) {
  FakeAuth auth = accounts();
  LoginSettings s = base_settings();
  s.starttls_enabled = true;
  s.tls_required = true;
  s.tls_external_field = "emailaddress";
  // The stand-in "handshake": the same socket, duplicated, as the plaintext side.
  TlsStarter starter = [](int fd) -> lib::Result<TlsStarted> {
    TlsStarted t;
    t.plaintext.reset(::dup(fd));
    t.external_identity = "alice@example.test";
    return t;
  };
  Live live(auth, s, starter);
  Peer client(live.sv[0]);
  EXPECT_EQ(client.line(), "+OK Hello there.");
  client.send("USER carol\r\nSTLS\r\nUSER evil\r\n");  // the last one comes "before the handshake"
  EXPECT_EQ(client.line(), "-ERR [AUTH] TLS required to log in: use STLS first.");
  EXPECT_EQ(client.line(), "+OK Begin SSL/TLS negotiation now.");
  client.send("PASS secret\r\n");
  EXPECT_EQ(client.line(), "-ERR USER first, then PASS.");  // USER evil was dropped
  client.send("CAPA\r\n");
  std::vector<std::string> capa;
  for (std::string l = client.line(); l != "." && l != "<eof>"; l = client.line()) capa.push_back(l);
  EXPECT_EQ(std::find(capa.begin(), capa.end(), "STLS"), capa.end());
  EXPECT_NE(std::find(capa.begin(), capa.end(), "USER"), capa.end());
  EXPECT_NE(std::find(capa.begin(), capa.end(), "SASL PLAIN LOGIN CRAM-MD5 EXTERNAL"), capa.end());
  client.send("USER carol\r\nPASS secret\r\n");  // disableinsecurepop3 is satisfied now
  live.wait();
  ASSERT_TRUE(live.success);
  EXPECT_GE(live.tls_fd, 0);
}

TEST(LoginSession, FailedHandshakeEndsTheSession) {
  FakeAuth auth = accounts();
  LoginSettings s = base_settings();
  s.starttls_enabled = true;
  auto r = run_script(auth, "STLS\r\n", s,
                      [](int) -> lib::Result<TlsStarted> { return lib::temporary_error("handshake failed"); });
  EXPECT_EQ(r.text, greeting + "+OK Begin SSL/TLS negotiation now.\r\n");
  EXPECT_EQ(r.end, LoginEnd::tls_failed);
}

TEST(LoginSession, IdleClientTimesOut) {
  FakeAuth auth = accounts();
  LoginSettings s = base_settings();
  s.login_timeout = std::chrono::seconds(1);
  Live live(auth, s, {});
  Peer client(live.sv[0]);
  EXPECT_EQ(client.line(), "+OK Hello there.");
  EXPECT_EQ(client.line(), "-ERR Timeout, closing the connection.");
  live.wait();
  EXPECT_EQ(live.end, LoginEnd::timeout);
}

}  // namespace
}  // namespace pop3d
