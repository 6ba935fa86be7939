// authlib/module_pwd.cpp: authpwd and authshadow.
//
// SECURITY: authshadow reads /etc/shadow, so authdaemond must run as root (or
// in group shadow) to use it; when it cannot, the reason says exactly that.
#include "authlib/module_pwd.hpp"

#include <cerrno>
#include <pwd.h>
#include <shadow.h>
#include <unistd.h>
#include <vector>

namespace authlib {
namespace {

class PwdModule : public Module {
 public:
  explicit PwdModule(bool shadow) : shadow_(shadow) {}

  std::string_view name() const override { return shadow_ ? "authshadow" : "authpwd"; }

  ModuleReply lookup(std::string_view user, std::string_view) override { return system_account(user); }

  ModuleReply authenticate(const AuthRequest& request) override {
    if (request.cram) return ModuleReply::reject("system accounts have no clear-text password for CRAM");
    auto found = lookup(request.user, request.service);
    if (found.outcome != Outcome::ok) return found;
    auto hash = stored_hash(request.user);
    if (hash.outcome != Outcome::ok) return hash;
    found.account.crypted_password = std::move(hash.account.crypted_password);
    return check_secret(request, std::move(found.account));
  }

 private:
  // The crypted password, in reply.account.crypted_password.
  ModuleReply stored_hash(std::string_view user) {
    std::string name(user);
    std::vector<char> buf(16384);
    Account a;
    if (!shadow_) {
      struct passwd pw, *result = nullptr;
      int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result);
      if (rc != 0) return ModuleReply::temporary("getpwnam(" + name + "): " + lib::errno_text(rc));
      if (!result) return ModuleReply::reject("no such account");
      a.crypted_password = pw.pw_passwd;
      if (a.crypted_password == "x" || a.crypted_password == "*")
        return ModuleReply::reject("the password is in /etc/shadow: use authshadow (or authpam) instead of authpwd");
      return ModuleReply::found(std::move(a));
    }
    struct spwd sp, *result = nullptr;
    errno = 0;
    int rc = ::getspnam_r(name.c_str(), &sp, buf.data(), buf.size(), &result);
    if (rc == EACCES || (rc == 0 && !result && errno == EACCES))
      return ModuleReply::temporary("cannot read /etc/shadow: " + lib::errno_text(EACCES) +
                                    "; authdaemond must run as root to use authshadow");
    if (rc != 0 && rc != ENOENT) return ModuleReply::temporary("getspnam(" + name + "): " + lib::errno_text(rc));
    if (!result) return ModuleReply::reject("no shadow entry for the account");
    a.crypted_password = sp.sp_pwdp;
    if (sp.sp_expire > 0 && sp.sp_expire <= static_cast<long>(::time(nullptr) / 86400))
      return ModuleReply::reject("the account expired (shadow expiry date)");
    return ModuleReply::found(std::move(a));
  }

  bool shadow_;
};

}  // namespace

ModuleReply system_account(std::string_view user) {
  std::string name(user);
  if (name.empty() || name.find('\0') != std::string::npos) return ModuleReply::reject("no such account");
  std::vector<char> buf(16384);
  struct passwd pw, *result = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result)) == ERANGE && buf.size() < 1 << 20)
    buf.resize(buf.size() * 2);
  if (rc != 0 && rc != ENOENT) return ModuleReply::temporary("getpwnam(" + name + "): " + lib::errno_text(rc));
  if (!result) return ModuleReply::reject("no such account");
  Account a;
  a.username = pw.pw_name;
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  a.home = pw.pw_dir;
  a.address = pw.pw_name;
  std::string gecos = pw.pw_gecos ? pw.pw_gecos : "";
  a.fullname = gecos.substr(0, gecos.find(','));
  return ModuleReply::found(std::move(a));
}

lib::Result<std::unique_ptr<Module>> make_pwd_module(const ModuleContext&) {
  return std::unique_ptr<Module>(std::make_unique<PwdModule>(false));
}

lib::Result<std::unique_ptr<Module>> make_shadow_module(const ModuleContext&) {
  return std::unique_ptr<Module>(std::make_unique<PwdModule>(true));
}

}  // namespace authlib
