// lib/log.cpp: see log.hpp.
#include "lib/log.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <map>
#include <mutex>
#include <syslog.h>
#include <unistd.h>

#include "lib/ascii.hpp"
#include "lib/utf8.hpp"

namespace lib::log {

namespace {

constexpr std::string_view truncated_marker = "...[truncated]";

struct State {
  std::mutex mu;
  std::string program;  // also syslog's ident: openlog() keeps the pointer
  Options opts;
  int fd = STDERR_FILENO;
  bool own_fd = false;
  bool syslog_open = false;
  std::atomic<int> min_level{static_cast<int>(Level::info)};
  std::atomic<size_t> max_line_bytes{4000};
  std::map<std::string, int, std::less<>> switches;
};

// Never destroyed, so that lines logged from atexit handlers or static destructors
// still work.
State& state() {
  static State* s = [] {
    auto* st = new State;
    st->program = program_invocation_short_name;
    return st;
  }();
  return *s;
}

int syslog_priority(Level level) {
  switch (level) {
    case Level::debug: return LOG_DEBUG;
    case Level::info: return LOG_INFO;
    case Level::notice: return LOG_NOTICE;
    case Level::warning: return LOG_WARNING;
    case Level::error: return LOG_ERR;
    case Level::critical: return LOG_CRIT;
  }
  return LOG_ERR;
}

// Must be called with the lock held.
void close_locked(State& st) {
  if (st.own_fd) ::close(st.fd);
  st.fd = STDERR_FILENO;
  st.own_fd = false;
  if (st.syslog_open) ::closelog();
  st.syslog_open = false;
}

void write_all(int fd, std::string_view data) {
  // One write for the whole line: with O_APPEND the kernel places it atomically at the
  // end of the file. A short write (disk full, signal) is completed, best effort.
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void append_hex(std::string& out, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  out += "\\x";
  out += hex[c >> 4];
  out += hex[c & 15];
}

// Length of the valid UTF-8 sequence at s[i] and its code point, or 0 when invalid.
size_t utf8_sequence(std::string_view s, size_t i, unsigned& cp) {
  const utf8::Decoded d = utf8::decode(s, i);
  cp = static_cast<unsigned>(d.code_point);
  return d.length;
}

// Characters that are valid but can disguise a log line: C1 controls, line and
// paragraph separators, bidirectional embeddings, overrides and isolates.
bool deceptive(unsigned cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

// `cut` says the text was already shortened by the caller: the marker is added and an
// incomplete character at the end is dropped rather than escaped.
std::string sanitize_impl(std::string_view text, size_t max_bytes, bool cut) {
  max_bytes = std::max(max_bytes, truncated_marker.size());
  const size_t room = max_bytes - truncated_marker.size();
  if (cut) {
    // Drop a character cut in half at the end.
    size_t back = 0;
    while (back < 3 && back < text.size() &&
           (static_cast<unsigned char>(text[text.size() - 1 - back]) & 0xc0) == 0x80)
      ++back;
    if (back < text.size() && (static_cast<unsigned char>(text[text.size() - 1 - back]) & 0xc0) == 0xc0) {
      unsigned cp;
      size_t start = text.size() - 1 - back;
      if (utf8_sequence(text, start, cp) == 0) text = text.substr(0, start);
    }
  }
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 16);
  size_t safe_len = 0;  // out's length at the last character boundary that fits with the marker
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      if (c == '\r') out += "\\r";
      else if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else append_hex(out, c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      unsigned cp = 0;
      size_t len = utf8_sequence(text, i, cp);
      if (len == 0) {
        append_hex(out, c);
        ++i;
      } else if (deceptive(cp)) {
        for (size_t k = 0; k < len; ++k) append_hex(out, static_cast<unsigned char>(text[i + k]));
        i += len;
      } else {
        out.append(text.substr(i, len));
        i += len;
      }
    }
    if (out.size() > max_bytes) {
      out.resize(safe_len);
      out += truncated_marker;
      return out;
    }
    if (out.size() <= room) safe_len = out.size();
  }
  if (cut) {
    if (out.size() > room) out.resize(safe_len);
    out += truncated_marker;
  }
  return out;
}

std::string timestamp() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

void emit(Level level, bool force, const char* fmt, va_list args) {
  State& st = state();
  if (!force && static_cast<int>(level) < st.min_level.load(std::memory_order_relaxed)) return;
  const size_t max = st.max_line_bytes.load(std::memory_order_relaxed);
  // Sanitising never shortens text, so the first max bytes are all we can need.
  std::string raw(max + 1, '\0');
  int n = std::vsnprintf(raw.data(), raw.size(), fmt, args);
  bool cut = false;
  if (n < 0) {
    raw = "(unprintable log message: bad format)";
  } else if (static_cast<size_t>(n) > max) {
    raw.resize(max);
    cut = true;
  } else {
    raw.resize(static_cast<size_t>(n));
  }
  std::string msg = sanitize_impl(raw, max, cut);

  std::lock_guard lock(st.mu);
  if (st.syslog_open) {
    ::syslog(syslog_priority(level), "%s %s", level_prefix(level), msg.c_str());
    return;
  }
  std::string line;
  line.reserve(msg.size() + st.program.size() + 64);
  line += timestamp();
  line += ' ';
  line += st.program;
  line += '[';
  line += std::to_string(::getpid());
  line += "]: ";
  line += level_prefix(level);
  line += ' ';
  line += msg;
  line += '\n';
  write_all(st.fd, line);
}

}  // namespace

bool syslog_socket_present() {
  struct stat st;
  return ::stat(_PATH_LOG, &st) == 0 && S_ISSOCK(st.st_mode);
}

Options service_options(std::string_view file, bool stderr_is_log) {
  Options o;
  if (!file.empty()) {
    o.target = Target::file;
    o.file_path = std::string(file);
  } else if (stderr_is_log) {
    o.target = Target::stderr;
  } else {
    o.target = Target::syslog;
  }
  return o;
}

Target current_target() {
  State& st = state();
  std::lock_guard lock(st.mu);
  return st.opts.target;
}

Result<void> try_open(std::string_view program, const Options& options) {
  State& st = state();
  std::lock_guard lock(st.mu);
  close_locked(st);
  st.program = sanitize_impl(program, 64, false);
  st.opts = options;
  st.min_level.store(static_cast<int>(options.min_level));
  st.max_line_bytes.store(std::max<size_t>(options.max_line_bytes, 64));
  switch (options.target) {
    case Target::stderr:
      return {};
    case Target::syslog:
      // No syslog socket (containers, minimal hosts): syslog(3) would drop
      // every line, so they go to stderr (the journal under systemd).
      if (!syslog_socket_present()) {
        st.opts.target = Target::stderr;
        return {};
      }
      // LOG_NDELAY connects now, before a chroot or privilege drop could prevent it.
      ::openlog(st.program.c_str(), LOG_PID | LOG_NDELAY, options.syslog_facility);
      st.syslog_open = true;
      return {};
    case Target::file: {
      if (options.file_path.empty())
        return permanent_error("log target is a file, but no log file path is set");
      int fd = ::open(options.file_path.c_str(),
                      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
      if (fd < 0) {
        int err = errno;
        st.opts.target = Target::stderr;
        return Error{err == EACCES || err == ENOENT || err == EROFS ? ErrorKind::permanent
                                                                     : ErrorKind::temporary,
                     "cannot open log file " + options.file_path + ": " + errno_text(err) +
                         " (check that its directory exists and is writable by this "
                         "program's user)"};
      }
      st.fd = fd;
      st.own_fd = true;
      return {};
    }
  }
  return {};
}

void open(std::string_view program, const Options& options) {
  auto r = try_open(program, options);
  if (!r) error("%s; logging to stderr instead", r.error().message.c_str());
}

Result<void> reopen() {
  State& st = state();
  std::lock_guard lock(st.mu);
  if (!st.own_fd || st.opts.target != Target::file) return {};
  int fd = ::open(st.opts.file_path.c_str(),
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) {
    int err = errno;
    return temporary_error("cannot reopen log file " + st.opts.file_path + ": " +
                           errno_text(err) + "; still writing to the old file");
  }
  ::close(st.fd);
  st.fd = fd;
  return {};
}

void close() {
  State& st = state();
  std::lock_guard lock(st.mu);
  close_locked(st);
  st.opts.target = Target::stderr;
}

void set_min_level(Level level) { state().min_level.store(static_cast<int>(level)); }

Level min_level() { return static_cast<Level>(state().min_level.load()); }

bool enabled(Level level) {
  return static_cast<int>(level) >= state().min_level.load(std::memory_order_relaxed);
}

std::optional<Level> parse_level(std::string_view text) {
  std::string t = ascii::to_lower(text);
  if (t == "debug") return Level::debug;
  if (t == "info") return Level::info;
  if (t == "notice") return Level::notice;
  if (t == "warning" || t == "warn") return Level::warning;
  if (t == "error" || t == "err") return Level::error;
  if (t == "critical" || t == "crit") return Level::critical;
  return std::nullopt;
}

const char* level_prefix(Level level) {
  switch (level) {
    case Level::debug: return "DEBUG:";
    case Level::info: return "INFO:";
    case Level::notice: return "NOTICE:";
    case Level::warning: return "WARN:";
    case Level::error: return "ERR:";
    case Level::critical: return "CRIT:";
  }
  return "ERR:";
}

void vwrite(Level level, const char* fmt, va_list args) { emit(level, false, fmt, args); }

void write(Level level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(level, false, fmt, ap);
  va_end(ap);
}

#define LIB_LOG_LEVEL_FUNCTION(fn, level) \
  void fn(const char* fmt, ...) {         \
    va_list ap;                           \
    va_start(ap, fmt);                    \
    emit(level, false, fmt, ap);          \
    va_end(ap);                           \
  }
LIB_LOG_LEVEL_FUNCTION(critical, Level::critical)
LIB_LOG_LEVEL_FUNCTION(error, Level::error)
LIB_LOG_LEVEL_FUNCTION(warning, Level::warning)
LIB_LOG_LEVEL_FUNCTION(notice, Level::notice)
LIB_LOG_LEVEL_FUNCTION(info, Level::info)
LIB_LOG_LEVEL_FUNCTION(debug, Level::debug)
#undef LIB_LOG_LEVEL_FUNCTION

int debug_switch(std::string_view name) {
  State& st = state();
  {
    std::lock_guard lock(st.mu);
    auto it = st.switches.find(name);
    if (it != st.switches.end()) return it->second;
  }
  const char* v = std::getenv(std::string(name).c_str());
  if (!v) return 0;
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v, &end, 10);
  if (end == v || errno != 0) return 0;
  while (*end == ' ' || *end == '\t') ++end;
  if (*end != '\0') return 0;
  return n < 0 ? 0 : n > 2 ? 2 : static_cast<int>(n);
}

void set_debug_switch(std::string_view name, int value) {
  State& st = state();
  std::lock_guard lock(st.mu);
  st.switches[std::string(name)] = value < 0 ? 0 : value > 2 ? 2 : value;
}

void debug_if(std::string_view name, int min_value, const char* fmt, ...) {
  if (debug_switch(name) < min_value) return;
  va_list ap;
  va_start(ap, fmt);
  emit(Level::debug, true, fmt, ap);
  va_end(ap);
}

std::string sanitize(std::string_view text, size_t max_bytes) {
  return sanitize_impl(text, max_bytes, false);
}

// ---- mask_auth_line --------------------------------------------------------------

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

struct Token {
  size_t begin = 0, end = 0;
  bool found() const { return end > begin; }
};

Token next_token(std::string_view s, size_t from) {
  size_t b = from;
  while (b < s.size() && blank(s[b])) ++b;
  size_t e = b;
  while (e < s.size() && !blank(s[e])) ++e;
  return Token{b, e};
}

using ascii::iequals;

}  // namespace

std::string mask_auth_line(std::string_view line, bool sasl_continuation) {
  std::string_view eol;
  std::string_view body = line;
  if (body.size() >= 2 && body.substr(body.size() - 2) == "\r\n") {
    eol = body.substr(body.size() - 2);
    body.remove_suffix(2);
  } else if (!body.empty() && body.back() == '\n') {
    eol = body.substr(body.size() - 1);
    body.remove_suffix(1);
  }
  // Everything after body[0, keep_end) becomes " ***", unless it is blank.
  auto masked = [&](size_t keep_end) {
    std::string_view rest = body.substr(keep_end);
    while (!rest.empty() && (blank(rest.front()) || rest.front() == '\r')) rest.remove_prefix(1);
    if (rest.empty()) return std::string(line);
    std::string out(body.substr(0, keep_end));
    out += " ***";
    out += eol;
    return out;
  };
  if (sasl_continuation) {
    Token t = next_token(body, 0);
    std::string_view word = body.substr(t.begin, t.end - t.begin);
    if (!t.found() || (word == "*" && !next_token(body, t.end).found())) return std::string(line);
    return "***" + std::string(eol);
  }
  Token t1 = next_token(body, 0);
  if (!t1.found()) return std::string(line);
  std::string_view w1 = body.substr(t1.begin, t1.end - t1.begin);
  // POP3 (RFC 1939, 5034) and SMTP (RFC 4954): the command comes first.
  if (iequals(w1, "PASS")) return masked(t1.end);
  if (iequals(w1, "AUTH") || iequals(w1, "APOP")) {
    Token t2 = next_token(body, t1.end);
    return t2.found() ? masked(t2.end) : std::string(line);
  }
  // IMAP (RFC 9051): a tag, then the command.
  Token t2 = next_token(body, t1.end);
  if (!t2.found()) return std::string(line);
  std::string_view w2 = body.substr(t2.begin, t2.end - t2.begin);
  if (iequals(w2, "AUTHENTICATE")) {
    Token t3 = next_token(body, t2.end);
    return t3.found() ? masked(t3.end) : std::string(line);
  }
  if (iequals(w2, "LOGIN")) {
    size_t u = t2.end;
    while (u < body.size() && blank(body[u])) ++u;
    if (u < body.size() && body[u] == '"') {
      // A quoted user name (RFC 9051 quoted: \" and \\ escapes).
      for (size_t i = u + 1; i < body.size(); ++i) {
        if (body[i] == '\\') {
          ++i;
        } else if (body[i] == '"') {
          return masked(i + 1);
        }
      }
      return masked(t2.end);  // unbalanced: hide everything after LOGIN
    }
    if (u < body.size() && body[u] == '{') return masked(t2.end);  // a literal
    Token user = next_token(body, t2.end);
    return user.found() ? masked(user.end) : std::string(line);
  }
  return std::string(line);
}

}  // namespace lib::log
