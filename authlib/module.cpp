// authlib/module.cpp: the default secret check shared by the modules, and
// the table of modules by their authmodulelist names.
#include "authlib/module.hpp"

#include "authlib/module_pwd.hpp"
#include "authlib/module_userdb.hpp"
#include "authlib/password.hpp"
#include "authlib/verified_cache.hpp"
#include "build-config.h"
#ifdef HAVE_PAM
#include "authlib/module_pam.hpp"
#endif
#ifdef HAVE_LDAP
#include "authlib/module_ldap.hpp"
#endif
#ifdef HAVE_PGSQL
#include "authlib/module_pgsql.hpp"
#endif

namespace authlib {

ModuleReply check_secret(const AuthRequest& request, Account account) {
  if (request.cram) {
    if (account.clear_password.empty())
      return ModuleReply::reject("CRAM needs the clear-text password, and this account has none stored");
    if (!sasl::verify_cram(*request.cram, account.clear_password)) return ModuleReply::reject("wrong password");
    return ModuleReply::found(std::move(account));
  }
  if (!account.crypted_password.empty()) {
    switch (check_password_cached(request.user, request.password, account.crypted_password)) {
      case Verdict::match:
        return ModuleReply::found(std::move(account));
      case Verdict::unusable:
        return ModuleReply::reject("the stored password hash can never match: " +
                                   describe_hash_problem(account.crypted_password));
      case Verdict::mismatch:
        break;
    }
  }
  if (!account.clear_password.empty()) {
    if (verify_clear(request.password, account.clear_password.reveal())) return ModuleReply::found(std::move(account));
    return ModuleReply::reject("wrong password");
  }
  if (account.crypted_password.empty()) return ModuleReply::reject("the account has no password");
  return ModuleReply::reject("wrong password");
}

ModuleReply Module::authenticate(const AuthRequest& request) {
  auto found = lookup(request.user, request.service);
  if (found.outcome != Outcome::ok) return found;
  return check_secret(request, std::move(found.account));
}

ModuleReply Module::change_password(std::string_view, std::string_view, const lib::Secret&, const lib::Secret&) {
  return ModuleReply::reject(std::string(name()) + " cannot change passwords");
}

lib::Result<void> Module::enumerate(const std::function<void(const Account&)>&) { return {}; }

lib::Result<std::unique_ptr<Module>> make_module(std::string_view name, const ModuleContext& context) {
  if (name == "authuserdb") return make_userdb_module(context);
  if (name == "authpwd") return make_pwd_module(context);
  if (name == "authshadow") return make_shadow_module(context);
#ifdef HAVE_PAM
  if (name == "authpam") return make_pam_module(context);
#endif
#ifdef HAVE_LDAP
  if (name == "authldap") return make_ldap_module(context);
#endif
#ifdef HAVE_PGSQL
  if (name == "authpgsql") return make_pgsql_module(context);
#endif
  std::string n(name);
  if (n == "authpam" || n == "authldap" || n == "authpgsql")
    return lib::permanent_error("authmodulelist names " + n + ", but this build was configured without it (--without-" +
                                n.substr(4) + "); rebuild with it or remove it from authmodulelist");
  if (n == "authmysql" || n == "authsqlite" || n == "authpipe" || n == "authcustom" || n == "authvchkpw")
    return lib::permanent_error("authmodulelist names " + n +
                                ", which this suite does not provide; use authuserdb, authpwd, authshadow, authpam, "
                                "authldap or authpgsql");
  return lib::permanent_error("authmodulelist names an unknown module \"" + n +
                              "\"; known are authuserdb authpwd authshadow authpam authldap authpgsql");
}

}  // namespace authlib
