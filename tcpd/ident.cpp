// tcpd/ident.cpp: RFC 1413 ident queries, asynchronous on libevent.
#include "tcpd/ident.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ascii.hpp"

namespace tcpd {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::optional<unsigned> number(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

using lib::ascii::iequals;

}  // namespace

std::string ident_query(uint16_t remote_port, uint16_t local_port) {
  return std::to_string(remote_port) + " , " + std::to_string(local_port) + "\r\n";
}

std::optional<std::string> parse_ident_reply(std::string_view line, uint16_t remote_port, uint16_t local_port) {
  if (line.size() > ident_max_reply_bytes) return std::nullopt;
  // <port-pair> : <reply-type> : <add-info> [ : <user-id> ]
  size_t c1 = line.find(':');
  if (c1 == std::string_view::npos) return std::nullopt;
  std::string_view ports = line.substr(0, c1);
  size_t comma = ports.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  auto p1 = number(ports.substr(0, comma));
  auto p2 = number(ports.substr(comma + 1));
  if (!p1 || !p2 || *p1 != remote_port || *p2 != local_port) return std::nullopt;
  size_t c2 = line.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  if (!iequals(trim(line.substr(c1 + 1, c2 - c1 - 1)), "USERID")) return std::nullopt;
  size_t c3 = line.find(':', c2 + 1);  // after the opsys[,charset] field
  if (c3 == std::string_view::npos) return std::nullopt;
  std::string_view user = trim(line.substr(c3 + 1));
  if (user.empty() || user.size() > ident_max_userid_bytes) return std::nullopt;
  for (char c : user)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  return std::string(user);
}

std::unique_ptr<IdentLookup> IdentLookup::start(event_base* base, const IpAddress& local, uint16_t local_port,
                                                const IpAddress& remote, uint16_t remote_port, uint16_t ident_port,
                                                std::chrono::milliseconds timeout, Callback callback) {
  std::unique_ptr<IdentLookup> q(new IdentLookup());
  int family = remote.v4() ? AF_INET : AF_INET6;
  q->fd_.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!q->fd_) return nullptr;
  // From the address the client connected to, so the reply is about the
  // right connection on multi-homed hosts.
  sockaddr_storage ss;
  socklen_t len = local.to_sockaddr(ss, 0);
  if (local.family == remote.family) (void)::bind(q->fd_.get(), reinterpret_cast<sockaddr*>(&ss), len);
  len = remote.to_sockaddr(ss, ident_port);
  if (::connect(q->fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) return nullptr;
  q->callback_ = std::move(callback);
  q->query_ = ident_query(remote_port, local_port);
  q->remote_port_ = remote_port;
  q->local_port_ = local_port;
  q->deadline_ = std::chrono::steady_clock::now() + timeout;
  q->event_.reset(event_new(base, q->fd_.get(), EV_WRITE, on_event, q.get()));
  if (!q->event_) return nullptr;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  if (event_add(q->event_.get(), &tv) != 0) return nullptr;
  return q;
}

void IdentLookup::finish(std::optional<std::string> result) {
  event_.reset();
  fd_.reset();
  Callback cb = std::move(callback_);
  callback_ = nullptr;
  // The callback may destroy this object: it is the last thing done here.
  if (!cb) return;
  try {
    cb(std::move(result));
  } catch (...) {
    // Callbacks are noexcept in spirit; never let one unwind into libevent.
  }
}

void IdentLookup::on_event(evutil_socket_t fd, short what, void* arg) noexcept {
  auto* self = static_cast<IdentLookup*>(arg);
  try {
    if (what & EV_TIMEOUT) return self->finish(std::nullopt);
    if (!self->connected_) {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return self->finish(std::nullopt);
      self->connected_ = true;
      // The query is a few bytes: one write fits in any socket buffer.
      if (::send(fd, self->query_.data(), self->query_.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(self->query_.size()))
        return self->finish(std::nullopt);
      event_base* base = event_get_base(self->event_.get());
      self->event_.reset(event_new(base, fd, EV_READ | EV_PERSIST, on_event, self));
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(self->deadline_ -
                                                                         std::chrono::steady_clock::now());
      if (left.count() < 1) left = std::chrono::milliseconds(1);
      timeval tv{static_cast<time_t>(left.count() / 1000), static_cast<suseconds_t>((left.count() % 1000) * 1000)};
      if (!self->event_ || event_add(self->event_.get(), &tv) != 0) return self->finish(std::nullopt);
      return;
    }
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      // A reply without its line end is still a reply (some servers close at once).
      if (!self->reply_.empty()) return self->finish(parse_ident_reply(self->reply_, self->remote_port_, self->local_port_));
      return self->finish(std::nullopt);
    }
    self->reply_.append(buf, static_cast<size_t>(n));
    size_t eol = self->reply_.find('\n');
    if (eol != std::string::npos)
      return self->finish(parse_ident_reply(std::string_view(self->reply_).substr(0, eol), self->remote_port_,
                                            self->local_port_));
    if (self->reply_.size() > ident_max_reply_bytes) return self->finish(std::nullopt);
  } catch (...) {
    self->finish(std::nullopt);
  }
}

}  // namespace tcpd
