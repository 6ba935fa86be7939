// lib/io.hpp: buffered line and block I/O on a file descriptor, with deadlines, for
// the per-connection protocol processes (esmtpd, imapd, pop3d and their login
// programs), which do blocking-style I/O on fd 0/1.
//
// - Reader: lines ended by CRLF (RFC 5321 2.3.8, RFC 9051 2.2, RFC 1939 3) or, when
//   lenient, by LF; hard line limit; bare CR, bare LF and NUL detected, so SMTP
//   smuggling tricks (bare LF before a dot) are refused instead of guessed at; exact
//   reads for IMAP literals, streamed without holding them whole.
// - Writer: responses built in a buffer and sent with one write or writev; sendfile for
//   message bodies; SMTP/POP3 dot-stuffing (RFC 5321 4.5.2, RFC 1939 3).
// Descriptors may be blocking or non-blocking; every wait is a poll() bounded by the
// deadlines, EINTR is retried and EAGAIN waited out. Sockets are written with
// MSG_NOSIGNAL, so a vanished peer is an EPIPE error, not a SIGPIPE (pipes still raise
// SIGPIPE: a process writing to a pipe should ignore it).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <sys/uio.h>

#include "lib/result.hpp"

namespace lib::io {

enum class LineEnding {
  crlf_strict,  // only CRLF ends a line; a bare CR or bare LF is an error
  lf_lenient,   // LF or CRLF end a line; a bare CR is kept or rejected (reject_bare_cr)
};

// What the caller knows about a descriptor. unknown: the Reader or Writer looks
// (fstat and fcntl, two system calls) in its constructor. socket: the caller
// made it (accept, socketpair): a socket, blocking or not, and nothing is
// looked at. authdaemond makes a Reader and a Writer for every request.
enum class FdKind { unknown, socket };

enum class ReadStatus {
  ok,
  eof,       // the peer closed the connection (for read_line: before a complete line)
  timeout,   // read_timeout_ms or idle_timeout_ms passed
  too_long,  // a line longer than max_line_bytes
  bare_cr,   // a CR not followed by LF (crlf_strict, or reject_bare_cr)
  bare_lf,   // a LF not preceded by CR (crlf_strict)
  nul_byte,  // a NUL in a line (reject_nul)
  error,     // read(2) failed; see last_errno()
  aborted,   // read_exact_to: the callback asked to stop
};

// "ok", "eof", "timeout", "line too long", ... for log lines.
const char* describe(ReadStatus status);

struct ReaderOptions {
  // Longest line accepted, not counting its CRLF or LF. SMTP commands: 510 (RFC 5321
  // 4.5.3.1.4), SMTP text lines: 998; IMAP: 8192 or more.
  size_t max_line_bytes = 8192;
  // A deadline for one read_line / read_exact call, so a client that trickles one
  // byte at a time cannot hold the process forever. <= 0: none.
  int read_timeout_ms = 300000;
  // The longest wait for any byte at all. <= 0: none.
  int idle_timeout_ms = 300000;
  LineEnding line_ending = LineEnding::crlf_strict;
  bool reject_bare_cr = true;  // lf_lenient only: crlf_strict always rejects it
  bool reject_nul = true;
  FdKind fd_kind = FdKind::unknown;
};

// Buffered reader. Does not own fd. Whether fd is a socket and whether it is
// non-blocking are looked at once, in the constructor (unless opts.fd_kind says).
class Reader {
 public:
  explicit Reader(int fd, ReaderOptions opts = {});
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Reads one line into `line`, without its terminator.
  // ok: a complete line. eof: the peer closed; `line` holds an unterminated fragment,
  // if any (not a line: do not act on it). timeout, error: nothing is consumed; the
  // bytes read so far stay buffered. too_long, bare_cr, nul_byte: the offending line is
  // thrown away - the rest of it up to its LF is discarded by the next read_line (within
  // that call's deadlines) - so the session can reply with an error and continue;
  // `line` holds the start of it (at most max_line_bytes), for logging only.
  // bare_lf: the line up to the LF is consumed and returned in `line`, for logging.
  ReadStatus read_line(std::string& line);

  // Reads exactly n bytes (an IMAP literal, a BDAT chunk) into out, with no checks on
  // their content. ok, or eof / timeout / error with out holding the bytes that came
  // (they are consumed). The caller bounds n: out grows to n bytes.
  ReadStatus read_exact(size_t n, std::string& out);
  // As read_exact, but hands the bytes to `sink` in chunks of at most the buffer size,
  // so n bytes are never held at once. If sink returns false, reading stops with
  // `aborted` and the rest of the n bytes is not consumed.
  ReadStatus read_exact_to(size_t n, const std::function<bool(std::string_view)>& sink);
  // Reads and drops n bytes (a literal refused after LITERAL+ has sent it anyway).
  ReadStatus skip_exact(size_t n);

  // Bytes received but not yet returned. Non-zero after a command means the client
  // pipelined (or injected plaintext before STARTTLS, which must be refused).
  size_t buffered() const { return end_ - pos_; }
  // Drops the buffered bytes (after STARTTLS: nothing sent before the TLS handshake may
  // be read as coming from inside it). Returns how many were dropped.
  size_t discard_buffered();
  // Puts `bytes` in front of what is buffered, to be read first: input another
  // process already read from this connection (the commands a client pipelined
  // behind its IMAP LOGIN, handed from imaplogin to imapd). Grows the buffer as needed.
  void push_front(std::string_view bytes);
  // errno of the last `error` status; 0 for EOF and timeouts.
  int last_errno() const { return last_errno_; }
  // Whether the last timeout was the idle timeout (else the per-call deadline).
  bool last_timeout_was_idle() const { return last_timeout_idle_; }
  int fd() const { return fd_; }
  const ReaderOptions& options() const { return opts_; }

  void set_timeouts(int read_timeout_ms, int idle_timeout_ms);
  void set_line_ending(LineEnding ending, bool reject_bare_cr);
  // Grows the buffer if needed; shrinking keeps what is buffered.
  void set_max_line_bytes(size_t max_line_bytes);

 private:
  struct Deadlines;
  ReadStatus fill(const Deadlines& d);
  ReadStatus wait_readable(const Deadlines& d);
  ReadStatus discard_line(const Deadlines& d);
  Deadlines start_call() const;
  void make_room();

  int fd_;
  ReaderOptions opts_;
  bool is_socket_ = false;
  bool poll_first_ = false;  // a blocking non-socket: poll before each read
  bool eof_ = false;
  bool discarding_ = false;  // skip to the next LF before the next line
  bool last_timeout_idle_ = false;
  int last_errno_ = 0;
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  size_t pos_ = 0;  // first unread byte
  size_t end_ = 0;  // end of received bytes
};

struct WriterOptions {
  // Bytes collected before a write is forced. One protocol response should fit.
  size_t buffer_bytes = 16384;
  // A deadline for one flush / write_now / send_file call, so a client that stops
  // reading cannot hold the process forever. <= 0: none.
  int write_timeout_ms = 300000;
  FdKind fd_kind = FdKind::unknown;
};

// Buffered writer. Does not own fd. The destructor does not flush: call flush(). After
// a failed write, the writer stays failed: append() drops data and every later call
// returns the same error.
class Writer {
 public:
  explicit Writer(int fd, WriterOptions opts = {});
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Adds data to the buffer. If it does not fit, the buffer and data are written
  // together with one writev (errors are kept for the next flush()).
  void append(std::string_view data);
  // Writes everything buffered: one write when possible, looping on partial writes
  // until write_timeout_ms. Errors are temporary (the peer is gone or slow) and name
  // the errno text.
  Result<void> flush();
  // The buffer, then data, in one writev.
  Result<void> write_now(std::string_view data);
  // Sends the buffer, then count bytes of file_fd from offset. Uses sendfile(2) when the
  // destination is a socket, a regular file or a non-blocking pipe (the buffered bytes
  // go out with MSG_MORE so they share packets with the file's start); otherwise, or
  // if sendfile refuses the file, pread/write. A file shorter than offset + count is an
  // error (it was truncated while being sent). file_fd's own offset is not changed.
  Result<void> send_file(int file_fd, off_t offset, size_t count);

  // Appends message text for the SMTP DATA / POP3 RETR data stream: LF and bare CR
  // become CRLF, and a dot starting a line is doubled. Messages may come in chunks:
  // the state (start of line, a CR at the end of the previous chunk) carries over.
  // With last_chunk, the message is ended: a CRLF is added if its last line lacked
  // one, then the terminating ".\r\n"; the state is reset for the next message.
  void append_dot_stuffed(std::string_view message, bool last_chunk);
  // Forgets a half-sent dot-stuffed message (after an aborted transfer).
  void reset_dot_stuffing();

  // Bytes collected before a write is forced (WriterOptions::buffer_bytes), e.g.
  // larger while imapd streams a bulk FETCH. Shrinking writes out what is
  // buffered first and gives the larger buffer's memory back.
  Result<void> set_buffer_bytes(size_t buffer_bytes);

  size_t pending() const { return buf_.size(); }
  bool failed() const { return error_.has_value(); }
  int last_errno() const { return last_errno_; }
  int fd() const { return fd_; }
  // courieresmtp gives each SMTP phase its own deadline (esmtptimeout*).
  void set_write_timeout_ms(int write_timeout_ms) { opts_.write_timeout_ms = write_timeout_ms; }

 private:
  struct Deadline;
  Result<void> write_pieces(std::string_view a, std::string_view b, bool more);
  Result<void> write_iov(iovec* iov, int count, const Deadline& d, bool more);
  Result<void> wait_writable(const Deadline& d);
  Result<void> sendfile_loop(int file_fd, off_t& offset, size_t& left, const Deadline& d,
                             bool& fall_back);
  Result<void> copy_loop(int file_fd, off_t offset, size_t left, const Deadline& d);
  Result<void> fail(Error e);
  Deadline start_call() const;

  int fd_;
  WriterOptions opts_;
  bool is_socket_ = false;
  bool is_fifo_ = false;
  bool is_regular_ = false;
  bool nonblocking_ = false;
  std::string buf_;
  std::optional<Error> error_;
  int last_errno_ = 0;
  bool dot_line_start_ = true;
  bool dot_pending_cr_ = false;
};

}  // namespace lib::io
