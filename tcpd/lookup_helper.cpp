// tcpd/lookup_helper.cpp: the lookup helper (see lookup_helper.hpp).
//
// In the helper: default signals -> only the socket and the pipe stay open
// -> event base and resolver (reads resolv.conf) -> drop to the mail user ->
// PROXY header (-haproxy) -> ident, reverse+forward DNS of both ends and
// blocklists at once, bounded by one deadline -> result on the pipe -> exit.
#include "tcpd/lookup_helper.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/event.hpp"
#include "lib/log.hpp"
#include "tcpd/blocklist.hpp"
#include "tcpd/ident.hpp"
#include "tcpd/lookup_result.hpp"
#include "tcpd/proxy_header.hpp"

namespace tcpd {

namespace {

using Clock = std::chrono::steady_clock;

void close_all_but(int a, int b) {
  int lo = std::min(a, b), hi = std::max(a, b);
  auto close_range = [](unsigned first, unsigned last) {
    if (first <= last) (void)::syscall(SYS_close_range, first, last, 0);
  };
  close_range(3, static_cast<unsigned>(lo) - 1);
  close_range(static_cast<unsigned>(lo) + 1, static_cast<unsigned>(hi) - 1);
  close_range(static_cast<unsigned>(hi) + 1, ~0U);
}

// Reads the PROXY v1 header without taking a byte of what follows it: peek,
// and consume only up to the CRLF (bytes before it are all header).
LookupResult read_proxy_header(int fd, std::chrono::milliseconds timeout) {
  LookupResult r;
  r.proxy = LookupResult::Proxy::dropped;
  const auto deadline = Clock::now() + timeout;
  std::string header;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.drop = DropReason::timeout;
      return r;
    }
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) continue;
    char buf[proxy_v1_max_bytes];
    size_t want = proxy_v1_max_bytes - header.size();
    ssize_t n = ::recv(fd, buf, want, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      r.drop = n == 0 ? DropReason::closed : DropReason::read_error;
      return r;
    }
    std::string joined = header + std::string(buf, static_cast<size_t>(n));
    size_t take = static_cast<size_t>(n);
    bool complete = false;
    if (size_t crlf = joined.find("\r\n"); crlf != std::string::npos) {
      take = crlf + 2 - header.size();
      complete = true;
    }
    if (::recv(fd, buf, take, 0) != static_cast<ssize_t>(take)) {
      r.drop = DropReason::read_error;
      return r;
    }
    header.append(buf, take);
    if (!complete) {
      const std::string_view prefix = "PROXY ";
      size_t k = std::min(header.size(), prefix.size());
      if (std::string_view(header).substr(0, k) != prefix.substr(0, k)) {
        r.drop = DropReason::no_header;
        return r;
      }
      if (header.size() >= proxy_v1_max_bytes) {
        r.drop = DropReason::too_long;
        return r;
      }
      continue;
    }
    auto h = parse_proxy_v1(header);
    if (!h) {
      r.drop = DropReason::malformed;
      return r;
    }
    if (h->unknown) {
      r.proxy = LookupResult::Proxy::unknown;
    } else {
      r.proxy = LookupResult::Proxy::addresses;
      r.source = h->source;
      r.destination = h->destination;
      r.source_port = h->source_port;
      r.destination_port = h->destination_port;
    }
    return r;
  }
}

// The lookups of one connection on one event loop; breaks the loop when
// every answer is in.
struct Lookups {
  const Options& opts;
  event_base* base;
  Resolver* resolver;
  LookupResult& out;
  int outstanding = 0;
  bool remote_host_pending = false, local_host_pending = false;
  std::unique_ptr<IdentLookup> ident;

  void done_one() {
    if (--outstanding <= 0) event_base_loopbreak(base);
  }

  // TCPREMOTEHOST / TCPLOCALHOST: PTR, then A or AAAA of that name, which
  // must lead back to the address. Not found -> unset; a temporary failure
  // -> "softdnserr"; forward does not match -> unset (as Courier's code does).
  void host(const IpAddress& addr, bool remote) {
    (remote ? remote_host_pending : local_host_pending) = true;
    ++outstanding;
    auto done = [this, remote](std::optional<std::string> name, bool cacheable) {
      (remote ? out.remote_host : out.local_host) = std::move(name);
      (remote ? remote_host_pending : local_host_pending) = false;
      if (!remote) out.local_host_cacheable = cacheable;
      done_one();
    };
    resolver->reverse(addr, [this, addr, done](Resolver::Status st, std::string name) {
      if (st == Resolver::Status::not_found) return done(std::nullopt, true);
      if (st != Resolver::Status::ok) return done(std::string("softdnserr"), false);
      // Host names only (a PTR record could hold anything).
      if (!valid_host_name(name)) return done(std::nullopt, true);
      resolver->forward(name, !addr.v4(), [addr, name, done](Resolver::Status fst, std::vector<IpAddress> addrs) {
        if (fst == Resolver::Status::failed) return done(std::string("softdnserr"), false);
        bool match = std::find(addrs.begin(), addrs.end(), addr) != addrs.end();
        done(match ? std::optional<std::string>(name) : std::nullopt, true);
      });
    });
  }

  void start(const LookupTask& task, const IpAddress& remote, uint16_t rport, const IpAddress& local, uint16_t lport,
             bool proxied) {
    if (opts.ident_lookup && !proxied) {
      ++outstanding;
      ident = IdentLookup::start(base, local, lport, remote, rport, opts.ident_port, opts.ident_timeout,
                                 [this](std::optional<std::string> user) {
                                   out.ident = std::move(user);
                                   done_one();
                                 });
      if (!ident) --outstanding;
    }
    if (opts.dns_lookup && resolver) {
      host(remote, true);
      auto cached = task.cached_local_host ? task.cached_local_host(local) : std::nullopt;
      if (cached) out.local_host = *cached;
      else host(local, false);
    }
    out.answers.resize(opts.blocklists.size());
    for (size_t i = 0; i < opts.blocklists.size() && resolver; ++i) {
      if (i < task.skip_blocklist.size() && task.skip_blocklist[i]) continue;
      const auto& spec = opts.blocklists[i];
      std::string name = blocklist_query_name(remote, spec.zone);
      if (name.size() > 253) continue;  // Courier silently ignores overlong names
      ++outstanding;
      resolver->query(name, blocklist_query_type(spec), [this, i](DnsAnswer answer) {
        out.answers[i] = std::move(answer);
        done_one();
      });
    }
  }
};

void on_lookup_deadline(evutil_socket_t, short, void* arg) noexcept {
  event_base_loopbreak(static_cast<event_base*>(arg));
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

[[noreturn]] void helper_main(const Options& opts, const LookupTask& task, int sock, int result_fd,
                              const std::optional<lib::Identity>& drop_to) {
  // The daemon's signal handlers write to its loop's socketpair: not ours.
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) ::sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  close_all_but(sock, result_fd);

  lib::EventBase base(event_base_new());
  if (!base) ::_exit(70);
  std::unique_ptr<Resolver> resolver;
  if (opts.dns_lookup || !opts.blocklists.empty()) {
    auto r = Resolver::create(base.get(), resolver_config(opts));
    if (!r) {
      lib::log::error("lookup helper: %s", r.error().message.c_str());
      ::_exit(78);
    }
    resolver = std::move(*r);
  }
  if (drop_to) {
    lib::Identity who = *drop_to;
    who.initgroups_name.clear();
    if (auto d = lib::drop_privileges(who); !d) {
      lib::log::error("lookup helper: %s", d.error().message.c_str());
      ::_exit(78);
    }
  }
  if (::chdir("/") != 0) ::_exit(70);

  LookupResult result;
  IpAddress remote = task.remote, local = task.local;
  uint16_t rport = task.remote_port, lport = task.local_port;
  bool proxied = false;
  if (task.read_proxy) {
    result = read_proxy_header(sock, *opts.haproxy_timeout);
    if (result.proxy == LookupResult::Proxy::dropped) {
      write_all(result_fd, encode_lookup_result(result));
      ::_exit(0);
    }
    if (result.proxy == LookupResult::Proxy::addresses) {
      remote = result.source;
      local = result.destination;
      rport = result.source_port;
      lport = result.destination_port;
      proxied = true;
    }
  }
  ::close(sock);  // nothing more to read from the client here

  Lookups lookups{opts, base.get(), resolver.get(), result, 0, false, false, nullptr};
  lookups.start(task, remote, rport, local, lport, proxied);
  if (lookups.outstanding > 0) {
    lib::Event deadline(evtimer_new(base.get(), on_lookup_deadline, base.get()));
    auto ms = std::max(opts.dns_timeout, opts.ident_timeout);
    timeval tv{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
    if (deadline) evtimer_add(deadline.get(), &tv);
    event_base_dispatch(base.get());
    // What has not arrived by now is a temporary failure: the client waits no longer.
    if (lookups.remote_host_pending) result.remote_host = "softdnserr";
    if (lookups.local_host_pending) {
      result.local_host = "softdnserr";
      result.local_host_cacheable = false;
    }
  }
  write_all(result_fd, encode_lookup_result(result));
  ::_exit(0);
}

}  // namespace

ResolverConfig resolver_config(const Options& opts) {
  ResolverConfig rc;
  rc.nameservers = opts.nameservers;
  if (!opts.resolv_conf.empty()) rc.resolv_conf = opts.resolv_conf;
  rc.attempts = 2;
  rc.attempt_timeout = std::max(std::chrono::milliseconds(200), opts.dns_timeout / 2);
  return rc;
}

bool needs_lookup_helper(const Options& opts, bool proxied, const std::vector<bool>& skip_blocklist) {
  if (opts.haproxy_timeout && !proxied) return true;
  if (opts.dns_lookup || (opts.ident_lookup && !proxied)) return true;
  for (size_t i = 0; i < opts.blocklists.size(); ++i)
    if (i >= skip_blocklist.size() || !skip_blocklist[i]) return true;
  return false;
}

lib::Result<StartedHelper> start_lookup_helper(const Options& opts, const LookupTask& task, int socket_fd,
                                               const std::optional<lib::Identity>& drop_to) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return lib::temporary_error("pipe for a lookup helper: " + lib::errno_text(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return lib::temporary_error("fork of a lookup helper: " + lib::errno_text(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    // The socket stays non-blocking (the flag is shared with the daemon's
    // descriptor): read_proxy_header polls before each recv.
    helper_main(opts, task, socket_fd, fds[1], drop_to);
  }
  ::close(fds[1]);
  StartedHelper h;
  h.pid = pid;
  h.result.reset(fds[0]);
  int flags = ::fcntl(fds[0], F_GETFL);
  if (flags >= 0) (void)::fcntl(fds[0], F_SETFL, flags | O_NONBLOCK);
  return h;
}

}  // namespace tcpd
