// tests/pop3d/mailbox_test.cpp: the POP3 view of a Maildir (pop3d/mailbox.hpp):
// new/ -> cur/, Courier's courierpop3dsizelist and UIDLs across sessions,
// messages renamed or removed by a concurrent session, the UPDATE state and
// maildirsize, and the recovery when the list cannot be written.
#include "pop3d/mailbox.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"
#include "pop3d/sizelist.hpp"
#include "tests/lib/test_util.hpp"

namespace pop3d {
namespace {

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class MailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    md_ = dir_ / "Maildir";
    ASSERT_TRUE(lib::maildir::create_maildir(md_).ok());
  }
  std::string deliver(const std::string& text) {
    auto d = lib::maildir::deliver(md_, text);
    EXPECT_TRUE(d.ok());
    return d.ok() ? d->base : std::string();
  }
  Mailbox open(OpenReport* report_out = nullptr) {
    OpenReport report;
    auto box = Mailbox::open(md_, report);
    EXPECT_TRUE(box.ok()) << (box.ok() ? "" : box.error().message);
    if (report_out) *report_out = report;
    return std::move(*box);
  }
  std::vector<std::string> uidls(const Mailbox& box) {
    std::vector<std::string> out;
    for (size_t i = 0; i < box.count(); ++i) out.push_back(box.uidl(i));
    return out;
  }
  testutil::TempDir dir_;
  std::string md_;
};

TEST_F(MailboxTest, MovesNewToCurAndWritesTheList) {
  deliver("Subject: 1\n\none\n");
  deliver("Subject: 2\n\ntwo\n.\n");
  OpenReport report;
  Mailbox box = open(&report);
  ASSERT_EQ(box.count(), 2u);
  EXPECT_EQ(report.moved_from_new, 2u);
  EXPECT_EQ(report.measured, 2u);
  EXPECT_TRUE(report.list_written);
  EXPECT_TRUE(dir_names(md_ + "/new").empty());
  for (const auto& name : dir_names(md_ + "/cur")) EXPECT_NE(name.find(":2,"), std::string::npos) << name;
  EXPECT_EQ(box.message(0).size, std::string("Subject: 1\r\n\r\none\r\n").size());
  EXPECT_EQ(box.message(1).size, std::string("Subject: 2\r\n\r\ntwo\r\n.\r\n").size());
  std::string list = testutil::read_file(md_ + "/courierpop3dsizelist");
  EXPECT_EQ(list.rfind("/3 3 ", 0), 0u) << list;
  EXPECT_EQ(box.uidl(0).rfind("UID1-", 0), 0u);
  EXPECT_EQ(box.uidl(1).rfind("UID2-", 0), 0u);
  EXPECT_TRUE(dir_names(md_ + "/tmp").empty());  // the list's tmp file was renamed
}

TEST_F(MailboxTest, UidlsAreStableAcrossSessionsAndNewMailGetsTheNext) {
  deliver("a\n");
  deliver("b\n");
  auto first = uidls(open());
  OpenReport again;
  auto second = uidls(open(&again));
  EXPECT_EQ(first, second);
  EXPECT_EQ(again.measured, 0u);  // sizes came from the list
  EXPECT_FALSE(again.list_written);

  deliver("c\n");
  auto third = uidls(open());
  ASSERT_EQ(third.size(), 3u);
  EXPECT_EQ(third[0], first[0]);
  EXPECT_EQ(third[1], first[1]);
  EXPECT_EQ(third[2].rfind("UID3-", 0), 0u);
}

TEST_F(MailboxTest, FlagChangesByImapKeepTheUidl) {
  deliver("a\n");
  Mailbox box = open();
  std::string before = box.uidl(0);
  auto renamed = lib::maildir::change_flags(md_, box.message(0).file_name, "RS", "");
  ASSERT_TRUE(renamed.ok() && *renamed);
  OpenReport report;
  Mailbox after = open(&report);
  ASSERT_EQ(after.count(), 1u);
  EXPECT_EQ(after.uidl(0), before);
  EXPECT_EQ(report.measured, 0u);
  EXPECT_EQ(after.message(0).file_name, **renamed);
}

TEST_F(MailboxTest, TakesUidlsAndSizesFromCouriersList) {
  // A mailbox moved from Courier: its list is trusted, files are not read.
  const std::string a = "1600000000.M1P1.oldhost,S=5:2,S";
  const std::string b = "1600000100.M2P2.oldhost,S=9:2,";
  testutil::write_file(md_ + "/cur/" + a, "aaaa\n");
  testutil::write_file(md_ + "/cur/" + b, "bbbbbbbb\n");
  testutil::write_file(md_ + "/courierpop3dsizelist",
                       "/3 20 1234567890\n" + a + " 777 17:1234567890:0\n" + b + " 888 19:1111:1\n");
  OpenReport report;
  Mailbox box = open(&report);
  ASSERT_EQ(box.count(), 2u);
  EXPECT_EQ(box.uidl(0), "UID17-1234567890");
  EXPECT_EQ(box.uidl(1), "UID19-1111");
  EXPECT_EQ(box.message(0).size, 777u);
  EXPECT_EQ(box.message(1).size, 888u);
  EXPECT_EQ(report.measured, 0u);
  EXPECT_FALSE(report.list_written);

  // New mail continues Courier's numbering.
  deliver("new\n");
  Mailbox next = open();
  ASSERT_EQ(next.count(), 3u);
  EXPECT_EQ(next.uidl(2), "UID20-1234567890");
}

TEST_F(MailboxTest, Version2ListIsUpgraded) {
  const std::string a = "1600000000.M1P1.h:2,";
  testutil::write_file(md_ + "/cur/" + a, "x\n");
  testutil::write_file(md_ + "/courierpop3dsizelist", "/2 5 4321\n" + a + " 3 4:4321\n");
  OpenReport report;
  Mailbox box = open(&report);
  EXPECT_EQ(box.uidl(0), "UID4-4321");
  EXPECT_TRUE(report.list_written);
  EXPECT_EQ(testutil::read_file(md_ + "/courierpop3dsizelist"), "/3 5 4321\n" + a + " 3 4:4321:0\n");
}

TEST_F(MailboxTest, CorruptListStartsOverWithAWarning) {
  deliver("a\n");
  testutil::write_file(md_ + "/courierpop3dsizelist", std::string("\x7f" "ELF\x02\x01garbage", 12));
  OpenReport report;
  Mailbox box = open(&report);
  ASSERT_EQ(box.count(), 1u);
  EXPECT_EQ(box.uidl(0).rfind("UID1-", 0), 0u);
  ASSERT_FALSE(report.warnings.empty());
  EXPECT_NE(report.warnings[0].find("courierpop3dsizelist"), std::string::npos);
}

TEST_F(MailboxTest, OrderIsByDeliveryTime) {
  for (const char* name : {"1000.b:2,", "999.z:2,", "1000.a:2,S"})
    testutil::write_file(md_ + "/cur/" + name, std::string(name) + "\n");
  Mailbox box = open();
  ASSERT_EQ(box.count(), 3u);
  EXPECT_EQ(box.message(0).file_name, "999.z:2,");
  EXPECT_EQ(box.message(1).file_name, "1000.a:2,S");
  EXPECT_EQ(box.message(2).file_name, "1000.b:2,");
}

TEST_F(MailboxTest, SkipsWhatIsNotAMessage) {
  deliver("a\n");
  ASSERT_EQ(::mkdir((md_ + "/cur/adir").c_str(), 0700), 0);
  testutil::write_file(md_ + "/cur/.hidden", "x");
  Mailbox box = open();
  EXPECT_EQ(box.count(), 1u);
}

TEST_F(MailboxTest, FollowsRenamesAndReportsVanishedMessages) {
  deliver("one\n");
  deliver("two\n");
  Mailbox box = open();
  // Another session sets a flag on the first and expunges the second.
  auto renamed = lib::maildir::change_flags(md_, box.message(0).file_name, "F", "");
  ASSERT_TRUE(renamed.ok() && *renamed);
  ASSERT_EQ(::unlink((md_ + "/cur/" + box.message(1).file_name).c_str()), 0);

  auto first = box.open_message(0);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(box.message(0).file_name, **renamed);
  auto second = box.open_message(1);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
}

TEST_F(MailboxTest, MarkSeenAddsTheFlagOnce) {
  deliver("one\n");
  testutil::write_file(md_ + "/cur/1500000000.x:1,experimental", "odd\n");
  Mailbox box = open();
  ASSERT_EQ(box.count(), 2u);
  // index 0 is the odd one (older); leave its info alone.
  EXPECT_FALSE(box.mark_seen(0));
  EXPECT_EQ(box.message(0).file_name, "1500000000.x:1,experimental");
  EXPECT_FALSE(box.mark_seen(1));
  EXPECT_EQ(box.message(1).file_name.substr(box.message(1).file_name.size() - 4), ":2,S");
  std::string seen = box.message(1).file_name;
  EXPECT_FALSE(box.mark_seen(1));
  EXPECT_EQ(box.message(1).file_name, seen);
  EXPECT_EQ(dir_names(md_ + "/cur").size(), 2u);
}

TEST_F(MailboxTest, RemoveDeletedUnlinksAndUpdatesTheQuota) {
  lib::maildir::QuotaSpec spec;
  spec.max_bytes = 1000000;
  ASSERT_TRUE(lib::maildir::set_quota(md_, spec).ok());
  deliver("keep\n");
  deliver("drop me\n");
  deliver("gone already\n");
  ASSERT_TRUE(lib::maildir::recalculate_quota(md_).ok());
  Mailbox box = open();
  ASSERT_EQ(box.count(), 3u);
  box.set_deleted(1, true);
  box.set_deleted(2, true);
  std::string dropped = box.message(1).file_name;
  // An IMAP session expunges the third one first.
  ASSERT_EQ(::unlink((md_ + "/cur/" + box.message(2).file_name).c_str()), 0);
  std::string size_before = testutil::read_file(md_ + "/maildirsize");
  UpdateReport r = box.remove_deleted();
  EXPECT_EQ(r.removed, 2u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.removed_names.size(), 1u);
  EXPECT_EQ(r.removed_names[0], "cur/" + dropped);
  auto left = dir_names(md_ + "/cur");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], box.message(0).file_name);
  std::string size_after = testutil::read_file(md_ + "/maildirsize");
  EXPECT_NE(size_after, size_before);
  EXPECT_NE(size_after.find("-8"), std::string::npos) << size_after;  // "drop me\n" is 8 bytes
}

TEST_F(MailboxTest, UndeleteAll) {
  deliver("a\n");
  Mailbox box = open();
  box.set_deleted(0, true);
  box.undelete_all();
  EXPECT_FALSE(box.message(0).deleted);
  UpdateReport r = box.remove_deleted();
  EXPECT_EQ(r.removed, 0u);
  EXPECT_EQ(dir_names(md_ + "/cur").size(), 1u);
}

TEST_F(MailboxTest, MissingCurIsAPermanentError) {
  testutil::TempDir other;
  OpenReport report;
  auto box = Mailbox::open(other.path(), report);
  ASSERT_FALSE(box.ok());
  EXPECT_FALSE(box.error().temporary());
  EXPECT_NE(box.error().message.find("/cur"), std::string::npos);
  EXPECT_NE(box.error().message.find("maildirmake"), std::string::npos);
}

TEST_F(MailboxTest, UnwritableListHidesNewMessagesLikeCourier) {
  deliver("known\n");
  auto known = uidls(open());
  deliver("new\n");
  // tmp/ turned into a file: the list cannot be written (a full disk).
  ASSERT_EQ(::rmdir((md_ + "/tmp").c_str()), 0);
  testutil::write_file(md_ + "/tmp", "");
  OpenReport report;
  Mailbox box = open(&report);
  ASSERT_EQ(box.count(), 1u);
  EXPECT_EQ(uidls(box), known);
  EXPECT_FALSE(report.warnings.empty());
}

TEST_F(MailboxTest, UnwritableListWithNothingKnownShowsOneMessage) {
  deliver("first\n");
  deliver("second\n");
  ASSERT_EQ(::rmdir((md_ + "/tmp").c_str()), 0);
  testutil::write_file(md_ + "/tmp", "");
  Mailbox box = open();
  ASSERT_EQ(box.count(), 1u);
  EXPECT_EQ(box.uidl(0).rfind("ENOMEM-", 0), 0u);
}

TEST_F(MailboxTest, ManyMessagesAreListedOnceAndCheaplyAfterwards) {
  // Written straight into new/ (deliver() fsyncs each one, which is slow).
  for (int i = 0; i < 2000; ++i) {
    std::string text = "Subject: " + std::to_string(i) + "\n\nbody\n";
    testutil::write_file(md_ + "/new/" + std::to_string(1600000000 + i) + ".M" + std::to_string(i) +
                             "P1.host,S=" + std::to_string(text.size()),
                         text);
  }
  OpenReport first;
  Mailbox a = open(&first);
  EXPECT_EQ(a.count(), 2000u);
  EXPECT_EQ(first.measured, 2000u);
  OpenReport second;
  Mailbox b = open(&second);
  EXPECT_EQ(second.measured, 0u);
  std::set<std::string> unique;
  for (size_t i = 0; i < b.count(); ++i) unique.insert(b.uidl(i));
  EXPECT_EQ(unique.size(), 2000u);
  EXPECT_EQ(uidls(a), uidls(b));
}

}  // namespace
}  // namespace pop3d
