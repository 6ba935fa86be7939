// tests/imapd/shared_fs_test.cpp: the shared. namespace over sharable maildirs
// (imapd/shared_fs.hpp): names, LIST entries, the account's copy and its sync.
#include "imapd/shared_fs.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace md = lib::maildir;
namespace sfs = imapd::shared_fs;

namespace {

struct Fixture {
  testutil::TempDir t;
  std::string sharable = t / "Maildir-shared";
  std::string user = t / "Maildir";
  Fixture() {
    EXPECT_TRUE(md::create_maildir(sharable, 0755));
    EXPECT_TRUE(md::create_maildir(user));
    EXPECT_TRUE(md::create_folder(sharable, "news", 0755));
    EXPECT_TRUE(md::create_folder(sharable, "news.sub", 0755));
    testutil::write_file(user + "/shared-maildirs", "firm " + sharable + "\n");
  }
  std::string deliver(const std::string& folder, const std::string& text) {
    md::DeliveryOptions o;
    auto d = md::deliver(md::folder_path(sharable, folder), text, o);
    EXPECT_TRUE(d);
    return d ? d->base : std::string();
  }
  std::vector<std::string> names(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST(SharedFs, NamesAreSharedDotSomething) {
  EXPECT_TRUE(sfs::is_shared_name("shared"));
  EXPECT_TRUE(sfs::is_shared_name("shared.firm.news"));
  EXPECT_FALSE(sfs::is_shared_name("sharedx"));
  EXPECT_FALSE(sfs::is_shared_name("INBOX.shared"));
  EXPECT_FALSE(sfs::is_shared_name("#shared.bob.x"));
}

TEST(SharedFs, ResolveTable) {
  Fixture f;
  struct Case {
    const char* name;
    bool ok;
    const char* why_has;
  } cases[] = {
      {"shared.firm.news", true, ""},
      {"shared.firm.news.sub", true, ""},
      {"shared.firm", false, "shared.<name>.<folder>"},
      {"shared", false, "shared.<name>.<folder>"},
      {"shared..news", false, "shared.<name>.<folder>"},
      {"shared.firm.a..b", false, "Invalid"},
      {"shared.firm.a/b", false, "Invalid"},
      {"shared.other.news", false, "NONEXISTENT"},
  };
  for (const auto& c : cases) {
    std::string why;
    auto r = sfs::resolve(f.user, c.name, why);
    EXPECT_EQ(r.has_value(), c.ok) << c.name << ": " << why;
    if (!c.ok) {
      EXPECT_NE(why.find(c.why_has), std::string::npos) << c.name << ": " << why;
    }
  }
  std::string why;
  auto r = sfs::resolve(f.user, "shared.firm.news.sub", why);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dir, f.user + "/shared-folders/firm/news.sub");
  EXPECT_NE(r->folder.find('/'), std::string::npos);  // never a Maildir++ folder name
}

TEST(SharedFs, ListShowsReadableFolders) {
  Fixture f;
  auto l = sfs::list(f.user, "u");
  std::vector<std::string> got;
  for (const auto& e : l) got.push_back(e.imap_name + (e.selectable ? "" : " noselect"));
  EXPECT_EQ(got, (std::vector<std::string>{"shared noselect", "shared.firm noselect", "shared.firm.news",
                                           "shared.firm.news.sub"}));
  std::filesystem::remove(f.user + "/shared-maildirs");
  EXPECT_TRUE(sfs::list(f.user, "u").empty());
}

TEST(SharedFs, PrepareMakesCourierLayoutAndSyncs) {
  Fixture f;
  std::string b1 = f.deliver("news", "Subject: one\n\nbody\n");
  std::string why;
  auto n = sfs::resolve(f.user, "shared.firm.news", why);
  ASSERT_TRUE(n);
  auto p = sfs::prepare(f.user, *n);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->sharable_dir, md::folder_path(f.sharable, "news"));
  char buf[4096];
  ssize_t len = ::readlink((n->dir + "/shared").c_str(), buf, sizeof buf);
  ASSERT_GT(len, 0);
  EXPECT_EQ(std::string(buf, len), p->sharable_dir);
  // new/ of the sharable folder went to its cur/; our copy has a link in new/.
  EXPECT_TRUE(f.names(p->sharable_dir + "/new").empty());
  auto mine = f.names(n->dir + "/new");
  ASSERT_EQ(mine, std::vector<std::string>{b1 + ":2,"});
  struct stat st;
  EXPECT_EQ(::lstat((n->dir + "/new/" + mine[0]).c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // The copy scans as a maildir with the message (links followed there).
  auto scanned = md::scan_messages(n->dir, true);
  ASSERT_TRUE(scanned);
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_GT((*scanned)[0].size_bytes, 0u);
  EXPECT_TRUE(std::filesystem::exists(n->dir + "/shared-timestamp"));
}

TEST(SharedFs, SyncFollowsRenamesAndRemovals) {
  Fixture f;
  std::string b1 = f.deliver("news", "Subject: one\n\n1\n");
  std::string b2 = f.deliver("news", "Subject: two\n\n2\n");
  std::string why;
  auto n = sfs::resolve(f.user, "shared.firm.news", why);
  ASSERT_TRUE(n);
  ASSERT_TRUE(sfs::prepare(f.user, *n));
  // Our own flags: rename our link; the sharable file keeps its name.
  std::string mine = n->dir + "/new/" + b1 + ":2,";
  ASSERT_EQ(::rename(mine.c_str(), (n->dir + "/cur/" + b1 + ":2,S").c_str()), 0);
  // The owner removes message 2 and flags message 1 in the sharable folder.
  std::string cur = md::folder_path(f.sharable, "news") + "/cur/";
  ASSERT_EQ(::unlink((cur + b2 + ":2,").c_str()), 0);
  ASSERT_EQ(::rename((cur + b1 + ":2,").c_str(), (cur + b1 + ":2,F").c_str()), 0);
  std::filesystem::remove(n->dir + "/shared-timestamp");  // same second: force the sync
  ASSERT_TRUE(sfs::prepare(f.user, *n));
  EXPECT_TRUE(f.names(n->dir + "/new").empty());
  EXPECT_EQ(f.names(n->dir + "/cur"), std::vector<std::string>{b1 + ":2,S"});  // our \Seen kept
  char buf[4096];
  ssize_t len = ::readlink((n->dir + "/cur/" + b1 + ":2,S").c_str(), buf, sizeof buf);
  ASSERT_GT(len, 0);
  EXPECT_EQ(std::string(buf, len), cur + b1 + ":2,F");  // pointed at the renamed file
}

TEST(SharedFs, VanishedSharableFolderIsAClearError) {
  Fixture f;
  std::string why;
  auto n = sfs::resolve(f.user, "shared.firm.news", why);
  ASSERT_TRUE(n);
  ASSERT_TRUE(sfs::prepare(f.user, *n));
  std::filesystem::remove_all(md::folder_path(f.sharable, "news"));
  auto p = sfs::prepare(f.user, *n);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, lib::ErrorKind::permanent);
  EXPECT_NE(p.error().message.find("shared.firm.news"), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find(md::folder_path(f.sharable, "news") + "/cur"), std::string::npos);
  EXPECT_NE(p.error().message.find("No such file"), std::string::npos) << p.error().message;
}

TEST(SharedFs, ReadOnlyWhenCurNotWritable) {
  Fixture f;
  f.deliver("news", "Subject: one\n\n1\n");
  std::string folder = md::folder_path(f.sharable, "news");
  // Read-only for the reader: as root, the reader is nobody and the folder
  // root's (the -s read case); otherwise cur/ and new/ lose the write bit.
  uid_t reader = ::geteuid();
  if (reader == 0) {
    struct passwd* pw = ::getpwnam("nobody");
    if (!pw) GTEST_SKIP() << "no user nobody to read as";
    reader = pw->pw_uid;
    for (const auto& e : std::filesystem::recursive_directory_iterator(f.t.path()))
      if (e.path().string().rfind(f.user + "/", 0) == 0) ::chown(e.path().c_str(), reader, pw->pw_gid);
    ::chown(f.user.c_str(), reader, pw->pw_gid);
    ::chmod(f.t.path().c_str(), 0755);
    for (const auto& e : std::filesystem::directory_iterator(folder + "/new")) ::chmod(e.path().c_str(), 0644);
  } else {
    ::chmod((folder + "/cur").c_str(), 0555);
    ::chmod((folder + "/new").c_str(), 0555);
  }
  // The check runs in a child (as the reader when we are root).
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(reader) != 0)) ::_exit(10);
    std::string why;
    auto n = sfs::resolve(f.user, "shared.firm.news", why);
    if (!n) ::_exit(11);
    auto p = sfs::prepare(f.user, *n);
    if (!p) ::_exit(12);
    if (!p->read_only) ::_exit(13);
    std::size_t links = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(n->dir + "/new")) ++links;
    ::_exit(links == 1 ? 0 : 14);  // still seen, from the sharable new/
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::chmod((folder + "/cur").c_str(), 0755);
  ::chmod((folder + "/new").c_str(), 0755);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 resolve, 12 prepare, 13 not read-only, 14 link count";
  EXPECT_NE(sfs::read_only_text("shared.firm.news").find("[NOPERM]"), std::string::npos);
}

}  // namespace
