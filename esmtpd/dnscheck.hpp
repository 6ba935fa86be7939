// esmtpd/dnscheck.hpp: BOFHCHECKDNS, the sender domain checked in DNS at MAIL
// FROM, through couriertcpd's asynchronous resolver (tcpd/resolver.hpp, libevent
// evdns and its own UDP client) with a deadline: a resolver that never answers
// costs this session the timeout and nothing else (seed 001). bofh badmx: a
// sender domain whose MX host resolves to a listed address is refused.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace esmtpd {

enum class DnsVerdict {
  ok,         // an MX (none of them bad) or an A record
  no_domain,  // no MX and no A record (NXDOMAIN or no data)
  bad_mx,     // an MX host resolves to an address in bofh badmx
  failed,     // no answer within the deadline, SERVFAIL...: try again later
};

struct DnsCheck {
  DnsVerdict verdict = DnsVerdict::failed;
  std::string detail;  // for the reply and the log
};

struct DnsCheckOptions {
  std::vector<std::string> nameservers;  // empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{5000};  // per attempt; 2 attempts
  std::vector<std::string> badmx;
};

DnsCheck check_sender_domain(const std::string& domain, const DnsCheckOptions& options);

}  // namespace esmtpd
