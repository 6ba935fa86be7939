// tcpd/resolver.hpp: couriertcpd's asynchronous DNS: reverse (PTR) and
// forward (A/AAAA) lookups through libevent's evdns, and blocklist queries
// (A or TXT) through a small UDP client of its own (evdns cannot ask for
// TXT), both to the same nameservers. Nothing here blocks: a nameserver that
// never answers costs each lookup its timeout, and no other connection waits
// for it (seed 001: Courier's blocking lookups delayed every port-25 client).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <event2/dns.h>
#include <event2/event.h>

#include "lib/c_handle.hpp"
#include "lib/event.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"
#include "tcpd/address.hpp"
#include "tcpd/dns_message.hpp"

namespace tcpd {

struct ResolverConfig {
  std::vector<std::string> nameservers;  // "IP" or "IP:PORT" ("[v6]:PORT"); if empty, resolv_conf
  std::string resolv_conf = "/etc/resolv.conf";
  std::chrono::milliseconds attempt_timeout{5000};
  int attempts = 2;
};

class Resolver {
 public:
  enum class Status { ok, not_found, failed };
  using Id = uint64_t;
  using NameCallback = std::function<void(Status, std::string)>;
  using AddressCallback = std::function<void(Status, std::vector<IpAddress>)>;
  using AnswerCallback = std::function<void(DnsAnswer)>;

  // Errors: an unreadable resolv.conf or no usable nameserver (naming the
  // file or the -nameserver value).
  static lib::Result<std::unique_ptr<Resolver>> create(event_base* base, const ResolverConfig& config);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Each lookup calls its callback exactly once, later, from the event loop,
  // unless cancelled first. Returns an id for cancel().
  Id reverse(const IpAddress& addr, NameCallback cb);
  Id forward(const std::string& name, bool ipv6, AddressCallback cb);
  Id query(const std::string& name, uint16_t qtype, AnswerCallback cb);
  // Forgets a lookup: its callback will not run. Unknown ids are ignored.
  void cancel(Id id);

  size_t pending() const { return requests_.size(); }

 private:
  struct Request;
  struct EvdnsTicket {
    Resolver* resolver;
    Id id;
  };
  Resolver(event_base* base, ResolverConfig config);
  lib::Result<void> configure();
  Id add(std::unique_ptr<Request> r);
  void send_query(Request& r);
  void complete(Id id, Status status, std::string name, std::vector<IpAddress> addrs, DnsAnswer answer);
  static void on_evdns(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept;
  static void on_udp(evutil_socket_t fd, short what, void* arg) noexcept;
  static void on_deferred(evutil_socket_t, short, void* arg) noexcept;

  event_base* base_;
  ResolverConfig config_;
  lib::EvdnsBase dns_;
  Id next_id_ = 1;
  std::map<Id, std::unique_ptr<Request>> requests_;
  // evdns calls back even after evdns_cancel_request (with DNS_ERR_CANCEL),
  // so the ticket it holds must live until then.
  std::map<EvdnsTicket*, std::unique_ptr<EvdnsTicket>> tickets_;
};

}  // namespace tcpd
