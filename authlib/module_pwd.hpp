// authlib/module_pwd.hpp: authpwd and authshadow, accounts from the system
// account database (getpwnam_r; getspnam_r for the shadow password).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "authlib/module.hpp"

namespace authlib {

lib::Result<std::unique_ptr<Module>> make_pwd_module(const ModuleContext& context);
lib::Result<std::unique_ptr<Module>> make_shadow_module(const ModuleContext& context);

// The system account named user, as an Account (no password): uid, gid, home
// from the passwd entry, fullname from the first GECOS field, address = user.
// nullopt with reason "no such account" when unknown; a lookup error (NSS
// backend down) is a temporary ModuleReply.
ModuleReply system_account(std::string_view user);

}  // namespace authlib
