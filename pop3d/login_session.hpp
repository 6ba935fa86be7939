// pop3d/login_session.hpp: the AUTHORIZATION state of POP3 (RFC 1939
// section 4), as pop3login speaks it: greeting, CAPA (RFC 2449), USER/PASS,
// AUTH with PLAIN, LOGIN, CRAM-MD5/SHA1/SHA256 and EXTERNAL (RFC 5034,
// RFC 4422), STLS (RFC 2595), UTF8 (RFC 6856), QUIT.
//
// SECURITY: everything here is read from an unauthenticated peer. Lines are
// bounded (max_login_line_bytes), each read has a deadline, failed logins
// are delayed and capped, invalid commands are capped, passwords only live in
// lib::Secret and are never logged. The session never writes the socket
// from a handler: handlers return what to send (STYLE.md 4).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authlib/client.hpp"
#include "authlib/sasl_server.hpp"
#include "lib/io.hpp"
#include "lib/result.hpp"
#include "lib/secret.hpp"
#include "lib/unique_fd.hpp"
#include "pop3d/command.hpp"
#include "pop3d/settings.hpp"

namespace pop3d {

// A login line may carry a SASL initial response or answer (PLAIN with a
// 1024-byte password and two 512-byte identities is about 2.8 KB of base64).
inline constexpr size_t max_login_line_bytes = 8192;
// Invalid commands in a row before the connection is closed.
inline constexpr int max_consecutive_errors = 20;
// Commands before login at all: CAPA loops and the like end here.
inline constexpr int max_login_commands = 200;

// Asks authdaemond (or a test's stand-in) about accounts; the real one is
// authlib's client (authlib/sasl_server.hpp).
using Authenticator = authlib::Authenticator;
using DaemonAuthenticator = authlib::DaemonAuthenticator;

// What STLS yields: the descriptor that now carries the plaintext side of the
// TLS connection, and the client certificate's identity for EXTERNAL
// (TLS_SUBJECT_<TLS_EXTERNAL field>), empty without one.
struct TlsStarted {
  lib::UniqueFd plaintext;
  std::string external_identity;
};
// Runs the TLS handshake on socket_fd (after "+OK Begin..." was sent).
using TlsStarter = std::function<lib::Result<TlsStarted>(int socket_fd)>;
// Waits after a failed login; tests pass one that only records.
using Sleeper = std::function<void(std::chrono::seconds)>;

struct LoginSuccess {
  authlib::Account account;
  std::string login;   // the login name, after DEFDOMAIN (AUTHENTICATED)
  std::string method;  // "USER", "PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL"...
};

enum class LoginEnd {
  logged_in,       // run() returned the account
  quit,            // QUIT
  disconnected,    // EOF or a read/write error
  timeout,         // no command within the login timeout
  too_many_failures,
  too_many_errors,
  temporary_failure,  // authdaemond could not answer: try again later
  tls_failed,
};
std::string_view login_end_text(LoginEnd end) noexcept;

class LoginSession {
 public:
  // tls may be empty (STLS is then never offered). The session does not own
  // the descriptors.
  LoginSession(LoginSettings settings, Authenticator& auth, TlsStarter tls, Sleeper sleep);
  LoginSession(const LoginSession&) = delete;
  LoginSession& operator=(const LoginSession&) = delete;

  // Sends the greeting and serves commands on in_fd/out_fd until a login
  // succeeds (the account is returned; the reply to the login command is
  // left to pop3d, which sends it once the mailbox is open) or the session
  // ends (nullopt; see end()).
  std::optional<LoginSuccess> run(int in_fd, int out_fd);

  LoginEnd end() const { return end_; }
  // After STLS: the plaintext descriptor, which replaces in_fd and out_fd.
  // -1 without STLS.
  int tls_fd() const { return tls_fd_.get(); }
  // Gives up ownership of tls_fd() (to hand it to pop3d as fd 0 and 1).
  lib::UniqueFd release_tls_fd() { return std::move(tls_fd_); }
  bool tls_active() const { return settings_.tls_active; }
  bool utf8() const { return utf8_; }
  // Bytes the client sent after its successful login command (PIPELINING,
  // RFC 2449 section 6.6): pop3d must read them first.
  const std::string& pipelined_input() const { return pipelined_; }
  int failures() const { return failures_; }

 private:
  enum class Step { next, close, logged_in };
  using Handler = Step (LoginSession::*)(const Command&);

  Step dispatch(const Command& cmd);
  Step cmd_user(const Command& cmd);
  Step cmd_pass(const Command& cmd);
  Step cmd_auth(const Command& cmd);
  Step cmd_stls(const Command& cmd);
  Step cmd_capa(const Command& cmd);
  Step cmd_quit(const Command& cmd);
  Step cmd_utf8(const Command& cmd);
  Step cmd_apop(const Command& cmd);

  class SaslLines;  // the authlib::SaslTransport of AUTH: "+ <b64>" out, one line in

  // Sends "+ <challenge>" and reads the client's answer. nullopt: the
  // connection ended (end_ is set).
  std::optional<std::string> exchange(std::string_view challenge_b64);
  // Checks the authdaemond answer, the account options, and either
  // succeeds or fails the login.
  Step finish(const authlib::AuthResult& result, const std::string& login, std::string_view method);
  Step fail(std::string_view reply_text, const std::string& user, std::string_view method,
            std::string_view reason, bool delay);
  Step temporary(const std::string& user, std::string_view method, const std::string& error);

  void send(std::string_view line);
  void start_io(int in_fd, int out_fd);
  std::string peer_text() const;

  LoginSettings settings_;
  Authenticator& auth_;
  TlsStarter tls_;
  Sleeper sleep_;
  std::unique_ptr<lib::io::Reader> reader_;
  std::unique_ptr<lib::io::Writer> writer_;
  lib::UniqueFd tls_fd_;
  std::optional<std::string> user_;  // after USER
  std::optional<LoginSuccess> success_;
  std::string pipelined_;
  LoginEnd end_ = LoginEnd::disconnected;
  int failures_ = 0;
  bool utf8_ = false;
  bool proxy_warned_ = false;
};

}  // namespace pop3d
