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
#include <string>

#include "lib/io.hpp"

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

// Reads the next command into `command`. Replies it has to make itself ("+
// Ready for literal", the BAD/NO for a rejected command) go through writer,
// flushed. `why` receives a log text for rejected/fatal.
CommandStatus read_command(lib::io::Reader& reader, lib::io::Writer& writer,
                           const CommandLimits& limits, std::string& command, std::string& why);

// The tag of a command line, if its first word is a valid tag; else "*".
std::string tag_of_line(std::string_view line);

}  // namespace imapd
