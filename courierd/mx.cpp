// courierd/mx.cpp: see mx.hpp.
#include "courierd/mx.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>

namespace courierd {

namespace {

struct Resolver {
  struct __res_state state {};
  bool ok = false;
  Resolver(const DnsOptions& o) {
    std::memset(&state, 0, sizeof state);
    if (res_ninit(&state) != 0) return;
    state.retrans = static_cast<int>(std::max<long long>(1, o.timeout.count() / 2));
    state.retry = 2;
    if (!o.server.empty()) {
      std::string host = o.server;
      int port = 53;
      auto colon = host.rfind(':');
      if (colon != std::string::npos && host.find(':') == colon) {
        port = std::atoi(host.c_str() + colon + 1);
        host = host.substr(0, colon);
      }
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(static_cast<uint16_t>(port));
      if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) return;
      state.nscount = 1;
      state.nsaddr_list[0] = sin;
      state.options &= ~static_cast<unsigned long>(RES_DNSRCH | RES_DEFNAMES);
    }
    ok = true;
  }
  ~Resolver() {
    if (ok) res_nclose(&state);
  }
};

enum class QueryStatus { ok, nxdomain, nodata, temporary };

QueryStatus query(Resolver& r, const std::string& name, int type, std::vector<unsigned char>& answer) {
  answer.resize(65536);
  int n = res_nquery(&r.state, name.c_str(), ns_c_in, type, answer.data(), static_cast<int>(answer.size()));
  if (n < 0) {
    switch (r.state.res_h_errno) {
      case HOST_NOT_FOUND: return QueryStatus::nxdomain;
      case NO_DATA: return QueryStatus::nodata;
      default: return QueryStatus::temporary;
    }
  }
  answer.resize(static_cast<size_t>(n));
  return QueryStatus::ok;
}

struct Mx {
  int preference;
  std::string host;
};

std::vector<Mx> parse_mx(const std::vector<unsigned char>& answer) {
  std::vector<Mx> out;
  ns_msg msg;
  if (ns_initparse(answer.data(), static_cast<int>(answer.size()), &msg) != 0) return out;
  int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) continue;
    if (ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3) continue;
    const unsigned char* rd = ns_rr_rdata(rr);
    int pref = (rd[0] << 8) | rd[1];
    char name[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 2, name, sizeof name) < 0) continue;
    out.push_back({pref, name});
  }
  return out;
}

std::vector<std::string> parse_addresses(const std::vector<unsigned char>& answer, int type) {
  std::vector<std::string> out;
  ns_msg msg;
  if (ns_initparse(answer.data(), static_cast<int>(answer.size()), &msg) != 0) return out;
  int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) continue;
    if (ns_rr_type(rr) != type) continue;
    char text[INET6_ADDRSTRLEN];
    if (type == ns_t_a && ns_rr_rdlen(rr) == 4 && inet_ntop(AF_INET, ns_rr_rdata(rr), text, sizeof text))
      out.emplace_back(text);
    if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16 && inet_ntop(AF_INET6, ns_rr_rdata(rr), text, sizeof text))
      out.emplace_back(text);
  }
  return out;
}

// A and AAAA of one host. nullopt status ok with empty list = no address.
lib::Result<std::vector<std::string>> addresses(Resolver& r, const std::string& host, RouteFamily family,
                                                bool* nxdomain) {
  std::vector<std::string> out;
  bool temp = false;
  std::vector<unsigned char> answer;
  for (int type : {ns_t_a, ns_t_aaaa}) {
    if ((type == ns_t_a && family == RouteFamily::ipv6) || (type == ns_t_aaaa && family == RouteFamily::ipv4))
      continue;
    auto st = query(r, host, type, answer);
    if (st == QueryStatus::ok) {
      auto a = parse_addresses(answer, type);
      out.insert(out.end(), a.begin(), a.end());
    } else if (st == QueryStatus::temporary) {
      temp = true;
    } else if (st == QueryStatus::nxdomain && nxdomain) {
      *nxdomain = true;
    }
  }
  if (out.empty() && temp) return lib::temporary_error("DNS lookup of " + host + " failed (try again later)");
  return out;
}

}  // namespace

void order_by_preference(std::vector<MxTarget>& targets) {
  static std::mt19937 rng{std::random_device{}()};
  std::shuffle(targets.begin(), targets.end(), rng);
  std::stable_sort(targets.begin(), targets.end(),
                   [](const MxTarget& a, const MxTarget& b) { return a.preference < b.preference; });
}

lib::Result<std::vector<MxTarget>> find_targets(const std::string& domain, const std::optional<Route>& route,
                                                const DnsOptions& dns) {
  int port = route ? route->port : 25;
  RouteFamily family = route ? route->family : RouteFamily::any;
  if (route && route->literal) return std::vector<MxTarget>{{route->relay, route->relay, port, 0}};
  std::string name = route && !route->relay.empty() ? route->relay : domain;
  // A domain literal recipient ("user@[192.0.2.1]").
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    std::string ip = name.substr(1, name.size() - 2);
    return std::vector<MxTarget>{{ip, ip, port, 0}};
  }
  Resolver r(dns);
  if (!r.ok) return lib::temporary_error("cannot initialise the resolver (ESMTP_DNS_SERVER=" + dns.server + ")");
  std::vector<unsigned char> answer;
  std::vector<MxTarget> targets;
  auto st = query(r, name, ns_t_mx, answer);
  if (st == QueryStatus::temporary)
    return lib::temporary_error("DNS lookup of the MX records of " + name + " failed (try again later)");
  if (st == QueryStatus::nxdomain)
    return lib::permanent_error("domain " + name + " does not exist (DNS: NXDOMAIN)");
  std::vector<Mx> mxs = st == QueryStatus::ok ? parse_mx(answer) : std::vector<Mx>{};
  if (mxs.size() == 1 && (mxs[0].host.empty() || mxs[0].host == "."))
    return lib::permanent_error("domain " + name + " accepts no mail (null MX, RFC 7505)");
  if (mxs.empty()) mxs.push_back({0, name});  // implicit MX (RFC 5321 5.1)
  std::vector<MxTarget> hosts;
  for (const auto& m : mxs) hosts.push_back({m.host, "", port, m.preference});
  order_by_preference(hosts);
  std::string last_error;
  for (const auto& h : hosts) {
    bool nx = false;
    auto addrs = addresses(r, h.host, family, &nx);
    if (!addrs) {
      last_error = addrs.error().message;
      continue;
    }
    for (const auto& ip : *addrs) targets.push_back({h.host, ip, port, h.preference});
  }
  if (targets.empty()) {
    if (!last_error.empty()) return lib::temporary_error(last_error);
    return lib::temporary_error("no address found for the mail servers of " + name);
  }
  return targets;
}

}  // namespace courierd
