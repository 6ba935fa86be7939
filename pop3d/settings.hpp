// pop3d/settings.hpp: the settings of pop3login and pop3d.
//
// As in Courier, the start scripts (sbin/pop3d, sbin/pop3d-ssl) source the
// sysconfdir files `pop3d` and `pop3d-ssl` with a shell and export every
// setting; couriertcpd adds TCPREMOTEIP and friends, couriertls adds POP3_TLS
// and the TLS_SUBJECT_* of a client certificate, and pop3login adds the
// account (AUTHENTICATED, HOME, MAILDIR, OPTIONS...) before it executes pop3d.
// So both programs read their settings from the environment, here held in a
// lib::Config (origin "environment") for its typed accessors and warnings.
// check_config_files() reads the files themselves, for `pop3login
// --check-config`, which the start scripts run before starting anything.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authlib/sasl.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/result.hpp"

namespace pop3d {

// The process environment as a Config (names that are not legal setting
// names are skipped).
lib::Config environment_config();

// Where the connection comes from and goes to (couriertcpd's variables).
struct Peer {
  std::string remote_ip;    // TCPREMOTEIP, "" when unknown
  std::string remote_port;  // TCPREMOTEPORT
  std::string local_ip;     // TCPLOCALIP
  std::string local_port;   // TCPLOCALPORT
};
Peer load_peer(const lib::Config& env);

// Settings of pop3login (the AUTHORIZATION state).
struct LoginSettings {
  Peer peer;
  // POP3AUTH / POP3AUTH_TLS: the SASL mechanisms offered before / after TLS
  // (POP3AUTH when POP3AUTH_TLS is empty). EXTERNAL is never listed here: it
  // is offered exactly when external_identity is set.
  std::vector<authlib::sasl::Mechanism> sasl_plain;
  std::vector<authlib::sasl::Mechanism> sasl_tls;
  bool tls_active = false;        // POP3_TLS=1: the connection is encrypted
  bool starttls_enabled = false;  // POP3_STARTTLS=YES (and not yet in TLS)
  bool tls_required = false;      // POP3_TLS_REQUIRED=1: no login without TLS
  // TLS_EXTERNAL names a certificate subject field ("emailaddress"); the
  // identity is then $TLS_SUBJECT_<FIELD>, set by couriertls for a verified
  // client certificate. Empty: no EXTERNAL.
  std::string tls_external_field;
  std::string external_identity;
  std::string defdomain;  // DEFDOMAIN, e.g. "@example.com"
  std::string domainsep;  // DOMAINSEP
  std::string service = "pop3";  // AUTHSERVICE<TCPLOCALPORT>, else "pop3"
  std::chrono::seconds failed_login_delay{5};  // POP3_FAILED_LOGIN_DELAY
  int max_failed_logins = 3;                   // POP3_MAX_FAILED_LOGINS
  std::chrono::seconds login_timeout{60};      // POP3_LOGIN_TIMEOUT
  bool proxy_requested = false;                // POP3_PROXY (not supported)
  std::string cram_hostname;                   // for CRAM challenges

  // The mechanisms to offer and accept now.
  const std::vector<authlib::sasl::Mechanism>& offered_sasl() const;
  bool external_offered() const { return tls_active && !external_identity.empty(); }
  // Whether USER/PASS and AUTH are refused until STLS.
  bool login_needs_tls() const { return tls_required && !tls_active; }
};

// Reads pop3login's settings. Malformed values fall back to their defaults;
// the warnings say which (the caller logs them).
LoginSettings load_login_settings(const lib::Config& env, std::vector<std::string>& warnings);

// Settings of pop3d (the TRANSACTION state), after login.
struct ServerSettings {
  Peer peer;
  std::string user;                         // AUTHADDR, else AUTHENTICATED, else "nobody"
  bool tls_active = false;                  // POP3_TLS=1
  bool log_deletions = false;               // POP3_LOG_DELETIONS
  std::chrono::seconds idle_timeout{600};   // POP3_IDLE_TIMEOUT (RFC 1939 section 3: >= 10 min)
  std::string options;                      // OPTIONS, the account options
  std::string maildir;                      // argv[1], else MAILDIR, else "./Maildir"
  std::string pipelined_input;              // POP3_PIPELINED (hex), decoded
  std::string login_method;                 // POP3_LOGIN_METHOD, for the log line
};

ServerSettings load_server_settings(const lib::Config& env, std::vector<std::string>& warnings);

// A duration setting in Courier's forms ("300", "5m"): malformed, negative or
// above max is a warning (recorded in env) and def.
std::chrono::seconds setting_seconds(const lib::Config& env, std::string_view name, std::chrono::seconds def,
                                     std::chrono::seconds max);

// Logging for both programs: LOGFILE set -> pop3login opens it and makes it
// its stderr, which pop3d inherits, so pop3d (running as the account) can
// write to a log file it could not open itself; LOGFILE empty -> syslog, or
// standard error without a syslog socket (lib::log::service_options).
lib::log::Options log_options(const lib::Config& env);

// The value of account option `name` in an OPTIONS string
// ("disablepop3=1,group=staff"); nullopt when absent. A bare "name" has an
// empty value.
std::optional<std::string> account_option(std::string_view options, std::string_view name);
// Courier's auth_getoptionenvint: the option's value as a number is non-zero
// (a bare name, or a value starting with y/Y/t/T, also counts as set).
bool account_option_set(std::string_view options, std::string_view name);

// Courier's DEFDOMAIN rule: append defdomain to user unless user already
// contains its first character, or, with domainsep set, any character of
// domainsep.
std::string apply_defdomain(std::string_view user, std::string_view defdomain,
                            std::string_view domainsep);

// The settings pop3login and pop3d know, for warn_unknown (besides those of
// the start scripts and couriertls, which are listed too).
const std::vector<std::string_view>& known_settings();

// `pop3login --check-config FILE...`: reads the files in order (pop3d, then
// pop3d-ssl: a later one is sourced over the earlier ones), as the start
// script does, with sysconfdir, localstatedir, bindir, sbindir and
// pkglibexecdir defined. Returns the warnings (unknown or malformed
// settings, POP3_PROXY); an error if a file cannot be read or parsed.
lib::Result<std::vector<std::string>> check_config_files(const std::vector<std::string>& paths);

}  // namespace pop3d
