// tls/relay.cpp: see relay.hpp.
#include "tls/relay.hpp"

#include <cerrno>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.hpp"

namespace tls {

namespace {

struct Buffer {
  char data[relay_buffer_bytes];
  size_t begin = 0;
  size_t end = 0;
  bool empty() const { return begin == end; }
  size_t size() const { return end - begin; }
  void clear() { begin = end = 0; }
};

std::string ssl_error_text(SSL* ssl, int rc, const char* what) {
  int code = SSL_get_error(ssl, rc);
  unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (code == SSL_ERROR_SYSCALL) {
    return std::string("TLS ") + what + ": " + (errno ? lib::errno_text(errno) : std::string("connection lost"));
  }
  const char* reason = err ? ERR_reason_error_string(err) : nullptr;
  return std::string("TLS ") + what + ": " + (reason ? reason : "protocol error");
}

bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

lib::Result<void> set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return lib::temporary_error("fcntl(O_NONBLOCK): " + lib::errno_text(errno));
  }
  return {};
}

lib::Result<RelayResult> relay(SSL* ssl, int tls_fd, int plain_in, int plain_out, const RelayOptions& options) {
  for (int fd : {tls_fd, plain_in, plain_out}) {
    auto ok = set_nonblocking(fd);
    if (!ok) return ok.error();
  }
  RelayResult result;
  auto to_plain = std::make_unique<Buffer>();  // decrypted, waiting for plain_out
  auto to_tls = std::make_unique<Buffer>();    // from plain_in, waiting for SSL_write
  bool tls_eof = false;          // the TLS peer will send nothing more
  bool plain_eof = false;        // the service will send nothing more
  bool plain_out_shut = false;   // we told the service "no more input"
  bool shutdown_sent = false;
  bool same_plain = plain_in == plain_out;
  bool plain_out_socket = is_socket(plain_out);
  std::chrono::steady_clock::time_point drain_deadline{};

  for (;;) {
    // What each blocked operation waits for; rebuilt on every pass.
    short tls_events = 0, in_events = 0, out_events = 0;
    bool progress = false;  // a pass that moved data goes round again before sleeping

    // 1. TLS -> buffer. SSL_read may also need to write (TLS 1.3 key update).
    while (!tls_eof && to_plain->empty()) {
      ERR_clear_error();
      errno = 0;
      int n = SSL_read(ssl, to_plain->data, sizeof to_plain->data);
      if (n > 0) {
        to_plain->begin = 0;
        to_plain->end = static_cast<size_t>(n);
        result.bytes_from_tls += static_cast<uint64_t>(n);
        progress = true;
        break;
      }
      int code = SSL_get_error(ssl, n);
      if (code == SSL_ERROR_WANT_READ) {
        tls_events |= POLLIN;
      } else if (code == SSL_ERROR_WANT_WRITE) {
        tls_events |= POLLOUT;
      } else if (code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && errno == 0)) {
        tls_eof = true;  // close_notify, or EOF without it (SSL_OP_IGNORE_UNEXPECTED_EOF)
        progress = true;
      } else {
        if (shutdown_sent || plain_eof) {
          tls_eof = true;  // the peer hung up while we were closing anyway
          progress = true;
          break;
        }
        return lib::permanent_error(ssl_error_text(ssl, n, "read"));
      }
      break;
    }

    // 2. buffer -> service.
    while (!to_plain->empty()) {
      ssize_t n = ::write(plain_out, to_plain->data + to_plain->begin, to_plain->size());
      if (n > 0) {
        to_plain->begin += static_cast<size_t>(n);
        if (to_plain->empty()) to_plain->clear();
        progress = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        out_events |= POLLOUT;
        break;
      }
      // The service is gone (EPIPE): nothing it was sent matters any more.
      to_plain->clear();
      tls_eof = true;
      plain_eof = plain_eof || same_plain;
      progress = true;
      break;
    }

    // 3. The TLS peer finished and everything reached the service: pass on the EOF.
    if (tls_eof && to_plain->empty() && !plain_out_shut) {
      plain_out_shut = true;
      if (plain_out_socket) {
        ::shutdown(plain_out, SHUT_WR);
      } else if (!same_plain) {
        ::close(plain_out);  // a pipe or a terminal: EOF is the only way
      }
    }

    // 4. service -> buffer.
    while (!plain_eof && to_tls->empty() && !shutdown_sent) {
      ssize_t n = ::read(plain_in, to_tls->data, sizeof to_tls->data);
      if (n > 0) {
        to_tls->begin = 0;
        to_tls->end = static_cast<size_t>(n);
        progress = true;
        break;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        in_events |= POLLIN;
        break;
      }
      plain_eof = true;  // EOF, or an error that ends the service's side the same way
      progress = true;
      break;
    }

    // 5. buffer -> TLS.
    while (!to_tls->empty()) {
      ERR_clear_error();
      errno = 0;
      int n = SSL_write(ssl, to_tls->data + to_tls->begin, static_cast<int>(to_tls->size()));
      if (n > 0) {
        to_tls->begin += static_cast<size_t>(n);
        result.bytes_to_tls += static_cast<uint64_t>(n);
        if (to_tls->empty()) to_tls->clear();
        progress = true;
        continue;
      }
      int code = SSL_get_error(ssl, n);
      if (code == SSL_ERROR_WANT_WRITE) {
        tls_events |= POLLOUT;
      } else if (code == SSL_ERROR_WANT_READ) {
        tls_events |= POLLIN;
      } else {
        return lib::permanent_error(ssl_error_text(ssl, n, "write"));
      }
      break;
    }

    // 6. The service finished and everything reached the peer: close_notify, done.
    if (plain_eof && to_tls->empty()) {
      if (drain_deadline == std::chrono::steady_clock::time_point{} && !options.read_after_plain_eof) {
        drain_deadline = std::chrono::steady_clock::now() + options.drain_timeout;
      }
      if (!shutdown_sent) {
        ERR_clear_error();
        int rc = SSL_shutdown(ssl);
        if (rc >= 0) {
          shutdown_sent = true;
        } else {
          int code = SSL_get_error(ssl, rc);
          if (code == SSL_ERROR_WANT_WRITE) tls_events |= POLLOUT;
          else if (code == SSL_ERROR_WANT_READ) tls_events |= POLLIN;
          else shutdown_sent = true;  // the peer is gone; nothing more to send
          ERR_clear_error();
        }
      }
      if (shutdown_sent && (!options.read_after_plain_eof || (tls_eof && to_plain->empty()))) {
        ::shutdown(tls_fd, SHUT_WR);
        result.end = tls_eof ? "both sides closed" : "service closed";
        return result;
      }
    }
    if (tls_eof && plain_eof && to_plain->empty() && to_tls->empty()) {
      result.end = "both sides closed";
      return result;
    }

    if (progress) continue;

    // Nothing moved: every side we could use is blocked, and each blocked
    // operation has said what it waits for. Sleep until one of them can go on.
    struct pollfd fds[3];
    int nfds = 0;
    if (tls_events) fds[nfds++] = {tls_fd, tls_events, 0};
    if (same_plain && (in_events || out_events)) {
      fds[nfds++] = {plain_in, static_cast<short>(in_events | out_events), 0};
    } else {
      if (in_events) fds[nfds++] = {plain_in, in_events, 0};
      if (out_events) fds[nfds++] = {plain_out, out_events, 0};
    }
    if (nfds == 0) {
      // Cannot happen: a pass without progress leaves at least one operation
      // waiting. End rather than spin if it ever does.
      result.end = "relay stalled";
      return result;
    }
    int timeout_ms = -1;
    if (drain_deadline != std::chrono::steady_clock::time_point{}) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_deadline -
                                                                        std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        result.end = "gave up sending to a peer that does not read";
        return result;
      }
      timeout_ms = static_cast<int>(left.count());
    }
    int n = ::poll(fds, static_cast<nfds_t>(nfds), timeout_ms);
    if (n < 0 && errno != EINTR) return lib::temporary_error("poll: " + lib::errno_text(errno));
  }
}

}  // namespace tls
