// authlib/sasl_server.hpp: the server side of one SASL exchange (RFC 4422),
// the one copy imapd (AUTHENTICATE), pop3d (AUTH) and esmtpd (AUTH) share.
//
// The protocol parses its command, then hands the mechanism name and the
// optional initial response here, with a transport that knows how its
// protocol writes a challenge and reads an answer:
//
//   class SmtpTransport final : public authlib::SaslTransport {
//     void send_challenge(std::string_view b64) override { out.write("334 " + b64 + "\r\n"); }
//     std::optional<std::string> read_response() override { ...one line, nullopt on EOF/timeout... }
//   };
//   authlib::SaslRequest req;
//   req.mechanism = "PLAIN";                 // as the client wrote it, any case
//   req.initial_response = "AGFsaWNlAHNlY3JldA==";  // AUTH PLAIN <ir>; "=" is an empty one
//   req.offered = {Mechanism::plain, Mechanism::login};   // what EHLO announced now
//   req.service = "esmtp";                   // selects esmtppw fields in authdaemond
//   req.hostname = "mail.example.com";       // for CRAM challenges
//   authlib::DaemonAuthenticator daemon(client_options);
//   SmtpTransport t;
//   authlib::SaslOutcome o = authlib::run_sasl_exchange(req, t, daemon);
//   switch (o.status) {
//     case SaslStatus::authenticated:  235, o.user is the login name, o.account the account
//     case SaslStatus::rejected:       535 5.7.8, count a failure, log o.reason
//     case SaslStatus::malformed:      501 5.5.2 (o.reason is sasl::problem_text), count a failure
//     case SaslStatus::authorization_refused: 535, count a failure
//     case SaslStatus::cancelled:      501 5.7.0 "Authentication cancelled" (RFC 4954 4)
//     case SaslStatus::not_offered:    504 5.5.4 unrecognized mechanism
//     case SaslStatus::initial_response_refused: 501 (CRAM takes none)
//     case SaslStatus::temporary_failure: 454 4.7.0, log o.reason (authdaemond down...)
//     case SaslStatus::connection_lost: end the session
//   }
//
// What this does: picks the mechanism (case-insensitively; it must be in
// `offered`, and EXTERNAL also needs an external_identity), decodes and
// checks every client message with authlib/sasl.hpp (strict base64, size
// limits, PLAIN/LOGIN/CRAM/EXTERNAL syntax), treats a "*" line as a cancel
// (RFC 4422 3.5), applies qualify_user (DEFDOMAIN) to the user name, and
// asks authdaemond through the Authenticator: AUTH login for PLAIN and
// LOGIN, AUTH cram-* for CRAM (the response rebuilt with the qualified name
// when qualify_user changed it), PRE (a lookup) for EXTERNAL, where the TLS
// certificate is the proof. Proxy authorization is not supported: an
// authorization identity other than the login name is refused.
//
// What the caller does: all replies (tagged OK/NO/BAD, +OK/-ERR, 235/535),
// counting failures and the delay after one, logging (o.reason never holds a
// password), account OPTIONS such as disableimap, and the TLS requirement.
//
// SECURITY: everything here comes from an unauthenticated peer. Passwords
// only live in lib::Secret and never reach SaslOutcome.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authlib/client.hpp"
#include "authlib/sasl.hpp"
#include "lib/secret.hpp"

namespace authlib {

// How a protocol carries the exchange. One object per exchange.
class SaslTransport {
 public:
  virtual ~SaslTransport() = default;
  // Sends one server challenge, given as base64 text (empty for an empty
  // challenge): IMAP "+ <b64>\r\n", POP3 "+ <b64>\r\n", SMTP "334 <b64>\r\n".
  virtual void send_challenge(std::string_view challenge_b64) = 0;
  // Reads the client's answer: one line without its CRLF. nullopt when no
  // answer can come (EOF, timeout, write error): the exchange then ends with
  // connection_lost and nothing more is sent. A transport that wants a line
  // it could not read whole (too long, bare CR) to count as a malformed
  // response returns something that is not base64 instead.
  virtual std::optional<std::string> read_response() = 0;
};

// Asks authdaemond (or a test's stand-in) about accounts.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // AUTH with authtype login (what PLAIN and LOGIN end in).
  virtual AuthResult login(std::string_view service, std::string_view user, const lib::Secret& password) = 0;
  // AUTH with a CRAM exchange, both fields base64 as on the wire.
  virtual AuthResult cram(std::string_view service, sasl::CramHash hash, std::string_view challenge_b64,
                          std::string_view response_b64) = 0;
  // PRE: a lookup without a secret, for EXTERNAL (the certificate is the proof).
  virtual AuthResult lookup(std::string_view service, std::string_view user) = 0;
};

// The real one: authlib's client library (client.hpp), talking to authdaemond.
class DaemonAuthenticator final : public Authenticator {
 public:
  explicit DaemonAuthenticator(ClientOptions options) : options_(std::move(options)) {}
  AuthResult login(std::string_view service, std::string_view user, const lib::Secret& password) override;
  AuthResult cram(std::string_view service, sasl::CramHash hash, std::string_view challenge_b64,
                  std::string_view response_b64) override;
  AuthResult lookup(std::string_view service, std::string_view user) override;

 private:
  ClientOptions options_;
};

// The views must stay valid during run_sasl_exchange() (they usually point
// into the command line the protocol parsed).
struct SaslRequest {
  // The mechanism as the client named it ("plain", "CRAM-MD5"...).
  std::string_view mechanism;
  // The initial response given with the command (SASL-IR, AUTH PLAIN <ir>):
  // nullopt when there was none, "=" for an empty one (RFC 4954 4).
  std::optional<std::string_view> initial_response;
  // The mechanisms allowed in this state (what CAPABILITY/CAPA/EHLO showed).
  std::vector<sasl::Mechanism> offered;
  // The identity of a verified TLS client certificate; EXTERNAL is refused
  // as not offered without one, even when listed in `offered`.
  std::string_view external_identity;
  // The authdaemond service: "imap", "pop3", "esmtp".
  std::string_view service;
  // The server's host name, for CRAM challenges "<random.time@hostname>".
  std::string_view hostname;
  // Maps the client's user name to the login name (DEFDOMAIN); empty: as given.
  // Not applied to the EXTERNAL identity.
  std::function<std::string(std::string_view user)> qualify_user;
};

enum class SaslStatus {
  authenticated,             // account and user are set
  rejected,                  // no such account or wrong password (authdaemond said so)
  temporary_failure,         // authdaemond unavailable, or no CRAM challenge could be made
  cancelled,                 // the client answered "*"
  malformed,                 // a client message broke the syntax; reason is sasl::problem_text
  authorization_refused,     // an authorization identity other than the login name
  not_offered,               // unknown mechanism, or not allowed in this state
  initial_response_refused,  // an initial response to a mechanism that takes none (CRAM)
  connection_lost,           // read_response() returned nullopt
};

struct SaslOutcome {
  SaslStatus status = SaslStatus::connection_lost;
  std::string mechanism;  // canonical name ("PLAIN"), empty when unknown
  std::string user;       // the login name (after qualify_user) once known, else empty
  Account account;        // when authenticated: authdaemond's answer
  std::optional<sasl::Problem> problem;  // when malformed
  std::string reason;     // for the log, never a password: authdaemond's error, the problem text...
};

// Runs one exchange: zero or more challenge/response rounds on transport,
// then one question to auth. Never throws for client input.
SaslOutcome run_sasl_exchange(const SaslRequest& request, SaslTransport& transport, Authenticator& auth);

// "rejected", "malformed"...: for logs and tests.
std::string_view sasl_status_name(SaslStatus status) noexcept;

}  // namespace authlib
