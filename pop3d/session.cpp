// pop3d/session.cpp: see session.hpp.
#include "pop3d/session.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>

#include "lib/log.hpp"
#include "pop3d/capability.hpp"
#include "pop3d/message.hpp"
#include "pop3d/replies.hpp"

namespace pop3d {

namespace {

constexpr int session_max_consecutive_errors = 20;

lib::io::ReaderOptions reader_options(const SessionOptions& o) {
  lib::io::ReaderOptions ro;
  ro.max_line_bytes = max_command_line_bytes;
  int timeout_ms = static_cast<int>(o.idle_timeout.count() * 1000);
  ro.read_timeout_ms = timeout_ms;
  ro.idle_timeout_ms = timeout_ms;
  ro.line_ending = lib::io::LineEnding::lf_lenient;
  ro.reject_bare_cr = true;
  ro.reject_nul = true;
  return ro;
}

lib::io::WriterOptions writer_options(const SessionOptions& o) {
  lib::io::WriterOptions wo;
  wo.buffer_bytes = o.write_buffer_bytes;
  wo.write_timeout_ms = static_cast<int>(o.idle_timeout.count() * 1000);
  return wo;
}

}  // namespace

std::string_view session_end_text(SessionEnd end) noexcept {
  switch (end) {
    case SessionEnd::quit: return "LOGOUT";
    case SessionEnd::quit_partial: return "LOGOUT (some deletions failed)";
    case SessionEnd::disconnected: return "DISCONNECTED";
    case SessionEnd::timeout: return "TIMEOUT";
    case SessionEnd::too_many_errors: return "DISCONNECTED (too many invalid commands)";
    case SessionEnd::io_error: return "DISCONNECTED (I/O error)";
  }
  return "?";
}

Session::Session(Mailbox& mailbox, SessionOptions options, int in_fd, int out_fd)
    : mailbox_(mailbox),
      options_(std::move(options)),
      reader_(in_fd, reader_options(options_)),
      writer_(out_fd, writer_options(options_)),
      seed_(std::move(options_.pipelined_input)) {}

void Session::send(std::string_view line) {
  writer_.append(line);
  writer_.append("\r\n");
  stats_.sent += line.size() + 2;
}

bool Session::input_pending() const { return seed_pos_ < seed_.size() || reader_.buffered() > 0; }

// Lines from pop3login's leftover first, then from the connection. The
// leftover is checked like the Reader checks lines.
lib::io::ReadStatus Session::read_line(std::string& line) {
  if (seed_pos_ >= seed_.size()) return reader_.read_line(line);
  size_t nl = seed_.find('\n', seed_pos_);
  if (nl == std::string::npos) {
    // A line cut in two: its start came with the login, the rest follows.
    std::string head = seed_.substr(seed_pos_);
    seed_pos_ = seed_.size();
    std::string tail;
    auto st = reader_.read_line(tail);
    if (st != lib::io::ReadStatus::ok) return st;
    line = head + tail;
  } else {
    line = seed_.substr(seed_pos_, nl - seed_pos_);
    seed_pos_ = nl + 1;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > max_command_line_bytes) return lib::io::ReadStatus::too_long;
  if (line.find('\0') != std::string::npos) return lib::io::ReadStatus::nul_byte;
  if (line.find('\r') != std::string::npos) return lib::io::ReadStatus::bare_cr;
  return lib::io::ReadStatus::ok;
}

SessionEnd Session::run() {
  send(reply::logged_in);
  int errors = 0;
  std::string line;
  for (;;) {
    if (!input_pending() && !writer_.flush()) return end_ = SessionEnd::disconnected;
    auto status = read_line(line);
    bool error = false;
    switch (status) {
      case lib::io::ReadStatus::ok:
      case lib::io::ReadStatus::too_long:
      case lib::io::ReadStatus::bare_cr:
      case lib::io::ReadStatus::bare_lf:
      case lib::io::ReadStatus::nul_byte: {
        if (status == lib::io::ReadStatus::ok) stats_.rcvd += line.size() + 2;
        auto checked = check_line(status, line, State::transaction);
        if (!checked.command) {
          error = true;
          send(checked.refusal);
          break;
        }
        const Command& cmd = *checked.command;
        errors = 0;
        if (dispatch(cmd) == Step::close) {
          (void)writer_.flush();
          return end_;
        }
        if (writer_.failed()) return end_ = SessionEnd::disconnected;
        break;
      }
      case lib::io::ReadStatus::eof:
      case lib::io::ReadStatus::error:
      case lib::io::ReadStatus::aborted:
        return end_ = SessionEnd::disconnected;
      case lib::io::ReadStatus::timeout:
        // RFC 1939 section 3: the autologout timer closes without UPDATE.
        send(reply::idle_timeout);
        (void)writer_.flush();
        return end_ = SessionEnd::timeout;
    }
    // A refused line may leave its rest buffered, which the next read skips:
    // the reply must not wait for that.
    if (error) (void)writer_.flush();
    if (error && ++errors >= session_max_consecutive_errors) {
      send(reply::too_many_errors);
      (void)writer_.flush();
      return end_ = SessionEnd::too_many_errors;
    }
  }
}

Session::Step Session::dispatch(const Command& cmd) {
  struct Entry {
    Verb verb;
    Handler handler;
  };
  static constexpr std::array<Entry, 11> table{{
      {Verb::stat, &Session::cmd_stat},
      {Verb::list, &Session::cmd_list},
      {Verb::retr, &Session::cmd_retr},
      {Verb::top, &Session::cmd_top},
      {Verb::dele, &Session::cmd_dele},
      {Verb::noop, &Session::cmd_noop},
      {Verb::rset, &Session::cmd_rset},
      {Verb::uidl, &Session::cmd_uidl},
      {Verb::quit, &Session::cmd_quit},
      {Verb::capa, &Session::cmd_capa},
      {Verb::utf8, &Session::cmd_utf8},
  }};
  for (const auto& e : table)
    if (e.verb == cmd.verb) return (this->*e.handler)(cmd);
  send(reply::already_logged_in);
  return Step::next;
}

std::optional<size_t> Session::live_message(std::uint64_t number) {
  if (number == 0 || number > mailbox_.count()) {
    send(reply::no_such_message);
    return std::nullopt;
  }
  size_t index = static_cast<size_t>(number - 1);
  if (mailbox_.message(index).deleted) {
    send(reply::message_deleted);
    return std::nullopt;
  }
  return index;
}

Session::Step Session::cmd_stat(const Command&) {
  std::uint64_t count = 0, octets = 0;
  for (size_t i = 0; i < mailbox_.count(); ++i) {
    const auto& m = mailbox_.message(i);
    if (m.deleted) continue;
    ++count;
    octets += m.size;
  }
  send("+OK " + std::to_string(count) + " " + std::to_string(octets));
  return Step::next;
}

Session::Step Session::cmd_list(const Command& cmd) {
  if (cmd.message) {
    auto index = live_message(*cmd.message);
    if (!index) return Step::next;
    send("+OK " + std::to_string(*cmd.message) + " " + std::to_string(mailbox_.message(*index).size));
    return Step::next;
  }
  std::uint64_t count = 0, octets = 0;
  for (size_t i = 0; i < mailbox_.count(); ++i) {
    const auto& m = mailbox_.message(i);
    if (m.deleted) continue;
    ++count;
    octets += m.size;
  }
  send("+OK " + std::to_string(count) + " messages (" + std::to_string(octets) + " octets)");
  std::string line;
  for (size_t i = 0; i < mailbox_.count(); ++i) {
    const auto& m = mailbox_.message(i);
    if (m.deleted) continue;
    line.clear();
    line += std::to_string(i + 1);
    line += ' ';
    line += std::to_string(m.size);
    send(line);
  }
  send(".");
  return Step::next;
}

Session::Step Session::cmd_uidl(const Command& cmd) {
  if (cmd.message) {
    auto index = live_message(*cmd.message);
    if (!index) return Step::next;
    send("+OK " + std::to_string(*cmd.message) + " " + mailbox_.uidl(*index));
    return Step::next;
  }
  send(reply::uidl_ok);
  std::string line;
  for (size_t i = 0; i < mailbox_.count(); ++i) {
    if (mailbox_.message(i).deleted) continue;
    line.clear();
    line += std::to_string(i + 1);
    line += ' ';
    line += mailbox_.uidl(i);
    send(line);
  }
  send(".");
  return Step::next;
}

Session::Step Session::cmd_retr(const Command& cmd) {
  auto index = live_message(*cmd.message);
  if (!index) return Step::next;
  return send_message(*index, std::nullopt);
}

Session::Step Session::cmd_top(const Command& cmd) {
  auto index = live_message(*cmd.message);
  if (!index) return Step::next;
  return send_message(*index, cmd.lines);
}

Session::Step Session::send_message(size_t index, std::optional<std::uint64_t> top_lines) {
  auto opened = mailbox_.open_message(index);
  if (!opened) {
    lib::log::error("user=%s: %s", options_.user.c_str(), opened.error().message.c_str());
    send(reply::message_unreadable);
    return Step::next;
  }
  if (!*opened) {
    send(reply::message_vanished);
    return Step::next;
  }
  int fd = (*opened)->get();
  const std::uint64_t size = mailbox_.message(index).size;
  if (top_lines)
    send(reply::top_ok);
  else
    send("+OK " + std::to_string(size) + " octets follow.");
  TopFilter top(top_lines.value_or(0));
  char buf[65536];
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The "+OK" is out: all that can be done is to drop the connection
      // (nothing is deleted).
      lib::log::error("user=%s: cannot read %s/cur/%s: %s", options_.user.c_str(), mailbox_.path().c_str(),
                      mailbox_.message(index).file_name.c_str(), lib::errno_text(errno).c_str());
      writer_.reset_dot_stuffing();
      end_ = SessionEnd::io_error;
      return Step::close;
    }
    if (n == 0) break;
    offset += n;
    std::string_view chunk(buf, static_cast<size_t>(n));
    if (top_lines) {
      chunk = chunk.substr(0, top.take(chunk));
      writer_.append_dot_stuffed(chunk, false);
      if (top.done()) break;
    } else {
      writer_.append_dot_stuffed(chunk, false);
    }
    if (writer_.failed()) {
      end_ = SessionEnd::disconnected;
      return Step::close;
    }
  }
  writer_.append_dot_stuffed({}, true);
  if (top_lines) {
    ++stats_.top;
    stats_.sent += static_cast<std::uint64_t>(offset);
  } else {
    ++stats_.retr;
    stats_.retr_bytes += size;
    stats_.sent += size + 3;
    if (auto problem = mailbox_.mark_seen(index))
      lib::log::warning("user=%s: could not mark a message seen: %s", options_.user.c_str(), problem->c_str());
  }
  return Step::next;
}

Session::Step Session::cmd_dele(const Command& cmd) {
  auto index = live_message(*cmd.message);
  if (!index) return Step::next;
  mailbox_.set_deleted(*index, true);
  send(reply::dele_ok);
  return Step::next;
}

Session::Step Session::cmd_noop(const Command&) {
  send(reply::noop_ok);
  return Step::next;
}

Session::Step Session::cmd_rset(const Command&) {
  mailbox_.undelete_all();
  send(reply::rset_ok);
  return Step::next;
}

Session::Step Session::cmd_capa(const Command&) {
  CapaContext c;
  c.authorization = false;
  std::string text = capability_reply(c);
  writer_.append(text);
  stats_.sent += text.size();
  return Step::next;
}

Session::Step Session::cmd_utf8(const Command&) {
  send(reply::utf8_ok);
  return Step::next;
}

Session::Step Session::cmd_quit(const Command&) {
  // RFC 1939 section 6: the UPDATE state, then the reply saying how it went.
  UpdateReport report = mailbox_.remove_deleted();
  stats_.dele = report.removed;
  stats_.dele_bytes = report.removed_bytes;
  if (options_.log_deletions)
    for (const auto& name : report.removed_names)
      lib::log::info("DELETED, user=%s, ip=[%s], filename=%s", options_.user.c_str(),
                     options_.remote_ip.c_str(), name.c_str());
  for (const auto& e : report.errors) lib::log::error("user=%s: %s", options_.user.c_str(), e.c_str());
  if (report.failed > 0) {
    send(reply::quit_partial);
    end_ = SessionEnd::quit_partial;
  } else {
    send(reply::quit_ok);
    end_ = SessionEnd::quit;
  }
  return Step::close;
}

}  // namespace pop3d
