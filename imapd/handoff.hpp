// imapd/handoff.hpp: what imaplogin hands imapd across execve(), in the
// environment, as Courier's imaplogin does (COURIER-COMPAT.md):
//
//   AUTHENTICATED=<login>  HOME=  AUTHADDR=  AUTHFULLNAME=  MAILDIR=
//   MAILDIRQUOTA=  OPTIONS=   (authlib::account_environment)
//   IMAPLOGINTAG=<tag>        the LOGIN/AUTHENTICATE tag: imapd sends its tagged OK
//   IMAP_TLS=1                the connection is encrypted (couriertls in front)
//   IMAPLOGINPIPELINED=<b64>  what the client sent behind its login command,
//                             already read by imaplogin: imapd reads it first
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
  std::string pipelined; // IMAPLOGINPIPELINED, decoded: at most max_pipelined_bytes

  // imaplogin's read buffer (a 64 KiB line and its CRLF) bounds it; base64
  // keeps the variable under Linux's 128 KiB limit for one string.
  static constexpr size_t max_pipelined_bytes = 64 * 1024 + 2;

  // imaplogin's side, after a login.
  static Handoff after_login(const authlib::Account& account, std::string login, std::string tag, bool tls);
  // NAME=value strings, to be put over the inherited environment.
  std::vector<std::string> to_environment() const;
  // imapd's side. Error (permanent, for the log) without AUTHENTICATED: imapd
  // was not started by imaplogin; or IMAPLOGINPIPELINED that is not base64 of
  // at most max_pipelined_bytes.
  static lib::Result<Handoff> from_environment(char** envp);
};

// What imaplogin puts in imapd's environment unless GLIBC_TUNABLES is set
// already: no per-thread cache of freed chunks in glibc's malloc (idle
// memory, issue 16; see imaplogin_main.cpp).
inline constexpr const char* imapd_malloc_tunables = "GLIBC_TUNABLES=glibc.malloc.tcache_count=0";

// The environment for execve(): `inherited` with every variable of `over`
// replacing the one of the same name.
std::vector<std::string> merge_environment(char** inherited, const std::vector<std::string>& over);

}  // namespace imapd
