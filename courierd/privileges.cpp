// courierd/privileges.cpp: see privileges.hpp.
#include "courierd/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>

#include "lib/privileges.hpp"

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
  // The one way a program gives up root: it also verifies that neither root's
  // uid nor its gid (real, effective or saved) can be regained.
  return lib::drop_privileges(lib::Identity{.uid = m.uid, .gid = m.gid, .name = m.name, .initgroups_name = {}});
}

}  // namespace courierd
