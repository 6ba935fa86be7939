// courierd/mx.hpp: where courieresmtp connects for a domain (RFC 5321 section 5.1):
// MX records by preference (equal preferences in random order), else the domain's
// own A/AAAA records (implicit MX); a null MX (RFC 7505) refuses mail. The name
// server is /etc/resolv.conf's, or ESMTP_DNS_SERVER (tests point it at a loopback
// server). Queries go through libresolv's res_nquery: libevent's evdns, used by the
// daemons, has no MX queries, and courieresmtp is a short-lived process per delivery
// that may block.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "courierd/routes.hpp"
#include "lib/result.hpp"

namespace courierd {

struct MxTarget {
  std::string host;  // name, for logs, TLS SNI and esmtpauthclient
  std::string ip;
  int port = 25;
  int preference = 0;
};

struct DnsOptions {
  std::string server;  // "ip" or "ip:port"; empty = /etc/resolv.conf
  std::chrono::seconds timeout{10};
};

// Targets for the recipient domain under the route (which may name a relay or
// literal address). Errors: permanent for NXDOMAIN / null MX, temporary otherwise.
lib::Result<std::vector<MxTarget>> find_targets(const std::string& domain, const std::optional<Route>& route,
                                                const DnsOptions& dns);

// Sorting step of RFC 5321 5.1 (exposed for tests): ascending preference, ties shuffled.
void order_by_preference(std::vector<MxTarget>& targets);

}  // namespace courierd
