// tests/lib/maildir_quota_test.cpp: unit tests for lib/maildir_quota
// (maildirsize parsing and writing, Courier's recalculation rules, quota
// delivery), with concurrent writers in forked processes and hostile files.
#include "lib/maildir_quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "lib/privileges.hpp"
#include "tests/lib/test_util.hpp"

namespace md = lib::maildir;

namespace {

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) return out;
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string make_maildir(const testutil::TempDir& tmp, const std::string& name = "Maildir") {
  std::string path = tmp / name;
  auto r = md::create_maildir(path);
  if (!r) ADD_FAILURE() << r.error().message;
  return path;
}

// Puts a message of `size` bytes into dir/sub under `name` (no S= unless the
// name has one).
void put(const std::string& dir, const std::string& sub, const std::string& name,
         std::size_t size) {
  testutil::write_file(dir + "/" + sub + "/" + name, std::string(size, 'm'));
}

md::MaildirSizeData read_maildirsize(const std::string& root) {
  return md::parse_maildirsize(testutil::read_file(root + "/maildirsize"));
}

// Forks `children` processes running fn(i); returns how many exited 0.
int fork_all(int children, const std::function<int(int)>& fn) {
  std::vector<pid_t> pids;
  for (int i = 0; i < children; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(fn(i));
    pids.push_back(pid);
  }
  int ok = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++ok;
  }
  return ok;
}

}  // namespace

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

TEST(MaildirQuotaSpec, StrictParse) {
  struct Case {
    const char* label;
    std::string text;
    bool ok;
    std::int64_t bytes;
    std::int64_t messages;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"both", "5000000S,1000C", true, 5000000, 1000, ""},
      {"count only", "1000C", true, 0, 1000, ""},
      {"size only", "5000000S", true, 5000000, 0, ""},
      {"reversed", "1000C,5000S", true, 5000, 1000, ""},
      {"largest", "999999999999999999S", true, 999999999999999999, 0, ""},
      {"empty", "", false, 0, 0, "empty"},
      {"no unit", "5000000", false, 0, 0, "has no unit"},
      {"unit only", "S", false, 0, 0, "no number"},
      {"unknown unit", "5X", false, 0, 0, "unknown unit"},
      {"lower case", "5s", false, 0, 0, "unknown unit"},
      {"negative", "-5S", false, 0, 0, "not a number"},
      {"duplicate", "5S,6S", false, 0, 0, "twice"},
      {"zero", "0S", false, 0, 0, "no limit"},
      {"trailing comma", "5S,", false, 0, 0, "empty"},
      {"leading comma", ",5S", false, 0, 0, "empty"},
      {"space", " 5S", false, 0, 0, "not a number"},
      {"inner space", "5 S", false, 0, 0, "not a number"},
      {"overflow", "99999999999999999999S", false, 0, 0, "too large"},
      {"semicolon", "5S;1C", false, 0, 0, "not a number"},
      {"newline", "5S\n", false, 0, 0, "\"5S?\" is not a number"},
      {"newline inside", "5\nS", false, 0, 0, "not a number"},
      {"too long", std::string(100, '1') + "S", false, 0, 0, "too long"},
  };
  for (const auto& c : cases) {
    auto r = md::parse_quota_spec(c.text);
    ASSERT_EQ(static_cast<bool>(r), c.ok) << c.label;
    if (r) {
      EXPECT_EQ(r->max_bytes, c.bytes) << c.label;
      EXPECT_EQ(r->max_messages, c.messages) << c.label;
    } else {
      EXPECT_FALSE(r.error().temporary()) << c.label;
      EXPECT_NE(r.error().message.find(c.reason), std::string::npos)
          << c.label << ": " << r.error().message;
      EXPECT_NE(r.error().message.find("5000000S,1000C"), std::string::npos) << "shows an example";
      EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << c.label;
    }
  }
}

TEST(MaildirQuotaSpec, ToStringAsCourierWritesIt) {
  EXPECT_EQ((md::QuotaSpec{5000000, 1000}).to_string(), "5000000S,1000C");
  EXPECT_EQ((md::QuotaSpec{0, 1000}).to_string(), "1000C");
  EXPECT_EQ((md::QuotaSpec{42, 0}).to_string(), "42S");
  EXPECT_EQ((md::QuotaSpec{}).to_string(), "");
  auto back = md::parse_quota_spec((md::QuotaSpec{123, 45}).to_string());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, (md::QuotaSpec{123, 45}));
}

TEST(MaildirQuotaSpec, LenientFirstLineLikeCourier) {
  struct Case {
    const char* label;
    const char* line;
    std::int64_t bytes;
    std::int64_t messages;
    bool clean;
  };
  for (const auto& c : std::vector<Case>{
           {"courier", "5000000S,1000C", 5000000, 1000, true},
           {"empty", "", 0, 0, true},
           {"junk before", "quota=100S", 100, 0, false},
           {"number without unit", "100", 0, 0, false},
           {"crlf", "100S,5C\r", 100, 5, true},
           {"overflow ignored", "99999999999999999999S,5C", 0, 5, false},
           {"binary",
            "\x01\x02"
            "7C",
            0, 7, false},
       }) {
    bool clean = !c.clean;
    auto spec = md::parse_quota_line(c.line, &clean);
    EXPECT_EQ(spec.max_bytes, c.bytes) << c.label;
    EXPECT_EQ(spec.max_messages, c.messages) << c.label;
    EXPECT_EQ(clean, c.clean) << c.label;
  }
}

TEST(MaildirQuotaFile, ParseContents) {
  struct Case {
    const char* label;
    std::string content;
    std::int64_t bytes;
    std::int64_t messages;
    std::size_t lines;
    bool recalc;
    const char* problem;
  };
  const std::string courier_lines = md::format_usage_line(1234, 1) +
                                    md::format_usage_line(-1234, -1) +
                                    md::format_usage_line(500, 2);
  std::string huge = "100S\n";
  while (huge.size() < md::maildirsize_max_bytes) huge += md::format_usage_line(1, 1);
  std::string overflow = "100S\n";
  for (int i = 0; i < 11; ++i) overflow += "900000000000000000 1\n";
  const std::vector<Case> cases = {
      {"courier format", "5000000S,1000C\n" + courier_lines, 500, 2, 3, false, ""},
      {"compact", "100S\n5 1\n6 1\n", 11, 2, 2, false, ""},
      {"last line being written", "100S\n5 1\n   12", 5, 1, 1, false, ""},
      {"definition without newline", "100S", 0, 0, 0, false, ""},
      {"cut line joined by the next append", "100S\n   12   7 1\n", 0, 0, 1, true, "line 2"},
      {"crlf", "100S\r\n5 1\r\n", 5, 1, 1, false, ""},
      {"tabs", "100S\n\t5\t1\t\n", 5, 1, 1, false, ""},
      {"definition only", "100S\n", 0, 0, 0, false, ""},
      {"empty file", "", 0, 0, 0, false, ""},
      {"negative totals", "100S\n5 1\n-10 -2\n", -5, -1, 2, true, "negative"},
      {"garbage line", "100S\n5 1\nhello world\n6 1\n", 11, 2, 3, true, "line 3"},
      {"one number", "100S\n5\n", 0, 0, 1, true, "line 2"},
      {"three numbers", "100S\n5 1 7\n", 0, 0, 1, true, "line 2"},
      {"blank line", "100S\n5 1\n\n6 1\n", 11, 2, 3, true, "line 3"},
      {"line too long", "100S\n" + std::string(70, ' ') + "5 1\n", 0, 0, 1, true, "line 2"},
      {"number too long", "100S\n1234567890123456789 1\n", 0, 0, 1, true, "line 2"},
      {"totals overflow", overflow, 9000000000000000000, 10, 11, true, "overflow"},
      {"nul bytes", std::string("100S\n5\0 1\n", 10), 0, 0, 1, true, "line 2"},
      {"binary junk", "100S\n\xff\xfe\x80\n", 0, 0, 1, true, "line 2"},
      {"too big", huge, 0, 0, 0, true, "5120 bytes"},
  };
  for (const auto& c : cases) {
    auto d = md::parse_maildirsize(c.content);
    EXPECT_EQ(d.usage.bytes, c.bytes) << c.label;
    EXPECT_EQ(d.usage.messages, c.messages) << c.label;
    EXPECT_EQ(d.usage_lines, c.lines) << c.label;
    EXPECT_EQ(d.needs_recalc, c.recalc) << c.label;
    EXPECT_NE(d.problem.find(c.problem), std::string::npos) << c.label << ": " << d.problem;
  }
  EXPECT_EQ(md::parse_maildirsize(huge).quota.max_bytes, 100)
      << "definition still read from a big file";
  EXPECT_EQ(md::parse_maildirsize("5000000S,1000C\n").quota, (md::QuotaSpec{5000000, 1000}));
  EXPECT_EQ(md::parse_maildirsize("5000000S,1000C").quota, (md::QuotaSpec{5000000, 1000}));
}

TEST(MaildirQuotaFile, UsageLinesAreCourierFormat) {
  EXPECT_EQ(md::format_usage_line(1234, 1), "        1234            1\n");
  EXPECT_EQ(md::format_usage_line(-1234, -1), "       -1234           -1\n");
  EXPECT_EQ(md::format_usage_line(0, 0).size(), 26u);
  EXPECT_EQ(md::format_usage_line(9000000000000000000, 1), "9000000000000000000            1\n");
}

TEST(MaildirQuotaFile, WhatCounts) {
  struct Case {
    const char* name;
    bool counts;
  };
  for (const auto& c :
       std::vector<Case>{{"1.h,S=5", true},
                         {"1.h,S=5:2,", true},
                         {"1.h,S=5:2,S", true},
                         {"1.h,S=5:2,ST", false},
                         {"1.h,S=5:2,T", false},
                         {"1.h,S=5:2,DFRST", false},
                         {"1.h:2,aT", true},  // Courier stops at the first non-capital
                         {"cur/1.h:2,T", false},
                         {"1.h:1,T", true}}) {
    EXPECT_EQ(md::counts_toward_quota(c.name), c.counts) << c.name;
  }
  for (const auto& c : std::vector<Case>{{".Trash", false},
                                         {".Trash/", false},
                                         {"/home/u/Maildir/.Trash", false},
                                         {"/home/u/Maildir/.Trash/", false},
                                         {".Trash.Old", true},
                                         {"/home/u/Maildir/.Sent", true},
                                         {"/home/u/Maildir", true}}) {
    EXPECT_EQ(md::folder_counts_toward_quota(c.name), c.counts) << c.name;
  }
}

TEST(MaildirQuotaFile, FolderQuotaLivesAtTheRoot) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  ASSERT_TRUE(md::create_folder(root, "Sent"));
  EXPECT_EQ(md::quota_root(root), root);
  EXPECT_EQ(md::quota_root(root + "/.Sent"), root);
  EXPECT_EQ(md::quota_root(root + "/.Sent/"), root);
}

// ---------------------------------------------------------------------------
// Setting, checking, recalculating
// ---------------------------------------------------------------------------

TEST(MaildirQuota, SetCountsEverythingButTrashAndDeleted) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  for (const char* f : {"Sent", "Trash", "Lists.dev"}) ASSERT_TRUE(md::create_folder(root, f));
  put(root, "new", "1.a,S=100", 100);
  put(root, "cur", "2.b,S=200:2,S", 200);
  put(root, "cur", "3.c,S=400:2,ST", 400);   // flagged deleted
  put(root, "cur", "4.nosize:2,S", 7);       // no S=: stat'ed
  put(root, "cur", ".5.hidden,S=800", 800);  // dot file
  put(root + "/.Sent", "cur", "6.d,S=1000:2,S", 1000);
  put(root + "/.Lists.dev", "new", "7.e,S=2000", 2000);
  put(root + "/.Trash", "cur", "8.f,S=4000:2,S", 4000);
  put(root + "/.Sent", "tmp", "9.g,S=8000", 8000);  // tmp/ never counts
  std::string other = make_maildir(tmp, "Other");
  put(other, "new", "10.h,S=16000", 16000);
  ASSERT_EQ(::symlink(other.c_str(), (root + "/.SharedLink").c_str()), 0);

  auto r = md::set_quota(root + "/.Sent", md::QuotaSpec{1000000, 100});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->bytes, 100 + 200 + 7 + 1000 + 2000);
  EXPECT_EQ(r->messages, 5);
  EXPECT_EQ(testutil::read_file(root + "/maildirsize"),
            "1000000S,100C\n" + md::format_usage_line(3307, 5));
  EXPECT_TRUE(list_dir(root + "/tmp").empty());

  auto unlimited = md::set_quota(root, md::QuotaSpec{});
  ASSERT_FALSE(unlimited);
  EXPECT_NE(unlimited.error().message.find("delete the file"), std::string::npos);

  ASSERT_TRUE(md::remove_quota(root));
  EXPECT_FALSE(testutil::read_file(root + "/maildirsize").size());
  EXPECT_TRUE(md::remove_quota(root)) << "removing twice is fine";
  auto none = md::check_quota(root, 1000000000, 1000);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_quota);
  EXPECT_FALSE(none->over_quota);
}

TEST(MaildirQuota, CheckUnderAndOverWithPercent) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(root + "/maildirsize", "1000S,10C\n" + md::format_usage_line(500, 4));
  auto under = md::check_quota(root, 100, 1);
  ASSERT_TRUE(under) << under.error().message;
  EXPECT_TRUE(under->has_quota);
  EXPECT_FALSE(under->over_quota);
  EXPECT_EQ(under->percent, 60);
  EXPECT_EQ(under->usage.bytes, 500);
  EXPECT_FALSE(under->recalculated);
  auto exact = md::check_quota(root, 500, 1);
  ASSERT_TRUE(exact);
  EXPECT_FALSE(exact->over_quota) << "reaching the limit exactly is allowed";
  EXPECT_EQ(exact->percent, 100);
  // Over on a fresh one-line file: refused without a rebuild (the disk,
  // which is empty, is not looked at).
  auto over = md::check_quota(root, 501, 1);
  ASSERT_TRUE(over);
  EXPECT_TRUE(over->over_quota);
  EXPECT_FALSE(over->recalculated);
  EXPECT_EQ(over->percent, 100);
  auto count_over = md::check_quota(root, 1, 7);
  ASSERT_TRUE(count_over);
  EXPECT_TRUE(count_over->over_quota);
}

TEST(MaildirQuota, OverQuotaRebuildsWhenStaleOrMultiLine) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  put(root, "cur", "1.a,S=100:2,S", 100);
  const std::string one_line = "1000S\n" + md::format_usage_line(950, 5);
  const std::string two_lines =
      "1000S\n" + md::format_usage_line(900, 4) + md::format_usage_line(50, 1);
  std::time_t now = std::time(nullptr);
  struct Case {
    const char* label;
    std::string content;
    std::time_t now;
    bool recalculated;
    bool over;
  };
  for (const auto& c : std::vector<Case>{
           {"one line, fresh: trusted", one_line, now, false, true},
           {"one line, 16 minutes old: rebuilt", one_line, now + 16 * 60, true, false},
           {"two lines: rebuilt", two_lines, now, true, false},
       }) {
    testutil::write_file(root + "/maildirsize", c.content);
    auto r = md::check_quota(root, 200, 1, c.now);
    ASSERT_TRUE(r) << c.label << ": " << r.error().message;
    EXPECT_EQ(r->recalculated, c.recalculated) << c.label;
    EXPECT_EQ(r->over_quota, c.over) << c.label;
    if (c.recalculated) {
      EXPECT_EQ(r->usage.bytes, 100) << c.label;
      EXPECT_EQ(testutil::read_file(root + "/maildirsize"),
                "1000S\n" + md::format_usage_line(100, 1))
          << c.label;
    } else {
      EXPECT_EQ(testutil::read_file(root + "/maildirsize"), c.content) << c.label;
    }
  }
}

TEST(MaildirQuota, HostileMaildirsizeIsRebuilt) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  put(root, "new", "1.a,S=300", 300);
  put(root, "cur", "2.nosize:2,", 20);
  std::string huge = "5000S,10C\n";
  while (huge.size() < 6000) huge += md::format_usage_line(1, 1);
  struct Case {
    const char* label;
    std::string content;
  };
  for (const auto& c : std::vector<Case>{
           {"garbage line", "5000S,10C\nthis is not a number\n"},
           {"negative sums", "5000S,10C\n-999999 -50\n"},
           {"line too long", "5000S,10C\n" + std::string(200, '7') + " 1\n"},
           {"binary", std::string("5000S,10C\n\0\0\0\xff\n", 15)},
           {"too big", huge},
       }) {
    testutil::write_file(root + "/maildirsize", c.content);
    auto r = md::check_quota(root, 10, 1);
    ASSERT_TRUE(r) << c.label << ": " << r.error().message;
    EXPECT_TRUE(r->recalculated) << c.label;
    EXPECT_FALSE(r->over_quota) << c.label;
    EXPECT_EQ(r->usage.bytes, 320) << c.label;
    EXPECT_EQ(r->usage.messages, 2) << c.label;
    EXPECT_EQ(testutil::read_file(root + "/maildirsize"),
              "5000S,10C\n" + md::format_usage_line(320, 2))
        << c.label;
  }
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
}

TEST(MaildirQuota, NonFileMaildirsizeIsAnErrorNamingIt) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(tmp / "elsewhere", "1S\n");
  ASSERT_EQ(::symlink((tmp / "elsewhere").c_str(), (root + "/maildirsize").c_str()), 0);
  auto link = md::check_quota(root, 1, 1);
  ASSERT_FALSE(link);
  EXPECT_TRUE(link.error().temporary());
  EXPECT_NE(link.error().message.find(root + "/maildirsize"), std::string::npos)
      << link.error().message;
  EXPECT_NE(link.error().message.find("symbolic links"), std::string::npos) << link.error().message;
  ASSERT_EQ(::unlink((root + "/maildirsize").c_str()), 0);
  ASSERT_EQ(::mkdir((root + "/maildirsize").c_str(), 0700), 0);
  auto dir = md::check_quota(root, 1, 1);
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find(root + "/maildirsize"), std::string::npos)
      << dir.error().message;
  EXPECT_NE(dir.error().message.find("Is a directory"), std::string::npos) << dir.error().message;
}

TEST(MaildirQuota, RebuildInReadOnlyMaildirNamesPathAndErrno) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(root + "/maildirsize", "1000S\ngarbage\n");
  ::chmod(tmp.path().c_str(), 0755);
  for (const char* d : {"", "/new", "/cur"}) ::chmod((root + d).c_str(), 0755);
  ::chmod((root + "/tmp").c_str(), 0555);
  ::chmod((root + "/maildirsize").c_str(), 0666);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (::geteuid() == 0 && !lib::drop_privileges(lib::Identity{65534, 65534, "nobody", ""})) ::_exit(77);
    auto r = md::check_quota(root, 1, 1);
    std::string out = r ? std::string("succeeded") : r.error().message;
    (void)!::write(p[1], out.data(), out.size());
    ::_exit(r ? 1 : (r.error().temporary() ? 0 : 2));
  }
  ::close(p[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::chmod((root + "/tmp").c_str(), 0700);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot drop privileges";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find(root + "/tmp/"), std::string::npos) << out;
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
}

TEST(MaildirQuota, UpdateAppendsOneLineOrRebuilds) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  ASSERT_TRUE(md::update_quota(root, 100, 1));
  EXPECT_FALSE(::access((root + "/maildirsize").c_str(), F_OK) == 0) << "no quota: nothing created";

  const std::string start = "1000S\n" + md::format_usage_line(300, 3);
  testutil::write_file(root + "/maildirsize", start);
  ASSERT_TRUE(md::update_quota(root + "/", -100, -1));
  EXPECT_EQ(testutil::read_file(root + "/maildirsize"), start + md::format_usage_line(-100, -1));

  // A file that needs rebuilding is rebuilt from the disk instead.
  put(root, "cur", "1.a,S=42:2,S", 42);
  testutil::write_file(root + "/maildirsize", "1000S\n-5 -5\n");
  ASSERT_TRUE(md::update_quota(root, -100, -1));
  EXPECT_EQ(testutil::read_file(root + "/maildirsize"), "1000S\n" + md::format_usage_line(42, 1));

  auto rc = md::recalculate_quota(root);
  ASSERT_TRUE(rc);
  EXPECT_TRUE(rc->recalculated);
  EXPECT_EQ(rc->usage.bytes, 42);
}

// ---------------------------------------------------------------------------
// Delivery with quota
// ---------------------------------------------------------------------------

TEST(MaildirQuotaDeliver, DeliversAndAppendsOrRefusesOverQuota) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  ASSERT_TRUE(md::set_quota(root, md::QuotaSpec{100, 0}));
  auto ok = md::deliver_with_quota(root, std::string(60, 'a'));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, md::QuotaStatus::delivered);
  EXPECT_TRUE(ok->warning.empty());
  EXPECT_EQ(ok->check.percent, 60);
  EXPECT_EQ(testutil::read_file(root + "/maildirsize"),
            "100S\n" + md::format_usage_line(0, 0) + md::format_usage_line(60, 1));

  auto over = md::deliver_with_quota(root, std::string(41, 'b'));
  ASSERT_TRUE(over) << over.error().message;
  EXPECT_EQ(over->status, md::QuotaStatus::over_quota);
  EXPECT_TRUE(over->check.over_quota);
  EXPECT_EQ(list_dir(root + "/new").size(), 1u);
  EXPECT_TRUE(list_dir(root + "/tmp").empty()) << "refused message left in tmp/";

  // From a descriptor: the size is only known after copying.
  testutil::write_file(tmp / "src", std::string(41, 'c'));
  int fd = ::open((tmp / "src").c_str(), O_RDONLY);
  auto over_fd = md::deliver_with_quota_from_fd(root, fd);
  ::close(fd);
  ASSERT_TRUE(over_fd);
  EXPECT_EQ(over_fd->status, md::QuotaStatus::over_quota);
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
  testutil::write_file(tmp / "src", std::string(40, 'c'));
  fd = ::open((tmp / "src").c_str(), O_RDONLY);
  auto ok_fd = md::deliver_with_quota_from_fd(root, fd);
  ::close(fd);
  ASSERT_TRUE(ok_fd);
  EXPECT_EQ(ok_fd->status, md::QuotaStatus::delivered);
  EXPECT_EQ(read_maildirsize(root).usage.bytes, 100);
}

TEST(MaildirQuotaDeliver, TrashAndDeletedAreNotCounted) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  ASSERT_TRUE(md::create_folder(root, "Trash"));
  ASSERT_TRUE(md::create_folder(root, "Sent"));
  ASSERT_TRUE(md::set_quota(root, md::QuotaSpec{10, 0}));
  const std::string before = testutil::read_file(root + "/maildirsize");

  auto trash = md::deliver_with_quota(root + "/.Trash", std::string(1000, 't'));
  ASSERT_TRUE(trash) << trash.error().message;
  EXPECT_EQ(trash->status, md::QuotaStatus::delivered);
  md::QuotaDeliveryOptions deleted;
  deleted.location = md::Location::cur_dir;
  deleted.flags = "ST";
  auto del = md::deliver_with_quota(root + "/.Sent", std::string(1000, 'd'), deleted);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, md::QuotaStatus::delivered);
  EXPECT_EQ(testutil::read_file(root + "/maildirsize"), before);

  // A folder's delivery is charged to the root's maildirsize.
  auto sent = md::deliver_with_quota(root + "/.Sent", std::string(11, 's'));
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->status, md::QuotaStatus::over_quota);
  auto fits = md::deliver_with_quota(root + "/.Sent", std::string(10, 's'));
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, md::QuotaStatus::delivered);
  EXPECT_EQ(read_maildirsize(root).usage.bytes, 10);
}

TEST(MaildirQuotaDeliver, AccountQuotaCreatesOrReplacesTheDefinition) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  put(root, "cur", "1.a,S=50:2,S", 50);
  md::QuotaDeliveryOptions o;
  o.quota = md::QuotaSpec{100, 0};
  auto first = md::deliver_with_quota(root, std::string(30, 'x'), o);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->status, md::QuotaStatus::delivered);
  auto d = read_maildirsize(root);
  EXPECT_EQ(d.quota, (md::QuotaSpec{100, 0}));
  EXPECT_EQ(d.usage.bytes, 80);

  o.quota = md::QuotaSpec{0, 2};
  auto second = md::deliver_with_quota(root, "y", o);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, md::QuotaStatus::over_quota) << "two messages already, limit 2";
  EXPECT_TRUE(second->check.recalculated);
  EXPECT_EQ(read_maildirsize(root).quota, (md::QuotaSpec{0, 2}));
}

TEST(MaildirQuotaDeliver, MissingMaildirIsTemporary) {
  testutil::TempDir tmp;
  auto r = md::deliver_with_quota(tmp / "Missing", "x");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find(tmp / "Missing/tmp"), std::string::npos) << r.error().message;
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

TEST(MaildirQuotaConcurrency, ParallelDeliveriesKeepExactTotals) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  put(root, "cur", "1.seed,S=1000:2,S", 1000);
  ASSERT_TRUE(md::set_quota(root, md::QuotaSpec{1000000000, 100000}));
  // 4 x 40 lines of 26 bytes stay under 5120 bytes: no rebuild, so the sums
  // must be exact.
  constexpr int children = 4;
  constexpr int per_child = 40;
  int ok = fork_all(children, [&](int c) {
    for (int i = 0; i < per_child; ++i) {
      auto r = md::deliver_with_quota(root, std::string(static_cast<std::size_t>(100 + c), 'x'));
      if (!r || r->status != md::QuotaStatus::delivered || !r->warning.empty()) return 1;
    }
    return 0;
  });
  EXPECT_EQ(ok, children);
  EXPECT_EQ(list_dir(root + "/new").size(), static_cast<std::size_t>(children * per_child));
  auto d = read_maildirsize(root);
  EXPECT_FALSE(d.needs_recalc) << d.problem;
  EXPECT_EQ(d.usage_lines, static_cast<std::size_t>(1 + children * per_child));
  EXPECT_EQ(d.usage.messages, 1 + children * per_child);
  EXPECT_EQ(d.usage.bytes, 1000 + per_child * (100 + 101 + 102 + 103));
  auto rc = md::recalculate_quota(root);
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->usage.bytes, d.usage.bytes);
  EXPECT_EQ(rc->usage.messages, d.usage.messages);
}

TEST(MaildirQuotaConcurrency, ParallelUpdatesNeverInterleave) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(root + "/maildirsize", "999999S\n");
  constexpr int children = 4;
  constexpr int per_child = 45;
  int ok = fork_all(children, [&](int c) {
    for (int i = 0; i < per_child; ++i)
      if (!md::update_quota(root, c % 2 == 0 ? 100 : 10, 1)) return 1;
    return 0;
  });
  EXPECT_EQ(ok, children);
  std::string content = testutil::read_file(root + "/maildirsize");
  EXPECT_EQ(content.size(), 8u + 26u * children * per_child);
  auto d = md::parse_maildirsize(content);
  EXPECT_EQ(d.usage_lines, static_cast<std::size_t>(children * per_child));
  EXPECT_EQ(d.usage.bytes, 2 * per_child * 100 + 2 * per_child * 10);
  EXPECT_EQ(d.usage.messages, children * per_child);
  EXPECT_FALSE(d.needs_recalc) << d.problem;
}

TEST(MaildirQuotaConcurrency, DeliveriesRacingRebuildsStayConsistent) {
  // Enough lines to pass 5120 bytes several times: processes rebuild the file
  // while others append. Totals may drift (as in Courier) but no line is ever
  // torn, every message is delivered, and a final rebuild is exact.
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  ASSERT_TRUE(md::create_folder(root, "Sent"));
  ASSERT_TRUE(md::set_quota(root, md::QuotaSpec{1000000000, 0}));
  constexpr int children = 4;
  constexpr int per_child = 120;
  int ok = fork_all(children, [&](int c) {
    std::string dir = c % 2 ? root + "/.Sent" : root;
    for (int i = 0; i < per_child; ++i) {
      auto r = md::deliver_with_quota(dir, std::string(50, 'r'));
      if (!r || r->status != md::QuotaStatus::delivered) return 1;
    }
    return 0;
  });
  EXPECT_EQ(ok, children);
  EXPECT_EQ(list_dir(root + "/new").size() + list_dir(root + "/.Sent/new").size(),
            static_cast<std::size_t>(children * per_child));
  auto d = read_maildirsize(root);
  EXPECT_EQ(d.problem.find("not \"<bytes> <count>\""), std::string::npos)
      << "torn line: " << d.problem;
  EXPECT_EQ(d.quota, (md::QuotaSpec{1000000000, 0}));
  auto rc = md::recalculate_quota(root);
  ASSERT_TRUE(rc) << rc.error().message;
  EXPECT_EQ(rc->usage.messages, children * per_child);
  EXPECT_EQ(rc->usage.bytes, 50 * children * per_child);
  EXPECT_EQ(
      testutil::read_file(root + "/maildirsize"),
      "1000000000S\n" + md::format_usage_line(50 * children * per_child, children * per_child));
  for (const auto& n : list_dir(root + "/tmp")) ADD_FAILURE() << "left in tmp/: " << n;
}
