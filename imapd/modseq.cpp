// imapd/modseq.cpp: the mod-sequence store (see modseq.hpp).
#include "imapd/modseq.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
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

template <class T>
bool parse_number(std::string_view s, T& out, int base = 10) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view line) { return state_file_fields(line, 6); }

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

lib::Result<ModseqDb> parse_modseq_db(std::string_view text, const std::string& origin) {
  ModseqDb db;
  std::size_t nl = text.find('\n');
  auto h = state_file_fields(text.substr(0, nl), 8);  // 8: one more than a version 2 header has
  // Version 1 (five fields) was fsynced at every write: its highest is durable.
  const bool v1 = h.size() == 5 && h[1] == "1";
  const bool v2 = h.size() == 7 && h[1] == "2";
  if ((!v1 && !v2) || h[0] != modseq_file_name || !parse_number(h[2], db.uidvalidity) ||
      !parse_number(h[3], db.highest) || !parse_number(h[4], db.expunge_floor) || db.highest > max_modseq ||
      (v2 && (!parse_number(h[5], db.reserved) || db.reserved > max_modseq || h[6].size() > 64))) {
    return lib::permanent_error(origin + ":1: not an imapd-modseq header (expected \"imapd-modseq 2 <uidvalidity> <highestmodseq> <expungefloor> <reserved> <bootid>\")");
  }
  if (v2) db.boot_id = std::string(h[6]);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  while (!rest.empty()) {
    nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    auto w = split(line);
    std::uint32_t uid = 0;
    std::uint64_t modseq = 0;
    if (w.size() == 3 && w[0] == "X") {
      if (!parse_number(w[1], uid) || uid == 0 || !parse_number(w[2], modseq) || modseq > max_modseq) continue;
      db.expunged[uid] = modseq;
    } else if (w.size() == 3) {
      std::uint64_t sig = 0;
      if (!parse_number(w[0], uid) || uid == 0 || !parse_number(w[1], modseq) || modseq > max_modseq ||
          w[2].size() != 16 || !parse_number(w[2], sig, 16))
        continue;
      db.live[uid] = {modseq, sig};
    } else {
      continue;
    }
    // A record above the header (a torn or edited file) raises it: a modseq
    // seen anywhere is never given again.
    db.highest = std::max(db.highest, modseq);
  }
  if (db.expunge_floor > db.highest) db.expunge_floor = db.highest;
  if (v1) db.reserved = db.highest;
  return db;
}

std::string format_modseq_db(const ModseqDb& db) {
  std::string out = std::string(modseq_file_name) + " 2 " + std::to_string(db.uidvalidity) + " " +
                    std::to_string(db.highest) + " " + std::to_string(db.expunge_floor) + " " +
                    std::to_string(db.reserved) + " " + (db.boot_id.empty() ? "-" : db.boot_id) + "\n";
  out.reserve(out.size() + db.live.size() * 40 + db.expunged.size() * 24);
  char sig[17];
  for (const auto& [uid, e] : db.live) {
    std::snprintf(sig, sizeof sig, "%016llx", static_cast<unsigned long long>(e.signature));
    out += std::to_string(uid);
    out += ' ';
    out += std::to_string(e.modseq);
    out += ' ';
    out += sig;
    out += '\n';
  }
  for (const auto& [uid, modseq] : db.expunged) {
    out += "X ";
    out += std::to_string(uid);
    out += ' ';
    out += std::to_string(modseq);
    out += '\n';
  }
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
  std::uint64_t base = std::max(db.highest, db.reserved);
  std::uint64_t fresh = base < max_modseq ? base + 1 : max_modseq;
  for (auto& [uid, e] : db.live) e.modseq = fresh;
  db.highest = fresh;
  db.expunge_floor = fresh;
  db.reserved = fresh;  // the new reservation is made by the durable write that must follow
}

ModseqDb load_modseq_db(const std::string& folder_dir, std::uint32_t uidvalidity, bool* fresh_out,
                        const std::string& boot_id) {
  if (fresh_out) *fresh_out = true;
  std::string path = folder_dir + "/" + std::string(modseq_file_name);
  int open_errno = 0;
  auto text = lib::read_small_file(path, max_modseq_bytes, &open_errno);
  ModseqDb db;
  if (!text) {
    if (open_errno != ENOENT)
      lib::log::error("%s; starting a new mod-sequence store for %s (clients resynchronize their flags)",
                      text.error().message.c_str(), folder_dir.c_str());
  } else if (auto parsed = parse_modseq_db(*text, path); !parsed) {
    lib::log::error("%s; starting a new mod-sequence store above every value the old one could have given",
                    parsed.error().message.c_str());
  } else {
    db = std::move(*parsed);
    // Written without fsync in another boot: writes after its last fsynced
    // one may be lost (see modseq.hpp, Durability).
    const bool maybe_stale = db.boot_id != "-" && db.boot_id != boot_id;
    if (maybe_stale) {
      lib::log::notice("%s was last fsynced before this boot (%s); starting above its reserved mod-sequence %llu: "
                       "CONDSTORE/QRESYNC clients resynchronize all flags of %s once",
                       path.c_str(), db.boot_id.c_str(), static_cast<unsigned long long>(db.reserved),
                       folder_dir.c_str());
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
    fresh.highest = modseq_restart_value(std::max(db.highest, db.reserved), 0) - 1;
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

lib::Result<void> save_modseq_db(const std::string& folder_dir, ModseqDb& db, bool durable,
                                 const std::string& boot_id) {
  lib::AtomicFileOptions options;
  options.temp_path = folder_dir + "/tmp/imapd-modseq." + std::to_string(::getpid());
  // Without a boot id an unfsynced write could not be told from a durable
  // one after a crash: every write is fsynced then.
  if (boot_id.empty()) durable = true;
  if (durable || db.highest > db.reserved) {
    durable = true;
    db.reserved = db.highest < max_modseq - modseq_reserve_step ? db.highest + modseq_reserve_step : max_modseq;
    db.boot_id = boot_id.empty() ? "-" : boot_id;
  }
  options.durable = durable;
  return lib::write_file_atomically(folder_dir + "/" + std::string(modseq_file_name), format_modseq_db(db),
                                    options);
}

ModseqSyncResult sync_modseqs(const std::string& folder_dir, std::uint32_t uidvalidity,
                              const std::vector<ModseqObservation>& seen, bool full,
                              const std::set<std::uint32_t>& also_present,
                              const std::vector<std::uint32_t>& expunged_now) {
  bool fresh = false;
  ModseqDb db = load_modseq_db(folder_dir, uidvalidity, &fresh);
  const std::uint64_t before = db.highest;
  ModseqSyncResult r;
  r.modseqs = apply_modseq_observations(db, seen, full, also_present, expunged_now, 0);
  // Every change apply makes (a new record, a new signature, an expunge)
  // takes a new modseq, so an unchanged highest means nothing to write.
  if (fresh || db.highest != before) {
    // Fsynced only when it reserves (a fresh or recovered store, or highest
    // past the reservation): a value above the durable reservation is never
    // told before that reservation is on disk.
    auto w = save_modseq_db(folder_dir, db, fresh);
    if (!w) lib::log::error("%s; mod-sequences of %s are not kept until it can be written", w.error().message.c_str(),
                            folder_dir.c_str());
  }
  r.highest = db.highest;
  r.expunge_floor = db.expunge_floor;
  r.expunged = std::move(db.expunged);
  return r;
}

std::optional<ModseqSyncResult> recorded_modseqs(const std::string& folder_dir, std::uint32_t uidvalidity,
                                                 const std::vector<ModseqObservation>& seen, bool full,
                                                 const std::set<std::uint32_t>& also_present,
                                                 const std::vector<std::uint32_t>& expunged_now) {
  bool fresh = false;
  ModseqDb db = load_modseq_db(folder_dir, uidvalidity, &fresh);
  if (fresh) return std::nullopt;
  const std::uint64_t before = db.highest;
  ModseqSyncResult r;
  r.modseqs = apply_modseq_observations(db, seen, full, also_present, expunged_now, 0);
  // Every change apply makes takes a new modseq (see sync_modseqs).
  if (db.highest != before) return std::nullopt;
  r.highest = db.highest;
  r.expunge_floor = db.expunge_floor;
  r.expunged = std::move(db.expunged);
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
