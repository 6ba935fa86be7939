// tls/starttls.hpp: STARTTLS (RFC 3501 section 6.2.1, RFC 2595 section 4,
// RFC 3207) for a service that already talks plaintext on a socket, in
// Courier's way: couriertls takes over the socket and the service goes on
// with a plaintext socketpair, so the login process can later exec the mail
// process (imapd, pop3d) on the same descriptors without losing the session.
//
// How imaplogin (and pop3login with STLS) uses it, after reading the
// STARTTLS command line:
//
//   1. Reply "a001 OK Begin TLS negotiation now" and flush it, then DISCARD
//      every byte already buffered after the STARTTLS line (RFC 3207 section 6,
//      CVE-2011-0411: plaintext sent before the handshake must not be taken as
//      commands from the secured session).
//   2. auto fd = tls::start_tls(0);   // the socket is on fds 0 and 1
//      On error: log fd.error().message and end the session (the client is gone
//      or spoke no TLS; there is nothing left to reply on).
//   3. dup2(*fd, 0); dup2(*fd, 1); close(*fd);  then recreate the reader and
//      writer on fds 0/1. The TLS variables (TLS_CONNECTED_PROTOCOL, and
//      TLS_SUBJECT_* for a verified client certificate) are now in this
//      process's environment, so SASL EXTERNAL (TLS_EXTERNAL) works as after
//      an implicit-TLS connection, and an exec'ed imapd inherits them.
//   4. Forget the pre-TLS state (RFC 3501 section 6.2.1: capabilities again).
//
// couriertls reads the TLS_* settings from the environment, which the start
// script filled from imapd-ssl (TLS_CERTFILE...). It runs detached (a
// grandchild, so the caller never reaps it) until the service closes its end.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace tls {

// couriertls started on a socket, its handshake not yet awaited: the
// plaintext end and the read ends of its -statusfd and -envfd reports.
struct SpawnedTls {
  int plain = -1, status = -1, env = -1;  // owned: closed by start_tls
};

struct StartTlsOptions {
  // couriertls to run. Empty: $COURIERTLS (Courier's setting in imapd-ssl and
  // esmtpd), else BINDIR/couriertls.
  std::string couriertls;
  // The whole handshake must finish within this time.
  std::chrono::milliseconds timeout{60000};
  // Put the TLS_* variables into this process's environment (setenv).
  bool set_environment = true;
  // The account couriertls runs as when started by root (-user=); empty: the
  // mail user (lib::mail_user_name(): $MAILUSER, else configure's default).
  // TLS never runs as root (DESIGN.md, Privileges).
  std::string user;
  // When set, starts couriertls instead of forking it here: imaplogin's and
  // pop3login's unprivileged child asks its root parent, which reads the
  // keys as root (spawn_couriertls) and passes the descriptors back.
  std::function<lib::Result<SpawnedTls>(int socket_fd)> spawn;
};

struct StartTlsInfo {
  // What couriertls reported: TLS_CONNECTED_PROTOCOL and TLS_SUBJECT_*.
  std::vector<std::pair<std::string, std::string>> environment;
};

// Runs the server side of a TLS handshake on socket_fd through couriertls
// (-server -remotefd -localfd -statusfd -envfd) and returns the plaintext
// descriptor (a socketpair end, close-on-exec clear so it survives exec after
// the caller dup2()s it). socket_fd is left open: the caller closes or
// overwrites it. Errors: couriertls cannot be run (permanent, names the path
// and the fix), its settings are wrong (permanent, couriertls's message, e.g.
// "TLS_CERTFILE=...: the file does not exist..."), the handshake failed or
// timed out (permanent, the reason).
lib::Result<int> start_tls(int socket_fd, const StartTlsOptions& options = {}, StartTlsInfo* info = nullptr);

// The first half of start_tls: runs couriertls (detached) on socket_fd and
// returns its descriptors, without waiting for the handshake. Only
// options.couriertls and options.user are used.
lib::Result<SpawnedTls> spawn_couriertls(int socket_fd, const StartTlsOptions& options = {});

// For imaplogin's and pop3login's two processes (authlib/login_handover.hpp):
// the root parent's spawn_couriertls (failures logged) as three owned
// descriptors (plaintext, status, env) to pass to the child, and the child's
// StartTlsOptions::spawn from a function that fetches those descriptors.
using FetchTlsFds = std::function<lib::Result<std::vector<lib::UniqueFd>>(int socket_fd)>;
lib::Result<std::vector<lib::UniqueFd>> spawn_couriertls_fds(int socket_fd);
std::function<lib::Result<SpawnedTls>(int socket_fd)> spawn_via(FetchTlsFds fetch);

}  // namespace tls
