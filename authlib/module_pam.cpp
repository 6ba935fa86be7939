// authlib/module_pam.cpp: authpam on Linux-PAM.
//
// SECURITY: the conversation function hands the password to PAM in memory
// PAM owns and frees; it never logs prompts' answers. PAM's own failure delay
// (pam_faildelay) is replaced by a no-op: the login services delay failed
// logins themselves, and a worker of authdaemond must not sleep for seconds.
#include "authlib/module_pam.hpp"

#include <cstdlib>
#include <cstring>
#include <security/pam_appl.h>
#include <strings.h>

#include "authlib/module_pwd.hpp"
#include "lib/log.hpp"

namespace authlib {
namespace {

// pam_end wants the last status, so a plain deleter will not do.
class PamHandle {
 public:
  PamHandle() = default;
  PamHandle(const PamHandle&) = delete;
  PamHandle& operator=(const PamHandle&) = delete;
  ~PamHandle() {
    if (handle_) ::pam_end(handle_, status_);
  }
  pam_handle_t** out() noexcept { return &handle_; }
  pam_handle_t* get() const noexcept { return handle_; }
  // Records the status of the last PAM call and returns it.
  int record(int status) noexcept { return status_ = status; }

 private:
  pam_handle_t* handle_ = nullptr;
  int status_ = PAM_SUCCESS;
};

// What the conversation answers with.
struct Answers {
  const std::string* user;
  const lib::Secret* password;      // for authentication; the old one for a change
  const lib::Secret* new_password;  // for a change, else null
};

bool asks_for_old(const char* prompt) {
  return prompt && (strcasestr(prompt, "current") || strcasestr(prompt, "old"));
}

char* pam_copy(std::string_view s) noexcept {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) {
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
  }
  return p;
}

extern "C" int conversation(int count, const struct pam_message** messages, struct pam_response** responses,
                            void* data) noexcept {
  auto* answers = static_cast<const Answers*>(data);
  if (count <= 0 || count > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  auto* replies = static_cast<pam_response*>(std::calloc(static_cast<size_t>(count), sizeof(pam_response)));
  if (!replies) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const pam_message* m = messages[i];
    switch (m->msg_style) {
      case PAM_PROMPT_ECHO_OFF: {
        const lib::Secret* s = answers->new_password && !asks_for_old(m->msg) ? answers->new_password : answers->password;
        replies[i].resp = pam_copy(s->reveal());
        break;
      }
      case PAM_PROMPT_ECHO_ON:
        replies[i].resp = pam_copy(*answers->user);
        break;
      case PAM_ERROR_MSG:
      case PAM_TEXT_INFO:
        lib::log::debug_if("DEBUG_LOGIN", 1, "authpam: PAM says: %s", m->msg ? m->msg : "");
        break;
      default:
        break;
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

extern "C" void no_fail_delay(int, unsigned, void*) noexcept {}

class PamModule : public Module {
 public:
  explicit PamModule(const lib::Config& rc) : rc_(rc) {}

  std::string_view name() const override { return "authpam"; }

  ModuleReply lookup(std::string_view user, std::string_view) override { return system_account(user); }

  ModuleReply authenticate(const AuthRequest& request) override {
    if (request.cram) return ModuleReply::reject("PAM cannot check CRAM responses");
    auto found = lookup(request.user, request.service);
    if (found.outcome != Outcome::ok) return found;
    std::string user = request.user;
    Answers answers{&user, &request.password, nullptr};
    return run(request.service, answers, [&](pam_handle_t* h, PamHandle& ph) -> ModuleReply {
      int rc = ph.record(::pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK));
      if (rc != PAM_SUCCESS) return failure("pam_authenticate", h, rc);
      rc = ph.record(::pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK));
      if (rc != PAM_SUCCESS && rc != PAM_NEW_AUTHTOK_REQD) return failure("pam_acct_mgmt", h, rc);
      return ModuleReply::found(std::move(found.account));
    });
  }

  ModuleReply change_password(std::string_view service, std::string_view user, const lib::Secret& old_password,
                              const lib::Secret& new_password) override {
    std::string name_copy(user);
    AuthRequest check{std::string(service), name_copy, old_password, std::nullopt};
    if (auto r = authenticate(check); r.outcome != Outcome::ok) return r;
    Answers answers{&name_copy, &old_password, &new_password};
    return run(service, answers, [&](pam_handle_t* h, PamHandle& ph) -> ModuleReply {
      int rc = ph.record(::pam_chauthtok(h, PAM_SILENT));
      if (rc != PAM_SUCCESS) return failure("pam_chauthtok", h, rc);
      return ModuleReply::found(Account{});
    });
  }

 private:
  std::string pam_service(std::string_view service) const {
    if (auto s = rc_.get("AUTHPAM_SERVICE_" + std::string(service))) return *s;
    return rc_.get_string("AUTHPAM_SERVICE", service);
  }

  template <class Fn>
  ModuleReply run(std::string_view service, const Answers& answers, Fn&& fn) {
    std::string svc = pam_service(service);
    pam_conv conv{conversation, const_cast<Answers*>(&answers)};
    PamHandle ph;
    int rc = ph.record(::pam_start(svc.c_str(), answers.user->c_str(), &conv, ph.out()));
    if (rc != PAM_SUCCESS)
      return ModuleReply::temporary("pam_start(service " + svc + ") failed: " + ::pam_strerror(nullptr, rc) +
                                    "; check /etc/pam.d/" + svc);
    if (const char* ip = std::getenv("TCPREMOTEIP")) ::pam_set_item(ph.get(), PAM_RHOST, ip);
    ::pam_set_item(ph.get(), PAM_FAIL_DELAY, reinterpret_cast<const void*>(&no_fail_delay));
    return fn(ph.get(), ph);
  }

  static ModuleReply failure(const char* step, pam_handle_t* h, int rc) {
    std::string text = std::string(step) + ": " + ::pam_strerror(h, rc);
    switch (rc) {
      case PAM_AUTH_ERR:
      case PAM_USER_UNKNOWN:
      case PAM_ACCT_EXPIRED:
      case PAM_PERM_DENIED:
      case PAM_MAXTRIES:
      case PAM_CRED_INSUFFICIENT:
      case PAM_AUTHTOK_ERR:
      case PAM_AUTHTOK_RECOVERY_ERR:
        return ModuleReply::reject(text);
      default:
        // PAM_AUTHINFO_UNAVAIL, PAM_SYSTEM_ERR, PAM_SERVICE_ERR, a module that
        // cannot reach its backend: not the user's fault, try again later.
        return ModuleReply::temporary(text);
    }
  }

  const lib::Config& rc_;
};

}  // namespace

lib::Result<std::unique_ptr<Module>> make_pam_module(const ModuleContext& context) {
  return std::unique_ptr<Module>(std::make_unique<PamModule>(context.authdaemonrc));
}

}  // namespace authlib
