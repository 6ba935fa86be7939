// imapd/mailbox.cpp: the selected folder's state (see mailbox.hpp).
#include "imapd/mailbox.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "imapd/folder_lock.hpp"
#include "imapd/uiddb.hpp"
#include "lib/log.hpp"
#include "lib/maildir_quota.hpp"

namespace imapd {
namespace {

namespace md = lib::maildir;

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

bool before(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

struct timespec dir_mtime(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return st.st_mtim;
}

// Local file systems whose directory mtimes come from this kernel's clock
// with sub-second precision.
bool has_fine_mtimes(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return false;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case EXT4_SUPER_MAGIC:  // also ext2/ext3, whose 128-byte inodes keep seconds only: tv_nsec 0
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
      return true;
    default:
      return false;
  }
}

std::uint64_t scans_started = 0;  // Mailbox::scan_serial()

}  // namespace

char maildir_letter(std::string_view f) {
  auto eq = [&](std::string_view w) {
    if (f.size() != w.size()) return false;
    for (std::size_t i = 0; i < f.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(f[i])) != std::tolower(static_cast<unsigned char>(w[i])))
        return false;
    return true;
  };
  if (eq("\\Seen")) return 'S';
  if (eq("\\Answered")) return 'R';
  if (eq("\\Flagged")) return 'F';
  if (eq("\\Deleted")) return 'T';
  if (eq("\\Draft")) return 'D';
  return 0;
}

namespace {

// assign_uids' answer from a courierimapuiddb read without the lock, when
// every base is numbered there already; *stale tells whether it also holds
// entries to drop (not in `present`). nullopt: a base needs a UID (or there
// is no file yet); the caller locks and reads again.
std::optional<UidAssignment> numbered_already(const UidDb& db, const std::vector<std::string>& bases,
                                              const std::vector<std::string>* present, std::uint32_t prune_below,
                                              bool* stale) {
  if (db.uidvalidity == 0) return std::nullopt;
  UidAssignment out;
  out.uids.reserve(bases.size());
  for (const auto& b : bases) {
    auto it = db.uids.find(b);
    if (it == db.uids.end()) return std::nullopt;
    out.uids.push_back(it->second);
  }
  *stale = false;
  if (present) {
    std::unordered_set<std::string_view> keep(present->begin(), present->end());
    for (const auto& entry : db.uids)
      if (entry.second < prune_below && !keep.count(entry.first)) *stale = true;
  }
  out.uidvalidity = db.uidvalidity;
  out.next_uid = db.next_uid;
  return out;
}

// The folder lock if no other process holds it now (flock, as FolderLock).
lib::UniqueFd try_lock_folder(const std::string& dir) {
  lib::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  while (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EINTR) return {};
  }
  return fd;
}

}  // namespace

lib::Result<UidAssignment> assign_uids(const std::string& dir, const std::vector<std::string>& bases,
                                       const std::vector<std::string>* present, std::uint32_t prune_below) {
  // The file is only ever replaced whole (write_uiddb renames), so a read
  // without the lock sees one version; when that version already numbers
  // every base, no UID is to be handed out and there is no need to queue
  // behind writers (10 sessions rescan on every command). Entries of
  // messages gone are dropped when the lock is free; when another process
  // holds it they stay for the next rescan (a UID is never reused: the file
  // keeps next_uid, and a kept entry only names a file no longer there).
  std::optional<lib::UniqueFd> early;
  auto seen = read_uiddb_snapshot(dir);
  if (seen) {
    bool stale = false;
    if (auto out = numbered_already(seen->db, bases, present, prune_below, &stale)) {
      if (!stale) return std::move(*out);
      lib::UniqueFd fd = try_lock_folder(dir);
      if (!fd) return std::move(*out);
      early.emplace(std::move(fd));
    }
  }
  std::optional<FolderLock> lock;
  if (!early) {
    lock.emplace(dir);
    if (!lock->ok()) return lib::temporary_error("cannot open folder " + dir + ": " + lib::errno_text(errno));
  }
  // Under the lock: the version read above if no one replaced it meanwhile.
  auto db = seen && same_uiddb(dir, *seen) ? lib::Result<UidDb>(std::move(seen->db)) : read_uiddb(dir);
  if (seen) seen->file.reset();
  bool changed = false;
  bool new_validity = false;
  if (!db) {
    lib::log::error("%s", db.error().message.c_str());
    db = UidDb{};
  }
  if (db->uidvalidity == 0) {
    auto v = next_uidvalidity(md::quota_root(dir));
    if (!v) lib::log::error("%s; using the clock for the UIDVALIDITY of %s", v.error().message.c_str(), dir.c_str());
    db->uidvalidity = v ? *v : static_cast<std::uint32_t>(std::time(nullptr));
    db->next_uid = 1;
    db->uids.clear();
    changed = true;
    new_validity = true;
  }
  // The durable UID reservation (uiddb.hpp): courierimapuiddb is written
  // without fsync while imapd-uidlimit, fsynced, bounds what was handed out.
  const std::string& boot = current_boot_id();
  std::optional<UidLimit> limit = read_uid_limit(dir);
  if (limit && limit->uidvalidity != db->uidvalidity) limit.reset();  // of an older numbering
  if (limit && limit->boot_id != "-" && limit->boot_id != boot) {
    // courierimapuiddb was written unfsynced in another boot: what was
    // handed out after its last durable state is unknown, up to the limit.
    if (db->next_uid < limit->limit) {
      lib::log::notice("%s/%s was written before this boot; numbering new messages from the reserved limit %u "
                       "(it said %u)", dir.c_str(), std::string(uiddb_file_name).c_str(), limit->limit,
                       db->next_uid);
      db->next_uid = limit->limit;
      changed = true;
    }
    limit->limit = 0;  // a new reservation is made below, in this boot
  }
  const std::uint32_t numbered_below = db->next_uid;  // UIDs already on disk
  UidAssignment out;
  out.uids.reserve(bases.size());
  for (const auto& b : bases) {
    auto it = db->uids.find(b);
    if (it != db->uids.end()) {
      out.uids.push_back(it->second);
      continue;
    }
    if (db->next_uid == 0xffffffffu) {
      return lib::permanent_error("folder " + dir + " has used up its UIDs; remove its courierimapuiddb to renumber (clients will resynchronize)");
    }
    std::uint32_t uid = db->next_uid++;
    db->uids.emplace(b, uid);
    out.uids.push_back(uid);
    changed = true;
  }
  if (present) {
    std::unordered_map<std::string_view, bool> keep;
    keep.reserve(present->size());
    for (const auto& p : *present) keep.emplace(p, true);
    for (auto it = db->uids.begin(); it != db->uids.end();) {
      if (it->second < prune_below && !keep.count(it->first)) {
        it = db->uids.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  if (changed) {
    // Fsynced only without a reservation: a new UIDVALIDITY, no boot id, or
    // a reservation that cannot be written.
    bool durable = new_validity || boot.empty();
    if (!boot.empty() && (!limit || db->next_uid > limit->limit)) {
      UidLimit raised{db->uidvalidity,
                      db->next_uid < 0xffffffffu - uid_reserve_step ? db->next_uid + uid_reserve_step : 0xffffffffu,
                      boot};
      if (auto r = write_uid_limit(dir, raised); !r) {
        lib::log::error("%s; writing %s/%s with fsync instead", r.error().message.c_str(), dir.c_str(),
                        std::string(uiddb_file_name).c_str());
        durable = true;
      }
    }
    auto w = write_uiddb(dir, *db, durable);
    if (!w) {
      // A full disk must not lock the user out (they need SELECT to delete
      // mail): serve what is numbered already; new messages get UID 0 (not
      // shown) until a write succeeds.
      lib::log::error("%s; new messages in %s stay hidden until it can be written", w.error().message.c_str(), dir.c_str());
      for (auto& u : out.uids)
        if (u >= numbered_below) u = 0;
      db->next_uid = numbered_below;
    }
  }
  out.uidvalidity = db->uidvalidity;
  out.next_uid = db->next_uid;
  return out;
}

lib::Result<std::string> read_message_file(int fd, const std::string& path, std::optional<std::size_t> limit) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return lib::temporary_error("cannot stat " + path + ": " + lib::errno_text(errno));
  if (st.st_size < 0 || st.st_size > (static_cast<off_t>(1) << 31))
    return lib::permanent_error(path + " is too large to be served");
  std::size_t size = static_cast<std::size_t>(st.st_size);
  if (limit && *limit < size) size = *limit;
  std::string data(size, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("cannot read " + path + ": " + lib::errno_text(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

lib::Result<std::uint64_t> file_crlf_size(const std::string& path) {
  lib::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return lib::temporary_error("cannot open " + path + ": " + lib::errno_text(errno));
  char buf[65536];
  std::uint64_t size = 0;
  char prev = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return lib::temporary_error("cannot read " + path + ": " + lib::errno_text(errno));
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n' && prev != '\r') ++size;
      prev = buf[i];
    }
    size += static_cast<std::uint64_t>(n);
  }
  return size;
}

lib::Result<MailboxStatus> folder_status(const std::string& dir, bool with_size) {
  struct stat cur {};
  if (::stat((dir + "/cur").c_str(), &cur) != 0 && (errno == ENOENT || errno == ENOTDIR))
    return lib::permanent_error("no such folder " + dir);
  auto scanned = md::scan_messages(dir, false);
  if (!scanned) return scanned.error();
  std::vector<std::string> bases;
  bases.reserve(scanned->size());
  MailboxStatus st;
  std::uint32_t in_new = 0;
  for (const auto& m : *scanned) {
    bases.push_back(m.base);
    ++st.messages;
    if (m.location == md::Location::new_dir) ++in_new;
    if (!md::has_flag(m.flags, 'S')) ++st.unseen;
    bool deleted = md::has_flag(m.flags, 'T');
    if (deleted) ++st.deleted;
    if (!with_size) continue;
    std::uint64_t size = 0;
    if (m.virtual_size_bytes) {
      size = *m.virtual_size_bytes;
    } else if (auto n = file_crlf_size(dir + "/" + std::string(md::location_dir(m.location)) + "/" + m.file_name)) {
      size = *n;
    }
    st.size += size;
    if (deleted) st.deleted_size += size;
  }
  auto a = assign_uids(dir, bases, &bases, 0);  // STATUS numbers, and leaves pruning to SELECT's rescans
  if (!a) return a.error();
  auto claimed = claim_recent(dir, a->next_uid, false);
  if (claimed && claimed->has_value()) {
    for (std::uint32_t uid : a->uids)
      if (uid > **claimed) ++st.recent;
  } else {
    st.recent = in_new;
  }
  st.uidnext = a->next_uid;
  st.uidvalidity = a->uidvalidity;
  return st;
}

lib::Result<std::unique_ptr<Mailbox>> Mailbox::open(const std::string& dir, const FolderName& name,
                                                    bool read_only) {
  struct stat st {};
  if (::stat((dir + "/cur").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    if (errno == ENOENT || errno == ENOTDIR || !S_ISDIR(st.st_mode))
      return lib::permanent_error("no such folder " + dir);
    return lib::temporary_error("cannot open folder " + dir + ": " + lib::errno_text(errno));
  }
  std::unique_ptr<Mailbox> mb(new Mailbox());
  mb->dir_ = dir;
  mb->name_ = name;
  mb->read_only_ = read_only;
  mb->fine_mtimes_ = has_fine_mtimes(dir);
  struct stat shared_st {};
  mb->follow_links_ = ::lstat((dir + "/shared").c_str(), &shared_st) == 0 && S_ISLNK(shared_st.st_mode);
  auto r = mb->scan(true);
  if (!r) return r.error();
  mb->told_exists_ = mb->messages_.size();
  mb->told_recent_ = mb->recent_count();
  mb->flag_changed_uids_.clear();
  return mb;
}

std::uint64_t Mailbox::scan_serial() { return scans_started; }

lib::Result<void> Mailbox::scan(bool initial, const struct timespec* times) {
  last_scan_serial_ = ++scans_started;
  // One pass over new/ (moving its messages to cur/ unless read-only) and
  // cur/, each opened once; their mtimes are taken before they are read.
  md::ScanOptions options;
  options.stat_files = false;
  options.move_new = !read_only_;
  options.follow_links = follow_links_ ? 1 : 0;
  struct timespec given[3];
  if (times) {
    given[0] = times[0];
    given[1] = times[1];
    given[2] = times[3];
    options.known_times = given;
  }
  auto folder = md::scan_folder(dir_, options);
  if (!folder) return folder.error();
  std::set<std::string> moved;
  for (const auto& n : folder->moved.moved) {
    auto p = md::parse_message_name(n);
    if (p) moved.insert(p->base);
  }
  for (const auto& e : folder->moved.errors) lib::log::warning("%s", e.c_str());
  // new/'s mtime is from before the moves, so the next refresh looks again
  // (a delivery during the moves is listed then).
  struct timespec new_m = folder->new_mtime;
  struct timespec cur_m = folder->cur_mtime;
  auto* scanned = &folder->messages;
  std::vector<std::string> bases;
  bases.reserve(scanned->size());
  for (const auto& m : *scanned) bases.push_back(m.base);
  // A rescan that finds exactly the messages it holds (only renames: flag
  // changes) has no UID to look up and nothing to prune: courierimapuiddb
  // is not read. A new message, or one gone, reads it as below (and checks
  // the UIDVALIDITY then).
  bool same_messages = false;
  if (!initial && !uids_to_prune_) {
    std::unordered_set<std::string_view> held;
    held.reserve(messages_.size());
    for (const auto& m : messages_)
      if (!m.vanished) held.insert(m.base());
    same_messages = held.size() == scanned->size() &&
                    std::all_of(scanned->begin(), scanned->end(),
                                [&](const md::MessageInfo& m) { return held.count(m.base) > 0; });
  }
  // Entries numbered since the previous scan are not pruned (see
  // assign_uids); the first scan prunes nothing, the next ones do.
  auto a = same_messages ? lib::Result<UidAssignment>(UidAssignment{uidvalidity_, next_uid_, std::vector<std::uint32_t>(scanned->size(), 0)})
                         : assign_uids(dir_, bases, &bases, initial ? 0 : next_uid_);
  if (!a) return a.error();
  if (!same_messages) uids_to_prune_ = false;
  if (!initial && a->uidvalidity != uidvalidity_) {
    return lib::permanent_error("UIDVALIDITY of " + dir_ + " changed (courierimapuiddb was removed or replaced)");
  }
  uidvalidity_ = a->uidvalidity;
  next_uid_ = a->next_uid;

  // Keywords: reread when the keyword folder changed.
  struct timespec kw_m = times ? times[2] : dir_mtime(dir_ + "/" + std::string(keywords_dir_name));
  KeywordMap kwmap;
  bool reread_kw = initial || !same_time(kw_m, kw_mtime_);
  if (reread_kw) {
    auto k = read_keywords(dir_);
    if (!k) {
      lib::log::warning("%s", k.error().message.c_str());
    } else {
      kwmap = std::move(*k);
    }
    kw_mtime_ = kw_m;
  }

  std::unordered_map<std::string_view, std::size_t> by_base;
  by_base.reserve(scanned->size());
  for (std::size_t i = 0; i < scanned->size(); ++i) by_base.emplace((*scanned)[i].base, i);

  std::vector<bool> known(scanned->size(), false);
  // Existing messages: vanished or renamed (flags changed by someone else).
  for (auto& m : messages_) {
    if (m.vanished) continue;
    auto it = by_base.find(m.base());
    if (it == by_base.end()) {
      m.vanished = true;
      continue;
    }
    known[it->second] = true;
    const auto& info = (*scanned)[it->second];
    bool changed = false;
    if (info.file_name != m.file_name()) {
      m.set_file_name(info.file_name);
      m.location = info.location;
      if (info.flags != m.maildir_flags()) {
        m.set_maildir_flags(info.flags);
        changed = true;
      }
    }
    if (reread_kw) {
      auto k = kwmap.find(m.base());
      KeywordSet kws = k == kwmap.end() ? KeywordSet() : KeywordSet(k->second);
      if (kws != m.keyword_set()) {
        m.set_keywords(std::move(kws));
        changed = true;
      }
    }
    if (changed) flag_changed_uids_.push_back(m.uid);
  }
  // New messages, in UID order (always above every UID we hold: the lock in
  // assign_uids hands out increasing UIDs).
  std::vector<std::pair<std::uint32_t, std::size_t>> fresh;
  std::set<std::uint32_t> also_present;  // on disk, not in messages_ (for the modseq store)
  std::uint32_t max_uid = messages_.empty() ? 0 : messages_.back().uid;
  for (std::size_t i = 0; i < scanned->size(); ++i) {
    if (known[i] || a->uids[i] == 0) continue;  // 0: not numbered (uiddb unwritable)
    if (a->uids[i] <= max_uid) {
      also_present.insert(a->uids[i]);
      // A message we had and marked vanished came back (renamed between two
      // scans): keep it gone for this session; it reappears on reselect.
      continue;
    }
    fresh.emplace_back(a->uids[i], i);
  }
  std::sort(fresh.begin(), fresh.end());
  // \Recent: the UIDs above what other sessions claimed are ours (EXAMINE
  // looks without claiming).
  std::optional<std::uint32_t> recent_above;
  if (!fresh.empty()) {
    std::uint32_t claim_to = fresh.back().first + 1;
    auto rc = claim_recent(dir_, claim_to, !read_only_);
    if (!rc) {
      lib::log::error("%s", rc.error().message.c_str());
    } else {
      recent_above = *rc;
    }
  }
  // Exactly what is needed: the table is most of an idle session's memory.
  if (!fresh.empty()) messages_.reserve(messages_.size() + fresh.size());
  for (const auto& [uid, i] : fresh) {
    const auto& info = (*scanned)[i];
    MessageState m;
    m.uid = uid;
    m.set_file_name(info.file_name);  // base: info.base, the name before ':'
    m.location = info.location;
    m.set_maildir_flags(info.flags);
    m.size_bytes = info.size_bytes;
    m.size_known = info.size_from_name;
    m.size_in_name = info.size_from_name;
    m.crlf_size = info.virtual_size_bytes;
    m.recent = recent_above ? uid > *recent_above
                            : moved.count(info.base) > 0 || (read_only_ && info.location == md::Location::new_dir);
    auto k = kwmap.find(m.base());
    if (k != kwmap.end()) m.set_keywords(k->second);  // unchanged keyword folder: none
    for (const auto& kw : m.keywords()) known_keywords_.insert(kw);
    messages_.push_back(std::move(m));
  }
  for (const auto& [base, kws] : kwmap)
    for (const auto& kw : kws) known_keywords_.insert(kw);
  // Every flag state seen gets its mod-sequence (changes by anyone).
  std::vector<std::size_t> all;
  all.reserve(messages_.size());
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (!messages_[i].vanished) all.push_back(i);
  // SELECT records in full (a QRESYNC client is told expunges from the
  // store); a rescan may leave a change another process is recording.
  sync_modseqs(all, true, also_present, {}, !initial);
  new_mtime_ = new_m;
  cur_mtime_ = cur_m;
  last_scan_at_ = folder->checked_at;
  return {};
}

bool Mailbox::settled(const struct timespec& m) const {
  // A change after the last scan read the clock gets an mtime at or after
  // that time (the kernel stamps directories from the same coarse clock,
  // never earlier), so an mtime before it differs from every later one. A
  // tv_nsec of 0 may be a file system that keeps seconds: then only an mtime
  // of an earlier second, with a second to spare, is trusted.
  if (fine_mtimes_ && m.tv_nsec != 0) return before(m, last_scan_at_);
  return m.tv_sec + 1 < last_scan_at_.tv_sec;
}

lib::Result<void> Mailbox::refresh(bool force) {
  if (!force) {
    // {new/, cur/, keyword folder, the clock before them}: what scan would
    // take before reading, so a rescan uses them.
    struct timespec times[4];
    ::clock_gettime(CLOCK_REALTIME_COARSE, &times[3]);
    struct timespec& new_m = times[0] = dir_mtime(dir_ + "/new");
    struct timespec& cur_m = times[1] = dir_mtime(dir_ + "/cur");
    struct timespec& kw_m = times[2] = dir_mtime(dir_ + "/" + std::string(keywords_dir_name));
    // A directory changed within the clock granularity of our last scan could
    // hide a second change with the same mtime: rescan while that is possible.
    if (same_time(new_m, new_mtime_) && same_time(cur_m, cur_mtime_) && same_time(kw_m, kw_mtime_) &&
        settled(new_m) && settled(cur_m))
      return {};
    return scan(false, times);
  }
  return scan(false);
}

std::uint32_t Mailbox::recent_count() const {
  std::uint32_t n = 0;
  for (const auto& m : messages_)
    if (m.recent && !m.vanished) ++n;
  return n;
}

std::uint32_t Mailbox::first_unseen() const {
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (!messages_[i].has_flag('S')) return static_cast<std::uint32_t>(i + 1);
  return 0;
}

std::uint32_t Mailbox::seq_of_uid(std::uint32_t uid) const {
  auto it = std::lower_bound(messages_.begin(), messages_.end(), uid,
                             [](const MessageState& m, std::uint32_t u) { return m.uid < u; });
  if (it == messages_.end() || it->uid != uid) return 0;
  return static_cast<std::uint32_t>(it - messages_.begin() + 1);
}

std::string Mailbox::flags_announcement() {
  std::string flags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
  for (const auto& k : known_keywords_) flags += " " + k;
  told_keywords_ = known_keywords_;
  std::string out = "* FLAGS (" + flags + ")\r\n";
  out += "* OK [PERMANENTFLAGS (" + (read_only_ ? std::string() : flags + " \\*") + ")] Limited\r\n";
  return out;
}

std::string Mailbox::take_flags_announcement() {
  if (told_keywords_ == known_keywords_) return {};
  return flags_announcement();
}

std::string Mailbox::flag_list(const MessageState& m) const {
  std::string out = "(";
  auto add = [&](std::string_view f) {
    if (out.size() > 1) out += ' ';
    out += f;
  };
  if (m.has_flag('R')) add("\\Answered");
  if (m.has_flag('F')) add("\\Flagged");
  if (m.has_flag('T')) add("\\Deleted");
  if (m.has_flag('S')) add("\\Seen");
  if (m.has_flag('D')) add("\\Draft");
  if (m.recent && !rev2_) add("\\Recent");
  for (const auto& k : m.keywords()) add(k);
  out += ')';
  return out;
}

std::string Mailbox::path_of(const MessageState& m) const {
  return dir_ + "/" + std::string(md::location_dir(m.location)) + "/" + std::string(m.file_name());
}

lib::Result<bool> Mailbox::follow_moved(MessageState& m) {
  auto found = md::find_message(dir_, m.base());
  if (!found) return found.error();
  if (!*found) return false;
  m.set_file_name((*found)->file_name);
  m.location = (*found)->location;
  auto p = md::parse_message_name(m.file_name());
  if (p && p->flags != m.maildir_flags()) {
    m.set_maildir_flags(p->flags);
    flag_changed_uids_.push_back(m.uid);
  }
  return true;
}

lib::Result<std::optional<lib::UniqueFd>> Mailbox::open_message(std::size_t index) {
  MessageState& m = messages_.at(index);
  if (m.vanished) return std::optional<lib::UniqueFd>();
  for (int attempt = 0; attempt < 3; ++attempt) {
    lib::UniqueFd fd(::open(path_of(m).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) return std::optional<lib::UniqueFd>(std::move(fd));
    if (errno != ENOENT) {
      return lib::temporary_error("cannot open " + path_of(m) + ": " + lib::errno_text(errno));
    }
    auto moved = follow_moved(m);
    if (!moved) return moved.error();
    if (!*moved) break;
  }
  m.vanished = true;
  return std::optional<lib::UniqueFd>();
}

lib::Result<void> Mailbox::stat_message(std::size_t index) {
  MessageState& m = messages_.at(index);
  if (m.internal_date != 0 && m.size_known) return {};
  struct stat st {};
  auto found = stat_file(index, st);
  if (!found) return found.error();
  if (!*found) return {};
  m.internal_date = st.st_mtime;
  if (!m.size_known) {
    m.size_bytes = static_cast<std::uint64_t>(st.st_size);
    m.size_known = true;
  }
  return {};
}

lib::Result<bool> Mailbox::stat_file(std::size_t index, struct stat& st) {
  MessageState& m = messages_.at(index);
  for (int attempt = 0; attempt < 3 && !m.vanished; ++attempt) {
    if (::stat(path_of(m).c_str(), &st) == 0) {
      m.internal_date = st.st_mtime;
      return true;
    }
    if (errno != ENOENT) return lib::temporary_error("cannot stat " + path_of(m) + ": " + lib::errno_text(errno));
    auto moved = follow_moved(m);
    if (!moved) return moved.error();
    if (!*moved) break;
  }
  m.vanished = true;
  return false;
}

std::string Mailbox::take_updates(bool allow_expunge, bool with_uid) {
  std::string out = take_flags_announcement();
  if (allow_expunge) {
    std::vector<std::uint32_t> vanished;
    for (std::size_t i = messages_.size(); i-- > 0;) {
      if (!messages_[i].vanished) continue;
      if (qresync_) vanished.push_back(messages_[i].uid);
      else out += "* " + std::to_string(i + 1) + " EXPUNGE\r\n";
      messages_.erase(messages_.begin() + static_cast<std::ptrdiff_t>(i));
      cache_prune_ = true;  // imapd-cache drops the entry at close
      if (told_exists_ > 0) --told_exists_;
    }
    out += vanished_line(std::move(vanished));
  }
  if (messages_.size() != told_exists_ || (!allow_expunge && messages_.size() > told_exists_)) {
    if (messages_.size() > told_exists_ || allow_expunge) {
      out += "* " + std::to_string(messages_.size()) + " EXISTS\r\n";
      told_exists_ = messages_.size();
    }
  }
  std::uint32_t recent = recent_count();
  if (recent != told_recent_) {
    if (!rev2_) out += "* " + std::to_string(recent) + " RECENT\r\n";
    told_recent_ = recent;
  }
  if (!flag_changed_uids_.empty()) {
    std::sort(flag_changed_uids_.begin(), flag_changed_uids_.end());
    flag_changed_uids_.erase(std::unique(flag_changed_uids_.begin(), flag_changed_uids_.end()),
                             flag_changed_uids_.end());
    for (std::uint32_t uid : flag_changed_uids_) {
      std::uint32_t seq = seq_of_uid(uid);
      if (seq == 0 || messages_[seq - 1].vanished) continue;
      out += "* " + std::to_string(seq) + " FETCH (";
      if (with_uid || qresync_) out += "UID " + std::to_string(uid) + " ";  // RFC 7162 3.2.4
      out += "FLAGS " + flag_list(messages_[seq - 1]);
      if (condstore_) out += " MODSEQ (" + std::to_string(messages_[seq - 1].modseq) + ")";
      out += ")\r\n";
    }
    flag_changed_uids_.clear();
  }
  return out;
}

lib::Result<bool> Mailbox::change_flags(std::size_t index, const FlagChange& change) {
  MessageState& m = messages_.at(index);
  if (m.vanished) return false;
  std::string add, remove;
  switch (change.mode) {
    case FlagChange::Mode::replace:
      add = change.letters;
      for (char c : std::string_view("DFRST"))
        if (change.letters.find(c) == std::string::npos) remove += c;
      break;
    case FlagChange::Mode::add:
      add = change.letters;
      break;
    case FlagChange::Mode::remove:
      remove = change.letters;
      break;
  }
  if (!add.empty() || !remove.empty() || m.location != md::Location::cur_dir) {
    // Applied to the name on disk now, not to m.maildir_flags (maybe stale).
    auto r = md::change_flags(dir_, m.file_name(), add, remove);
    if (!r) return r.error();
    if (!*r) {
      m.vanished = true;
      return false;
    }
    m.set_file_name(**r);
    m.location = md::Location::cur_dir;
    auto p = md::parse_message_name(m.file_name());
    if (p) m.set_maildir_flags(p->flags);
  }
  if (change.mode == FlagChange::Mode::replace || !change.keywords.empty()) {
    KeywordChange kc;
    kc.base = m.base();
    kc.keywords = change.keywords;
    kc.op = change.mode == FlagChange::Mode::replace ? KeywordChange::Op::set
            : change.mode == FlagChange::Mode::add   ? KeywordChange::Op::add
                                                     : KeywordChange::Op::remove;
    // The cache follows at once (the reply shows it); save_keywords then
    // replaces it with what is on disk after the update.
    std::set<std::string> now = m.keywords();
    if (kc.op == KeywordChange::Op::set) now = kc.keywords;
    else if (kc.op == KeywordChange::Op::add) now.insert(kc.keywords.begin(), kc.keywords.end());
    else for (const auto& k : kc.keywords) now.erase(k);
    m.set_keywords(now);
    for (const auto& k : m.keywords()) known_keywords_.insert(k);
    pending_keywords_.push_back(std::move(kc));
    if (batch_depth_ == 0) {
      auto s = save_keywords();
      if (!s) return s.error();
    }
  }
  pending_modseq_.push_back(index);
  if (batch_depth_ == 0) {
    std::vector<std::size_t> changed;
    changed.swap(pending_modseq_);
    sync_modseqs(changed, false);
  }
  return true;
}

lib::Result<void> Mailbox::end_batch() {
  if (batch_depth_ > 0) --batch_depth_;
  if (batch_depth_ != 0) return {};
  lib::Result<void> saved;
  if (!pending_keywords_.empty() || kw_gone_) saved = save_keywords();
  // A plain STORE's renames are done: let other STOREs' recording (and a
  // conditional STORE) in, and record under the exclusive lock below.
  if (batch_shared_) modseq_lock_.reset();
  std::vector<std::size_t> changed;
  changed.swap(pending_modseq_);
  if (!changed.empty()) sync_modseqs(changed, false);
  modseq_lock_.reset();
  return saved;
}

lib::Result<void> Mailbox::save_keywords() {
  std::vector<KeywordChange> changes;
  changes.swap(pending_keywords_);
  // Entries of messages gone (expunged here or elsewhere) leave :list when
  // it is written anyway, or once they are a quarter of it.
  std::unordered_set<std::string_view> present;
  present.reserve(messages_.size());
  for (const auto& m : messages_)
    if (!m.vanished) present.insert(m.base());
  kw_gone_ = false;
  auto map = update_keywords(dir_, changes, [&](std::string_view b) { return present.count(b) != 0; });
  if (!map) return map.error();
  std::set<std::string_view> ours;
  for (const auto& c : changes) ours.insert(c.base);
  for (auto& m : messages_) {
    if (m.vanished) continue;
    auto it = map->find(m.base());
    KeywordSet kws = it == map->end() ? KeywordSet() : KeywordSet(it->second);
    if (kws != m.keyword_set()) {
      m.set_keywords(std::move(kws));
      if (!ours.count(m.base())) flag_changed_uids_.push_back(m.uid);
    }
    for (const auto& k : m.keywords()) known_keywords_.insert(k);
  }
  kw_mtime_ = dir_mtime(dir_ + "/" + std::string(keywords_dir_name));
  return {};
}

lib::Result<std::string> Mailbox::expunge(const std::vector<bool>& which, const std::string& trash_dir,
                                          std::vector<std::uint32_t>* expunged_uids) {
  std::string out;
  std::vector<std::uint32_t> gone;
  bool kw_touched = false;
  // Removed messages leave the quota (Courier's maildir_quota_deleted); so
  // do ones moved to Trash, which does not count.
  const bool counts_here = md::folder_counts_toward_quota(dir_);
  std::int64_t removed_bytes = 0, removed_messages = 0;
  for (std::size_t i = messages_.size(); i-- > 0;) {
    MessageState& m = messages_[i];
    bool remove = m.vanished || (i < which.size() && which[i]);
    if (!remove) continue;
    if (!m.vanished) {
      if (!m.size_known) (void)stat_message(i);
      // Counted whatever its flags: it was counted when delivered, and
      // flagging it \Deleted (T) took nothing off maildirsize.
      bool counted = counts_here;
      for (int attempt = 0; attempt < 3; ++attempt) {
        std::string path = path_of(m);
        int rc = trash_dir.empty()
                     ? ::unlink(path.c_str())
                     : ::rename(path.c_str(), (trash_dir + "/cur/" + std::string(m.file_name())).c_str());
        if (rc == 0) break;
        if (errno != ENOENT) {
          return lib::temporary_error(std::string(trash_dir.empty() ? "cannot remove " : "cannot move to Trash ") +
                                      path + ": " + lib::errno_text(errno));
        }
        auto found = md::find_message(dir_, m.base());
        if (!found) return found.error();
        if (!*found) {
          counted = false;  // someone else removed (and counted) it
          break;
        }
        m.set_file_name((*found)->file_name);
        m.location = (*found)->location;
      }
      if (counted) {
        removed_bytes += static_cast<std::int64_t>(m.size_bytes);
        ++removed_messages;
      }
      if (!m.keywords().empty()) kw_touched = kw_gone_ = true;  // its :list entry: save_keywords
      if (expunged_uids) expunged_uids->push_back(m.uid);
    }
    gone.push_back(m.uid);
    uids_to_prune_ = true;  // its courierimapuiddb entry goes at the next rescan
    if (!qresync_) out += "* " + std::to_string(i + 1) + " EXPUNGE\r\n";
    messages_.erase(messages_.begin() + static_cast<std::ptrdiff_t>(i));
    cache_prune_ = true;  // imapd-cache drops the entry at close
    if (told_exists_ > 0) --told_exists_;
  }
  if (kw_touched && batch_depth_ == 0) {
    auto s = save_keywords();
    if (!s) lib::log::warning("%s", s.error().message.c_str());
  }
  if (removed_messages > 0) {
    auto q = md::update_quota(dir_, -removed_bytes, -removed_messages);
    if (!q) lib::log::warning("%s", q.error().message.c_str());
  }
  if (!gone.empty()) sync_modseqs({}, false, {}, gone);
  if (qresync_) out += vanished_line(std::move(gone));
  cur_mtime_ = dir_mtime(dir_ + "/cur");
  return out;
}

}  // namespace imapd
