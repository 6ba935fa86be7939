// tcpd/access.hpp: couriertcpd access files (couriertcpd(1), "ACCESS FILE").
//
// Text form, one entry a line, compiled into a Berkeley DB .dat by
// makesmtpaccess / makesmtpaccess-msa / makeimapaccess:
//
//   netblock<TAB>allow[,VAR[=value],...]     192.168.0<TAB>allow,RELAYCLIENT
//   netblock<TAB>deny                        *<TAB>deny
//
// netblock is a dotted IPv4 prefix ("10", "192.168", "1.2.3.4"), Courier's
// IPv6 form (":2002:c0a8", a colon then zero-padded lowercase groups), "*",
// or with -accesslocal a local "ip.port" / "*.port". As with Courier's
// makedat -cidr (Perl Net::CIDR), CIDR blocks ("10.1.0.0/16",
// "2001:db8::/32") and ranges ("10.0.0.0-10.0.3.255") are expanded into the
// prefixes they cover, rounded to octet (IPv4) or group (IPv6) boundaries;
// a plain IPv6 address ("2001:db8::1") becomes its full key. The .dat maps
// each key to the action text as written ("allow,RELAYCLIENT").
//
// couriertcpd looks up the most specific key (tcpd/address.hpp
// access_lookup_keys) and uses only that entry.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/dbfile.hpp"
#include "lib/result.hpp"
#include "tcpd/address.hpp"

namespace tcpd {

// Hard limits against hostile or mistaken sources.
inline constexpr size_t access_max_keys_per_line = 65536;  // an IPv6 /0 rounds to 65536 groups
inline constexpr size_t access_max_action_bytes = 8192;
inline constexpr size_t access_max_variables = 100;

struct AccessVariable {
  std::string name;
  std::string value;  // quotes removed; empty for a bare NAME
  friend bool operator==(const AccessVariable&, const AccessVariable&) = default;
};

struct AccessRule {
  bool allow = true;
  std::vector<AccessVariable> variables;  // in the order written
};

// Parses an action: "deny", "allow", or "allow," followed by comma-separated
// NAME or NAME=value items. A value may be quoted with "..." or '...'
// (quotes are removed; commas inside them are kept), also in parts:
// BLOCK="550 go away" and X=a'b,c'd are both one item. Blanks around an
// item are ignored. NAME is [A-Za-z_][A-Za-z0-9_]*. Returns the error text
// (without file:line) on: another word than allow/deny, anything after deny,
// an empty item, a bad name, an unterminated quote, control characters, or
// the limits above.
lib::Result<AccessRule> parse_access_action(std::string_view action);

// One compiled record.
struct AccessRecord {
  std::string key;
  std::string action;
};

// Parses one source line (already trimmed, not a comment) into the records
// it stands for: one, or many when it is a CIDR block or a range. The key
// and the action are separated by a TAB or blanks. Errors (no action, a
// malformed netblock, a mask that is not 0..32 / 0..128, a range whose end
// is before its start, more than access_max_keys_per_line keys, a bad
// action) are returned as text without file:line.
lib::Result<std::vector<AccessRecord>> parse_access_line(std::string_view line);

// Compiles a source (a file, or a directory read as lib::read_list_source
// does) into the .dat at dat_path, atomically: a bad line is an error
// "FILE:LINE: what is wrong" and the existing .dat is left as it was.
// A key given twice is a warning naming both places (the later line wins, as
// with Courier's makedat). Returns the number of keys written.
lib::Result<size_t> compile_access_source(const std::string& source_path, const std::string& dat_path,
                                          std::vector<std::string>* warnings);

// What couriertcpd decided for one connection.
struct AccessDecision {
  bool allow = true;
  std::string matched_key;                // empty: no entry (and no "*")
  std::vector<AccessVariable> variables;  // to set in the child's environment
};

// Looks keys up in order (see access_lookup_keys) through lookup and
// applies the first entry found. No entry: allow with no variables. An
// entry whose action does not parse is treated as deny (fail closed) and
// reported through *bad_entry.
template <class Lookup>
AccessDecision decide_access(const std::vector<std::string>& keys, Lookup&& lookup,
                             std::string* bad_entry = nullptr) {
  AccessDecision d;
  for (const auto& key : keys) {
    std::optional<std::string> action = lookup(key);
    if (!action) continue;
    d.matched_key = key;
    auto rule = parse_access_action(*action);
    if (!rule) {
      d.allow = false;
      if (bad_entry) *bad_entry = key + ": " + rule.error().message;
      return d;
    }
    d.allow = rule->allow;
    d.variables = std::move(rule->variables);
    return d;
  }
  return d;
}

// A compiled access file opened by couriertcpd.
class AccessFile {
 public:
  static lib::Result<AccessFile> open(const std::string& path);

  // The entry for the most specific of keys; a read error is returned as an
  // error (the caller fails closed).
  lib::Result<AccessDecision> decide(const std::vector<std::string>& keys) const;
  // Reopens the file when a make*access tool replaced it.
  lib::Result<bool> reopen_if_replaced() { return db_.reopen_if_replaced(); }
  const std::string& path() const noexcept { return db_.path(); }

 private:
  explicit AccessFile(lib::DbFile db) : db_(std::move(db)) {}
  lib::DbFile db_;
};

}  // namespace tcpd
