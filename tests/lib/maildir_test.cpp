// tests/lib/maildir_test.cpp: unit tests for lib/maildir (Maildir, Maildir++
// folders, message names, delivery, flags, scanning), including real
// concurrency (forked processes) and failing file systems (read-only, size
// limits).
#include "lib/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <regex>
#include <set>
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

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

mode_t mode_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::string make_maildir(const testutil::TempDir& tmp, const std::string& name = "Maildir") {
  std::string path = tmp / name;
  auto r = md::create_maildir(path);
  if (!r) ADD_FAILURE() << r.error().message;
  return path;
}

struct ChildResult {
  int exit_code = -1;
  std::string output;
};

// Runs fn in a forked child; fn writes what the parent should see into its
// string and returns the exit code. With unprivileged, a root child first
// becomes "nobody", so that permissions apply (the tests may run as root).
// Exit code 77 means the child could not drop privileges.
ChildResult run_child(const std::function<int(std::string&)>& fn, bool unprivileged = false) {
  int p[2];
  if (::pipe(p) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (unprivileged && ::geteuid() == 0) {
      if (!lib::drop_privileges(lib::Identity{65534, 65534, "nobody", ""})) ::_exit(77);
    }
    std::string out;
    int code = fn(out);
    const char* data = out.data();
    std::size_t left = out.size();
    while (left > 0) {
      ssize_t n = ::write(p[1], data, left);
      if (n <= 0) break;
      data += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(code);
  }
  ::close(p[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Opens the way for an unprivileged child to reach (not write) the maildir.
void open_for_others(const testutil::TempDir& tmp) { ::chmod(tmp.path().c_str(), 0755); }

}  // namespace

// ---------------------------------------------------------------------------
// Maildirs and folders
// ---------------------------------------------------------------------------

TEST(MaildirCreate, MakesSubdirectoriesWithTheModeGivenWhateverTheUmask) {
  testutil::TempDir tmp;
  mode_t old = ::umask(077);
  auto r = md::create_maildir(tmp / "Maildir", 0750);
  ::umask(old);
  ASSERT_TRUE(r) << r.error().message;
  for (const char* sub : {"", "/cur", "/new", "/tmp"})
    EXPECT_EQ(mode_of(tmp / ("Maildir" + std::string(sub))), 0750u) << sub;
  // Idempotent, and repairs a missing part.
  ASSERT_EQ(::rmdir((tmp / "Maildir/new").c_str()), 0);
  EXPECT_TRUE(md::create_maildir(tmp / "Maildir", 0750));
  EXPECT_TRUE(exists(tmp / "Maildir/new"));
}

TEST(MaildirCreate, RefusesAFileInTheWayAndNamesIt) {
  testutil::TempDir tmp;
  testutil::write_file(tmp / "Maildir", "not a directory");
  auto r = md::create_maildir(tmp / "Maildir");
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().temporary());
  EXPECT_NE(r.error().message.find(tmp / "Maildir"), std::string::npos) << r.error().message;
}

TEST(MaildirCreate, MissingParentIsAnErrorNamingPathAndErrno) {
  testutil::TempDir tmp;
  auto r = md::create_maildir(tmp / "no/such/Maildir");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(tmp / "no/such/Maildir"), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos)
      << r.error().message;
}

TEST(MaildirFolderName, Validation) {
  struct Case {
    const char* label;
    std::string name;
    bool ok;
    const char* reason;  // substring of the error
  };
  const std::vector<Case> cases = {
      {"simple", "Sent", true, ""},
      {"hierarchy", "Lists.courier.devel", true, ""},
      {"space", "My Folder", true, ""},
      {"utf8 latin", "Entw\xC3\xBCrfe", true, ""},
      {"utf8 cjk with child", "\xE6\x97\xA5\xE6\x9C\xAC.sub", true, ""},
      {"utf8 4-byte", "\xF0\x9F\x93\xA7", true, ""},
      {"longest allowed", std::string(254, 'a'), true, ""},
      {"empty", "", false, "empty"},
      {"too long", std::string(255, 'a'), false, "longer than"},
      {"leading dot", ".hidden", false, "starts with '.'"},
      {"dot dot", "..", false, "starts with '.'"},
      {"empty component", "a..b", false, "\"..\""},
      {"trailing dot", "a.", false, "ends with '.'"},
      {"slash", "a/b", false, "'/'"},
      {"parent escape", "x/../../etc", false, "\"..\""},
      {"slash alone", "x/y.z", false, "'/'"},
      {"control char", "a\x01z", false, "control"},
      {"newline", "a\nb", false, "control"},
      {"nul", std::string("a\0b", 3), false, "control"},
      {"del", "a\x7F", false, "control"},
      {"invalid byte", "\xFF", false, "UTF-8"},
      {"overlong slash", "\xC0\xAF", false, "UTF-8"},
      {"overlong 3-byte", "\xE0\x80\xAF", false, "UTF-8"},
      {"surrogate", "\xED\xA0\x80", false, "UTF-8"},
      {"above U+10FFFF", "\xF4\x90\x80\x80", false, "UTF-8"},
      {"truncated sequence", "\xE6\x97", false, "UTF-8"},
      {"lone continuation", "a\x80", false, "UTF-8"},
  };
  for (const auto& c : cases) {
    auto r = md::validate_folder_name(c.name);
    EXPECT_EQ(static_cast<bool>(r), c.ok) << c.label;
    if (!r && !c.ok) {
      EXPECT_FALSE(r.error().temporary()) << c.label;
      EXPECT_NE(r.error().message.find(c.reason), std::string::npos)
          << c.label << ": " << r.error().message;
      // Control characters never reach the log raw.
      for (char ch : r.error().message)
        EXPECT_FALSE(ch == '\n' || ch == '\0' || ch == '\x01') << c.label;
    }
  }
}

TEST(MaildirFolder, CreateMakesACompleteFolderAtomically) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  auto r = md::create_folder(root, "Sent", 0700);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(*r);
  std::string f = root + "/.Sent";
  EXPECT_EQ(list_dir(f), (std::vector<std::string>{"cur", "maildirfolder", "new", "tmp"}));
  EXPECT_EQ(testutil::read_file(f + "/maildirfolder"), "");
  EXPECT_EQ(mode_of(f), 0700u);
  EXPECT_EQ(mode_of(f + "/maildirfolder"), 0600u);
  EXPECT_TRUE(list_dir(root + "/tmp").empty()) << "build directory left behind";
  // Again: reported as existing, nothing changed.
  auto again = md::create_folder(root, "Sent");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
  // A child without its parent, as Courier allows.
  auto child = md::create_folder(root, "Lists.courier");
  ASSERT_TRUE(child);
  EXPECT_TRUE(exists(root + "/.Lists.courier/maildirfolder"));
  EXPECT_FALSE(exists(root + "/.Lists"));
}

TEST(MaildirFolder, CreateRefusesBadNamesAndNonMaildirs) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  for (const char* bad : {"", ".x", "a..b", "a/b", "../etc"}) {
    auto r = md::create_folder(root, bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_EQ(list_dir(root), (std::vector<std::string>{"cur", "new", "tmp"}));
  ::mkdir((tmp / "plain").c_str(), 0700);
  auto r = md::create_folder(tmp / "plain", "Sent");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a maildir"), std::string::npos) << r.error().message;
  testutil::write_file(root + "/.File", "x");
  auto file = md::create_folder(root, "File");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find(root + "/.File"), std::string::npos);
}

TEST(MaildirFolder, ConcurrentCreatorsExactlyOneWins) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  constexpr int children = 6;
  std::vector<pid_t> pids;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  for (int i = 0; i < children; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      auto r = md::create_folder(root, "Race.Folder");
      char c = !r ? 'E' : (*r ? 'C' : 'X');
      (void)!::write(p[1], &c, 1);
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  ::close(p[1]);
  std::string results;
  char buf[16];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) results.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(std::count(results.begin(), results.end(), 'C'), 1) << results;
  EXPECT_EQ(std::count(results.begin(), results.end(), 'E'), 0) << results;
  EXPECT_EQ(list_dir(root + "/.Race.Folder"),
            (std::vector<std::string>{"cur", "maildirfolder", "new", "tmp"}));
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
}

TEST(MaildirFolder, ListShowsHierarchyAndSkipsWhatCannotBeAddressed) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  for (const char* f : {"A", "A.B.C", "Sent", "Entw\xC3\xBCrfe"})
    ASSERT_TRUE(md::create_folder(root, f));
  testutil::write_file(root + "/.notadir", "x");
  ::mkdir((root + "/.x..y").c_str(), 0700);
  ::mkdir((root + "/..weird").c_str(), 0700);
  ::mkdir((root + "/.bad\x01name").c_str(), 0700);
  ::mkdir((root + "/plain").c_str(), 0700);
  std::string shared = make_maildir(tmp, "SharedTarget");
  ASSERT_EQ(::symlink(shared.c_str(), (root + "/.Shared").c_str()), 0);

  auto r = md::list_folders(root);
  ASSERT_TRUE(r) << r.error().message;
  struct Want {
    std::string name;
    bool exists;
    bool children;
  };
  const std::vector<Want> want = {
      {"A", true, true},      {"A.B", false, true},
      {"A.B.C", true, false}, {"Entw\xC3\xBCrfe", true, false},
      {"Sent", true, false},  {"Shared", true, false},
  };
  ASSERT_EQ(r->size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*r)[i].name, want[i].name) << i;
    EXPECT_EQ((*r)[i].exists, want[i].exists) << want[i].name;
    EXPECT_EQ((*r)[i].has_children, want[i].children) << want[i].name;
  }
}

TEST(MaildirFolder, ListOfMissingRootNamesIt) {
  testutil::TempDir tmp;
  auto r = md::list_folders(tmp / "nope");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find(tmp / "nope"), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos);
}

TEST(MaildirFolder, DeleteWithAndWithoutChildren) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  for (const char* f : {"A", "A.B", "A.B.C", "AB", "Other"})
    ASSERT_TRUE(md::create_folder(root, f));
  ASSERT_TRUE(md::deliver(root + "/.A", "message in A\n"));
  ASSERT_TRUE(md::deliver(root + "/.A.B", "message in A.B\n"));

  ASSERT_TRUE(md::delete_folder(root, "A", false));
  EXPECT_FALSE(exists(root + "/.A"));
  EXPECT_TRUE(exists(root + "/.A.B"));
  EXPECT_TRUE(exists(root + "/.AB"));

  auto again = md::delete_folder(root, "A", false);
  ASSERT_FALSE(again);
  EXPECT_FALSE(again.error().temporary());
  EXPECT_NE(again.error().message.find("no such folder"), std::string::npos);

  // "A" is gone but its children go with with_children; "AB" is no child.
  ASSERT_TRUE(md::delete_folder(root, "A", true));
  EXPECT_FALSE(exists(root + "/.A.B"));
  EXPECT_FALSE(exists(root + "/.A.B.C"));
  EXPECT_TRUE(exists(root + "/.AB"));
  EXPECT_TRUE(exists(root + "/.Other"));
  EXPECT_TRUE(list_dir(root + "/tmp").empty());

  EXPECT_FALSE(md::delete_folder(root, "", true));
  EXPECT_FALSE(md::delete_folder(root, "../Maildir", true));
  EXPECT_TRUE(exists(root + "/cur"));
}

TEST(MaildirFolder, DeleteRemovesASymlinkedFolderNotItsTarget) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  std::string shared = make_maildir(tmp, "Shared");
  ASSERT_TRUE(md::deliver(shared, "shared mail\n"));
  ASSERT_EQ(::symlink(shared.c_str(), (root + "/.Shared").c_str()), 0);
  ASSERT_TRUE(md::delete_folder(root, "Shared", true));
  EXPECT_FALSE(exists(root + "/.Shared"));
  EXPECT_EQ(list_dir(shared + "/new").size(), 1u);
}

TEST(MaildirFolder, RenameMovesChildrenAndRefusesClashes) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  for (const char* f : {"A", "A.B", "A.B.C", "AB", "X2"}) ASSERT_TRUE(md::create_folder(root, f));
  auto d = md::deliver(root + "/.A.B", "keep me\n");
  ASSERT_TRUE(d);

  ASSERT_TRUE(md::rename_folder(root, "A", "X"));
  EXPECT_FALSE(exists(root + "/.A"));
  EXPECT_FALSE(exists(root + "/.A.B"));
  EXPECT_TRUE(exists(root + "/.X/maildirfolder"));
  EXPECT_TRUE(exists(root + "/.X.B.C/maildirfolder"));
  EXPECT_TRUE(exists(root + "/.AB")) << "AB is not a child of A";
  EXPECT_EQ(testutil::read_file(root + "/.X.B/new/" + d->file_name), "keep me\n");

  struct Bad {
    const char* label;
    const char* from;
    const char* to;
    const char* reason;
  };
  const std::vector<Bad> bad = {
      {"target exists", "X", "X2", "already exists"},
      {"into itself", "X", "X.B.New", "inside it"},
      {"same name", "X", "X", "inside it"},
      {"missing", "Nope", "Y", "no such folder"},
      {"invalid target", "X", "a..b", "invalid folder name"},
      {"inbox", "", "Y", "INBOX"},
  };
  for (const auto& b : bad) {
    auto r = md::rename_folder(root, b.from, b.to);
    ASSERT_FALSE(r) << b.label;
    EXPECT_NE(r.error().message.find(b.reason), std::string::npos)
        << b.label << ": " << r.error().message;
  }
  EXPECT_TRUE(exists(root + "/.X.B.C"));

  // A hierarchy level that exists only through its children.
  ASSERT_TRUE(md::delete_folder(root, "X", false));
  ASSERT_TRUE(md::rename_folder(root, "X", "Y"));
  EXPECT_TRUE(exists(root + "/.Y.B"));
  EXPECT_TRUE(exists(root + "/.Y.B.C"));
}

// ---------------------------------------------------------------------------
// Message names
// ---------------------------------------------------------------------------

TEST(MaildirName, Parse) {
  struct Case {
    const char* label;
    std::string name;
    bool valid;
    std::string base;
    std::optional<std::uint64_t> size;
    std::optional<std::uint64_t> vsize;
    bool has_info;
    std::string flags;
    std::string other;
  };
  const std::string courier =
      "1700000000.M123456P4242V0000000000000803I00000000001A2B3C.mail.example,S=1234";
  const std::vector<Case> cases = {
      {"courier new", courier, true, courier, 1234, std::nullopt, false, "", ""},
      {"courier cur", courier + ":2,FS", true, courier, 1234, std::nullopt, true, "FS", ""},
      {"empty info", courier + ":2,", true, courier, 1234, std::nullopt, true, "", ""},
      {"dovecot W=", "1.M1P1.h,S=12,W=15:2,S", true, "1.M1P1.h,S=12,W=15", 12, 15, true, "S", ""},
      {"no size", "1234.5678.host", true, "1234.5678.host", std::nullopt, std::nullopt, false, "",
       ""},
      {"S= without digits", "1.host,S=:2,S", true, "1.host,S=", std::nullopt, std::nullopt, true,
       "S", ""},
      {"S= overflow", "1.host,S=99999999999999999999999", true, "1.host,S=99999999999999999999999",
       std::nullopt, std::nullopt, false, "", ""},
      {"last S= wins", "1.h,S=1,S=2", true, "1.h,S=1,S=2", 2, std::nullopt, false, "", ""},
      {"weird flags", "1.h:2,zS!S 9aT", true, "1.h", std::nullopt, std::nullopt, true, "STaz", ""},
      {"experimental info", "1.h:1,foo", true, "1.h", std::nullopt, std::nullopt, false, "",
       "1,foo"},
      {"double colon", "1.h::2,S", true, "1.h", std::nullopt, std::nullopt, false, "", ":2,S"},
      {"empty", "", false, "", {}, {}, false, "", ""},
      {"dot file", ".hidden", false, "", {}, {}, false, "", ""},
      {"slash", "a/b", false, "", {}, {}, false, "", ""},
      {"no base", ":2,S", false, "", {}, {}, false, "", ""},
      {"nul", std::string("a\0b", 3), false, "", {}, {}, false, "", ""},
      {"too long", std::string(256, 'a'), false, "", {}, {}, false, "", ""},
  };
  for (const auto& c : cases) {
    auto m = md::parse_message_name(c.name);
    ASSERT_EQ(m.has_value(), c.valid) << c.label;
    if (!m) continue;
    EXPECT_EQ(m->base, c.base) << c.label;
    EXPECT_EQ(m->size_bytes, c.size) << c.label;
    EXPECT_EQ(m->virtual_size_bytes, c.vsize) << c.label;
    EXPECT_EQ(m->has_flags_info, c.has_info) << c.label;
    EXPECT_EQ(m->flags, c.flags) << c.label;
    EXPECT_EQ(m->other_info, c.other) << c.label;
  }
}

TEST(MaildirName, FlagsAreSortedUniqueLetters) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const auto& c : std::vector<Case>{{"", ""},
                                         {"S", "S"},
                                         {"TSRPFD", "DFPRST"},
                                         {"SSS", "S"},
                                         {"aSb", "Sab"},
                                         {"z,a S!\x01\xff", "Saz"}}) {
    EXPECT_EQ(md::normalize_flags(c.in), c.out) << c.in;
  }
  EXPECT_EQ(md::make_cur_name("1.M2P3.h,S=4", "TS"), "1.M2P3.h,S=4:2,ST");
  EXPECT_EQ(md::make_cur_name("x", ""), "x:2,");
}

TEST(MaildirName, HostEscaping) {
  EXPECT_EQ(md::escape_host_name("mail.example"), "mail.example");
  EXPECT_EQ(md::escape_host_name("a/b:c"), "a\\057b\\072c");
  EXPECT_EQ(md::escape_host_name(""), "localhost");
  std::string long_host = md::escape_host_name(std::string(300, '/'));
  EXPECT_LE(long_host.size(), 100u);
  EXPECT_EQ(long_host.size() % 4, 0u) << "an escape was cut in half";
  std::string host = md::maildir_host_name();
  EXPECT_FALSE(host.empty());
  EXPECT_EQ(host.find('/'), std::string::npos);
  EXPECT_EQ(host.find(':'), std::string::npos);
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

TEST(MaildirDeliver, CourierNameContentAndNothingLeftInTmp) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  const std::string msg = "From: a@example\r\nSubject: hi\r\n\r\nbody\r\n";
  auto d = md::deliver(root, msg);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->location, md::Location::new_dir);
  EXPECT_EQ(d->size_bytes, msg.size());
  EXPECT_EQ(d->path, root + "/new/" + d->file_name);
  EXPECT_EQ(d->base, d->file_name);
  std::regex courier(R"(^(\d+)\.M(\d+)P(\d+)V([0-9A-F]{16})I([0-9A-F]{16})\.([^/:]+),S=(\d+)$)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(d->file_name, m, courier)) << d->file_name;
  EXPECT_EQ(m[3].str(), std::to_string(::getpid()));
  EXPECT_EQ(m[6].str(), md::maildir_host_name());
  EXPECT_EQ(m[7].str(), std::to_string(msg.size()));
  struct stat st;
  ASSERT_EQ(::stat(d->path.c_str(), &st), 0);
  EXPECT_EQ(std::stoull(m[4].str(), nullptr, 16), static_cast<unsigned long long>(st.st_dev));
  EXPECT_EQ(std::stoull(m[5].str(), nullptr, 16), static_cast<unsigned long long>(st.st_ino));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(testutil::read_file(d->path), msg);
  EXPECT_TRUE(list_dir(root + "/tmp").empty());

  // Many deliveries from one process in a tight loop: all distinct.
  std::set<std::string> names{d->file_name};
  for (int i = 0; i < 50; ++i) {
    auto again = md::deliver(root, "x");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(names.insert(again->file_name).second) << again->file_name;
  }
  EXPECT_EQ(list_dir(root + "/new").size(), 51u);
}

TEST(MaildirDeliver, IntoCurWithFlagsAndTime) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  md::DeliveryOptions o;
  o.location = md::Location::cur_dir;
  o.flags = "SFx!";
  o.mtime = 1000000000;
  auto d = md::deliver(root, "appended\n", o);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->location, md::Location::cur_dir);
  EXPECT_EQ(d->file_name, d->base + ":2,FSx");
  EXPECT_TRUE(exists(root + "/cur/" + d->file_name));
  struct stat st;
  ASSERT_EQ(::stat(d->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1000000000);
  EXPECT_TRUE(list_dir(root + "/new").empty());
}

TEST(MaildirDeliver, FromDescriptorCountsBytesThroughTheBuffer) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  std::string big;
  for (int i = 0; big.size() < 300000; ++i)
    big += "line " + std::to_string(i) + " of a large message\n";
  testutil::write_file(tmp / "source", big);
  int fd = ::open((tmp / "source").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto d = md::deliver_from_fd(root, fd);
  ::close(fd);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->size_bytes, big.size());
  EXPECT_NE(d->file_name.find(",S=" + std::to_string(big.size())), std::string::npos);
  EXPECT_EQ(testutil::read_file(d->path), big);

  // A pipe, and an empty message.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "short\n", 6), 6);
  ::close(p[1]);
  auto small = md::deliver_from_fd(root, p[0]);
  ::close(p[0]);
  ASSERT_TRUE(small);
  EXPECT_EQ(testutil::read_file(small->path), "short\n");
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[1]);
  auto empty = md::deliver_from_fd(root, p[0]);
  ::close(p[0]);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->size_bytes, 0u);
  EXPECT_NE(empty->file_name.find(",S=0"), std::string::npos);
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
}

TEST(MaildirDeliver, OversizedMessageIsRefusedPermanentlyAndLeavesNothing) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  md::DeliveryOptions o;
  o.max_message_bytes = 100;
  auto r = md::deliver(root, std::string(101, 'x'), o);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().temporary());
  EXPECT_NE(r.error().message.find("100 bytes"), std::string::npos) << r.error().message;

  testutil::write_file(tmp / "source", std::string(200000, 'y'));
  int fd = ::open((tmp / "source").c_str(), O_RDONLY);
  auto f = md::deliver_from_fd(root, fd, o);
  ::close(fd);
  ASSERT_FALSE(f);
  EXPECT_FALSE(f.error().temporary());
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
  EXPECT_TRUE(list_dir(root + "/new").empty());

  EXPECT_TRUE(md::deliver(root, std::string(100, 'x'), o)) << "exactly the limit is fine";
}

TEST(MaildirDeliver, MissingMaildirIsATemporaryErrorNamingPathAndErrno) {
  testutil::TempDir tmp;
  auto r = md::deliver(tmp / "Missing", "x");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find(tmp / "Missing/tmp/"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos);
  EXPECT_NE(r.error().message.find("maildirmake"), std::string::npos) << "says how to fix it";
}

TEST(MaildirDeliver, ReadOnlyMaildirIsATemporaryErrorNamingPathAndErrno) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  open_for_others(tmp);
  for (const char* d : {"", "/tmp", "/new", "/cur"}) ::chmod((root + d).c_str(), 0555);
  auto child = run_child(
      [&](std::string& out) {
        auto r = md::deliver(root, "x");
        if (r) return 1;
        out = r.error().message;
        return r.error().temporary() ? 0 : 2;
      },
      true);
  for (const char* d : {"", "/tmp", "/new", "/cur"}) ::chmod((root + d).c_str(), 0700);
  if (child.exit_code == 77) GTEST_SKIP() << "cannot drop privileges to test permissions";
  EXPECT_EQ(child.exit_code, 0) << child.output;
  EXPECT_NE(child.output.find(root + "/tmp/"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("Permission denied"), std::string::npos) << child.output;
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
}

TEST(MaildirDeliver, WriteFailureMidwayRemovesTheTmpFile) {
  // RLIMIT_FSIZE makes write() fail with EFBIG part-way, like a full disk.
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  std::string big(300000, 'z');
  testutil::write_file(tmp / "source", big);
  for (bool from_fd : {false, true}) {
    auto child = run_child([&](std::string& out) {
      ::signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl {
        100000, 100000
      };
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return 3;
      lib::Result<md::Delivered> r = lib::permanent_error("unset");
      if (from_fd) {
        int fd = ::open((tmp / "source").c_str(), O_RDONLY);
        r = md::deliver_from_fd(root, fd);
        ::close(fd);
      } else {
        r = md::deliver(root, big);
      }
      if (r) return 1;
      out = r.error().message;
      return r.error().temporary() ? 0 : 2;
    });
    EXPECT_EQ(child.exit_code, 0) << child.output;
    EXPECT_NE(child.output.find("File too large"), std::string::npos) << child.output;
    EXPECT_NE(child.output.find(root + "/tmp/"), std::string::npos) << child.output;
    EXPECT_TRUE(list_dir(root + "/tmp").empty()) << "from_fd=" << from_fd;
    EXPECT_TRUE(list_dir(root + "/new").empty()) << "from_fd=" << from_fd;
  }
}

TEST(MaildirDeliver, PendingMessageIsInvisibleUntilCommittedAndRemovedIfDropped) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  {
    auto pm = md::write_tmp_message(root, "pending");
    ASSERT_TRUE(pm) << pm.error().message;
    EXPECT_EQ(pm->size_bytes(), 7u);
    EXPECT_TRUE(exists(pm->tmp_path()));
    EXPECT_NE(pm->tmp_path().find(",S=7"), std::string::npos);
    EXPECT_TRUE(list_dir(root + "/new").empty());
  }
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
  auto pm = md::write_tmp_message(root, "commit me");
  ASSERT_TRUE(pm);
  auto d = pm->commit();
  ASSERT_TRUE(d);
  EXPECT_FALSE(pm->commit()) << "second commit";
  EXPECT_EQ(list_dir(root + "/new").size(), 1u);
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
}

TEST(MaildirDeliver, ConcurrentDeliveriesFromManyProcesses) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  constexpr int children = 4;
  constexpr int per_child = 50;
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (int i = 0; i < per_child; ++i) {
        std::string msg =
            "Subject: child " + std::to_string(c) + " message " + std::to_string(i) + "\n";
        if (!md::deliver(root, msg)) ::_exit(1);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto names = list_dir(root + "/new");
  ASSERT_EQ(names.size(), static_cast<std::size_t>(children * per_child));
  std::set<std::string> contents;
  for (const auto& n : names) {
    std::string body = testutil::read_file(root + "/new/" + n);
    auto parsed = md::parse_message_name(n);
    ASSERT_TRUE(parsed && parsed->size_bytes);
    EXPECT_EQ(*parsed->size_bytes, body.size()) << n;
    contents.insert(body);
  }
  EXPECT_EQ(contents.size(), names.size()) << "a message was lost or duplicated";
  EXPECT_TRUE(list_dir(root + "/tmp").empty());
}

TEST(MaildirPurge, RemovesOnlyFilesOlderThan36Hours) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(root + "/tmp/stale", "x");
  testutil::write_file(root + "/tmp/.dotfile", "x");
  ::mkdir((root + "/tmp/leftover_DeLeTeD").c_str(), 0700);
  ::mkdir((root + "/tmp/leftover_DeLeTeD/cur").c_str(), 0700);
  testutil::write_file(root + "/tmp/leftover_DeLeTeD/cur/msg", "x");
  std::time_t now = std::time(nullptr);

  auto fresh = md::purge_tmp(root, md::tmp_max_age_s, now);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(*fresh, 0u);
  auto almost = md::purge_tmp(root, md::tmp_max_age_s, now + md::tmp_max_age_s - 60);
  ASSERT_TRUE(almost);
  EXPECT_EQ(*almost, 0u);

  auto later = md::purge_tmp(root, md::tmp_max_age_s, now + md::tmp_max_age_s + 60);
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ(*later, 2u);
  EXPECT_EQ(list_dir(root + "/tmp"), (std::vector<std::string>{".dotfile"}));

  auto missing = md::purge_tmp(tmp / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(tmp / "nope/tmp"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

TEST(MaildirFlags, ChangeMovesFromNewAndEditsFlags) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  auto d = md::deliver(root, "msg\n");
  ASSERT_TRUE(d);
  auto seen = md::change_flags(root, d->file_name, "S", "");
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_TRUE(*seen);
  EXPECT_EQ(**seen, d->base + ":2,S");
  EXPECT_TRUE(list_dir(root + "/new").empty());
  EXPECT_EQ(list_dir(root + "/cur"), std::vector<std::string>{d->base + ":2,S"});

  auto flagged = md::change_flags(root, **seen, "FT", "S");
  ASSERT_TRUE(flagged && *flagged);
  EXPECT_EQ(**flagged, d->base + ":2,FT");
  auto same = md::change_flags(root, **flagged, "F", "");
  ASSERT_TRUE(same && *same);
  EXPECT_EQ(**same, **flagged);
  auto exact = md::set_flags(root, **flagged, "RSa");
  ASSERT_TRUE(exact && *exact);
  EXPECT_EQ(**exact, d->base + ":2,RSa");
  EXPECT_EQ(list_dir(root + "/cur"), std::vector<std::string>{d->base + ":2,RSa"});
  EXPECT_EQ(testutil::read_file(root + "/cur/" + **exact), "msg\n");
}

TEST(MaildirFlags, StaleNameIsFoundAgainAndTheEditAppliesToTheRealFlags) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  auto d = md::deliver(root, "msg\n");
  ASSERT_TRUE(d);
  // Another process moved it to cur/ and flagged it meanwhile.
  std::string other = d->base + ":2,FR";
  ASSERT_EQ(::rename(d->path.c_str(), (root + "/cur/" + other).c_str()), 0);
  auto r = md::change_flags(root, d->file_name, "S", "R");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(*r);
  EXPECT_EQ(**r, d->base + ":2,FS");
  EXPECT_EQ(list_dir(root + "/cur"), std::vector<std::string>{d->base + ":2,FS"});

  // Expunged by someone else: reported as vanished, not an error.
  ASSERT_EQ(::unlink((root + "/cur/" + **r).c_str()), 0);
  auto gone = md::change_flags(root, **r, "S", "");
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_FALSE(*gone);
}

TEST(MaildirFlags, HostileNamesAndWeirdFlags) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  for (const char* bad : {"", ".hidden", "../../etc/passwd", ":2,S"}) {
    auto r = md::change_flags(root, bad, "S", "");
    ASSERT_FALSE(r) << bad;
    EXPECT_FALSE(r.error().temporary()) << bad;
  }
  // A file some other client wrote with junk in its flags and no S=.
  testutil::write_file(root + "/cur/1234.legacy:2,zS!S", "legacy");
  auto r = md::change_flags(root, "1234.legacy:2,zS!S", "D", "");
  ASSERT_TRUE(r && *r) << (r ? "vanished" : r.error().message);
  EXPECT_EQ(**r, "1234.legacy:2,DSz");
  // Experimental ":1," info gives way to ":2,".
  testutil::write_file(root + "/new/99.old:1,whatever", "old");
  auto e = md::change_flags(root, "99.old:1,whatever", "S", "");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ(**e, "99.old:2,S");
}

TEST(MaildirFlags, ConcurrentFlagChangesAndMovesLoseNothing) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  auto d = md::deliver(root, "contended\n");
  ASSERT_TRUE(d);
  const std::string start = d->file_name;
  constexpr int rounds = 200;
  auto toggler = [&](const char* flag) {
    return [&, flag](std::string& out) {
      std::string name = start;
      for (int i = 0; i < rounds; ++i) {
        auto r = i % 2 == 0 ? md::change_flags(root, name, flag, "")
                            : md::change_flags(root, name, "", flag);
        if (!r) {
          out = r.error().message;
          return 1;
        }
        if (!*r) {
          out = "vanished at round " + std::to_string(i);
          return 2;
        }
        name = **r;
      }
      return 0;
    };
  };
  std::vector<pid_t> pids;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto spawn = [&](std::function<int(std::string&)> fn) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      std::string out;
      int code = fn(out);
      if (!out.empty()) (void)!::write(p[1], (out + "\n").data(), out.size() + 1);
      ::_exit(code);
    }
    pids.push_back(pid);
  };
  spawn(toggler("S"));
  spawn(toggler("F"));
  spawn([&](std::string& out) {
    // A reader taking new mail and setting a keyword-like flag once.
    std::string name = start;
    auto r = md::change_flags(root, name, "a", "");
    if (!r || !*r) {
      out = r ? "vanished" : r.error().message;
      return 1;
    }
    for (int i = 0; i < rounds; ++i) {
      auto m = md::move_new_to_cur(root);
      if (!m || !m->errors.empty()) {
        out = m ? m->errors.front() : m.error().message;
        return 1;
      }
    }
    return 0;
  });
  ::close(p[1]);
  std::string output;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  }
  // Every toggler ended on "remove": only the one-time "a" is left.
  EXPECT_TRUE(list_dir(root + "/new").empty());
  EXPECT_EQ(list_dir(root + "/cur"), std::vector<std::string>{d->base + ":2,a"});
  EXPECT_EQ(testutil::read_file(root + "/cur/" + d->base + ":2,a"), "contended\n");
}

TEST(MaildirFlags, MoveNewToCurTheCourierWay) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  auto a = md::deliver(root, "a");
  auto b = md::deliver(root, "b");
  ASSERT_TRUE(a && b);
  testutil::write_file(root + "/new/77.flagged:2,S", "c");
  testutil::write_file(root + "/new/88.experimental:1,xyz", "d");
  testutil::write_file(root + "/new/.hidden", "e");
  auto r = md::move_new_to_cur(root);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->errors.empty());
  std::vector<std::string> moved = r->moved;
  std::sort(moved.begin(), moved.end());
  std::vector<std::string> want = {a->base + ":2,", b->base + ":2,", "77.flagged:2,S",
                                   "88.experimental:2,"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(moved, want);
  EXPECT_EQ(list_dir(root + "/new"), std::vector<std::string>{".hidden"});
  auto again = md::move_new_to_cur(root);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->moved.empty());
  auto missing = md::move_new_to_cur(tmp / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(tmp / "nope/new"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------

TEST(MaildirScan, ListsNewAndCurWithSizesFlagsAndTimes) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  md::DeliveryOptions in_cur;
  in_cur.location = md::Location::cur_dir;
  in_cur.flags = "S";
  in_cur.mtime = 1500000000;
  auto fresh = md::deliver(root, "fresh mail");
  auto old = md::deliver(root, "seen mail!!", in_cur);
  ASSERT_TRUE(fresh && old);
  // Written by a client that does not add S=: the size comes from stat.
  testutil::write_file(root + "/cur/100.nosize:2,RS", "12345");
  testutil::write_file(root + "/cur/.hidden", "x");
  ::mkdir((root + "/cur/subdir").c_str(), 0700);
  // The S= in the name wins over the real size, as in Courier.
  testutil::write_file(root + "/new/200.lies,S=999", "tiny");

  auto r = md::scan_messages(root);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 4u);
  std::map<std::string, md::MessageInfo> by_base;
  for (const auto& m : *r) by_base[m.base] = m;
  const auto& f = by_base.at(fresh->base);
  EXPECT_EQ(f.location, md::Location::new_dir);
  EXPECT_EQ(f.size_bytes, 10u);
  EXPECT_TRUE(f.size_from_name);
  EXPECT_GT(f.mtime, 0);
  const auto& o = by_base.at(old->base);
  EXPECT_EQ(o.location, md::Location::cur_dir);
  EXPECT_EQ(o.flags, "S");
  EXPECT_EQ(o.mtime, 1500000000);
  const auto& ns = by_base.at("100.nosize");
  EXPECT_EQ(ns.size_bytes, 5u);
  EXPECT_FALSE(ns.size_from_name);
  EXPECT_EQ(ns.flags, "RS");
  EXPECT_EQ(by_base.at("200.lies,S=999").size_bytes, 999u);
  // Delivery order: the hand-made names' seconds (100, 200) come first, then
  // the two deliveries in the order they were made.
  std::vector<std::string> order;
  for (const auto& m : *r) order.push_back(m.base);
  EXPECT_EQ(order, (std::vector<std::string>{"100.nosize", "200.lies,S=999", fresh->base, old->base}));

  auto quick = md::scan_messages(root, false);
  ASSERT_TRUE(quick);
  for (const auto& m : *quick) {
    if (m.size_from_name) {
      EXPECT_EQ(m.mtime, 0) << m.file_name << " was stat'ed";
    } else {
      EXPECT_EQ(m.size_bytes, 5u);
    }
  }
}

TEST(MaildirScan, ScanFolderMovesNewToCurWhileReadingIt) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  auto a = md::deliver(root, "first");
  auto b = md::deliver(root, "second");
  ASSERT_TRUE(a && b);
  testutil::write_file(root + "/new/300.flagged,S=1:2,S", "x");  // keeps its ":2,S"
  testutil::write_file(root + "/cur/400.old,S=1:2,", "y");
  md::ScanOptions options;
  options.stat_files = false;
  options.move_new = true;
  auto r = md::scan_folder(root, options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->moved.errors.empty());
  std::set<std::string> moved(r->moved.moved.begin(), r->moved.moved.end());
  EXPECT_EQ(moved, (std::set<std::string>{a->base + ":2,", b->base + ":2,", "300.flagged,S=1:2,S"}));
  ASSERT_EQ(r->messages.size(), 4u);
  for (const auto& m : r->messages) {
    EXPECT_EQ(m.location, md::Location::cur_dir) << m.file_name;  // listed once, from cur/
    EXPECT_EQ(::access((root + "/cur/" + m.file_name).c_str(), F_OK), 0) << m.file_name;
  }
  auto left = md::scan_messages(root, false);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->size(), 4u);
  for (const auto& m : *left) EXPECT_EQ(m.location, md::Location::cur_dir);
  // The mtimes are the directories' (new/'s from before the moves), and
  // the clock was read before them.
  struct stat cur_st;
  ASSERT_EQ(::stat((root + "/cur").c_str(), &cur_st), 0);
  EXPECT_EQ(r->cur_mtime.tv_sec, cur_st.st_mtim.tv_sec);
  EXPECT_EQ(r->cur_mtime.tv_nsec, cur_st.st_mtim.tv_nsec);
  EXPECT_GT(r->new_mtime.tv_sec, 0);
  EXPECT_GT(r->checked_at.tv_sec, 0);
  // Without move_new (EXAMINE), new/ is listed and left alone.
  auto c = md::deliver(root, "third");
  ASSERT_TRUE(c);
  auto look = md::scan_folder(root, md::ScanOptions{});
  ASSERT_TRUE(look);
  EXPECT_TRUE(look->moved.moved.empty());
  EXPECT_EQ(look->messages.size(), 5u);
  EXPECT_EQ(::access(c->path.c_str(), F_OK), 0);
  // Times the caller took are used as given.
  struct timespec given[3] = {{1, 2}, {3, 4}, {5, 6}};
  options.known_times = given;
  auto with = md::scan_folder(root, options);
  ASSERT_TRUE(with);
  EXPECT_EQ(with->new_mtime.tv_nsec, 2);
  EXPECT_EQ(with->cur_mtime.tv_nsec, 4);
  EXPECT_EQ(with->checked_at.tv_nsec, 6);
  EXPECT_EQ(with->messages.size(), 5u);
}

TEST(MaildirScan, DuplicateBaseInNewAndCurIsReportedOnce) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(root + "/new/5.dup,S=1", "x");
  testutil::write_file(root + "/cur/5.dup,S=1:2,S", "x");
  auto r = md::scan_messages(root);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].location, md::Location::cur_dir);
  EXPECT_EQ((*r)[0].flags, "S");
}

TEST(MaildirScan, MessagesComeInDeliveryOrderNotByteOrder) {
  // One second, microseconds unpadded (as Courier names them): byte order
  // would put M999999 before M1000 and number them out of delivery order.
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  testutil::write_file(root + "/new/1700000000.M999999P7.host,S=1", "x");
  testutil::write_file(root + "/cur/1700000000.M1000P7.host,S=1:2,S", "x");
  testutil::write_file(root + "/new/1699999999.M5P7.host,S=1", "x");
  testutil::write_file(root + "/new/1700000000.P9Q1.host,S=1", "x");  // no M: after the M names of its second
  testutil::write_file(root + "/new/zzz-hand-made,S=1", "x");          // no time: last
  testutil::write_file(root + "/new/1700000001.M0P7.host,S=1", "x");
  auto r = md::scan_messages(root);
  ASSERT_TRUE(r);
  std::vector<std::string> bases;
  for (const auto& m : *r) bases.push_back(m.base);
  EXPECT_EQ(bases, (std::vector<std::string>{"1699999999.M5P7.host,S=1", "1700000000.M1000P7.host,S=1",
                                             "1700000000.M999999P7.host,S=1", "1700000000.P9Q1.host,S=1",
                                             "1700000001.M0P7.host,S=1", "zzz-hand-made,S=1"}));
}

TEST(MaildirScan, MissingOrUnreadableDirectoryNamesPathAndErrno) {
  testutil::TempDir tmp;
  std::string root = make_maildir(tmp);
  ASSERT_EQ(::rmdir((root + "/cur").c_str()), 0);
  auto r = md::scan_messages(root);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(root + "/cur"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos);

  ASSERT_TRUE(md::create_maildir(root));
  open_for_others(tmp);
  ::chmod(root.c_str(), 0755);
  ::chmod((root + "/new").c_str(), 0);  // unreadable even by its owner
  auto child = run_child(
      [&](std::string& out) {
        auto s = md::scan_messages(root);
        if (s) return 1;
        out = s.error().message;
        return 0;
      },
      true);
  ::chmod((root + "/new").c_str(), 0700);
  if (child.exit_code == 77) GTEST_SKIP() << "cannot drop privileges to test permissions";
  EXPECT_EQ(child.exit_code, 0);
  EXPECT_NE(child.output.find(root + "/new"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("Permission denied"), std::string::npos) << child.output;
}
