// tests/imapd/acl_test.cpp: courierimapacl parsing, ACL2=UNION computation,
// inheritance and writes (imapd/acl.hpp); the #shared index and names
// (imapd/shared_virtual.hpp).
#include "imapd/acl.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authlib/account_options.hpp"
#include "imapd/shared_virtual.hpp"
#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

using acl::rights_of;

TEST(Acl, ParsesLinesAndReportsBadOnes) {
  struct Case {
    const char* label;
    const char* text;
    const char* expect;  // "id=letters;..." after parsing
    std::size_t problems;
  } cases[] = {
      {"plain", "owner aceilrstwx\nanyone lr\n", "owner=aceilrstwx;anyone=lr;", 0},
      {"several spaces, CRLF", "user=bob   lrs\r\n", "user=bob=lrs;", 0},
      {"k is c, d is xte", "group=team kd\n", "group=team=cetx;", 0},
      {"negative", "-user=bob w\n", "-user=bob=w;", 0},
      {"later line replaces", "anyone l\nanyone r\n", "anyone=r;", 0},
      {"unknown letter", "anyone lz\nowner a\n", "owner=a;", 1},
      {"control byte in id", "an\x01yone l\n", "", 1},
      {"binary junk", "\xff\xfe\x01 zz\n", "", 1},
      {"empty rights kept", "anyone\n", "anyone=;", 0},
      {"blank lines", "\n\n", "", 0},
      {"no final newline", "owner la", "owner=al;", 0},
  };
  for (const auto& c : cases) {
    std::vector<std::string> problems;
    auto list = acl::parse(c.text, problems);
    std::string got;
    for (const auto& e : list) got += e.identifier + "=" + acl::letters(e.rights) + ";";
    EXPECT_EQ(got, c.expect) << c.label;
    EXPECT_EQ(problems.size(), c.problems) << c.label;
  }
}

TEST(Acl, FormatRoundTrips) {
  std::vector<std::string> problems;
  auto list = acl::parse("owner aceilrstwx\nuser=bob lr\n-anyone w\n", problems);
  EXPECT_EQ(acl::format(list), "owner aceilrstwx\nuser=bob lr\n-anyone w\n");
  auto again = acl::parse(acl::format(list), problems);
  EXPECT_EQ(acl::format(again), acl::format(list));
  EXPECT_TRUE(problems.empty());
}

TEST(Acl, RightsFromClient) {
  acl::Rights r = 0;
  std::string why;
  EXPECT_TRUE(acl::parse_rights("lrswikxtea", r, why));
  EXPECT_EQ(acl::letters(r), "aceilrstwx");
  EXPECT_EQ(acl::wire_letters(r), "aceiklrstwx");
  EXPECT_FALSE(acl::parse_rights("lrZ", r, why));
  EXPECT_NE(why.find("\"Z\""), std::string::npos) << why;
  EXPECT_TRUE(acl::parse_rights("", r, why));
  EXPECT_EQ(r, 0u);
}

TEST(Acl, ComputesUnionMinusNegatives) {
  std::vector<std::string> problems;
  auto list = acl::parse(
      "owner aceilrstwx\nanyone l\nuser=bob rs\ngroup=team wi\n-group=interns w\n-user=carol l\n", problems);
  acl::add_default_admin(list);
  struct Case {
    const char* label;
    const char* login;
    std::vector<std::string> groups;
    const char* expect;
  } cases[] = {
      {"owner", "alice", {}, "aceilrstwx"},
      {"bob: anyone + user", "bob", {}, "lrs"},
      {"dave in team", "dave", {"team"}, "ilw"},
      {"erin in team and interns: negative wins", "erin", {"team", "interns"}, "il"},
      {"carol: anyone minus l", "carol", {}, ""},
      {"stranger", "zed", {}, "l"},
      {"administrator", "root", {"administrators"}, "aceilrstwx"},
  };
  for (const auto& c : cases) {
    acl::Identity who{c.login, c.groups};
    EXPECT_EQ(acl::letters(acl::compute(list, who, "alice")), c.expect) << c.label;
  }
}

TEST(Acl, OwnerAlwaysKeepsAdminister) {
  std::vector<std::string> problems;
  auto list = acl::parse("owner lr\n-owner a\n", problems);
  EXPECT_EQ(acl::letters(acl::compute(list, {"alice", {}}, "alice")), "alr");
}

TEST(Acl, DefaultAdminFixUp) {
  std::vector<std::string> problems;
  auto list = acl::parse("administrators l\n-administrators a\n-group=administrators r\n", problems);
  acl::add_default_admin(list);
  EXPECT_EQ(acl::format(list), "administrators aceilrstwx\n");
  auto g = acl::parse("group=administrators l\n", problems);
  acl::add_default_admin(g);
  EXPECT_EQ(acl::format(g), "group=administrators aceilrstwx\n");
}

TEST(Acl, MinimumRights) {
  std::vector<std::string> problems;
  auto ok = acl::parse("owner aceilrstwx\nadministrators aceilrstwx\n", problems);
  EXPECT_EQ(acl::check_minimum_rights(ok, "alice"), "");
  auto no_l = acl::parse("owner aceirstwx\nadministrators aceilrstwx\n", problems);
  EXPECT_EQ(acl::check_minimum_rights(no_l, "alice"), "owner");
  auto neg = acl::parse("owner aceilrstwx\n-user=alice l\nadministrators aceilrstwx\n", problems);
  EXPECT_EQ(acl::check_minimum_rights(neg, "alice"), "user=alice");
  auto admin = acl::parse("owner aceilrstwx\nadministrators lr\n", problems);
  EXPECT_EQ(acl::check_minimum_rights(admin, "alice"), "administrators");
}

TEST(Acl, Options) {
  EXPECT_EQ(acl::groups_from_options("group=a,disableshared,group=b,sharedgroup=x,group="),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(authlib::account_option_set("group=a,disableshared", "disableshared"));
  EXPECT_TRUE(authlib::account_option_set("disableshared=1", "disableshared"));
  EXPECT_FALSE(authlib::account_option_set("disableshared=0", "disableshared"));
  EXPECT_FALSE(authlib::account_option_set("", "disableshared"));
  EXPECT_EQ(authlib::account_option("a=1,sharedgroup=eng", "sharedgroup"), "eng");
  EXPECT_EQ(authlib::account_option("a=1", "sharedgroup"), std::nullopt);
}

TEST(AclFiles, DefaultsInheritanceAndWrites) {
  testutil::TempDir dir;
  std::string md = dir / "Maildir";
  ASSERT_TRUE(lib::maildir::create_maildir(md));
  ASSERT_TRUE(lib::maildir::create_folder(md, "Work"));
  ASSERT_TRUE(lib::maildir::create_folder(md, "Work.Sub"));
  auto inbox = acl::read(md, "");
  ASSERT_TRUE(inbox);
  EXPECT_EQ(acl::format(*inbox), "owner aceilrstwx\nadministrators aceilrstwx\n");
  // Work.Sub inherits from Work, which inherits from INBOX.
  std::vector<std::string> problems;
  auto work = acl::parse("owner aceilrstwx\nanyone lr\n", problems);
  ASSERT_TRUE(acl::write(md, "Work", work, "alice"));
  EXPECT_EQ(testutil::read_file(md + "/.Work/courierimapacl"),
            "owner aceilrstwx\nanyone lr\nadministrators aceilrstwx\n");
  auto sub = acl::read(md, "Work.Sub");
  ASSERT_TRUE(sub);
  EXPECT_EQ(acl::letters(acl::compute(*sub, {"bob", {}}, "alice")), "lr");
  // A parent that exists only through its children keeps its ACL in courierimaphieracl/.
  ASSERT_TRUE(lib::maildir::create_folder(md, "Only.Child"));
  ASSERT_TRUE(acl::write(md, "Only", work, "alice"));
  EXPECT_EQ(testutil::read_file(md + "/courierimaphieracl/Only"),
            "owner aceilrstwx\nanyone lr\nadministrators aceilrstwx\n");
  auto child = acl::read(md, "Only.Child");
  ASSERT_TRUE(child);
  EXPECT_EQ(acl::letters(acl::compute(*child, {"bob", {}}, "alice")), "lr");
  // A write that takes "l" from the owner is refused, the file unchanged.
  auto bad = acl::parse("owner aceirstwx\n", problems);
  auto w = acl::write(md, "Work", bad, "alice");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("owner must keep the l and a rights"), std::string::npos);
  EXPECT_EQ(testutil::read_file(md + "/.Work/courierimapacl"),
            "owner aceilrstwx\nanyone lr\nadministrators aceilrstwx\n");
  // reset: courierimaphieracl/Only stays while Only.Child exists.
  auto r = acl::reset(md);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST(AclFiles, CorruptFileFallsBackToInherited) {
  testutil::TempDir dir;
  std::string md = dir / "Maildir";
  ASSERT_TRUE(lib::maildir::create_maildir(md));
  ASSERT_TRUE(lib::maildir::create_folder(md, "Junk"));
  testutil::write_file(md + "/.Junk/courierimapacl", std::string("\x01\x02\x03 \xff\n\0\0garbage!!\n", 20));
  auto list = acl::read(md, "Junk");
  ASSERT_TRUE(list);
  EXPECT_EQ(acl::letters(acl::compute(*list, {"alice", {}}, "alice")), "aceilrstwx");
  EXPECT_EQ(acl::letters(acl::compute(*list, {"bob", {}}, "alice")), "");
}

TEST(AclFiles, UnreadableFileIsAnError) {
  testutil::TempDir dir;
  std::string md = dir / "Maildir";
  ASSERT_TRUE(lib::maildir::create_maildir(md));
  testutil::write_file(md + "/courierimapacl", "owner aceilrstwx\n");
  ::chmod((md + "/courierimapacl").c_str(), 0);
  auto check = [&] {
    auto list = acl::read(md, "");
    return !list && list.error().message.find(md + "/courierimapacl") != std::string::npos;
  };
  if (::geteuid() != 0) {
    EXPECT_TRUE(check());
    return;
  }
  // Root reads any file: the reader drops to nobody, as imapd runs as an account.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    ::_exit(check() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the ACL of an unreadable file must be an error naming the file";
}

TEST(SharedIndex, ParsesAndResolves) {
  std::vector<std::string> problems;
  auto lines = shared::parse_index(
      "bob\t1000\t1000\t/home/bob\t\n"
      "carol.x\t1000\t1000\t/home/c\tMail/md\n"
      "team\t*\tindexteam\n"
      "broken line\n"
      "\t1\t2\t/x\n",
      problems);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(problems.size(), 2u);
  EXPECT_EQ(shared::maildir_location(lines[0].home, lines[0].maildir), "/home/bob/Maildir");
  EXPECT_EQ(shared::maildir_location(lines[1].home, lines[1].maildir), "/home/c/Mail/md");
  EXPECT_EQ(lines[2].include, "indexteam");
  EXPECT_EQ(shared::munge("carol.x/y"), "carol x y");

  std::vector<shared::Account> accounts{{"#shared.bob", "bob", "/m/bob"}, {"#shared.team.dan", "dan", "/m/dan"}};
  auto t = shared::resolve(accounts, "#shared.bob.Work.Sub");
  ASSERT_TRUE(t && t->account);
  EXPECT_EQ(t->account->login, "bob");
  EXPECT_EQ(t->folder, "Work.Sub");
  t = shared::resolve(accounts, "#shared.bob");
  ASSERT_TRUE(t && t->account);
  EXPECT_EQ(t->folder, "");
  t = shared::resolve(accounts, "#shared.team");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->account, nullptr);
  EXPECT_TRUE(shared::resolve(accounts, "#shared") && !shared::resolve(accounts, "#shared")->account);
  EXPECT_FALSE(shared::resolve(accounts, "#shared.nobody"));
  EXPECT_FALSE(shared::resolve(accounts, "#shared.bob..x"));
  EXPECT_FALSE(shared::resolve(accounts, "#sharedbob"));
  EXPECT_EQ(shared::index_file_for("/etc/shared/index", "group=a,sharedgroup=eng"), "/etc/shared/indexeng");
  EXPECT_EQ(shared::index_file_for("/etc/shared/index", "sharedgroup=../x"), "/etc/shared/index");
}

TEST(SharedIndex, ReadsIncludes) {
  testutil::TempDir dir;
  testutil::write_file(dir / "index", "bob\t1\t1\t/h/bob\t\nteam\t*\tindexteam\n");
  testutil::write_file(dir / "indexteam", "dan\t1\t1\t/h/dan\t/abs/md\n");
  auto accounts = shared::read_accounts(dir / "index");
  ASSERT_EQ(accounts.size(), 2u);
  EXPECT_EQ(accounts[0].imap_name, "#shared.bob");
  EXPECT_EQ(accounts[1].imap_name, "#shared.team.dan");
  EXPECT_EQ(accounts[1].maildir, "/abs/md");
  EXPECT_TRUE(shared::read_accounts(dir / "missing").empty());
}

}  // namespace
}  // namespace imapd
