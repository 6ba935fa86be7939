// tcpd/server.cpp: couriertcpd's event loop (see server.hpp).
//
// A connection's life:
//   accepted -> access file (deny: -denymsg, close) -> limits (-maxperip /
//   MAXCPERIP, -maxperc; over: close) -> Pending: ident, reverse+forward DNS
//   of both ends, blocklists, all at once, bounded by one deadline ->
//   blocklist variables in option order -> -drop -> posix_spawn(program).
// A Pending connection holds a -maxprocs slot like a running child, so slow
// lookups cannot let more than -maxprocs connections in.
#include "tcpd/server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "tcpd/proxy_header.hpp"

extern char** environ;

namespace tcpd {

namespace {

constexpr std::chrono::minutes local_host_cache_ttl{5};
constexpr size_t local_host_cache_max = 1024;
constexpr int accept_batch = 64;

const char* const managed_variables[] = {"TCPREMOTEIP",  "TCPREMOTEPORT", "TCPREMOTEHOST", "TCPREMOTEINFO",
                                         "TCPLOCALIP",   "TCPLOCALPORT",  "TCPLOCALHOST"};

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

std::string bind_hint(int err) {
  switch (err) {
    case EADDRINUSE:
      return " (another program, or another couriertcpd, already listens there; stop it or choose another port)";
    case EACCES:
      return " (ports below 1024 need root; start as root, or use a port above 1023)";
    case EADDRNOTAVAIL:
      return " (no network interface has this address; check -address or the port list)";
    default:
      return "";
  }
}

lib::Result<lib::UniqueFd> listen_on(const IpAddress* addr, bool v6_wildcard, uint16_t port, int backlog,
                                     const std::string& what) {
  int family = addr ? (addr->v4() ? AF_INET : AF_INET6) : (v6_wildcard ? AF_INET6 : AF_INET);
  lib::UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    int err = errno;
    return lib::permanent_error("cannot create a socket for " + what + ": " + lib::errno_text(err));
  }
  int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (addr) {
    len = addr->to_sockaddr(ss, port);
  } else if (family == AF_INET6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_any;
    sin6.sin6_port = htons(port);
    std::memcpy(&ss, &sin6, sizeof sin6);
    len = sizeof sin6;
  } else {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    sin.sin_port = htons(port);
    std::memcpy(&ss, &sin, sizeof sin);
    len = sizeof sin;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    return lib::permanent_error("cannot listen on " + what + ": bind: " + lib::errno_text(err) + bind_hint(err));
  }
  if (::listen(fd.get(), backlog > 0 ? backlog : SOMAXCONN) != 0) {
    int err = errno;
    return lib::permanent_error("cannot listen on " + what + ": listen: " + lib::errno_text(err));
  }
  return fd;
}

}  // namespace

lib::Result<std::vector<BoundListener>> bind_listeners(const Options& opts) {
  std::vector<BoundListener> out;
  for (const auto& spec : opts.listen) {
    std::string entry = (spec.address.empty() ? "" : spec.address + ".") + std::to_string(spec.port);
    if (!spec.address.empty()) {
      auto addr = IpAddress::parse(spec.address);
      if (!addr) return lib::permanent_error("port list entry " + entry + ": " + spec.address + " is not an IP address");
      std::string what = (addr->v4() ? addr->to_string() : "[" + addr->to_string() + "]") + ":" +
                         std::to_string(spec.port) + " (port list entry " + entry + ")";
      auto fd = listen_on(&*addr, false, spec.port, opts.listen_backlog, what);
      if (!fd) return fd.error();
      out.push_back({std::move(*fd), what});
      continue;
    }
    std::string what6 = "[::]:" + std::to_string(spec.port) + " (port list entry " + entry + ")";
    std::string what4 = "0.0.0.0:" + std::to_string(spec.port) + " (port list entry " + entry + ")";
    auto fd6 = listen_on(nullptr, true, spec.port, opts.listen_backlog, what6);
    if (!fd6) {
      // No IPv6 in this kernel or container: IPv4 alone, as Courier does.
      lib::UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (probe) return fd6.error();
    } else {
      out.push_back({std::move(*fd6), what6});
    }
    auto fd4 = listen_on(nullptr, false, spec.port, opts.listen_backlog, what4);
    if (!fd4) return fd4.error();
    out.push_back({std::move(*fd4), what4});
  }
  return out;
}

EnvVars inherited_environment(char** environ_ptr) {
  EnvVars env;
  for (char** e = environ_ptr; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string name(kv.substr(0, eq));
    if (std::find(std::begin(managed_variables), std::end(managed_variables), name) != std::end(managed_variables))
      continue;
    env.emplace(std::move(name), std::string(kv.substr(eq + 1)));
  }
  return env;
}

// A connection whose lookups are under way.
struct Server::Pending {
  uint64_t id = 0;
  lib::UniqueFd fd;
  IpAddress remote, local;
  uint16_t remote_port = 0, local_port = 0;
  EnvVars access_vars;  // from the access file: local entry, then remote entry
  bool proxied = false;  // addresses from a PROXY header: no ident (it would ask about the proxy's connection)
  int outstanding = 0;
  // Host names: nullopt while unknown/unset; "softdnserr" on a temporary failure.
  bool remote_host_pending = false, local_host_pending = false;
  std::optional<std::string> remote_host, local_host, ident;
  std::vector<std::optional<DnsAnswer>> answers;  // per -block/-allow option
  std::vector<Resolver::Id> dns_ids;
  std::unique_ptr<IdentLookup> ident_lookup;
  lib::Event deadline;
  Server* server = nullptr;
};

lib::Result<std::unique_ptr<Server>> Server::create(Options opts, std::string program_path,
                                                    std::vector<BoundListener> listeners, EnvVars base_env) {
  std::unique_ptr<Server> s(new Server());
  s->opts_ = std::move(opts);
  s->program_path_ = std::move(program_path);
  s->base_env_ = std::move(base_env);
  if (auto r = s->setup(std::move(listeners)); !r) return r.error();
  return s;
}

Server::~Server() {
  proxy_waits_.clear();
  pending_.clear();
  resolver_.reset();
  listeners_.clear();
  signals_.clear();
  resume_timer_.reset();
  shutdown_timer_.reset();
}

lib::Result<void> Server::setup(std::vector<BoundListener> listeners) {
  base_.reset(event_base_new());
  if (!base_) return lib::temporary_error("event_base_new failed");

  if (opts_.dns_lookup || !opts_.blocklists.empty()) {
    ResolverConfig rc;
    rc.nameservers = opts_.nameservers;
    if (!opts_.resolv_conf.empty()) rc.resolv_conf = opts_.resolv_conf;
    rc.attempts = 2;
    rc.attempt_timeout = std::max(std::chrono::milliseconds(200), opts_.dns_timeout / 2);
    auto r = Resolver::create(base_.get(), rc);
    if (!r) return r.error();
    resolver_ = std::move(*r);
  }
  if (!opts_.access_file.empty()) {
    auto a = AccessFile::open(opts_.access_file);
    if (!a) return lib::permanent_error("-access=" + opts_.access_file + ": " + a.error().message);
    access_.emplace(std::move(*a));
  }
  if (!opts_.stderr_logger.empty()) start_logger();

  for (auto& bl : listeners) {
    Listener l;
    l.fd = std::move(bl.fd);
    l.description = std::move(bl.description);
    listeners_.push_back(std::move(l));
  }
  for (auto& l : listeners_) {
    l.ev.reset(event_new(base_.get(), l.fd.get(), EV_READ | EV_PERSIST, on_accept, this));
    if (!l.ev || event_add(l.ev.get(), nullptr) != 0) return lib::temporary_error("event_add failed for a listener");
  }
  resume_timer_.reset(evtimer_new(base_.get(), on_resume, this));
  shutdown_timer_.reset(evtimer_new(base_.get(), on_shutdown_timer, this));
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) {
    lib::Event ev(evsignal_new(base_.get(), sig, on_signal, this));
    if (!ev || event_add(ev.get(), nullptr) != 0) return lib::temporary_error("cannot install a signal handler");
    signals_.push_back(std::move(ev));
  }
  std::signal(SIGPIPE, SIG_IGN);
  return {};
}

int Server::run() {
  std::string where;
  for (const auto& l : listeners_) where += (where.empty() ? "" : ", ") + l.description;
  lib::log::info("listening on %s, running %s (maxprocs=%d maxperip=%d maxperc=%d)", where.c_str(),
                 program_path_.c_str(), opts_.max_procs, opts_.max_per_ip, opts_.effective_max_per_c());
  event_base_dispatch(base_.get());
  lib::log::info("stopped");
  return 0;
}

bool Server::rate_ok(std::chrono::steady_clock::time_point& last, std::chrono::seconds every) {
  auto now = std::chrono::steady_clock::now();
  if (last.time_since_epoch().count() != 0 && now - last < every) return false;
  last = now;
  return true;
}

// ---- listening -------------------------------------------------------------

void Server::pause_listeners() {
  if (!listening_) return;
  for (auto& l : listeners_)
    if (l.ev) event_del(l.ev.get());
  listening_ = false;
}

void Server::resume_listeners() {
  if (listening_ || shutdown_stage_ > 0) return;
  for (auto& l : listeners_)
    if (l.ev) event_add(l.ev.get(), nullptr);
  listening_ = true;
}

// Listens while there is a free slot and no EMFILE back-off.
void Server::update_listening() {
  if (shutdown_stage_ > 0) return;
  if (!backoff_ && active() < static_cast<size_t>(opts_.max_procs))
    resume_listeners();
  else
    pause_listeners();
}

void Server::on_resume(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  self->backoff_ = false;
  self->update_listening();
}

void Server::on_accept(evutil_socket_t fd, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  try {
    self->accept_from(fd);
  } catch (const std::exception& e) {
    lib::log::error("accepting a connection: %s", e.what());
  }
}

void Server::accept_from(int listen_fd) {
  for (int i = 0; i < accept_batch; ++i) {
    if (active() >= static_cast<size_t>(opts_.max_procs) || shutdown_stage_ > 0) {
      update_listening();
      return;
    }
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      switch (err) {
        case EAGAIN:
          return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
          continue;  // that connection is gone; the listener is fine
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
        default:
          // Out of descriptors or memory: stop accepting for a moment (the
          // kernel keeps the queue), keep the listener, and retry.
          if (rate_ok(last_accept_err_log_, std::chrono::seconds(10)))
            lib::log::error("accept: %s; not accepting for %lld ms (raise the open files limit, ulimit -n, or "
                            "lower -maxprocs=%d)",
                            lib::errno_text(err).c_str(), static_cast<long long>(backoff_delay_.count()),
                            opts_.max_procs);
          backoff_ = true;
          pause_listeners();
          {
            timeval tv = to_timeval(backoff_delay_);
            evtimer_add(resume_timer_.get(), &tv);
          }
          backoff_delay_ = std::min(backoff_delay_ * 2, std::chrono::milliseconds(2000));
          return;
      }
    }
    backoff_delay_ = std::chrono::milliseconds(100);
    lib::UniqueFd conn(fd);
    uint16_t port = 0;
    auto remote = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len, &port);
    if (!remote) continue;  // not IP: cannot happen on our sockets
    handle_connection(std::move(conn), *remote, port);
  }
}

// ---- one connection --------------------------------------------------------

int Server::count_ip(const IpAddress& a) const {
  auto it = ip_count_.find(a);
  return it == ip_count_.end() ? 0 : it->second;
}

int Server::count_c_block(const IpAddress& a) const {
  int n = 0;
  for (const auto& [addr, count] : ip_count_)
    if (same_c_block(addr, a)) n += count;
  return n;
}

void Server::release_ip(const IpAddress& a) {
  auto it = ip_count_.find(a);
  if (it == ip_count_.end()) return;
  if (--it->second <= 0) ip_count_.erase(it);
}

void Server::deny(int fd, bool send_message) {
  if (send_message && opts_.has_deny_message) {
    std::string msg = opts_.deny_message + "\n";
    (void)::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

// A connection whose PROXY header (-haproxy) has not arrived yet.
struct Server::ProxyWait {
  uint64_t id = 0;
  lib::UniqueFd fd;
  IpAddress remote, local;
  uint16_t remote_port = 0, local_port = 0;
  std::string header;
  lib::Event ev;
  Server* server = nullptr;
};

void Server::handle_connection(lib::UniqueFd fd, const IpAddress& remote, uint16_t remote_port) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  uint16_t local_port = 0;
  std::optional<IpAddress> local;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    local = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len, &local_port);
  if (!local) return;
  if (!opts_.haproxy_timeout) return admit(std::move(fd), remote, remote_port, *local, local_port, false);

  auto w = std::make_unique<ProxyWait>();
  w->id = next_id_++;
  w->server = this;
  w->fd = std::move(fd);
  w->remote = remote;
  w->local = *local;
  w->remote_port = remote_port;
  w->local_port = local_port;
  w->ev.reset(event_new(base_.get(), w->fd.get(), EV_READ | EV_PERSIST, on_proxy_header, w.get()));
  timeval tv = to_timeval(*opts_.haproxy_timeout);
  if (!w->ev || event_add(w->ev.get(), &tv) != 0) return;
  proxy_waits_[w->id] = std::move(w);
  update_listening();
}

void Server::on_proxy_header(evutil_socket_t, short what, void* arg) noexcept {
  auto* w = static_cast<ProxyWait*>(arg);
  try {
    w->server->read_proxy_header(w->id, what);
  } catch (const std::exception& e) {
    lib::log::error("reading a PROXY header: %s", e.what());
  }
}

// Reads the header without taking a byte of what follows it: peek, and
// consume only up to the CRLF (bytes before it are all header).
void Server::read_proxy_header(uint64_t id, short what) {
  auto it = proxy_waits_.find(id);
  if (it == proxy_waits_.end()) return;
  ProxyWait& w = *it->second;
  const std::string peer = w.remote.to_string();
  auto drop = [&](const char* why) {
    if (rate_ok(last_proxy_log_, std::chrono::seconds(1)))
      lib::log::warning("-haproxy: %s from %s; connection closed", why, peer.c_str());
    proxy_waits_.erase(id);
    update_listening();
  };
  if (what & EV_TIMEOUT) return drop("no PROXY header in time");
  char buf[proxy_v1_max_bytes];
  size_t want = proxy_v1_max_bytes - w.header.size();
  ssize_t n = ::recv(w.fd.get(), buf, want, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    proxy_waits_.erase(id);  // closed before sending anything useful
    update_listening();
    return;
  }
  std::string_view seen(buf, static_cast<size_t>(n));
  size_t take = seen.size();
  bool complete = false;
  std::string joined = w.header + std::string(seen);
  if (size_t crlf = joined.find("\r\n"); crlf != std::string::npos) {
    take = crlf + 2 - w.header.size();
    complete = true;
  }
  if (::recv(w.fd.get(), buf, take, 0) != static_cast<ssize_t>(take)) return drop("a read error");
  w.header.append(buf, take);
  if (!complete) {
    const std::string_view prefix = "PROXY ";
    size_t k = std::min(w.header.size(), prefix.size());
    if (std::string_view(w.header).substr(0, k) != prefix.substr(0, k))
      return drop("no PROXY header (the port expects one: -haproxy)");
    if (w.header.size() >= proxy_v1_max_bytes) return drop("a PROXY header longer than 107 bytes");
    return;
  }
  auto h = parse_proxy_v1(w.header);
  if (!h) return drop("a malformed PROXY header");
  lib::UniqueFd fd = std::move(w.fd);
  IpAddress remote = w.remote, local = w.local;
  uint16_t rport = w.remote_port, lport = w.local_port;
  proxy_waits_.erase(it);
  if (h->unknown) return admit(std::move(fd), remote, rport, local, lport, false);
  admit(std::move(fd), h->source, h->source_port, h->destination, h->destination_port, true);
}

void Server::admit(lib::UniqueFd fd, const IpAddress& remote, uint16_t remote_port, const IpAddress& local_addr,
                   uint16_t local_port, bool proxied) {
  const std::string remote_ip = remote.to_string();

  EnvVars vars;
  if (access_) {
    auto now = std::chrono::steady_clock::now();
    if (now - access_checked_ > std::chrono::seconds(1)) {
      access_checked_ = now;
      auto r = access_->reopen_if_replaced();
      if (!r)
        lib::log::error("%s", r.error().message.c_str());
      else if (*r)
        lib::log::info("reopened %s (it was rebuilt)", access_->path().c_str());
    }
    auto apply = [&](const std::vector<std::string>& keys, bool is_local) -> bool {
      auto d = access_->decide(keys);
      if (!d) {
        if (rate_ok(last_deny_log_, std::chrono::seconds(1)))
          lib::log::error("refusing %s: %s", remote_ip.c_str(), d.error().message.c_str());
        return false;
      }
      if (!d->allow) {
        if (rate_ok(last_deny_log_, std::chrono::seconds(1)))
          lib::log::notice("refused %s (%s entry %s in %s)", remote_ip.c_str(), is_local ? "local" : "remote",
                           d->matched_key.c_str(), access_->path().c_str());
        return false;
      }
      for (auto& v : d->variables) vars[v.name] = std::move(v.value);
      return true;
    };
    // Courier drops a connection refused by its local entry without -denymsg.
    if (opts_.access_local && !apply(access_lookup_keys(local_addr, local_port), true)) return;
    if (!apply(access_lookup_keys(remote), false)) {
      deny(fd.get(), true);
      return;
    }
  }

  int max_per_ip = opts_.max_per_ip;
  bool limit_from_access = false;
  if (auto it = vars.find("MAXCPERIP"); it != vars.end()) {
    int n = std::atoi(it->second.c_str());
    if (n > 0) {
      max_per_ip = n;
      limit_from_access = true;
    }
  }
  if (count_ip(remote) >= max_per_ip) {
    // Name the setting the admin wrote: MAXPERIP of the start script
    // (couriertcpd -maxperip), or MAXCPERIP of this address's access entry.
    if (rate_ok(last_limit_log_, std::chrono::seconds(1)))
      lib::log::warning("maximum connection limit reached for %s (%d connections from one address: %s)",
                        remote_ip.c_str(), max_per_ip,
                        limit_from_access ? "MAXCPERIP in its access file entry"
                                          : "MAXPERIP in the service's settings, couriertcpd -maxperip");
    return;
  }
  if (count_c_block(remote) >= opts_.effective_max_per_c()) {
    if (rate_ok(last_limit_log_, std::chrono::seconds(1)))
      lib::log::warning("maximum connection limit reached for the block of %s (%d connections, -maxperc)",
                        remote_ip.c_str(), opts_.effective_max_per_c());
    return;
  }

  int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);

  auto p = std::make_unique<Pending>();
  p->id = next_id_++;
  p->server = this;
  p->fd = std::move(fd);
  p->remote = remote;
  p->local = local_addr;
  p->remote_port = remote_port;
  p->local_port = local_port;
  p->access_vars = std::move(vars);
  p->proxied = proxied;
  p->answers.resize(opts_.blocklists.size());
  Pending& ref = *p;
  pending_[p->id] = std::move(p);
  ++ip_count_[remote];
  start_lookups(ref);
  uint64_t id = ref.id;
  if (ref.outstanding == 0) {
    finish(id, false);
  } else {
    ref.deadline.reset(evtimer_new(base_.get(), on_deadline, &ref));
    timeval tv = to_timeval(std::max(opts_.dns_timeout, opts_.ident_timeout));
    if (ref.deadline) evtimer_add(ref.deadline.get(), &tv);
  }
  update_listening();
}

void Server::start_lookups(Pending& p) {
  const uint64_t id = p.id;
  if (opts_.ident_lookup && !p.proxied) {
    ++p.outstanding;
    p.ident_lookup = IdentLookup::start(base_.get(), p.local, p.local_port, p.remote, p.remote_port, opts_.ident_port,
                                        opts_.ident_timeout, [this, id](std::optional<std::string> user) {
                                          auto it = pending_.find(id);
                                          if (it == pending_.end()) return;
                                          it->second->ident = std::move(user);
                                          lookup_done(id);
                                        });
    if (!p.ident_lookup) --p.outstanding;
  }
  if (opts_.dns_lookup && resolver_) {
    lookup_host(p, true);
    lookup_host(p, false);
  }
  for (size_t i = 0; i < opts_.blocklists.size() && resolver_; ++i) {
    const auto& spec = opts_.blocklists[i];
    // Skipped when the variable is already set (access file, environment);
    // the ones set by earlier options are checked when the answers are applied.
    if (p.access_vars.count(spec.variable) || base_env_.count(spec.variable)) continue;
    std::string name = blocklist_query_name(p.remote, spec.zone);
    if (name.size() > 253) continue;  // Courier silently ignores overlong names
    ++p.outstanding;
    p.dns_ids.push_back(resolver_->query(name, blocklist_query_type(spec), [this, id, i](DnsAnswer answer) {
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      it->second->answers[i] = std::move(answer);
      lookup_done(id);
    }));
  }
}

// TCPREMOTEHOST / TCPLOCALHOST: PTR, then A or AAAA of that name, which must
// lead back to the address. Not found -> unset; a temporary failure ->
// "softdnserr"; forward does not match -> unset (as Courier's code does).
void Server::lookup_host(Pending& p, bool remote) {
  const IpAddress addr = remote ? p.remote : p.local;
  if (!remote) {
    auto it = local_host_cache_.find(addr);
    if (it != local_host_cache_.end() && it->second.expires > std::chrono::steady_clock::now()) {
      p.local_host = it->second.name;
      return;
    }
  }
  const uint64_t id = p.id;
  (remote ? p.remote_host_pending : p.local_host_pending) = true;
  ++p.outstanding;
  auto done = [this, id, remote, addr](std::optional<std::string> host, bool cacheable) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& q = *it->second;
    (remote ? q.remote_host : q.local_host) = host;
    (remote ? q.remote_host_pending : q.local_host_pending) = false;
    if (!remote && cacheable) {
      if (local_host_cache_.size() >= local_host_cache_max) local_host_cache_.clear();
      local_host_cache_[addr] = {host, std::chrono::steady_clock::now() + local_host_cache_ttl};
    }
    lookup_done(id);
  };
  p.dns_ids.push_back(resolver_->reverse(addr, [this, id, addr, done](Resolver::Status st, std::string name) {
    if (st == Resolver::Status::not_found) return done(std::nullopt, true);
    if (st != Resolver::Status::ok) return done(std::string("softdnserr"), false);
    // Host names only: letters, digits, '-', '.', '_' (a PTR record could hold anything).
    bool sane = !name.empty() && name.size() <= 253 &&
                std::all_of(name.begin(), name.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                         c == '.' || c == '_';
                });
    if (!sane) return done(std::nullopt, true);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second->dns_ids.push_back(resolver_->forward(
        name, !addr.v4(), [addr, name, done](Resolver::Status fst, std::vector<IpAddress> addrs) {
          if (fst == Resolver::Status::failed) return done(std::string("softdnserr"), false);
          bool match = std::find(addrs.begin(), addrs.end(), addr) != addrs.end();
          done(match ? std::optional<std::string>(name) : std::nullopt, true);
        }));
  }));
}

void Server::lookup_done(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (--it->second->outstanding <= 0) finish(id, false);
}

void Server::on_deadline(evutil_socket_t, short, void* arg) noexcept {
  auto* p = static_cast<Pending*>(arg);
  try {
    p->server->finish(p->id, true);
  } catch (const std::exception& e) {
    lib::log::error("finishing a connection: %s", e.what());
  }
}

void Server::finish(uint64_t id, bool timed_out) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  for (auto dns_id : p->dns_ids) resolver_->cancel(dns_id);
  p->ident_lookup.reset();
  if (timed_out) {
    // What has not arrived by now is a temporary failure: the client waits no longer.
    if (p->remote_host_pending) p->remote_host = "softdnserr";
    if (p->local_host_pending) p->local_host = "softdnserr";
  }

  // Courier's order: inherited environment, access file, TCP* variables, then blocklists.
  EnvVars vars = base_env_;
  for (auto& [k, v] : p->access_vars) vars[k] = v;
  const std::string remote_ip = p->remote.to_string();
  if (p->ident) vars["TCPREMOTEINFO"] = *p->ident;
  vars["TCPREMOTEIP"] = remote_ip;
  vars["TCPREMOTEPORT"] = std::to_string(p->remote_port);
  if (p->remote_host) vars["TCPREMOTEHOST"] = *p->remote_host;
  vars["TCPLOCALIP"] = p->local.to_string();
  vars["TCPLOCALPORT"] = std::to_string(p->local_port);
  if (p->local_host) vars["TCPLOCALHOST"] = *p->local_host;
  int allow_count = 0;
  for (size_t i = 0; i < opts_.blocklists.size(); ++i)
    if (p->answers[i]) apply_blocklist_answer(opts_.blocklists[i], *p->answers[i], remote_ip, vars, allow_count);

  for (const auto& name : opts_.drop_variables) {
    auto v = vars.find(name);
    if (v != vars.end() && !v->second.empty()) {
      lib::log::warning("dropped blocked connection from %s (%s=%s)", remote_ip.c_str(), name.c_str(),
                        lib::log::sanitize(v->second, 200).c_str());
      deny(p->fd.get(), true);
      release_ip(p->remote);
      update_listening();
      return;
    }
  }
  spawn_child(*p, vars);
  update_listening();
}

void Server::spawn_child(Pending& p, const EnvVars& vars) {
  std::vector<std::string> env_strings;
  env_strings.reserve(vars.size());
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : opts_.program_args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // The program gets a blocking socket (the flag is shared by the dups).
  int flags = ::fcntl(p.fd.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(p.fd.get(), F_SETFL, flags & ~O_NONBLOCK);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, p.fd.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, p.fd.get(), 1);
  if (opts_.stderr_mode == StderrMode::socket) posix_spawn_file_actions_adddup2(&fa, p.fd.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t mask, defaults;
  sigemptyset(&mask);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM})
    sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = 0;
  if (spawn_hook) {
    pid = spawn_hook(p.fd.get(), vars, opts_.stderr_mode == StderrMode::socket);
    if (pid < 0) rc = errno;
  } else {
    rc = posix_spawn(&pid, program_path_.c_str(), &fa, &attr, argv.data(), envp.data());
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    if (rate_ok(last_spawn_err_log_, std::chrono::seconds(5)))
      lib::log::error("cannot run %s for a connection from %s: %s", program_path_.c_str(),
                      p.remote.to_string().c_str(), lib::errno_text(rc).c_str());
    release_ip(p.remote);
    return;  // the socket closes with p
  }
  children_[pid] = Child{p.remote};

  size_t n = active();
  if (n >= static_cast<size_t>(opts_.max_procs)) {
    if (rate_ok(last_full_log_, std::chrono::seconds(60)))
      lib::log::error("ALERT: %d maximum active connections (-maxprocs); new connections wait", opts_.max_procs);
  } else if (n >= static_cast<size_t>(opts_.effective_warn())) {
    if (rate_ok(last_warn_log_, std::chrono::seconds(60)))
      lib::log::warning("%zu active connections (-warn=%d, -maxprocs=%d)", n, opts_.effective_warn(),
                        opts_.max_procs);
  }
}

// ---- children, signals, shutdown ------------------------------------------

void Server::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (pid == logger_pid_) {
      logger_pid_ = -1;
      if (shutdown_stage_ == 0) {
        lib::log::error("the -stderrlogger program %s ended; starting it again", opts_.stderr_logger.c_str());
        start_logger();
      }
      continue;
    }
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    if (WIFSIGNALED(status) && WCOREDUMP(status))
      lib::log::warning("%s for %s died with signal %d (core dumped)", program_path_.c_str(),
                        it->second.addr.to_string().c_str(), WTERMSIG(status));
    release_ip(it->second.addr);
    children_.erase(it);
  }
  if (shutdown_stage_ > 0 && children_.empty()) {
    event_base_loopexit(base_.get(), nullptr);
    return;
  }
  update_listening();
}

void Server::reload() {
  lib::log::info("SIGHUP: reopening files");
  (void)lib::log::reopen();
  if (opts_.stderr_mode == StderrMode::file) {
    int fd = ::open(opts_.stderr_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0660);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    }
  }
  if (!opts_.access_file.empty()) {
    auto a = AccessFile::open(opts_.access_file);
    if (!a)
      lib::log::error("-access=%s: %s; keeping the access rules loaded before", opts_.access_file.c_str(),
                      a.error().message.c_str());
    else
      access_.emplace(std::move(*a));
  }
  local_host_cache_.clear();
  if (resolver_)
    if (auto r = resolver_->reload(); !r) lib::log::error("%s", r.error().message.c_str());
}

void Server::begin_shutdown() {
  if (shutdown_stage_ > 0) {
    // A second SIGTERM: do not wait any longer for the children.
    if (shutdown_stage_ == 1) on_shutdown_timer(-1, 0, this);
    return;
  }
  shutdown_stage_ = 1;
  lib::log::info("stopping: no new connections; %zu running, %zu in lookups", children_.size(), pending_.size());
  pause_listeners();
  listeners_.clear();  // closes the sockets: a new couriertcpd can bind at once
  pending_.clear();    // connections not yet handed to a program are closed
  proxy_waits_.clear();
  if (children_.empty()) {
    event_base_loopexit(base_.get(), nullptr);
    return;
  }
  timeval tv = to_timeval(opts_.stop_grace);
  evtimer_add(shutdown_timer_.get(), &tv);
}

void Server::on_shutdown_timer(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  if (self->children_.empty()) return;
  int sig = self->shutdown_stage_ <= 1 ? SIGTERM : SIGKILL;
  lib::log::info("sending %s to %zu remaining children", sig == SIGTERM ? "SIGTERM" : "SIGKILL",
                 self->children_.size());
  for (const auto& [pid, child] : self->children_) ::kill(pid, sig);
  self->shutdown_stage_ = sig == SIGTERM ? 2 : 3;
  if (sig == SIGTERM) {
    timeval tv{5, 0};
    evtimer_add(self->shutdown_timer_.get(), &tv);
  }
}

void Server::on_signal(evutil_socket_t sig, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  try {
    switch (sig) {
      case SIGCHLD:
        self->reap_children();
        break;
      case SIGHUP:
        self->reload();
        break;
      case SIGTERM:
      case SIGINT:
        self->begin_shutdown();
        break;
      default:
        break;
    }
  } catch (const std::exception& e) {
    lib::log::error("handling signal %d: %s", static_cast<int>(sig), e.what());
  }
}

void Server::start_logger() {
  auto now = std::chrono::steady_clock::now();
  if (logger_started_.time_since_epoch().count() != 0 && now - logger_started_ < std::chrono::seconds(5)) {
    // Respawning in a tight loop helps nobody; the next SIGCHLD or connection retries.
    return;
  }
  logger_started_ = now;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    lib::log::error("-stderrlogger: pipe: %s", lib::errno_text(errno).c_str());
    return;
  }
  std::string name = opts_.stderr_logger_name;
  if (name.empty()) {
    name = opts_.program;
    if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, mask;
  sigemptyset(&mask);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGCHLD, SIGHUP, SIGTERM, SIGINT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv{const_cast<char*>(opts_.stderr_logger.c_str()), name.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, opts_.stderr_logger.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    lib::log::error("-stderrlogger=%s: %s", opts_.stderr_logger.c_str(), lib::errno_text(rc).c_str());
    return;
  }
  logger_pid_ = pid;
  ::dup2(fds[1], 2);  // our log lines and every child's stderr go to the logger
  ::close(fds[1]);
}

}  // namespace tcpd
