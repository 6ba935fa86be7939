// imapd/command_reader.hpp: reads one complete IMAP command from the client:
// its lines and the literals between them (RFC 3501 4.3, 7.5 "+" continuation
// for synchronising literals; RFC 7888 LITERAL+ {n+}). The result goes to
// parse_command() (imapd/lexer.hpp).
//
// Limits: every line is bounded (IMAP_MAX_LINE_BYTES); literals are bounded by
// max_literal_bytes, except in APPEND, where they may be a whole message
// (max_message_bytes); the whole command by the sum. A synchronising literal
// over the limit is refused before the client sends it ("NO [TOOBIG]"); a
// non-synchronising one has been sent anyway, so it is read and thrown away
// (up to discard_limit_bytes, then the connection is closed with BYE), and the
// command fails with NO [TOOBIG] (RFC 7888 section 4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/io.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {

struct CommandLimits {
  std::size_t max_literal_bytes = 65536;
  std::size_t max_message_bytes = 64u << 20;  // literals of APPEND
  std::size_t max_literals = 1000;            // literals in one command
  std::size_t discard_limit_bytes = 1u << 30;
};

enum class CommandStatus {
  ok,           // `command` holds the full command text
  rejected,     // answered already (BAD/NO written); read the next command
  eof,          // the client closed
  timeout,      // idle or read timeout
  fatal,        // I/O error or hostile input: BYE written where possible; end
};

// Where a large APPEND message literal goes instead of memory: an unnamed
// file (O_TMPFILE) in `dir`, the account's Maildir tmp/ (so the copy into the
// target folder stays on one file system), with CRLF turned into LF as the
// message is stored. The literal in `command` then reads "{0}" and the
// handler takes the message from `fd`. One imapd then holds at most one
// read buffer of an APPEND, whatever its size.
struct LiteralSpool {
  std::string dir;                     // set by the caller; empty: never spool
  std::size_t threshold = 64 * 1024;   // literals this large or larger
  lib::UniqueFd fd;                    // after read_command: the message, or invalid
  std::uint64_t bytes = 0;             // bytes written (LF line ends)
};

// Reads the next command into `command`. Replies it has to make itself ("+
// Ready for literal", the BAD/NO for a rejected command) go through writer,
// flushed. `why` receives a log text for rejected/fatal.
// With a spool, APPEND's message literal at or over its threshold is spooled
// (spool.fd is reset at the start of every call).
CommandStatus read_command(lib::io::Reader& reader, lib::io::Writer& writer,
                           const CommandLimits& limits, std::string& command, std::string& why,
                           LiteralSpool* spool = nullptr);

// The tag of a command line, if its first word is a valid tag; else "*".
std::string tag_of_line(std::string_view line);

}  // namespace imapd
