// tcpd/server.cpp: couriertcpd's event loop (see server.hpp).
//
// A connection's life:
//   accepted -> [-haproxy: ProxyWait: a lookup helper reads the PROXY header
//   and does the lookups below for its addresses] -> access file (deny:
//   -denymsg, close) -> limits (-maxperip / MAXCPERIP, -maxperc; over: close)
//   -> Pending: a lookup helper (tcpd/lookup_helper.hpp) does ident,
//   reverse+forward DNS of both ends and blocklists, bounded by one deadline,
//   and writes its result to a pipe -> blocklist variables in option order
//   -> -drop -> posix_spawn(program).
// With no lookups to do (-nodnslookup -noidentlookup, no -block/-allow, no
// -haproxy) no helper is started. A ProxyWait or Pending connection holds a
// -maxprocs slot like a running child, so slow lookups cannot let more than
// -maxprocs connections in.
#include "tcpd/server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/prctl.h>
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

// A lookup helper at work for a connection: the read end of its pipe.
struct Server::HelperRun {
  Server* server = nullptr;
  uint64_t id = 0;
  bool proxy_stage = false;  // owned by a ProxyWait (else by a Pending)
  pid_t pid = -1;
  lib::UniqueFd pipe;
  lib::Event ev;
  std::string buf;
  std::string peer;  // for log lines
  ~HelperRun() {
    // Not reaped yet, so the pid cannot be someone else's.
    if (pid > 0 && server->helper_pids_.count(pid)) ::kill(pid, SIGKILL);
  }
};

// A connection whose lookups are under way.
struct Server::Pending {
  uint64_t id = 0;
  lib::UniqueFd fd;
  IpAddress remote, local;
  uint16_t remote_port = 0, local_port = 0;
  EnvVars access_vars;  // from the access file: local entry, then remote entry
  bool proxied = false;  // addresses from a PROXY header: no ident (it would ask about the proxy's connection)
  std::unique_ptr<HelperRun> helper;
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
  listeners_.clear();
  signals_.clear();
  resume_timer_.reset();
  shutdown_timer_.reset();
}

lib::Result<void> Server::setup(std::vector<BoundListener> listeners) {
  base_.reset(event_base_new());
  if (!base_) return lib::temporary_error("event_base_new failed");

  if (opts_.dns_lookup || !opts_.blocklists.empty()) {
    // The helpers read the nameserver settings again for each connection;
    // this checks them once, so that a mistake stops the start.
    auto r = Resolver::create(base_.get(), resolver_config(opts_));
    if (!r) return r.error();
  }
  // As root, the lookup helpers become the mail user: nothing that parses
  // a PROXY header, a DNS reply or an ident reply runs as root.
  if (::geteuid() == 0 && needs_lookup_helper(opts_, false, {})) {
    auto mail = lib::mail_user();
    if (!mail)
      return lib::permanent_error(mail.error().message +
                                  " (couriertcpd runs as root without -user, so its lookup helpers, which parse "
                                  "PROXY headers, DNS and ident replies, run as the mail user)");
    helper_user_ = std::move(*mail);
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
  std::unique_ptr<HelperRun> helper;  // reads the header, then does the lookups
};

void Server::handle_connection(lib::UniqueFd fd, const IpAddress& remote, uint16_t remote_port) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  uint16_t local_port = 0;
  std::optional<IpAddress> local;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    local = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len, &local_port);
  if (!local) return;
  if (!opts_.haproxy_timeout)
    return admit(std::move(fd), remote, remote_port, *local, local_port, false, std::nullopt);

  auto w = std::make_unique<ProxyWait>();
  w->id = next_id_++;
  w->fd = std::move(fd);
  w->remote = remote;
  w->local = *local;
  w->remote_port = remote_port;
  w->local_port = local_port;
  LookupTask task;
  task.read_proxy = true;
  task.remote = remote;
  task.local = *local;
  task.remote_port = remote_port;
  task.local_port = local_port;
  task.cached_local_host = [this](const IpAddress& a) { return cached_local_host(a); };
  w->helper = start_helper(w->id, true, task, w->fd.get(), remote);
  if (!w->helper) return;
  proxy_waits_[w->id] = std::move(w);
  update_listening();
}

// ---- lookup helpers ----------------------------------------------------------

std::unique_ptr<Server::HelperRun> Server::start_helper(uint64_t id, bool proxy_stage, const LookupTask& task,
                                                        int fd, const IpAddress& remote) {
  auto started = start_lookup_helper(opts_, task, fd, helper_user_);
  if (!started) {
    if (rate_ok(last_helper_log_, std::chrono::seconds(1)))
      lib::log::error("connection from %s closed: %s", remote.to_string().c_str(), started.error().message.c_str());
    return nullptr;
  }
  auto h = std::make_unique<HelperRun>();
  h->server = this;
  h->id = id;
  h->proxy_stage = proxy_stage;
  h->pid = started->pid;
  h->pipe = std::move(started->result);
  h->peer = remote.to_string();
  helper_pids_[h->pid] = id;
  // The helper keeps to its own deadlines; this one is for a helper that hangs.
  auto limit = std::max(opts_.dns_timeout, opts_.ident_timeout) + std::chrono::seconds(5);
  if (proxy_stage) limit += *opts_.haproxy_timeout;
  h->ev.reset(event_new(base_.get(), h->pipe.get(), EV_READ | EV_PERSIST, on_helper, h.get()));
  timeval tv = to_timeval(limit);
  if (!h->ev || event_add(h->ev.get(), &tv) != 0) return nullptr;
  return h;
}

void Server::on_helper(evutil_socket_t, short what, void* arg) noexcept {
  auto* h = static_cast<HelperRun*>(arg);
  try {
    h->server->helper_event(h->id, h->proxy_stage, what);
  } catch (const std::exception& e) {
    lib::log::error("reading a lookup helper's result: %s", e.what());
  }
}

void Server::helper_event(uint64_t id, bool proxy_stage, short what) {
  HelperRun* h = nullptr;
  if (proxy_stage) {
    auto it = proxy_waits_.find(id);
    if (it != proxy_waits_.end()) h = it->second->helper.get();
  } else {
    auto it = pending_.find(id);
    if (it != pending_.end()) h = it->second->helper.get();
  }
  if (!h) return;
  auto drop = [&](const std::string& why) {
    if (rate_ok(last_helper_log_, std::chrono::seconds(1)))
      lib::log::error("the lookup helper (pid %d) for a connection from %s %s; connection closed",
                      static_cast<int>(h->pid), h->peer.c_str(), why.c_str());
    if (proxy_stage) {
      proxy_waits_.erase(id);
    } else {
      auto it = pending_.find(id);
      release_ip(it->second->remote);
      pending_.erase(it);
    }
    update_listening();
  };
  if (what & EV_TIMEOUT) return drop("did not finish in time");
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(h->pipe.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) return drop("could not be read: " + lib::errno_text(errno));
    if (n == 0) break;
    h->buf.append(buf, static_cast<size_t>(n));
    if (h->buf.size() > lookup_result_max_bytes) return drop("sent more than " +
                                                             std::to_string(lookup_result_max_bytes) + " bytes");
  }
  std::string why;
  auto r = parse_lookup_result(h->buf, opts_.blocklists.size(), &why);
  if (!r) return drop("sent a malformed result (" + why + ")");
  if (proxy_stage != (r->proxy != LookupResult::Proxy::none))
    return drop(proxy_stage ? "sent no PROXY verdict" : "sent a PROXY verdict nobody asked for");
  if (proxy_stage) return proxy_result(id, std::move(*r));
  pending_[id]->helper.reset();
  finish(id, std::move(*r));
}

void Server::proxy_result(uint64_t id, LookupResult r) {
  auto it = proxy_waits_.find(id);
  ProxyWait& w = *it->second;
  if (r.proxy == LookupResult::Proxy::dropped) {
    if (rate_ok(last_proxy_log_, std::chrono::seconds(1)))
      lib::log::warning("-haproxy: %s from %s; connection closed", std::string(drop_reason_text(r.drop)).c_str(),
                        w.remote.to_string().c_str());
    proxy_waits_.erase(it);
    update_listening();
    return;
  }
  lib::UniqueFd fd = std::move(w.fd);
  IpAddress remote = w.remote, local = w.local;
  uint16_t rport = w.remote_port, lport = w.local_port;
  proxy_waits_.erase(it);
  if (r.proxy == LookupResult::Proxy::unknown) return admit(std::move(fd), remote, rport, local, lport, false, std::move(r));
  IpAddress src = r.source, dst = r.destination;
  uint16_t sport = r.source_port, dport = r.destination_port;
  admit(std::move(fd), src, sport, dst, dport, true, std::move(r));
}

std::optional<std::optional<std::string>> Server::cached_local_host(const IpAddress& addr) const {
  auto it = local_host_cache_.find(addr);
  if (it == local_host_cache_.end() || it->second.expires <= std::chrono::steady_clock::now()) return std::nullopt;
  return it->second.name;
}

void Server::admit(lib::UniqueFd fd, const IpAddress& remote, uint16_t remote_port, const IpAddress& local_addr,
                   uint16_t local_port, bool proxied, std::optional<LookupResult> result) {
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
  p->fd = std::move(fd);
  p->remote = remote;
  p->local = local_addr;
  p->remote_port = remote_port;
  p->local_port = local_port;
  p->access_vars = std::move(vars);
  p->proxied = proxied;
  Pending& ref = *p;
  const uint64_t id = p->id;
  pending_[id] = std::move(p);
  ++ip_count_[remote];
  if (result) {
    finish(id, std::move(*result));  // a -haproxy helper did the lookups already
    return;
  }
  // A blocklist whose variable is already set (access file, environment) is
  // not asked; the ones set by earlier options are checked when the answers
  // are applied.
  std::vector<bool> skip;
  for (const auto& spec : opts_.blocklists)
    skip.push_back(ref.access_vars.count(spec.variable) || base_env_.count(spec.variable));
  if (!needs_lookup_helper(opts_, proxied, skip)) {
    finish(id, LookupResult{});
    return;
  }
  LookupTask task;
  task.remote = remote;
  task.local = local_addr;
  task.remote_port = remote_port;
  task.local_port = local_port;
  task.skip_blocklist = std::move(skip);
  task.cached_local_host = [this](const IpAddress& a) { return cached_local_host(a); };
  ref.helper = start_helper(id, false, task, ref.fd.get(), remote);
  if (!ref.helper) {
    release_ip(remote);
    pending_.erase(id);
  }
  update_listening();
}

void Server::finish(uint64_t id, LookupResult r) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  if (r.local_host_cacheable) {
    if (local_host_cache_.size() >= local_host_cache_max) local_host_cache_.clear();
    local_host_cache_[p->local] = {r.local_host, std::chrono::steady_clock::now() + local_host_cache_ttl};
  }

  // Courier's order: inherited environment, access file, TCP* variables, then blocklists.
  EnvVars vars = base_env_;
  for (auto& [k, v] : p->access_vars) vars[k] = v;
  const std::string remote_ip = p->remote.to_string();
  if (r.ident) vars["TCPREMOTEINFO"] = *r.ident;
  vars["TCPREMOTEIP"] = remote_ip;
  vars["TCPREMOTEPORT"] = std::to_string(p->remote_port);
  if (r.remote_host) vars["TCPREMOTEHOST"] = *r.remote_host;
  vars["TCPLOCALIP"] = p->local.to_string();
  vars["TCPLOCALPORT"] = std::to_string(p->local_port);
  if (r.local_host) vars["TCPLOCALHOST"] = *r.local_host;
  int allow_count = 0;
  for (size_t i = 0; i < opts_.blocklists.size() && i < r.answers.size(); ++i)
    if (r.answers[i]) apply_blocklist_answer(opts_.blocklists[i], *r.answers[i], remote_ip, vars, allow_count);

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
    if (helper_pids_.erase(pid)) continue;  // its result, if any, came through the pipe
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
  // Each lookup helper reads resolv.conf afresh; this only reports a broken one now.
  if (opts_.dns_lookup || !opts_.blocklists.empty())
    if (auto r = Resolver::create(base_.get(), resolver_config(opts_)); !r)
      lib::log::error("%s", r.error().message.c_str());
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
