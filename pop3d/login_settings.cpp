// pop3d/login_settings.cpp: pop3login's settings and `pop3login
// --check-config` (see settings.hpp). Kept apart from settings.cpp because it
// uses authlib's SASL code, which pop3d does not need.
#include <unistd.h>

#include <algorithm>

#include "pop3d/settings.hpp"

#ifndef SYSCONFDIR
#error "SYSCONFDIR must be defined by the build (-DSYSCONFDIR=\"/etc/courier\")"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef BINDIR
#define BINDIR "/usr/bin"
#endif
#ifndef SBINDIR
#define SBINDIR "/usr/sbin"
#endif
#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/libexec/courier-suite"
#endif

namespace pop3d {

namespace sasl = authlib::sasl;

namespace {

std::vector<sasl::Mechanism> mechanisms(const lib::Config& env, std::string_view name,
                                        std::vector<std::string>& warnings) {
  std::vector<sasl::Mechanism> out;
  for (const auto& word : env.get_list(name)) {
    auto m = sasl::mechanism_from_name(word);
    if (!m) {
      warnings.push_back(env.where(name) + ": " + std::string(name) + " names SASL mechanism " +
                         word + ", which is not supported (use PLAIN, LOGIN, CRAM-MD5, "
                         "CRAM-SHA1, CRAM-SHA256); ignored");
      continue;
    }
    if (*m == sasl::Mechanism::external) {
      warnings.push_back(env.where(name) + ": " + std::string(name) +
                         " lists EXTERNAL; it is offered by itself when TLS_EXTERNAL is set and the "
                         "client presents a certificate; ignored here");
      continue;
    }
    if (std::find(out.begin(), out.end(), *m) == out.end()) out.push_back(*m);
  }
  return out;
}

std::string host_name_for_cram() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  std::string name(buf);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return "localhost";
  }
  return name;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace

const std::vector<sasl::Mechanism>& LoginSettings::offered_sasl() const {
  return tls_active && !sasl_tls.empty() ? sasl_tls : sasl_plain;
}

LoginSettings load_login_settings(const lib::Config& env, std::vector<std::string>& warnings) {
  LoginSettings s;
  s.peer = load_peer(env);
  s.sasl_plain = mechanisms(env, "POP3AUTH", warnings);
  s.sasl_tls = mechanisms(env, "POP3AUTH_TLS", warnings);
  s.tls_active = env.get_bool("POP3_TLS", false);
  // Courier's have_starttls(): POP3_STARTTLS starting with y or Y.
  std::string starttls = env.get_string("POP3_STARTTLS", "NO");
  s.starttls_enabled = !s.tls_active && !starttls.empty() && (starttls[0] == 'y' || starttls[0] == 'Y');
  s.tls_required = env.get_bool("POP3_TLS_REQUIRED", false);
  s.tls_external_field = env.get_string("TLS_EXTERNAL", "");
  if (!s.tls_external_field.empty()) {
    bool ok = std::all_of(s.tls_external_field.begin(), s.tls_external_field.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (ok)
      s.external_identity = env.get_string("TLS_SUBJECT_" + upper(s.tls_external_field), "");
    else
      warnings.push_back(env.where("TLS_EXTERNAL") + ": TLS_EXTERNAL=" + s.tls_external_field +
                         " is not a certificate subject field name (e.g. emailaddress); EXTERNAL "
                         "is not offered");
  }
  s.defdomain = env.get_string("DEFDOMAIN", "");
  s.domainsep = env.get_string("DOMAINSEP", "");
  if (!s.peer.local_port.empty()) {
    std::string svc = env.get_string("AUTHSERVICE" + s.peer.local_port, "");
    if (!svc.empty()) s.service = svc;
  }
  s.failed_login_delay = setting_seconds(env, "POP3_FAILED_LOGIN_DELAY", std::chrono::seconds(5),
                                         std::chrono::seconds(300));
  s.max_failed_logins =
      static_cast<int>(env.get_int("POP3_MAX_FAILED_LOGINS", 3, 1, 1000));
  s.login_timeout = setting_seconds(env, "POP3_LOGIN_TIMEOUT", std::chrono::seconds(60),
                                    std::chrono::seconds(3600));
  if (s.login_timeout.count() == 0) s.login_timeout = std::chrono::seconds(60);
  s.proxy_requested = env.get_bool("POP3_PROXY", false);
  s.cram_hostname = host_name_for_cram();
  for (const auto& w : env.warnings()) warnings.push_back(w);
  return s;
}

lib::Result<std::vector<std::string>> check_config_files(const std::vector<std::string>& paths) {
  lib::Config base;
  base.set("sysconfdir", SYSCONFDIR);
  base.set("localstatedir", LOCALSTATEDIR);
  base.set("bindir", BINDIR);
  base.set("sbindir", SBINDIR);
  base.set("pkglibexecdir", LIBEXECDIR);
  lib::Config merged = base;
  std::vector<std::string> warnings;
  for (const auto& path : paths) {
    auto cfg = lib::Config::load_file(path, &merged);
    if (!cfg) return cfg.error();
    cfg->warn_unknown(known_settings());
    for (const auto& w : cfg->warnings()) warnings.push_back(w);
    merged.merge(*cfg);
  }
  // The typed values, as the programs will read them.
  std::vector<std::string> typed;
  (void)load_login_settings(merged, typed);
  if (merged.get_bool("POP3_PROXY", false))
    typed.push_back(merged.where("POP3_PROXY") +
                    ": POP3_PROXY is not supported by this server: every login is served from the "
                    "local Maildir (set POP3_PROXY=0)");
  for (auto& w : typed)
    if (std::find(warnings.begin(), warnings.end(), w) == warnings.end()) warnings.push_back(std::move(w));
  return warnings;
}

}  // namespace pop3d
