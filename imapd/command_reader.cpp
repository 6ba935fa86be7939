// imapd/command_reader.cpp: one complete command, literals included (see
// command_reader.hpp).
#include "imapd/command_reader.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <string_view>

#include "imapd/lexer.hpp"
#include "lib/result.hpp"

namespace imapd {
namespace {

bool word_is(std::string_view line, std::size_t index, std::string_view word) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < index; ++i) {
    pos = line.find(' ', pos);
    if (pos == std::string_view::npos) return false;
    ++pos;
  }
  std::string_view w = line.substr(pos, line.find(' ', pos) == std::string_view::npos
                                            ? std::string_view::npos
                                            : line.find(' ', pos) - pos);
  if (w.size() != word.size()) return false;
  for (std::size_t i = 0; i < w.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(w[i])) != word[i]) return false;
  return true;
}

// Writes all of data to a file (the APPEND spool); false with errno set.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The outcome of a literal that could not be read whole.
CommandStatus literal_failure(lib::io::ReadStatus s, std::string& why) {
  why = std::string("reading a literal: ") + lib::io::describe(s);
  return s == lib::io::ReadStatus::eof       ? CommandStatus::eof
         : s == lib::io::ReadStatus::timeout ? CommandStatus::timeout
                                             : CommandStatus::fatal;
}

void reply(lib::io::Writer& w, std::string_view text) {
  w.append(text);
  (void)w.flush();
}

}  // namespace

std::string tag_of_line(std::string_view line) {
  std::string_view tag = line.substr(0, line.find(' '));
  if (tag.size() > 64 || !is_valid_tag(tag)) return "*";
  return std::string(tag);
}

CommandStatus read_command(lib::io::Reader& reader, lib::io::Writer& writer,
                           const CommandLimits& limits, std::string& command, std::string& why,
                           LiteralSpool* spool) {
  command.clear();
  if (spool) {
    spool->fd.reset();
    spool->bytes = 0;
  }
  std::size_t spooled = 0;  // literal bytes held on disk, not in `command`
  bool spool_failed = false;
  std::string line;
  std::string tag;
  bool append = false;
  bool discarding = false;  // a non-synchronising literal was refused
  std::size_t literals = 0;
  std::size_t discarded = 0;
  for (;;) {
    lib::io::ReadStatus st = reader.read_line(line);
    switch (st) {
      case lib::io::ReadStatus::ok:
        break;
      case lib::io::ReadStatus::eof:
        why = "client closed the connection";
        return CommandStatus::eof;
      case lib::io::ReadStatus::timeout:
        why = "timeout";
        return CommandStatus::timeout;
      case lib::io::ReadStatus::too_long:
        why = "command line too long";
        reply(writer, (command.empty() ? tag_of_line(line) : tag) + " BAD Command line too long.\r\n");
        return CommandStatus::rejected;
      case lib::io::ReadStatus::bare_cr:
      case lib::io::ReadStatus::bare_lf:
      case lib::io::ReadStatus::nul_byte:
        why = std::string("malformed line: ") + lib::io::describe(st);
        reply(writer, (command.empty() ? tag_of_line(line) : tag) + " BAD Malformed command line.\r\n");
        return CommandStatus::rejected;
      default:
        why = std::string("read error: ") + lib::io::describe(st);
        return CommandStatus::fatal;
    }
    if (command.empty() && !discarding) {
      tag = tag_of_line(line);
      append = word_is(line, 1, "APPEND") || (word_is(line, 1, "UID") && word_is(line, 2, "APPEND"));
    }
    if (!discarding) {
      if (command.size() + line.size() > limits.max_message_bytes + 2 * limits.max_literal_bytes) {
        discarding = true;
        command.clear();
      } else {
        command += line;
        command += "\r\n";
      }
    }
    auto spec = trailing_literal(line);
    if (!spec) {
      if (spool_failed) {
        reply(writer, tag + " NO Cannot store the message now (server disk), see the log.\r\n");
        return CommandStatus::rejected;
      }
      if (discarding) {
        why = "literal too large";
        reply(writer, tag + " NO [TOOBIG] Literal too large.\r\n");
        return CommandStatus::rejected;
      }
      return CommandStatus::ok;
    }
    if (++literals > limits.max_literals) {
      why = "too many literals in one command";
      reply(writer, "* BYE Too many literals.\r\n");
      return CommandStatus::fatal;
    }
    std::size_t limit = append ? limits.max_message_bytes : limits.max_literal_bytes;
    // The whole command is bounded too, checked before the literal is read:
    // many literals each under the limit must not add up to more.
    const std::size_t total_limit = limits.max_message_bytes + 2 * limits.max_literal_bytes;
    if (!discarding && spec->bytes <= limit && command.size() + spooled + spec->bytes > total_limit) limit = 0;
    if (discarding || spec->bytes > limit) {
      if (!spec->non_synchronizing) {
        // The client waits for "+": it will not send the bytes.
        why = "literal of " + std::to_string(spec->bytes) + " bytes over the limit";
        reply(writer, tag + (append ? " NO [TOOBIG] Message too large.\r\n" : " NO [TOOBIG] Literal too large.\r\n"));
        return CommandStatus::rejected;
      }
      // LITERAL+: the bytes are on their way; drop them, then the rest.
      if (spec->bytes > limits.discard_limit_bytes - discarded) {
        why = "non-synchronising literal of " + std::to_string(spec->bytes) + " bytes";
        reply(writer, "* BYE [TOOBIG] Literal too large.\r\n");
        return CommandStatus::fatal;
      }
      discarded += spec->bytes;
      discarding = true;
      command.clear();
      auto s = reader.skip_exact(static_cast<std::size_t>(spec->bytes));
      if (s != lib::io::ReadStatus::ok) {
        why = std::string("reading a literal: ") + lib::io::describe(s);
        return s == lib::io::ReadStatus::eof ? CommandStatus::eof : CommandStatus::fatal;
      }
      continue;
    }
    if (!spec->non_synchronizing) {
      writer.append("+ Ready for literal data\r\n");
      auto f = writer.flush();
      if (!f) {
        why = f.error().message;
        return CommandStatus::fatal;
      }
    }
    if (append && spool && !spool->dir.empty() && !spool->fd.valid() && spec->bytes >= spool->threshold) {
      int fd = ::open(spool->dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0) {
        // No O_TMPFILE here (or tmp/ unusable): a named file, unlinked at once.
        std::string tmpl = spool->dir + "/.imapd-append.XXXXXX";
        fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
        if (fd >= 0) ::unlink(tmpl.c_str());
      }
      if (fd >= 0) {
        spool->fd.reset(fd);
        // The command keeps an empty literal in its place.
        command.resize(command.size() - line.size() - 2);
        command += line.substr(0, line.rfind('{'));
        command += "{0}\r\n";
        bool pending_cr = false;
        bool write_failed = false;
        std::string out;
        auto s = reader.read_exact_to(static_cast<std::size_t>(spec->bytes), [&](std::string_view chunk) {
          out.clear();
          for (char ch : chunk) {
            if (pending_cr && ch != '\n') out += '\r';
            pending_cr = ch == '\r';
            if (!pending_cr) out += ch;
          }
          if (write_failed) return true;  // keep reading the client's bytes
          if (!write_all(spool->fd.get(), out)) write_failed = true;
          spool->bytes += out.size();
          return true;
        });
        if (s != lib::io::ReadStatus::ok) return literal_failure(s, why);
        if (pending_cr && !write_failed) {
          write_failed = !write_all(spool->fd.get(), "\r");
          spool->bytes += 1;
        }
        spooled += static_cast<std::size_t>(spec->bytes);
        if (write_failed) {
          why = "cannot spool an APPEND literal in " + spool->dir + ": " + lib::errno_text(errno);
          spool->fd.reset();
          spool_failed = true;
          discarding = true;  // the rest of the command is read and answered NO
          command.clear();
        }
        continue;
      }
    }
    // Straight into the command: no second copy of a large literal.
    command.reserve(command.size() + static_cast<std::size_t>(spec->bytes) + 64);
    auto s = reader.read_exact_to(static_cast<std::size_t>(spec->bytes), [&](std::string_view chunk) {
      command += chunk;
      return true;
    });
    if (s != lib::io::ReadStatus::ok) return literal_failure(s, why);
  }
}

}  // namespace imapd
