// authlib/module_ldap.cpp: authldap on OpenLDAP's libldap.
//
// RFCs: 4511 (the protocol: search, simple bind, modify, result codes), 4513
// section 5.1 (simple bind; an empty password is an unauthenticated bind,
// which servers let through, so we never send one), 4515 (filter strings and
// escaping), 4526 (absolute true/false filters), 2696 (paged results, for
// ENUMERATE), 4516/4514 for URIs through ldap_url_parse.
//
// SECURITY: the login name is untrusted: it is length-checked, refused with
// control characters, and escaped into the filter, so it can only ever be
// compared with LDAP_MAIL. Values read from the directory may be writable by
// the users themselves (a self-write ACL on cn or sharedgroup is common), so
// a value with a control character (which could add lines to the authdaemon
// reply) or an option value with a comma (which could add options such as
// group=administrators) makes the account unusable instead of being passed on.
// Passwords live in lib::Secret and never reach a log line or a reason.
#include "authlib/module_ldap.hpp"

#include <lber.h>
#include <ldap.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>

#include "authlib/password.hpp"
#include "lib/ascii.hpp"
#include "lib/c_handle.hpp"
#include "lib/log.hpp"

namespace authlib {
namespace {

// ---------------------------------------------------------------------------
// Small text helpers

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

using lib::ascii::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_keychar(char c) { return is_alpha(c) || is_digit(c) || c == '-'; }

// Splits on commas and blanks, dropping empty pieces (LDAP_URI's list form).
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// A value quoted for a message; control characters are escaped by the log.
std::string quoted(std::string_view s) {
  constexpr size_t max_shown = 200;
  if (s.size() > max_shown) return "\"" + std::string(s.substr(0, max_shown)) + "...\"";
  return "\"" + std::string(s) + "\"";
}

template <class T>
std::optional<T> to_number(std::string_view s) {
  s = trim(s);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------
// RFC 4515 filter syntax

// attributedescription = attributetype options (RFC 4512 section 2.5):
// a descr (ALPHA *keychar) or a numericoid, then *(";" 1*keychar).
size_t scan_attribute_description(std::string_view s, size_t i) {
  size_t start = i;
  if (i < s.size() && is_alpha(s[i])) {
    while (i < s.size() && is_keychar(s[i])) ++i;
  } else if (i < s.size() && is_digit(s[i])) {
    for (;;) {
      if (i >= s.size() || !is_digit(s[i])) return start;
      if (s[i] == '0' && i + 1 < s.size() && is_digit(s[i + 1])) return start;  // no leading zeros
      while (i < s.size() && is_digit(s[i])) ++i;
      if (i < s.size() && s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1])) {
        ++i;
        continue;
      }
      break;
    }
  } else {
    return start;
  }
  while (i < s.size() && s[i] == ';') {
    size_t j = i + 1;
    while (j < s.size() && is_keychar(s[j])) ++j;
    if (j == i + 1) return start;
    i = j;
  }
  return i;
}

bool valid_attribute_description(std::string_view s) {
  return !s.empty() && s.size() <= 256 && scan_attribute_description(s, 0) == s.size();
}

class FilterChecker {
 public:
  explicit FilterChecker(std::string_view s) : s_(s) {}

  bool check() {
    if (s_.size() > ldap_max_filter_bytes) return false;
    return filter(0) && pos_ == s_.size();
  }

 private:
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  // filter = LPAREN filtercomp RPAREN
  bool filter(size_t depth) {
    if (depth >= ldap_max_filter_depth || !eat('(')) return false;
    bool ok;
    switch (peek()) {
      case '&':
      case '|':
        ++pos_;
        ok = filter_list(depth);
        break;
      case '!':
        ++pos_;
        ok = filter(depth + 1);
        break;
      default:
        ok = item();
    }
    return ok && eat(')');
  }

  // filterlist = *filter (RFC 4526 allows the empty list)
  bool filter_list(size_t depth) {
    while (peek() == '(') {
      if (!filter(depth + 1)) return false;
    }
    return true;
  }

  // valueencoding = 0*(normal / escaped), stopping before * or ); star_ok
  // allows the '*' of presence and substring assertions between pieces.
  bool value(bool star_ok) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ')') return true;
      if (c == '(' || c == '\0') return false;
      if (c == '*') {
        if (!star_ok) return false;
        ++pos_;
        continue;
      }
      if (c == '\\') {
        if (pos_ + 2 >= s_.size() || !is_hex(s_[pos_ + 1]) || !is_hex(s_[pos_ + 2])) return false;
        pos_ += 3;
        continue;
      }
      ++pos_;
    }
    return true;  // the caller's eat(')') reports the missing parenthesis
  }

  // item = simple / present / substring / extensible
  bool item() {
    size_t after_attr = scan_attribute_description(s_, pos_);
    bool have_attr = after_attr != pos_;
    pos_ = after_attr;
    if (peek() == ':') {
      // extensible = [attr] [":dn"] [":" oid] ":=" value, and attr or oid present
      bool have_rule = false;
      if (s_.substr(pos_, 3) == ":dn" && (pos_ + 3 >= s_.size() || s_[pos_ + 3] == ':')) pos_ += 3;
      if (peek() == ':' && pos_ + 1 < s_.size() && s_[pos_ + 1] != '=') {
        ++pos_;
        size_t after = scan_attribute_description(s_, pos_);
        if (after == pos_) return false;
        pos_ = after;
        have_rule = true;
      }
      if (!(have_attr || have_rule)) return false;
      if (!eat(':') || !eat('=')) return false;
      return value(false);
    }
    if (!have_attr) return false;
    if (eat('=')) return value(true);
    if ((eat('~') || eat('>') || eat('<')) && eat('=')) return value(false);
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Settings

constexpr std::string_view known_settings[] = {
    "LDAP_URI",          "LDAP_PROTOCOL_VERSION", "LDAP_TLS",         "LDAP_TIMEOUT",
    "LDAP_BASEDN",       "LDAP_BINDDN",           "LDAP_BINDPW",      "LDAP_AUTHBIND",
    "LDAP_INITBIND",     "LDAP_MAIL",             "LDAP_FILTER",      "LDAP_DOMAIN",
    "LDAP_GLOB_UID",     "LDAP_GLOB_GID",         "LDAP_UID",         "LDAP_GID",
    "LDAP_HOMEDIR",      "LDAP_MAILROOT",         "LDAP_MAILDIR",     "LDAP_DEFAULTDELIVERY",
    "LDAP_MAILDIRQUOTA", "LDAP_FULLNAME",         "LDAP_CLEARPW",     "LDAP_CRYPTPW",
    "LDAP_AUXOPTIONS",   "LDAP_ENUMERATE_FILTER", "LDAP_DEREF",       "LDAP_EMAILMAP",
    "LDAP_EMAILMAP_BASEDN", "LDAP_EMAILMAP_ATTRIBUTE", "LDAP_EMAILMAP_MAIL",
};

class SettingsReader {
 public:
  SettingsReader(const lib::Config& rc, const std::string& path) : rc_(rc), path_(path) {}

  lib::Error bad(std::string_view name, std::string_view what) const {
    std::string where = rc_.has(name) ? rc_.where(name) : path_;
    return lib::permanent_error(where + ": " + std::string(name) + " " + std::string(what));
  }

  std::optional<std::string> get(std::string_view name) const { return rc_.get(name); }

  // A setting's text; "" when absent or empty.
  std::string text(std::string_view name) const { return rc_.get_string(name, ""); }

  lib::Result<bool> boolean(std::string_view name, bool def) const {
    auto v = rc_.get(name);
    if (!v || trim(*v).empty()) return def;
    if (auto b = lib::parse_bool(trim(*v))) return *b;
    return bad(name, quoted(*v) + " is not a boolean: write 1 or 0");
  }

  lib::Result<std::string> attribute(std::string_view name, std::string_view def) const {
    std::string v = std::string(trim(rc_.get_string(name, def)));
    if (!v.empty() && !valid_attribute_description(v))
      return bad(name, quoted(v) + " is not an LDAP attribute name (letters, digits and '-', starting with a letter, "
                                   "or a numeric OID)");
    return v;
  }

  lib::Result<std::string> dn(std::string_view name, bool required) const {
    std::string v = std::string(trim(text(name)));
    if (v.empty()) {
      if (required) return bad(name, "is not set: it names the subtree to search, e.g. ou=people,dc=example,dc=com");
      return v;
    }
    LDAPDN parsed = nullptr;
    int rc = ldap_str2dn(v.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3);
    if (parsed) ldap_dnfree(parsed);
    if (rc != LDAP_SUCCESS || has_control(v))
      return bad(name, quoted(v) + " is not a distinguished name (RFC 4514), e.g. cn=admin,dc=example,dc=com");
    return v;
  }

  lib::Result<std::string> filter(std::string_view name) const {
    std::string v = std::string(trim(text(name)));
    if (v.empty()) return v;
    if (ldap_filter_valid(v)) return v;
    // Like ldapsearch, accept a single item written without its parentheses.
    if (v.front() != '(' && ldap_filter_valid("(" + v + ")")) return "(" + v + ")";
    return bad(name, quoted(v) + " is not an LDAP filter (RFC 4515), e.g. (objectClass=CourierMailAccount)");
  }

  const lib::Config& config() const { return rc_; }

 private:
  const lib::Config& rc_;
  const std::string& path_;
};

lib::Result<uid_t> user_id(const SettingsReader& r, std::string_view name, const std::string& v) {
  if (auto n = to_number<uid_t>(v)) return *n;
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  int err = ::getpwnam_r(v.c_str(), &pw, buf.data(), buf.size(), &found);
  if (err == 0 && found) return found->pw_uid;
  if (err != 0) return r.bad(name, "user " + quoted(v) + " cannot be looked up: " + lib::errno_text(err));
  return r.bad(name, quoted(v) + " is neither a number nor a user name known to the system");
}

lib::Result<gid_t> group_id(const SettingsReader& r, std::string_view name, const std::string& v) {
  if (auto n = to_number<gid_t>(v)) return *n;
  std::vector<char> buf(65536);
  struct group gr {};
  struct group* found = nullptr;
  int err = ::getgrnam_r(v.c_str(), &gr, buf.data(), buf.size(), &found);
  if (err == 0 && found) return found->gr_gid;
  if (err != 0) return r.bad(name, "group " + quoted(v) + " cannot be looked up: " + lib::errno_text(err));
  return r.bad(name, quoted(v) + " is neither a number nor a group name known to the system");
}

// Checks LDAP_URI and returns it as a blank-separated list for ldap_initialize.
lib::Result<std::string> check_uri(const SettingsReader& r, bool start_tls) {
  auto raw = r.get("LDAP_URI");
  if (!raw || trim(*raw).empty())
    return r.bad("LDAP_URI", "is not set: name the server, e.g. LDAP_URI ldap://ldap.example.com/");
  std::string joined;
  for (const std::string& u : split_list(*raw)) {
    LDAPURLDesc* lud = nullptr;
    int rc = ldap_url_parse(u.c_str(), &lud);
    std::string scheme = lud && lud->lud_scheme ? lud->lud_scheme : "";
    if (lud) ldap_free_urldesc(lud);
    if (rc != LDAP_URL_SUCCESS || has_control(u))
      return r.bad("LDAP_URI", quoted(u) + " is not an LDAP URI such as ldap://host:389/, ldaps://host/ or "
                                           "ldapi://%2Frun%2Fslapd%2Fldapi");
    if (start_tls && iequals(scheme, "ldaps"))
      return r.bad("LDAP_URI", quoted(u) + " is already TLS (ldaps://), and LDAP_TLS 1 asks for StartTLS on top: "
                                           "set LDAP_TLS 0, or use ldap:// with LDAP_TLS 1");
    if (!joined.empty()) joined += ' ';
    joined += u;
  }
  return joined;
}

lib::Result<std::vector<LdapAuxOption>> aux_options(const SettingsReader& r) {
  std::vector<LdapAuxOption> out;
  std::string v = r.text("LDAP_AUXOPTIONS");
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    std::string_view pair = trim(std::string_view(v).substr(pos, comma - pos));
    pos = comma + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string attr(trim(pair.substr(0, eq)));
    // Courier writes "attribute=option"; an attribute alone keeps its name.
    std::string option(eq == std::string_view::npos ? attr : std::string(trim(pair.substr(eq + 1))));
    if (!valid_attribute_description(attr))
      return r.bad("LDAP_AUXOPTIONS", quoted(pair) + ": " + quoted(attr) + " is not an LDAP attribute name; write "
                                      "attribute=option pairs separated by commas, e.g. sharedgroup=sharedgroup");
    bool option_ok = !option.empty() && option.size() <= 64 &&
                     std::all_of(option.begin(), option.end(), [](char c) { return is_keychar(c) || c == '_'; });
    if (!option_ok)
      return r.bad("LDAP_AUXOPTIONS", quoted(pair) + ": the option name " + quoted(option) +
                                          " must be letters, digits, '-' or '_', e.g. disableimap");
    out.push_back({std::move(attr), std::move(option)});
  }
  return out;
}

// LDAP_EMAILMAP may hold only the placeholders @user@ and @realm@ (a literal
// "@" is written \40, as Courier's documentation says).
bool emailmap_placeholders_ok(std::string_view s) {
  size_t at = 0;
  while ((at = s.find('@', at)) != std::string_view::npos) {
    if (s.substr(at, 6) == "@user@")
      at += 6;
    else if (s.substr(at, 7) == "@realm@")
      at += 7;
    else
      return false;
  }
  return true;
}

std::string replace_placeholders(std::string_view s, std::string_view user, std::string_view realm) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s.substr(i, 6) == "@user@") {
      out += user;
      i += 6;
    } else if (s.substr(i, 7) == "@realm@") {
      out += realm;
      i += 7;
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::string item_filter(std::string_view attribute, std::string_view escaped_value) {
  return "(" + std::string(attribute) + "=" + std::string(escaped_value) + ")";
}

std::string and_filter(const std::string& filter, const std::string& item) {
  return filter.empty() ? item : "(&" + filter + item + ")";
}

// ---------------------------------------------------------------------------
// libldap handles

// ldap_unbind_ext_s wants more than the pointer's owner knows: a handle
// inherited across fork() must not send an unbind on the parent's socket, so
// it is only destroyed.
class LdapHandle {
 public:
  LdapHandle() = default;
  explicit LdapHandle(LDAP* ld) noexcept : ld_(ld), owner_(::getpid()) {}
  LdapHandle(const LdapHandle&) = delete;
  LdapHandle& operator=(const LdapHandle&) = delete;
  LdapHandle(LdapHandle&& other) noexcept : ld_(std::exchange(other.ld_, nullptr)), owner_(other.owner_) {}
  LdapHandle& operator=(LdapHandle&& other) noexcept {
    if (this != &other) {
      reset();
      ld_ = std::exchange(other.ld_, nullptr);
      owner_ = other.owner_;
    }
    return *this;
  }
  ~LdapHandle() { reset(); }

  void reset() noexcept {
    if (!ld_) return;
    if (owner_ == ::getpid())
      ::ldap_unbind_ext_s(ld_, nullptr, nullptr);
    else
      ::ldap_destroy(ld_);
    ld_ = nullptr;
  }
  LDAP* get() const noexcept { return ld_; }
  explicit operator bool() const noexcept { return ld_ != nullptr; }

 private:
  LDAP* ld_ = nullptr;
  pid_t owner_ = 0;
};

using LdapMessagePtr = lib::CHandle<LDAPMessage, ldap_msgfree>;
using BervalArray = lib::CHandle<berval*, ldap_value_free_len>;
using LdapString = lib::CHandle<char, ldap_memfree>;
using LdapControlPtr = lib::CHandle<LDAPControl, ldap_control_free>;
using LdapControlArray = lib::CHandle<LDAPControl*, ldap_controls_free>;

// Result codes that mean the connection is no use any more: the client
// library's own errors (server down, timeout, connect error, ...) and a
// server that says it is unavailable or busy. Worth one try on a new
// connection (which may also reach the next server of LDAP_URI).
bool connection_failed(int rc) { return rc < 0 || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY; }

std::string diagnostic(LDAP* ld) {
  char* msg = nullptr;
  if (!ld || ::ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS || !msg) return {};
  LdapString holder(msg);
  std::string text(msg);
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

// "ldap_search_ext_s: Can't contact LDAP server (diagnostic)"
std::string ldap_text(LDAP* ld, std::string_view operation, int rc) {
  std::string text = std::string(operation) + ": " + ::ldap_err2string(rc);
  std::string diag = diagnostic(ld);
  if (!diag.empty()) text += " (" + diag + ")";
  return text;
}

berval secret_berval(const lib::Secret& secret) {
  // libldap takes a non-const berval but only reads the password.
  return berval{static_cast<ber_len_t>(secret.size()), const_cast<char*>(secret.reveal().data())};
}

// The connection was lost or never made: worth a retry on a new one.
struct Lost {
  std::string message;     // ldap_text() of the failed call
  bool timed_out = false;  // LDAP_TIMEOUT: the server did not answer in time
  bool reused = false;     // the connection had served an earlier operation
};

// A step of a request: its value, a final answer (rejected or temporary),
// or a lost connection.
struct Done {};
template <class T>
using Step = std::variant<T, ModuleReply, Lost>;

Lost lost(LDAP* ld, std::string_view operation, int rc, bool reused) {
  return Lost{ldap_text(ld, operation, rc), rc == LDAP_TIMEOUT, reused};
}

// One connection to the directory, opened on first use and kept across
// requests.
class LdapConnection {
 public:
  // Opens the connection if it is not open: ldap_initialize, options,
  // StartTLS (LDAP_TLS) and, if service_bind, the bind as LDAP_BINDDN
  // (LDAP_INITBIND). Nothing is sent before the first operation.
  Step<Done> open(const LdapSettings& s, bool service_bind) {
    if (handle_) return Done{};
    LDAP* raw = nullptr;
    int rc = ::ldap_initialize(&raw, s.uri.c_str());
    if (rc != LDAP_SUCCESS || !raw)
      return ModuleReply::temporary("ldap_initialize(" + s.uri + "): " + ::ldap_err2string(rc) + "; check " +
                                    s.ref("LDAP_URI"));
    LdapHandle h(raw);
    int version = s.protocol_version;
    timeval tv{static_cast<time_t>(s.timeout.count()), 0};
    int deref = s.deref == LdapDeref::never       ? LDAP_DEREF_NEVER
                : s.deref == LdapDeref::searching ? LDAP_DEREF_SEARCHING
                : s.deref == LdapDeref::finding   ? LDAP_DEREF_FINDING
                                                  : LDAP_DEREF_ALWAYS;
    struct Option {
      int option;
      const void* value;
      const char* name;
    };
    // Referrals stay off: following one would send our binds to a server
    // that LDAP_URI does not name.
    const Option options[] = {
        {LDAP_OPT_PROTOCOL_VERSION, &version, "LDAP_OPT_PROTOCOL_VERSION"},
        {LDAP_OPT_NETWORK_TIMEOUT, &tv, "LDAP_OPT_NETWORK_TIMEOUT"},
        {LDAP_OPT_TIMEOUT, &tv, "LDAP_OPT_TIMEOUT"},
        {LDAP_OPT_DEREF, &deref, "LDAP_OPT_DEREF"},
        {LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "LDAP_OPT_REFERRALS"},
    };
    for (const Option& o : options) {
      rc = ::ldap_set_option(h.get(), o.option, o.value);
      if (rc != LDAP_OPT_SUCCESS)
        return ModuleReply::temporary(std::string("ldap_set_option(") + o.name + ") for " + s.uri +
                                      " failed: " + ::ldap_err2string(rc));
    }
    if (s.start_tls) {
      rc = ::ldap_start_tls_s(h.get(), nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        if (connection_failed(rc)) {
          Lost l = lost(h.get(), "ldap_start_tls_s", rc, false);
          l.message += "; if the certificate is the problem, set LDAPTLS_CACERT in authdaemonrc or TLS_CACERT in "
                       "ldap.conf";
          return l;
        }
        return ModuleReply::temporary("StartTLS with " + s.uri + " failed: " + ldap_text(h.get(), "ldap_start_tls_s", rc) +
                                      "; the server must offer StartTLS for " + s.ref("LDAP_TLS"));
      }
    }
    if (service_bind && s.init_bind) {
      berval cred = secret_berval(s.bind_password);
      rc = ::ldap_sasl_bind_s(h.get(), s.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        if (connection_failed(rc)) return lost(h.get(), "ldap_sasl_bind_s", rc, false);
        return ModuleReply::temporary("the service bind as " + s.bind_dn + " was refused by " + s.uri + ": " +
                                      ldap_text(h.get(), "ldap_sasl_bind_s", rc) + "; fix " + s.ref("LDAP_BINDDN") +
                                      " and " + s.ref("LDAP_BINDPW"));
      }
    }
    handle_ = std::move(h);
    used_ = false;
    return Done{};
  }

  void close() noexcept {
    handle_.reset();
    used_ = false;
  }
  LDAP* get() const noexcept { return handle_.get(); }
  bool is_open() const noexcept { return static_cast<bool>(handle_); }
  // Whether an operation already went through this connection (so a failure
  // may just mean that the server closed it while it was idle).
  bool used() const noexcept { return used_; }
  void mark_used() noexcept { used_ = true; }

 private:
  LdapHandle handle_;
  bool used_ = false;
};

// An entry as read, with a problem that makes it unusable (an oversized value).
struct ReadEntry {
  LdapEntry entry;
  std::string problem;
};

ReadEntry read_entry(LDAP* ld, LDAPMessage* msg, const std::vector<std::string>& attributes) {
  ReadEntry out;
  if (char* dn = ::ldap_get_dn(ld, msg)) {
    LdapString holder(dn);
    out.entry.dn = dn;
  }
  if (out.entry.dn.empty()) {
    out.problem = "the server returned an entry without a DN";
    return out;
  }
  for (const std::string& attr : attributes) {
    BervalArray vals(::ldap_get_values_len(ld, msg, attr.c_str()));
    if (!vals) continue;
    std::vector<std::string> values;
    for (berval** v = vals.get(); *v && values.size() < ldap_max_values_per_attribute; ++v) {
      if ((*v)->bv_len > ldap_max_value_bytes) {
        out.problem = "attribute " + attr + " of " + out.entry.dn + " holds a value of " +
                      std::to_string((*v)->bv_len) + " bytes, over the limit of " +
                      std::to_string(ldap_max_value_bytes);
        return out;
      }
      values.emplace_back((*v)->bv_val, (*v)->bv_len);
    }
    out.entry.attributes.emplace_back(attr, std::move(values));
  }
  return out;
}

// The attributes a lookup asks for, each once.
std::vector<std::string> lookup_attributes(const LdapSettings& s, bool for_enumerate) {
  std::vector<std::string> out;
  auto add = [&](const std::string& a) {
    if (a.empty()) return;
    for (const std::string& have : out)
      if (iequals(have, a)) return;
    out.push_back(a);
  };
  add(s.mail_attribute);
  add(s.home_attribute);
  add(s.uid_attribute);
  add(s.gid_attribute);
  add(s.maildir_attribute);
  for (const LdapAuxOption& o : s.aux_options) add(o.attribute);
  if (!for_enumerate) {
    add(s.default_delivery_attribute);
    add(s.quota_attribute);
    add(s.fullname_attribute);
    add(s.clear_password_attribute);
    add(s.crypt_password_attribute);
  }
  return out;
}

// A NULL-terminated char* array over strings that outlive it.
std::vector<char*> c_array(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// A checked login name, or why it is refused.
std::optional<std::string> login_problem(std::string_view login) {
  if (login.empty()) return "empty login name";
  if (login.size() > ldap_max_login_bytes)
    return "login name of " + std::to_string(login.size()) + " bytes is over the limit of " +
           std::to_string(ldap_max_login_bytes);
  if (has_control(login)) return "login name holds a control character";
  return std::nullopt;
}

struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  timespec mtime{};
  timespec ctime{};

  bool operator==(const FileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

lib::Result<LdapSettings> load_settings(const std::string& path) {
  auto rc = lib::Config::load_spaced_file(path);
  if (!rc)
    return lib::permanent_error(rc.error().message + " (authldaprc: install it from the suite's sysconfdir/authldaprc, "
                                                     "or point AUTHLDAPRC in authdaemonrc at it)");
  return parse_ldap_settings(rc.value(), path);
}

// The scheme of a new password hash: that of the old one if it is a strong
// crypt(3) scheme (so the directory's other readers keep understanding it),
// else yescrypt.
Scheme new_hash_scheme(std::string_view old_hash) {
  switch (Scheme s = detect_scheme(old_hash)) {
    case Scheme::yescrypt:
    case Scheme::sha512_crypt:
    case Scheme::sha256_crypt:
    case Scheme::bcrypt:
      return s;
    default:
      return Scheme::yescrypt;
  }
}

// ---------------------------------------------------------------------------
// The module

class LdapModule final : public Module {
 public:
  LdapModule(LdapSettings settings, std::optional<FileStamp> stamp)
      : settings_(std::move(settings)), stamp_(stamp) {}

  std::string_view name() const override { return "authldap"; }

  ModuleReply lookup(std::string_view user, std::string_view service) override {
    reload_if_changed();
    return with_retry([&]() -> std::variant<ModuleReply, Lost> {
      auto found = find_entry(user);
      if (auto* e = std::get_if<LdapEntry>(&found)) return ldap_entry_to_account(settings_, *e, user, service);
      return forward(std::move(found));
    });
  }

  ModuleReply authenticate(const AuthRequest& request) override {
    reload_if_changed();
    const LdapSettings& s = settings_;
    if (!request.cram && request.password.empty()) return ModuleReply::reject("empty password");
    return with_retry([&]() -> std::variant<ModuleReply, Lost> {
      auto found = find_entry(request.user);
      auto* entry = std::get_if<LdapEntry>(&found);
      if (!entry) return forward(std::move(found));
      ModuleReply account = ldap_entry_to_account(s, *entry, request.user, request.service);
      if (account.outcome != Outcome::ok) return account;
      if (request.cram) {
        if (account.account.clear_password.empty())
          return ModuleReply::reject(
              "CRAM needs the clear-text password, and " + entry->dn + " has none: set " + s.ref("LDAP_CLEARPW") +
              " to an attribute that holds it and that LDAP_BINDDN may read (LDAP_AUTHBIND cannot check CRAM)");
        return check_secret(request, std::move(account.account));
      }
      if (s.auth_bind) {
        auto bound = bind_as_user(entry->dn, request.password);
        if (std::holds_alternative<Done>(bound)) return account;
        return forward(std::move(bound));
      }
      return check_password(*entry, std::move(account.account), request.password);
    });
  }

  ModuleReply change_password(std::string_view /*service*/, std::string_view user, const lib::Secret& old_password,
                              const lib::Secret& new_password) override {
    reload_if_changed();
    const LdapSettings& s = settings_;
    if (!s.auth_bind)
      return ModuleReply::reject("authldap changes passwords only with LDAP_AUTHBIND 1 (as the user, whose old "
                                 "password the directory checks): set it in " +
                                 s.path + ", or change the password with the directory's own tools");
    if (s.crypt_password_attribute.empty())
      return ModuleReply::reject("LDAP_CRYPTPW is not set, so there is no password attribute to write; set it in " +
                                 s.path + " (usually userPassword)");
    if (old_password.empty() || new_password.empty()) return ModuleReply::reject("empty password");
    // Once the modify is sent, every outcome is a final answer: a lost
    // connection then is not retried, as the change may have been made.
    return with_retry([&]() -> std::variant<ModuleReply, Lost> {
      auto found = find_entry(user);
      auto* entry = std::get_if<LdapEntry>(&found);
      if (!entry) return forward(std::move(found));
      auto bound = bind_as_user(entry->dn, old_password);
      if (!std::holds_alternative<Done>(bound)) return forward(std::move(bound));

      const std::vector<std::string>* old_hashes = entry->values(s.crypt_password_attribute);
      Scheme scheme = new_hash_scheme(old_hashes && !old_hashes->empty() ? (*old_hashes)[0] : std::string());
      auto hash = make_password_hash(new_password, scheme);
      if (!hash)
        return hash.error().temporary() ? ModuleReply::temporary(hash.error().message)
                                         : ModuleReply::reject("the new password cannot be used: " + hash.error().message);
      lib::Secret crypt_value("{CRYPT}" + hash.value());
      berval crypt_bv = secret_berval(crypt_value);
      berval* crypt_vals[] = {&crypt_bv, nullptr};
      LDAPMod crypt_mod{};
      crypt_mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
      crypt_mod.mod_type = const_cast<char*>(s.crypt_password_attribute.c_str());
      crypt_mod.mod_bvalues = crypt_vals;
      // A clear-text copy, where the entry keeps one, must change too, or the
      // old password would still pass CRAM and non-bind checks.
      berval clear_bv = secret_berval(new_password);
      berval* clear_vals[] = {&clear_bv, nullptr};
      LDAPMod clear_mod{};
      clear_mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
      clear_mod.mod_type = const_cast<char*>(s.clear_password_attribute.c_str());
      clear_mod.mod_bvalues = clear_vals;
      const bool has_clear = !s.clear_password_attribute.empty() && entry->values(s.clear_password_attribute);
      LDAPMod* mods[] = {&crypt_mod, has_clear ? &clear_mod : nullptr, nullptr};

      lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: changing %s%s of %s as that user",
                         s.crypt_password_attribute.c_str(),
                         has_clear ? (" and " + s.clear_password_attribute).c_str() : "", entry->dn.c_str());
      int rc = ::ldap_modify_ext_s(bind_.get(), entry->dn.c_str(), mods, nullptr, nullptr);
      std::string text = ldap_text(bind_.get(), "ldap_modify_ext_s", rc);
      if (s.protocol_version == 2) bind_.close();
      if (rc == LDAP_SUCCESS) return ModuleReply::found(Account{});
      if (connection_failed(rc)) {
        bind_.close();
        return ModuleReply::temporary("the connection to " + s.uri + " was lost while changing the password of " +
                                      entry->dn + " (" + text +
                                      "); the change may or may not have been made: try the new password");
      }
      if (rc == LDAP_INSUFFICIENT_ACCESS)
        return ModuleReply::reject("the directory does not let " + entry->dn + " write its own " +
                                   s.crypt_password_attribute + (has_clear ? " and " + s.clear_password_attribute : "") +
                                   " (" + text + "); grant it, e.g. in slapd: access to attrs=userPassword by self write");
      return ModuleReply::reject("the directory refused the new password of " + entry->dn + ": " + text);
    });
  }

  lib::Result<void> enumerate(const std::function<void(const Account&)>& fn) override {
    reload_if_changed();
    size_t emitted = 0;
    for (int attempt = 0;; ++attempt) {
      auto r = enumerate_once(fn, emitted);
      if (auto* l = std::get_if<Lost>(&r)) {
        close_all();
        if (attempt == 0 && emitted == 0 && retry_worth(*l)) {
          log_retry(*l);
          continue;
        }
        return lib::temporary_error(unreachable_text(*l, attempt > 0));
      }
      if (auto* reply = std::get_if<ModuleReply>(&r)) {
        if (reply->outcome == Outcome::temporary) return lib::temporary_error(reply->reason);
        return lib::permanent_error(reply->reason);
      }
      return {};
    }
  }

 private:
  // ---- retry and messages

  template <class T>
  static std::variant<ModuleReply, Lost> forward(Step<T>&& step) {
    if (auto* r = std::get_if<ModuleReply>(&step)) return std::move(*r);
    return std::get<Lost>(std::move(step));
  }

  // A timeout on a connection just made will only time out again; anything
  // else may be an idle connection the server closed, or the next server.
  static bool retry_worth(const Lost& l) { return !l.timed_out || l.reused; }

  void close_all() noexcept {
    main_.close();
    bind_.close();
  }

  void log_retry(const Lost& l) {
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: %s: %s; retrying on a new connection", settings_.uri.c_str(),
                       l.message.c_str());
  }

  std::string unreachable_text(const Lost& l, bool retried) const {
    const LdapSettings& s = settings_;
    return "LDAP server " + s.uri + " unreachable: " + l.message + (retried ? " (also on a new connection)" : "") +
           "; check that it runs and that " + s.ref("LDAP_URI") + " names it" +
           (l.timed_out ? ", or raise " + s.ref("LDAP_TIMEOUT") : std::string());
  }

  // Runs one attempt, and once more on new connections when the first lost
  // its connection; then a temporary failure naming the server.
  template <class Fn>
  ModuleReply with_retry(Fn&& attempt_fn) {
    for (int attempt = 0;; ++attempt) {
      std::variant<ModuleReply, Lost> r = attempt_fn();
      if (auto* reply = std::get_if<ModuleReply>(&r)) return std::move(*reply);
      Lost& l = std::get<Lost>(r);
      close_all();
      if (attempt == 0 && retry_worth(l)) {
        log_retry(l);
        continue;
      }
      return ModuleReply::temporary(unreachable_text(l, attempt > 0));
    }
  }

  std::string bound_as() const {
    const LdapSettings& s = settings_;
    return s.init_bind ? s.bind_dn : std::string("anonymous (LDAP_INITBIND 0)");
  }

  // ---- operations

  Step<Done> open_main() { return main_.open(settings_, true); }

  // Searches base for filter, asking for at most size_limit entries (0: the
  // server's limit). more is set when the server had more than it sent.
  struct Found {
    std::vector<ReadEntry> entries;
    bool more = false;
  };
  Step<Found> search(const std::string& base, const std::string& filter, const std::vector<std::string>& attributes,
                     int size_limit) {
    const LdapSettings& s = settings_;
    if (auto opened = open_main(); !std::holds_alternative<Done>(opened)) return forward_step<Found>(std::move(opened));
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: searching %s under %s for %s as %s", s.uri.c_str(), base.c_str(),
                       filter.c_str(), bound_as().c_str());
    auto attrs = c_array(attributes);
    timeval tv{static_cast<time_t>(s.timeout.count()), 0};
    LDAPMessage* raw = nullptr;
    const bool reused = main_.used();
    int rc = ::ldap_search_ext_s(main_.get(), base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs.data(), 0,
                                 nullptr, nullptr, &tv, size_limit, &raw);
    LdapMessagePtr res(raw);
    main_.mark_used();
    if (connection_failed(rc)) return lost(main_.get(), "ldap_search_ext_s", rc, reused);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
      std::string text = ldap_text(main_.get(), "ldap_search_ext_s", rc);
      if (rc == LDAP_NO_SUCH_OBJECT)
        return ModuleReply::temporary("the search base " + base + " does not exist on " + s.uri + " (" + text +
                                      "); fix " + s.ref("LDAP_BASEDN"));
      return ModuleReply::temporary("searching " + s.uri + " under " + base + " for " + filter + " as " + bound_as() +
                                    " failed: " + text);
    }
    Found found;
    found.more = rc == LDAP_SIZELIMIT_EXCEEDED;
    for (LDAPMessage* e = ::ldap_first_entry(main_.get(), res.get()); e; e = ::ldap_next_entry(main_.get(), e))
      found.entries.push_back(read_entry(main_.get(), e, attributes));
    return found;
  }

  template <class T, class U>
  static Step<T> forward_step(Step<U>&& step) {
    if (auto* r = std::get_if<ModuleReply>(&step)) return std::move(*r);
    return std::get<Lost>(std::move(step));
  }

  // The one entry a search must find; rejects none ("no such account") and
  // several ("ambiguous").
  Step<LdapEntry> search_one(const std::string& base, const std::string& filter,
                             const std::vector<std::string>& attributes, std::string_view login) {
    auto searched = search(base, filter, attributes, 2);
    auto* found = std::get_if<Found>(&searched);
    if (!found) return forward_step<LdapEntry>(std::move(searched));
    if (found->entries.empty() && !found->more)
      return ModuleReply::reject("no such account: no entry under " + base + " matches " + filter + " (searched " +
                                 settings_.uri + " as " + bound_as() + ")");
    if (found->entries.size() > 1 || found->more) {
      std::string dns;
      for (const ReadEntry& e : found->entries) dns += (dns.empty() ? "" : ", ") + e.entry.dn;
      return ModuleReply::reject("the directory is ambiguous for " + std::string(login) +
                                 ": more than one entry under " + base + " matches " + filter + " (" + dns +
                                 "); make the values of " + settings_.ref("LDAP_MAIL") + " unique or narrow " +
                                 settings_.ref("LDAP_FILTER"));
    }
    ReadEntry& only = found->entries.front();
    if (!only.problem.empty()) return ModuleReply::reject(only.problem);
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: found %s", only.entry.dn.c_str());
    return std::move(only.entry);
  }

  // The entry of a login name: through LDAP_EMAILMAP when it is set and the
  // name has a realm, else by LDAP_MAIL.
  Step<LdapEntry> find_entry(std::string_view login) {
    const LdapSettings& s = settings_;
    if (auto problem = login_problem(login)) return ModuleReply::reject(*problem);
    size_t at = login.find('@');
    if (!s.emailmap.empty() && at != std::string_view::npos) {
      std::string map_filter = ldap_emailmap_filter(s, login.substr(0, at), login.substr(at + 1));
      auto mapped = search_one(s.emailmap_base_dn, map_filter, {s.emailmap_attribute}, login);
      auto* map_entry = std::get_if<LdapEntry>(&mapped);
      if (!map_entry) return mapped;
      const std::vector<std::string>* handle = map_entry->values(s.emailmap_attribute);
      if (!handle || handle->empty() || (*handle)[0].empty())
        return ModuleReply::reject("entry " + map_entry->dn + " found by LDAP_EMAILMAP has no " + s.emailmap_attribute +
                                   " attribute (" + s.ref("LDAP_EMAILMAP_ATTRIBUTE") + ")");
      if (has_control((*handle)[0]))
        return ModuleReply::reject("the " + s.emailmap_attribute + " of " + map_entry->dn +
                                   " holds a control character");
      std::string filter = and_filter(
          s.filter, item_filter(s.emailmap_mail_attribute, ldap_escape_filter_value((*handle)[0])));
      return search_one(s.base_dn, filter, lookup_attributes(s, false), login);
    }
    return search_one(s.base_dn, ldap_login_filter(s, login), lookup_attributes(s, false), login);
  }

  // LDAP_AUTHBIND: binds as dn with password on the second connection.
  Step<Done> bind_as_user(const std::string& dn, const lib::Secret& password) {
    const LdapSettings& s = settings_;
    // RFC 4513 5.1.2: a name with an empty password is an unauthenticated
    // bind, which many servers let through. Never send one.
    if (password.empty()) return ModuleReply::reject("empty password");
    if (auto opened = bind_.open(s, false); !std::holds_alternative<Done>(opened)) return opened;
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: binding as %s to check the password", dn.c_str());
    berval cred = secret_berval(password);
    const bool reused = bind_.used();
    int rc = ::ldap_sasl_bind_s(bind_.get(), dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    bind_.mark_used();
    if (rc == LDAP_SUCCESS) {
      // LDAPv2 allows no second bind on a connection.
      if (s.protocol_version == 2) bind_.close();
      return Done{};
    }
    if (connection_failed(rc)) return lost(bind_.get(), "ldap_sasl_bind_s", rc, reused);
    std::string text = ldap_text(bind_.get(), "ldap_sasl_bind_s", rc);
    if (s.protocol_version == 2) bind_.close();
    switch (rc) {
      case LDAP_INVALID_CREDENTIALS:
        return ModuleReply::reject("wrong password (the bind as " + dn + " was refused: " + text + ")");
      case LDAP_INAPPROPRIATE_AUTH:
      case LDAP_UNWILLING_TO_PERFORM:
      case LDAP_CONSTRAINT_VIOLATION:
      case LDAP_INSUFFICIENT_ACCESS:
      case LDAP_NO_SUCH_OBJECT:
        // Locked or disabled accounts, password policy: the account's state.
        return ModuleReply::reject("the directory refused the bind as " + dn + ": " + text);
      default:
        return ModuleReply::temporary("binding as " + dn + " on " + s.uri + " failed: " + text);
    }
  }

  // Without LDAP_AUTHBIND: the password against LDAP_CLEARPW, else against
  // every value of LDAP_CRYPTPW (a directory may keep several hashes).
  ModuleReply check_password(const LdapEntry& entry, Account account, const lib::Secret& password) {
    const LdapSettings& s = settings_;
    if (!account.clear_password.empty()) {
      if (verify_clear(password, account.clear_password.reveal())) return ModuleReply::found(std::move(account));
      return ModuleReply::reject("wrong password");
    }
    const std::vector<std::string>* hashes =
        s.crypt_password_attribute.empty() ? nullptr : entry.values(s.crypt_password_attribute);
    if (!hashes || hashes->empty())
      return ModuleReply::reject("entry " + entry.dn + " has no password that " + bound_as() + " may read (" +
                                 (s.clear_password_attribute.empty() ? std::string("LDAP_CLEARPW not set")
                                                                     : s.ref("LDAP_CLEARPW")) +
                                 ", " +
                                 (s.crypt_password_attribute.empty() ? std::string("LDAP_CRYPTPW not set")
                                                                     : s.ref("LDAP_CRYPTPW")) +
                                 "); check the attributes and the server's access rules, or set LDAP_AUTHBIND 1");
    std::string problems;
    for (const std::string& h : *hashes) {
      auto verdict = authlib::check_password(password, h);
      if (verdict == Verdict::match) return ModuleReply::found(std::move(account));
      if (verdict == Verdict::unusable) problems = describe_hash_problem(h);
    }
    if (!problems.empty() && hashes->size() == 1) {
      lib::log::warning("authldap: the %s of %s can never match: %s", s.crypt_password_attribute.c_str(),
                        entry.dn.c_str(), problems.c_str());
      return ModuleReply::reject("wrong password (the stored " + s.crypt_password_attribute + " of " + entry.dn +
                                 " can never match: " + problems + ")");
    }
    return ModuleReply::reject("wrong password");
  }

  std::variant<Done, ModuleReply, Lost> enumerate_once(const std::function<void(const Account&)>& fn,
                                                       size_t& emitted) {
    const LdapSettings& s = settings_;
    if (auto opened = open_main(); !std::holds_alternative<Done>(opened)) return opened;
    const std::vector<std::string> attributes = lookup_attributes(s, true);
    auto attrs = c_array(attributes);
    timeval tv{static_cast<time_t>(s.timeout.count()), 0};
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: enumerating %s under %s with %s", s.uri.c_str(),
                       s.base_dn.c_str(), s.enumerate_filter.c_str());
    std::string cookie;
    for (;;) {
      LDAP* ld = main_.get();
      berval cookie_bv{static_cast<ber_len_t>(cookie.size()), cookie.data()};
      LDAPControl* page_raw = nullptr;
      int rc = ::ldap_create_page_control(ld, ldap_enumerate_page_size, cookie.empty() ? nullptr : &cookie_bv, 0,
                                          &page_raw);
      LdapControlPtr page(page_raw);
      if (rc != LDAP_SUCCESS) return ModuleReply::temporary(ldap_text(ld, "ldap_create_page_control", rc));
      LDAPControl* server_controls[] = {page.get(), nullptr};
      LDAPMessage* raw = nullptr;
      const bool reused = main_.used();
      rc = ::ldap_search_ext_s(ld, s.base_dn.c_str(), LDAP_SCOPE_SUBTREE, s.enumerate_filter.c_str(), attrs.data(), 0,
                               server_controls, nullptr, &tv, 0, &raw);
      LdapMessagePtr res(raw);
      main_.mark_used();
      if (connection_failed(rc)) return lost(ld, "ldap_search_ext_s", rc, reused);
      if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED)
        return ModuleReply::temporary("enumerating " + s.uri + " under " + s.base_dn + " with " + s.enumerate_filter +
                                      " failed: " + ldap_text(ld, "ldap_search_ext_s", rc) + "; check " +
                                      s.ref("LDAP_ENUMERATE_FILTER") + " and " + s.ref("LDAP_BASEDN"));
      for (LDAPMessage* e = ::ldap_first_entry(ld, res.get()); e; e = ::ldap_next_entry(ld, e)) {
        ReadEntry read = read_entry(ld, e, attributes);
        if (!read.problem.empty()) {
          lib::log::warning("authldap: enumerate skips an entry: %s", read.problem.c_str());
          continue;
        }
        const std::vector<std::string>* names = read.entry.values(s.mail_attribute);
        if (!names || names->empty()) continue;
        ModuleReply r = ldap_entry_to_account(s, read.entry, (*names)[0], "");
        if (r.outcome != Outcome::ok) {
          lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: enumerate skips %s: %s", read.entry.dn.c_str(),
                             r.reason.c_str());
          continue;
        }
        for (const std::string& n : *names) {
          if (n.empty() || has_control(n)) continue;
          if (emitted >= ldap_max_enumerate_names)
            return ModuleReply::reject("enumeration stopped after " + std::to_string(emitted) +
                                       " names, the limit; narrow " + s.ref("LDAP_ENUMERATE_FILTER"));
          r.account.address = n;
          fn(r.account);
          ++emitted;
        }
      }
      if (rc == LDAP_SIZELIMIT_EXCEEDED)
        return ModuleReply::reject("enumeration stopped after " + std::to_string(emitted) + " names: " + s.uri +
                                   " has a size limit for " + bound_as() +
                                   " and does not page results (RFC 2696); raise the limit for that DN");
      // The next page, if the server paged (RFC 2696 section 3: an empty
      // cookie ends the search).
      LDAPControl** returned_raw = nullptr;
      int err = LDAP_SUCCESS;
      rc = ::ldap_parse_result(ld, res.get(), &err, nullptr, nullptr, nullptr, &returned_raw, 0);
      LdapControlArray returned(returned_raw);
      if (rc != LDAP_SUCCESS) return ModuleReply::temporary(ldap_text(ld, "ldap_parse_result", rc));
      LDAPControl* paged = returned ? ::ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, returned.get(), nullptr) : nullptr;
      if (!paged) return Done{};
      ber_int_t estimate = 0;
      berval next{0, nullptr};
      rc = ::ldap_parse_pageresponse_control(ld, paged, &estimate, &next);
      if (rc != LDAP_SUCCESS) return ModuleReply::temporary(ldap_text(ld, "ldap_parse_pageresponse_control", rc));
      cookie.assign(next.bv_val ? next.bv_val : "", next.bv_len);
      ::ber_memfree(next.bv_val);
      if (cookie.empty()) return Done{};
    }
  }

  // ---- configuration changes

  // Courier reads authldaprc again when it changes; so do we, before each
  // request. A broken new file is reported and the old settings stay.
  void reload_if_changed() {
    const std::string& path = settings_.path;
    auto now = stamp_of(path);
    if (!now || (stamp_ && *now == *stamp_)) return;
    stamp_ = now;
    auto fresh = load_settings(path);
    if (!fresh) {
      lib::log::error("authldap: %s changed, but cannot be used: %s; keeping the previous settings",
                      path.c_str(), fresh.error().message.c_str());
      return;
    }
    for (const std::string& w : fresh->warnings) lib::log::warning("authldap: %s", w.c_str());
    settings_ = std::move(fresh.value());
    close_all();
    lib::log::info("authldap: read %s again after a change", path.c_str());
  }

  LdapSettings settings_;
  std::optional<FileStamp> stamp_;
  LdapConnection main_;  // searches, as LDAP_BINDDN (LDAP_INITBIND) or anonymous
  LdapConnection bind_;  // LDAP_AUTHBIND: binds as the users
};

}  // namespace

// ---------------------------------------------------------------------------
// Public pure functions

std::string LdapSettings::ref(std::string_view setting) const {
  if (source.has(setting)) return std::string(setting) + " (" + source.where(setting) + ")";
  return std::string(setting) + " (not set in " + path + ")";
}

lib::Result<LdapSettings> parse_ldap_settings(const lib::Config& rc_in, const std::string& path) {
  LdapSettings s;
  s.path = path;
  s.source = rc_in;
  s.source.warn_unknown(known_settings);
  for (const std::string& w : s.source.warnings()) s.warnings.push_back(w);
  SettingsReader r(s.source, path);

  auto tls = r.boolean("LDAP_TLS", false);
  if (!tls) return tls.error();
  s.start_tls = *tls;
  auto uri = check_uri(r, s.start_tls);
  if (!uri) return uri.error();
  s.uri = *uri;

  if (auto v = r.get("LDAP_PROTOCOL_VERSION"); v && !trim(*v).empty()) {
    auto n = to_number<int>(*v);
    if (!n || (*n != 0 && *n != 2 && *n != 3))
      return r.bad("LDAP_PROTOCOL_VERSION", quoted(*v) + " is not 2 or 3");
    s.protocol_version = *n == 0 ? 3 : *n;
  }
  if (s.start_tls && s.protocol_version < 3)
    return r.bad("LDAP_TLS", "1 needs LDAP_PROTOCOL_VERSION 3 (StartTLS is an LDAPv3 extended operation)");

  if (auto v = r.get("LDAP_TIMEOUT"); v && !trim(*v).empty()) {
    auto n = to_number<long>(*v);
    if (!n || *n < 1 || *n > 3600)
      return r.bad("LDAP_TIMEOUT", quoted(*v) + " is not a number of seconds from 1 to 3600");
    s.timeout = std::chrono::seconds(*n);
  }

  auto base = r.dn("LDAP_BASEDN", true);
  if (!base) return base.error();
  s.base_dn = *base;
  auto bind_dn = r.dn("LDAP_BINDDN", false);
  if (!bind_dn) return bind_dn.error();
  s.bind_dn = *bind_dn;
  if (auto pw = r.get("LDAP_BINDPW")) s.bind_password = lib::Secret(*pw);

  auto auth_bind = r.boolean("LDAP_AUTHBIND", false);
  if (!auth_bind) return auth_bind.error();
  s.auth_bind = *auth_bind;
  auto init_bind = r.boolean("LDAP_INITBIND", !s.bind_dn.empty());
  if (!init_bind) return init_bind.error();
  s.init_bind = *init_bind;
  if (s.init_bind && s.bind_dn.empty())
    return r.bad("LDAP_INITBIND", "is 1 but LDAP_BINDDN is not set: set LDAP_BINDDN and LDAP_BINDPW to the service "
                                  "account, or LDAP_INITBIND 0 to search anonymously");
  if (s.init_bind && s.bind_password.empty())
    return r.bad("LDAP_BINDPW", std::string(r.get("LDAP_BINDPW") ? "is empty" : "is not set") +
                                    ": a bind as LDAP_BINDDN without a password is an unauthenticated bind (RFC 4513 "
                                    "5.1.2); set the service account's password");

  std::string deref = std::string(trim(r.text("LDAP_DEREF")));
  if (deref.empty() || iequals(deref, "never"))
    s.deref = LdapDeref::never;
  else if (iequals(deref, "searching"))
    s.deref = LdapDeref::searching;
  else if (iequals(deref, "finding"))
    s.deref = LdapDeref::finding;
  else if (iequals(deref, "always"))
    s.deref = LdapDeref::always;
  else
    return r.bad("LDAP_DEREF", quoted(deref) + " is not one of never, searching, finding, always");

  struct AttributeSetting {
    std::string_view name;
    std::string_view def;
    std::string* out;
  };
  const AttributeSetting attribute_settings[] = {
      {"LDAP_MAIL", "mail", &s.mail_attribute},
      {"LDAP_UID", "", &s.uid_attribute},
      {"LDAP_GID", "", &s.gid_attribute},
      {"LDAP_HOMEDIR", "homeDir", &s.home_attribute},
      {"LDAP_MAILDIR", "", &s.maildir_attribute},
      {"LDAP_DEFAULTDELIVERY", "", &s.default_delivery_attribute},
      {"LDAP_MAILDIRQUOTA", "", &s.quota_attribute},
      {"LDAP_FULLNAME", "", &s.fullname_attribute},
      {"LDAP_CLEARPW", "", &s.clear_password_attribute},
      {"LDAP_CRYPTPW", "", &s.crypt_password_attribute},
      {"LDAP_EMAILMAP_ATTRIBUTE", "handle", &s.emailmap_attribute},
  };
  for (const AttributeSetting& a : attribute_settings) {
    auto v = r.attribute(a.name, a.def);
    if (!v) return v.error();
    *a.out = *v;
  }
  if (s.mail_attribute.empty()) return r.bad("LDAP_MAIL", "is empty: name the attribute that holds the login name");
  if (s.home_attribute.empty())
    return r.bad("LDAP_HOMEDIR", "is empty: name the attribute that holds the home directory");

  auto filter = r.filter("LDAP_FILTER");
  if (!filter) return filter.error();
  s.filter = *filter;
  auto enumerate_filter = r.filter("LDAP_ENUMERATE_FILTER");
  if (!enumerate_filter) return enumerate_filter.error();
  s.enumerate_filter = !enumerate_filter->empty() ? *enumerate_filter
                       : !s.filter.empty()        ? s.filter
                                                  : "(" + s.mail_attribute + "=*)";

  s.domain = std::string(trim(r.text("LDAP_DOMAIN")));
  if (has_control(s.domain) || s.domain.find_first_of(" @") != std::string::npos)
    return r.bad("LDAP_DOMAIN", quoted(s.domain) + " is not a domain name such as example.com");

  if (auto v = r.get("LDAP_GLOB_UID"); v && !trim(*v).empty()) {
    auto id = user_id(r, "LDAP_GLOB_UID", std::string(trim(*v)));
    if (!id) return id.error();
    s.glob_uid = *id;
  }
  if (auto v = r.get("LDAP_GLOB_GID"); v && !trim(*v).empty()) {
    auto id = group_id(r, "LDAP_GLOB_GID", std::string(trim(*v)));
    if (!id) return id.error();
    s.glob_gid = *id;
  }
  if (s.glob_uid && *s.glob_uid == 0) return r.bad("LDAP_GLOB_UID", "is root (0): mail must not be owned by root");
  if (s.glob_gid && *s.glob_gid == 0) return r.bad("LDAP_GLOB_GID", "is group 0: mail must not be owned by root");
  if (!s.glob_uid && s.uid_attribute.empty())
    return r.bad("LDAP_UID", "is not set and neither is LDAP_GLOB_UID: set LDAP_UID to the attribute with each "
                             "account's uid (uidNumber), or LDAP_GLOB_UID to one user for all (e.g. vmail)");
  if (!s.glob_gid && s.gid_attribute.empty())
    return r.bad("LDAP_GID", "is not set and neither is LDAP_GLOB_GID: set LDAP_GID to the attribute with each "
                             "account's gid (gidNumber), or LDAP_GLOB_GID to one group for all (e.g. vmail)");

  s.mailroot = std::string(trim(r.text("LDAP_MAILROOT")));
  if (!s.mailroot.empty() && (s.mailroot.front() != '/' || has_control(s.mailroot)))
    return r.bad("LDAP_MAILROOT", quoted(s.mailroot) + " is not an absolute path such as /var/mail");
  while (s.mailroot.size() > 1 && s.mailroot.back() == '/') s.mailroot.pop_back();

  if (!s.auth_bind && s.clear_password_attribute.empty() && s.crypt_password_attribute.empty())
    return r.bad("LDAP_CRYPTPW", "and LDAP_CLEARPW are both unset, and LDAP_AUTHBIND is 0: no password could ever be "
                                 "checked; set LDAP_CRYPTPW userPassword, or LDAP_AUTHBIND 1");

  auto aux = aux_options(r);
  if (!aux) return aux.error();
  s.aux_options = std::move(aux.value());

  s.emailmap = std::string(trim(r.text("LDAP_EMAILMAP")));
  if (!s.emailmap.empty()) {
    if (!emailmap_placeholders_ok(s.emailmap) || !ldap_filter_valid(replace_placeholders(s.emailmap, "u", "r")))
      return r.bad("LDAP_EMAILMAP", quoted(s.emailmap) + " is not an LDAP filter with the placeholders @user@ and "
                                                         "@realm@ (write a literal @ as \\40), e.g. "
                                                         "(&(userid=@user@)(realm=@realm@))");
    auto map_base = r.dn("LDAP_EMAILMAP_BASEDN", false);
    if (!map_base) return map_base.error();
    s.emailmap_base_dn = map_base->empty() ? s.base_dn : *map_base;
    auto map_mail = r.attribute("LDAP_EMAILMAP_MAIL", s.mail_attribute);
    if (!map_mail) return map_mail.error();
    s.emailmap_mail_attribute = map_mail->empty() ? s.mail_attribute : *map_mail;
    if (s.emailmap_attribute.empty()) s.emailmap_attribute = "handle";
  }
  return s;
}

std::string ldap_escape_filter_value(std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '*' || c == '(' || c == ')' || c == '\\' || is_control(c)) {
      out += '\\';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

bool ldap_filter_valid(std::string_view text) { return FilterChecker(text).check(); }

std::string ldap_login_filter(const LdapSettings& settings, std::string_view login) {
  std::string value = ldap_escape_filter_value(login);
  if (!settings.domain.empty() && login.find('@') == std::string_view::npos)
    value += "@" + ldap_escape_filter_value(settings.domain);
  return and_filter(settings.filter, item_filter(settings.mail_attribute, value));
}

std::string ldap_emailmap_filter(const LdapSettings& settings, std::string_view user, std::string_view realm) {
  return replace_placeholders(settings.emailmap, ldap_escape_filter_value(user), ldap_escape_filter_value(realm));
}

const std::vector<std::string>* LdapEntry::values(std::string_view attribute) const {
  for (const auto& [name, vals] : attributes)
    if (iequals(name, attribute)) return vals.empty() ? nullptr : &vals;
  return nullptr;
}

ModuleReply ldap_entry_to_account(const LdapSettings& s, const LdapEntry& entry, std::string_view login,
                                  std::string_view service) {
  // The first value of a configured attribute; "" when absent or unset.
  auto first = [&](const std::string& attribute) -> std::string {
    if (attribute.empty()) return {};
    const std::vector<std::string>* v = entry.values(attribute);
    return v ? (*v)[0] : std::string();
  };
  auto control_problem = [&](std::string_view setting, const std::string& attribute,
                             const std::string& value) -> std::optional<ModuleReply> {
    if (!has_control(value)) return std::nullopt;
    return ModuleReply::reject("the " + attribute + " attribute (" + s.ref(setting) + ") of " + entry.dn +
                               " holds a control character; fix the entry");
  };

  Account a;
  a.address = std::string(login);

  std::string home = first(s.home_attribute);
  if (home.empty())
    return ModuleReply::reject("entry " + entry.dn + " has no " + s.home_attribute + " attribute (" +
                               s.ref("LDAP_HOMEDIR") + "), or LDAP_BINDDN may not read it");
  if (auto p = control_problem("LDAP_HOMEDIR", s.home_attribute, home)) return *p;
  // Courier puts LDAP_MAILROOT in front of every home directory.
  if (!s.mailroot.empty()) {
    size_t skip = home.find_first_not_of('/');
    home = s.mailroot + "/" + (skip == std::string::npos ? std::string() : home.substr(skip));
  }
  if (home.front() != '/')
    return ModuleReply::reject("the " + s.home_attribute + " of " + entry.dn + " is the relative path " + quoted(home) +
                               ": set " + s.ref("LDAP_MAILROOT") + " to the directory it is relative to");
  a.home = home;

  struct Id {
    const char* setting;
    const char* glob_setting;
    const std::string& attribute;
    std::optional<unsigned long> glob;
  };
  const Id ids[] = {
      {"LDAP_UID", "LDAP_GLOB_UID", s.uid_attribute,
       s.glob_uid ? std::optional<unsigned long>(*s.glob_uid) : std::nullopt},
      {"LDAP_GID", "LDAP_GLOB_GID", s.gid_attribute,
       s.glob_gid ? std::optional<unsigned long>(*s.glob_gid) : std::nullopt},
  };
  unsigned long values[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const Id& id = ids[i];
    std::string text = first(id.attribute);
    if (!text.empty()) {
      auto n = to_number<unsigned long>(text);
      constexpr unsigned long max_id = 0xfffffffeUL;  // (uid_t)-1 means "no change" to setuid
      if (!n || *n > max_id)
        return ModuleReply::reject("the " + id.attribute + " attribute (" + s.ref(id.setting) + ") of " + entry.dn +
                                   " is " + quoted(text) + ", not a number");
      values[i] = *n;
    } else if (id.glob) {
      values[i] = *id.glob;
    } else {
      return ModuleReply::reject("entry " + entry.dn + " has no " + id.attribute + " attribute (" + s.ref(id.setting) +
                                 "), and " + id.glob_setting + " is not set");
    }
    if (values[i] == 0)
      return ModuleReply::reject("entry " + entry.dn + " has " + (i == 0 ? "uid" : "gid") +
                                 " 0 (root); mail accounts must not run as root");
  }
  a.uid = static_cast<uid_t>(values[0]);
  a.gid = static_cast<gid_t>(values[1]);

  struct Field {
    std::string_view setting;
    const std::string& attribute;
    std::string* out;
  };
  std::string clear;
  const std::string& maildir_attribute =
      service == "courier" ? s.default_delivery_attribute : s.maildir_attribute;
  const Field fields[] = {
      {service == "courier" ? "LDAP_DEFAULTDELIVERY" : "LDAP_MAILDIR", maildir_attribute, &a.maildir},
      {"LDAP_MAILDIRQUOTA", s.quota_attribute, &a.quota},
      {"LDAP_FULLNAME", s.fullname_attribute, &a.fullname},
      {"LDAP_CRYPTPW", s.crypt_password_attribute, &a.crypted_password},
      {"LDAP_CLEARPW", s.clear_password_attribute, &clear},
  };
  for (const Field& f : fields) {
    *f.out = first(f.attribute);
    if (auto p = control_problem(f.setting, f.attribute, *f.out)) return *p;
  }
  a.clear_password = lib::Secret(clear);

  for (const LdapAuxOption& o : s.aux_options) {
    std::string v = first(o.attribute);
    if (v.empty()) continue;
    if (auto p = control_problem("LDAP_AUXOPTIONS", o.attribute, v)) return *p;
    if (v.find(',') != std::string::npos)
      return ModuleReply::reject("the " + o.attribute + " attribute (" + s.ref("LDAP_AUXOPTIONS") + ") of " +
                                 entry.dn + " holds a comma, which would add account options; fix the entry");
    if (!a.options.empty()) a.options += ',';
    a.options += o.option + "=" + v;
  }
  return ModuleReply::found(std::move(a));
}

lib::Result<std::unique_ptr<Module>> make_ldap_module(const ModuleContext& context) {
  std::string path = context.authdaemonrc.get_string("AUTHLDAPRC", context.sysconfdir + "/authldaprc");
  auto stamp = stamp_of(path);
  auto settings = load_settings(path);
  if (!settings) return settings.error();
  for (const std::string& w : settings->warnings) lib::log::warning("authldap: %s", w.c_str());
  struct stat st {};
  if (!settings->bind_password.empty() && ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    lib::log::warning("authldap: %s holds LDAP_BINDPW and anyone may read it: chmod 600 %s", path.c_str(),
                      path.c_str());
  return std::unique_ptr<Module>(std::make_unique<LdapModule>(std::move(settings.value()), stamp));
}

}  // namespace authlib
