// courierd/privileges.hpp: switching the scheduler to the mail user.
#pragma once

#include <string>
#include <sys/types.h>

#include "lib/result.hpp"

namespace courierd {

struct MailUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// Looks up MAILUSER (and MAILGROUP, when given); errors name the setting and the fix.
lib::Result<MailUser> find_mail_user(const std::string& user, const std::string& group);
// Becomes the mail user through lib::drop_privileges (no supplementary groups but its
// gid; aborts if root could be regained). A no-op when not root.
lib::Result<void> drop_to(const MailUser& user);

}  // namespace courierd
