// tests/imapd/login_session_test.cpp: imaplogin's state machine: a client
// script in, the transcript out, authdaemond replaced by fake hooks.
#include "imapd/login_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace imapd {
namespace {

struct Run {
  std::string transcript;
  std::optional<LoginOutcome> outcome;
  int delays = 0;
};

Run run_script(const std::string& script, Settings s = {}) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_EQ(::write(sv[1], script.data(), script.size()), static_cast<ssize_t>(script.size()));
  ::shutdown(sv[1], SHUT_WR);
  if (s.capability.empty()) s.capability = {"IMAP4rev1", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5"};
  if (s.capability_tls.empty()) s.capability_tls = s.capability;
  Run run;
  LoginHooks hooks;
  hooks.login = [](std::string_view user, const lib::Secret& pw) {
    authlib::AuthResult r;
    if (user == "down") {
      r.status = authlib::AuthStatus::temporary;
      r.error = "authdaemond down";
    } else if (user == "alice" && pw.equals("secret")) {
      r.status = authlib::AuthStatus::ok;
      r.account.address = "alice";
    } else if (user == "blocked" && pw.equals("secret")) {
      r.status = authlib::AuthStatus::ok;
      r.account.options = "disableimap=1";
    } else {
      r.status = authlib::AuthStatus::rejected;
      r.error = "no such account or wrong password";
    }
    return r;
  };
  hooks.cram = [](authlib::sasl::CramHash, std::string_view, std::string_view) {
    authlib::AuthResult r;
    r.status = authlib::AuthStatus::rejected;
    return r;
  };
  hooks.lookup = [](std::string_view) { return authlib::AuthResult{}; };
  hooks.delay = [&](std::chrono::milliseconds) { ++run.delays; };
  lib::io::Reader in(sv[0]);
  lib::io::Writer out(sv[0]);
  run.outcome = run_login_session(s, in, out, hooks);
  (void)out.flush();
  ::shutdown(sv[0], SHUT_WR);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(sv[1], buf, sizeof buf)) > 0) run.transcript.append(buf, static_cast<std::size_t>(n));
  ::close(sv[0]);
  ::close(sv[1]);
  return run;
}

// The transcript without the greeting line.
std::string after_greeting(const std::string& t) { return t.substr(t.find("\r\n") + 2); }

TEST(LoginSession, GreetingAdvertisesCapabilities) {
  auto r = run_script("");
  EXPECT_EQ(r.transcript.rfind("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 LITERAL+ SASL-IR ID ENABLE] ", 0), 0u)
      << r.transcript;
  EXPECT_FALSE(r.outcome);
}

TEST(LoginSession, Transcripts) {
  struct Case {
    const char* label;
    std::string script;
    std::string expect;  // after the greeting
    bool logged_in;
  } cases[] = {
      {"login ok", "a LOGIN alice secret\r\n", "", true},
      {"login quoted and literal", "a LOGIN \"alice\" {6}\r\nsecret\r\n", "+ Ready for literal data\r\n", true},
      {"login literal+", "a LOGIN {5+}\r\nalice secret\r\n", "", true},
      {"bad password", "a LOGIN alice nope\r\nb LOGOUT\r\n",
       "a NO [AUTHENTICATIONFAILED] Login failed.\r\n* BYE Courier-compatible IMAP server shutting down.\r\nb OK LOGOUT completed.\r\n", false},
      {"temporary", "a LOGIN down x\r\n",
       "a NO [UNAVAILABLE] Temporary authentication failure, try again later.\r\n", false},
      {"disabled account", "a LOGIN blocked secret\r\n",
       "a NO IMAP access is disabled for this account.\r\n", false},
      {"noop", "a NOOP\r\n", "a OK NOOP completed.\r\n", false},
      {"select first", "a SELECT INBOX\r\n", "a BAD Please log in first.\r\n", false},
      {"unknown", "a FROB\r\n", "a BAD Unknown command.\r\n", false},
      {"missing args", "a LOGIN alice\r\n", "a BAD Syntax: LOGIN user password.\r\n", false},
      {"plain ir", "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", "", true},
      {"plain continuation", "a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n", "+ \r\n", true},
      {"plain cancelled", "a AUTHENTICATE PLAIN\r\n*\r\n", "+ \r\na BAD AUTHENTICATE cancelled.\r\n", false},
      {"plain garbage", "a AUTHENTICATE PLAIN !!!!\r\n", "a NO Invalid SASL response.\r\n", false},
      {"login mech", "a AUTHENTICATE LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n", "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n", true},
      {"unknown mech", "a AUTHENTICATE GSSAPI\r\n", "a NO Unsupported authentication mechanism.\r\n", false},
      {"external without cert", "a AUTHENTICATE EXTERNAL =\r\n", "a NO Unsupported authentication mechanism.\r\n", false},
      {"starttls unavailable", "a STARTTLS\r\n", "a NO TLS is not available here.\r\n", false},
      {"id", "a ID NIL\r\n", "* ID (\"name\" \"Courier-compatible imapd\")\r\na OK ID completed.\r\n", false},
      {"capability", "a CAPABILITY\r\n",
       "* CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 LITERAL+ SASL-IR ID ENABLE\r\na OK CAPABILITY completed.\r\n", false},
  };
  for (const auto& c : cases) {
    auto r = run_script(c.script);
    EXPECT_EQ(after_greeting(r.transcript), c.expect) << c.label;
    EXPECT_EQ(r.outcome.has_value(), c.logged_in) << c.label;
    if (r.outcome) {
      EXPECT_EQ(r.outcome->tag, "a") << c.label;
    }
  }
}

TEST(LoginSession, AttemptCapAndDelay) {
  auto r = run_script("a LOGIN x y\r\nb LOGIN x y\r\nc LOGIN x y\r\nd LOGIN alice secret\r\n");
  EXPECT_EQ(r.delays, 3);
  EXPECT_NE(r.transcript.find("c NO"), std::string::npos);
  EXPECT_NE(r.transcript.find("* BYE Too many failed logins."), std::string::npos);
  EXPECT_EQ(r.transcript.find("\r\nd "), std::string::npos);
  EXPECT_FALSE(r.outcome);
}

TEST(LoginSession, TlsRequiredDisablesLogin) {
  Settings s;
  s.tls_required = true;
  auto r = run_script("a LOGIN alice secret\r\nb AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", s);
  EXPECT_NE(r.transcript.find("LOGINDISABLED"), std::string::npos);
  EXPECT_EQ(r.transcript.substr(0, r.transcript.find("\r\n")).find("AUTH="), std::string::npos);
  EXPECT_NE(r.transcript.find("a NO [PRIVACYREQUIRED]"), std::string::npos);
  EXPECT_NE(r.transcript.find("b NO [PRIVACYREQUIRED]"), std::string::npos);
  EXPECT_FALSE(r.outcome);
}

TEST(LoginSession, HostileInput) {
  struct Case {
    const char* label;
    std::string script;
    const char* expect;
  } cases[] = {
      {"huge line", "a NOOP " + std::string(20000, 'x') + "\r\n", "BAD"},
      {"huge sync literal", "a LOGIN {100000}\r\n", "a NO [TOOBIG]"},
      {"nul", std::string("a NO\0OP\r\n", 9), "BAD"},
      {"bare lf", "a NOOP\n", "BAD"},
      {"unbalanced", "a ID (\"x\"\r\n", "BAD"},
      {"bad tag", "+++ NOOP\r\n", "BAD"},
  };
  for (const auto& c : cases) {
    auto r = run_script(c.script);
    EXPECT_NE(after_greeting(r.transcript).find(c.expect), std::string::npos) << c.label << ": " << r.transcript;
    EXPECT_FALSE(r.outcome) << c.label;
  }
}

TEST(LoginSession, AccountOptions) {
  EXPECT_EQ(check_account_options("", false), "");
  EXPECT_NE(check_account_options("disableimap=1", true), "");
  EXPECT_NE(check_account_options("group=x,disableinsecureimap=1", false), "");
  EXPECT_EQ(check_account_options("group=x,disableinsecureimap=1", true), "");
  EXPECT_EQ(check_account_options("disableimap=0", false), "");
}

}  // namespace
}  // namespace imapd
