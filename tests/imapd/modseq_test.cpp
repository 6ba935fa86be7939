// tests/imapd/modseq_test.cpp: the CONDSTORE mod-sequence store
// (imapd/modseq.hpp), its parameters (imapd/condstore.hpp), and a Mailbox
// seeing changes made by another Mailbox and by a plain rename.
#include "imapd/modseq.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

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
  EXPECT_EQ(text.rfind("imapd-modseq 2 77 ", 0), 0u) << text;
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
                        "imapd-modseq 3 1 1 0 5 b\n", "imapd-modseq 1 x 1 0\n", "courier 1 1 1 0\n",
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
  EXPECT_EQ(text.rfind("imapd-modseq 2 9 ", 0), 0u) << text;  // rewritten valid
}

TEST_F(ModseqFolder, NewUidvalidityKeepsTheCounterGoing) {
  ModseqLock lock(folder_);
  auto a = sync_modseqs(folder_, 9, obs({{1, 1}, {2, 2}}), true, {}, {});
  auto b = sync_modseqs(folder_, 10, obs({{1, 1}}), true, {}, {});
  EXPECT_GT(b.modseqs[0], a.highest);
  EXPECT_TRUE(b.expunged.empty());  // the old folder's expunges mean nothing now
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
