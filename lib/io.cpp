// lib/io.cpp: see io.hpp.
#include "lib/io.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lib::io {

namespace {

using Clock = std::chrono::steady_clock;

constexpr Clock::time_point never = Clock::time_point::max();

// Milliseconds until t, rounded up, clamped to [0, INT_MAX]; -1 (wait forever) for never.
int ms_until(Clock::time_point t, Clock::time_point now) {
  if (t == never) return -1;
  if (t <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

constexpr size_t min_reader_buffer = 32 * 1024;

}  // namespace

const char* describe(ReadStatus status) {
  switch (status) {
    case ReadStatus::ok: return "ok";
    case ReadStatus::eof: return "connection closed";
    case ReadStatus::timeout: return "timeout";
    case ReadStatus::too_long: return "line too long";
    case ReadStatus::bare_cr: return "bare CR";
    case ReadStatus::bare_lf: return "bare LF";
    case ReadStatus::nul_byte: return "NUL byte";
    case ReadStatus::error: return "read error";
    case ReadStatus::aborted: return "aborted";
  }
  return "unknown";
}

// ---- Reader ------------------------------------------------------------------------

struct Reader::Deadlines {
  Clock::time_point call = never;  // read_timeout_ms from the start of the call
};

Reader::Reader(int fd, ReaderOptions opts) : fd_(fd), opts_(opts) {
  if (opts_.fd_kind == FdKind::socket) {
    is_socket_ = true;
  } else {
    struct stat st;
    if (::fstat(fd_, &st) == 0) is_socket_ = S_ISSOCK(st.st_mode);
    int flags = ::fcntl(fd_, F_GETFL);
    // A socket is read with MSG_DONTWAIT whatever its flags; another blocking descriptor
    // must be polled first, or read() could wait past the deadline.
    poll_first_ = !is_socket_ && flags >= 0 && !(flags & O_NONBLOCK);
  }
  cap_ = std::max(opts_.max_line_bytes + 2, min_reader_buffer);
  // Not zero-filled: only the bytes read are used, and a buffer never
  // written stays out of the process's memory (64 KiB per idle session).
  buf_ = std::make_unique_for_overwrite<char[]>(cap_);
}

Reader::Deadlines Reader::start_call() const {
  Deadlines d;
  if (opts_.read_timeout_ms > 0)
    d.call = Clock::now() + std::chrono::milliseconds(opts_.read_timeout_ms);
  return d;
}

void Reader::set_timeouts(int read_timeout_ms, int idle_timeout_ms) {
  opts_.read_timeout_ms = read_timeout_ms;
  opts_.idle_timeout_ms = idle_timeout_ms;
}

void Reader::set_line_ending(LineEnding ending, bool reject_bare_cr) {
  opts_.line_ending = ending;
  opts_.reject_bare_cr = reject_bare_cr;
}

void Reader::set_max_line_bytes(size_t max_line_bytes) {
  opts_.max_line_bytes = max_line_bytes;
  size_t want = std::max(max_line_bytes + 2, min_reader_buffer);
  if (want <= cap_) return;
  auto bigger = std::make_unique_for_overwrite<char[]>(want);
  std::memcpy(bigger.get(), buf_.get() + pos_, end_ - pos_);
  end_ -= pos_;
  pos_ = 0;
  buf_ = std::move(bigger);
  cap_ = want;
}

void Reader::push_front(std::string_view bytes) {
  if (bytes.empty()) return;
  size_t held = end_ - pos_;
  size_t want = std::max(cap_, bytes.size() + held + 2);
  auto joined = std::make_unique_for_overwrite<char[]>(want);
  std::memcpy(joined.get(), bytes.data(), bytes.size());
  if (held > 0) std::memcpy(joined.get() + bytes.size(), buf_.get() + pos_, held);
  buf_ = std::move(joined);
  cap_ = want;
  pos_ = 0;
  end_ = bytes.size() + held;
}

size_t Reader::discard_buffered() {
  size_t n = end_ - pos_;
  pos_ = end_ = 0;
  discarding_ = false;
  return n;
}

ReadStatus Reader::wait_readable(const Deadlines& d) {
  const Clock::time_point idle_at =
      opts_.idle_timeout_ms > 0
          ? Clock::now() + std::chrono::milliseconds(opts_.idle_timeout_ms)
          : never;
  for (;;) {
    const auto now = Clock::now();
    const Clock::time_point first = std::min(d.call, idle_at);
    const int wait = ms_until(first, now);
    if (wait == 0) {
      last_errno_ = 0;
      last_timeout_idle_ = d.call > now;  // the call deadline had not passed
      return ReadStatus::timeout;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, wait);
    if (r > 0) {
      if (p.revents & POLLNVAL) {
        last_errno_ = EBADF;
        return ReadStatus::error;
      }
      return ReadStatus::ok;  // readable, or HUP/ERR: the read will tell which
    }
    if (r < 0 && errno != EINTR) {
      last_errno_ = errno;
      return ReadStatus::error;
    }
    // Timed out or interrupted: the loop recomputes what is left.
  }
}

void Reader::make_room() {
  if (pos_ == end_) {
    pos_ = end_ = 0;
    return;
  }
  // Compact when the free tail is small, so reads stay large.
  if (pos_ > 0 && cap_ - end_ < cap_ / 4) {
    std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
}

ReadStatus Reader::fill(const Deadlines& d) {
  if (eof_) return ReadStatus::eof;
  make_room();
  // read_line never lets a pending line fill the buffer: it is at least
  // max_line_bytes + 2 and a longer line is cut off before.
  assert(end_ < cap_);
  bool waited = false;
  for (;;) {
    if (poll_first_ && !waited) {
      ReadStatus s = wait_readable(d);
      if (s != ReadStatus::ok) return s;
      waited = true;
    }
    ssize_t n = is_socket_ ? ::recv(fd_, buf_.get() + end_, cap_ - end_, MSG_DONTWAIT)
                           : ::read(fd_, buf_.get() + end_, cap_ - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return ReadStatus::ok;
    }
    if (n == 0) {
      eof_ = true;
      last_errno_ = 0;
      return ReadStatus::eof;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ReadStatus s = wait_readable(d);
      if (s != ReadStatus::ok) return s;
      waited = true;
      continue;
    }
    last_errno_ = errno;
    return ReadStatus::error;
  }
}

ReadStatus Reader::discard_line(const Deadlines& d) {
  for (;;) {
    const char* start = buf_.get() + pos_;
    const void* lf = std::memchr(start, '\n', end_ - pos_);
    if (lf) {
      pos_ += static_cast<size_t>(static_cast<const char*>(lf) - start) + 1;
      discarding_ = false;
      return ReadStatus::ok;
    }
    pos_ = end_ = 0;
    ReadStatus s = fill(d);
    if (s != ReadStatus::ok) return s;
  }
}

ReadStatus Reader::read_line(std::string& line) {
  line.clear();
  const Deadlines d = start_call();
  if (discarding_) {
    ReadStatus s = discard_line(d);
    if (s != ReadStatus::ok) return s;
  }
  const bool strict = opts_.line_ending == LineEnding::crlf_strict;
  const bool reject_cr = strict || opts_.reject_bare_cr;
  const size_t max = opts_.max_line_bytes;
  size_t scanned = 0;  // bytes from pos_ already known to be line content
  auto take = [&](size_t from, size_t to) {
    line.assign(buf_.get() + from, std::min(to - from, max));
  };
  for (;;) {
    const char* b = buf_.get();
    size_t i = pos_ + scanned;
    for (; i < end_; ++i) {
      const char c = b[i];
      if (c == '\n') {
        if (i > pos_ && b[i - 1] == '\r') {
          take(pos_, i - 1);
          pos_ = i + 1;
          return ReadStatus::ok;
        }
        take(pos_, i);
        pos_ = i + 1;
        if (strict) return ReadStatus::bare_lf;
        return ReadStatus::ok;
      }
      if (c == '\r') {
        if (i + 1 == end_) break;  // is it CRLF? wait for the next byte
        if (b[i + 1] == '\n') continue;
        if (reject_cr) {
          take(pos_, i);
          pos_ = i + 1;
          discarding_ = true;
          return ReadStatus::bare_cr;
        }
      } else if (c == '\0' && opts_.reject_nul) {
        take(pos_, i);
        pos_ = i + 1;
        discarding_ = true;
        return ReadStatus::nul_byte;
      }
      if (i - pos_ + 1 > max) {
        take(pos_, i);
        pos_ = i;
        discarding_ = true;
        return ReadStatus::too_long;
      }
    }
    scanned = i - pos_;
    ReadStatus s = fill(d);
    if (s == ReadStatus::eof) {
      if (end_ > pos_) {
        take(pos_, end_);
        pos_ = end_;
      }
      return ReadStatus::eof;
    }
    if (s != ReadStatus::ok) return s;
  }
}

ReadStatus Reader::read_exact_to(size_t n, const std::function<bool(std::string_view)>& sink) {
  const Deadlines d = start_call();
  size_t left = n;
  while (left > 0) {
    if (pos_ < end_) {
      size_t chunk = std::min(left, end_ - pos_);
      std::string_view data(buf_.get() + pos_, chunk);
      pos_ += chunk;
      left -= chunk;
      if (!sink(data)) return ReadStatus::aborted;
      continue;
    }
    pos_ = end_ = 0;
    ReadStatus s = fill(d);
    if (s != ReadStatus::ok) return s;
  }
  return ReadStatus::ok;
}

ReadStatus Reader::read_exact(size_t n, std::string& out) {
  out.clear();
  // Do not trust n for the allocation: grow as the bytes really arrive.
  out.reserve(std::min<size_t>(n, 1024 * 1024));
  return read_exact_to(n, [&out](std::string_view chunk) {
    out.append(chunk);
    return true;
  });
}

ReadStatus Reader::skip_exact(size_t n) {
  return read_exact_to(n, [](std::string_view) { return true; });
}

// ---- Writer ------------------------------------------------------------------------

struct Writer::Deadline {
  Clock::time_point at = never;
};

Writer::Writer(int fd, WriterOptions opts) : fd_(fd), opts_(opts) {
  if (opts_.fd_kind == FdKind::socket) {
    // Written with MSG_DONTWAIT whatever its flags; send_file looks at them
    // itself (nonblocking_ false: it reads them before setting O_NONBLOCK).
    is_socket_ = true;
  } else {
    struct stat st;
    if (::fstat(fd_, &st) == 0) {
      is_socket_ = S_ISSOCK(st.st_mode);
      is_fifo_ = S_ISFIFO(st.st_mode);
      is_regular_ = S_ISREG(st.st_mode);
    }
    int flags = ::fcntl(fd_, F_GETFL);
    nonblocking_ = flags >= 0 && (flags & O_NONBLOCK);
  }
  if (opts_.buffer_bytes == 0) opts_.buffer_bytes = 1;
  buf_.reserve(opts_.buffer_bytes);
}

Writer::Deadline Writer::start_call() const {
  Deadline d;
  if (opts_.write_timeout_ms > 0)
    d.at = Clock::now() + std::chrono::milliseconds(opts_.write_timeout_ms);
  return d;
}

Result<void> Writer::fail(Error e) {
  error_ = e;
  buf_.clear();
  return e;
}

Result<void> Writer::wait_writable(const Deadline& d) {
  for (;;) {
    const int wait = ms_until(d.at, Clock::now());
    if (wait == 0) {
      last_errno_ = ETIMEDOUT;
      return fail(temporary_error("write to fd " + std::to_string(fd_) + " timed out after " +
                                  std::to_string(opts_.write_timeout_ms) +
                                  " ms: the peer is not reading"));
    }
    pollfd p{fd_, POLLOUT, 0};
    int r = ::poll(&p, 1, wait);
    if (r > 0) {
      if (p.revents & POLLNVAL) {
        last_errno_ = EBADF;
        return fail(temporary_error("write to fd " + std::to_string(fd_) + " failed: " +
                                    errno_text(EBADF)));
      }
      return {};  // writable, or HUP/ERR: the write will tell which
    }
    if (r < 0 && errno != EINTR) {
      last_errno_ = errno;
      return fail(temporary_error("poll on fd " + std::to_string(fd_) + " failed: " +
                                  errno_text(errno)));
    }
  }
}

Result<void> Writer::write_iov(iovec* iov, int count, const Deadline& d, bool more) {
  // A blocking pipe accepts PIPE_BUF bytes without blocking once poll() says POLLOUT;
  // more could block past the deadline.
  const bool small_steps = is_fifo_ && !nonblocking_;
  while (count > 0) {
    if (iov->iov_len == 0) {
      ++iov;
      --count;
      continue;
    }
    ssize_t n;
    if (is_socket_) {
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(count);
      n = ::sendmsg(fd_, &m, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    } else if (small_steps) {
      auto r = wait_writable(d);
      if (!r) return r;
      n = ::write(fd_, iov->iov_base, std::min<size_t>(iov->iov_len, PIPE_BUF));
    } else {
      n = ::writev(fd_, iov, count);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        auto r = wait_writable(d);
        if (!r) return r;
        continue;
      }
      last_errno_ = errno;
      return fail(temporary_error("write to fd " + std::to_string(fd_) + " failed: " +
                                  errno_text(errno) +
                                  (errno == EPIPE || errno == ECONNRESET
                                       ? " (the peer closed the connection)"
                                       : "")));
    }
    auto done = static_cast<size_t>(n);
    while (count > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
  return {};
}

Result<void> Writer::write_pieces(std::string_view a, std::string_view b, bool more) {
  iovec iov[2];
  iov[0].iov_base = const_cast<char*>(a.data());
  iov[0].iov_len = a.size();
  iov[1].iov_base = const_cast<char*>(b.data());
  iov[1].iov_len = b.size();
  const Deadline d = start_call();
  return write_iov(iov, b.empty() ? 1 : 2, d, more);
}

void Writer::append(std::string_view data) {
  if (error_) return;
  if (buf_.size() + data.size() <= opts_.buffer_bytes) {
    buf_.append(data);
    return;
  }
  auto r = write_pieces(buf_, data, false);
  buf_.clear();
  (void)r;  // on failure error_ is set and reported by the next flush()
}

Result<void> Writer::flush() {
  if (error_) return *error_;
  if (buf_.empty()) return {};
  auto r = write_pieces(buf_, {}, false);
  buf_.clear();
  return r;
}

Result<void> Writer::set_buffer_bytes(size_t buffer_bytes) {
  if (buffer_bytes == 0) buffer_bytes = 1;
  if (buffer_bytes >= opts_.buffer_bytes) {
    opts_.buffer_bytes = buffer_bytes;
    buf_.reserve(buffer_bytes);
    return error_ ? Result<void>(*error_) : Result<void>();
  }
  auto r = flush();
  opts_.buffer_bytes = buffer_bytes;
  std::string().swap(buf_);
  buf_.reserve(buffer_bytes);
  return r;
}

Result<void> Writer::write_now(std::string_view data) {
  if (error_) return *error_;
  auto r = write_pieces(buf_, data, false);
  buf_.clear();
  return r;
}

Result<void> Writer::sendfile_loop(int file_fd, off_t& offset, size_t& left, const Deadline& d,
                                   bool& fall_back) {
  // sendfile(2) has no MSG_DONTWAIT: on a blocking socket it would wait for the whole
  // count, past the deadline. Make the socket non-blocking for the duration.
  int old_flags = -1;
  if (is_socket_ && !nonblocking_) {
    old_flags = ::fcntl(fd_, F_GETFL);
    if (old_flags >= 0) ::fcntl(fd_, F_SETFL, old_flags | O_NONBLOCK);
  }
  struct Restore {
    int fd, flags;
    ~Restore() {
      if (flags >= 0) ::fcntl(fd, F_SETFL, flags);
    }
  } restore{fd_, old_flags};

  const size_t total = left;
  while (left > 0) {
    size_t step = std::min<size_t>(left, 1 << 30);
    ssize_t n = ::sendfile(fd_, file_fd, &offset, step);
    if (n > 0) {
      left -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0)
      return fail(temporary_error("file ended after " + std::to_string(total - left) + " of " +
                                  std::to_string(total) +
                                  " bytes while sending it (was it truncated meanwhile?)"));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      auto r = wait_writable(d);
      if (!r) return r;
      continue;
    }
    if ((errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) && left == total) {
      fall_back = true;  // this kind of file cannot be sent with sendfile
      return {};
    }
    last_errno_ = errno;
    return fail(temporary_error("sendfile to fd " + std::to_string(fd_) + " failed: " +
                                errno_text(errno)));
  }
  return {};
}

Result<void> Writer::copy_loop(int file_fd, off_t offset, size_t left, const Deadline& d) {
  const size_t total = left;
  std::string chunk(64 * 1024, '\0');
  while (left > 0) {
    ssize_t n = ::pread(file_fd, chunk.data(), std::min(left, chunk.size()), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      last_errno_ = errno;
      return fail(temporary_error("cannot read the file being sent: " + errno_text(errno)));
    }
    if (n == 0)
      return fail(temporary_error("file ended after " + std::to_string(total - left) + " of " +
                                  std::to_string(total) +
                                  " bytes while sending it (was it truncated meanwhile?)"));
    iovec iov{chunk.data(), static_cast<size_t>(n)};
    auto r = write_iov(&iov, 1, d, left > static_cast<size_t>(n));
    if (!r) return r;
    offset += n;
    left -= static_cast<size_t>(n);
  }
  return {};
}

Result<void> Writer::send_file(int file_fd, off_t offset, size_t count) {
  if (error_) return *error_;
  const Deadline d = start_call();
  if (!buf_.empty()) {
    iovec iov{buf_.data(), buf_.size()};
    auto r = write_iov(&iov, 1, d, count > 0);
    buf_.clear();
    if (!r) return r;
  }
  if (count == 0) return {};
  bool fall_back = !(is_socket_ || is_regular_ || (is_fifo_ && nonblocking_));
  if (!fall_back) {
    size_t left = count;
    auto r = sendfile_loop(file_fd, offset, left, d, fall_back);
    if (!r || !fall_back) return r;
  }
  return copy_loop(file_fd, offset, count, d);
}

void Writer::append_dot_stuffed(std::string_view msg, bool last_chunk) {
  size_t start = 0;  // start of the bytes not yet appended
  auto pass = [&](size_t end) {
    if (end > start) append(msg.substr(start, end - start));
  };
  for (size_t i = 0; i < msg.size(); ++i) {
    const char c = msg[i];
    if (dot_pending_cr_) {
      // The previous chunk ended with CR: CRLF split across chunks, or a bare CR.
      dot_pending_cr_ = false;
      append("\r\n");
      dot_line_start_ = true;
      if (c == '\n') {
        start = i + 1;
        continue;
      }
      start = i;
    }
    if (c == '\r') {
      pass(i);
      start = i + 1;
      if (i + 1 == msg.size()) {
        dot_pending_cr_ = true;  // decide with the next chunk
        continue;
      }
      if (msg[i + 1] == '\n') {
        ++i;
        start = i + 1;
      }
      // RFC 5321 2.3.8: CR and LF only as CRLF; a bare CR becomes CRLF.
      append("\r\n");
      dot_line_start_ = true;
      continue;
    }
    if (c == '\n') {
      pass(i);
      append("\r\n");
      start = i + 1;
      dot_line_start_ = true;
      continue;
    }
    if (c == '.' && dot_line_start_) {
      // RFC 5321 4.5.2: a line starting with a dot gets one more.
      pass(i);
      append(".");
      start = i;
    }
    dot_line_start_ = false;
  }
  pass(msg.size());
  if (last_chunk) {
    if (dot_pending_cr_) {
      append("\r\n");
    } else if (!dot_line_start_) {
      append("\r\n");
    }
    append(".\r\n");
    reset_dot_stuffing();
  }
}

void Writer::reset_dot_stuffing() {
  dot_line_start_ = true;
  dot_pending_cr_ = false;
}

}  // namespace lib::io
