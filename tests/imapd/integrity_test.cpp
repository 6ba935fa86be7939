// tests/imapd/integrity_test.cpp: no lost updates and no reused UIDs (issue
// 13): several processes changing the keywords of one folder at once, a
// Courier-style writer of per-message update files beside them, flag deltas
// applied to the file on disk, the per-account UIDVALIDITY counter, and
// SELECT on a full disk.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "imapd/keywords.hpp"
#include "imapd/mailbox.hpp"
#include "imapd/uiddb.hpp"
#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

namespace md = lib::maildir;

// Runs fn in n child processes at once; true if all exited 0.
template <typename Fn>
bool in_children(int n, Fn fn) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) _exit(fn(i));
    pids.push_back(pid);
  }
  bool ok = true;
  for (pid_t p : pids) {
    int st = 0;
    ::waitpid(p, &st, 0);
    ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  return ok;
}

TEST(Integrity, ConcurrentKeywordChangesAreAllKept) {
  testutil::TempDir dir;
  std::string m = dir.path() + "/m";
  ASSERT_TRUE(md::create_maildir(m).ok());
  constexpr int procs = 4, rounds = 20;  // 80 keywords: under max_keywords_per_message
  // Each process adds its own keywords to the same two messages (and removes
  // a scratch keyword of its own again): with a read-modify-write that is
  // not under the folder lock, one process's write reverts the others'.
  ASSERT_TRUE(in_children(procs, [&](int p) {
    for (int r = 0; r < rounds; ++r) {
      std::string k = "p" + std::to_string(p) + "r" + std::to_string(r);
      std::vector<KeywordChange> c{{"msg1", KeywordChange::Op::add, {k, "tmp" + std::to_string(p)}},
                                   {"msg2", KeywordChange::Op::add, {k}}};
      if (!update_keywords(m, c).ok()) return 1;
      if (!update_keywords(m, {{"msg1", KeywordChange::Op::remove, {"tmp" + std::to_string(p)}}}).ok())
        return 1;
    }
    return 0;
  }));
  auto map = read_keywords(m);
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)["msg1"].size(), static_cast<std::size_t>(procs * rounds));
  EXPECT_EQ((*map)["msg2"].size(), static_cast<std::size_t>(procs * rounds));
  for (int p = 0; p < procs; ++p) EXPECT_EQ((*map)["msg1"].count("tmp" + std::to_string(p)), 0u);
}

TEST(Integrity, CourierStyleUpdateFilesWrittenMeanwhileSurvive) {
  testutil::TempDir dir;
  std::string m = dir.path() + "/m";
  ASSERT_TRUE(md::create_maildir(m).ok());
  std::string kwdir = m + "/courierimapkeywords";
  ASSERT_EQ(::mkdir(kwdir.c_str(), 0700), 0);
  constexpr int files = 300;
  // Child 0 writes Courier's per-message update files (tmp + rename) while
  // child 1 keeps rewriting :list. A writer that unlinks every update file
  // after its write removes ones it never read.
  ASSERT_TRUE(in_children(2, [&](int p) {
    if (p == 0) {
      for (int i = 0; i < files; ++i) {
        std::string tmp = m + "/tmp/kw." + std::to_string(i);
        FILE* f = std::fopen(tmp.c_str(), "w");
        if (!f) return 1;
        std::fputs("Courier\n", f);
        std::fclose(f);
        std::string to = kwdir + "/.1.c" + std::to_string(i);
        if (::rename(tmp.c_str(), to.c_str()) != 0) return 1;
      }
      return 0;
    }
    for (int i = 0; i < files; ++i)
      if (!update_keywords(m, {{"ours" + std::to_string(i % 5), KeywordChange::Op::add, {"k" + std::to_string(i)}}}).ok())
        return 1;
    return 0;
  }));
  auto map = read_keywords(m);
  ASSERT_TRUE(map.ok());
  int found = 0;
  for (int i = 0; i < files; ++i) found += map->count("c" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(found, files);
  for (int b = 0; b < 5; ++b) EXPECT_EQ((*map)["ours" + std::to_string(b)].size(), static_cast<std::size_t>(files / 5));
}

TEST(Integrity, UidValidityCounterNeverRepeats) {
  testutil::TempDir dir;
  auto a = next_uidvalidity(dir.path(), 1000);
  auto b = next_uidvalidity(dir.path(), 1000);  // same second
  auto c = next_uidvalidity(dir.path(), 900);   // clock went back
  auto d = next_uidvalidity(dir.path(), 5000);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(*a, 1000u);
  EXPECT_EQ(*b, 1001u);
  EXPECT_EQ(*c, 1002u);
  EXPECT_EQ(*d, 5000u);
}

TEST(Integrity, RecreatedFolderGetsANewUidValidity) {
  testutil::TempDir dir;
  std::string root = dir.path() + "/Maildir";
  ASSERT_TRUE(md::create_maildir(root).ok());
  std::vector<std::uint32_t> seen;
  for (int i = 0; i < 5; ++i) {  // far quicker than one per second
    ASSERT_TRUE(md::create_folder(root, "box").ok());
    std::string f = md::folder_path(root, "box");
    auto a = assign_uids(f, {}, nullptr);
    ASSERT_TRUE(a.ok());
    for (auto v : seen) EXPECT_NE(v, a->uidvalidity);
    seen.push_back(a->uidvalidity);
    ASSERT_TRUE(md::delete_folder(root, "box", false).ok());
  }
}

TEST(Integrity, StoreDeltaKeepsAnotherSessionsFlag) {
  testutil::TempDir dir;
  std::string m = dir.path() + "/m";
  ASSERT_TRUE(md::create_maildir(m).ok());
  md::DeliveryOptions o;
  o.location = md::Location::cur_dir;
  o.flags = "S";
  ASSERT_TRUE(md::deliver(m, "Subject: x\n\nbody\n", o).ok());
  auto one = Mailbox::open(m, {"", "INBOX"}, false);
  auto two = Mailbox::open(m, {"", "INBOX"}, false);
  ASSERT_TRUE(one.ok() && two.ok());
  // Session 1 adds \Answered; session 2, whose cache still says (\Seen),
  // removes \Seen: the result must be (\Answered), not ().
  ASSERT_TRUE((*one)->change_flags(0, {Mailbox::FlagChange::Mode::add, "R", {"$one"}}).ok());
  ASSERT_TRUE((*two)->change_flags(0, {Mailbox::FlagChange::Mode::remove, "S", {"$two"}}).ok());
  ASSERT_TRUE((*two)->change_flags(0, {Mailbox::FlagChange::Mode::add, "", {"$two"}}).ok());
  auto scanned = md::scan_messages(m, false);
  ASSERT_TRUE(scanned.ok());
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].flags, "R");
  auto kw = read_keywords(m);
  ASSERT_TRUE(kw.ok());
  EXPECT_EQ((*kw)[(*scanned)[0].base], (std::set<std::string>{"$one", "$two"}));
}

TEST(Integrity, KillDuringUiddbAndKeywordWritesLeavesWholeFiles) {
  testutil::TempDir dir;
  std::string m = dir.path() + "/m";
  ASSERT_TRUE(md::create_maildir(m).ok());
  // Two versions of each file, both large enough that a write takes a while.
  UidDb a{4242, 1, {}}, b{4242, 1, {}};
  for (std::uint32_t i = 0; i < 20000; ++i) a.uids.emplace("a" + std::to_string(i), a.next_uid++);
  for (std::uint32_t i = 0; i < 30000; ++i) b.uids.emplace("b" + std::to_string(i), b.next_uid++);
  KeywordMap ka, kb;
  for (int i = 0; i < 5000; ++i) ka["a" + std::to_string(i)] = {"ka"};
  for (int i = 0; i < 7000; ++i) kb["b" + std::to_string(i)] = {"kb"};
  ASSERT_TRUE(write_uiddb(m, a).ok());
  ASSERT_TRUE(write_keywords(m, ka).ok());
  for (int round = 0; round < 15; ++round) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (int i = 0;; ++i) {
        (void)write_uiddb(m, i % 2 ? a : b);
        (void)write_keywords(m, i % 2 ? ka : kb);
      }
    }
    ::usleep(static_cast<useconds_t>(3000 + round * 1700));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    auto db = read_uiddb(m);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(db->uidvalidity, 4242u);
    EXPECT_TRUE(db->uids.size() == a.uids.size() || db->uids.size() == b.uids.size()) << db->uids.size();
    auto kw = read_keywords(m);
    ASSERT_TRUE(kw.ok());
    EXPECT_TRUE(*kw == ka || *kw == kb) << kw->size();
  }
}

// A small tmpfs that fills up; skipped where mounting is not allowed.
class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    mnt_ = dir_.path() + "/mnt";
    ::mkdir(mnt_.c_str(), 0700);
    if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=256k") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  // Writes a file until the file system is full.
  void fill() {
    int fd = ::open((mnt_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    std::string block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }
  void unfill() { ::unlink((mnt_ + "/filler").c_str()); }

  testutil::TempDir dir_;
  std::string mnt_;
  bool mounted_ = false;
};

TEST_F(FullDisk, SelectServesWhatIsNumberedAndCatchesUpLater) {
  std::string m = mnt_ + "/Maildir";
  ASSERT_TRUE(md::create_maildir(m).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(md::deliver(m, "Subject: old\n\nx\n").ok());
  {
    auto first = Mailbox::open(m, {"", "INBOX"}, false);
    ASSERT_TRUE(first.ok());
    ASSERT_EQ((*first)->count(), 3u);
  }
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(md::deliver(m, "Subject: new\n\nx\n").ok());
  fill();
  auto full = Mailbox::open(m, {"", "INBOX"}, false);
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ((*full)->count(), 3u);  // the new two have no UID yet
  EXPECT_EQ((*full)->uidnext(), 4u);
  // The user can still delete mail to make room.
  std::vector<bool> which{true, false, false};
  ASSERT_TRUE((*full)->expunge(which, "").ok());
  unfill();
  ASSERT_TRUE((*full)->refresh(true).ok());
  EXPECT_EQ((*full)->count(), 4u);
  EXPECT_EQ((*full)->messages().back().uid, 5u);
}

}  // namespace
}  // namespace imapd
