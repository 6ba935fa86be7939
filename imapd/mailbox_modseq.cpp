// imapd/mailbox_modseq.cpp: the selected folder's mod-sequences (CONDSTORE,
// QRESYNC; RFC 7162) kept in imapd/modseq.hpp's store. See mailbox.hpp.
#include <algorithm>
#include <cerrno>

#include "imapd/mailbox.hpp"
#include "imapd/sequence_set.hpp"
#include "lib/log.hpp"

namespace imapd {

void Mailbox::begin_batch(bool conditional) {
  if (batch_depth_++ == 0 && !read_only_) {
    batch_shared_ = !conditional;
    modseq_lock_.emplace(dir_, true, batch_shared_);
    if (!modseq_lock_->ok())
      lib::log::error("cannot lock %s/tmp: %s; mod-sequences are recorded without it", dir_.c_str(),
                      lib::errno_text(errno).c_str());
  }
}

void Mailbox::set_condstore(bool on) {
  condstore_ = on;
  if (on) keep_modseqs_current();
}

void Mailbox::keep_modseqs_current() {
  keep_modseqs_ = true;
  if (!modseqs_stale_) return;
  std::vector<std::size_t> known;
  known.reserve(messages_.size());
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (!messages_[i].vanished) known.push_back(i);
  sync_modseqs(known, false);
  modseqs_stale_ = false;
}

void Mailbox::sync_modseqs(const std::vector<std::size_t>& indexes, bool full,
                           const std::set<std::uint32_t>& also_present,
                           const std::vector<std::uint32_t>& expunged_now, bool observer) {
  std::vector<ModseqObservation> seen;
  seen.reserve(indexes.size());
  for (std::size_t i : indexes) {
    const MessageState& m = messages_.at(i);
    seen.push_back({m.uid, flag_signature(m.maildir_flags(), m.keywords())});
  }
  // Outside a batch, a rescan that finds nothing new to record reads the
  // store without queueing behind writers; otherwise lock and record.
  std::optional<ModseqSyncResult> looked;
  ModseqReading reading;  // what that read, for recording to go on from
  if (!modseq_lock_) looked = recorded_modseqs(dir_, uidvalidity_, seen, full, also_present, expunged_now, &reading);
  std::optional<ModseqLock> own;
  if (!looked && !modseq_lock_ && observer && !keep_modseqs_ && !condstore_ && !qresync_) {
    // A rescan found something unrecorded, most often a change whose maker
    // (a STORE, EXPUNGE or APPEND in another session) is recording it now,
    // holding the lock. This session tells no mod-sequences, so it does not
    // queue behind that: the maker records its own change, and whatever
    // else is left (a rename by another program) is recorded by the next
    // session that needs the values (SELECT, a CONDSTORE session, or this
    // one when CONDSTORE is turned on: set_condstore). Every value a client
    // is told is still in the store first, so none is ever given twice.
    own.emplace(dir_, false);
    if (!own->ok()) {
      modseqs_stale_ = true;
      return;
    }
  } else if (!looked && !modseq_lock_) {
    own.emplace(dir_);
    if (!own->ok())
      lib::log::error("cannot lock %s/tmp: %s; mod-sequences are recorded without it", dir_.c_str(),
                      lib::errno_text(errno).c_str());
  }
  auto r = looked ? std::move(*looked)
                  : imapd::sync_modseqs(dir_, uidvalidity_, seen, full, also_present, expunged_now, &reading);
  for (std::size_t k = 0; k < indexes.size(); ++k) {
    MessageState& m = messages_[indexes[k]];
    // A change recorded by someone else (or by a program renaming the file)
    // is told to a CONDSTORE client even when the flags look the same here.
    if (full && condstore_ && m.modseq != 0 && m.modseq != r.modseqs[k]) flag_changed_uids_.push_back(m.uid);
    m.modseq = r.modseqs[k];
  }
  if (full) modseqs_stale_ = false;  // everything this session knows is recorded now
  highest_modseq_ = r.highest;
}

void Mailbox::reload_modseqs() {
  if (modseq_lock_ && !batch_shared_) {
    auto r = scan(false);  // records what it finds (the lock is ours, exclusive)
    if (!r) lib::log::warning("%s", r.error().message.c_str());
  }
  bool fresh = false;
  ModseqDb db = load_modseq_db(dir_, uidvalidity_, &fresh, current_boot_id(), false);
  // A new or recovered store is not on disk yet: its values are told only
  // once written (by sync_modseqs, under the lock).
  if (fresh) return;
  for (auto& m : messages_) {
    auto it = db.live.find(m.uid);
    if (it != db.live.end()) m.modseq = std::max(m.modseq, it->second.modseq);
  }
  highest_modseq_ = std::max(highest_modseq_, db.highest);
}

std::vector<std::uint32_t> Mailbox::vanished_since(std::uint64_t modseq,
                                                   const std::vector<std::uint32_t>& candidates) const {
  std::vector<std::uint32_t> out;
  if (candidates.empty()) return out;
  // A store not on disk (new or recovered) has its floor above every value
  // told: every candidate not present is reported.
  const ModseqDb db = load_modseq_db(dir_, uidvalidity_);
  for (std::uint32_t uid : candidates) {
    if (uid >= next_uid_) break;
    std::uint32_t seq = seq_of_uid(uid);
    if (seq != 0 && !messages_[seq - 1].vanished) continue;
    auto it = db.expunged.find(uid);
    if (it != db.expunged.end() ? it->second > modseq : modseq < db.expunge_floor) out.push_back(uid);
  }
  return out;
}

std::string Mailbox::vanished_line(std::vector<std::uint32_t> uids) const {
  if (uids.empty()) return {};
  std::sort(uids.begin(), uids.end());
  return "* VANISHED " + format_numbers(uids) + "\r\n";
}

}  // namespace imapd
