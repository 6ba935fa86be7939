// authlib/login_handover.hpp: imaplogin's and pop3login's two processes
// (DESIGN.md, Privileges; issue 14).
//
//   auto split = authlib::login::split("imaplogin");   // fork at once
//   child  (mail user, cwd an empty directory, no root): talks to the
//          client, logs in through authdaemond asking for a ticket, then
//          send_handover(channel, handover, client fds 0 and 1) and exits.
//   parent (root, holding no client descriptor; fds 0/1 are /dev/null):
//          receive_handover() waits for the child, validates what it sent,
//          redeems the ticket (authlib::redeem_ticket) and execs the mail
//          process as the account authdaemond names.
//
// The hand-over is one message on a Unix stream socketpair, ended by EOF, in
// a fixed and bounded form of records
//
//   <name> <decimal length>\n<length bytes>\n
//
// in this order: "handover" ("1"), "ticket" (64 hex digits), then any of
// "tag", "method", "utf8" ("0"/"1"), "starttls" ("0"/"1"), "tlsenv"
// (NAME=value, repeatable) and "pipelined" (raw bytes), then "end" (empty).
// With the first byte come the client's descriptors (SCM_RIGHTS: fd 0 and
// fd 1, the plaintext end after STARTTLS). Anything else is refused.
//
// Before it, once per session, the child may ask for STARTTLS: the byte "S"
// with the client's socket. The parent starts couriertls on it as root (so
// couriertls reads the keys before it drops to the mail user) and answers
// "T" with couriertls's three descriptors (tls::SpawnedTls: plaintext end,
// status and env reports, which the child reads), or "E" with none.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "authlib/sasl_server.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace authlib::login {

inline constexpr size_t max_ticket_bytes = 64;
inline constexpr size_t max_tag_bytes = 256;
inline constexpr size_t max_method_bytes = 64;
inline constexpr size_t max_tls_variables = 32;
inline constexpr size_t max_tls_variable_bytes = 1024;
inline constexpr size_t max_pipelined_bytes = 64 * 1024 + 2;  // imaplogin's read buffer: a line and CRLF
inline constexpr size_t max_handover_bytes = 128 * 1024;

struct Handover {
  std::string ticket;     // authdaemond's login ticket
  std::string tag;        // IMAP: the LOGIN/AUTHENTICATE tag
  std::string method;     // POP3: the login method (USER, PLAIN...)
  bool utf8 = false;      // POP3: UTF8 was given
  bool starttls = false;  // STARTTLS/STLS ran in the child
  std::vector<std::string> tls_environment;  // TLS_*=value couriertls reported
  std::string pipelined;  // what the client sent behind its login
};

std::string encode(const Handover& h);
// Errors (permanent) name the problem: "record 3: unknown name \"x\"",
// "ticket is not 64 lowercase hex digits", "oversized pipelined (70000 bytes,
// at most 65538)", "no end record", "bytes after the end record".
lib::Result<Handover> parse(std::string_view bytes);

struct Split {
  bool child = false;
  pid_t child_pid = -1;    // parent: the child
  lib::UniqueFd channel;   // child: to send; parent: to receive
};
// Forks. The child drops to the mail user (lib::mail_user(), no
// supplementary groups; not as root: stays who it is) and enters an empty
// directory. The parent keeps no client descriptor: fds 0 and 1 become
// /dev/null. A failure to fork or to drop is an error (log it, exit).
lib::Result<Split> split(const char* program);

// The child's side: the message and fds in_fd/out_fd. Errors: the parent is gone.
lib::Result<void> send_handover(int channel, const Handover& h, int in_fd, int out_fd);

struct Received {
  Handover handover;
  lib::UniqueFd in, out;  // the client: for fds 0 and 1
};
// The parent's side: reads to EOF (at most max_handover_bytes), reaps the
// child. nullopt: the child sent nothing (it ended the session itself, or
// died). Error: a malformed, oversized or fd-less message, named.
// on_starttls (may be empty: STARTTLS requests then end the session as
// malformed) starts couriertls on the client socket and returns its three
// descriptors.
using StartTlsServer = std::function<lib::Result<std::vector<lib::UniqueFd>>(int client_socket)>;
lib::Result<std::optional<Received>> receive_handover(int channel, pid_t child, const StartTlsServer& on_starttls = {});

// The child's side of STARTTLS: couriertls's three descriptors, from the parent.
lib::Result<std::vector<lib::UniqueFd>> request_starttls(int channel, int client_socket);
// The parent's side, whole: receive_handover(), then the client's
// descriptors onto fds 0 and 1. Errors as receive_handover's, prefixed for
// the log ("login child N (ip=[...]): hand-over dropped: ...").
lib::Result<std::optional<Handover>> take_over_client(int channel, pid_t child, const std::string& remote_ip,
                                                      const StartTlsServer& on_starttls = {});

// The child's authenticator: authdaemond asked for a ticket with every AUTH
// and PRE; ticket() is the one of the last answer (the session ends right
// after a successful login).
class TicketingAuthenticator final : public Authenticator {
 public:
  explicit TicketingAuthenticator(ClientOptions options);
  AuthResult login(std::string_view service, std::string_view user, const lib::Secret& password) override;
  AuthResult cram(std::string_view service, sasl::CramHash hash, std::string_view challenge_b64,
                  std::string_view response_b64) override;
  AuthResult lookup(std::string_view service, std::string_view user) override;
  const std::string& ticket() const { return ticket_; }

 private:
  AuthResult keep(AuthResult r);
  DaemonAuthenticator inner_;
  std::string ticket_;
};

// Where the child waits: LOCALSTATEDIR/empty, else /var/empty, else /.
const char* empty_directory();

}  // namespace authlib::login
