// lib/config.hpp: Courier's configuration files.
//
// - Shell-style `NAME=value` files (imapd, pop3d, esmtpd, courierd, authdaemonrc...),
//   which Courier's start scripts source with /bin/sh: we parse the subset of POSIX
//   shell (XCU 2.2 quoting, 2.6.2 parameter expansion) that such files use, and
//   reject the rest with file:line, so a value means the same to us as to the shell.
// - `NAME<blanks>value` files (authldaprc, authpgsqlrc, authmysqlrc, authsqliterc).
// - List sources (locals, hosteddomains, aliases/, smtpaccess/, ...): one entry a line,
//   a file or a directory read in name order under Courier's makedat rules.
//
// Every reader has hard limits (line length, file size, number of settings) and rejects
// NUL bytes and malformed names with the line number, so a hostile or corrupt file gives
// an admin-readable error instead of surprises.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

struct stat;

namespace lib {

// Hard limits of the configuration readers.
inline constexpr size_t config_max_line_bytes = 64 * 1024;        // one physical line
inline constexpr size_t config_max_file_bytes = 4 * 1024 * 1024;  // a NAME=value file
inline constexpr size_t config_max_value_bytes = 1024 * 1024;     // one value after expansion
inline constexpr size_t config_max_settings = 10000;

// Where a setting came from. line is 0 for settings made by the program (Config::set).
struct ConfigOrigin {
  std::string file;
  int line = 0;
  // 0: set by the file itself; > 0: by a file it sourced with ". FILE" (such settings,
  // e.g. LANG from /etc/environment, are not reported by warn_unknown).
  int include_depth = 0;
};

// An ordered set of NAME -> value settings, each with its origin.
//
// Accessors never fail: a missing setting yields the caller's default, and a malformed
// one yields the default plus a warning ("imapd:12: IMAP_IDLE_TIMEOUT=abc is not a
// number..."), which the program logs once at start-up (see warnings()). The typed
// accessors record warnings in a const object, so a Config must not be read from two
// threads at once without a lock.
class Config {
 public:
  Config() = default;

  // Reads a shell-style file:
  //   # comment                       blank lines
  //   NAME=value NAME2=value          unquoted: backslash escapes the next character
  //   NAME='literal $text'            single quotes: nothing is special, may span lines
  //   NAME="text $VAR ${VAR} \" \$"   double quotes: expansion, \$ \` \" \\ escapes
  //   NAME=${VAR:-default}            also ${VAR-word}, ${VAR:+word}, ${VAR+word}
  //   export NAME / export NAME=value
  //   . /etc/environment              (or "source FILE"): its settings are read in too;
  //                                   a missing file is a warning, as the daemons do not
  //                                   need it; nested at most 8 deep
  //   backslash-newline continues a line (outside single quotes)
  // $VAR refers to a name set earlier in the same file, then to `base`, then to the
  // process environment; an unset variable expands to nothing (with a warning). `base`
  // holds what the sourcing start script defines (e.g. esmtpd's ${sysconfdir}) or a file
  // sourced before this one (imapd before imapd-ssl).
  // Errors (file:line and what is wrong): no NAME=, illegal name, unbalanced quote,
  // command substitution, unquoted shell operators, NUL bytes, limits exceeded.
  // Deviation from sh: no tilde or pathname expansion (values are taken literally) and
  // CRLF line ends are read as LF (with a warning, as the shell would keep the CR).
  static Result<Config> load_file(const std::string& path, const Config* base = nullptr);
  // The same for text already in memory; origin names it in messages (usually a path).
  static Result<Config> parse(std::string_view text, const std::string& origin,
                              const Config* base = nullptr);

  // Reads authldaprc/authpgsqlrc syntax: `NAME<spaces or tabs>value`, `#` comment lines,
  // blank lines, backslash-newline continuation. The value is the rest of the line,
  // taken literally ($(local_part) templates stay as they are); trailing blanks are
  // removed (Courier keeps them, an invisible trap). A name alone has an empty value.
  static Result<Config> load_spaced_file(const std::string& path);
  static Result<Config> parse_spaced(std::string_view text, const std::string& origin);

  // The raw value, or nullopt when the setting is absent.
  std::optional<std::string> get(std::string_view name) const;
  // The value, or def when absent.
  std::string get_string(std::string_view name, std::string_view def) const;
  // A decimal integer (optional sign, surrounding blanks allowed). Absent or empty ->
  // def; malformed or out of range -> def and a warning naming file:line and the setting.
  long long get_int(std::string_view name, long long def) const;
  // As get_int, and a value outside [min_value, max_value] is also a warning and def.
  long long get_int(std::string_view name, long long def, long long min_value,
                    long long max_value) const;
  // 1/0, yes/no, true/false, on/off (any case). Absent or empty -> def; else warning + def.
  bool get_bool(std::string_view name, bool def) const;
  // Courier's time forms: plain seconds "300", or numbers with units s, m, h, d, w that
  // add up: "5m", "2h", "1w2d", "1h 30m". Absent or empty -> def; else warning + def.
  std::chrono::seconds get_duration(std::string_view name, std::chrono::seconds def) const;
  // Words separated by blanks and/or commas; empty words are dropped. Absent -> {}.
  std::vector<std::string> get_list(std::string_view name) const;

  bool has(std::string_view name) const;
  // Adds or replaces a setting; a new name goes last. Its origin is "(set by program)".
  void set(std::string_view name, std::string_view value);
  void set(std::string_view name, std::string_view value, ConfigOrigin origin);
  // Removes a setting; false if it was absent.
  bool erase(std::string_view name);
  // Every setting of `over` replaces or adds to ours, keeping its origin (e.g. imapd-ssl
  // over imapd, as the start scripts source them).
  void merge(const Config& over);
  // Names in the order they were first set.
  std::vector<std::string> names() const;
  size_t size() const { return entries_.size(); }
  // Origin of a setting, or nullopt when absent.
  std::optional<ConfigOrigin> origin(std::string_view name) const;
  // "file:line" of a setting, for messages; "(set by program)" or "(not set)" otherwise.
  std::string where(std::string_view name) const;

  // Adds a warning per setting whose name is not in known_names:
  // "imapd:12: unknown setting IMAP_IDEL_TIMEOUT (ignored); maybe a typo of
  // IMAP_IDLE_TIMEOUT?" when a known name is close (edit distance, case-insensitive).
  void warn_unknown(std::span<const std::string_view> known_names);
  // Warnings so far (parse, typed accessors, warn_unknown), each once, in order.
  const std::vector<std::string>& warnings() const { return warnings_; }
  void add_warning(std::string text) const;

 private:
  struct Entry {
    std::string name;
    std::string value;
    ConfigOrigin origin;
  };
  const Entry* find(std::string_view name) const;
  void warn_malformed(const Entry& e, std::string_view what, std::string_view def_text) const;

  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
  mutable std::vector<std::string> warnings_;
};

// Parses Courier's time forms (see Config::get_duration); nullopt when malformed.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
// Parses 1/0, yes/no, true/false, on/off; nullopt otherwise.
std::optional<bool> parse_bool(std::string_view text);

// Whether name is a legal setting name: [A-Za-z_][A-Za-z0-9_]*.
bool valid_setting_name(std::string_view name);

// One entry of a list source, with where it came from.
struct ListEntry {
  std::string file;
  int line = 0;      // the first line of the entry, when continued
  std::string text;  // trimmed of surrounding blanks; never empty, never a comment
};

struct ListOptions {
  // A line ending in a backslash continues on the next line (the backslash and the
  // newline are removed). Off by default: most list files do not have it.
  bool continuation = false;
  size_t max_line_bytes = 64 * 1024;
  size_t max_file_bytes = 256 * 1024 * 1024;
  size_t max_total_bytes = 1024 * 1024 * 1024;  // sum over a directory's files
  size_t max_files = 100000;                    // files in a directory
};

// Reads a list source: a plain file, or a directory whose files are read in name
// (byte) order, as Courier's makedat does:
// - names starting with "." or containing "~" are skipped;
// - names ending in .rpmsave or .rpmnew, or containing .dpkg-, are an error (left by
//   the package manager: merge them, then remove them);
// - X.dist is ignored if X exists and is newer, otherwise an error (review and merge
//   the new defaults, then remove X.dist or touch X);
// - subdirectories (except version-control CVS and RCS) and special files are an error.
// In each file: blank lines and lines whose first non-blank character is # are skipped;
// entries are trimmed of surrounding blanks; a CR before the LF is dropped. NUL bytes,
// invalid UTF-8 and overlong lines are errors naming file:line. A missing path is an
// error naming it and the errno text.
Result<std::vector<ListEntry>> read_list_source(const std::string& path,
                                                const ListOptions& opts = {});

// Reads a whole regular file, refusing one larger than max_bytes. Errors name the path
// and errno text; a FIFO or device is refused (it could block or never end). If open(2)
// fails and open_errno is given, it receives the errno (to tell a missing file apart).
Result<std::string> read_small_file(const std::string& path, size_t max_bytes,
                                    int* open_errno = nullptr);

class UniqueFd;
// The same, handing back the open file (kept_open) and its fstat (st): a
// caller that keeps it open knows the inode it read cannot be reused, so a
// later stat(2) of the path showing the same device and inode means the
// same file (for state files only ever replaced by rename).
Result<std::string> read_small_file(const std::string& path, size_t max_bytes, int* open_errno,
                                    UniqueFd& kept_open, struct stat& st);

}  // namespace lib
