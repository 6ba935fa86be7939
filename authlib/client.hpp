// authlib/client.hpp: the client side of authdaemond, for imapd, pop3d,
// esmtpd, maildrop, courierd and the tools.
//
//   auto r = authlib::authenticate_login(opts, "imap", user, password);
//   if (r.status == authlib::AuthStatus::ok) authlib::become_account(r.account, env);
//
// Every failure says what failed: the socket path and whether authdaemond is
// down, "rejected" (no such account or wrong password) apart from
// "temporary" (authdaemond or its backend cannot answer now, see its log).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "authlib/module.hpp"
#include "authlib/sasl.hpp"
#include "lib/result.hpp"
#include "lib/secret.hpp"

namespace authlib {

struct ClientOptions {
  std::string socket_path;  // empty: default_socket_path()
  std::chrono::milliseconds timeout{60000};
  std::string remote_ip;    // sent as TCPREMOTEIP= metadata when set
  // Ask for a one-time login ticket with a successful AUTH or PRE
  // (authlib/tickets.hpp): the login child of imaplogin/pop3login.
  bool want_ticket = false;
};

// $AUTHDAEMON_SOCKET, else authdaemonvar from SYSCONFDIR/authdaemonrc, else
// LOCALSTATEDIR/authdaemon; "/socket" appended to the directory.
std::string default_socket_path();

enum class AuthStatus { ok, rejected, temporary };

struct AuthResult {
  AuthStatus status = AuthStatus::temporary;
  Account account;    // when ok
  std::string error;  // when not ok: for the log and the admin
  std::string ticket; // when ok and asked for (ClientOptions::want_ticket)
};

// PRE: looks the account up without a password.
AuthResult lookup_account(const ClientOptions& options, std::string_view service, std::string_view user);
// AUTH with authtype login (what PLAIN and LOGIN end in).
AuthResult authenticate_login(const ClientOptions& options, std::string_view service, std::string_view user,
                              const lib::Secret& password);
// AUTH with a CRAM exchange: the challenge the service sent and the client's
// response, both base64 as on the wire.
AuthResult authenticate_cram(const ClientOptions& options, std::string_view service, sasl::CramHash hash,
                             std::string_view challenge_b64, std::string_view response_b64);
// REDEEM (root only): the account a login ticket stands for, and in `login`
// the name the client logged in with. Rejected: the ticket is forged, used,
// expired or for another service (authdaemond's log says which).
AuthResult redeem_ticket(const ClientOptions& options, std::string_view service, std::string_view ticket,
                         std::string& login);
// PASSWD.
AuthResult change_password(const ClientOptions& options, std::string_view service, std::string_view user,
                           const lib::Secret& old_password, const lib::Secret& new_password);
// ENUMERATE: calls fn per account.
AuthResult enumerate_accounts(const ClientOptions& options, const std::function<void(const Account&)>& fn);

// The environment a mail process gets for the account: AUTHENTICATED (the
// login name), AUTHADDR, AUTHFULLNAME, HOME, MAILDIR, MAILDIRQUOTA, OPTIONS.
std::vector<std::string> account_environment(const Account& account, std::string_view login);

// Switches this process to the account: supplementary groups, gid, uid, then
// chdir to its home. Run as an ordinary user, switching to one's own uid is a
// no-op and another uid fails, naming both. Each failure names what failed:
// "home directory /home/x of alice does not exist", "setuid(5000) for alice:
// Operation not permitted", "the account alice maps to uid 0 (root)".
lib::Result<void> become_account(const Account& account, std::string_view login);

}  // namespace authlib
