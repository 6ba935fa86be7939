// lib/privileges.cpp: see privileges.hpp.
#include "lib/privileges.hpp"

#include <cerrno>
#include <cstdlib>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "lib/log.hpp"

#ifndef MAILUSER
#define MAILUSER "courier"
#endif

namespace lib {

namespace {

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

[[noreturn]] void still_privileged(const Identity& who, const char* what) {
  lib::log::error("dropping privileges to %s (uid %u gid %u) failed the check: %s; aborting", who.name.c_str(),
                  static_cast<unsigned>(who.uid), static_cast<unsigned>(who.gid), what);
  std::abort();
}

// After the switch: every id is the target's, and root's cannot come back.
void verify(const Identity& who) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0) still_privileged(who, "getresuid failed");
  if (ru != who.uid || eu != who.uid || su != who.uid) still_privileged(who, "a real, effective or saved uid differs");
  if (rg != who.gid || eg != who.gid || sg != who.gid) still_privileged(who, "a real, effective or saved gid differs");
  if (who.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) still_privileged(who, "setuid(0) succeeded");
  if (who.gid != 0 && (::setgid(0) == 0 || ::setegid(0) == 0)) still_privileged(who, "setgid(0) succeeded");
  if (who.initgroups_name.empty()) {
    gid_t groups[2];
    int n = ::getgroups(2, groups);
    if (n < 0 || n > 1 || (n == 1 && groups[0] != who.gid)) still_privileged(who, "supplementary groups remain");
  }
}

}  // namespace

Result<Identity> resolve_identity(const std::string& user, const std::string& group) {
  Identity id;
  id.uid = ::geteuid();
  id.gid = ::getegid();
  id.name = "uid " + std::to_string(id.uid);
  bool have_gid = false;
  if (!group.empty()) {
    if (all_digits(group)) {
      id.gid = static_cast<gid_t>(std::stoul(group));
    } else {
      struct group* gr = ::getgrnam(group.c_str());
      if (!gr) return permanent_error("-group=" + group + ": no such group: create it (groupadd -r " + group +
                                      ") or name another");
      id.gid = gr->gr_gid;
    }
    have_gid = true;
  }
  if (!user.empty()) {
    struct passwd* pw = all_digits(user) ? ::getpwuid(static_cast<uid_t>(std::stoul(user))) : ::getpwnam(user.c_str());
    if (pw) {
      id.uid = pw->pw_uid;
      id.name = pw->pw_name;
      if (!have_gid) id.gid = pw->pw_gid;
    } else if (all_digits(user)) {
      id.uid = static_cast<uid_t>(std::stoul(user));
      id.name = "uid " + user;
    } else {
      return permanent_error("-user=" + user + ": no such account: create it (useradd -r " + user +
                             ") or name another");
    }
  }
  return id;
}

std::string mail_user_name() {
  const char* env = std::getenv("MAILUSER");
  return env && *env ? env : MAILUSER;
}

Result<Identity> mail_user() {
  std::string name = mail_user_name();
  auto id = resolve_identity(name, "");
  if (!id) return permanent_error("the mail user " + name + " (MAILUSER) does not exist: create it (useradd -r " + name +
                                  ") or set MAILUSER in the service's configuration");
  return id;
}

Result<void> drop_privileges(const Identity& who, NotRoot not_root) {
  if (::geteuid() != 0) {
    if (who.uid == ::geteuid() && who.gid == ::getegid()) return {};
    if (not_root == NotRoot::keep_going) {
      lib::log::warning("not switching to %s: not running as root (running as uid %u)", who.name.c_str(),
                        static_cast<unsigned>(::geteuid()));
      return {};
    }
    return permanent_error("cannot switch to " + who.name + " (uid " + std::to_string(who.uid) + " gid " +
                           std::to_string(who.gid) + "): only root can, and this process runs as uid " +
                           std::to_string(::geteuid()) + " gid " + std::to_string(::getegid()));
  }
  int rc = who.initgroups_name.empty() ? ::setgroups(1, &who.gid) : ::initgroups(who.initgroups_name.c_str(), who.gid);
  if (rc != 0) return permanent_error("setting the groups of " + who.name + ": " + errno_text(errno));
  if (::setresgid(who.gid, who.gid, who.gid) != 0)
    return permanent_error("setgid(" + std::to_string(who.gid) + ") for " + who.name + ": " + errno_text(errno));
  if (::setresuid(who.uid, who.uid, who.uid) != 0)
    return permanent_error("setuid(" + std::to_string(who.uid) + ") for " + who.name + ": " + errno_text(errno));
  verify(who);
  return {};
}

Result<void> refuse_root(const std::string& program) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0)
    return permanent_error(program + ": getresuid: " + errno_text(errno));
  if (ru == 0 || eu == 0 || su == 0)
    return permanent_error(program + " refuses to run as root (uid 0): mail is never accessed as root");
  if (rg == 0 || eg == 0 || sg == 0)
    return permanent_error(program + " refuses to run with group root (gid 0): give the account another gid");
  return {};
}

}  // namespace lib
