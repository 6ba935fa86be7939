// pop3d/command.hpp: the POP3 command parser shared by pop3login (AUTHORIZATION
// state) and pop3d (TRANSACTION state). Pure: a line in, a Command or a
// SyntaxError out, no I/O (STYLE.md 1).
//
// RFC 1939 section 3: a command is a case-insensitive keyword of 3 or 4
// characters, then arguments separated by spaces; message numbers are decimal.
// RFC 2449 section 4 adds CAPA, RFC 2595 section 4 STLS, RFC 5034 AUTH,
// RFC 6856 UTF8. APOP is not offered (Courier does not either).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "lib/io.hpp"

namespace pop3d {

enum class Verb {
  user, pass, auth, stls, capa, quit, utf8,       // AUTHORIZATION (pop3login)
  stat, list, retr, dele, noop, rset, top, uidl,  // TRANSACTION (pop3d)
  apop,                                           // recognised, never offered
};

// The POP3 states a command is valid in (RFC 1939 section 3).
enum class State : unsigned { authorization = 1, transaction = 2 };

// The largest message number or TOP line count accepted. Larger numbers are
// a syntax error rather than a silent wrap-around.
inline constexpr std::uint64_t max_argument_number = 0xffffffffu;

struct Command {
  Verb verb = Verb::noop;
  // LIST, UIDL (optional), RETR, DELE, TOP: the message number (>= 1; range
  // against the mailbox is the session's business).
  std::optional<std::uint64_t> message;
  // TOP: the number of body lines (>= 0).
  std::optional<std::uint64_t> lines;
  // USER: the name, without surrounding blanks. PASS: everything after
  // "PASS " exactly (RFC 1939 section 7 lets a password contain spaces).
  // AUTH: the mechanism name, as sent (empty: list the mechanisms).
  std::string_view text;
  // AUTH: the initial response (RFC 5034 section 4), empty if none.
  std::string_view initial_response;
};

enum class SyntaxError {
  empty_line,        // nothing but blanks
  unknown_command,   // not a POP3 keyword this server knows
  missing_argument,  // e.g. "RETR" without a number
  extra_argument,    // e.g. "STAT 1", "RETR 1 2"
  bad_number,        // not decimal digits, 0 where >= 1 is needed, or too large
  bad_character,     // a control character in an argument
};

// A short text for a reply ("unknown command"); never contains client data.
std::string_view syntax_error_text(SyntaxError error) noexcept;

using ParsedCommand = std::variant<Command, SyntaxError>;

// Parses one command line (without its CRLF). The returned Command's
// string_views point into `line`, which must outlive it. The keyword is
// matched case-insensitively; arguments may be separated by several blanks
// (spaces or tabs), except for PASS, whose argument is taken literally.
ParsedCommand parse_command(std::string_view line);

// The keyword as sent by clients ("RETR"), for log lines.
std::string_view verb_name(Verb verb) noexcept;

// Whether the verb is a command of the given state.
bool valid_in(Verb verb, State state) noexcept;

// One line as a session read it, checked for the state the session is in:
// the command to dispatch, or the reply refusing the line (a syntax error, a
// verb of the other state, a line too long or with CR/LF/NUL inside), which
// counts toward the session's invalid-command limit. `status` is one of the
// lib::io::ReadStatus values ok, too_long, bare_cr, bare_lf, nul_byte. The
// Command's string_views point into `line`.
struct CheckedLine {
  std::optional<Command> command;
  std::string refusal;  // the reply when there is no command
};
CheckedLine check_line(lib::io::ReadStatus status, std::string_view line, State state);

// Parses a decimal number of 1..10 digits, no sign, value at most
// max_argument_number. nullopt otherwise.
std::optional<std::uint64_t> parse_number(std::string_view text) noexcept;

}  // namespace pop3d
