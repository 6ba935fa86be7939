// tests/imapd/modseq_test.cpp: the CONDSTORE mod-sequence store
// (imapd/modseq.hpp), its parameters (imapd/condstore.hpp), and a Mailbox
// seeing changes made by another Mailbox and by a plain rename.
#include "imapd/modseq.hpp"

#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "imapd/condstore.hpp"
#include "imapd/mailbox.hpp"
#include "lib/maildir.hpp"
#include "tests/imapd/maildir_folder_test.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

std::vector<ModseqObservation> obs(std::initializer_list<std::pair<std::uint32_t, std::uint64_t>> l) {
  std::vector<ModseqObservation> out;
  for (auto [u, s] : l) out.push_back({u, s});
  return out;
}

TEST(Modseq, SignatureIgnoresLetterOrderButNotKeywords) {
  EXPECT_EQ(flag_signature("SR", {}), flag_signature("RS", {}));
  EXPECT_NE(flag_signature("S", {}), flag_signature("", {}));
  EXPECT_NE(flag_signature("S", {"$Label1"}), flag_signature("S", {}));
  // The separator keeps {"ab"} apart from {"a", "b"}.
  EXPECT_NE(flag_signature("", {"ab"}), flag_signature("", {"a", "b"}));
}

TEST(Modseq, NewMessagesAndChangesGetIncreasingModseqs) {
  ModseqDb db;
  db.uidvalidity = 5;
  auto m = apply_modseq_observations(db, obs({{1, 10}, {2, 20}}), true, {}, {}, 100);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], 100u);
  EXPECT_EQ(m[1], 101u);
  EXPECT_EQ(db.highest, 101u);
  // Same flags: unchanged.
  m = apply_modseq_observations(db, obs({{1, 10}, {2, 20}}), true, {}, {}, 0);
  EXPECT_EQ(m[0], 100u);
  EXPECT_EQ(db.highest, 101u);
  // UID 2's flags changed: only it moves.
  m = apply_modseq_observations(db, obs({{1, 10}, {2, 21}}), false, {}, {}, 0);
  EXPECT_EQ(m[0], 100u);
  EXPECT_EQ(m[1], 102u);
}

TEST(Modseq, FullObservationExpungesTheMissingAndRemembersWhen) {
  ModseqDb db;
  apply_modseq_observations(db, obs({{1, 1}, {2, 2}, {3, 3}}), true, {}, {}, 10);
  EXPECT_EQ(db.highest, 12u);
  // 3 is on disk but not in the session's list (also_present): kept.
  apply_modseq_observations(db, obs({{1, 1}}), true, {3}, {}, 0);
  EXPECT_EQ(db.live.count(2), 0u);
  EXPECT_EQ(db.live.count(3), 1u);
  ASSERT_EQ(db.expunged.count(2), 1u);
  EXPECT_EQ(db.expunged.at(2), 13u);
  EXPECT_EQ(db.highest, 13u);
  // An explicit expunge.
  apply_modseq_observations(db, {}, false, {}, {3}, 0);
  EXPECT_EQ(db.expunged.at(3), 14u);
}

TEST(Modseq, ForgettingOldExpungesRaisesTheFloor) {
  ModseqDb db;
  std::vector<ModseqObservation> all;
  for (std::uint32_t u = 1; u <= max_expunged_remembered + 5; ++u) all.push_back({u, 0});
  apply_modseq_observations(db, all, true, {}, {}, 1);
  std::uint64_t floor_before = db.expunge_floor;
  for (std::uint32_t u = 1; u <= max_expunged_remembered + 5; ++u)
    apply_modseq_observations(db, {}, false, {}, {u}, 0);
  EXPECT_EQ(db.expunged.size(), max_expunged_remembered);
  EXPECT_GT(db.expunge_floor, floor_before);
  EXPECT_EQ(db.expunged.count(1), 0u);  // the oldest went first
  EXPECT_EQ(db.expunged.count(max_expunged_remembered + 5), 1u);
}

TEST(Modseq, FormatParseRoundTrip) {
  ModseqDb db;
  db.uidvalidity = 77;
  apply_modseq_observations(db, obs({{4, 0xdeadbeefull}, {9, 1}}), true, {}, {7}, 500);
  db.expunged[7] = 501;
  auto text = format_modseq_db(db);
  EXPECT_EQ(text.rfind("imapd-modseq 3 77 ", 0), 0u) << text;
  auto back = parse_modseq_db(text, "t");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->highest, db.highest);
  EXPECT_EQ(back->expunge_floor, db.expunge_floor);
  EXPECT_EQ(back->live.at(4).signature, 0xdeadbeefull);
  EXPECT_EQ(back->live.at(9).modseq, db.live.at(9).modseq);
  EXPECT_EQ(back->expunged.at(7), 501u);
}

TEST(Modseq, ParserRejectsBadHeadersAndSkipsBadLines) {
  for (const char* t : {"", "imapd-modseq 2 1 1 0\n", "imapd-modseq 1 1 1 0 5 b\n", "imapd-modseq 2 1 1 0 x b\n",
                        "imapd-modseq 4 1 1 0 5 b\n", "imapd-modseq 1 x 1 0\n", "courier 1 1 1 0\n",
                        "imapd-modseq 1 1 99999999999999999999 0\n", "imapd-modseq 1 1 9223372036854775808 0\n"})
    EXPECT_FALSE(parse_modseq_db(t, "t").ok()) << t;
  auto db = parse_modseq_db(
      "imapd-modseq 1 3 10 2\n0 5 0000000000000001\n4 x 0000000000000001\n5 6 short\nX 0 1\njunk\n"
      "6 7 00000000000000ff\nX 8 9\n",
      "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->live.size(), 1u);
  EXPECT_EQ(db->live.at(6).signature, 0xffu);
  EXPECT_EQ(db->expunged.at(8), 9u);
}

TEST(Modseq, RecordAboveTheHeaderRaisesHighest) {
  // A file whose header is behind its records (edited or torn): the records
  // win, so no value in it is handed out again.
  auto db = parse_modseq_db("imapd-modseq 1 3 10 0\n1 50 0000000000000001\nX 2 60\n", "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->highest, 60u);
}

TEST(ModseqJournal, LaterRecordsWinAndOnlyCommittedGroupsApply) {
  const std::string base =
      "imapd-modseq 3 3 20 5 1044 boot\n1 10 0000000000000001\n2 20 0000000000000002\nX 3 15\nC 20\n";
  // Group 2: UID 1 changed, UID 2 expunged, UID 3 back; group 3 reserves.
  const std::string g2 = "1 21 0000000000000011\nX 2 22\n3 23 0000000000000003\nC 23\n";
  const std::string g3 = "4 24 0000000000000004\nR 2048 boot2\nC 24\n";
  auto db = parse_modseq_db(base + g2 + g3, "t");
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_EQ(db->highest, 24u);
  EXPECT_EQ(db->live.at(1).modseq, 21u);
  EXPECT_EQ(db->live.at(1).signature, 0x11u);
  EXPECT_EQ(db->live.count(2), 0u);
  EXPECT_EQ(db->expunged.at(2), 22u);
  EXPECT_EQ(db->live.at(3).modseq, 23u);
  EXPECT_EQ(db->expunged.count(3), 0u);
  EXPECT_EQ(db->reserved, 2048u);
  EXPECT_EQ(db->boot_id, "boot2");
  EXPECT_TRUE(db->appendable);
  EXPECT_EQ(db->committed_bytes, base.size() + g2.size() + g3.size());
  // Without the expunges: the same messages, none of the X records kept.
  auto quick = parse_modseq_db(base + g2 + g3, "t", false);
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(quick->live.size(), db->live.size());
  EXPECT_EQ(quick->live.count(2), 0u);
  EXPECT_TRUE(quick->expunged.empty());
  EXPECT_FALSE(quick->expunges_loaded);
  EXPECT_EQ(quick->highest, 24u);
  // Every prefix of group 3 short of its whole commit line (a reader racing
  // the writer, a killed writer) is ignored: the store is base + g2.
  for (std::size_t cut = 0; cut < g3.size(); ++cut) {
    auto torn = parse_modseq_db(base + g2 + g3.substr(0, cut), "t");
    ASSERT_TRUE(torn.ok());
    EXPECT_EQ(torn->highest, 23u) << cut;
    EXPECT_EQ(torn->live.count(4), 0u) << cut;
    EXPECT_EQ(torn->reserved, 1044u) << cut;
    EXPECT_EQ(torn->boot_id, "boot") << cut;
    EXPECT_EQ(torn->appendable, cut == 0) << cut;
    if (cut >= 35) {
      EXPECT_EQ(torn->uncommitted_max, 2048u) << cut;  // past "R 2048 boot2\n"
    }
  }
  // A bad line is skipped, and makes the next writer rewrite the file.
  auto bad = parse_modseq_db(base + "junk\n" + g2, "t");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->live.at(1).modseq, 21u);
  EXPECT_FALSE(bad->appendable);
}

TEST(ModseqJournal, ReadersWithoutExpungesSkipTheBlockOfARewrite) {
  ModseqDb db;
  db.uidvalidity = 3;
  apply_modseq_observations(db, obs({{1, 1}, {2, 2}, {3, 3}, {4, 4}}), true, {}, {}, 100);
  apply_modseq_observations(db, obs({{1, 1}, {4, 4}}), true, {}, {}, 0);  // 2 and 3 expunged at 104
  const std::string text = format_modseq_db(db);
  EXPECT_NE(text.find("\nS 2 16 104\nX 2 104\nX 3 104\n1 100 "), std::string::npos) << text;
  auto quick = parse_modseq_db(text, "t", false);
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(quick->live.size(), 2u);
  EXPECT_TRUE(quick->expunged.empty());
  EXPECT_EQ(quick->expunge_records, 2u);
  EXPECT_EQ(quick->highest, 104u);
  EXPECT_TRUE(quick->appendable);
  auto full = parse_modseq_db(text, "t");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->expunged, db.expunged);
  // A block that does not hold only X lines is not skipped: its lines count.
  std::string lying = text;
  ASSERT_NE(lying.find("S 2 16 104"), std::string::npos);
  lying.replace(lying.find("S 2 16 104"), 10, "S 2 39 104");  // also covers "1 100 <sig>\n"
  auto careful = parse_modseq_db(lying, "t", false);
  ASSERT_TRUE(careful.ok());
  EXPECT_EQ(careful->live.size(), 2u);
  EXPECT_FALSE(careful->appendable);  // rewritten at the next change
}

TEST(ModseqJournal, Version2FileIsOneGroup) {
  auto db = parse_modseq_db("imapd-modseq 2 3 20 5 1044 boot\n1 10 0000000000000001\nX 3 15\n2 20 0000000000000002", "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->live.size(), 2u);  // a v2 file's last line needs no newline
  EXPECT_EQ(db->expunged.at(3), 15u);
  EXPECT_EQ(db->reserved, 1044u);
  EXPECT_FALSE(db->appendable);  // rewritten as version 3 at the next change
}

TEST(Modseq, RestartValueNeverGoesBack) {
  EXPECT_EQ(modseq_restart_value(0, 1000), 1000u);
  EXPECT_EQ(modseq_restart_value(5000, 1000), 5001u);
  EXPECT_EQ(modseq_restart_value(999, 1000), 1000u);
}

class ModseqFolder : public MaildirFolderTest {};

TEST_F(ModseqFolder, CorruptFileIsRebuiltAboveEveryOldValue) {
  deliver("1.a.host");
  std::uint64_t before = 0;
  {
    ModseqLock lock(folder_);
    auto r = sync_modseqs(folder_, 9, obs({{1, 1}}), true, {}, {});
    before = r.highest;
  }
  ASSERT_GT(before, 0u);
  testutil::write_file(folder_ + "/imapd-modseq", "garbage\x01\x02\n");
  ModseqLock lock(folder_);
  auto r = sync_modseqs(folder_, 9, obs({{1, 1}}), true, {}, {});
  EXPECT_GT(r.modseqs[0], before);  // never reused
  EXPECT_GT(r.highest, before);
  auto text = testutil::read_file(folder_ + "/imapd-modseq");
  EXPECT_EQ(text.rfind("imapd-modseq 3 9 ", 0), 0u) << text;  // rewritten valid
}

TEST_F(ModseqFolder, NewUidvalidityKeepsTheCounterGoing) {
  ModseqLock lock(folder_);
  auto a = sync_modseqs(folder_, 9, obs({{1, 1}, {2, 2}}), true, {}, {});
  auto b = sync_modseqs(folder_, 10, obs({{1, 1}}), true, {}, {});
  EXPECT_GT(b.modseqs[0], a.highest);
  // The old folder's expunges mean nothing now.
  EXPECT_TRUE(load_modseq_db(folder_, 10).expunged.empty());
}

bool dir_is_empty(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return false;
  bool empty = true;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") empty = false;
  }
  ::closedir(d);
  return empty;
}

ino_t inode_of(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST_F(ModseqFolder, ChangesAreAppendedNotRewritten) {
  const std::string path = folder_ + "/imapd-modseq";
  ModseqLock lock(folder_);
  auto first = sync_modseqs(folder_, 9, obs({{1, 1}, {2, 2}, {3, 3}}), true, {}, {});
  const ino_t ino = inode_of(path);
  const std::string text = testutil::read_file(path);
  auto second = sync_modseqs(folder_, 9, obs({{1, 5}, {2, 2}}), true, {}, {});  // 1 changed, 3 expunged
  EXPECT_EQ(inode_of(path), ino);  // no new file: an append
  std::string now = testutil::read_file(path);
  ASSERT_EQ(now.compare(0, text.size(), text), 0);
  EXPECT_EQ(now.substr(text.size()), "1 " + std::to_string(first.highest + 1) + " 0000000000000005\nX 3 " +
                                         std::to_string(first.highest + 2) + "\nC " +
                                         std::to_string(second.highest) + "\n");
  // Nothing changed: nothing written.
  sync_modseqs(folder_, 9, obs({{1, 5}, {2, 2}}), true, {}, {});
  EXPECT_EQ(testutil::read_file(path), now);
  // tmp/ holds nothing left over.
  EXPECT_TRUE(dir_is_empty(folder_ + "/tmp"));
}

TEST_F(ModseqFolder, GrownFileIsCompactedKeepingEverything) {
  const std::string path = folder_ + "/imapd-modseq";
  ModseqLock lock(folder_);
  std::vector<ModseqObservation> all;
  for (std::uint32_t u = 1; u <= 20; ++u) all.push_back({u, u});
  sync_modseqs(folder_, 9, all, true, {}, {});
  sync_modseqs(folder_, 9, {}, false, {}, {20});  // one expunge to keep
  ino_t ino = inode_of(path);
  std::uint64_t sig = 100;
  int rewrites = 0;
  std::size_t largest = 0;
  ModseqSyncResult last;
  for (int i = 0; i < 3000; ++i) {
    last = sync_modseqs(folder_, 9, obs({{1, ++sig}}), false, {}, {});
    largest = std::max(largest, testutil::read_file(path).size());
    if (inode_of(path) != ino) {
      ++rewrites;
      ino = inode_of(path);
    }
  }
  EXPECT_GE(rewrites, 1);
  EXPECT_LE(largest, 2000 + modseq_compaction_slack);
  auto db = parse_modseq_db(testutil::read_file(path), "t");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->live.size(), 19u);
  EXPECT_EQ(db->live.at(1).signature, sig);
  EXPECT_EQ(db->live.at(1).modseq, last.highest);
  EXPECT_EQ(db->highest, last.highest);
  ASSERT_EQ(db->expunged.count(20), 1u);
  EXPECT_TRUE(dir_is_empty(folder_ + "/tmp"));
}

TEST_F(ModseqFolder, TornTailIsRewrittenAway) {
  const std::string path = folder_ + "/imapd-modseq";
  ModseqLock lock(folder_);
  auto a = sync_modseqs(folder_, 9, obs({{1, 1}, {2, 2}}), true, {}, {});
  // A writer killed mid-append: half a record, no commit line.
  testutil::write_file(path, testutil::read_file(path) + "2 " + std::to_string(a.highest + 1) + " 00000");
  auto b = sync_modseqs(folder_, 9, obs({{1, 3}, {2, 2}}), true, {}, {});
  EXPECT_EQ(b.modseqs[1], a.modseqs[1]);
  EXPECT_GT(b.modseqs[0], a.highest);
  std::string text = testutil::read_file(path);
  EXPECT_EQ(text.find(" 00000\n"), std::string::npos);  // rewritten, without the fragment
  auto db = parse_modseq_db(text, "t");
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(db->appendable);
  EXPECT_EQ(db->live.at(1).modseq, b.modseqs[0]);
}

TEST_F(ModseqFolder, Version2FileIsUpgradedKeepingItsRecords) {
  const std::string path = folder_ + "/imapd-modseq";
  testutil::write_file(path, "imapd-modseq 2 9 600 500 1624 " + current_boot_id() +
                                 "\n1 550 0000000000000001\n2 600 0000000000000002\nX 3 520\n");
  ModseqLock lock(folder_);
  auto r = sync_modseqs(folder_, 9, obs({{1, 1}, {2, 7}}), true, {}, {});
  EXPECT_EQ(r.modseqs[0], 550u);
  EXPECT_EQ(r.modseqs[1], 601u);
  std::string text = testutil::read_file(path);
  EXPECT_EQ(text.rfind("imapd-modseq 3 9 601 500 ", 0), 0u) << text;
  auto db = load_modseq_db(folder_, 9);
  EXPECT_EQ(db.expunged.at(3), 520u);
  EXPECT_EQ(db.live.at(2).modseq, 601u);
  // Then appended to.
  ino_t ino = inode_of(path);
  sync_modseqs(folder_, 9, obs({{1, 9}}), false, {}, {});
  EXPECT_EQ(inode_of(path), ino);
}

TEST_F(ModseqFolder, RecordingGoesOnFromAnUnlockedReading) {
  const std::string path = folder_ + "/imapd-modseq";
  {
    ModseqLock lock(folder_);
    sync_modseqs(folder_, 9, obs({{1, 1}, {2, 2}}), true, {}, {});
  }
  // Session A reads without the lock and finds UID 1 changed.
  ModseqReading reading;
  EXPECT_FALSE(recorded_modseqs(folder_, 9, obs({{1, 5}, {2, 2}}), true, {}, {}, &reading));
  ASSERT_TRUE(reading.valid);
  // Session B records a change before A gets the lock (appended).
  std::uint64_t b_modseq = 0;
  {
    ModseqLock lock(folder_);
    b_modseq = sync_modseqs(folder_, 9, obs({{2, 7}}), false, {}, {}).modseqs[0];
  }
  ModseqLock lock(folder_);
  auto a = sync_modseqs(folder_, 9, obs({{1, 5}, {2, 7}}), true, {}, {}, &reading);
  EXPECT_FALSE(reading.valid);  // used up
  EXPECT_EQ(a.modseqs[1], b_modseq);  // B's change was read from the appended bytes
  EXPECT_GT(a.modseqs[0], b_modseq);
  auto db = load_modseq_db(folder_, 9);
  EXPECT_EQ(db.live.at(1).modseq, a.modseqs[0]);
  EXPECT_EQ(db.live.at(2).modseq, b_modseq);
  // A reading of a file since replaced (a rewrite by B) is not used.
  ModseqReading old;
  EXPECT_FALSE(recorded_modseqs(folder_, 9, obs({{1, 6}, {2, 7}}), true, {}, {}, &old));
  ASSERT_TRUE(old.valid);
  testutil::write_file(path + ".new", format_modseq_db(db));
  ASSERT_EQ(::rename((path + ".new").c_str(), path.c_str()), 0);
  // Another writer's change in the new file, which the old reading lacks.
  const std::uint64_t third = sync_modseqs(folder_, 9, obs({{3, 3}}), false, {}, {}).modseqs[0];
  auto c = sync_modseqs(folder_, 9, obs({{1, 6}, {2, 7}, {3, 3}}), true, {}, {}, &old);
  EXPECT_EQ(c.modseqs[2], third);
  EXPECT_GT(c.modseqs[0], third);
  EXPECT_EQ(load_modseq_db(folder_, 9).live.size(), 3u);
}

TEST_F(ModseqFolder, ConcurrentWritersNeverLoseARecord) {
  {
    ModseqLock lock(folder_);
    sync_modseqs(folder_, 9, {}, true, {}, {});
  }
  const std::uint64_t start = load_modseq_db(folder_, 9).highest;
  constexpr int writers = 4, changes = 150;
  std::vector<pid_t> pids;
  for (int w = 0; w < writers; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Each writer flags its own UIDs, and all of them keep touching UID 1000.
      for (int i = 1; i <= changes; ++i) {
        ModseqLock lock(folder_);
        std::uint32_t uid = static_cast<std::uint32_t>(w * changes + i);
        sync_modseqs(folder_, 9, {{uid, 1}, {1000, static_cast<std::uint64_t>(w * changes + i)}}, false, {}, {});
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto db = load_modseq_db(folder_, 9);
  EXPECT_EQ(db.live.size(), static_cast<std::size_t>(writers * changes + 1));
  std::set<std::uint64_t> distinct;
  for (const auto& [uid, e] : db.live) {
    if (uid != 1000) distinct.insert(e.modseq);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(writers * changes));  // never one value twice
  // Two new modseqs per change (the new UID, and UID 1000 changed).
  EXPECT_EQ(db.highest, start + 2 * writers * changes);
  EXPECT_TRUE(parse_modseq_db(testutil::read_file(folder_ + "/imapd-modseq"), "t")->appendable);
}

TEST_F(ModseqFolder, MailboxSeesOtherSessionsAndRenames) {
  deliver("1.a.host");
  deliver("2.b.host", "S");
  FolderName name;
  name.folder = "INBOX";
  auto one = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(one.ok());
  auto two = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(two.ok());
  auto& a = **one;
  auto& b = **two;
  ASSERT_EQ(a.count(), 2u);
  std::uint64_t m0 = a.messages()[0].modseq;
  EXPECT_EQ(b.messages()[0].modseq, m0);  // one store, one value
  std::uint64_t high = a.highest_modseq();
  // Session b flags message 1: a new modseq, seen by a on refresh.
  auto r = b.change_flags(0, {Mailbox::FlagChange::Mode::add, "F", {}});
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_GT(b.messages()[0].modseq, high);
  ASSERT_TRUE(a.refresh(true).ok());
  EXPECT_EQ(a.messages()[0].modseq, b.messages()[0].modseq);
  EXPECT_EQ(a.highest_modseq(), b.highest_modseq());
  // Another program renames message 2 (drops \Seen): a new modseq on rescan.
  std::uint64_t m2 = a.messages()[1].modseq;
  ASSERT_EQ(::rename((folder_ + "/cur/" + std::string(a.messages()[1].file_name())).c_str(), (folder_ + "/cur/2.b.host:2,").c_str()), 0);
  ASSERT_TRUE(a.refresh(true).ok());
  EXPECT_GT(a.messages()[1].modseq, m2);
  // Expunge: remembered for QRESYNC.
  std::uint64_t before_expunge = a.highest_modseq();
  a.set_qresync(true);
  auto e = a.expunge({true, false}, "");
  ASSERT_TRUE(e.ok());
  EXPECT_NE(e->find("* VANISHED 1"), std::string::npos) << *e;
  EXPECT_EQ(a.vanished_since(before_expunge, {1, 2}), std::vector<std::uint32_t>{1});
  EXPECT_TRUE(a.vanished_since(a.highest_modseq(), {1, 2}).empty());
  // A third session, opened later (or after a restart), agrees.
  auto three = Mailbox::open(folder_, name, true);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ((*three)->highest_modseq(), a.highest_modseq());
  EXPECT_EQ((*three)->vanished_since(before_expunge, {1, 2}), std::vector<std::uint32_t>{1});
}

TEST(CondstoreParams, SelectFetchStore) {
  auto parse = [](std::string_view cmd) { return parse_command(cmd); };
  std::string err;
  auto c = parse("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))");
  ASSERT_TRUE(c.ok());
  auto p = parse_select_params(c.args[1], err);
  ASSERT_TRUE(p) << err;
  ASSERT_TRUE(p->qresync);
  EXPECT_EQ(p->qresync->uidvalidity, 67890007u);
  EXPECT_EQ(p->qresync->modseq, 20050715194045000ull);
  EXPECT_TRUE(p->qresync->known_uids->contains(43, 1000));
  c = parse("a SELECT INBOX (CONDSTORE)");
  p = parse_select_params(c.args[1], err);
  ASSERT_TRUE(p && p->condstore && !p->qresync);
  for (const char* bad : {"a SELECT INBOX (FOO)", "a SELECT INBOX (QRESYNC (0 5))", "a SELECT INBOX (QRESYNC (1))",
                          "a SELECT INBOX (QRESYNC (1 2 x:y))"}) {
    c = parse(bad);
    ASSERT_TRUE(c.ok()) << bad;
    EXPECT_FALSE(parse_select_params(c.args[1], err)) << bad;
  }
  c = parse("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
  auto f = parse_fetch_modifiers(c.args[2], err);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->changedsince, 12345u);
  EXPECT_TRUE(f->vanished);
  c = parse("a FETCH 1:* (FLAGS) (VANISHED)");
  EXPECT_FALSE(parse_fetch_modifiers(c.args[2], err));
  c = parse("a STORE 1 (UNCHANGEDSINCE 7) +FLAGS (\\Seen)");
  auto s = parse_store_modifiers(c.args[1], err);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 7u);
  c = parse("a STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)");
  EXPECT_FALSE(parse_store_modifiers(c.args[1], err));
}

}  // namespace
}  // namespace imapd
