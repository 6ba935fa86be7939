// imapd/handoff.hpp: what imaplogin hands imapd across execve(), in the
// environment, as Courier's imaplogin does (COURIER-COMPAT.md):
//
//   AUTHENTICATED=<login>  HOME=  AUTHADDR=  AUTHFULLNAME=  MAILDIR=
//   MAILDIRQUOTA=  OPTIONS=   (authlib::account_environment)
//   IMAPLOGINTAG=<tag>        the LOGIN/AUTHENTICATE tag: imapd sends its tagged OK
//   IMAP_TLS=1                the connection is encrypted (couriertls in front)
//
// Both ends use this one codec, as authlib/protocol.hpp is for authdaemond.
#pragma once

#include <string>
#include <vector>

#include "authlib/module.hpp"
#include "lib/result.hpp"

namespace imapd {

struct Handoff {
  std::string login;     // AUTHENTICATED: the name the client logged in with (after DEFDOMAIN)
  std::string tag;       // IMAPLOGINTAG
  std::string home;      // HOME
  std::string address;   // AUTHADDR
  std::string fullname;  // AUTHFULLNAME
  std::string maildir;   // MAILDIR: empty when the account names none (MAILDIRPATH then)
  std::string quota;     // MAILDIRQUOTA
  std::string options;   // OPTIONS
  bool tls = false;      // IMAP_TLS=1

  // imaplogin's side, after a login.
  static Handoff after_login(const authlib::Account& account, std::string login, std::string tag, bool tls);
  // NAME=value strings, to be put over the inherited environment.
  std::vector<std::string> to_environment() const;
  // imapd's side. Error (permanent, for the log) without AUTHENTICATED: imapd
  // was not started by imaplogin.
  static lib::Result<Handoff> from_environment(char** envp);
};

// The environment for execve(): `inherited` with every variable of `over`
// replacing the one of the same name.
std::vector<std::string> merge_environment(char** inherited, const std::vector<std::string>& over);

}  // namespace imapd
