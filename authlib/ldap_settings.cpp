// authlib/ldap_settings.cpp: the pure half of authldap (see module_ldap.hpp):
// authldaprc settings, RFC 4515 filter syntax and escaping, and turning a
// directory entry into an account. No connection is made here (only libldap's
// DN and URL parsers are used): module_ldap.cpp holds the connections and the
// module. The SECURITY note of module_ldap.cpp applies.
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

}  // namespace

bool ldap_detail::has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

namespace {

using ldap_detail::has_control;

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

}  // namespace

std::string ldap_detail::item_filter(std::string_view attribute, std::string_view escaped_value) {
  return "(" + std::string(attribute) + "=" + std::string(escaped_value) + ")";
}

std::string ldap_detail::and_filter(const std::string& filter, const std::string& item) {
  return filter.empty() ? item : "(&" + filter + item + ")";
}

namespace {

using ldap_detail::and_filter;
using ldap_detail::item_filter;


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


}  // namespace authlib
