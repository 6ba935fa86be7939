// authlib/module_ldap.hpp: authldap, accounts in an LDAP directory, on
// OpenLDAP's libldap. Configured by authldaprc with Courier's settings
// (COURIER-COMPAT.md section 3; sysconfdir/authldaprc documents each one).
//
// A login name is looked up with one subtree search under LDAP_BASEDN for
// (&LDAP_FILTER(LDAP_MAIL=name[@LDAP_DOMAIN])), the name escaped as RFC 4515
// section 3 requires; exactly one entry must match. The password is checked
// by binding as that entry's DN (LDAP_AUTHBIND 1, RFC 4513 section 5.1.3) or
// against its LDAP_CLEARPW / LDAP_CRYPTPW attribute. Each worker keeps one
// connection (and one more for LDAP_AUTHBIND) open across requests, and opens
// a new one, once, when the server dropped the old.
//
// The pure parts (settings, filters, entry-to-account mapping) are declared
// here so the unit tests can reach them.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "authlib/module.hpp"
#include "lib/config.hpp"
#include "lib/result.hpp"
#include "lib/secret.hpp"

namespace authlib {

// Hard limits against hostile input and runaway directories.
inline constexpr size_t ldap_max_login_bytes = 512;          // a login name as typed
inline constexpr size_t ldap_max_filter_bytes = 64 * 1024;   // LDAP_FILTER and the like
inline constexpr size_t ldap_max_value_bytes = 64 * 1024;    // one attribute value read
inline constexpr size_t ldap_max_values_per_attribute = 64;  // values read per attribute
inline constexpr size_t ldap_max_filter_depth = 64;          // nesting of ( ) in a filter
inline constexpr int ldap_enumerate_page_size = 500;         // RFC 2696 page size
inline constexpr size_t ldap_max_enumerate_names = 1000000;  // names listed by ENUMERATE

// LDAP_DEREF: when the server follows alias entries (RFC 4511 section 4.5.1.3).
enum class LdapDeref { never, searching, finding, always };

// One LDAP_AUXOPTIONS pair "attribute=option": the attribute's value becomes
// the account option "option=value".
struct LdapAuxOption {
  std::string attribute;
  std::string option;
};

// authldaprc, read and checked. Attribute settings left empty are not read.
struct LdapSettings {
  std::string path;         // the file, for messages
  lib::Config source;       // the settings as read, for file:line in messages
  std::vector<std::string> warnings;  // unknown settings and the like, for the log

  std::string uri;          // LDAP_URI, normalised to a blank-separated list
  int protocol_version = 3;  // LDAP_PROTOCOL_VERSION: 2 or 3
  bool start_tls = false;   // LDAP_TLS
  std::chrono::seconds timeout{5};  // LDAP_TIMEOUT: connect, bind, each search
  std::string base_dn;      // LDAP_BASEDN
  std::string bind_dn;      // LDAP_BINDDN
  lib::Secret bind_password;  // LDAP_BINDPW
  bool auth_bind = false;   // LDAP_AUTHBIND
  bool init_bind = false;   // LDAP_INITBIND (default: 1 when LDAP_BINDDN is set)
  LdapDeref deref = LdapDeref::never;  // LDAP_DEREF

  std::string mail_attribute = "mail";  // LDAP_MAIL
  std::string filter;       // LDAP_FILTER in parentheses; "" = none
  std::string domain;       // LDAP_DOMAIN
  std::optional<uid_t> glob_uid;  // LDAP_GLOB_UID (a number or a user name)
  std::optional<gid_t> glob_gid;  // LDAP_GLOB_GID (a number or a group name)
  std::string uid_attribute;      // LDAP_UID
  std::string gid_attribute;      // LDAP_GID
  std::string home_attribute = "homeDir";  // LDAP_HOMEDIR
  std::string mailroot;           // LDAP_MAILROOT
  std::string maildir_attribute;  // LDAP_MAILDIR
  std::string default_delivery_attribute;  // LDAP_DEFAULTDELIVERY
  std::string quota_attribute;    // LDAP_MAILDIRQUOTA
  std::string fullname_attribute;  // LDAP_FULLNAME
  std::string clear_password_attribute;  // LDAP_CLEARPW
  std::string crypt_password_attribute;  // LDAP_CRYPTPW
  std::vector<LdapAuxOption> aux_options;  // LDAP_AUXOPTIONS
  std::string enumerate_filter;   // LDAP_ENUMERATE_FILTER, else LDAP_FILTER, else (LDAP_MAIL=*)

  // LDAP_EMAILMAP: a first search that maps user@realm to a handle.
  std::string emailmap;                  // filter with @user@ and @realm@; "" = off
  std::string emailmap_base_dn;          // LDAP_EMAILMAP_BASEDN, default LDAP_BASEDN
  std::string emailmap_attribute = "handle";  // LDAP_EMAILMAP_ATTRIBUTE
  std::string emailmap_mail_attribute;   // LDAP_EMAILMAP_MAIL, default LDAP_MAIL

  // "LDAP_HOMEDIR (/etc/courier/authldaprc:12)" or "LDAP_HOMEDIR (default)",
  // for messages that tell the admin which line to fix.
  std::string ref(std::string_view setting) const;
};

// Checks authldaprc's settings (read from path). Errors name file:line, the
// setting and the fix: a missing LDAP_URI or LDAP_BASEDN, a malformed URI,
// DN, filter, attribute name, number or boolean, no source for uid or gid, no
// way to check a password, LDAP_TLS with ldaps://, an unknown LDAP_GLOB_UID
// user. Unknown settings are warnings (in .warnings), not errors.
lib::Result<LdapSettings> parse_ldap_settings(const lib::Config& rc, const std::string& path);

// value escaped for an RFC 4515 assertion value: NUL ( ) * \ and control
// characters become \xx, so that no login name can change a filter's shape.
std::string ldap_escape_filter_value(std::string_view value);

// Whether text is one filter in RFC 4515 string form (with RFC 4526's empty
// (&) and (|)), no longer than ldap_max_filter_bytes and nested no deeper
// than ldap_max_filter_depth.
bool ldap_filter_valid(std::string_view text);

// The search filter for a login name: (LDAP_MAIL=name) with LDAP_DOMAIN
// appended to a name without "@", ANDed with LDAP_FILTER when set.
std::string ldap_login_filter(const LdapSettings& settings, std::string_view login);

// LDAP_EMAILMAP with @user@ and @realm@ replaced by the escaped parts of
// user@realm.
std::string ldap_emailmap_filter(const LdapSettings& settings, std::string_view user, std::string_view realm);

// What a search returned for one entry: its DN and the values of the
// attributes asked for.
struct LdapEntry {
  std::string dn;
  std::vector<std::pair<std::string, std::vector<std::string>>> attributes;

  // The values of attribute (names compare case-insensitively, as in LDAP);
  // nullptr when the entry has none.
  const std::vector<std::string>* values(std::string_view attribute) const;
};

// The account an entry describes, for login (the name as typed, which
// becomes ADDRESS) and service ("courier" reads LDAP_DEFAULTDELIVERY into
// MAILDIR instead of LDAP_MAILDIR, as Courier does). Rejected, with a
// reason naming the attribute, its setting and the DN, when the home
// directory or uid/gid is missing or malformed, uid or gid is 0, a value
// holds a control character, or an option value holds a comma.
ModuleReply ldap_entry_to_account(const LdapSettings& settings, const LdapEntry& entry, std::string_view login,
                                  std::string_view service);

// The authldap module. Reads context.sysconfdir + "/authldaprc", or the file
// named by AUTHLDAPRC in authdaemonrc. Fails (permanently) when the file is
// missing or a setting is malformed; does not contact the server, so a
// server that is down at start-up only makes requests fail temporarily. The
// file is read again when it changes, as in Courier.
lib::Result<std::unique_ptr<Module>> make_ldap_module(const ModuleContext& context);

// Shared by the two halves of authldap (ldap_settings.cpp: settings, filters,
// entries; module_ldap.cpp: connections and the module).
namespace ldap_detail {
// A control character (< 0x20 or DEL) in s.
bool has_control(std::string_view s);
// "(attribute=escaped_value)"; the value must already be escaped.
std::string item_filter(std::string_view attribute, std::string_view escaped_value);
// filter AND item, or item alone when filter is empty.
std::string and_filter(const std::string& filter, const std::string& item);
}  // namespace ldap_detail

}  // namespace authlib
