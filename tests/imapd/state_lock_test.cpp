// tests/imapd/state_lock_test.cpp: a session that only looks at a folder's
// state files (courierimapuiddb, imapd-recent, imapd-modseq) does not queue
// behind a writer's lock, and one that must change them still takes it.
// Each case holds the lock the writers use (FolderLock on the folder, or
// ModseqLock on its tmp/) in this thread and runs the call in another: a
// look must finish while the lock is held, a change only after it is let go.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "imapd/folder_lock.hpp"
#include "imapd/mailbox.hpp"
#include "imapd/modseq.hpp"
#include "imapd/uiddb.hpp"
#include "lib/maildir.hpp"
#include "tests/imapd/maildir_folder_test.hpp"
#include "tests/lib/test_util.hpp"

// GCC 12 reports a false -Wfree-nonheap-object on the std::optional<Result>
// emplaced in the helper thread below (inlined vector deallocation).
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

namespace imapd {
namespace {

using namespace std::chrono_literals;

class StateLock : public MaildirFolderTest {
 protected:
  // Two sessions with INBOX selected, holding two messages without flags.
  std::pair<std::unique_ptr<Mailbox>, std::unique_ptr<Mailbox>> two_sessions_on_two_messages() {
    deliver("1.a.host");
    deliver("2.b.host");
    FolderName name;
    name.folder = "INBOX";
    auto one = Mailbox::open(folder_, name, false);
    auto two = Mailbox::open(folder_, name, false);
    if (!one.ok() || !two.ok()) return {};
    return {std::move(*one), std::move(*two)};
  }
  // Runs fn in another thread while `lock` is held here: true when it
  // finished within a second (the lock did not stop it). The lock is then
  // let go and fn's result waited for, so a blocked call never hangs the test.
  template <class Lock, class Fn>
  auto while_locked(std::optional<Lock>& lock, Fn fn, bool& finished_under_lock) {
    return while_held(fn, [&] { lock.reset(); }, finished_under_lock);
  }
  // The same with any holder: release() lets it go.
  template <class Fn, class Release>
  static auto while_held(Fn fn, Release release, bool& finished_in_time) {
    std::optional<decltype(fn())> result;
    std::atomic<bool> done{false};
    std::thread t([&] {
      result.emplace(fn());
      done = true;
    });
    auto until = std::chrono::steady_clock::now() + 1s;
    while (!done && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    finished_in_time = done;
    release();
    t.join();
    return std::move(*result);
  }
};

TEST_F(StateLock, NumberedMessagesAreLookedUpWithoutTheLock) {
  std::vector<std::string> bases = {"1.a.host", "2.b.host"};
  auto first = assign_uids(folder_, bases, &bases);
  ASSERT_TRUE(first.ok());
  std::optional<FolderLock> lock(std::in_place, folder_);
  ASSERT_TRUE(lock->ok());
  bool quick = false;
  auto again = while_locked(lock, [&] { return assign_uids(folder_, bases, &bases); }, quick);
  EXPECT_TRUE(quick) << "a lookup that writes nothing waited for the folder lock";
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->uids, first->uids);
  EXPECT_EQ(again->uidvalidity, first->uidvalidity);
  EXPECT_EQ(again->next_uid, first->next_uid);
}

TEST_F(StateLock, NewUidTakesTheLockAndDroppingWaitsForNone) {
  std::vector<std::string> bases = {"1.a.host", "2.b.host"};
  auto first = assign_uids(folder_, bases, &bases);
  ASSERT_TRUE(first.ok());
  // A new base: numbered under the lock, after the holder lets go.
  std::vector<std::string> more = {"1.a.host", "2.b.host", "3.c.host"};
  std::optional<FolderLock> lock(std::in_place, folder_);
  bool quick = true;
  auto grown = while_locked(lock, [&] { return assign_uids(folder_, more, &more); }, quick);
  EXPECT_FALSE(quick) << "a new UID was handed out without the folder lock";
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->uids[2], first->next_uid);
  // An entry to drop (message 1 is gone) while another process holds the
  // lock: answered at once, the entry kept for a later rescan.
  std::vector<std::string> fewer = {"2.b.host", "3.c.host"};
  lock.emplace(folder_);
  quick = false;
  auto kept = while_locked(lock, [&] { return assign_uids(folder_, fewer, &fewer); }, quick);
  EXPECT_TRUE(quick) << "dropping an entry waited for the folder lock";
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->uids, (std::vector<std::uint32_t>{grown->uids[1], grown->uids[2]}));
  EXPECT_EQ(kept->next_uid, grown->next_uid);
  auto db = read_uiddb(folder_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uids.count("1.a.host"), 1u);
  // With the lock free, the next call drops it; next_uid never goes back.
  auto pruned = assign_uids(folder_, fewer, &fewer);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(pruned->uids, kept->uids);
  db = read_uiddb(folder_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uids.count("1.a.host"), 0u);
  EXPECT_EQ(db->next_uid, grown->next_uid);
  // A message delivered now gets a UID above all, never message 1's.
  std::vector<std::string> later = {"2.b.host", "3.c.host", "4.d.host"};
  auto fresh = assign_uids(folder_, later, &later);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->uids[2], grown->next_uid);
}

TEST_F(StateLock, RecentIsReadWithoutTheLockButClaimedUnderIt) {
  auto c = claim_recent(folder_, 5, true);  // no file yet: claims UIDs 1-4
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  std::optional<FolderLock> lock(std::in_place, folder_);
  bool quick = false;
  auto look = while_locked(lock, [&] { return claim_recent(folder_, 9, false); }, quick);
  EXPECT_TRUE(quick) << "a look at imapd-recent waited for the folder lock";
  ASSERT_TRUE(look.ok() && look->has_value());
  EXPECT_EQ(**look, 4u);
  lock.emplace(folder_);
  quick = false;
  auto done = while_locked(lock, [&] { return claim_recent(folder_, 3, true); }, quick);
  EXPECT_TRUE(quick) << "a claim already made by someone else waited for the lock";
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_EQ(**done, 4u);  // not lowered
  lock.emplace(folder_);
  quick = true;
  auto raised = while_locked(lock, [&] { return claim_recent(folder_, 9, true); }, quick);
  EXPECT_FALSE(quick) << "imapd-recent was raised without the folder lock";
  ASSERT_TRUE(raised.ok() && raised->has_value());
  EXPECT_EQ(**raised, 4u);  // messages 5-8 are this caller's
  EXPECT_EQ(testutil::read_file(folder_ + "/imapd-recent"), "8\n");
}

TEST_F(StateLock, RecordedModseqsNeedNoLockAndChangesDo) {
  std::vector<ModseqObservation> seen = {{1, 11}, {2, 22}};
  // No store yet: nothing recorded, a change is due.
  EXPECT_FALSE(recorded_modseqs(folder_, 7, seen, true, {}, {}).has_value());
  ModseqSyncResult made;
  {
    ModseqLock lock(folder_);
    made = sync_modseqs(folder_, 7, seen, true, {}, {});
  }
  auto same = recorded_modseqs(folder_, 7, seen, true, {}, {});
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->modseqs, made.modseqs);
  EXPECT_EQ(same->highest, made.highest);
  // A new signature, a new UID, a missing UID, another UIDVALIDITY: each
  // would change the store, so none is answered without the lock.
  EXPECT_FALSE(recorded_modseqs(folder_, 7, {{1, 11}, {2, 23}}, true, {}, {}).has_value());
  EXPECT_FALSE(recorded_modseqs(folder_, 7, {{1, 11}, {2, 22}, {3, 33}}, true, {}, {}).has_value());
  EXPECT_FALSE(recorded_modseqs(folder_, 7, {{1, 11}}, true, {}, {}).has_value());
  EXPECT_FALSE(recorded_modseqs(folder_, 7, {{1, 11}}, false, {}, {2}).has_value());
  EXPECT_FALSE(recorded_modseqs(folder_, 8, seen, true, {}, {}).has_value());
  // A partial look at a recorded message is answered too.
  auto part = recorded_modseqs(folder_, 7, {{2, 22}}, false, {}, {});
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->modseqs, std::vector<std::uint64_t>{made.modseqs[1]});
}

TEST_F(StateLock, RescanWithNothingNewDoesNotWaitForAStore) {
  deliver("1.a.host");
  deliver("2.b.host", "S");
  FolderName name;
  name.folder = "INBOX";
  auto one = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(one.ok());
  auto& a = **one;
  std::uint64_t high = a.highest_modseq();
  // Another session's STORE holds the modseq lock (and the folder lock for a
  // moment): a rescan that finds nothing new goes on.
  std::optional<ModseqLock> lock(std::in_place, folder_);
  bool quick = false;
  auto r = while_locked(lock, [&] { return a.refresh(true); }, quick);
  EXPECT_TRUE(quick) << "a rescan with nothing to record waited for the modseq lock";
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(a.highest_modseq(), high);
  // A rename by another program while a STORE elsewhere holds the lock: a
  // session that tells no mod-sequences goes on without recording it...
  ASSERT_EQ(::rename((folder_ + "/cur/" + std::string(a.messages()[0].file_name())).c_str(),
                     (folder_ + "/cur/1.a.host:2,F").c_str()), 0);
  lock.emplace(folder_);
  quick = false;
  r = while_locked(lock, [&] { return a.refresh(true); }, quick);
  EXPECT_TRUE(quick) << "a session without CONDSTORE waited to record another's change";
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(a.messages()[0].maildir_flags(), "F");  // the flags are seen all the same
  // ...and records it, under the lock, once CONDSTORE is turned on: the
  // value it tells is above everything before, and in the store.
  lock.emplace(folder_);
  quick = true;
  while_locked(lock, [&] { a.set_condstore(true); return 0; }, quick);
  EXPECT_FALSE(quick) << "a new modseq was recorded without the modseq lock";
  EXPECT_GT(a.messages()[0].modseq, high);
  EXPECT_EQ(a.highest_modseq(), a.messages()[0].modseq);
  // A second session opened now reads the same values, lock-free.
  lock.emplace(folder_);
  quick = false;
  auto two = while_locked(lock, [&] { return Mailbox::open(folder_, name, true); }, quick);
  EXPECT_TRUE(quick) << "EXAMINE of an unchanged folder waited for the modseq lock";
  ASSERT_TRUE(two.ok());
  EXPECT_EQ((*two)->highest_modseq(), a.highest_modseq());
  EXPECT_EQ((*two)->messages()[0].modseq, a.messages()[0].modseq);
}

TEST_F(StateLock, CondstoreSessionWaitsForAStoreOthersDoNot) {
  auto [one, two] = two_sessions_on_two_messages();
  ASSERT_TRUE(one && two);
  auto& a = *one;
  auto& b = *two;
  // b's STORE holds the modseq lock from its first rename to its record.
  b.begin_batch();
  auto c = b.change_flags(0, {Mailbox::FlagChange::Mode::add, "F", {}});
  ASSERT_TRUE(c.ok() && *c);
  bool quick = false;
  auto r = while_held([&] { return a.refresh(true); }, [&] { EXPECT_TRUE(b.end_batch().ok()); }, quick);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(quick) << "a rescan without CONDSTORE queued behind another session's STORE";
  EXPECT_EQ(a.messages()[0].maildir_flags(), "F");
  a.set_condstore(true);  // the lock is free: records at once
  EXPECT_EQ(a.messages()[0].modseq, b.messages()[0].modseq);
  EXPECT_EQ(a.highest_modseq(), b.highest_modseq());
  // With CONDSTORE on, a rescan waits for the STORE and tells its value.
  b.begin_batch();
  c = b.change_flags(1, {Mailbox::FlagChange::Mode::add, "S", {}});
  ASSERT_TRUE(c.ok() && *c);
  r = while_held([&] { return a.refresh(true); }, [&] { EXPECT_TRUE(b.end_batch().ok()); }, quick);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(quick) << "a CONDSTORE session did not wait for the store to record the change";
  EXPECT_EQ(a.messages()[1].modseq, b.messages()[1].modseq);
  EXPECT_GT(a.messages()[1].modseq, a.messages()[0].modseq);
  EXPECT_NE(a.take_updates(true, true).find("MODSEQ (" + std::to_string(b.messages()[1].modseq) + ")"),
            std::string::npos);
}

TEST_F(StateLock, PlainStoresShareTheLockConditionalOnesExcludeThem) {
  auto [one, two] = two_sessions_on_two_messages();
  ASSERT_TRUE(one && two);
  auto& a = *one;
  auto& b = *two;
  // Two plain STOREs rename side by side.
  b.begin_batch();
  ASSERT_TRUE(b.change_flags(0, {Mailbox::FlagChange::Mode::add, "F", {}}).ok());
  bool quick = false;
  while_held([&] { a.begin_batch(); return 0; }, [] {}, quick);
  EXPECT_TRUE(quick) << "a plain STORE waited for another plain STORE";
  ASSERT_TRUE(a.change_flags(1, {Mailbox::FlagChange::Mode::add, "S", {}}).ok());
  // Each records after letting go; the later one waits only for the other's
  // batch, and the values differ and are both in the store.
  auto r = while_held([&] { return a.end_batch(); }, [&] { EXPECT_TRUE(b.end_batch().ok()); }, quick);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(a.messages()[1].modseq, b.messages()[0].modseq);
  // A conditional STORE waits for a plain one still renaming.
  b.begin_batch();
  quick = true;
  while_held([&] { a.begin_batch(true); return 0; }, [&] { EXPECT_TRUE(b.end_batch().ok()); }, quick);
  EXPECT_FALSE(quick) << "UNCHANGEDSINCE's test ran while a plain STORE was renaming";
  ASSERT_TRUE(a.end_batch().ok());
  // A rename not recorded yet (another program, or a plain STORE between
  // its renames and its record) raises the modseq the conditional test sees.
  ASSERT_TRUE(a.refresh(true).ok());  // b's change of message 1 seen
  std::uint64_t before = a.highest_modseq();
  ASSERT_EQ(::rename((folder_ + "/cur/" + std::string(a.messages()[0].file_name())).c_str(),
                     (folder_ + "/cur/1.a.host:2,FS").c_str()), 0);
  a.begin_batch(true);
  a.reload_modseqs();
  EXPECT_GT(a.messages()[0].modseq, before);
  ASSERT_TRUE(a.end_batch().ok());
  auto three = Mailbox::open(folder_, a.name(), true);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ((*three)->messages()[0].modseq, a.messages()[0].modseq);
}

}  // namespace
}  // namespace imapd
