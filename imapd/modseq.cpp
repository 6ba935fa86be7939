// imapd/modseq.cpp: the mod-sequence store (see modseq.hpp).
#include "imapd/modseq.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>

#include "imapd/keywords.hpp"
#include "imapd/uiddb.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {
namespace {

// Modseqs stay below 2^63 (RFC 7162 mod-sequence-value).
constexpr std::uint64_t max_modseq = (std::uint64_t{1} << 63) - 1;

// A decimal (or, base 16, hex) number filling all of s, without overflow:
// the records' hot path, so a plain loop rather than std::from_chars.
template <class T>
bool parse_number(std::string_view s, T& out, int base = 10) {
  if (s.empty() || s.size() > 20) return false;
  T v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return false;
    }
    if (__builtin_mul_overflow(v, static_cast<T>(base), &v) || __builtin_add_overflow(v, static_cast<T>(d), &v))
      return false;
  }
  out = v;
  return true;
}

std::uint64_t now_microseconds() {
  auto d = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

}  // namespace

ModseqLock::ModseqLock(const std::string& folder_dir, bool wait, bool shared)
    : fd_(::open((folder_dir + "/tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
  if (!fd_) return;
  while (::flock(fd_.get(), (shared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    if (!wait) {  // held by another: not ours (errno says why)
      int err = errno;
      fd_.reset();
      errno = err;
    }
    break;  // waiting: as FolderLock, a failed flock still lets the caller go on
  }
}

std::uint64_t flag_signature(std::string_view maildir_flags, const std::set<std::string>& keywords) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // separator no keyword byte can be
    h *= 1099511628211ull;
  };
  // Letters in a fixed order whatever order the name had.
  std::string letters(maildir_flags);
  std::sort(letters.begin(), letters.end());
  letters.erase(std::unique(letters.begin(), letters.end()), letters.end());
  mix(letters);
  for (const auto& k : keywords) mix(k);
  return h;
}

std::uint64_t modseq_restart_value(std::uint64_t old_highest, std::uint64_t now_us) {
  std::uint64_t v = std::max(old_highest < max_modseq ? old_highest + 1 : max_modseq, now_us);
  return std::min(v, max_modseq);
}

namespace {

// The fields of a line separated by runs of spaces, at most N (a line with
// more returns N + 1): the records' splitter, without allocating.
template <std::size_t N>
std::size_t line_fields(std::string_view line, std::array<std::string_view, N>& out) {
  std::size_t n = 0, i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (n == N) return N + 1;
    out[n++] = line.substr(i, j - i);
    i = j;
  }
  return n;
}

// One record line of a group, before its commit line applies it.
struct PendingRecord {
  std::uint32_t uid = 0;
  bool expunge = false;
  std::uint64_t modseq = 0;
  std::uint64_t signature = 0;
};

// The first `bytes` bytes of rest are whole lines, each an X record.
bool skippable_x_block(std::string_view rest, std::uint64_t bytes) {
  if (bytes > rest.size()) return false;
  rest = rest.substr(0, bytes);
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos || rest.size() < 2 || rest[0] != 'X' || rest[1] != ' ') return false;
    rest.remove_prefix(nl + 1);
  }
  return true;
}

// The record lines after the header, into db: records wait in `group`
// until their commit line ("C <highest>"; the end of the file in versions
// 1 and 2), then apply in order, later ones winning.
class RecordParser {
 public:
  RecordParser(ModseqDb& db, bool v3) : db_(db), v3_(v3) {}

  // text holds the file's bytes from `offset` on; parsing starts at pos.
  void parse(std::string_view text, std::size_t pos, std::size_t offset) {
    std::array<std::string_view, 3> w;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string_view::npos && v3_) break;  // a torn last line: not committed
      std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
      pos = end == std::string_view::npos ? text.size() : end + 1;
      std::size_t n = line_fields(line, w);
      PendingRecord r;
      if (v3_ && n == 2 && w[0] == "C") {
        std::uint64_t committed_highest = 0;
        if (!parse_number(w[1], committed_highest) || committed_highest > max_modseq) {
          bad_ = true;
          continue;
        }
        commit();
        db_.highest = std::max(db_.highest, committed_highest);
        db_.committed_bytes = offset + pos;
        if (db_.base_bytes == 0) db_.base_bytes = offset + pos;
        continue;
      }
      if (v3_ && !line.empty() && line[0] == 'S') {
        // "S <count> <bytes> <highest>", first in the first group: the base's
        // X records follow, in <bytes> bytes. A reader without the expunges
        // skips them (checking only that each is an X line).
        std::array<std::string_view, 4> sf;
        std::uint64_t count = 0, bytes = 0, top = 0;
        if (db_.base_bytes != 0 || !group_.empty() || line_fields(line, sf) != 4 || sf[0] != "S" ||
            !parse_number(sf[1], count) || !parse_number(sf[2], bytes) || !parse_number(sf[3], top) ||
            top > max_modseq || !skippable_x_block(text.substr(pos), bytes)) {
          bad_ = true;  // the X lines that follow are read one by one
          continue;
        }
        // Its <highest> counts in any case (when its group commits).
        skipped_top_ = std::max(skipped_top_, top);
        if (!db_.expunges_loaded) {
          pos += bytes;
          skipped_count_ += count;
        }
        continue;
      }
      if (v3_ && n == 3 && w[0] == "R") {
        if (!parse_number(w[1], group_reserved_) || group_reserved_ > max_modseq || w[2].size() > 64) {
          group_reserved_ = 0;
          bad_ = true;
          continue;
        }
        group_boot_ = w[2];
        continue;
      }
      if (n == 3 && w[0] == "X") {
        r.expunge = true;
        if (!parse_number(w[1], r.uid) || r.uid == 0 || !parse_number(w[2], r.modseq) || r.modseq > max_modseq) {
          bad_ = true;
          continue;
        }
      } else if (n != 3 || !parse_number(w[0], r.uid) || r.uid == 0 || !parse_number(w[1], r.modseq) ||
                 r.modseq > max_modseq || w[2].size() != 16 || !parse_number(w[2], r.signature, 16)) {
        bad_ = true;  // skipped
        continue;
      }
      group_.push_back(r);
    }
  }

  // At the end of the file (`size` bytes).
  void finish(std::size_t size) {
    if (v3_) {
      // What follows the last commit line (a writer killed or still
      // writing, a crash) is not applied; recovery after a crash still
      // starts above it.
      db_.uncommitted_max = 0;
      db_.uncommitted_max = skipped_top_;
      for (const auto& r : group_) db_.uncommitted_max = std::max(db_.uncommitted_max, r.modseq);
      if (!group_boot_.empty()) db_.uncommitted_max = std::max(db_.uncommitted_max, group_reserved_);
      db_.appendable = !bad_ && db_.committed_bytes == size;
    } else {
      commit();
      db_.committed_bytes = db_.base_bytes = size;
      db_.appendable = false;
    }
    if (db_.expunges_loaded) db_.expunge_records = db_.expunged.size();
    if (db_.expunge_floor > db_.highest) db_.expunge_floor = db_.highest;
  }

 private:
  void commit() {
    for (const auto& r : group_) {
      if (r.expunge) {
        if (!db_.live.empty()) db_.live.erase(r.uid);
        if (db_.expunges_loaded) {
          if (db_.expunged.empty() || r.uid > db_.expunged.rbegin()->first)
            db_.expunged.emplace_hint(db_.expunged.end(), r.uid, r.modseq);
          else
            db_.expunged[r.uid] = r.modseq;
        }
        ++db_.expunge_records;
      } else {
        if (db_.expunges_loaded && !db_.expunged.empty()) db_.expunged.erase(r.uid);
        if (db_.live.empty() || r.uid > db_.live.rbegin()->first)
          db_.live.emplace_hint(db_.live.end(), r.uid, ModseqEntry{r.modseq, r.signature});
        else
          db_.live[r.uid] = {r.modseq, r.signature};
      }
      // A record above the header (a torn or edited file) raises it: a
      // modseq seen anywhere is never given again.
      db_.highest = std::max(db_.highest, r.modseq);
    }
    group_.clear();
    db_.expunge_records += skipped_count_;
    db_.highest = std::max(db_.highest, skipped_top_);
    skipped_count_ = 0;
    skipped_top_ = 0;
    if (!group_boot_.empty()) {
      db_.reserved = std::max(db_.reserved, group_reserved_);
      db_.boot_id = std::string(group_boot_);
      group_boot_ = {};
    }
  }

  ModseqDb& db_;
  const bool v3_;
  std::vector<PendingRecord> group_;
  std::uint64_t group_reserved_ = 0;
  std::string_view group_boot_;
  std::uint64_t skipped_count_ = 0;  // X records of an "S" block skipped in this group
  std::uint64_t skipped_top_ = 0;    // the highest modseq its "S" line gives
  bool bad_ = false;
};

}  // namespace

lib::Result<ModseqDb> parse_modseq_db(std::string_view text, const std::string& origin, bool with_expunges) {
  ModseqDb db;
  db.expunges_loaded = with_expunges;
  std::size_t nl = text.find('\n');
  std::array<std::string_view, 7> h;
  std::size_t nh = line_fields(text.substr(0, nl), h);
  // Version 1 (five fields) was fsynced at every write: its highest is durable.
  const bool v1 = nh == 5 && h[1] == "1";
  const bool v3 = nh == 7 && h[1] == "3" && nl != std::string_view::npos;
  const bool v2 = nh == 7 && h[1] == "2";
  if ((!v1 && !v2 && !v3) || h[0] != modseq_file_name || !parse_number(h[2], db.uidvalidity) ||
      !parse_number(h[3], db.highest) || !parse_number(h[4], db.expunge_floor) || db.highest > max_modseq ||
      (!v1 && (!parse_number(h[5], db.reserved) || db.reserved > max_modseq || h[6].size() > 64))) {
    return lib::permanent_error(origin + ":1: not an imapd-modseq header (expected \"imapd-modseq 3 <uidvalidity> <highestmodseq> <expungefloor> <reserved> <bootid>\")");
  }
  if (!v1) db.boot_id = std::string(h[6]);
  RecordParser records(db, v3);
  records.parse(text, nl == std::string_view::npos ? text.size() : nl + 1, 0);
  records.finish(text.size());
  if (v1) db.reserved = db.highest;
  return db;
}

bool continue_modseq_db(ModseqDb& db, std::string_view appended) {
  if (!db.appendable) return false;
  RecordParser records(db, true);
  const std::size_t offset = db.committed_bytes;
  records.parse(appended, 0, offset);
  records.finish(offset + appended.size());
  return true;
}

namespace {

void append_live(std::string& out, std::uint32_t uid, const ModseqEntry& e) {
  char line[64];
  int n = std::snprintf(line, sizeof line, "%u %llu %016llx\n", uid, static_cast<unsigned long long>(e.modseq),
                        static_cast<unsigned long long>(e.signature));
  out.append(line, static_cast<std::size_t>(n));
}

void append_expunge(std::string& out, std::uint32_t uid, std::uint64_t modseq) {
  char line[48];
  int n = std::snprintf(line, sizeof line, "X %u %llu\n", uid, static_cast<unsigned long long>(modseq));
  out.append(line, static_cast<std::size_t>(n));
}

std::string commit_line(std::uint64_t highest) { return "C " + std::to_string(highest) + "\n"; }

}  // namespace

std::string format_modseq_db(const ModseqDb& db) {
  std::string out = std::string(modseq_file_name) + " 3 " + std::to_string(db.uidvalidity) + " " +
                    std::to_string(db.highest) + " " + std::to_string(db.expunge_floor) + " " +
                    std::to_string(db.reserved) + " " + (db.boot_id.empty() ? "-" : db.boot_id) + "\n";
  if (!db.expunged.empty()) {
    // The expunges first, as one block readers without them skip (parse).
    std::string block;
    block.reserve(db.expunged.size() * 26);
    std::uint64_t top = 0;
    for (const auto& [uid, modseq] : db.expunged) {
      append_expunge(block, uid, modseq);
      top = std::max(top, modseq);
    }
    out += "S " + std::to_string(db.expunged.size()) + " " + std::to_string(block.size()) + " " +
           std::to_string(top) + "\n";
    out += block;
  }
  out.reserve(out.size() + db.live.size() * 40 + 24);
  for (const auto& [uid, e] : db.live) append_live(out, uid, e);
  out += commit_line(db.highest);
  return out;
}

std::string format_modseq_changes(const ModseqDb& db, std::uint64_t since) {
  std::string out;
  for (const auto& [uid, e] : db.live)
    if (e.modseq > since) append_live(out, uid, e);
  for (const auto& [uid, modseq] : db.expunged)
    if (modseq > since) append_expunge(out, uid, modseq);
  return out;
}

std::vector<std::uint64_t> apply_modseq_observations(ModseqDb& db, const std::vector<ModseqObservation>& seen,
                                                     bool full, const std::set<std::uint32_t>& also_present,
                                                     const std::vector<std::uint32_t>& expunged_now,
                                                     std::uint64_t restart) {
  if (db.highest == 0) {
    // A new store: everything before it is unknown to it.
    db.highest = restart > 0 ? restart - 1 : 0;
    db.expunge_floor = db.highest;
  }
  auto next = [&]() {
    if (db.highest < max_modseq) ++db.highest;
    return db.highest;
  };
  std::vector<std::uint64_t> out;
  out.reserve(seen.size());
  std::set<std::uint32_t> present;
  for (const auto& o : seen) {
    auto it = db.live.find(o.uid);
    if (it == db.live.end()) {
      it = db.live.emplace(o.uid, ModseqEntry{next(), o.signature}).first;
      db.expunged.erase(o.uid);
    } else if (it->second.signature != o.signature) {
      it->second = {next(), o.signature};
    }
    out.push_back(it->second.modseq);
    if (full) present.insert(o.uid);
  }
  std::vector<std::uint32_t> gone(expunged_now);
  if (full) {
    for (const auto& [uid, e] : db.live)
      if (!present.count(uid) && !also_present.count(uid)) gone.push_back(uid);
  }
  std::sort(gone.begin(), gone.end());
  gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
  bool any = false;
  std::uint64_t expunge_modseq = 0;
  for (std::uint32_t uid : gone) {
    if (!db.live.erase(uid)) continue;
    if (!any) expunge_modseq = next();  // one modseq for the whole expunge
    any = true;
    db.expunged[uid] = expunge_modseq;
  }
  if (db.expunged.size() > max_expunged_remembered) {
    // Forget the oldest expunges (lowest modseq first).
    std::vector<std::pair<std::uint64_t, std::uint32_t>> by_modseq;
    by_modseq.reserve(db.expunged.size());
    for (const auto& [uid, m] : db.expunged) by_modseq.emplace_back(m, uid);
    std::sort(by_modseq.begin(), by_modseq.end());
    std::size_t drop = db.expunged.size() - max_expunged_remembered;
    for (std::size_t i = 0; i < drop; ++i) {
      db.expunge_floor = std::max(db.expunge_floor, by_modseq[i].first);
      db.expunged.erase(by_modseq[i].second);
    }
  }
  return out;
}

void recover_modseq_db(ModseqDb& db) {
  // A reservation whose commit line was lost still counts (it was fsynced).
  std::uint64_t base = std::max({db.highest, db.reserved, db.uncommitted_max});
  std::uint64_t fresh = base < max_modseq ? base + 1 : max_modseq;
  for (auto& [uid, e] : db.live) e.modseq = fresh;
  db.highest = fresh;
  db.expunge_floor = fresh;
  db.reserved = fresh;  // the new reservation is made by the durable write that must follow
}

namespace {

std::string modseq_path(const std::string& folder_dir) { return folder_dir + "/" + std::string(modseq_file_name); }

// `size` bytes of fd from `offset` (fewer at the end of the file).
lib::Result<std::string> read_at(int fd, const std::string& path, std::size_t offset, std::size_t size) {
  std::string out(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, out.data() + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return lib::temporary_error("cannot read " + path + ": " + lib::errno_text(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

// The file's text read through fd (the writer's own descriptor, so what it
// appends to is what it read); st: its fstat.
lib::Result<std::string> read_modseq_fd(int fd, const std::string& path, struct stat& st) {
  if (::fstat(fd, &st) != 0) return lib::temporary_error("cannot stat " + path + ": " + lib::errno_text(errno));
  if (static_cast<unsigned long long>(st.st_size) > max_modseq_bytes)
    return lib::permanent_error(path + " is larger than the limit of " + std::to_string(max_modseq_bytes) + " bytes");
  return read_at(fd, path, 0, static_cast<std::size_t>(st.st_size));
}

// load_modseq_db on text already read (open_errno: why it could not be).
ModseqDb modseq_db_from(const lib::Result<std::string>& text, int open_errno, const std::string& folder_dir,
                        std::uint32_t uidvalidity, bool* fresh_out, const std::string& boot_id, bool with_expunges) {
  if (fresh_out) *fresh_out = true;
  const std::string path = modseq_path(folder_dir);
  if (!text) {
    if (open_errno != ENOENT)
      lib::log::error("%s; starting a new mod-sequence store for %s (clients resynchronize their flags)",
                      text.error().message.c_str(), folder_dir.c_str());
  } else if (auto parsed = parse_modseq_db(*text, path, with_expunges); !parsed) {
    lib::log::error("%s; starting a new mod-sequence store above every value the old one could have given",
                    parsed.error().message.c_str());
  } else {
    ModseqDb db = std::move(*parsed);
    // Written without fsync in another boot: writes after its last fsynced
    // one may be lost (see modseq.hpp, Durability).
    const bool maybe_stale = db.boot_id != "-" && db.boot_id != boot_id;
    if (maybe_stale) {
      lib::log::notice("%s was last fsynced before this boot (%s); starting above its reserved mod-sequence %llu: "
                       "CONDSTORE/QRESYNC clients resynchronize all flags of %s once",
                       path.c_str(), db.boot_id.c_str(), static_cast<unsigned long long>(db.reserved),
                       folder_dir.c_str());
      // The recovered store is rewritten whole: with its expunges.
      if (!with_expunges) db = std::move(*parse_modseq_db(*text, path, true));
      recover_modseq_db(db);
    }
    if (db.uidvalidity == uidvalidity) {
      if (fresh_out) *fresh_out = maybe_stale;
      return db;
    }
    // Renumbered folder: the records are of other messages; the counter
    // still never goes back.
    ModseqDb fresh;
    fresh.uidvalidity = uidvalidity;
    fresh.highest = modseq_restart_value(std::max({db.highest, db.reserved, db.uncommitted_max}), 0) - 1;
    fresh.expunge_floor = fresh.highest;
    return fresh;
  }
  // Nothing trustworthy: restart from the clock, so no value the lost file
  // handed out comes back.
  ModseqDb fresh;
  fresh.uidvalidity = uidvalidity;
  fresh.highest = modseq_restart_value(0, now_microseconds()) - 1;
  fresh.expunge_floor = fresh.highest;
  return fresh;
}

// Enough has been appended (or too many expunges are remembered) that the
// next change rewrites the file (modseq.hpp): a reader parses the messages'
// records and the appended groups, so these stay within half the messages'
// records plus modseq_compaction_slack.
bool modseq_needs_compaction(const ModseqDb& db) {
  std::size_t appended = db.committed_bytes - std::min(db.committed_bytes, db.base_bytes);
  return appended > db.live.size() * 20 + modseq_compaction_slack ||
         db.expunge_records > max_expunged_remembered + max_expunged_remembered / 4;
}

lib::Result<void> write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("cannot append to " + path + ": " + lib::errno_text(errno) +
                                  (errno == ENOSPC || errno == EDQUOT ? "; free space on its file system" : ""));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

ModseqDb load_modseq_db(const std::string& folder_dir, std::uint32_t uidvalidity, bool* fresh_out,
                        const std::string& boot_id, bool with_expunges) {
  int open_errno = 0;
  auto text = lib::read_small_file(modseq_path(folder_dir), max_modseq_bytes, &open_errno);
  return modseq_db_from(text, open_errno, folder_dir, uidvalidity, fresh_out, boot_id, with_expunges);
}

lib::Result<void> save_modseq_db(const std::string& folder_dir, ModseqDb& db, const std::string& boot_id) {
  lib::AtomicFileOptions options;
  options.temp_path = folder_dir + "/tmp/imapd-modseq." + std::to_string(::getpid());
  // Always durable (file and directory fsynced): changes appended later are
  // fsynced into this inode, which must be the one a crash leaves in place.
  // So a reservation of this boot that covers db.highest stays valid;
  // otherwise (new, recovered, past it) this write reserves.
  options.durable = true;
  const std::string boot = boot_id.empty() ? "-" : boot_id;
  if (db.highest > db.reserved || db.boot_id != boot || boot_id.empty()) {
    db.reserved = db.highest < max_modseq - modseq_reserve_step ? db.highest + modseq_reserve_step : max_modseq;
    db.boot_id = boot;
  }
  return lib::write_file_atomically(modseq_path(folder_dir), format_modseq_db(db), options);
}

lib::Result<void> append_modseq_changes(int fd, const std::string& path, ModseqDb& db, std::uint64_t since,
                                        const std::string& boot_id) {
  std::string group = format_modseq_changes(db, since);
  // Without a boot id an unfsynced write could not be told from a durable
  // one after a crash: every change reserves (and is fsynced) then.
  if (db.highest <= db.reserved && !boot_id.empty()) {
    group += commit_line(db.highest);
    return write_all(fd, group, path);  // one write(2): readers see it whole or not at all
  }
  // A reservation: its group is fsynced before its commit line is written,
  // so no session relies on it (tells a value above the old one) before it
  // is on disk; recovery honors it even if the commit line is then lost.
  std::uint64_t reserved =
      db.highest < max_modseq - modseq_reserve_step ? db.highest + modseq_reserve_step : max_modseq;
  const std::string boot = boot_id.empty() ? "-" : boot_id;
  group += "R " + std::to_string(reserved) + " " + boot + "\n";
  if (auto w = write_all(fd, group, path); !w) return w;
  if (::fdatasync(fd) != 0)
    return lib::temporary_error("cannot fsync " + path + ": " + lib::errno_text(errno));
  if (auto w = write_all(fd, commit_line(db.highest), path); !w) return w;
  db.reserved = reserved;
  db.boot_id = boot;
  return {};
}

namespace {

// Whether apply_modseq_observations would change db (without changing it).
bool observations_change(const ModseqDb& db, const std::vector<ModseqObservation>& seen, bool full,
                         const std::set<std::uint32_t>& also_present, const std::vector<std::uint32_t>& expunged_now) {
  if (db.highest == 0) return true;
  for (const auto& o : seen) {
    auto it = db.live.find(o.uid);
    if (it == db.live.end() || it->second.signature != o.signature) return true;
  }
  for (std::uint32_t uid : expunged_now)
    if (db.live.count(uid)) return true;
  if (!full) return false;
  // Every record is observed (seen and also_present hold distinct UIDs) or
  // the missing ones are expunged now.
  std::size_t present = seen.size();
  for (std::uint32_t uid : also_present)
    if (db.live.count(uid)) ++present;
  return present != db.live.size();
}

}  // namespace

ModseqSyncResult sync_modseqs(const std::string& folder_dir, std::uint32_t uidvalidity,
                              const std::vector<ModseqObservation>& seen, bool full,
                              const std::set<std::uint32_t>& also_present,
                              const std::vector<std::uint32_t>& expunged_now, ModseqReading* reading) {
  const std::string path = modseq_path(folder_dir);
  const std::string& boot_id = current_boot_id();
  // Read through the descriptor appended to: the same inode (writers hold
  // ModseqLock, and a rewrite replaces the file only under it).
  lib::UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  int open_errno = fd ? 0 : errno;
  bool fresh = false;
  ModseqDb db;
  bool have = false;
  if (fd && reading && reading->valid) {
    // Still the file the caller read without the lock: read what was
    // appended since.
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && st.st_dev == reading->dev && st.st_ino == reading->ino &&
        static_cast<unsigned long long>(st.st_size) >= reading->db.committed_bytes &&
        static_cast<unsigned long long>(st.st_size) <= max_modseq_bytes) {
      const std::size_t from = reading->db.committed_bytes;
      auto tail = read_at(fd.get(), path, from, static_cast<std::size_t>(st.st_size) - from);
      if (tail && tail->size() == static_cast<std::size_t>(st.st_size) - from) {
        db = std::move(reading->db);
        have = continue_modseq_db(db, *tail);
      }
    }
    reading->valid = false;
    reading->fd.reset();
  }
  bool rewrite = have && !(db.appendable && !modseq_needs_compaction(db));
  if (!have || rewrite) {
    struct stat st {};
    lib::Result<std::string> text =
        fd ? read_modseq_fd(fd.get(), path, st)
           : lib::Result<std::string>(lib::temporary_error("cannot open " + path + ": " + lib::errno_text(open_errno)));
    db = modseq_db_from(text, open_errno, folder_dir, uidvalidity, &fresh, boot_id, false);
    rewrite = fresh || !db.appendable || modseq_needs_compaction(db);
    if (rewrite && !fresh && !db.expunges_loaded) {
      // A rewrite keeps the expunges (and forgets the oldest past the limit).
      db = modseq_db_from(text, open_errno, folder_dir, uidvalidity, &fresh, boot_id, true);
    }
  }
  const std::uint64_t before = db.highest;
  ModseqSyncResult r;
  r.modseqs = apply_modseq_observations(db, seen, full, also_present, expunged_now, 0);
  // Every change apply makes (a new record, a new signature, an expunge)
  // takes a new modseq, so an unchanged highest means nothing to write; an
  // untidy file (torn tail, bad line) waits for the next change.
  if (fresh || db.highest != before) {
    // A value above the durable reservation is never told before a
    // reservation covering it is on disk (both writes below see to it).
    auto w = rewrite || !fd ? save_modseq_db(folder_dir, db, boot_id)
                            : append_modseq_changes(fd.get(), path, db, before, boot_id);
    if (!w) lib::log::error("%s; mod-sequences of %s are not kept until it can be written", w.error().message.c_str(),
                            folder_dir.c_str());
  }
  r.highest = db.highest;
  r.expunge_floor = db.expunge_floor;
  return r;
}

std::optional<ModseqSyncResult> recorded_modseqs(const std::string& folder_dir, std::uint32_t uidvalidity,
                                                 const std::vector<ModseqObservation>& seen, bool full,
                                                 const std::set<std::uint32_t>& also_present,
                                                 const std::vector<std::uint32_t>& expunged_now,
                                                 ModseqReading* reading) {
  const std::string path = modseq_path(folder_dir);
  lib::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  int open_errno = fd ? 0 : errno;
  struct stat st {};
  lib::Result<std::string> text =
      fd ? read_modseq_fd(fd.get(), path, st)
         : lib::Result<std::string>(lib::temporary_error("cannot open " + path + ": " + lib::errno_text(open_errno)));
  bool fresh = false;
  ModseqDb db = modseq_db_from(text, open_errno, folder_dir, uidvalidity, &fresh, current_boot_id(), false);
  if (fresh) return std::nullopt;
  if (observations_change(db, seen, full, also_present, expunged_now)) {
    if (reading && db.appendable && text) {
      reading->db = std::move(db);
      reading->fd = std::move(fd);
      reading->dev = st.st_dev;
      reading->ino = st.st_ino;
      reading->valid = true;
    }
    return std::nullopt;
  }
  const std::uint64_t before = db.highest;
  ModseqSyncResult r;
  r.modseqs = apply_modseq_observations(db, seen, full, also_present, expunged_now, 0);
  // Every change apply makes takes a new modseq (see sync_modseqs).
  if (db.highest != before) return std::nullopt;
  r.highest = db.highest;
  r.expunge_floor = db.expunge_floor;
  return r;
}

lib::Result<std::uint64_t> folder_highest_modseq(const std::string& folder_dir) {
  auto scanned = lib::maildir::scan_messages(folder_dir, false);
  if (!scanned) return scanned.error();
  auto uids = read_uiddb(folder_dir);
  if (!uids) return uids.error();
  auto kw = read_keywords(folder_dir);
  KeywordMap keywords;
  if (kw) keywords = std::move(*kw);
  std::vector<ModseqObservation> seen;
  seen.reserve(scanned->size());
  for (const auto& m : *scanned) {
    auto u = uids->uids.find(m.base);
    if (u == uids->uids.end()) continue;  // not numbered yet: no modseq either
    auto k = keywords.find(m.base);
    seen.push_back({u->second, flag_signature(m.flags, k == keywords.end() ? std::set<std::string>{} : k->second)});
  }
  std::sort(seen.begin(), seen.end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
  ModseqLock lock(folder_dir);
  if (!lock.ok()) return lib::temporary_error("cannot lock " + folder_dir + "/tmp: " + lib::errno_text(errno));
  return sync_modseqs(folder_dir, uids->uidvalidity, seen, true, {}, {}).highest;
}

}  // namespace imapd
