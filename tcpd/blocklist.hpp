// tcpd/blocklist.hpp: what a DNS access list answer (-block / -allow,
// couriertcpd(1) "DNS ACCESS LISTS"; RFC 5782) does to a connection's
// environment. Pure logic: the queries themselves run asynchronously in the
// server.
//
// For the variable VAR (default BLOCK) of a listing that answered:
//   VAR        -block: the custom message (first "@" replaced by the client's
//              IP address), else the TXT record, else "Blacklisted by ZONE";
//              -allow: empty (whitelisted), and ALLOW_<n>=VAR
//   VAR_IP     the A record that matched
//   VAR_TXT    the TXT record, when there is one
//   VAR_ZONE   the display zone
// An option whose VAR is already set (by the access file, an earlier
// option, or couriertcpd's own environment) is skipped.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "tcpd/dns_message.hpp"
#include "tcpd/options.hpp"

namespace tcpd {

// A child's environment additions, by name.
using EnvVars = std::map<std::string, std::string, std::less<>>;

// v made safe for an environment variable: control characters become spaces.
std::string env_safe(std::string_view v);

// The DNS type to query for spec (TXT or A).
inline uint16_t blocklist_query_type(const BlocklistSpec& spec) {
  return spec.wants_txt() ? dns_type_txt : dns_type_a;
}

// Applies one answer to vars. allow_count numbers the ALLOW_<n> variables of
// one connection. remote_ip replaces "@" in a custom message. Returns whether
// the listing matched. Values are made safe for an environment: control
// characters become spaces.
bool apply_blocklist_answer(const BlocklistSpec& spec, const DnsAnswer& answer, std::string_view remote_ip,
                            EnvVars& vars, int& allow_count);

}  // namespace tcpd
