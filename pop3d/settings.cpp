// pop3d/settings.cpp: see settings.hpp. What pop3d needs as well as
// pop3login; pop3login's own settings are in login_settings.cpp, so that pop3d
// links neither authlib's SASL code nor OpenSSL (each library an exec loads
// costs every session time).
#include "pop3d/settings.hpp"

#include <algorithm>
#include <cstdlib>

#include "authlib/account_options.hpp"

extern char** environ;

namespace pop3d {

namespace {

// Settings used by the start scripts, couriertcpd and couriertls: known, so
// that --check-config does not call them unknown.
constexpr std::string_view script_settings[] = {
    "POP3DSTART", "POP3DSSLSTART", "ADDRESS", "PORT", "SSLADDRESS", "SSLPORT", "MAXDAEMONS",
    "MAXPERIP", "MAXPERC", "PIDFILE", "SSLPIDFILE", "TCPDOPTS", "LOGGEROPTS", "SSLLOGGEROPTS",
    "SSLLOGFILE", "COURIERTLS", "POP3AUTH_ORIG", "POP3AUTH_TLS_ORIG", "PROXY_HOSTNAME",
    "AUTH_MKHOMEDIR_SKEL", "MAILDIRPATH", "MIME_UNICODE_MESSAGE_TYPE", "ACCESSFILE",
    "POP3ACCESSFILE",
    // couriertls (COURIER-COMPAT.md section 6)
    "TLS_PROTOCOL", "TLS_STARTTLS_PROTOCOL", "TLS_CIPHER_LIST", "TLS_CIPHER_SUITES",
    "TLS_PRIORITY", "TLS_MIN_DH_BITS", "TLS_CERTFILE", "TLS_PRIVATE_KEYFILE", "TLS_DHPARAMS",
    "TLS_TRUSTCERTS", "TLS_VERIFYPEER", "TLS_CACHEFILE", "TLS_CACHESIZE", "TLS_ALPN",
    "TLS_TIMEOUT",
};

constexpr std::string_view program_settings[] = {
    "POP3AUTH", "POP3AUTH_TLS", "POP3_PROXY", "DEFDOMAIN", "DOMAINSEP", "POP3_LOG_DELETIONS",
    "POP3_TLS_REQUIRED", "POP3_STARTTLS", "POP3_TLS", "TLS_EXTERNAL", "POP3_FAILED_LOGIN_DELAY",
    "POP3_MAX_FAILED_LOGINS", "POP3_LOGIN_TIMEOUT", "POP3_IDLE_TIMEOUT", "LOGFILE", "DEBUG_LOGIN",
    "UTF8",
    "AUTHDAEMON_SOCKET",  // read by authlib's client (authlib/client.hpp)
    "MAILUSER",           // the account couriertls runs as (lib/privileges.hpp)
};

// pop3login's POP3_PIPELINED: two hex digits a byte (sasl::encode_hex).
std::optional<std::string> decode_hex_input(std::string_view text) {
  if (text.size() % 2 != 0 || text.size() > 2 * 1024 * 1024) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = digit(text[i]), lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

std::chrono::seconds setting_seconds(const lib::Config& env, std::string_view name,
                                     std::chrono::seconds def, std::chrono::seconds max) {
  auto v = env.get_duration(name, def);
  if (v.count() < 0 || v > max) {
    env.add_warning(env.where(name) + ": " + std::string(name) + " must be between 0 and " +
                    std::to_string(max.count()) + " seconds; using " + std::to_string(def.count()));
    return def;
  }
  return v;
}


lib::Config environment_config() {
  lib::Config cfg;
  lib::ConfigOrigin origin{"environment", 0, 0};
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = entry.substr(0, eq);
    if (!lib::valid_setting_name(name)) continue;
    cfg.set(name, entry.substr(eq + 1), origin);
  }
  return cfg;
}

Peer load_peer(const lib::Config& env) {
  Peer p;
  p.remote_ip = env.get_string("TCPREMOTEIP", "");
  p.remote_port = env.get_string("TCPREMOTEPORT", "");
  p.local_ip = env.get_string("TCPLOCALIP", "");
  p.local_port = env.get_string("TCPLOCALPORT", "");
  return p;
}

ServerSettings load_server_settings(const lib::Config& env, std::vector<std::string>& warnings) {
  ServerSettings s;
  s.peer = load_peer(env);
  s.user = env.get_string("AUTHADDR", "");
  if (s.user.empty()) s.user = env.get_string("AUTHENTICATED", "");
  if (s.user.empty()) s.user = "nobody";
  s.tls_active = env.get_bool("POP3_TLS", false);
  std::string log_del = env.get_string("POP3_LOG_DELETIONS", "");
  s.log_deletions = !log_del.empty() && log_del[0] != '0';
  s.idle_timeout = setting_seconds(env, "POP3_IDLE_TIMEOUT", std::chrono::seconds(600),
                                   std::chrono::seconds(86400));
  if (s.idle_timeout.count() == 0) s.idle_timeout = std::chrono::seconds(600);
  s.options = env.get_string("OPTIONS", "");
  s.maildir = env.get_string("MAILDIR", "");
  if (s.maildir.empty()) s.maildir = "./Maildir";
  s.login_method = env.get_string("POP3_LOGIN_METHOD", "");
  std::string pipelined = env.get_string("POP3_PIPELINED", "");
  if (!pipelined.empty()) {
    // Written by pop3login: at most its read buffer, in hex.
    if (auto decoded = decode_hex_input(pipelined))
      s.pipelined_input = std::move(*decoded);
    else
      warnings.push_back("POP3_PIPELINED is not hexadecimal text; the commands the client sent along with "
                         "its login are ignored");
  }
  for (const auto& w : env.warnings()) warnings.push_back(w);
  return s;
}

lib::log::Options log_options(const lib::Config& env) {
  // LOGFILE is our stderr (pop3login points fd 2 at it; pop3d inherits it).
  return lib::log::service_options("", !env.get_string("LOGFILE", "").empty());
}

// Account OPTIONS are parsed in one place (authlib/account_options.hpp).
std::optional<std::string> account_option(std::string_view options, std::string_view name) {
  return authlib::account_option(options, name);
}

bool account_option_set(std::string_view options, std::string_view name) {
  return authlib::account_option_set(options, name);
}

std::string apply_defdomain(std::string_view user, std::string_view defdomain,
                            std::string_view domainsep) {
  if (defdomain.empty()) return std::string(user);
  bool has_domain = domainsep.empty() ? user.find(defdomain.front()) != std::string_view::npos
                                      : user.find_first_of(domainsep) != std::string_view::npos;
  if (has_domain) return std::string(user);
  return std::string(user) + std::string(defdomain);
}

const std::vector<std::string_view>& known_settings() {
  static const std::vector<std::string_view> all = [] {
    std::vector<std::string_view> v(std::begin(program_settings), std::end(program_settings));
    v.insert(v.end(), std::begin(script_settings), std::end(script_settings));
    return v;
  }();
  return all;
}

}  // namespace pop3d
