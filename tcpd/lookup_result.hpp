// tcpd/lookup_result.hpp: what couriertcpd's unprivileged lookup helper
// (tcpd/lookup_helper.hpp) found out about one connection, and the small
// fixed text format in which it tells the root daemon over a pipe.
//
// The helper parses the untrusted bytes (the PROXY header, DNS and ident
// replies); the daemon, which may be root, parses only this format, strictly:
//
//   P UNKNOWN                      PROXY header said UNKNOWN (keep the socket's addresses)
//   P <ip> <port> <ip> <port>      PROXY header: source, then destination
//   D <reason>                     drop the connection (-haproxy: no/bad header)
//   I <user id>                    TCPREMOTEINFO (ident)
//   R <host name>                  TCPREMOTEHOST
//   L <host name>|- <0|1>          TCPLOCALHOST ("-": none); 1: may be cached
//   B <n> <ok|notfound|failed>     the answer to blocklist option n (0-based)
//   A <n> <a.b.c.d>                one A record of that answer (ok answers only)
//   T <n> <text>                   its TXT record (at most one, ok answers only)
//   E                              end (a result without it is refused)
//
// Each line ends in "\n"; at most one P/D, I, R, L, B per n, T per n; at
// most lookup_result_max_a A lines per n; at most lookup_result_max_bytes in
// all. Host names are 1-253 of [A-Za-z0-9._-]; the user id and TXT hold no
// control characters (the helper turns them into spaces) and are bounded as
// the parsers that made them are (ident_max_userid_bytes, dns_max_txt_bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tcpd/address.hpp"
#include "tcpd/dns_message.hpp"

namespace tcpd {

inline constexpr size_t lookup_result_max_a = 32;
inline constexpr size_t lookup_result_max_blocklists = 64;
inline constexpr size_t lookup_result_max_bytes = 1024 + lookup_result_max_blocklists * (1100 + 20 * lookup_result_max_a);

// Why the helper dropped a connection (-haproxy), as a fixed word.
enum class DropReason { no_header, timeout, malformed, too_long, read_error, closed };
std::string_view drop_reason_word(DropReason r);
// The admin's text for a reason: "no PROXY header in time".
std::string_view drop_reason_text(DropReason r);

struct LookupResult {
  // PROXY stage (-haproxy only).
  enum class Proxy { none, unknown, addresses, dropped };
  Proxy proxy = Proxy::none;
  IpAddress source, destination;
  uint16_t source_port = 0, destination_port = 0;
  DropReason drop = DropReason::malformed;

  std::optional<std::string> ident, remote_host, local_host;
  bool local_host_cacheable = false;  // a fresh answer (found or not found), not a cached one
  // Per -block/-allow option, in option order: nullopt when not asked.
  std::vector<std::optional<DnsAnswer>> answers;
};

// The wire form of r. TXT values and user ids have control characters
// replaced by spaces and are cut to their limits; at most
// lookup_result_max_a A records and the first TXT record go out.
std::string encode_lookup_result(const LookupResult& r);

// Parses the wire form for a daemon with `blocklists` -block/-allow options.
// nullopt, with *why set to what is wrong ("line 3: unknown tag", "no end
// line"), for anything that does not follow the format exactly.
std::optional<LookupResult> parse_lookup_result(std::string_view text, size_t blocklists, std::string* why);

// Whether name is a host name the daemon accepts in TCPREMOTEHOST/TCPLOCALHOST.
bool valid_host_name(std::string_view name);

}  // namespace tcpd
