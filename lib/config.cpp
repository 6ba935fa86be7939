// lib/config.cpp: the Config API (see config.hpp): loading and parsing a settings
// file (the shell-subset parser itself is in lib/config_shell.cpp), the "NAME value"
// format, typed getters, merging and unknown-name warnings, reading small files, and
// list sources, which follow Courier's makedat rules.
#include "lib/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/c_handle.hpp"
#include "lib/config_internal.hpp"
#include "lib/unique_fd.hpp"
#include "lib/utf8.hpp"

namespace lib {

using namespace config_internal;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}


}  // namespace

// Text from a file, made safe and short for an error message.
std::string config_internal::shown(std::string_view s, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t config_internal::invalid_utf8_at(std::string_view s) { return utf8::first_invalid(s); }

namespace {

ErrorKind kind_for_errno(int err) {
  switch (err) {
    case EIO:
    case ENFILE:
    case EMFILE:
    case ENOMEM:
    case EAGAIN:
    case EINTR:
    case ETIMEDOUT:
    case ESTALE:
      return ErrorKind::temporary;
    default:
      return ErrorKind::permanent;
  }
}

std::string errno_hint(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return " (check the owner and mode of the file and of its directories)";
    case ENOENT:
      return " (check the path, or create the file)";
    default:
      return "";
  }
}

Error file_error(int err, const std::string& what) {
  return Error{kind_for_errno(err), what + ": " + errno_text(err) + errno_hint(err)};
}

}  // namespace

// Physical line limits and NUL bytes, checked once before parsing so that every later
// step can assume sane input. Reports the first problem by line number.
Result<void> config_internal::check_text(std::string_view text, const std::string& origin,
                        size_t max_line_bytes) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\n') {
      if (i - line_start > max_line_bytes)
        return permanent_error(origin + ":" + std::to_string(line) + ": line is " +
                               std::to_string(i - line_start) + " bytes long, more than the " +
                               std::to_string(max_line_bytes) +
                               "-byte limit; is this a text file?");
      ++line;
      line_start = i + 1;
    } else if (text[i] == '\0') {
      return permanent_error(origin + ":" + std::to_string(line) +
                             ": contains a NUL byte; is this a binary file? Save it as "
                             "plain text");
    }
  }
  return {};
}

// CRLF -> LF; returns whether anything changed.
bool config_internal::strip_crlf(std::string& text) {
  if (text.find("\r\n") == std::string::npos) return false;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out += text[i];
  }
  text.swap(out);
  return true;
}

std::string config_internal::at(const std::string& origin, int line) {
  return origin + ":" + std::to_string(line);
}

namespace {

// Edit distance with adjacent transpositions (optimal string alignment), ASCII
// case-insensitive: "IMAP_IDEL_TIMEOUT" is one edit from "IMAP_IDLE_TIMEOUT".
size_t edit_distance(std::string_view a, std::string_view b) {
  auto lc = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  const size_t n = a.size(), m = b.size();
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = lc(a[i - 1]) == lc(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lc(a[i - 1]) == lc(b[j - 2]) && lc(a[i - 2]) == lc(b[j - 1]))
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[m];
}

bool matches_known(std::string_view name, std::string_view known) {
  if (!known.empty() && known.back() == '*') {
    known.remove_suffix(1);
    return name.substr(0, known.size()) == known;
  }
  return name == known;
}

Result<void> parse_list_text(std::string_view text, const std::string& file,
                             const ListOptions& opts, std::vector<ListEntry>& out) {
  int line_no = 0;
  size_t pos = 0;
  std::string entry;
  int entry_line = 0;
  bool continuing = false;
  auto finish = [&]() -> Result<void> {
    std::string_view t = trim(entry);
    if (!t.empty()) {
      size_t bad = invalid_utf8_at(t);
      if (bad != std::string_view::npos)
        return permanent_error(at(file, entry_line) + ": invalid UTF-8 (byte 0x" +
                               shown(t.substr(bad, 1)).substr(2) + " after '" +
                               shown(t.substr(0, bad), 30) + "'); save the file as UTF-8");
      out.push_back(ListEntry{file, entry_line, std::string(t)});
    }
    entry.clear();
    continuing = false;
    return {};
  };
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > opts.max_line_bytes)
      return permanent_error(at(file, line_no) + ": line is " + std::to_string(line.size()) +
                             " bytes long, more than the " +
                             std::to_string(opts.max_line_bytes) + "-byte limit");
    if (line.find('\0') != std::string_view::npos)
      return permanent_error(at(file, line_no) +
                             ": contains a NUL byte; is this a binary file?");
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = trim(line);
    if (!continuing) {
      if (t.empty() || t.front() == '#') continue;
      entry_line = line_no;
    }
    if (opts.continuation && !t.empty() && t.back() == '\\') {
      // Keep the blanks before the backslash: "a \<nl>b" is "a b".
      std::string_view body = line.substr(0, line.find_last_of('\\'));
      entry.append(body);
      continuing = true;
      if (entry.size() > opts.max_line_bytes * 16)
        return permanent_error(at(file, entry_line) + ": continued entry is longer than " +
                               std::to_string(opts.max_line_bytes * 16) + " bytes");
      continue;
    }
    entry.append(line);
    auto r = finish();
    if (!r) return r;
  }
  if (continuing) {
    auto r = finish();
    if (!r) return r;
  }
  return {};
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool newer(const struct stat& a, const struct stat& b) {
  if (a.st_mtim.tv_sec != b.st_mtim.tv_sec) return a.st_mtim.tv_sec > b.st_mtim.tv_sec;
  return a.st_mtim.tv_nsec > b.st_mtim.tv_nsec;
}

}  // namespace

// ------------------------------------------------------------------------------------

bool valid_setting_name(std::string_view name) {
  if (name.empty() || !is_name_start(name.front())) return false;
  return std::all_of(name.begin(), name.end(), is_name_char);
}

Result<std::string> read_small_file(const std::string& path, size_t max_bytes,
                                    int* open_errno) {
  UniqueFd fd;
  struct stat st;
  return read_small_file(path, max_bytes, open_errno, fd, st);
}

Result<std::string> read_small_file(const std::string& path, size_t max_bytes, int* open_errno,
                                    UniqueFd& fd, struct stat& st) {
  // O_NONBLOCK: opening a FIFO must not hang; we refuse non-regular files below.
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (raw < 0) {
    int err = errno;
    if (open_errno) *open_errno = err;
    return file_error(err, "cannot open " + path);
  }
  fd = UniqueFd(raw);
  if (::fstat(fd.get(), &st) != 0) return file_error(errno, "cannot stat " + path);
  if (S_ISDIR(st.st_mode))
    return permanent_error(path + " is a directory, expected a file");
  if (!S_ISREG(st.st_mode))
    return permanent_error(path + " is not a regular file (a FIFO, socket or device)");
  auto too_big = [&] {
    return permanent_error(path + " is larger than the limit of " + std::to_string(max_bytes) +
                           " bytes; is this the right file?");
  };
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) return too_big();
  std::string text;
  text.resize(static_cast<size_t>(st.st_size) + 1);
  size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      // The file grew since fstat; keep reading, within the limit.
      if (used > max_bytes) return too_big();
      text.resize(std::min(text.size() * 2 + 4096, max_bytes + 1));
    }
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return file_error(errno, "cannot read " + path);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > max_bytes) return too_big();
  text.resize(used);
  return text;
}

// ---- Config ------------------------------------------------------------------------

Result<Config> Config::parse(std::string_view text, const std::string& origin,
                             const Config* base) {
  if (text.size() > config_max_file_bytes)
    return permanent_error(origin + " is larger than the limit of " +
                           std::to_string(config_max_file_bytes) +
                           " bytes; is this the right file?");
  auto ok = check_text(text, origin, config_max_line_bytes);
  if (!ok) return ok.error();
  std::string copy(text);
  Config cfg;
  if (strip_crlf(copy))
    cfg.add_warning(origin +
                    ": has DOS (CRLF) line endings; the start scripts that source it with "
                    "/bin/sh will see stray CR characters. Convert it with dos2unix");
  auto r = parse_shell(copy, origin, base, cfg);
  if (!r) return r.error();
  return cfg;
}

Result<Config> Config::load_file(const std::string& path, const Config* base) {
  auto text = read_small_file(path, config_max_file_bytes);
  if (!text) return text.error();
  return parse(text.value(), path, base);
}

Result<Config> Config::parse_spaced(std::string_view text, const std::string& origin) {
  if (text.size() > config_max_file_bytes)
    return permanent_error(origin + " is larger than the limit of " +
                           std::to_string(config_max_file_bytes) +
                           " bytes; is this the right file?");
  auto ok = check_text(text, origin, config_max_line_bytes);
  if (!ok) return ok.error();
  Config cfg;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view first = text.substr(pos, end - pos);
    pos = end + 1;
    if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
    std::string_view t = trim(first);
    if (t.empty() || t.front() == '#') continue;  // a comment is never continued
    const int start_line = line_no;
    std::string logical(first);
    while (!logical.empty() && logical.back() == '\\' && pos < text.size()) {
      logical.pop_back();
      ++line_no;
      nl = text.find('\n', pos);
      end = nl == std::string_view::npos ? text.size() : nl;
      std::string_view next = text.substr(pos, end - pos);
      pos = end + 1;
      if (!next.empty() && next.back() == '\r') next.remove_suffix(1);
      logical.append(next);
      if (logical.size() > config_max_value_bytes)
        return permanent_error(at(origin, start_line) + ": continued line is longer than " +
                               std::to_string(config_max_value_bytes) + " bytes");
    }
    std::string_view l = trim(logical);
    size_t name_end = 0;
    while (name_end < l.size() && !is_blank(l[name_end])) ++name_end;
    std::string_view name = l.substr(0, name_end);
    std::string_view value = trim(l.substr(name_end));
    if (!valid_setting_name(name)) {
      size_t eq = name.find('=');
      if (eq != std::string_view::npos && eq > 0 && valid_setting_name(name.substr(0, eq)))
        return permanent_error(at(origin, start_line) + ": '" + shown(name) +
                               "': this file uses NAME<space>value, not NAME=value; write " +
                               shown(name.substr(0, eq)) + " " + shown(name.substr(eq + 1)));
      if (invalid_utf8_at(name) != std::string_view::npos)
        return permanent_error(at(origin, start_line) + ": setting name '" + shown(name) +
                               "' is not valid UTF-8");
      return permanent_error(at(origin, start_line) + ": illegal setting name '" +
                             shown(name) +
                             "': a name is ASCII letters, digits and _, and does not start "
                             "with a digit");
    }
    if (!cfg.has(name) && cfg.size() >= config_max_settings)
      return permanent_error(at(origin, start_line) + ": more than " +
                             std::to_string(config_max_settings) +
                             " settings; is this the right file?");
    cfg.set(name, value, ConfigOrigin{origin, start_line});
  }
  return cfg;
}

Result<Config> Config::load_spaced_file(const std::string& path) {
  auto text = read_small_file(path, config_max_file_bytes);
  if (!text) return text.error();
  return parse_spaced(text.value(), path);
}

const Config::Entry* Config::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::optional<std::string> Config::get(std::string_view name) const {
  if (const Entry* e = find(name)) return e->value;
  return std::nullopt;
}

std::string Config::get_string(std::string_view name, std::string_view def) const {
  if (const Entry* e = find(name)) return e->value;
  return std::string(def);
}

void Config::add_warning(std::string text) const {
  if (std::find(warnings_.begin(), warnings_.end(), text) == warnings_.end())
    warnings_.push_back(std::move(text));
}

void Config::warn_malformed(const Entry& e, std::string_view what,
                            std::string_view def_text) const {
  add_warning(where(e.name) + ": " + e.name + "=\"" + shown(e.value) + "\" " +
              std::string(what) + "; using the default " + std::string(def_text));
}

long long Config::get_int(std::string_view name, long long def) const {
  const Entry* e = find(name);
  if (!e) return def;
  std::string_view t = trim(e->value);
  if (t.empty()) return def;
  std::string_view digits = t;
  if (digits.front() == '+') digits.remove_prefix(1);
  long long v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) {
    warn_malformed(*e, "is out of range", std::to_string(def));
    return def;
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty() ||
      (t.front() == '+' && digits.front() == '-')) {
    warn_malformed(*e, "is not a whole number", std::to_string(def));
    return def;
  }
  return v;
}

long long Config::get_int(std::string_view name, long long def, long long min_value,
                          long long max_value) const {
  long long v = get_int(name, def);
  if ((v < min_value || v > max_value) && has(name)) {
    warn_malformed(*find(name),
                   "is outside the range " + std::to_string(min_value) + " to " +
                       std::to_string(max_value),
                   std::to_string(def));
    return def;
  }
  return v;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string t = lower(trim(text));
  if (t == "1" || t == "yes" || t == "true" || t == "on") return true;
  if (t == "0" || t == "no" || t == "false" || t == "off") return false;
  return std::nullopt;
}

bool Config::get_bool(std::string_view name, bool def) const {
  const Entry* e = find(name);
  if (!e || trim(e->value).empty()) return def;
  if (auto b = parse_bool(e->value)) return *b;
  warn_malformed(*e, "is not a yes/no value (1/0, yes/no, true/false, on/off)",
                 def ? "yes" : "no");
  return def;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  std::string_view t = trim(text);
  if (t.empty()) return std::nullopt;
  long long total = 0;
  size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && is_blank(t[i])) ++i;
    if (i == t.size()) break;
    if (!(t[i] >= '0' && t[i] <= '9')) return std::nullopt;
    long long n = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      if (__builtin_mul_overflow(n, 10LL, &n) || __builtin_add_overflow(n, t[i] - '0', &n))
        return std::nullopt;
      ++i;
    }
    while (i < t.size() && is_blank(t[i])) ++i;
    long long unit = 1;
    if (i < t.size() && !(t[i] >= '0' && t[i] <= '9')) {
      switch (std::tolower(static_cast<unsigned char>(t[i]))) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return std::nullopt;
      }
      ++i;
    }
    if (__builtin_mul_overflow(n, unit, &n) || __builtin_add_overflow(total, n, &total))
      return std::nullopt;
  }
  return std::chrono::seconds(total);
}

std::chrono::seconds Config::get_duration(std::string_view name,
                                          std::chrono::seconds def) const {
  const Entry* e = find(name);
  if (!e || trim(e->value).empty()) return def;
  if (auto d = parse_duration(e->value)) return *d;
  warn_malformed(*e, "is not a time (seconds, or numbers with units s m h d w: 5m, 1w2d)",
                 std::to_string(def.count()) + "s");
  return def;
}

std::vector<std::string> Config::get_list(std::string_view name) const {
  std::vector<std::string> out;
  const Entry* e = find(name);
  if (!e) return out;
  std::string word;
  for (char c : e->value) {
    if (is_blank(c) || c == ',' || c == '\n' || c == '\r') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

bool Config::has(std::string_view name) const { return find(name) != nullptr; }

void Config::set(std::string_view name, std::string_view value) {
  set(name, value, ConfigOrigin{});
}

void Config::set(std::string_view name, std::string_view value, ConfigOrigin origin) {
  auto it = index_.find(name);
  if (it != index_.end()) {
    Entry& e = entries_[it->second];
    e.value.assign(value);
    e.origin = std::move(origin);
    return;
  }
  index_.emplace(std::string(name), entries_.size());
  entries_.push_back(Entry{std::string(name), std::string(value), std::move(origin)});
}

bool Config::erase(std::string_view name) {
  auto it = index_.find(name);
  if (it == index_.end()) return false;
  size_t idx = it->second;
  index_.erase(it);
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(idx));
  for (auto& [n, i] : index_)
    if (i > idx) --i;
  return true;
}

void Config::merge(const Config& over) {
  for (const Entry& e : over.entries_) set(e.name, e.value, e.origin);
  for (const std::string& w : over.warnings_) add_warning(w);
}

std::vector<std::string> Config::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back(e.name);
  return out;
}

std::optional<ConfigOrigin> Config::origin(std::string_view name) const {
  if (const Entry* e = find(name)) return e->origin;
  return std::nullopt;
}

std::string Config::where(std::string_view name) const {
  const Entry* e = find(name);
  if (!e) return "(not set)";
  if (e->origin.file.empty()) return "(set by program)";
  if (e->origin.line <= 0) return e->origin.file;
  return at(e->origin.file, e->origin.line);
}

void Config::warn_unknown(std::span<const std::string_view> known_names) {
  for (const Entry& e : entries_) {
    if (e.origin.include_depth > 0) continue;
    bool known = std::any_of(known_names.begin(), known_names.end(),
                             [&](std::string_view k) { return matches_known(e.name, k); });
    if (known) continue;
    std::string text = where(e.name) + ": unknown setting " + e.name + " (ignored)";
    // The nearest known name, if near enough to be a plausible typo.
    if (e.name.size() <= 256) {
      size_t best = SIZE_MAX;
      std::string_view best_name;
      for (std::string_view k : known_names) {
        std::string_view plain = k;
        if (!plain.empty() && plain.back() == '*') continue;
        size_t d = edit_distance(e.name, plain);
        if (d < best) {
          best = d;
          best_name = plain;
        }
      }
      size_t limit = e.name.size() <= 4 ? 1 : e.name.size() <= 10 ? 2 : 3;
      if (!best_name.empty() && best <= limit)
        text += "; maybe a typo of " + std::string(best_name) + "?";
    }
    add_warning(std::move(text));
  }
}

// ---- list sources ------------------------------------------------------------------

Result<std::vector<ListEntry>> read_list_source(const std::string& path,
                                                const ListOptions& opts) {
  std::vector<ListEntry> out;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return file_error(errno, "cannot read " + path);
  if (!S_ISDIR(st.st_mode)) {
    auto text = read_small_file(path, opts.max_file_bytes);
    if (!text) return text.error();
    auto r = parse_list_text(text.value(), path, opts, out);
    if (!r) return r.error();
    return out;
  }

  DirStream dir(::opendir(path.c_str()));
  if (!dir) return file_error(errno, "cannot read the directory " + path);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* d = ::readdir(dir.get());
    if (!d) {
      if (errno != 0) return file_error(errno, "cannot read the directory " + path);
      break;
    }
    std::string name = d->d_name;
    if (name.empty() || name.front() == '.' || name.find('~') != std::string::npos) continue;
    names.push_back(std::move(name));
    if (names.size() > opts.max_files)
      return permanent_error(path + " has more than " + std::to_string(opts.max_files) +
                             " files; is this the right directory?");
  }
  dir.reset();
  std::sort(names.begin(), names.end());
  const std::set<std::string> present(names.begin(), names.end());

  size_t total = 0;
  for (const std::string& name : names) {
    const std::string file = path + "/" + name;
    if (ends_with(name, ".rpmsave") || ends_with(name, ".rpmnew") ||
        name.find(".dpkg-") != std::string::npos)
      return permanent_error(file +
                             " was left by the package manager: merge what you need from it "
                             "into the other files of " + path + ", then remove it");
    if (ends_with(name, ".dist")) {
      std::string base = name.substr(0, name.size() - 5);
      struct stat dist_st, base_st;
      if (present.count(base) && ::stat(file.c_str(), &dist_st) == 0 &&
          ::stat((path + "/" + base).c_str(), &base_st) == 0 && newer(base_st, dist_st))
        continue;
      return permanent_error(file + " is newer than " + path + "/" + base +
                             " (or " + base +
                             " is missing): review the new defaults in it, merge them into " +
                             base + ", then remove " + name + " or touch " + base);
    }
    struct stat fst;
    if (::stat(file.c_str(), &fst) != 0) return file_error(errno, "cannot read " + file);
    if (S_ISDIR(fst.st_mode) && (name == "CVS" || name == "RCS")) continue;  // as makedat
    if (S_ISDIR(fst.st_mode))
      return permanent_error(file + " is a directory; " + path +
                             " may only contain files (move or remove it)");
    if (!S_ISREG(fst.st_mode))
      return permanent_error(file + " is not a regular file (a FIFO, socket or device); " +
                             "remove it from " + path);
    auto text = read_small_file(file, opts.max_file_bytes);
    if (!text) return text.error();
    total += text.value().size();
    if (total > opts.max_total_bytes)
      return permanent_error(path + " holds more than " + std::to_string(opts.max_total_bytes) +
                             " bytes; is this the right directory?");
    auto r = parse_list_text(text.value(), file, opts, out);
    if (!r) return r.error();
  }
  return out;
}

}  // namespace lib
