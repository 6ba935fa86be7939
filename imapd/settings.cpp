// imapd/settings.cpp: settings from the environment (see settings.hpp).
#include "imapd/settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <string_view>

namespace imapd {
namespace {

constexpr std::array<std::string_view, 8> default_capability = {
    "IMAP4rev1", "UIDPLUS", "CHILDREN", "NAMESPACE", "IDLE", "KEYWORDS", "AUTH=CRAM-MD5", "AUTH=PLAIN"};

// What imapd itself implements, always advertised after login. IMAP4rev2
// (RFC 9051) is served once the client ENABLEs it (imapd/cmd_rev2.cpp).
constexpr std::array<std::string_view, 32> session_capability = {
    "IMAP4rev1", "IMAP4rev2", "LITERAL+", "UIDPLUS", "CHILDREN", "NAMESPACE", "IDLE", "UNSELECT", "MOVE",
    "ENABLE", "ID", "SPECIAL-USE", "KEYWORDS", "SASL-IR", "ESEARCH", "SORT", "SORT=DISPLAY",
    "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "STATUS=SIZE", "MULTIAPPEND",
    "BINARY", "LIST-EXTENDED", "LIST-STATUS", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
    "CONDSTORE", "QRESYNC", "CONTEXT=SEARCH", "CONTEXT=SORT"};

// CATENATE (RFC 4469), URLAUTH (RFC 4467): imapd/catenate.hpp, cmd_urlauth.cpp;
// WITHIN (RFC 5032): search.hpp; OBJECTID (RFC 8474), SAVEDATE (RFC 8514): objectid.hpp.
constexpr std::array<std::string_view, 8> misc_capability = {"CATENATE", "URLAUTH", "URLAUTH=BINARY", "WITHIN",
                                                             "OBJECTID", "SAVEDATE", "UTF8=ACCEPT", "NOTIFY"};

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool upper_eq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

Settings settings_from_environment(char** envp) {
  lib::Config c;
  for (char** e = envp; e && *e; ++e) {
    std::string_view kv = *e;
    std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos || !lib::valid_setting_name(kv.substr(0, eq))) continue;
    c.set(kv.substr(0, eq), kv.substr(eq + 1), lib::ConfigOrigin{"environment", 0, 0});
  }
  Settings s;
  auto cap = c.get("IMAP_CAPABILITY");
  if (cap) {
    s.capability = words(*cap);
  } else {
    for (auto w : default_capability) s.capability.emplace_back(w);
  }
  auto cap_tls = c.get("IMAP_CAPABILITY_TLS");
  s.capability_tls = cap_tls ? words(*cap_tls) : s.capability;
  if (!cap_tls) s.capability_tls.emplace_back("AUTH=LOGIN");
  s.starttls = upper_eq(c.get_string("IMAP_STARTTLS", "NO"), "YES") || c.get_string("IMAP_STARTTLS", "0") == "1";
  s.tls_required = c.get_bool("IMAP_TLS_REQUIRED", false);
  s.tls_active = c.get_bool("IMAP_TLS", false);
  s.maildir_path = c.get_string("MAILDIRPATH", "Maildir");
  if (s.maildir_path.empty()) s.maildir_path = "Maildir";
  s.trash_name = c.get_string("IMAP_TRASHFOLDERNAME", "Trash");
  s.move_expunge_to_trash = c.get_bool("IMAP_MOVE_EXPUNGE_TO_TRASH", false);
  s.empty_trash = c.get_string("IMAP_EMPTYTRASH", "");
  s.idle_timeout = std::chrono::seconds(c.get_int("IMAP_IDLE_TIMEOUT", 60, 1, 3600));
  s.login_timeout = std::chrono::seconds(c.get_int("IMAP_LOGIN_TIMEOUT", 60, 1, 3600));
  s.session_timeout = std::chrono::seconds(c.get_int("IMAP_TIMEOUT", 1800, 60, 86400));
  s.max_line_bytes = static_cast<std::size_t>(c.get_int("IMAP_MAX_LINE_BYTES", 65536, 1024, 16 << 20));
  s.max_literal_bytes = static_cast<std::size_t>(c.get_int("IMAP_MAX_LITERAL_BYTES", 65536, 1024, 16 << 20));
  s.max_message_bytes = static_cast<std::size_t>(c.get_int("IMAP_MAX_MESSAGE_BYTES", 64LL << 20, 1024, 1LL << 31));
  s.max_bad_logins = static_cast<int>(c.get_int("IMAP_MAX_BAD_LOGINS", 3, 1, 100));
  s.bad_login_delay = std::chrono::milliseconds(c.get_int("IMAP_BAD_LOGIN_DELAY", 5, 0, 60) * 1000);
  s.id_fields = static_cast<int>(c.get_int("IMAP_ID_FIELDS", 0, 0, 7));
  s.log_file = c.get_string("IMAP_LOGFILE", "");
  s.log_to_stderr = !c.get_string("LOGFILE", "").empty();
  s.tls_external = c.get_string("TLS_EXTERNAL", "");
  s.defdomain = c.get_string("DEFDOMAIN", "");
  s.compress = c.get_bool("IMAP_COMPRESS", true);
  s.acl = c.get_bool("IMAP_ACL", false);
  s.shared_index_file = c.get_string("IMAP_SHAREDINDEXFILE", s.shared_index_file);
  s.account_options = c.get_string("OPTIONS", "");
  // Courier: AUTHSERVICE<port> names the authlib service for that port.
  auto port = c.get("TCPLOCALPORT");
  if (port) {
    auto svc = c.get("AUTHSERVICE" + *port);
    if (svc && !svc->empty()) s.service = *svc;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) s.hostname = host;
  for (char& ch : s.hostname)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.' && ch != '_') ch = '-';
  if (s.hostname.empty()) s.hostname = "localhost";
  s.warnings = c.warnings();
  return s;
}

lib::Result<std::vector<std::string>> check_config_files(const std::vector<std::string>& paths) {
  static constexpr std::string_view known[] = {
      "IMAPDSTART", "PIDFILE", "LOGFILE", "MAXDAEMONS", "MAXPERIP", "PORT", "ADDRESS", "TCPDOPTS",
      "DEFDOMAIN", "IMAP_CAPABILITY", "IMAP_CAPABILITY_TLS", "IMAP_IDLE_TIMEOUT", "IMAP_TIMEOUT",
      "IMAP_LOGIN_TIMEOUT", "IMAP_MAX_BAD_LOGINS", "IMAP_BAD_LOGIN_DELAY", "IMAP_MAX_MESSAGE_BYTES",
      "IMAP_MAX_LITERAL_BYTES", "IMAP_MAX_LINE_BYTES", "IMAP_TRASHFOLDERNAME", "IMAP_EMPTYTRASH",
      "IMAP_MOVE_EXPUNGE_TO_TRASH", "IMAP_ID_FIELDS", "IMAP_STARTTLS", "IMAP_LOGFILE", "MAILDIRPATH",
      "SSLPORT", "SSLADDRESS", "SSLPIDFILE", "SSLLOGFILE", "IMAPDSSLSTART", "IMAPDSTARTTLS",
      "IMAP_TLS_REQUIRED", "COURIERTLS", "TLS_CERTFILE", "TLS_DHPARAMS", "TLS_VERIFYPEER",
      "TLS_EXTERNAL", "TLS_CACHEFILE", "TLS_CACHESIZE", "TLS_PROTOCOL", "TLS_STARTTLS_PROTOCOL",
      "TLS_CIPHER_LIST", "TLS_TRUSTCERTS", "TLS_MIN_PROTOCOL", "TLS_MAX_PROTOCOL", "TLS_CIPHERSUITES",
      "TLS_TIMEOUT", "TLS_PRIORITY", "IMAP_KEYWORDS", "IMAP_ACL", "IMAP_USELOCKS", "IMAP_UMASK",
      "IMAP_ULIMITD", "IMAP_CHECK_ALL_FOLDERS", "IMAP_DISABLETHREADSORT", "IMAP_OBSOLETE_CLIENT",
      "IMAP_MAILBOX_SANITY_CHECK", "IMAP_LOG_DELETIONS", "IMAPACCESSFILE", "IMAP_PROXY",
      "PROXY_HOSTNAME", "IMAP_PROXY_FOREIGN", "SMAP_CAPABILITY", "IMAP_SHAREDINDEXFILE",
      "IMAP_ENHANCEDIDLE", "IMAPDEBUGFILE", "DEBUG_LOGIN", "DOMAINSEP",
      "IMAP_COMPRESS",
      // Read by authlib's client (authlib/client.hpp): where authdaemond listens.
      "AUTHDAEMON_SOCKET",
      // The account couriertls runs as (lib/privileges.hpp), read by the start script and imaplogin.
      "MAILUSER"};
  lib::Config all;
  std::vector<std::string> warnings;
  for (const auto& p : paths) {
    auto c = lib::Config::load_file(p, &all);
    if (!c) return c.error();
    std::vector<std::string_view> names(std::begin(known), std::end(known));
    std::vector<std::string> file_names = c->names();
    for (const auto& n : file_names)
      if (n.rfind("AUTHSERVICE", 0) == 0) names.push_back(n);
    c->warn_unknown(names);
    for (const auto& w : c->warnings()) warnings.push_back(w);
    all.merge(*c);
  }
  return warnings;
}

std::string capability_line(const Settings& s, bool authenticated, bool external_available) {
  std::vector<std::string> caps;
  if (authenticated) {
    for (auto w : session_capability) caps.emplace_back(w);
    for (auto w : misc_capability) caps.emplace_back(w);
    if (s.compress) caps.emplace_back("COMPRESS=DEFLATE");
    if (s.acl) {  // RFC 4314; ACL2=UNION: rights are the union over identifiers (imapd/acl.hpp)
      caps.emplace_back("ACL");
      caps.emplace_back("ACL2=UNION");
      caps.emplace_back("RIGHTS=texk");
    }
    // Keep extra capabilities the admin listed that we implement elsewhere.
    return [&] {
      std::string out = "CAPABILITY";
      for (const auto& c : caps) out += " " + c;
      return out;
    }();
  }
  const auto& base = s.tls_active ? s.capability_tls : s.capability;
  bool disabled = s.tls_required && !s.tls_active;
  bool have_rev1 = false;
  for (const auto& c : base) {
    if (upper_eq(c, "IMAP4rev1")) have_rev1 = true;
    if (upper_eq(c, "STARTTLS") || upper_eq(c, "LOGINDISABLED")) continue;
    if (disabled && c.size() > 5 && upper_eq(std::string_view(c).substr(0, 5), "AUTH=")) continue;
    caps.push_back(c);
  }
  if (!have_rev1) caps.insert(caps.begin(), "IMAP4rev1");
  // A client that speaks RFC 9051 must see IMAP4rev2 before login to ENABLE it
  // after; it goes beside IMAP4rev1 unless the admin's list already has it.
  if (std::none_of(caps.begin(), caps.end(), [](const std::string& c) { return upper_eq(c, "IMAP4rev2"); })) {
    auto rev1 = std::find_if(caps.begin(), caps.end(), [](const std::string& c) { return upper_eq(c, "IMAP4rev1"); });
    caps.insert(rev1 + 1, "IMAP4rev2");
  }
  for (std::string_view w : {"LITERAL+", "SASL-IR", "ID", "ENABLE"})
    if (std::none_of(caps.begin(), caps.end(), [&](const std::string& c) { return upper_eq(c, w); }))
      caps.emplace_back(w);
  if (external_available &&
      std::none_of(caps.begin(), caps.end(), [](const std::string& c) { return upper_eq(c, "AUTH=EXTERNAL"); }))
    caps.emplace_back("AUTH=EXTERNAL");
  if (s.starttls && !s.tls_active) caps.emplace_back("STARTTLS");
  if (disabled) caps.emplace_back("LOGINDISABLED");
  std::string out = "CAPABILITY";
  for (const auto& c : caps) out += " " + c;
  return out;
}

}  // namespace imapd
