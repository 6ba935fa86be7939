// esmtpd/dnscheck.cpp: see dnscheck.hpp.
#include "esmtpd/dnscheck.hpp"

#include <algorithm>
#include <memory>

#include "lib/event.hpp"
#include "tcpd/resolver.hpp"

namespace esmtpd {

DnsCheck check_sender_domain(const std::string& domain, const DnsCheckOptions& options) {
  lib::EventBase base(event_base_new());
  if (!base) return {DnsVerdict::failed, "event_base_new failed"};
  tcpd::ResolverConfig rc;
  rc.nameservers = options.nameservers;
  rc.attempts = 2;
  rc.attempt_timeout = options.timeout;
  auto resolver = tcpd::Resolver::create(base.get(), rc);
  if (!resolver) return {DnsVerdict::failed, resolver.error().message};
  tcpd::Resolver& res = **resolver;

  DnsCheck result;
  int pending = 0;
  std::vector<std::string> mx_ips;
  auto check_a = [&]() {
    ++pending;
    res.forward(domain, false, [&](tcpd::Resolver::Status st, std::vector<tcpd::IpAddress>) {
      --pending;
      if (st == tcpd::Resolver::Status::ok) result = {DnsVerdict::ok, "A record"};
      else if (st == tcpd::Resolver::Status::not_found) result = {DnsVerdict::no_domain, "no MX and no A record"};
      else result = {DnsVerdict::failed, "DNS lookup of " + domain + " failed or timed out"};
    });
  };
  ++pending;
  res.query(domain, tcpd::dns_type_mx, [&](tcpd::DnsAnswer answer) {
    --pending;
    if (answer.status == tcpd::DnsAnswer::Status::not_found) return check_a();
    if (answer.status != tcpd::DnsAnswer::Status::ok) {
      result = {DnsVerdict::failed, "MX lookup of " + domain + " failed or timed out"};
      return;
    }
    result = {DnsVerdict::ok, "MX " + answer.mx.front()};
    if (options.badmx.empty()) return;
    for (std::size_t i = 0; i < answer.mx.size() && i < 5; ++i) {
      ++pending;
      std::string host = answer.mx[i];
      res.forward(host, false, [&, host](tcpd::Resolver::Status st, std::vector<tcpd::IpAddress> addrs) {
        --pending;
        if (st != tcpd::Resolver::Status::ok) return;
        for (const auto& a : addrs) {
          std::string ip = a.to_string();
          if (std::find(options.badmx.begin(), options.badmx.end(), ip) != options.badmx.end())
            result = {DnsVerdict::bad_mx, "MX " + host + " is " + ip + " (bofh badmx)"};
        }
      });
    }
  });
  while (pending > 0)
    if (event_base_loop(base.get(), EVLOOP_ONCE) != 0) break;
  return result;
}

}  // namespace esmtpd
