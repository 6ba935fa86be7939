// courierd/privileges.cpp: see privileges.hpp.
#include "courierd/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>

namespace courierd {

lib::Result<MailUser> find_mail_user(const std::string& user, const std::string& group) {
  MailUser m;
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw)
    return lib::permanent_error("MAILUSER=" + user + ": no such user; create it (useradd --system " + user +
                                ") or set MAILUSER in the courierd configuration file");
  m.uid = pw->pw_uid;
  m.gid = pw->pw_gid;
  m.name = pw->pw_name;
  if (!group.empty()) {
    struct group* gr = ::getgrnam(group.c_str());
    if (!gr) return lib::permanent_error("MAILGROUP=" + group + ": no such group");
    m.gid = gr->gr_gid;
  }
  if (m.uid == 0) return lib::permanent_error("MAILUSER=" + user + " is root: name an unprivileged account");
  return m;
}

lib::Result<void> drop_to(const MailUser& m) {
  if (::geteuid() != 0) return {};
  if (::setgroups(1, &m.gid) != 0) return lib::permanent_error("setgroups: " + lib::errno_text(errno));
  if (::setgid(m.gid) != 0)
    return lib::permanent_error("setgid(" + std::to_string(m.gid) + "): " + lib::errno_text(errno));
  if (::setuid(m.uid) != 0)
    return lib::permanent_error("setuid(" + std::to_string(m.uid) + "): " + lib::errno_text(errno));
  if (::setuid(0) == 0) return lib::permanent_error("could still regain root after setuid; refusing to run");
  return {};
}

}  // namespace courierd
