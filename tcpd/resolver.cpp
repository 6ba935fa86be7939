// tcpd/resolver.cpp: evdns for PTR/A/AAAA, a UDP client for blocklist queries.
#include "tcpd/resolver.hpp"

#include <cerrno>
#include <cstring>
#include <event2/util.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lib/log.hpp"

namespace tcpd {

struct Resolver::Request {
  enum class Kind { reverse, forward, query };
  Resolver* owner = nullptr;
  Id id = 0;
  Kind kind = Kind::query;
  NameCallback name_cb;
  AddressCallback addr_cb;
  AnswerCallback answer_cb;
  evdns_request* evreq = nullptr;
  // Blocklist queries over our own UDP socket.
  std::string qname;
  uint16_t qtype = 0;
  uint16_t qid = 0;
  int attempt = 0;
  lib::UniqueFd fd;
  lib::Event ev;
};

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

}  // namespace

Resolver::Resolver(event_base* base, ResolverConfig config) : base_(base), config_(std::move(config)) {}

lib::Result<std::unique_ptr<Resolver>> Resolver::create(event_base* base, const ResolverConfig& config) {
  std::unique_ptr<Resolver> r(new Resolver(base, config));
  if (auto c = r->configure(); !c) return c.error();
  return r;
}

Resolver::~Resolver() {
  requests_.clear();  // frees our UDP events before the base goes
  dns_.reset();       // pending evdns requests are dropped without callbacks
}

lib::Result<void> Resolver::configure() {
  dns_.reset(evdns_base_new(base_, 0));
  if (!dns_) return lib::temporary_error("evdns_base_new failed (out of memory?)");
  if (!config_.nameservers.empty()) {
    for (const auto& ns : config_.nameservers)
      if (evdns_base_nameserver_ip_add(dns_.get(), ns.c_str()) != 0)
        return lib::permanent_error("-nameserver=" + ns + ": not an address IP, IP:PORT or [IPv6]:PORT");
  } else {
    int rc = evdns_base_resolv_conf_parse(dns_.get(), DNS_OPTION_NAMESERVERS | DNS_OPTION_MISC,
                                          config_.resolv_conf.c_str());
    if (rc != 0 && rc != 6) {
      if (config_.resolv_conf != "/etc/resolv.conf")
        return lib::permanent_error("-resolvconf=" + config_.resolv_conf + ": cannot be read (evdns error " +
                                    std::to_string(rc) + "); name a resolv.conf-style file with nameserver lines");
      lib::log::warning("/etc/resolv.conf cannot be read (evdns error %d); asking 127.0.0.1 for DNS lookups", rc);
    }
    if (evdns_base_count_nameservers(dns_.get()) == 0) (void)evdns_base_nameserver_ip_add(dns_.get(), "127.0.0.1");
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(config_.attempt_timeout.count()) / 1000.0);
  evdns_base_set_option(dns_.get(), "timeout:", buf);
  std::snprintf(buf, sizeof buf, "%d", config_.attempts < 1 ? 1 : config_.attempts);
  evdns_base_set_option(dns_.get(), "attempts:", buf);
  return {};
}

Resolver::Id Resolver::add(std::unique_ptr<Request> r) {
  Id id = next_id_++;
  r->owner = this;
  r->id = id;
  requests_[id] = std::move(r);
  return id;
}

void Resolver::cancel(Id id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::unique_ptr<Request> r = std::move(it->second);
  requests_.erase(it);
  if (r->evreq) evdns_cancel_request(dns_.get(), r->evreq);
}

void Resolver::complete(Id id, Status status, std::string name, std::vector<IpAddress> addrs, DnsAnswer answer) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::unique_ptr<Request> r = std::move(it->second);
  requests_.erase(it);
  try {
    switch (r->kind) {
      case Request::Kind::reverse:
        if (r->name_cb) r->name_cb(status, std::move(name));
        break;
      case Request::Kind::forward:
        if (r->addr_cb) r->addr_cb(status, std::move(addrs));
        break;
      case Request::Kind::query:
        if (r->answer_cb) r->answer_cb(std::move(answer));
        break;
    }
  } catch (const std::exception& e) {
    lib::log::error("DNS callback failed: %s", e.what());
  }
}

void Resolver::on_deferred(evutil_socket_t, short, void* arg) noexcept {
  auto* r = static_cast<Request*>(arg);
  r->owner->complete(r->id, Status::failed, {}, {}, DnsAnswer{});
}

void Resolver::on_evdns(int result, char type, int count, int, void* addresses, void* arg) noexcept {
  auto* ticket = static_cast<EvdnsTicket*>(arg);
  Resolver* self = ticket->resolver;
  Id id = ticket->id;
  self->tickets_.erase(ticket);  // frees the ticket
  if (result == DNS_ERR_CANCEL || result == DNS_ERR_SHUTDOWN) return;
  try {
    Status status = Status::failed;
    std::string name;
    std::vector<IpAddress> addrs;
    if (result == DNS_ERR_NOTEXIST || result == DNS_ERR_NODATA) {
      status = Status::not_found;
    } else if (result == DNS_ERR_NONE) {
      status = Status::not_found;
      if (type == DNS_PTR && count > 0 && addresses) {
        const char* n = *static_cast<char**>(addresses);
        if (n && *n) {
          name.assign(n, strnlen(n, 256));
          status = Status::ok;
        }
      } else if (type == DNS_IPv4_A && count > 0 && addresses) {
        for (int i = 0; i < count && i < 64; ++i) {
          IpAddress a;
          a.family = IpAddress::Family::v4;
          std::memcpy(a.bytes.data(), static_cast<const uint8_t*>(addresses) + 4 * i, 4);
          addrs.push_back(a);
        }
        status = Status::ok;
      } else if (type == DNS_IPv6_AAAA && count > 0 && addresses) {
        for (int i = 0; i < count && i < 64; ++i) {
          uint16_t dummy = 0;
          sockaddr_in6 sin6{};
          sin6.sin6_family = AF_INET6;
          std::memcpy(&sin6.sin6_addr, static_cast<const uint8_t*>(addresses) + 16 * i, 16);
          if (auto a = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6, &dummy))
            addrs.push_back(*a);
        }
        status = Status::ok;
      }
    }
    self->complete(id, status, std::move(name), std::move(addrs), DnsAnswer{});
  } catch (...) {
    self->complete(id, Status::failed, {}, {}, DnsAnswer{});
  }
}

Resolver::Id Resolver::reverse(const IpAddress& addr, NameCallback cb) {
  auto r = std::make_unique<Request>();
  r->kind = Request::Kind::reverse;
  r->name_cb = std::move(cb);
  Request* raw = r.get();
  Id id = add(std::move(r));
  auto ticket = std::make_unique<EvdnsTicket>(EvdnsTicket{this, id});
  EvdnsTicket* t = ticket.get();
  tickets_[t] = std::move(ticket);
  if (addr.v4()) {
    in_addr in;
    std::memcpy(&in, addr.bytes.data(), 4);
    raw->evreq = evdns_base_resolve_reverse(dns_.get(), &in, DNS_QUERY_NO_SEARCH, on_evdns, t);
  } else {
    in6_addr in6;
    std::memcpy(&in6, addr.bytes.data(), 16);
    raw->evreq = evdns_base_resolve_reverse_ipv6(dns_.get(), &in6, DNS_QUERY_NO_SEARCH, on_evdns, t);
  }
  if (!raw->evreq) {
    tickets_.erase(t);
    raw->ev.reset(evtimer_new(base_, on_deferred, raw));
    timeval zero{0, 0};
    if (raw->ev) evtimer_add(raw->ev.get(), &zero);
  }
  return id;
}

Resolver::Id Resolver::forward(const std::string& name, bool ipv6, AddressCallback cb) {
  auto r = std::make_unique<Request>();
  r->kind = Request::Kind::forward;
  r->addr_cb = std::move(cb);
  Request* raw = r.get();
  Id id = add(std::move(r));
  auto ticket = std::make_unique<EvdnsTicket>(EvdnsTicket{this, id});
  EvdnsTicket* t = ticket.get();
  tickets_[t] = std::move(ticket);
  raw->evreq = ipv6 ? evdns_base_resolve_ipv6(dns_.get(), name.c_str(), DNS_QUERY_NO_SEARCH, on_evdns, t)
                    : evdns_base_resolve_ipv4(dns_.get(), name.c_str(), DNS_QUERY_NO_SEARCH, on_evdns, t);
  if (!raw->evreq) {
    tickets_.erase(t);
    raw->ev.reset(evtimer_new(base_, on_deferred, raw));
    timeval zero{0, 0};
    if (raw->ev) evtimer_add(raw->ev.get(), &zero);
  }
  return id;
}

Resolver::Id Resolver::query(const std::string& name, uint16_t qtype, AnswerCallback cb) {
  auto r = std::make_unique<Request>();
  r->kind = Request::Kind::query;
  r->answer_cb = std::move(cb);
  r->qname = name;
  r->qtype = qtype;
  Request* raw = r.get();
  Id id = add(std::move(r));
  send_query(*raw);
  return id;
}

// Sends the next attempt of a UDP query: a fresh socket and id each time (a
// spoofed reply must guess both), to the nameservers in turn.
void Resolver::send_query(Request& r) {
  auto fail_later = [&] {
    r.fd.reset();
    r.ev.reset(evtimer_new(base_, on_deferred, &r));
    timeval zero{0, 0};
    if (r.ev) evtimer_add(r.ev.get(), &zero);
  };
  int servers = evdns_base_count_nameservers(dns_.get());
  int total = (config_.attempts < 1 ? 1 : config_.attempts) * (servers < 1 ? 1 : servers);
  if (servers < 1 || r.attempt >= total) return fail_later();
  int idx = r.attempt % servers;
  ++r.attempt;
  sockaddr_storage ss{};
  int len = evdns_base_get_nameserver_addr(dns_.get(), idx, reinterpret_cast<sockaddr*>(&ss), sizeof ss);
  if (len <= 0 || static_cast<size_t>(len) > sizeof ss) return fail_later();
  evutil_secure_rng_get_bytes(&r.qid, sizeof r.qid);
  auto packet = encode_dns_query(r.qid, r.qname, r.qtype);
  if (!packet) return fail_later();
  r.ev.reset();
  r.fd.reset(::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!r.fd || ::connect(r.fd.get(), reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) != 0 ||
      ::send(r.fd.get(), packet->data(), packet->size(), 0) < 0)
    return fail_later();
  r.ev.reset(event_new(base_, r.fd.get(), EV_READ | EV_PERSIST, on_udp, &r));
  timeval tv = to_timeval(config_.attempt_timeout);
  if (!r.ev || event_add(r.ev.get(), &tv) != 0) return fail_later();
}

void Resolver::on_udp(evutil_socket_t fd, short what, void* arg) noexcept {
  auto* r = static_cast<Request*>(arg);
  Resolver* self = r->owner;
  try {
    if (what & EV_TIMEOUT) return self->send_query(*r);
    uint8_t buf[dns_max_udp_bytes];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return self->send_query(*r);  // e.g. ECONNREFUSED: port unreachable, try the next server
      }
      auto answer = decode_dns_reply(std::span<const uint8_t>(buf, static_cast<size_t>(n)), r->qid, r->qname,
                                     r->qtype);
      if (!answer) continue;  // not the reply to our query
      if (answer->status == DnsAnswer::Status::failed) {
        int servers = evdns_base_count_nameservers(self->dns_.get());
        if (r->attempt < (self->config_.attempts < 1 ? 1 : self->config_.attempts) * (servers < 1 ? 1 : servers))
          return self->send_query(*r);
      }
      return self->complete(r->id, answer->status == DnsAnswer::Status::ok          ? Status::ok
                                   : answer->status == DnsAnswer::Status::not_found ? Status::not_found
                                                                                    : Status::failed,
                            {}, {}, std::move(*answer));
    }
  } catch (...) {
    self->complete(r->id, Status::failed, {}, {}, DnsAnswer{});
  }
}

}  // namespace tcpd
