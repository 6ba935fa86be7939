// tcpd/proxy_header.hpp: the PROXY protocol version 1 header (HAProxy's
// proxy-protocol.txt, section 2.1) that a load balancer sends before the
// client's bytes, naming the real client: couriertcpd -haproxy.
//
//   "PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\r\n"
//   "PROXY TCP6 2001:db8::1 2001:db8::2 56324 25\r\n"
//   "PROXY UNKNOWN ...\r\n"     (the proxy's own health checks)
//
// SECURITY: only a trusted proxy may send it (whoever can connect could
// claim any address): use -haproxy only on ports that just the proxy reaches.
// The line is at most 107 bytes; anything else is refused. It is read in
// couriertcpd's lookup helper, as the mail user (tcpd/lookup_helper.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tcpd/address.hpp"

namespace tcpd {

inline constexpr size_t proxy_v1_max_bytes = 107;  // including CRLF

struct ProxyHeader {
  bool unknown = false;  // UNKNOWN: keep the connection's own addresses
  IpAddress source, destination;
  uint16_t source_port = 0, destination_port = 0;
};

// Parses one header line including its CRLF. nullopt when it is not a valid
// v1 header: wrong prefix, a family that does not match its addresses,
// non-canonical numbers, ports out of range, extra spaces, missing CRLF,
// over 107 bytes.
std::optional<ProxyHeader> parse_proxy_v1(std::string_view line);

}  // namespace tcpd
