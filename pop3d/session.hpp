// pop3d/session.hpp: the TRANSACTION and UPDATE states of POP3 (RFC 1939
// sections 5 and 6) on a Mailbox snapshot: STAT, LIST, RETR, DELE, NOOP, RSET,
// QUIT, TOP, UIDL, CAPA (RFC 2449), UTF8 (RFC 6856), with PIPELINING: the
// replies to a group of pipelined commands go out together, and RETR sends a
// message with few large writes.
//
// SECURITY: runs as the account, reading commands from the client: lines are
// bounded, reads have an idle timeout (RFC 1939 section 3: at least 10
// minutes), invalid commands in a row are capped. Messages are deleted only
// on QUIT (the UPDATE state); EOF, a timeout or an error leave the mailbox
// as it was.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/io.hpp"
#include "pop3d/command.hpp"
#include "pop3d/mailbox.hpp"

namespace pop3d {

// Command lines after login: RFC 2449 section 4 allows 255 octets; leave room.
inline constexpr size_t max_command_line_bytes = 1024;

struct SessionOptions {
  std::chrono::seconds idle_timeout{600};
  bool log_deletions = false;  // POP3_LOG_DELETIONS
  std::string user;            // for log lines
  std::string remote_ip;
  // Commands the client sent along with its login (pop3login passes them on).
  std::string pipelined_input;
  // Bytes collected before a write; a RETR of a large message goes out in
  // pieces of this size.
  size_t write_buffer_bytes = 128 * 1024;
};

struct SessionStats {
  std::uint64_t retr = 0, retr_bytes = 0;
  std::uint64_t top = 0;
  std::uint64_t dele = 0;     // messages removed at QUIT
  std::uint64_t dele_bytes = 0;
  std::uint64_t rcvd = 0;     // command bytes received
  std::uint64_t sent = 0;     // bytes sent (message sizes as POP3 counts them)
};

enum class SessionEnd {
  quit,             // QUIT, deletions done
  quit_partial,     // QUIT, but some deletions failed
  disconnected,     // EOF or a broken connection: nothing deleted
  timeout,          // idle timeout: nothing deleted
  too_many_errors,  // nothing deleted
  io_error,         // a message could not be read mid-RETR: nothing deleted
};
std::string_view session_end_text(SessionEnd end) noexcept;

class Session {
 public:
  // The session does not own the descriptors (normally both 0/1 or the
  // same socket).
  Session(Mailbox& mailbox, SessionOptions options, int in_fd, int out_fd);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends "+OK logged in." (the reply to the login command, which pop3login
  // left to us) and serves commands until the session ends.
  SessionEnd run();
  const SessionStats& stats() const { return stats_; }

 private:
  enum class Step { next, close };
  using Handler = Step (Session::*)(const Command&);

  Step dispatch(const Command& cmd);
  Step cmd_stat(const Command& cmd);
  Step cmd_list(const Command& cmd);
  Step cmd_retr(const Command& cmd);
  Step cmd_top(const Command& cmd);
  Step cmd_dele(const Command& cmd);
  Step cmd_noop(const Command& cmd);
  Step cmd_rset(const Command& cmd);
  Step cmd_uidl(const Command& cmd);
  Step cmd_quit(const Command& cmd);
  Step cmd_capa(const Command& cmd);
  Step cmd_utf8(const Command& cmd);

  // The 0-based index of a live message, or nullopt after replying -ERR.
  std::optional<size_t> live_message(std::uint64_t number);
  // RETR and TOP: sends the message (all of it, or TOP's part).
  Step send_message(size_t index, std::optional<std::uint64_t> top_lines);
  lib::io::ReadStatus read_line(std::string& line);
  bool input_pending() const;
  void send(std::string_view line);

  Mailbox& mailbox_;
  SessionOptions options_;
  lib::io::Reader reader_;
  lib::io::Writer writer_;
  std::string seed_;       // pipelined input from pop3login, read first
  size_t seed_pos_ = 0;
  SessionStats stats_;
  SessionEnd end_ = SessionEnd::disconnected;
};

}  // namespace pop3d
