// tests/imapd/state_durability_test.cpp: what the folder state files promise
// after a power loss (README.md, "What survives a power loss"). imapd-modseq
// and courierimapuiddb are written without fsync between durable
// reservations; a crash of the machine is simulated by rolling a file back to
// its last fsynced content and giving it another boot id than the running
// kernel's (a killed process loses nothing: its writes are in the page cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "imapd/mailbox.hpp"
#include "imapd/modseq.hpp"
#include "imapd/uiddb.hpp"
#include "tests/imapd/maildir_folder_test.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

// The header field `index` (0-based) of a state file's first line.
std::string header_field(const std::string& text, std::size_t index) {
  auto f = state_file_fields(std::string_view(text).substr(0, text.find('\n')), 8);
  return index < f.size() ? std::string(f[index]) : std::string();
}

std::vector<ModseqObservation> obs(std::initializer_list<std::pair<std::uint32_t, std::uint64_t>> l) {
  std::vector<ModseqObservation> out;
  for (auto [u, s] : l) out.push_back({u, s});
  return out;
}

// The text with every occurrence of `from` replaced by `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class StateDurability : public MaildirFolderTest {
 protected:
  std::string modseq_path() const { return folder_ + "/imapd-modseq"; }
  ModseqSyncResult record(std::initializer_list<std::pair<std::uint32_t, std::uint64_t>> l, bool full = true) {
    ModseqLock lock(folder_);
    return sync_modseqs(folder_, 9, obs(l), full, {}, {});
  }
  // The store as the file says now (header and appended records).
  ModseqDb on_disk() const {
    auto db = parse_modseq_db(testutil::read_file(modseq_path()), "t");
    EXPECT_TRUE(db.ok());
    return db.ok() ? *db : ModseqDb{};
  }
};

TEST_F(StateDurability, BootIdIsKnownHere) {
  // Linux gives one; without it every write would be fsynced (and the
  // tests below would not test the unfsynced path).
  ASSERT_FALSE(current_boot_id().empty());
  EXPECT_EQ(current_boot_id().find(' '), std::string::npos);
}

TEST_F(StateDurability, ModseqReservationMovesOnlyEveryStepChanges) {
  auto first = record({{1, 1}, {2, 2}});
  auto text = testutil::read_file(modseq_path());
  EXPECT_EQ(header_field(text, 1), "3");
  EXPECT_EQ(header_field(text, 6), current_boot_id());
  const std::uint64_t reserved = on_disk().reserved;
  EXPECT_EQ(reserved, first.highest + modseq_reserve_step);
  // Changes within the reservation keep it (those appends are not fsynced
  // and carry no "R" record).
  std::uint64_t h = first.highest;
  std::uint64_t sig = 100;
  while (h < reserved) {
    h = record({{1, ++sig}}, false).highest;
    if (h < reserved) {
      EXPECT_EQ(on_disk().reserved, reserved);
    }
  }
  EXPECT_EQ(testutil::read_file(modseq_path()).find("\nR "), std::string::npos);
  // One more: above the reservation, a new one is appended (and fsynced) first.
  auto past = record({{1, ++sig}}, false);
  EXPECT_GT(past.highest, reserved);
  ModseqDb now = on_disk();
  EXPECT_EQ(now.reserved, past.highest + modseq_reserve_step);
  EXPECT_EQ(now.boot_id, current_boot_id());
  // Appended as an R record (unless this change also compacted the file).
  std::string after = testutil::read_file(modseq_path());
  if (header_field(after, 5) != std::to_string(now.reserved)) {
    EXPECT_NE(after.find("\nR " + std::to_string(now.reserved) + " " + current_boot_id() + "\nC " +
                         std::to_string(past.highest) + "\n"),
              std::string::npos);
  }
}

TEST_F(StateDurability, ModseqAfterPowerLossStartsAboveEverythingTold) {
  record({{1, 1}, {2, 2}, {3, 3}});
  // The last durable content is the file as it was when the reservation
  // last changed (that write was fsynced, with everything before it): keep
  // it as the disk would after a power loss. Then go past one reservation.
  std::string durable = testutil::read_file(modseq_path());
  std::uint64_t reserved = on_disk().reserved;
  std::uint64_t told = 0;
  int reservations = 0;
  auto change = [&](std::initializer_list<std::pair<std::uint32_t, std::uint64_t>> l, bool full) {
    told = std::max(told, record(l, full).highest);
    if (on_disk().reserved != reserved) {  // this write was the fsynced one
      durable = testutil::read_file(modseq_path());
      reserved = on_disk().reserved;
      ++reservations;
    }
  };
  std::uint64_t sig = 10;
  for (int i = 0; i < static_cast<int>(modseq_reserve_step) + 200; ++i) change({{1, ++sig}, {2, 2}, {3, 3}}, true);
  EXPECT_GE(reservations, 1);
  // UID 3 is expunged after the durable write; UID 2's flags change back
  // and forth so that its disk state equals its lost record's.
  change({{1, sig}, {2, 2}}, true);
  change({{1, sig}, {2, 99}}, false);
  change({{1, sig}, {2, 2}}, false);
  ASSERT_NE(durable, testutil::read_file(modseq_path()));
  // Power loss: the unfsynced appends are gone, and the boot is another.
  testutil::write_file(modseq_path(), replace_all(durable, current_boot_id(), "another-boot"));
  ModseqLock lock(folder_);
  auto after = sync_modseqs(folder_, 9, obs({{1, sig}, {2, 2}}), true, {}, {});
  EXPECT_GT(after.highest, told);
  // Every message, changed since the durable write or not, reports a modseq
  // above what a client saw: CHANGEDSINCE <anything told> returns it.
  for (std::uint64_t m : after.modseqs) EXPECT_GT(m, told);
  // UID 3's expunge was lost with the writes: VANISHED (EARLIER) from any
  // modseq told reports every UID not present (the floor is above them).
  EXPECT_GT(after.expunge_floor, told);
  // Recovered once: the file is rewritten, durable, in this boot, reserving ahead.
  auto text = testutil::read_file(modseq_path());
  EXPECT_EQ(header_field(text, 6), current_boot_id());
  EXPECT_GE(std::stoull(header_field(text, 5)), after.highest + modseq_reserve_step);
  EXPECT_EQ(text.find("another-boot"), std::string::npos);
  auto again = sync_modseqs(folder_, 9, obs({{1, sig}, {2, 2}}), true, {}, {});
  EXPECT_EQ(again.highest, after.highest);
}

TEST_F(StateDurability, ModseqReservationWhoseCommitLineWasLostStillCounts) {
  // A reservation group is fsynced before its commit line is written; a
  // session may tell values under it as soon as the commit line is in the
  // page cache. If a power loss then keeps the group but not the commit
  // line, recovery must start above that reservation anyway.
  auto first = record({{1, 1}, {2, 2}});
  std::string text = testutil::read_file(modseq_path());
  const std::uint64_t big = first.highest + 5 * modseq_reserve_step;
  text += "1 " + std::to_string(first.highest + 1) + " 0000000000000007\nR " + std::to_string(big) + " another-boot\n";
  testutil::write_file(modseq_path(), replace_all(text, current_boot_id(), "another-boot"));
  ModseqLock lock(folder_);
  auto after = sync_modseqs(folder_, 9, obs({{1, 7}, {2, 2}}), true, {}, {});
  EXPECT_GT(after.highest, big);
  for (std::uint64_t m : after.modseqs) EXPECT_GT(m, big);
}

TEST_F(StateDurability, ModseqRecordLostAfterKillIsNotAPowerLoss) {
  // Same boot (imapd killed with SIGKILL): the file on disk is the last one
  // written, so nothing is renumbered.
  auto a = record({{1, 1}, {2, 2}});
  auto b = record({{1, 1}, {2, 2}});
  EXPECT_EQ(a.highest, b.highest);
  EXPECT_EQ(a.modseqs, b.modseqs);
  // A writer killed in the middle of its append leaves a group without its
  // commit line: not applied, and not renumbered either.
  testutil::write_file(modseq_path(), testutil::read_file(modseq_path()) + "1 " + std::to_string(a.highest + 1) +
                                          " 0000000000000009\n");
  auto c = record({{1, 1}, {2, 2}});
  EXPECT_EQ(c.highest, a.highest);
  EXPECT_EQ(c.modseqs, a.modseqs);
}

TEST_F(StateDurability, ModseqVersion1FileIsTrustedAsDurable) {
  testutil::write_file(modseq_path(), "imapd-modseq 1 9 500 400\n1 450 0000000000000001\n2 500 0000000000000002\n");
  bool fresh = true;
  auto db = load_modseq_db(folder_, 9, &fresh, "some-boot");
  EXPECT_FALSE(fresh);
  EXPECT_EQ(db.highest, 500u);
  EXPECT_EQ(db.live.at(1).modseq, 450u);
  // Its first change reserves and records this boot (rewritten as version 3).
  ModseqLock lock(folder_);
  auto r = sync_modseqs(folder_, 9, obs({{1, 7}, {2, 2}}), true, {}, {});
  EXPECT_EQ(r.modseqs[0], 501u);
  EXPECT_EQ(r.modseqs[1], 500u);
  EXPECT_EQ(header_field(testutil::read_file(modseq_path()), 1), "3");
  EXPECT_EQ(on_disk().reserved, 501 + modseq_reserve_step);
}

TEST(ModseqRecover, GivesEveryMessageOneValueAboveTheReservation) {
  ModseqDb db;
  db.uidvalidity = 1;
  db.highest = 40;
  db.reserved = 1064;
  db.expunge_floor = 3;
  db.live[1] = {12, 1};
  db.live[2] = {40, 2};
  db.expunged[5] = 30;
  recover_modseq_db(db);
  EXPECT_EQ(db.highest, 1065u);
  EXPECT_EQ(db.live.at(1).modseq, 1065u);
  EXPECT_EQ(db.live.at(2).modseq, 1065u);
  EXPECT_EQ(db.expunge_floor, 1065u);
  EXPECT_EQ(db.expunged.at(5), 30u);  // still told exactly to whoever asks from below it
}

class UidDurability : public MaildirFolderTest {
 protected:
  std::vector<std::string> names(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i <= to; ++i) out.push_back(std::to_string(i) + ".m.host");
    return out;
  }
  std::uint32_t max_uid(const UidAssignment& a) { return *std::max_element(a.uids.begin(), a.uids.end()); }
};

TEST_F(UidDurability, PowerLossNeverReusesAUid) {
  auto first = assign_uids(folder_, names(1, 3), nullptr);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->uids, (std::vector<std::uint32_t>{1, 2, 3}));
  // A new UIDVALIDITY's uiddb is fsynced; later ones are not (the limit is).
  const std::string durable_uiddb = testutil::read_file(folder_ + "/courierimapuiddb");
  auto limit = read_uid_limit(folder_);
  ASSERT_TRUE(limit);
  EXPECT_EQ(limit->uidvalidity, first->uidvalidity);
  EXPECT_EQ(limit->limit, 4 + uid_reserve_step);
  EXPECT_EQ(limit->boot_id, current_boot_id());
  // Number past the reservation: the limit rises first.
  std::uint32_t told = 3;
  for (int i = 4; i <= 4 + static_cast<int>(uid_reserve_step) + 10; ++i) {
    auto a = assign_uids(folder_, names(i, i), nullptr);
    ASSERT_TRUE(a.ok());
    told = std::max(told, max_uid(*a));
    ASSERT_LT(told, read_uid_limit(folder_)->limit);  // never handed out above the durable limit
  }
  // Power loss: courierimapuiddb back to its fsynced content, another boot.
  testutil::write_file(folder_ + "/courierimapuiddb", durable_uiddb);
  auto l = read_uid_limit(folder_);
  testutil::write_file(folder_ + "/imapd-uidlimit",
                       std::to_string(l->uidvalidity) + " " + std::to_string(l->limit) + " another-boot\n");
  // The messages numbered after the durable write, and a new one, all get
  // UIDs above every UID told; the old ones keep theirs.
  std::vector<std::string> all = names(1, 4 + static_cast<int>(uid_reserve_step) + 11);
  auto after = assign_uids(folder_, all, &all);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->uidvalidity, first->uidvalidity);
  EXPECT_EQ(after->uids[0], 1u);
  EXPECT_EQ(after->uids[2], 3u);
  for (std::size_t i = 3; i < all.size(); ++i) EXPECT_GT(after->uids[i], told) << all[i];
  auto relimit = read_uid_limit(folder_);
  EXPECT_EQ(relimit->boot_id, current_boot_id());
  EXPECT_GT(relimit->limit, max_uid(*after));
}

TEST_F(UidDurability, UiddbWithoutLimitFileIsTrusted) {
  // Written by Courier or an older imapd (always fsynced): its nextuid holds.
  testutil::write_file(folder_ + "/courierimapuiddb", "1 777 10\n4 1.m.host\n");
  auto a = assign_uids(folder_, names(1, 2), nullptr);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->uidvalidity, 777u);
  EXPECT_EQ(a->uids, (std::vector<std::uint32_t>{4, 10}));
  EXPECT_EQ(read_uid_limit(folder_)->limit, 11 + uid_reserve_step);
}

TEST_F(UidDurability, LimitOfAnotherUidvalidityIsIgnored) {
  testutil::write_file(folder_ + "/courierimapuiddb", "1 777 10\n");
  testutil::write_file(folder_ + "/imapd-uidlimit", "776 5000 another-boot\n");
  auto a = assign_uids(folder_, names(1, 1), nullptr);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->uids[0], 10u);
}

TEST_F(UidDurability, StaleScanDoesNotDropAMessageNumberedAfterIt) {
  // Session B scanned (saw 1 and 2, next UID 3); then session A delivered
  // 3.m.host and numbered it; B's assignment must not drop that entry, or
  // the message would get a second UID.
  auto a = assign_uids(folder_, names(1, 2), nullptr);
  ASSERT_TRUE(a.ok());
  const std::uint32_t before_scan = a->next_uid;
  auto b = assign_uids(folder_, names(3, 3), nullptr);
  ASSERT_TRUE(b.ok());
  std::vector<std::string> seen = names(2, 2);  // 1 was expunged; 3 not seen yet
  auto c = assign_uids(folder_, seen, &seen, before_scan);
  ASSERT_TRUE(c.ok());
  auto db = read_uiddb(folder_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uids.count("1.m.host"), 0u);  // gone before the scan: dropped
  ASSERT_EQ(db->uids.count("3.m.host"), 1u);
  EXPECT_EQ(db->uids.at("3.m.host"), b->uids[0]);
  // A later scan that sees it keeps its UID.
  std::vector<std::string> all = names(2, 3);
  auto d = assign_uids(folder_, all, &all, c->next_uid);
  EXPECT_EQ(d->uids[1], b->uids[0]);
}

TEST_F(UidDurability, TornOrStaleRecentOnlyCostsRecentAccuracy) {
  auto c = claim_recent(folder_, 11, true);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(*c);  // no file yet
  EXPECT_EQ(testutil::read_file(folder_ + "/imapd-recent"), "10\n");
  // Rolled back: UIDs 6-10 are recent again for the next session.
  testutil::write_file(folder_ + "/imapd-recent", "5\n");
  c = claim_recent(folder_, 11, true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(**c, 5u);
  // Empty or torn (a file system that lost the unfsynced data): read as no
  // file, not an error, and repaired by the claim.
  for (const char* bad : {"", "1\x01"}) {
    testutil::write_file(folder_ + "/imapd-recent", bad);
    c = claim_recent(folder_, 11, true);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_FALSE(*c);
    EXPECT_EQ(testutil::read_file(folder_ + "/imapd-recent"), "10\n");
  }
}

}  // namespace
}  // namespace imapd
