// imapd/uiddb.cpp: Courier's courierimapuiddb (see uiddb.hpp).
#include "imapd/uiddb.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <utility>

#include "imapd/folder_lock.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {
namespace {

bool parse_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 0xffffffffULL) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

std::vector<std::string_view> words(std::string_view line) { return state_file_fields(line, 4); }

bool valid_base(std::string_view b) {
  if (b.empty() || b.size() > 255 || b[0] == '.') return false;
  return b.find_first_of(std::string_view("/\0:", 3)) == std::string_view::npos;
}

}  // namespace

std::vector<std::string_view> state_file_fields(std::string_view line, std::size_t max_fields) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size() && out.size() < max_fields) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

lib::Result<UidDb> parse_uiddb(std::string_view text, const std::string& origin) {
  UidDb db;
  std::size_t nl = text.find('\n');
  std::string_view header = text.substr(0, nl);
  auto h = words(header);
  std::uint32_t version = 0;
  if (h.size() != 3 || !parse_u32(h[0], version) || (version != 1 && version != 2) ||
      !parse_u32(h[1], db.uidvalidity) || !parse_u32(h[2], db.next_uid)) {
    return lib::permanent_error(origin + ":1: not a courierimapuiddb header (expected \"1 <uidvalidity> <nextuid>\"); the file will be rebuilt with a new UIDVALIDITY");
  }
  if (db.next_uid == 0) db.next_uid = 1;
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  std::uint32_t last_uid = 0;
  while (!rest.empty()) {
    nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    auto w = words(line);
    std::uint32_t uid = 0;
    std::string_view base;
    if (version == 1) {
      if (w.size() != 2 || !parse_u32(w[0], uid) || uid == 0) continue;
      base = w[1];
    } else {
      // Version 2: "basename [uid]"; no uid means previous + 1.
      if (w.empty() || w.size() > 2) continue;
      base = w[0];
      if (w.size() == 2) {
        if (!parse_u32(w[1], uid) || uid == 0) continue;
      } else {
        if (last_uid == 0xffffffffu) continue;
        uid = last_uid + 1;
      }
    }
    if (!valid_base(base)) continue;
    last_uid = uid;
    db.uids[std::string(base)] = uid;
    if (uid >= db.next_uid) db.next_uid = uid == 0xffffffffu ? uid : uid + 1;
  }
  return db;
}

lib::Result<UidDb> read_uiddb(const std::string& folder_dir) {
  std::string path = folder_dir + "/" + std::string(uiddb_file_name);
  int open_errno = 0;
  auto text = lib::read_small_file(path, max_uiddb_bytes, &open_errno);
  if (!text) {
    if (open_errno == ENOENT) return UidDb{0, 1, {}};
    return text.error();
  }
  return parse_uiddb(*text, path);
}

lib::Result<UidDbSnapshot> read_uiddb_snapshot(const std::string& folder_dir) {
  std::string path = folder_dir + "/" + std::string(uiddb_file_name);
  UidDbSnapshot out;
  int open_errno = 0;
  struct stat st {};
  auto text = lib::read_small_file(path, max_uiddb_bytes, &open_errno, out.file, st);
  if (!text) {
    if (open_errno == ENOENT) return out;  // uidvalidity 0: no file
    return text.error();
  }
  auto db = parse_uiddb(*text, path);
  if (!db) return db.error();
  out.db = std::move(*db);
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  return out;
}

bool same_uiddb(const std::string& folder_dir, const UidDbSnapshot& snapshot) {
  struct stat st {};
  if (::stat((folder_dir + "/" + std::string(uiddb_file_name)).c_str(), &st) != 0)
    return errno == ENOENT && !snapshot.file;  // still none
  return snapshot.file && st.st_dev == snapshot.dev && st.st_ino == snapshot.ino;
}

std::string format_uiddb(const UidDb& db) {
  std::vector<std::pair<std::uint32_t, const std::string*>> list;
  list.reserve(db.uids.size());
  for (const auto& [base, uid] : db.uids) list.emplace_back(uid, &base);
  std::sort(list.begin(), list.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "1 " + std::to_string(db.uidvalidity) + " " + std::to_string(db.next_uid) + "\n";
  out.reserve(out.size() + list.size() * 64);
  for (const auto& [uid, base] : list) {
    out += std::to_string(uid);
    out += ' ';
    out += *base;
    out += '\n';
  }
  return out;
}

lib::Result<void> write_uiddb(const std::string& folder_dir, const UidDb& db, bool durable) {
  std::string text = format_uiddb(db);
  std::string tmp = folder_dir + "/tmp/courierimapuiddb." + std::to_string(::getpid());
  std::string path = folder_dir + "/" + std::string(uiddb_file_name);
  lib::AtomicFileOptions options;
  options.temp_path = tmp;
  options.durable = durable;
  return lib::write_file_atomically(path, text, options);
}

const std::string& current_boot_id() {
  static const std::string id = [] {
    auto text = lib::read_small_file("/proc/sys/kernel/random/boot_id", 64);
    std::string v = text ? *text : std::string();
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    // It goes into one field of a state file line.
    if (v.empty() || v.find_first_of(" \n-") == 0 || v.find_first_of(" \n") != std::string::npos) return std::string();
    return v;
  }();
  return id;
}

std::optional<UidLimit> read_uid_limit(const std::string& folder_dir) {
  auto text = lib::read_small_file(folder_dir + "/" + std::string(uid_limit_file_name), 256);
  if (!text) return std::nullopt;
  std::string_view t = *text;
  auto nl = t.find('\n');
  auto w = state_file_fields(t.substr(0, nl), 4);
  UidLimit out;
  if (w.size() != 3 || !parse_u32(w[0], out.uidvalidity) || !parse_u32(w[1], out.limit)) return std::nullopt;
  out.boot_id = std::string(w[2]);
  return out;
}

lib::Result<void> write_uid_limit(const std::string& folder_dir, const UidLimit& limit) {
  lib::AtomicFileOptions options;
  options.temp_path = folder_dir + "/tmp/imapd-uidlimit." + std::to_string(::getpid());
  return lib::write_file_atomically(folder_dir + "/" + std::string(uid_limit_file_name),
                                    std::to_string(limit.uidvalidity) + " " + std::to_string(limit.limit) + " " +
                                        (limit.boot_id.empty() ? "-" : limit.boot_id) + "\n",
                                    options);
}

namespace {

// The highest UID claimed in imapd-recent; nullopt when there is no file.
lib::Result<std::optional<std::uint32_t>> read_recent(const std::string& path) {
  int open_errno = 0;
  auto text = lib::read_small_file(path, 64, &open_errno);
  std::optional<std::uint32_t> old;
  if (text) {
    std::string_view t = *text;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
    std::uint32_t v = 0;
    if (parse_u32(t, v)) old = v;
  } else if (open_errno != ENOENT) {
    return text.error();
  }
  return old;
}

}  // namespace

lib::Result<std::optional<std::uint32_t>> claim_recent(const std::string& folder_dir, std::uint32_t next_uid,
                                                       bool claim) {
  std::string path = folder_dir + "/" + std::string(recent_file_name);
  std::uint32_t want = next_uid > 0 ? next_uid - 1 : 0;
  // The file is only ever replaced whole (rename) and its value only rises:
  // a look, or a claim someone already made, needs no lock. Only raising it
  // takes the folder lock (and reads again under it).
  auto seen = read_recent(path);
  if (!seen) return seen.error();
  if (!claim || (*seen && **seen >= want)) return *seen;
  FolderLock lock(folder_dir);
  if (!lock.ok()) return lib::temporary_error("cannot lock folder " + folder_dir + ": " + lib::errno_text(errno));
  auto old = read_recent(path);
  if (!old) return old.error();
  if (!*old || **old < want) {
    lib::AtomicFileOptions options;
    options.temp_path = folder_dir + "/tmp/imapd-recent." + std::to_string(::getpid());
    // Not fsynced: after a power loss it may hold an older (lower) value,
    // or on some file systems be empty; then messages claimed since are
    // \Recent once more in the next session (as for a folder from Courier
    // without the file). No other state depends on it.
    options.durable = false;
    auto w = lib::write_file_atomically(path, std::to_string(want) + "\n", options);
    if (!w) return w.error();
  }
  return *old;
}

lib::Result<std::uint32_t> next_uidvalidity(const std::string& root, std::time_t now) {
  std::string path = root + "/" + std::string(uidvalidity_file_name);
  lib::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return lib::temporary_error("cannot open " + path + ": " + lib::errno_text(errno));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return lib::temporary_error("cannot lock " + path + ": " + lib::errno_text(errno));
  }
  char buf[32] = {};
  ssize_t got = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  std::uint32_t last = 0;
  if (got > 0) {
    std::string_view text(buf, static_cast<std::size_t>(got));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (!parse_u32(text, last)) last = 0;  // unreadable: the clock still moves it forward
  }
  std::uint64_t next = std::max<std::uint64_t>(static_cast<std::uint64_t>(now), std::uint64_t{last} + 1);
  if (next > 0xffffffffULL) next = 1;  // 2106: wraps, as Courier's time-based values do
  // Fixed width, one write: a crash leaves the old or the new number.
  char out[16];
  int n = std::snprintf(out, sizeof out, "%010llu\n", static_cast<unsigned long long>(next));
  if (::pwrite(fd.get(), out, static_cast<std::size_t>(n), 0) != n || ::fsync(fd.get()) != 0)
    return lib::temporary_error("cannot write " + path + ": " + lib::errno_text(errno) +
                                " (is the disk full?)");
  return static_cast<std::uint32_t>(next);
}

}  // namespace imapd
