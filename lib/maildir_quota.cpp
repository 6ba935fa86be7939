// lib/maildir_quota.cpp: see maildir_quota.hpp (Courier's maildirquota.c rules).
//
// maildirsize states and why each is safe without locks:
//   file absent                 no quota; nothing is ever created implicitly
//                               except by set_quota / an explicit QuotaSpec
//   lines appended (O_APPEND)   each line is one write(): never interleaved
//   rebuilt in tmp/, renamed    readers see the old or the new file, whole;
//                               fsynced first, so a crash never leaves an empty
//                               maildirsize (which would drop the definition)
//   appended to a replaced file the line is lost with the old inode; the totals
//                               drift until the next rebuild (Courier accepts
//                               this too: the 5120-byte rule bounds it)
#include "lib/maildir_quota.hpp"

#include "lib/atomic_file.hpp"
#include "lib/c_handle.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

namespace lib::maildir {

namespace {

// Longest usage line we accept: two 19-digit signed numbers and padding.
constexpr std::size_t max_usage_line_bytes = 64;
// Digits in a quota or usage number (10^18 fits int64_t).
constexpr std::size_t max_number_digits = 18;
constexpr std::size_t max_quota_spec_bytes = 64;

Error temp_sys(std::string_view what, const std::string& path, int err) {
  std::string m;
  m.append(what).append(" ").append(path).append(": ").append(errno_text(err));
  switch (err) {
    case ENOSPC:
      m += "; free space on the file system holding the maildir";
      break;
    case EDQUOT:
      m += "; the account's file system quota is exhausted";
      break;
    case EACCES:
    case EPERM:
      m += "; check the owner and permissions of the maildir";
      break;
    case ELOOP:
      m += "; maildirsize must be a plain file, not a symlink: remove it and run maildirmake -q";
      break;
    default:
      break;
  }
  return temporary_error(std::move(m));
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  return r;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A signed decimal at s[i]; advances i. nullopt if absent or too long.
std::optional<std::int64_t> take_number(std::string_view s, std::size_t& i) {
  bool neg = false;
  if (i < s.size() && s[i] == '-') {
    neg = true;
    ++i;
  }
  std::size_t start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  std::size_t n = i - start;
  if (n == 0 || n > max_number_digits) return std::nullopt;
  std::int64_t v = 0;
  std::from_chars(s.data() + start, s.data() + i, v);
  return neg ? -v : v;
}

// "<bytes> <count>" with any surrounding whitespace.
std::optional<QuotaUsage> parse_usage_line(std::string_view line) {
  if (line.size() > max_usage_line_bytes) return std::nullopt;
  std::size_t i = 0;
  while (i < line.size() && is_space(line[i])) ++i;
  auto bytes = take_number(line, i);
  if (!bytes) return std::nullopt;
  std::size_t gap = i;
  while (i < line.size() && is_space(line[i])) ++i;
  if (i == gap) return std::nullopt;
  auto count = take_number(line, i);
  if (!count) return std::nullopt;
  while (i < line.size() && is_space(line[i])) ++i;
  if (i != line.size()) return std::nullopt;
  return QuotaUsage{*bytes, *count};
}

// The newest mtime of the new/ and cur/ directories that a rebuild counts.
struct Stamp {
  std::int64_t sec = 0;
  std::int64_t nsec = 0;
  friend bool operator==(const Stamp&, const Stamp&) = default;
};

void note_stamp(const struct stat& st, Stamp& stamp) {
  Stamp s{st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  if (s.sec > stamp.sec || (s.sec == stamp.sec && s.nsec > stamp.nsec)) stamp = s;
}


// Adds the messages of one new/ or cur/ directory (Courier's docount). A
// missing directory counts as empty, as in Courier.
Result<void> count_dir(const std::string& dir, Stamp& stamp, QuotaUsage& usage) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return {};
    return temp_sys("cannot stat", dir, errno);
  }
  note_stamp(st, stamp);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return {};
    return temp_sys("cannot open directory", dir, errno);
  }
  UniqueFd dir_fd(fd);
  int list_fd = ::dup(fd);
  if (list_fd < 0) return temp_sys("cannot duplicate descriptor of", dir, errno);
  DirStream stream(::fdopendir(list_fd));
  if (!stream.get()) {
    int err = errno;
    ::close(list_fd);
    return temp_sys("cannot read directory", dir, err);
  }
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(stream.get());
    if (!de) {
      if (errno != 0) return temp_sys("cannot read directory", dir, errno);
      break;
    }
    std::string_view name = de->d_name;
    if (name.empty() || name[0] == '.' || de->d_type == DT_DIR) continue;
    if (!counts_toward_quota(name)) continue;
    std::int64_t size = 0;
    auto parsed = parse_message_name(name);
    if (parsed && parsed->size_bytes) {
      size = static_cast<std::int64_t>(
          std::min<std::uint64_t>(*parsed->size_bytes, std::numeric_limits<std::int64_t>::max()));
    } else {
      struct stat fst;
      if (::fstatat(dir_fd.get(), de->d_name, &fst, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while counting
        return temp_sys("cannot stat", dir + "/" + std::string(name), errno);
      }
      if (!S_ISREG(fst.st_mode)) continue;
      size = fst.st_size;
    }
    usage.bytes = saturating_add(usage.bytes, size);
    usage.messages = saturating_add(usage.messages, 1);
  }
  return {};
}

// The folders a rebuild counts besides the root: ".X" directories, not
// symlinks (shared folders belong to someone else's quota), not Trash.
Result<std::vector<std::string>> counted_folders(const std::string& root) {
  DirStream stream(::opendir(root.c_str()));
  if (!stream.get()) return temp_sys("cannot open directory", root, errno);
  std::vector<std::string> out;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(stream.get());
    if (!de) {
      if (errno != 0) return temp_sys("cannot read directory", root, errno);
      break;
    }
    std::string_view name = de->d_name;
    if (name.size() < 2 || name[0] != '.' || name == "..") continue;
    if (!folder_counts_toward_quota(name)) continue;
    std::string path = root + "/" + std::string(name);
    if (de->d_type == DT_LNK) continue;
    if (de->d_type != DT_DIR) {
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    }
    out.push_back(std::move(path));
  }
  return out;
}

Result<void> count_maildir(const std::string& root, Stamp& stamp, QuotaUsage& usage) {
  auto folders = counted_folders(root);
  if (!folders) return folders.error();
  std::vector<std::string> dirs = {root};
  dirs.insert(dirs.end(), folders->begin(), folders->end());
  for (const auto& d : dirs) {
    for (const char* sub : {"/new", "/cur"}) {
      auto r = count_dir(d + sub, stamp, usage);
      if (!r) return r;
    }
  }
  return {};
}

// The stamps alone, to detect a change during a rebuild (Courier's statcurnew).
Result<Stamp> stamp_maildir(const std::string& root) {
  auto folders = counted_folders(root);
  if (!folders) return folders.error();
  std::vector<std::string> dirs = {root};
  dirs.insert(dirs.end(), folders->begin(), folders->end());
  Stamp stamp;
  for (const auto& d : dirs) {
    for (const char* sub : {"/new", "/cur"}) {
      struct stat st;
      if (::stat((d + sub).c_str(), &st) == 0) note_stamp(st, stamp);
    }
  }
  return stamp;
}

// Courier's checkOneQuota: percent of one limit, scaled down for big quotas
// as Courier does so the numbers match its warnings.
bool over_one(std::int64_t size, std::int64_t limit, int& percent) {
  if (limit <= 0) {
    percent = 0;
    return false;
  }
  if (size > limit) {
    percent = 100;
    return true;
  }
  std::int64_t x = limit > 20000000 ? 1024 : 1;
  std::int64_t scaled_limit = limit / x;
  percent = scaled_limit > 0 && size > 0 ? static_cast<int>((size / x) * 100 / scaled_limit) : 0;
  return false;
}

QuotaCheck evaluate(const MaildirSizeData& data, std::int64_t add_bytes,
                    std::int64_t add_messages) {
  QuotaCheck c;
  c.quota = data.quota;
  c.has_quota = data.quota.limited();
  c.usage = data.usage;
  std::int64_t bytes = saturating_add(data.usage.bytes, add_bytes);
  std::int64_t messages = saturating_add(data.usage.messages, add_messages);
  int pb = 0, pm = 0;
  bool over = over_one(bytes, data.quota.max_bytes, pb);
  over = over_one(messages, data.quota.max_messages, pm) || over;
  c.over_quota = over;
  c.percent = over ? 100 : std::max(pb, pm);
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

std::string QuotaSpec::to_string() const {
  std::string s;
  if (max_bytes > 0) s += std::to_string(max_bytes) + "S";
  if (max_messages > 0) {
    if (!s.empty()) s += ",";
    s += std::to_string(max_messages) + "C";
  }
  return s;
}

Result<QuotaSpec> parse_quota_spec(std::string_view text) {
  // Admin input goes into logs: control characters are shown as '?'.
  auto shown = [](std::string_view s) {
    std::string out;
    for (char c : s.substr(0, max_quota_spec_bytes))
      out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
  };
  auto refuse = [&](std::string_view why) {
    return permanent_error("invalid quota \"" + shown(text) + "\": " + std::string(why) +
                           "; write it as <bytes>S and/or <messages>C, e.g. 5000000S,1000C");
  };
  if (text.empty()) return refuse("it is empty");
  if (text.size() > max_quota_spec_bytes) return refuse("it is too long");
  QuotaSpec spec;
  bool seen_s = false, seen_c = false;
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = text.find(',', pos);
    std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    if (item.size() < 2) return refuse("an item is empty or has no number");
    std::string_view digits = item.substr(0, item.size() - 1);
    char kind = item.back();
    if (is_digit(kind) && std::all_of(digits.begin(), digits.end(), is_digit))
      return refuse("\"" + shown(item) + "\" has no unit (S for bytes, C for messages)");
    if (!std::all_of(digits.begin(), digits.end(), is_digit))
      return refuse("\"" + shown(item) + "\" is not a number followed by S or C");
    if (digits.size() > max_number_digits) return refuse("a number is too large");
    std::int64_t v = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (v == 0) return refuse("a limit of 0 means no limit; leave that item out");
    if (kind == 'S') {
      if (seen_s) return refuse("S is given twice");
      seen_s = true;
      spec.max_bytes = v;
    } else if (kind == 'C') {
      if (seen_c) return refuse("C is given twice");
      seen_c = true;
      spec.max_messages = v;
    } else {
      return refuse("unknown unit '" + shown(std::string_view(&kind, 1)) +
                    "' (only S and C exist)");
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return spec;
}

QuotaSpec parse_quota_line(std::string_view line, bool* clean) {
  // Courier's parsequotastr: skip what is not a digit, read digits, take
  // them if an S or C follows.
  QuotaSpec spec;
  bool ok = true;
  std::size_t i = 0;
  while (i < line.size()) {
    if (!is_digit(line[i])) {
      if (line[i] != ',' && !is_space(line[i])) ok = false;
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < line.size() && is_digit(line[i])) ++i;
    std::size_t n = i - start;
    char unit = i < line.size() ? line[i] : '\0';
    if (unit == 'S' || unit == 'C') ++i;
    if (n > max_number_digits || (unit != 'S' && unit != 'C')) {
      ok = false;
      continue;
    }
    std::int64_t v = 0;
    std::from_chars(line.data() + start, line.data() + start + n, v);
    (unit == 'S' ? spec.max_bytes : spec.max_messages) = v;
  }
  if (clean) *clean = ok;
  return spec;
}

MaildirSizeData parse_maildirsize(std::string_view content) {
  MaildirSizeData d;
  auto problem = [&](std::string why) {
    d.needs_recalc = true;
    if (d.problem.empty()) d.problem = std::move(why);
  };
  bool too_long = content.size() >= maildirsize_max_bytes;
  if (too_long) content = content.substr(0, maildirsize_max_bytes);
  std::size_t pos = 0;
  std::size_t line_no = 0;
  while (pos < content.size()) {
    std::size_t eol = content.find('\n', pos);
    std::string_view line =
        content.substr(pos, eol == std::string_view::npos ? content.npos : eol - pos);
    pos = eol == std::string_view::npos ? content.size() : eol + 1;
    ++line_no;
    if (line_no == 1) {
      bool clean = true;
      d.quota = parse_quota_line(line, &clean);
      if (!clean) d.problem = "line 1: quota definition not fully understood";
      if (too_long) break;  // Courier reads only the definition from a long file
      continue;
    }
    // A last line without its newline is being appended right now (a reader
    // can see part of a concurrent write) or was cut by a crash: skip it. If
    // it was cut, the next append joins it into a malformed line, which
    // triggers a rebuild.
    if (eol == std::string_view::npos) break;
    ++d.usage_lines;
    auto u = parse_usage_line(line);
    if (!u) {
      problem("line " + std::to_string(line_no) + ": not \"<bytes> <count>\"");
      continue;
    }
    std::int64_t b, m;
    if (__builtin_add_overflow(d.usage.bytes, u->bytes, &b) ||
        __builtin_add_overflow(d.usage.messages, u->messages, &m)) {
      problem("line " + std::to_string(line_no) + ": totals overflow");
      continue;
    }
    d.usage = QuotaUsage{b, m};
  }
  if (too_long) {
    d.usage = QuotaUsage{};
    d.usage_lines = 0;
    d.needs_recalc = true;
    d.problem = "file is " + std::to_string(maildirsize_max_bytes) + " bytes or more";
  } else if (d.usage.bytes < 0 || d.usage.messages < 0) {
    problem("negative totals");
  }
  return d;
}

std::string format_usage_line(std::int64_t bytes, std::int64_t messages) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%12lld %12lld\n", static_cast<long long>(bytes),
                        static_cast<long long>(messages));
  return std::string(buf, static_cast<std::size_t>(n));
}

bool counts_toward_quota(std::string_view file_name) {
  std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  std::size_t info = file_name.find(":2,");
  if (info == std::string_view::npos) return true;
  for (std::size_t i = info + 3; i < file_name.size() && file_name[i] >= 'A' && file_name[i] <= 'Z';
       ++i)
    if (file_name[i] == 'T') return false;
  return true;
}

bool folder_counts_toward_quota(std::string_view folder_dir) {
  auto is_trash = [](std::string_view s) { return s == ".Trash" || s == ".Trash/"; };
  if (is_trash(folder_dir)) return false;
  for (std::size_t i = 0; i < folder_dir.size(); ++i)
    if (folder_dir[i] == '/' && is_trash(folder_dir.substr(i + 1))) return false;
  return true;
}

std::string quota_root(const std::string& maildir) {
  struct stat st;
  if (::stat((maildir + "/maildirfolder").c_str(), &st) != 0) return maildir;
  std::string p = maildir;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  std::size_t slash = p.rfind('/');
  std::string_view last =
      slash == std::string::npos ? std::string_view(p) : std::string_view(p).substr(slash + 1);
  if (last == "." || last == ".." || slash == std::string::npos) return p + "/..";
  return slash == 0 ? std::string("/") : p.substr(0, slash);
}

// ---------------------------------------------------------------------------
// Quota
// ---------------------------------------------------------------------------

Result<Quota> Quota::open(const std::string& maildir) {
  Quota q;
  q.root_ = quota_root(maildir);
  q.path_ = q.root_ + "/maildirsize";
  int fd = ::open(q.path_.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return q;  // no quota
    return temp_sys("cannot open", q.path_, errno);
  }
  q.fd_.reset(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return temp_sys("cannot stat", q.path_, errno);
  if (!S_ISREG(st.st_mode))
    return temporary_error(q.path_ + " is not a plain file; remove it and run maildirmake -q");
  q.mtime_ = st.st_mtime;
  // Read at most maildirsize_max_bytes: a full buffer means "rebuild". Short
  // reads are possible on NFS, hence the loop.
  std::string buf(maildirsize_max_bytes, '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return temp_sys("cannot read", q.path_, errno);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  q.data_ = parse_maildirsize(buf);
  return q;
}

void Quota::override_spec(const QuotaSpec& spec) {
  data_.quota = spec;
  data_.needs_recalc = true;
  data_.problem = "quota definition changed to " + spec.to_string();
}

Result<void> Quota::rebuild(bool* raced) {
  *raced = false;
  Stamp before;
  QuotaUsage usage;
  if (auto r = count_maildir(root_, before, usage); !r) return r;

  std::string content =
      data_.quota.to_string() + "\n" + format_usage_line(usage.bytes, usage.messages);
  AtomicFileOptions options;
  options.temp_path = root_ + "/tmp/" + std::to_string(std::time(nullptr)) + "." +
                      std::to_string(::getpid()) + "_NeWmAiLdIrSiZe." + maildir_host_name();
  options.mode = 0644;
  // Kept open for the lines appended later. Durable before the rename: an
  // empty maildirsize after a crash would mean "no quota".
  options.keep_open = true;
  auto file = AtomicFile::create(path_, options);
  if (!file) return file.error();
  if (auto r = file->write(content); !r) return r;
  auto fd = file->commit();
  if (!fd) return fd.error();
  // One write() per appended line: with O_APPEND, concurrent writers never interleave.
  int flags = ::fcntl(fd->get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd->get(), F_SETFL, flags | O_APPEND) != 0)
    return temp_sys("cannot set O_APPEND on", path_, errno);
  fd_ = std::move(*fd);
  data_.usage = usage;
  data_.usage_lines = 1;
  data_.needs_recalc = false;
  data_.problem.clear();
  mtime_ = std::time(nullptr);

  auto after = stamp_maildir(root_);
  if (!after) return after.error();
  if (!(*after == before)) {
    // Mail arrived or left while counting: the totals may be off.
    *raced = true;
    data_.needs_recalc = true;
    data_.problem = "maildir changed during recalculation";
  }
  return {};
}

Result<void> Quota::rebuild_until_stable() {
  for (int attempt = 0; attempt < max_recalc_attempts; ++attempt) {
    bool raced = false;
    if (auto r = rebuild(&raced); !r) return r;
    if (!raced) return {};
  }
  // Still racing: keep the last totals, as Courier does, rather than refuse mail.
  data_.needs_recalc = false;
  return {};
}

Result<QuotaUsage> Quota::recalculate() {
  if (!active()) return QuotaUsage{};
  if (auto r = rebuild_until_stable(); !r) return r.error();
  return data_.usage;
}

Result<QuotaCheck> Quota::check(std::int64_t add_bytes, std::int64_t add_messages,
                                std::time_t now) {
  if (!active()) return QuotaCheck{};
  if (!data_.needs_recalc) {
    QuotaCheck c = evaluate(data_, add_bytes, add_messages);
    if (!c.over_quota) return c;
    // Over quota on a fresh one-line file: trust it without a rebuild.
    if (data_.usage_lines == 1 && now < mtime_ + maildirsize_stale_s) return c;
  }
  if (auto r = rebuild_until_stable(); !r) return r.error();
  QuotaCheck c = evaluate(data_, add_bytes, add_messages);
  c.recalculated = true;
  return c;
}

Result<void> Quota::add(std::int64_t bytes, std::int64_t messages) {
  if (!active()) return {};
  std::string line = format_usage_line(bytes, messages);
  for (;;) {
    // One write() per line: with O_APPEND, concurrent writers never interleave.
    ssize_t n = ::write(fd_.get(), line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return temp_sys("cannot append to", path_, errno);
    if (static_cast<std::size_t>(n) != line.size())
      return temporary_error("short write appending to " + path_ +
                             " (file system full?); the next quota check will rebuild it");
    return {};
  }
}

// ---------------------------------------------------------------------------
// Free functions
// ---------------------------------------------------------------------------

Result<QuotaCheck> check_quota(const std::string& maildir, std::int64_t add_bytes,
                               std::int64_t add_messages, std::time_t now) {
  auto q = Quota::open(maildir);
  if (!q) return q.error();
  return q->check(add_bytes, add_messages, now);
}

Result<void> update_quota(const std::string& maildir, std::int64_t bytes, std::int64_t messages) {
  auto q = Quota::open(maildir);
  if (!q) return q.error();
  if (!q->active()) return {};
  if (q->data().needs_recalc) {
    // The rebuild counts what is on disk, which already includes the change.
    auto r = q->recalculate();
    if (!r) return r.error();
    return {};
  }
  return q->add(bytes, messages);
}

Result<QuotaCheck> recalculate_quota(const std::string& maildir) {
  auto q = Quota::open(maildir);
  if (!q) return q.error();
  if (!q->active()) return QuotaCheck{};
  auto r = q->recalculate();
  if (!r) return r.error();
  QuotaCheck c = evaluate(q->data(), 0, 0);
  c.recalculated = true;
  return c;
}

Result<QuotaUsage> set_quota(const std::string& maildir, const QuotaSpec& spec) {
  if (!spec.limited())
    return permanent_error("refusing to write a quota without limits to " + quota_root(maildir) +
                           "/maildirsize; delete the file to remove the quota");
  Quota q;
  q.root_ = quota_root(maildir);
  q.path_ = q.root_ + "/maildirsize";
  q.data_.quota = spec;
  if (auto r = q.rebuild_until_stable(); !r) return r.error();
  return q.data_.usage;
}

Result<void> remove_quota(const std::string& maildir) {
  std::string path = quota_root(maildir) + "/maildirsize";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return temp_sys("cannot remove", path, errno);
  return {};
}

namespace {

Result<QuotaDelivery> finish_quota_delivery(const std::string& maildir, PendingMessage pending,
                                            const QuotaDeliveryOptions& options) {
  QuotaDelivery out;
  bool counted = folder_counts_toward_quota(maildir) &&
                 !(options.location == Location::cur_dir &&
                   !counts_toward_quota(":2," + normalize_flags(options.flags)));
  std::optional<Quota> quota;
  if (counted) {
    auto q = Quota::open(maildir);
    if (!q) return q.error();
    if (options.quota && options.quota->limited()) {
      if (!q->active()) {
        // MAILDIRQUOTA set, no maildirsize yet: create it (Courier does too).
        auto s = set_quota(maildir, *options.quota);
        if (!s) return s.error();
        q = Quota::open(maildir);
        if (!q) return q.error();
      } else if (!(q->data().quota == *options.quota)) {
        q->override_spec(*options.quota);
      }
    }
    auto size = static_cast<std::int64_t>(std::min<std::uint64_t>(
        pending.size_bytes(),
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
    auto check = q->check(size, 1);
    if (!check) return check.error();
    out.check = *check;
    if (check->over_quota) {
      pending.discard();
      out.status = QuotaStatus::over_quota;
      return out;
    }
    quota.emplace(std::move(q).value());
  }
  auto delivered = pending.commit();
  if (!delivered) return delivered.error();
  out.delivered = std::move(*delivered);
  if (quota && quota->active()) {
    auto added = quota->add(static_cast<std::int64_t>(out.delivered.size_bytes), 1);
    if (!added) out.warning = added.error().message;
  }
  return out;
}

}  // namespace

Result<QuotaDelivery> deliver_with_quota(const std::string& maildir, std::string_view message,
                                         const QuotaDeliveryOptions& options) {
  auto pending = write_tmp_message(maildir, message, options);
  if (!pending) return pending.error();
  return finish_quota_delivery(maildir, std::move(pending).value(), options);
}

Result<QuotaDelivery> deliver_with_quota_from_fd(const std::string& maildir, int fd,
                                                 const QuotaDeliveryOptions& options) {
  auto pending = write_tmp_message_from_fd(maildir, fd, options);
  if (!pending) return pending.error();
  return finish_quota_delivery(maildir, std::move(pending).value(), options);
}

}  // namespace lib::maildir
