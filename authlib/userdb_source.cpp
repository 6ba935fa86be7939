// authlib/userdb_source.cpp: see userdb_source.hpp.
#include "authlib/userdb_source.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

#include "lib/atomic_file.hpp"
#include "lib/privileges.hpp"
#include "lib/c_handle.hpp"
#include "lib/config.hpp"

namespace authlib::userdb {
namespace {

bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Text from a file, made safe and short for an error message: control
// characters become \xNN, and it is cut at 80 bytes.
std::string quoted(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  size_t shown = 0;
  for (unsigned char c : s) {
    if (shown >= 80) {
      out += "...";
      break;
    }
    if (is_control(c) || c == '"' || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
    ++shown;
  }
  out += '"';
  return out;
}

void wipe(std::string& s) noexcept {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// A numeric uid or gid as Courier stores it: 1 to 10 decimal digits, below
// (uid_t)-1, which means "no id" to the kernel.
bool valid_id(std::string_view s) noexcept {
  if (s.empty() || s.size() > 10) return false;
  unsigned long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v < 4294967295ULL;
}

bool has_upper(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Collects parse errors, keeping the first max_errors_reported texts.
struct Errors {
  std::vector<std::string> shown;
  size_t count = 0;

  void add(std::string text) {
    ++count;
    if (shown.size() < max_errors_reported) shown.push_back(std::move(text));
  }
  bool empty() const noexcept { return count == 0; }
  lib::Error error() const {
    std::string msg;
    for (size_t i = 0; i < shown.size(); ++i) {
      if (i) msg += '\n';
      msg += shown[i];
    }
    if (count > shown.size())
      msg += "\n(and " + std::to_string(count - shown.size()) + " more errors)";
    return lib::permanent_error(std::move(msg));
  }
};

// Parses one line (without its newline) into line; returns "" or what is wrong.
std::string parse_line(std::string_view raw, Line& line) {
  line.text = std::string(raw);
  size_t first = raw.find_first_not_of(" \t");
  if (first == std::string_view::npos || raw[first] == '#') {
    line.kind = LineKind::other;
    return {};
  }
  size_t tab = raw.find('\t');
  if (tab == std::string_view::npos)
    return "no tab after the address: a record is address<TAB>field=value|field=value...";
  if (raw.find('\t', tab + 1) != std::string_view::npos)
    return "more than one tab: exactly one tab separates the address from its fields, "
           "and the fields are separated by |";
  std::string_view address = raw.substr(0, tab);
  std::string_view rest = raw.substr(tab + 1);
  if (auto p = address_problem(address); !p.empty()) return p;
  line.address = std::string(address);

  if (is_reverse_key(address)) {
    if (rest.empty())
      return "the reverse record " + std::string(address) +
             " names no account: write <uid>=<TAB>account";
    if (auto p = address_problem(rest); !p.empty()) return "in the reverse record's account name: " + p;
    if (is_reverse_key(rest)) return "a reverse record must name an account, not another uid";
    line.kind = LineKind::reverse;
    line.reverse_name = std::string(rest);
    return {};
  }

  line.kind = LineKind::account;
  line.fields.clear();
  if (rest.empty()) return {};  // legal; the caller warns that home/uid/gid are missing
  size_t pos = 0;
  size_t index = 0;
  while (pos <= rest.size()) {
    size_t bar = rest.find('|', pos);
    std::string_view piece = rest.substr(pos, bar == std::string_view::npos ? std::string_view::npos : bar - pos);
    ++index;
    if (piece.empty())
      return "field " + std::to_string(index) +
             " is empty (two | in a row, or a | at the start or the end)";
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      // Quote the text only if it looks like a field name: it may be a
      // password hash that lost its "name=".
      std::string what = valid_field_name(piece) ? "field " + quoted(piece)
                                                 : "field " + std::to_string(index);
      return what + " has no \"=\": write name=value (name= for an empty value)";
    }
    std::string_view name = piece.substr(0, eq), value = piece.substr(eq + 1);
    if (auto p = field_problem(name, value); !p.empty()) return p;
    if (find_field(line.fields, name))
      return "the field " + std::string(name) + " appears twice: keep one";
    if (line.fields.size() >= max_fields_per_record)
      return "more than " + std::to_string(max_fields_per_record) + " fields in one record";
    line.fields.push_back({std::string(name), std::string(value)});
    if (bar == std::string_view::npos) break;
    pos = bar + 1;
  }
  return {};
}

// The warnings a parsed account line deserves.
void warn_about(const Line& line, const std::string& where, std::vector<std::string>& warnings) {
  if (line.kind != LineKind::account) return;
  if (has_upper(line.address))
    warnings.push_back(where + ": " + quoted(line.address) +
                       " has upper-case letters: a login typed in lower case will not find it "
                       "(write addresses in lower case, as Courier expects)");
  std::string missing;
  for (const char* required : {"home", "uid", "gid"}) {
    if (!find_field(line.fields, required)) {
      if (!missing.empty()) missing += ", ";
      missing += required;
      missing += '=';
    }
  }
  if (!missing.empty())
    warnings.push_back(where + ": " + quoted(line.address) + " has no " + missing +
                       ": the account cannot be used until home, uid and gid are set");
}

// Parses text into lines, adding errors "name:line: ..." and warnings.
void parse_text(std::string_view text, const std::string& name, std::vector<Line>& lines,
                Errors& errors, std::vector<std::string>& warnings) {
  size_t pos = 0;
  int number = 0;
  bool warned_cr = false;
  std::set<std::string, std::less<>> seen;
  while (pos < text.size()) {
    ++number;
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view raw = text.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    const std::string where = name + ":" + std::to_string(number);

    if (raw.size() > max_line_bytes) {
      errors.add(where + ": the line is longer than " + std::to_string(max_line_bytes) +
                 " bytes; is this a userdb file?");
      continue;
    }
    if (raw.find('\0') != std::string_view::npos) {
      errors.add(where + ": the line contains a NUL byte; is this a userdb file?");
      continue;
    }
    if (!raw.empty() && raw.back() == '\r') {
      raw.remove_suffix(1);
      if (!warned_cr) {
        warnings.push_back(where + ": DOS line ends (CR LF): read as LF; editing the file with the "
                                   "userdb command rewrites them as LF");
        warned_cr = true;
      }
    }
    Line line;
    line.number = number;
    if (auto problem = parse_line(raw, line); !problem.empty()) {
      errors.add(where + ": " + problem);
      continue;
    }
    if (line.kind != LineKind::other) {
      if (!seen.insert(line.address).second) {
        errors.add(where + ": " + quoted(line.address) +
                   " is defined twice in this file; an address may appear only once "
                   "(makeuserdb could not tell which to use): remove one");
        continue;
      }
      warn_about(line, where, warnings);
    }
    lines.push_back(std::move(line));
  }
}

lib::Error file_error(int err, const std::string& what) {
  std::string msg = what + ": " + lib::errno_text(err);
  if (err == EACCES || err == EPERM) {
    msg += " (run this as root, or as the owner of the userdb files)";
    return lib::permanent_error(std::move(msg));
  }
  if (err == ENOENT || err == ENOTDIR) return lib::permanent_error(std::move(msg));
  return lib::temporary_error(std::move(msg));
}

struct SourceFileRef {
  std::string path;      // as opened: root + "/" + relative
  std::string relative;  // "" for a plain-file source, else "dir/file"
};

bool newer(const struct stat& a, const struct stat& b) noexcept {
  if (a.st_mtim.tv_sec != b.st_mtim.tv_sec) return a.st_mtim.tv_sec > b.st_mtim.tv_sec;
  return a.st_mtim.tv_nsec > b.st_mtim.tv_nsec;
}

// Lists the files of a userdb directory, recursively, in name order, under
// Courier's makedat rules (see read_source).
lib::Result<void> walk(const std::string& dir, const std::string& relative, int depth,
                       std::vector<SourceFileRef>& out) {
  if (depth > max_directory_depth)
    return lib::permanent_error(dir + " is nested more than " + std::to_string(max_directory_depth) +
                                " directories deep (a symbolic link loop?)");
  lib::DirStream d(::opendir(dir.c_str()));
  if (!d) return file_error(errno, "cannot read the directory " + dir);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d.get());
    if (!e) {
      if (errno != 0) return file_error(errno, "cannot read the directory " + dir);
      break;
    }
    std::string name = e->d_name;
    if (name.empty() || name.front() == '.' || name.find('~') != std::string::npos) continue;
    names.push_back(std::move(name));
    if (names.size() + out.size() > max_files)
      return lib::permanent_error(dir + ": more than " + std::to_string(max_files) +
                                  " files in the userdb directory; is this the right directory?");
  }
  d.reset();
  std::sort(names.begin(), names.end());
  const std::set<std::string> present(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    const std::string rel = relative.empty() ? name : relative + "/" + name;
    if (ends_with(name, ".rpmsave") || ends_with(name, ".rpmnew") ||
        name.find(".dpkg-") != std::string::npos)
      return lib::permanent_error(path + " was left by the package manager: merge what you need from it "
                                         "into the other userdb files, then remove it");
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return file_error(errno, "cannot read " + path);
    if (ends_with(name, ".dist")) {
      std::string base = name.substr(0, name.size() - 5);
      struct stat base_st;
      if (present.count(base) && ::stat((dir + "/" + base).c_str(), &base_st) == 0 && newer(base_st, st))
        continue;
      return lib::permanent_error(path + " is newer than " + dir + "/" + base + " (or " + base +
                                  " is missing): review it, merge it into " + base + ", then remove " +
                                  name + " or touch " + base);
    }
    if (S_ISDIR(st.st_mode)) {
      auto r = walk(path, rel, depth + 1, out);
      if (!r) return r;
      continue;
    }
    if (!S_ISREG(st.st_mode))
      return lib::permanent_error(path + " is not a regular file (a FIFO, socket or device): remove it "
                                         "from the userdb directory");
    out.push_back({path, rel});
  }
  return {};
}

// termios state for read_secret_line's signal handler.
struct termios saved_termios;
volatile sig_atomic_t termios_saved = 0;

extern "C" void restore_terminal_and_die(int sig) {
  if (termios_saved) ::tcsetattr(0, TCSANOW, &saved_termios);
  ssize_t ignored = ::write(2, "\n", 1);
  (void)ignored;
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// One line from fd 0 into out; returns false at end of input with nothing read.
lib::Result<bool> read_line_fd0(std::string& out) {
  out.clear();
  bool any = false;
  for (;;) {
    char c;
    ssize_t n = ::read(0, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::permanent_error("cannot read standard input: " + lib::errno_text(errno));
    }
    if (n == 0) break;
    any = true;
    if (c == '\n') break;
    if (c == '\0') {
      wipe(out);
      return lib::permanent_error("the input contains a NUL byte");
    }
    if (out.size() >= max_password_bytes) {
      wipe(out);
      return lib::permanent_error("the input line is longer than " + std::to_string(max_password_bytes) +
                                  " bytes");
    }
    out += c;
  }
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return any;
}

void say(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(2, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

// ---------------------------------------------------------------------------

Paths paths_for(std::string_view source) {
  while (source.size() > 1 && source.back() == '/') source.remove_suffix(1);
  return Paths{std::string(source)};
}

bool is_shadow_field(std::string_view name) noexcept { return ends_with(name, "pw"); }

bool valid_field_name(std::string_view name) noexcept {
  if (name.empty() || name == "_") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool is_reverse_key(std::string_view address) noexcept {
  if (address.size() < 2 || address.back() != '=') return false;
  return valid_id(address.substr(0, address.size() - 1));
}

std::string address_problem(std::string_view address) {
  if (address.empty()) return "the address is empty (a line may not start with a tab)";
  if (address.size() > max_address_bytes)
    return "the address is longer than " + std::to_string(max_address_bytes) + " bytes";
  for (unsigned char c : address) {
    if (is_control(c)) return "the address " + quoted(address) + " contains a control character";
    if (c == '|') return "the address " + quoted(address) + " contains \"|\"";
  }
  if (address.front() == ' ' || address.back() == ' ')
    return "the address " + quoted(address) +
           " begins or ends with a space, which would be part of the login name";
  if (address.back() == '=' && !is_reverse_key(address))
    return "the address " + quoted(address) +
           " ends in \"=\", which marks a reverse record: that must be a numeric uid, e.g. 5000=";
  return {};
}

std::string field_problem(std::string_view name, std::string_view value) {
  if (name.empty()) return "a field has an empty name (\"=value\")";
  if (name == "_") return "the field name \"_\" is reserved: makeuserdb adds it to record the source file";
  if (!valid_field_name(name))
    return "the field name " + quoted(name) + " may contain only letters, digits, \"_\", \".\" and \"-\"";
  for (unsigned char c : value) {
    if (c == '|') return "the value of " + std::string(name) + " contains \"|\", which separates fields";
    if (is_control(c)) return "the value of " + std::string(name) + " contains a control character";
  }
  if ((name == "uid" || name == "gid") && !valid_id(value))
    return std::string(name) + " " + quoted(value) + " is not a numeric " + (name == "uid" ? "user" : "group") + " id (write e.g. " +
           std::string(name) + "=5000)";
  if (name == "home" && (value.empty() || value.front() != '/'))
    return "home must be an absolute path (home=/var/mail/example/john)";
  return {};
}

std::optional<std::string_view> find_field(const Fields& fields, std::string_view name) {
  for (const Field& f : fields)
    if (f.name == name) return std::string_view(f.value);
  return std::nullopt;
}

std::string join_fields(const Fields& fields) {
  std::string out;
  for (const Field& f : fields) {
    if (!out.empty()) out += '|';
    out += f.name;
    out += '=';
    out += f.value;
  }
  return out;
}

Fields split_fields(std::string_view value) {
  Fields out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t bar = value.find('|', pos);
    std::string_view piece =
        value.substr(pos, bar == std::string_view::npos ? std::string_view::npos : bar - pos);
    if (!piece.empty()) {
      size_t eq = piece.find('=');
      if (eq == std::string_view::npos)
        out.push_back({std::string(piece), {}});
      else
        out.push_back({std::string(piece.substr(0, eq)), std::string(piece.substr(eq + 1))});
    }
    if (bar == std::string_view::npos) break;
    pos = bar + 1;
  }
  return out;
}

std::string source_name_problem(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return "the name " + quoted(name) + " is not a file name";
  if (name.front() == '.') return quoted(name) + " starts with \".\": makeuserdb skips such files";
  if (name.find('~') != std::string_view::npos) return quoted(name) + " contains \"~\": makeuserdb skips such files";
  if (ends_with(name, ".rpmsave") || ends_with(name, ".rpmnew") || name.find(".dpkg-") != std::string_view::npos)
    return quoted(name) + " looks like a package manager's leftover, which makeuserdb refuses";
  if (ends_with(name, ".dist")) return quoted(name) + " ends in .dist, which makeuserdb treats as a template";
  for (unsigned char c : name)
    if (is_control(c)) return "the name " + quoted(name) + " contains a control character";
  return {};
}

// ---------------------------------------------------------------------------
// SourceFile

lib::Result<SourceFile> SourceFile::parse(std::string_view text, const std::string& name) {
  SourceFile f;
  f.name_ = name;
  Errors errors;
  parse_text(text, name, f.lines_, errors, f.warnings_);
  if (!errors.empty()) return errors.error();
  return f;
}

lib::Result<SourceFile> SourceFile::load(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    SourceFile f;
    f.name_ = path;
    return f;
  }
  auto text = lib::read_small_file(path, max_file_bytes);
  if (!text) return text.error();
  return parse(text.value(), path);
}

std::string SourceFile::serialize() const {
  std::string out;
  for (const Line& line : lines_) {
    if (!line.changed) {
      out += line.text;
    } else if (line.kind == LineKind::reverse) {
      out += line.address + "\t" + line.reverse_name;
    } else {
      out += line.address + "\t" + join_fields(line.fields);
    }
    out += '\n';
  }
  return out;
}

const Line* SourceFile::find(std::string_view address) const {
  for (const Line& line : lines_)
    if (line.kind != LineKind::other && line.address == address) return &line;
  return nullptr;
}

Line* SourceFile::find_mutable(std::string_view address) {
  return const_cast<Line*>(static_cast<const SourceFile*>(this)->find(address));
}

std::vector<std::string> SourceFile::addresses() const {
  std::vector<std::string> out;
  for (const Line& line : lines_)
    if (line.kind != LineKind::other) out.push_back(line.address);
  return out;
}

lib::Result<void> SourceFile::set(std::string_view address, const Fields& fields) {
  if (is_reverse_key(address))
    return lib::permanent_error(std::string(address) +
                                " is a reverse (uid) record: its value is an account name, not fields");
  if (auto p = address_problem(address); !p.empty()) return lib::permanent_error(p);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (auto p = field_problem(fields[i].name, fields[i].value); !p.empty()) return lib::permanent_error(p);
    for (size_t j = 0; j < i; ++j)
      if (fields[j].name == fields[i].name)
        return lib::permanent_error("the field " + fields[i].name + " is given twice");
  }
  Line* line = find_mutable(address);
  if (!line) {
    if (fields.size() > max_fields_per_record)
      return lib::permanent_error("more than " + std::to_string(max_fields_per_record) + " fields");
    Line fresh;
    fresh.kind = LineKind::account;
    fresh.address = std::string(address);
    fresh.fields = fields;
    fresh.changed = true;
    lines_.push_back(std::move(fresh));
    return {};
  }
  Fields updated = line->fields;
  for (const Field& f : fields) {
    auto it = std::find_if(updated.begin(), updated.end(), [&](const Field& g) { return g.name == f.name; });
    if (it != updated.end())
      it->value = f.value;
    else
      updated.push_back(f);
  }
  if (updated.size() > max_fields_per_record)
    return lib::permanent_error("more than " + std::to_string(max_fields_per_record) + " fields");
  line->fields = std::move(updated);
  line->changed = true;
  return {};
}

lib::Result<void> SourceFile::set_reverse(std::string_view uid_key, std::string_view account) {
  if (!is_reverse_key(uid_key))
    return lib::permanent_error(quoted(uid_key) + " is not a reverse record key: write the uid and \"=\", e.g. 5000=");
  if (auto p = address_problem(account); !p.empty()) return lib::permanent_error("the account name: " + p);
  if (is_reverse_key(account)) return lib::permanent_error("a reverse record must name an account, not a uid");
  Line* line = find_mutable(uid_key);
  if (!line) {
    Line fresh;
    fresh.kind = LineKind::reverse;
    fresh.address = std::string(uid_key);
    fresh.reverse_name = std::string(account);
    fresh.changed = true;
    lines_.push_back(std::move(fresh));
    return {};
  }
  line->reverse_name = std::string(account);
  line->changed = true;
  return {};
}

std::optional<std::vector<std::string>> SourceFile::unset(std::string_view address,
                                                          const std::vector<std::string>& names) {
  Line* line = find_mutable(address);
  if (!line || line->kind != LineKind::account) return std::nullopt;
  std::vector<std::string> absent;
  for (const std::string& name : names) {
    auto it = std::find_if(line->fields.begin(), line->fields.end(), [&](const Field& f) { return f.name == name; });
    if (it == line->fields.end()) {
      absent.push_back(name);
      continue;
    }
    line->fields.erase(it);
    line->changed = true;
  }
  return absent;
}

bool SourceFile::remove(std::string_view address) {
  auto it = std::find_if(lines_.begin(), lines_.end(), [&](const Line& l) {
    return l.kind != LineKind::other && l.address == address;
  });
  if (it == lines_.end()) return false;
  lines_.erase(it);
  return true;
}

// ---------------------------------------------------------------------------
// The whole source

lib::Result<Source> read_source(const std::string& path, const std::map<std::string, std::string>& overrides) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT)
      return lib::permanent_error(path + " does not exist: create it, e.g. with "
                                         "userdb <address> set home=/path uid=<n> gid=<n>");
    return file_error(err, "cannot read " + path);
  }
  std::vector<SourceFileRef> files;
  if (S_ISDIR(st.st_mode)) {
    auto r = walk(path, "", 0, files);
    if (!r) return r.error();
  } else if (S_ISREG(st.st_mode)) {
    files.push_back({path, ""});
  } else {
    return lib::permanent_error(path + " is neither a file nor a directory");
  }

  Source source;
  source.files = files.size();
  Errors errors;
  size_t total = 0;
  struct Place {
    std::string file;
    int line;
  };
  std::map<std::string, Place, std::less<>> defined;
  for (const SourceFileRef& ref : files) {
    std::string text;
    if (auto o = overrides.find(ref.path); o != overrides.end()) {
      text = o->second;
    } else {
      auto r = lib::read_small_file(ref.path, max_file_bytes);
      if (!r) return r.error();
      text = std::move(r.value());
    }
    total += text.size();
    if (total > max_total_bytes)
      return lib::permanent_error(path + " holds more than " + std::to_string(max_total_bytes) +
                                  " bytes; is this the right directory?");
    std::vector<Line> lines;
    parse_text(text, ref.path, lines, errors, source.warnings);
    const std::string location = ref.relative.empty() ? "" : ref.relative + "/";
    for (Line& line : lines) {
      if (line.kind == LineKind::other) continue;
      auto [it, fresh] = defined.try_emplace(line.address, Place{ref.path, line.number});
      if (!fresh) {
        errors.add(ref.path + ":" + std::to_string(line.number) + ": " + quoted(line.address) +
                   " is also defined at " + it->second.file + ":" + std::to_string(it->second.line) +
                   "; an address may appear only once (makeuserdb could not tell which to use): remove one");
        continue;
      }
      Record rec;
      rec.address = std::move(line.address);
      rec.fields = std::move(line.fields);
      rec.reverse = line.kind == LineKind::reverse;
      rec.reverse_name = std::move(line.reverse_name);
      rec.location = location;
      rec.file = ref.path;
      rec.line = line.number;
      source.records.push_back(std::move(rec));
    }
  }
  if (!errors.empty()) return errors.error();

  for (const Record& rec : source.records) {
    if (!rec.reverse) continue;
    auto it = defined.find(rec.reverse_name);
    if (it == defined.end() || is_reverse_key(rec.reverse_name))
      source.warnings.push_back(rec.file + ":" + std::to_string(rec.line) + ": the reverse record " +
                                rec.address + " names " + quoted(rec.reverse_name) +
                                ", which has no record");
  }
  return source;
}

lib::Result<void> check_private(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return file_error(errno, "cannot read " + path);
  if ((st.st_mode & 077) == 0) return {};
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  const bool dir = S_ISDIR(st.st_mode);
  return lib::permanent_error(path + " has group or world permissions (mode " + mode +
                              "), but it holds password hashes; Courier refuses it too: run chmod " +
                              (dir ? "700 " : "600 ") + path);
}

// ---------------------------------------------------------------------------
// Build

// As root, the databases become root:MAILGROUP mode 0640, so that
// authdaemond's userdb workers can run as the mail user (DESIGN.md,
// Privileges) and no one else can read them; otherwise (an ordinary user,
// the sandbox) they stay the builder's own, mode 0600.
namespace {
lib::Result<void> let_mail_group_read(const std::string& path) {
  if (::geteuid() != 0) return {};
  auto mail = lib::mail_user();
  if (!mail) return {};  // no mail user: root's alone, and the workers keep root (authdaemond says so)
  if (::chown(path.c_str(), 0, mail->gid) != 0 || ::chmod(path.c_str(), 0640) != 0)
    return file_error(errno, "cannot give " + path + " to root:" + std::to_string(mail->gid) + " mode 640");
  return {};
}
}  // namespace

lib::Result<Build> Build::prepare(const Paths& paths, const Source& source) {
  for (const std::string& target : {paths.dat(), paths.shadow_dat()}) {
    struct stat st;
    if (::lstat(target.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
      return lib::permanent_error(target + " is a symbolic link; makeuserdb replaces the file itself, "
                                           "which would break the link: remove the link, or run makeuserdb -f "
                                           "on the source the link points beside");
  }
  auto dat = lib::DbBuilder::create(paths.dat(), 0600);
  if (!dat) return dat.error();
  auto shadow = lib::DbBuilder::create(paths.shadow_dat(), 0600);
  if (!shadow) return shadow.error();
  for (const std::string& temp : {dat->temp_path(), shadow->temp_path()})
    if (auto r = let_mail_group_read(temp); !r) return r.error();
  BuildCounts counts;
  for (const Record& rec : source.records) {
    auto dup = dat->contains(rec.address);
    if (!dup) return dup.error();
    if (*dup)
      return lib::permanent_error(rec.file + ":" + std::to_string(rec.line) + ": " + quoted(rec.address) +
                                  " is defined twice");
    if (rec.reverse) {
      auto r = dat->put(rec.address, rec.reverse_name);
      if (!r) return r.error();
      ++counts.reverse;
      continue;
    }
    Fields plain, secret;
    for (const Field& f : rec.fields) (is_shadow_field(f.name) ? secret : plain).push_back(f);
    plain.push_back({"_", rec.location});
    auto r = dat->put(rec.address, join_fields(plain));
    if (!r) return r.error();
    if (!secret.empty()) {
      std::string value = join_fields(secret);
      auto s = shadow->put(rec.address, value);
      wipe(value);
      if (!s) return s.error();
      ++counts.with_secrets;
    }
    ++counts.accounts;
  }
  return Build(std::move(*dat), std::move(*shadow), counts);
}

lib::Result<void> Build::commit() {
  if (auto r = shadow_.commit(); !r) return r;
  return dat_.commit();
}

// ---------------------------------------------------------------------------
// Files

lib::Result<FileLock> FileLock::acquire(const std::string& path, int timeout_ms) {
  lib::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
  if (!fd) return file_error(errno, "cannot open the lock file " + path);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (::flock(fd.get(), timeout_ms == 0 ? LOCK_EX : LOCK_EX | LOCK_NB) == 0) return FileLock(std::move(fd));
    int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) return file_error(err, "cannot lock " + path);
    if (std::chrono::steady_clock::now() >= deadline)
      return lib::temporary_error(path + " stayed locked for " + std::to_string(timeout_ms) +
                                  " ms: another userdb or makeuserdb is running (or hangs)");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string edit_lock_path(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos) return ".lock." + file;
  return file.substr(0, slash + 1) + ".lock." + file.substr(slash + 1);
}

lib::Result<void> write_file_atomically(const std::string& path_in, std::string_view text, mode_t new_file_mode) {
  std::string path = path_in;
  struct stat lst;
  if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    // Courier's userdb follows the link and replaces its target.
    char* real = ::realpath(path.c_str(), nullptr);
    if (!real) return file_error(errno, "cannot follow the symbolic link " + path);
    path = real;
    std::free(real);
  }
  auto slash = path.rfind('/');
  lib::AtomicFileOptions options;
  options.temp_path = slash == std::string::npos ? ".tmp." + path
                                                 : path.substr(0, slash + 1) + ".tmp." + path.substr(slash + 1);
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  options.mode = exists ? (st.st_mode & 07777) : new_file_mode;
  options.classify = [](int err) { return file_error(err, {}).kind; };
  options.denied_hint = "run this as root, or as the owner of the userdb files";
  return lib::write_file_atomically(
      path,
      [&](lib::AtomicFile& file) -> lib::Result<void> {
        if (exists && ::geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0) &&
            ::fchown(file.fd(), st.st_uid, st.st_gid) != 0)
          return file_error(errno, "cannot give " + file.temp_path() + " the owner of " + path);
        return file.write(text);
      },
      options);
}

// ---------------------------------------------------------------------------
// Passwords in the tools

lib::Result<lib::Secret> read_secret_line(std::string_view prompt, bool confirm, bool echo) {
  struct termios tios;
  const bool tty = ::isatty(0) && ::tcgetattr(0, &tios) == 0;
  if (!tty) {
    std::string line;
    auto r = read_line_fd0(line);
    if (!r) return r.error();
    if (!*r) return lib::permanent_error("no input: expected a line on standard input");
    lib::Secret s(line);
    wipe(line);
    return s;
  }

  struct sigaction act, old_int, old_term, old_hup;
  std::memset(&act, 0, sizeof act);
  act.sa_handler = restore_terminal_and_die;
  sigemptyset(&act.sa_mask);
  if (!echo) {
    saved_termios = tios;
    termios_saved = 1;
    ::sigaction(SIGINT, &act, &old_int);
    ::sigaction(SIGTERM, &act, &old_term);
    ::sigaction(SIGHUP, &act, &old_hup);
    struct termios quiet = tios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSAFLUSH, &quiet);
  }
  auto restore = [&] {
    if (echo) return;
    ::tcsetattr(0, TCSANOW, &saved_termios);
    termios_saved = 0;
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
  };

  std::string first, second;
  lib::Result<lib::Secret> result = lib::permanent_error("the two passwords did not match three times");
  for (int attempt = 0; attempt < 3; ++attempt) {
    say(prompt);
    auto r = read_line_fd0(first);
    if (!echo) say("\n");
    if (!r) {
      result = r.error();
      break;
    }
    if (!*r) {
      result = lib::permanent_error("no input (end of file)");
      break;
    }
    if (!confirm) {
      result = lib::Secret(first);
      break;
    }
    say("Reenter password: ");
    r = read_line_fd0(second);
    if (!echo) say("\n");
    if (!r) {
      result = r.error();
      break;
    }
    if (!*r) {
      result = lib::permanent_error("no input (end of file)");
      break;
    }
    if (lib::constant_time_equal(first, second)) {
      result = lib::Secret(first);
      break;
    }
    say("Passwords don't match.\n\n");
    wipe(first);
    wipe(second);
  }
  wipe(first);
  wipe(second);
  restore();
  return result;
}

}  // namespace authlib::userdb
