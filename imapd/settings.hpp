// imapd/settings.hpp: imaplogin's and imapd's settings. As in Courier, the
// start script sources @sysconfdir@/imapd (and imapd-ssl) and exports them;
// couriertcpd passes the environment to imaplogin, which passes it to imapd.
// So the settings are read from the environment, with Courier's names.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "lib/config.hpp"
#include "lib/result.hpp"

namespace imapd {

struct Settings {
  // Capabilities (RFC 3501 7.2.1). IMAP_CAPABILITY before TLS,
  // IMAP_CAPABILITY_TLS once TLS is on; AUTH=... entries live in them.
  std::vector<std::string> capability;
  std::vector<std::string> capability_tls;
  bool starttls = false;       // IMAP_STARTTLS=YES (set by the start script from IMAPDSTARTTLS)
  bool tls_required = false;   // IMAP_TLS_REQUIRED=1: LOGINDISABLED until STARTTLS
  bool tls_active = false;     // IMAP_TLS=1 (couriertls in front, imapd-ssl) or after STARTTLS
  std::string maildir_path = "Maildir";  // MAILDIRPATH
  std::string trash_name = "Trash";      // IMAP_TRASHFOLDERNAME
  bool move_expunge_to_trash = false;    // IMAP_MOVE_EXPUNGE_TO_TRASH
  std::string empty_trash;               // IMAP_EMPTYTRASH "Trash:7,Sent:30"
  std::chrono::seconds idle_timeout{60};     // IMAP_IDLE_TIMEOUT: poll interval without inotify
  std::chrono::seconds login_timeout{60};    // IMAP_LOGIN_TIMEOUT: before LOGIN
  std::chrono::seconds session_timeout{1800};  // IMAP_TIMEOUT: autologout (RFC 3501 5.4: >= 30 min)
  std::size_t max_line_bytes = 65536;            // IMAP_MAX_LINE_BYTES
  std::size_t max_literal_bytes = 65536;         // IMAP_MAX_LITERAL_BYTES: outside APPEND
  std::size_t max_message_bytes = 64u << 20;     // IMAP_MAX_MESSAGE_BYTES: APPEND
  int max_bad_logins = 3;                        // IMAP_MAX_BAD_LOGINS
  std::chrono::milliseconds bad_login_delay{5000};  // IMAP_BAD_LOGIN_DELAY (seconds)
  int id_fields = 0;                             // IMAP_ID_FIELDS
  std::string log_file;                          // IMAP_LOGFILE: a file imaplogin and imapd append to
  bool log_to_stderr = false;                    // LOGFILE set: couriertcpd -stderr=LOGFILE
  std::string tls_external;                      // TLS_EXTERNAL: certificate field for EXTERNAL
  std::string service = "imap";                  // AUTHSERVICE<port> or "imap"
  std::string defdomain;                         // DEFDOMAIN
  std::string hostname;                          // for CRAM challenges
  bool compress = true;                          // IMAP_COMPRESS=0: no COMPRESS=DEFLATE (RFC 4978)
  // ACL (RFC 4314) and Courier's virtual shared folders (imapd/acl.hpp,
  // imapd/shared_virtual.hpp).
  bool acl = false;                              // IMAP_ACL=1: ACL commands, rights enforced, #shared
  std::string shared_index_file = SYSCONFDIR "/shared/index";  // IMAP_SHAREDINDEXFILE
  std::string account_options;                   // OPTIONS (from imaplogin): group=, sharedgroup=, disableshared
  std::vector<std::string> warnings;
};

// Reads the settings from an environment (NAME=value strings, like environ).
Settings settings_from_environment(char** envp);

// Checks the configuration files (imapd, imapd-ssl) as the start scripts
// read them, each over the previous one: returns the warnings (unknown or
// malformed settings, with file:line), or an error when a file cannot be read
// or parsed.
lib::Result<std::vector<std::string>> check_config_files(const std::vector<std::string>& paths);

// The capability list for the current state, as one line without "* ".
// When tls_required and not TLS, LOGINDISABLED is added and AUTH= removed;
// STARTTLS only before TLS and when starttls.
// external_available: the TLS client certificate names an identity
// (TLS_EXTERNAL), so AUTH=EXTERNAL is announced before login.
std::string capability_line(const Settings& s, bool authenticated, bool external_available = false);

}  // namespace imapd
