// tests/authlib/sasl_server_test.cpp: authlib/sasl_server.hpp with a fake
// transport (a script of client lines) and a fake authdaemond that checks
// passwords and CRAM digests itself.
#include "authlib/sasl_server.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace {

namespace sasl = authlib::sasl;
using authlib::SaslStatus;
using sasl::Mechanism;

class ScriptTransport final : public authlib::SaslTransport {
 public:
  explicit ScriptTransport(std::deque<std::string> lines) : lines_(std::move(lines)) {}
  void send_challenge(std::string_view b64) override { challenges.emplace_back(b64); }
  std::optional<std::string> read_response() override {
    if (lines_.empty()) return std::nullopt;
    std::string l = std::move(lines_.front());
    lines_.pop_front();
    return l;
  }
  std::vector<std::string> challenges;

 private:
  std::deque<std::string> lines_;
};

class FakeDaemon final : public authlib::Authenticator {
 public:
  authlib::AuthResult login(std::string_view service, std::string_view user, const lib::Secret& pw) override {
    calls.push_back("login " + std::string(service) + " " + std::string(user));
    if (down) return {authlib::AuthStatus::temporary, {}, "authdaemond: connection refused"};
    if (user == "alice@example.test" && pw.reveal() == "secret") return ok(user);
    return {authlib::AuthStatus::rejected, {}, "wrong password"};
  }
  authlib::AuthResult cram(std::string_view service, sasl::CramHash hash, std::string_view ch,
                           std::string_view resp) override {
    calls.push_back("cram " + std::string(service));
    auto ex = sasl::decode_cram(hash, ch, resp);
    if (ex && ex->username == "alice@example.test" && sasl::verify_cram(*ex, lib::Secret(std::string("secret"))))
      return ok(ex->username);
    return {authlib::AuthStatus::rejected, {}, "wrong digest"};
  }
  authlib::AuthResult lookup(std::string_view service, std::string_view user) override {
    calls.push_back("lookup " + std::string(service) + " " + std::string(user));
    return ok(user);
  }
  std::vector<std::string> calls;
  bool down = false;

 private:
  static authlib::AuthResult ok(std::string_view user) {
    authlib::AuthResult r;
    r.status = authlib::AuthStatus::ok;
    r.account.username = std::string(user);
    return r;
  }
};

authlib::SaslRequest request(std::string_view mech) {
  authlib::SaslRequest r;
  r.mechanism = mech;
  r.offered = {Mechanism::plain, Mechanism::login, Mechanism::cram_md5, Mechanism::cram_sha256};
  r.service = "esmtp";
  r.hostname = "mail.example.test";
  r.qualify_user = [](std::string_view u) {
    std::string s(u);
    if (s.find('@') == std::string::npos) s += "@example.test";
    return s;
  };
  return r;
}

std::string b64(std::string_view s) { return sasl::encode_base64(s); }
using namespace std::string_literals;

TEST(SaslServer, PlainWithInitialResponseAndDefaultDomain) {
  auto req = request("plain");
  std::string ir = b64("\0alice\0secret"s);
  req.initial_response = ir;
  ScriptTransport t({});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(req, t, d);
  EXPECT_EQ(o.status, SaslStatus::authenticated) << o.reason;
  EXPECT_EQ(o.mechanism, "PLAIN");
  EXPECT_EQ(o.user, "alice@example.test");
  EXPECT_EQ(o.account.username, "alice@example.test");
  EXPECT_TRUE(t.challenges.empty());
  EXPECT_EQ(d.calls, std::vector<std::string>{"login esmtp alice@example.test"});
}

TEST(SaslServer, PlainAfterAnEmptyChallengeWrongPassword) {
  ScriptTransport t({b64("\0alice\0guess"s)});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(request("PLAIN"), t, d);
  EXPECT_EQ(o.status, SaslStatus::rejected);
  EXPECT_EQ(o.reason, "wrong password");
  EXPECT_EQ(t.challenges, std::vector<std::string>{""});
  EXPECT_EQ(o.reason.find("guess"), std::string::npos);
}

TEST(SaslServer, EmptyInitialResponseIsEqualsSign) {
  auto req = request("PLAIN");
  req.initial_response = "=";
  ScriptTransport t({});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(req, t, d);
  EXPECT_EQ(o.status, SaslStatus::malformed);
  EXPECT_EQ(o.problem, sasl::Problem::empty);
  EXPECT_TRUE(d.calls.empty());
}

TEST(SaslServer, MalformedResponsesCarryTheProblemText) {
  ScriptTransport t({"not base64!"});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(request("PLAIN"), t, d);
  EXPECT_EQ(o.status, SaslStatus::malformed);
  EXPECT_EQ(o.reason, sasl::problem_text(sasl::Problem::bad_base64));
  ScriptTransport t2({b64("alice secret")});
  auto o2 = authlib::run_sasl_exchange(request("PLAIN"), t2, d);
  EXPECT_EQ(o2.problem, sasl::Problem::missing_nul);
  EXPECT_TRUE(d.calls.empty());
}

TEST(SaslServer, ProxyAuthorizationIsRefused) {
  auto req = request("PLAIN");
  std::string ir = b64("bob\0alice\0secret"s);
  req.initial_response = ir;
  ScriptTransport t({});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(req, t, d);
  EXPECT_EQ(o.status, SaslStatus::authorization_refused);
  EXPECT_TRUE(d.calls.empty());
}

TEST(SaslServer, LoginTwoRoundsAndCancel) {
  ScriptTransport t({b64("alice"), b64("secret")});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(request("LOGIN"), t, d);
  EXPECT_EQ(o.status, SaslStatus::authenticated) << o.reason;
  EXPECT_EQ(t.challenges, (std::vector<std::string>{std::string(sasl::login_username_prompt),
                                                    std::string(sasl::login_password_prompt)}));
  ScriptTransport c({b64("alice"), "*"});
  auto oc = authlib::run_sasl_exchange(request("LOGIN"), c, d);
  EXPECT_EQ(oc.status, SaslStatus::cancelled);
  EXPECT_EQ(d.calls.size(), 1u);
}

TEST(SaslServer, LoginWithInitialResponseAsksOnlyForThePassword) {
  auto req = request("login");
  std::string ir = b64("alice");
  req.initial_response = ir;
  ScriptTransport t({b64("secret")});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(req, t, d);
  EXPECT_EQ(o.status, SaslStatus::authenticated) << o.reason;
  EXPECT_EQ(t.challenges, std::vector<std::string>{std::string(sasl::login_password_prompt)});
}

TEST(SaslServer, CramMd5RebuildsTheResponseWithTheQualifiedName) {
  // The client answers the challenge it is sent; the transport computes it.
  class CramClient final : public authlib::SaslTransport {
   public:
    void send_challenge(std::string_view b64_challenge) override { challenge = b64_challenge; }
    std::optional<std::string> read_response() override {
      auto decoded = sasl::decode_base64(challenge);
      auto r = sasl::cram_client_response(sasl::CramHash::md5, "alice", lib::Secret(std::string("secret")),
                                          *decoded);
      return sasl::encode_base64(r->reveal());
    }
    std::string challenge;
  } t;
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(request("CRAM-MD5"), t, d);
  EXPECT_EQ(o.status, SaslStatus::authenticated) << o.reason;
  EXPECT_EQ(o.user, "alice@example.test");
  auto decoded = sasl::decode_base64(t.challenge);
  ASSERT_TRUE(decoded);
  EXPECT_NE(decoded->find("@mail.example.test>"), std::string::npos) << *decoded;
}

TEST(SaslServer, CramTakesNoInitialResponse) {
  auto req = request("CRAM-MD5");
  req.initial_response = "=";
  ScriptTransport t({});
  FakeDaemon d;
  EXPECT_EQ(authlib::run_sasl_exchange(req, t, d).status, SaslStatus::initial_response_refused);
}

TEST(SaslServer, MechanismNotOfferedOrUnknown) {
  FakeDaemon d;
  ScriptTransport t({});
  EXPECT_EQ(authlib::run_sasl_exchange(request("CRAM-SHA1"), t, d).status, SaslStatus::not_offered);
  EXPECT_EQ(authlib::run_sasl_exchange(request("GSSAPI"), t, d).status, SaslStatus::not_offered);
  auto ext = request("EXTERNAL");
  ext.offered.push_back(Mechanism::external);  // but no certificate identity
  EXPECT_EQ(authlib::run_sasl_exchange(ext, t, d).status, SaslStatus::not_offered);
  EXPECT_TRUE(t.challenges.empty());
  EXPECT_TRUE(d.calls.empty());
}

TEST(SaslServer, ExternalUsesTheCertificateIdentity) {
  auto req = request("EXTERNAL");
  req.offered.push_back(Mechanism::external);
  req.external_identity = "carol@example.test";
  req.initial_response = "=";
  ScriptTransport t({});
  FakeDaemon d;
  auto o = authlib::run_sasl_exchange(req, t, d);
  EXPECT_EQ(o.status, SaslStatus::authenticated) << o.reason;
  EXPECT_EQ(o.user, "carol@example.test");
  EXPECT_EQ(d.calls, std::vector<std::string>{"lookup esmtp carol@example.test"});

  req.initial_response.reset();
  ScriptTransport other({b64("dave@example.test")});
  auto refused = authlib::run_sasl_exchange(req, other, d);
  EXPECT_EQ(refused.status, SaslStatus::authorization_refused);
  ScriptTransport same({b64("carol@example.test")});
  EXPECT_EQ(authlib::run_sasl_exchange(req, same, d).status, SaslStatus::authenticated);
}

TEST(SaslServer, DaemonDownIsTemporaryAndEofIsConnectionLost) {
  FakeDaemon d;
  d.down = true;
  ScriptTransport t({b64("\0alice\0secret"s)});
  auto o = authlib::run_sasl_exchange(request("PLAIN"), t, d);
  EXPECT_EQ(o.status, SaslStatus::temporary_failure);
  EXPECT_NE(o.reason.find("connection refused"), std::string::npos);
  ScriptTransport eof({});
  EXPECT_EQ(authlib::run_sasl_exchange(request("PLAIN"), eof, d).status, SaslStatus::connection_lost);
  EXPECT_EQ(authlib::sasl_status_name(SaslStatus::connection_lost), "connection lost");
}

}  // namespace
