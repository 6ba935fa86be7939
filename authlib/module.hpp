// authlib/module.hpp: what an authentication module (authuserdb, authpwd,
// authshadow, authpam, authldap, authpgsql) answers to authdaemond.
//
// authdaemond tries the modules in the order of authmodulelist. A module's
// answer is one of three (Courier's semantics):
//   ok         the account (and, for AUTH, its secret) checks out: stop here;
//   rejected   no such account here, or the secret is wrong: try the next module;
//   temporary  the backend cannot answer now (server down, timeout): stop the
//              chain and report a temporary failure, so the client is told to
//              come back later instead of "wrong password".
// Every answer carries a reason for the log, naming what failed and how to
// fix it. A reason never contains a password.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "authlib/sasl.hpp"
#include "lib/config.hpp"
#include "lib/result.hpp"
#include "lib/secret.hpp"

namespace authlib {

// An account as the authdaemon protocol describes it (COURIER-COMPAT.md, 7).
struct Account {
  std::string username;          // USERNAME=: a system account to take uid/gid from, if no uid
  std::optional<uid_t> uid;      // UID=
  gid_t gid = 0;                 // GID=
  std::string home;              // HOME=
  std::string address;           // ADDRESS=: the login name, as the services know it
  std::string fullname;          // NAME=
  std::string maildir;           // MAILDIR=: empty means $HOME/Maildir
  std::string quota;             // QUOTA=: Maildir++ quota, "nnnS,nnnC"
  std::string options;           // OPTIONS=: "disableimap=1,group=staff"
  std::string crypted_password;  // PASSWD= (never sent to clients; see protocol.hpp)
  lib::Secret clear_password;    // PASSWD2= (never sent to clients)
};

enum class Outcome { ok, rejected, temporary };

struct ModuleReply {
  Outcome outcome = Outcome::rejected;
  Account account;     // valid when outcome == ok
  std::string reason;  // for the log: "no such account", "LDAP server ... unreachable: ..."

  static ModuleReply found(Account a) { return {Outcome::ok, std::move(a), {}}; }
  static ModuleReply reject(std::string why) { return {Outcome::rejected, {}, std::move(why)}; }
  static ModuleReply temporary(std::string why) { return {Outcome::temporary, {}, std::move(why)}; }
};

// An AUTH request, decoded from the authdaemon protocol.
struct AuthRequest {
  std::string service;                     // "imap", "pop3", "esmtp", "imaps", ...
  std::string user;                        // the login name (for CRAM: from the response)
  lib::Secret password;                    // authtype "login" only
  std::optional<sasl::CramExchange> cram;  // authtype "cram-md5/sha1/sha256" only:
                                           // verify with sasl::verify_cram(*cram, secret)
                                           // or sasl::verify_cram_precomputed
};

// What every module gets at construction: authdaemonrc and where the other
// configuration files live (authldaprc, authpgsqlrc, userdb.dat ...).
struct ModuleContext {
  const lib::Config& authdaemonrc;
  std::string sysconfdir;
};

class Module {
 public:
  virtual ~Module() = default;

  // The name used in authmodulelist and in log lines, e.g. "authuserdb".
  virtual std::string_view name() const = 0;

  // PRE: the account of user for service, without checking a secret.
  virtual ModuleReply lookup(std::string_view user, std::string_view service) = 0;

  // AUTH: checks the secret. The default looks the account up and checks the
  // password against its PASSWD= (any scheme authlib/password.hpp knows) or
  // PASSWD2=; for CRAM it needs PASSWD2=. Modules that check secrets
  // elsewhere (PAM, LDAP bind, userdb's per-service passwords) override it.
  virtual ModuleReply authenticate(const AuthRequest& request);

  // PASSWD: changes the password. The default rejects: "this module cannot
  // change passwords".
  virtual ModuleReply change_password(std::string_view service, std::string_view user,
                                      const lib::Secret& old_password, const lib::Secret& new_password);

  // ENUMERATE: calls fn for every account the module can list. The default
  // lists nothing.
  virtual lib::Result<void> enumerate(const std::function<void(const Account&)>& fn);
};

// Checks request's secret against a looked-up account (the default
// authenticate() uses it; modules may too). Returns ok with the account, or
// rejected with the reason ("wrong password", "account has no password").
ModuleReply check_secret(const AuthRequest& request, Account account);

// Creates a module by its authmodulelist name. Unknown names and modules left
// out of the build (configure --without-ldap) fail with a message that says so.
lib::Result<std::unique_ptr<Module>> make_module(std::string_view name, const ModuleContext& context);

}  // namespace authlib
