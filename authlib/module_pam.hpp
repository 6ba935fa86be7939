// authlib/module_pam.hpp: authpam, passwords checked by Linux-PAM, account
// data (uid, gid, home) from the system account database.
//
// The PAM service is the mail service's name (imap, pop3, esmtp, ...) as in
// Courier, unless authdaemonrc sets AUTHPAM_SERVICE (every service) or
// AUTHPAM_SERVICE_<service> (one service, e.g. AUTHPAM_SERVICE_imap=mail).
#pragma once

#include <memory>

#include "authlib/module.hpp"

namespace authlib {

lib::Result<std::unique_ptr<Module>> make_pam_module(const ModuleContext& context);

}  // namespace authlib
