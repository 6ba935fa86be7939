// lib/log.hpp: the suite's logging, in Courier's style (courier-libs liblog/logger.c):
// every line names the program and its pid and starts with a severity prefix (ERR:,
// CRIT:, WARN:, NOTICE:, INFO:, DEBUG:). Output goes to syslog (RFC 5424 severities via
// syslog(3)), to stderr, or to a file opened O_APPEND so that several processes can
// share it: each line is one write(2) and lines never interleave.
//
// SECURITY: log text often carries what a peer sent. Every line is sanitised (control
// characters, CR and LF escaped so a peer cannot forge log lines; invalid UTF-8 escaped;
// overlong lines truncated with a marker). Passwords never reach the log: they live in
// lib::Secret, which has no formatter, and protocol lines pass through mask_auth_line()
// before they are logged.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <syslog.h>

#include "lib/result.hpp"

namespace lib::log {

enum class Level { debug, info, notice, warning, error, critical };

enum class Target { syslog, stderr, file };

struct Options {
  Target target = Target::stderr;
  std::string file_path;  // for Target::file; created mode 0640 if missing
  int syslog_facility = LOG_MAIL;
  Level min_level = Level::info;
  // A line's message part (after the prefix) is cut to this many bytes, marked
  // "...[truncated]". Syslog daemons often cut at 1 KB to 8 KB anyway.
  size_t max_line_bytes = 4000;
};

// The log of a service program (imaplogin, imapd, pop3login, pop3d, esmtpd...)
// from its settings: `file` when not empty (the program appends to it itself);
// else standard error when `stderr_is_log` (LOGFILE is set, and couriertcpd
// -stderr=$LOGFILE or the program itself points fd 2 at it); else syslog's
// mail facility, which open() turns into standard error when there is no
// syslog socket, so a failed login is never lost.
Options service_options(std::string_view file, bool stderr_is_log);
// Whether the syslog socket (/dev/log) exists.
bool syslog_socket_present();
// Where lines go now (after open(): syslog may have become stderr).
Target current_target();

// Starts logging for this process. stderr/file lines look like
//   2026-11-22T09:00:00Z imapd[1234]: ERR: message
// (UTC time, program, pid); syslog gets "ERR: message" with ident program and LOG_PID.
// If the log file cannot be opened, logging falls back to stderr and says why there.
// Target::syslog without a syslog socket (no /dev/log) is stderr.
// Until open() is called, lines go to stderr under the executable's name.
void open(std::string_view program, const Options& options);
// As open(), but reports a failure to open the log file instead of falling back.
Result<void> try_open(std::string_view program, const Options& options);
// Reopens the log file (after rotation, on SIGHUP). Does nothing for other targets.
Result<void> reopen();
// Stops logging to the file or syslog; later lines go to stderr.
void close();

void set_min_level(Level level);
Level min_level();
// Whether a line at this level would be written (to skip expensive formatting).
bool enabled(Level level);
// "debug", "info", "notice", "warning"/"warn", "error"/"err", "critical"/"crit", any
// case; nullopt otherwise. For a LOGLEVEL-style setting.
std::optional<Level> parse_level(std::string_view text);
// "ERR:", "WARN:", ... as written before the message.
const char* level_prefix(Level level);

// Writes one line at the given level; printf formatting. Not async-signal-safe.
[[gnu::format(printf, 2, 3)]] void write(Level level, const char* fmt, ...);
void vwrite(Level level, const char* fmt, va_list args);
[[gnu::format(printf, 1, 2)]] void critical(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void error(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void warning(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void notice(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void info(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void debug(const char* fmt, ...);

// Debug switches in the style of Courier's DEBUG_LOGIN: the value of the switch is
// 0 (off), 1 (on: log each step, e.g. which auth module said what) or 2 (more detail:
// also the protocol lines of the exchange). Unlike Courier, where DEBUG_LOGIN=2 logs
// passwords, level 2 here never does: protocol lines are logged through
// mask_auth_line(), so credentials still appear as ***.
//
// debug_switch() returns the value set by set_debug_switch() if any, else the
// environment variable of that name (a number; other text counts as 0), clamped to
// 0..2. set_debug_switch() is for a value read from a config file (authdaemonrc).
int debug_switch(std::string_view name);
void set_debug_switch(std::string_view name, int value);
// Logs at DEBUG level, whatever min_level is, when debug_switch(name) >= min_value.
[[gnu::format(printf, 3, 4)]] void debug_if(std::string_view name, int min_value,
                                            const char* fmt, ...);

// Text made safe for one log line: CR, LF, TAB and other control characters become
// \r \n \t \xNN; bytes that are not valid UTF-8, C1 controls and the Unicode line
// separators and bidirectional overrides become \xNN. If the result would be longer
// than max_bytes it is cut (never inside an escape or a character) and ends with
// "...[truncated]".
std::string sanitize(std::string_view text, size_t max_bytes);

// A protocol line with its credentials replaced by ***, for logging:
//   IMAP  "a1 LOGIN user secret"            -> "a1 LOGIN user ***"
//   IMAP  "a2 AUTHENTICATE PLAIN AGZvbwBi"  -> "a2 AUTHENTICATE PLAIN ***"
//   POP3  "PASS secret" / "APOP user digest" -> "PASS ***" / "APOP user ***"
//   SMTP/POP3 "AUTH PLAIN AGZv" / "AUTH LOGIN dXNlcg==" -> "AUTH PLAIN ***" / "AUTH LOGIN ***"
// Any mechanism is masked the same way. When sasl_continuation is true the whole line
// is a client's SASL response and becomes *** (an empty line and the cancel "*" stay).
// A trailing CRLF or LF is kept; other lines are returned unchanged. Literal data
// ({n} in IMAP) arrives on later lines: a caller must not log the bytes of a literal
// that belongs to LOGIN or AUTHENTICATE.
std::string mask_auth_line(std::string_view protocol_line, bool sasl_continuation = false);

}  // namespace lib::log
