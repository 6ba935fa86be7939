// tests/authlib/userdb_source_test.cpp: the userdb text source (parser,
// editor, directory reader), the database build, and the file helpers.
#include "authlib/userdb_source.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/dbfile.hpp"
#include "lib/privileges.hpp"
#include "tests/lib/test_util.hpp"

namespace udb = authlib::userdb;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

void write_private(const std::string& path, const std::string& text) {
  testutil::write_file(path, text);
  ::chmod(path.c_str(), 0600);
}

std::string lookup(const std::string& dat, const std::string& key) {
  auto db = lib::DbFile::open_read(dat, "makeuserdb");
  if (!db) return "<open failed: " + db.error().message + ">";
  auto v = db->lookup(key);
  if (!v) return "<lookup failed>";
  return v->value_or("<none>");
}

// ---------------------------------------------------------------------------
// Parsing: lines that are accepted

struct GoodCase {
  const char* label;
  std::string text;
  std::vector<std::string> addresses;
};

TEST(UserdbParse, AcceptsGoodSources) {
  const GoodCase cases[] = {
      {"one account", "john\thome=/h|uid=1|gid=2\n", {"john"}},
      {"no final newline", "john\thome=/h|uid=1|gid=2", {"john"}},
      {"comments and blanks", "# c\n\n   \n \t \n  # indented comment\njohn\tuid=1|gid=2|home=/h\n", {"john"}},
      {"reverse record", "5000=\tjohn\njohn\tuid=5000|gid=5000|home=/h\n", {"5000=", "john"}},
      {"value with =", "john\thome=/h|uid=1|gid=2|options=disableimap=1,group=staff\n", {"john"}},
      {"empty value", "john\thome=/h|uid=1|gid=2|quota=\n", {"john"}},
      {"no fields at all", "john\t\n", {"john"}},
      {"crlf line ends", "a\thome=/h|uid=1|gid=2\r\nb\thome=/h|uid=1|gid=2\r\n", {"a", "b"}},
      {"utf-8 and spaces in value", "j\xc3\xb6rg\thome=/h|uid=1|gid=2|gecos=J\xc3\xb6rg M\xc3\xbcller\n", {"j\xc3\xb6rg"}},
      {"empty file", "", {}},
      {"service and hmac fields", "a\thome=/h|uid=1|gid=2|imappw=x|imap-hmac-md5pw=y|hmac-sha1pw=z\n", {"a"}},
  };
  for (const auto& c : cases) {
    auto f = udb::SourceFile::parse(c.text, "src");
    ASSERT_TRUE(f.ok()) << c.label << ": " << f.error().message;
    EXPECT_EQ(f->addresses(), c.addresses) << c.label;
  }
}

TEST(UserdbParse, FieldsAndReverseAreSplit) {
  auto f = udb::SourceFile::parse("# x\njohn\thome=/h|uid=5|gid=6|options=a=1,b=2\n5=\tjohn\n", "src");
  ASSERT_TRUE(f.ok()) << f.error().message;
  const udb::Line* john = f->find("john");
  ASSERT_NE(john, nullptr);
  EXPECT_EQ(john->kind, udb::LineKind::account);
  EXPECT_EQ(john->number, 2);
  udb::Fields want{{"home", "/h"}, {"uid", "5"}, {"gid", "6"}, {"options", "a=1,b=2"}};
  EXPECT_EQ(john->fields, want);
  const udb::Line* rev = f->find("5=");
  ASSERT_NE(rev, nullptr);
  EXPECT_EQ(rev->kind, udb::LineKind::reverse);
  EXPECT_EQ(rev->reverse_name, "john");
}

// ---------------------------------------------------------------------------
// Parsing: lines that are refused, with file:line and what is wrong

struct BadCase {
  const char* label;
  std::string text;
  std::string where;  // "src:N:"
  std::string what;   // a substring of the message
};

TEST(UserdbParse, RefusesMalformedLines) {
  const BadCase cases[] = {
      {"no tab", "john home=/h\n", "src:1:", "no tab"},
      {"two tabs", "john\thome=/h\tuid=1\n", "src:1:", "more than one tab"},
      {"empty address", "\thome=/h|uid=1|gid=1\n", "src:1:", "address is empty"},
      {"field without =", "john\thome=/h|uid\n", "src:1:", "\"uid\" has no \"=\""},
      {"hash without name", "john\thome=/h|$1$abc$def\n", "src:1:", "field 2 has no \"=\""},
      {"empty field ||", "john\thome=/h||uid=1\n", "src:1:", "field 2 is empty"},
      {"leading |", "john\t|home=/h\n", "src:1:", "field 1 is empty"},
      {"trailing |", "john\thome=/h|\n", "src:1:", "field 2 is empty"},
      {"control char in value", "john\thome=/h|gecos=a\x01" "b\n", "src:1:", "value of gecos contains a control"},
      {"DEL in value", "john\thome=/h|gecos=a\x7f\n", "src:1:", "control character"},
      {"CR inside value", "john\thome=/h|gecos=a\rb\n", "src:1:", "control character"},
      {"bad field name", "john\tho me=/h\n", "src:1:", "may contain only letters"},
      {"reserved _", "john\t_=x|home=/h\n", "src:1:", "reserved"},
      {"empty name", "john\t=x\n", "src:1:", "empty name"},
      {"repeated field", "john\tuid=1|uid=2\n", "src:1:", "uid appears twice"},
      {"uid not numeric", "john\tuid=50O0|gid=1|home=/h\n", "src:1:", "not a numeric user id"},
      {"gid too large", "john\tuid=1|gid=4294967295|home=/h\n", "src:1:", "not a numeric group id"},
      {"uid empty", "john\tuid=|gid=1|home=/h\n", "src:1:", "uid"},
      {"home relative", "john\tuid=1|gid=1|home=mail/john\n", "src:1:", "absolute path"},
      {"address trailing space", "john \tuid=1\n", "src:1:", "ends with a space"},
      {"address leading space", " john\tuid=1\n", "src:1:", "begins or ends with a space"},
      {"address with control", "jo\x02hn\tuid=1\n", "src:1:", "control character"},
      {"address with |", "jo|hn\tuid=1\n", "src:1:", "contains \"|\""},
      {"bad reverse key", "abc=\tjohn\n", "src:1:", "numeric uid"},
      {"reverse without name", "5000=\t\n", "src:1:", "names no account"},
      {"reverse naming a uid", "5000=\t6000=\n", "src:1:", "not another uid"},
      {"duplicate address", "a\tuid=1|gid=1|home=/h\nb\tuid=1|gid=1|home=/h\na\tuid=2\n", "src:3:", "defined twice"},
      {"NUL byte", std::string("john\thome=/h\0x\n", 14), "src:1:", "NUL"},
      {"error on a later line", "# ok\njohn\thome=/h|uid=1|gid=1\nbad line\n", "src:3:", "no tab"},
  };
  for (const auto& c : cases) {
    auto f = udb::SourceFile::parse(c.text, "src");
    ASSERT_FALSE(f.ok()) << c.label;
    EXPECT_NE(f.error().message.find(c.where), std::string::npos) << c.label << ": " << f.error().message;
    EXPECT_NE(f.error().message.find(c.what), std::string::npos) << c.label << ": " << f.error().message;
  }
}

TEST(UserdbParse, NeverQuotesAValueInErrors) {
  auto f = udb::SourceFile::parse("john\thome=/h|systempw=$6$SECRET\x01hash\n", "src");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message.find("SECRET"), std::string::npos) << f.error().message;
  auto g = udb::SourceFile::parse("john\thome=/h|$6$SECRETHASH\n", "src");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message.find("SECRET"), std::string::npos) << g.error().message;
}

TEST(UserdbParse, HostileSizesAreRefused) {
  std::string huge = "john\thome=/h|gecos=" + std::string(udb::max_line_bytes, 'x') + "\nok\tuid=1|gid=1|home=/h\n";
  auto f = udb::SourceFile::parse(huge, "src");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("src:1: the line is longer than"), std::string::npos) << f.error().message;

  std::string many = "john\thome=/h";
  for (size_t i = 0; i < udb::max_fields_per_record + 5; ++i) many += "|f" + std::to_string(i) + "=1";
  auto g = udb::SourceFile::parse(many + "\n", "src");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("more than 256 fields"), std::string::npos) << g.error().message;

  std::string long_address(udb::max_address_bytes + 1, 'a');
  auto h = udb::SourceFile::parse(long_address + "\tuid=1\n", "src");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().message.find("longer than 512 bytes"), std::string::npos);
}

TEST(UserdbParse, ManyErrorsAreListedThenCounted) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "bad line " + std::to_string(i) + "\n";
  auto f = udb::SourceFile::parse(text, "src");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("src:1:"), std::string::npos);
  EXPECT_NE(f.error().message.find("src:20:"), std::string::npos);
  EXPECT_EQ(f.error().message.find("src:21:"), std::string::npos);
  EXPECT_NE(f.error().message.find("(and 10 more errors)"), std::string::npos) << f.error().message;
}

TEST(UserdbParse, WarnsAboutLegalSurprises) {
  struct {
    const char* label;
    std::string text;
    std::string warning;
  } cases[] = {
      {"missing uid/gid", "john\thome=/h\n", "src:1: \"john\" has no uid=, gid="},
      {"missing everything", "john\t\n", "has no home=, uid=, gid="},
      {"upper case", "John\thome=/h|uid=1|gid=1\n", "upper-case letters"},
      {"crlf", "a\thome=/h|uid=1|gid=1\r\n", "DOS line ends"},
  };
  for (const auto& c : cases) {
    auto f = udb::SourceFile::parse(c.text, "src");
    ASSERT_TRUE(f.ok()) << c.label;
    ASSERT_EQ(f->warnings().size(), 1u) << c.label;
    EXPECT_NE(f->warnings()[0].find(c.warning), std::string::npos) << c.label << ": " << f->warnings()[0];
  }
  auto clean = udb::SourceFile::parse("a\thome=/h|uid=1|gid=1\n", "src");
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->warnings().empty());
}

// ---------------------------------------------------------------------------
// Names and fields

TEST(UserdbNames, Predicates) {
  EXPECT_TRUE(udb::is_shadow_field("systempw"));
  EXPECT_TRUE(udb::is_shadow_field("imap-hmac-md5pw"));
  EXPECT_FALSE(udb::is_shadow_field("pwd"));
  EXPECT_FALSE(udb::is_shadow_field("home"));

  EXPECT_TRUE(udb::valid_field_name("hmac-md5pw"));
  EXPECT_TRUE(udb::valid_field_name("x.y_z"));
  EXPECT_FALSE(udb::valid_field_name(""));
  EXPECT_FALSE(udb::valid_field_name("_"));
  EXPECT_FALSE(udb::valid_field_name("a b"));
  EXPECT_FALSE(udb::valid_field_name("a=b"));

  EXPECT_TRUE(udb::is_reverse_key("0="));
  EXPECT_TRUE(udb::is_reverse_key("4294967294="));
  EXPECT_FALSE(udb::is_reverse_key("4294967295="));
  EXPECT_FALSE(udb::is_reverse_key("="));
  EXPECT_FALSE(udb::is_reverse_key("12"));
  EXPECT_FALSE(udb::is_reverse_key("1a="));

  struct {
    const char* name;
    bool ok;
  } names[] = {{"default", true}, {"vpopmail", true}, {".hidden", false}, {"x~", false},
               {"a.rpmnew", false}, {"a.rpmsave", false}, {"a.dpkg-old", false}, {"a.dist", false},
               {"..", false}, {"", false}};
  for (const auto& n : names) EXPECT_EQ(udb::source_name_problem(n.name).empty(), n.ok) << n.name;

  EXPECT_EQ(udb::paths_for("/etc/courier/userdb/").source, "/etc/courier/userdb");
  EXPECT_EQ(udb::paths_for("/e/userdb").dat(), "/e/userdb.dat");
  EXPECT_EQ(udb::paths_for("/e/userdb").shadow_dat(), "/e/userdbshadow.dat");
}

TEST(UserdbNames, SplitFieldsIsLenientForDatValues) {
  udb::Fields want{{"a", "1"}, {"flag", ""}, {"c", "x=y"}, {"_", ""}};
  EXPECT_EQ(udb::split_fields("a=1|flag||c=x=y|_="), want);
  EXPECT_TRUE(udb::split_fields("").empty());
  EXPECT_EQ(udb::join_fields({{"a", "1"}, {"b", ""}}), "a=1|b=");
  EXPECT_EQ(udb::find_field(want, "c").value_or("?"), "x=y");
  EXPECT_FALSE(udb::find_field(want, "d").has_value());
}

// ---------------------------------------------------------------------------
// Editing

TEST(UserdbEdit, UnchangedTextIsKeptByteForByte) {
  const std::string text = "# header  with  spaces\n\n  # note\tx\nb\tuid=1|gid=1|home=/h\na\tgid=2|uid=2|home=/a\n";
  auto f = udb::SourceFile::parse(text, "src");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->serialize(), text);
  ASSERT_TRUE(f->set("b", {{"quota", "100S"}}).ok());
  EXPECT_EQ(f->serialize(),
            "# header  with  spaces\n\n  # note\tx\nb\tuid=1|gid=1|home=/h|quota=100S\na\tgid=2|uid=2|home=/a\n");
}

TEST(UserdbEdit, SetReplacesInPlaceAndAppends) {
  auto f = udb::SourceFile::parse("a\tuid=1|gid=1|home=/h\n", "src");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->set("a", {{"gid", "7"}, {"mail", "/m"}}).ok());
  ASSERT_TRUE(f->set("new@x", {{"home", "/n"}, {"uid", "3"}, {"gid", "3"}}).ok());
  EXPECT_EQ(f->serialize(), "a\tuid=1|gid=7|home=/h|mail=/m\nnew@x\thome=/n|uid=3|gid=3\n");
  // The result parses again.
  EXPECT_TRUE(udb::SourceFile::parse(f->serialize(), "src").ok());
}

TEST(UserdbEdit, InvalidSetChangesNothing) {
  const std::string text = "a\tuid=1|gid=1|home=/h\n";
  auto f = udb::SourceFile::parse(text, "src");
  ASSERT_TRUE(f.ok());
  struct {
    const char* label;
    std::string address;
    udb::Fields fields;
    std::string what;
  } cases[] = {
      {"pipe in value", "a", {{"gecos", "x|y"}}, "contains \"|\""},
      {"newline in value", "a", {{"gecos", "x\ny"}}, "control character"},
      {"bad name", "a", {{"a b", "1"}}, "may contain only"},
      {"reserved", "a", {{"_", "1"}}, "reserved"},
      {"uid", "a", {{"uid", "x"}}, "numeric user id"},
      {"twice", "a", {{"mail", "1"}, {"mail", "2"}}, "given twice"},
      {"bad address", "a\tb", {{"mail", "1"}}, "control character"},
      {"reverse key", "5=", {{"mail", "1"}}, "reverse"},
  };
  for (const auto& c : cases) {
    auto r = f->set(c.address, c.fields);
    ASSERT_FALSE(r.ok()) << c.label;
    EXPECT_NE(r.error().message.find(c.what), std::string::npos) << c.label << ": " << r.error().message;
    EXPECT_EQ(f->serialize(), text) << c.label;
  }
}

TEST(UserdbEdit, UnsetRemoveAndReverse) {
  auto f = udb::SourceFile::parse("a\tuid=1|gid=1|home=/h|quota=1S\n# keep\nb\tuid=2|gid=2|home=/b\n", "src");
  ASSERT_TRUE(f.ok());
  auto absent = f->unset("a", {"quota", "nosuch"});
  ASSERT_TRUE(absent.has_value());
  EXPECT_EQ(*absent, std::vector<std::string>{"nosuch"});
  EXPECT_FALSE(f->unset("zz", {"quota"}).has_value());
  EXPECT_TRUE(f->remove("b"));
  EXPECT_FALSE(f->remove("b"));
  ASSERT_TRUE(f->set_reverse("1=", "a").ok());
  EXPECT_FALSE(f->set_reverse("x=", "a").ok());
  EXPECT_FALSE(f->set_reverse("2=", "3=").ok());
  EXPECT_EQ(f->serialize(), "a\tuid=1|gid=1|home=/h\n# keep\n1=\ta\n");
  ASSERT_TRUE(f->set_reverse("1=", "b").ok());
  EXPECT_EQ(f->find("1=")->reverse_name, "b");
  EXPECT_TRUE(f->remove("1="));
}

TEST(UserdbEdit, LoadOfMissingFileIsEmpty) {
  testutil::TempDir dir;
  auto f = udb::SourceFile::load(dir / "none");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->lines().empty());
  EXPECT_EQ(f->serialize(), "");
}

// ---------------------------------------------------------------------------
// The whole source

TEST(UserdbSource, DirectoryIsReadRecursivelyInNameOrder) {
  testutil::TempDir dir;
  const std::string root = dir / "userdb";
  ::mkdir(root.c_str(), 0700);
  ::mkdir((root + "/sub").c_str(), 0700);
  write_private(root + "/b", "bob\tuid=2|gid=2|home=/b\n");
  write_private(root + "/a", "alice\tuid=1|gid=1|home=/a\n1=\talice\n");
  write_private(root + "/sub/c", "carol\tuid=3|gid=3|home=/c\n");
  write_private(root + "/.hidden", "bad line\n");
  write_private(root + "/b~", "bad line\n");
  auto s = udb::read_source(root);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->records.size(), 4u);
  EXPECT_EQ(s->files, 3u);
  EXPECT_EQ(s->records[0].address, "alice");
  EXPECT_EQ(s->records[0].location, "a/");
  EXPECT_TRUE(s->records[1].reverse);
  EXPECT_EQ(s->records[2].address, "bob");
  EXPECT_EQ(s->records[3].address, "carol");
  EXPECT_EQ(s->records[3].location, "sub/c/");
  EXPECT_EQ(s->records[3].file, root + "/sub/c");
  EXPECT_TRUE(s->warnings.empty());
}

TEST(UserdbSource, PlainFileHasEmptyLocation) {
  testutil::TempDir dir;
  write_private(dir / "userdb", "a\tuid=1|gid=1|home=/h\n");
  auto s = udb::read_source(dir / "userdb");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->records.size(), 1u);
  EXPECT_EQ(s->records[0].location, "");
}

TEST(UserdbSource, DuplicatesAcrossFilesNameBothPlaces) {
  testutil::TempDir dir;
  const std::string root = dir / "userdb";
  ::mkdir(root.c_str(), 0700);
  write_private(root + "/one", "# c\nsam\tuid=1|gid=1|home=/h\n");
  write_private(root + "/two", "sam\tuid=2|gid=2|home=/h\n");
  auto s = udb::read_source(root);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(root + "/two:1: \"sam\" is also defined at " + root + "/one:2"),
            std::string::npos)
      << s.error().message;
}

TEST(UserdbSource, ErrorsInSeveralFilesAreAllReported) {
  testutil::TempDir dir;
  const std::string root = dir / "userdb";
  ::mkdir(root.c_str(), 0700);
  write_private(root + "/one", "bad\n");
  write_private(root + "/two", "ok\tuid=1|gid=1|home=/h\nworse\n");
  auto s = udb::read_source(root);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(root + "/one:1:"), std::string::npos);
  EXPECT_NE(s.error().message.find(root + "/two:2:"), std::string::npos);
}

TEST(UserdbSource, PackageLeftoversAndDistFiles) {
  testutil::TempDir dir;
  const std::string root = dir / "userdb";
  ::mkdir(root.c_str(), 0700);
  write_private(root + "/main", "a\tuid=1|gid=1|home=/h\n");
  write_private(root + "/main.rpmnew", "a\tuid=1|gid=1|home=/h\n");
  auto s = udb::read_source(root);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("left by the package manager"), std::string::npos);
  ::unlink((root + "/main.rpmnew").c_str());

  // main.dist older than main: skipped.
  write_private(root + "/main.dist", "bad line\n");
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  ::utimensat(AT_FDCWD, (root + "/main.dist").c_str(), old_times, 0);
  auto ok = udb::read_source(root);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->records.size(), 1u);

  // other.dist without other: an error.
  write_private(root + "/other.dist", "x\tuid=1|gid=1|home=/h\n");
  auto bad = udb::read_source(root);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("other.dist is newer than"), std::string::npos) << bad.error().message;
}

TEST(UserdbSource, SpecialFilesAndMissingSource) {
  testutil::TempDir dir;
  auto missing = udb::read_source(dir / "none");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);

  const std::string root = dir / "userdb";
  ::mkdir(root.c_str(), 0700);
  ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0600), 0);
  auto fifo = udb::read_source(root);
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos);
}

TEST(UserdbSource, OverridesReplaceAFileAndReverseNamesAreChecked) {
  testutil::TempDir dir;
  write_private(dir / "userdb", "a\tuid=1|gid=1|home=/h\n");
  auto s = udb::read_source(dir / "userdb", {{dir / "userdb", "b\tuid=2|gid=2|home=/b\n9=\tnobody\n"}});
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->records.size(), 2u);
  EXPECT_EQ(s->records[0].address, "b");
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("9= names \"nobody\", which has no record"), std::string::npos) << s->warnings[0];
}

TEST(UserdbSource, CheckPrivate) {
  testutil::TempDir dir;
  write_private(dir / "f", "");
  EXPECT_TRUE(udb::check_private(dir / "f").ok());
  ::chmod((dir / "f").c_str(), 0644);
  auto r = udb::check_private(dir / "f");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("mode 0644"), std::string::npos);
  EXPECT_NE(r.error().message.find("chmod 600 " + (dir / "f")), std::string::npos);
  ::chmod((dir / "f").c_str(), 0640);
  EXPECT_FALSE(udb::check_private(dir / "f").ok());

  ::mkdir((dir / "d").c_str(), 0755);
  auto d = udb::check_private(dir / "d");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("chmod 700"), std::string::npos);
  ::chmod((dir / "d").c_str(), 0700);
  EXPECT_TRUE(udb::check_private(dir / "d").ok());
  EXPECT_FALSE(udb::check_private(dir / "none").ok());
}

// ---------------------------------------------------------------------------
// Building the databases

TEST(UserdbBuild, SplitsSecretsAndRecordsLocation) {
  testutil::TempDir dir;
  const std::string root = dir / "userdb";
  ::mkdir(root.c_str(), 0700);
  write_private(root + "/default",
                "john\thome=/h|uid=5|gid=6|systempw=$6$x|imappw=$6$y|hmac-md5pw=ab\n5=\tjohn\nnopw\tuid=1|gid=1|home=/n\n");
  auto s = udb::read_source(root);
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto paths = udb::paths_for(root);
  auto b = udb::Build::prepare(paths, *s);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->counts().accounts, 2u);
  EXPECT_EQ(b->counts().with_secrets, 1u);
  EXPECT_EQ(b->counts().reverse, 1u);
  ASSERT_TRUE(b->commit().ok());
  EXPECT_EQ(lookup(paths.dat(), "john"), "home=/h|uid=5|gid=6|_=default/");
  EXPECT_EQ(lookup(paths.dat(), "5="), "john");
  EXPECT_EQ(lookup(paths.dat(), "nopw"), "uid=1|gid=1|home=/n|_=default/");
  EXPECT_EQ(lookup(paths.shadow_dat(), "john"), "systempw=$6$x|imappw=$6$y|hmac-md5pw=ab");
  EXPECT_EQ(lookup(paths.shadow_dat(), "nopw"), "<none>");
  // Never world-readable: root:MAILGROUP 0640 when built by root for an
  // existing mail user (authdaemond's workers then need no root), else 0600.
  auto mail = lib::mail_user();
  const bool shared = ::geteuid() == 0 && mail.ok();
  for (const std::string& f : {paths.dat(), paths.shadow_dat()}) {
    EXPECT_EQ(mode_of(f), shared ? 0640u : 0600u) << f;
    struct stat st;
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    if (shared) {
      EXPECT_EQ(st.st_gid, mail->gid) << f;
    }
  }
}

TEST(UserdbBuild, WithoutCommitTheOldDatabasesStay) {
  testutil::TempDir dir;
  write_private(dir / "userdb", "old\tuid=1|gid=1|home=/h\n");
  const auto paths = udb::paths_for(dir / "userdb");
  {
    auto s = udb::read_source(paths.source);
    auto b = udb::Build::prepare(paths, *s);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(b->commit().ok());
  }
  write_private(dir / "userdb", "new\tuid=1|gid=1|home=/h\n");
  {
    auto s = udb::read_source(paths.source);
    auto b = udb::Build::prepare(paths, *s);
    ASSERT_TRUE(b.ok());
  }  // dropped without commit
  EXPECT_EQ(lookup(paths.dat(), "old"), "uid=1|gid=1|home=/h|_=");
  EXPECT_EQ(lookup(paths.dat(), "new"), "<none>");
  // No temporary file is left behind.
  EXPECT_NE(::access((paths.dat() + ".tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);
}

TEST(UserdbBuild, RefusesSymlinkedDatabase) {
  testutil::TempDir dir;
  write_private(dir / "userdb", "a\tuid=1|gid=1|home=/h\n");
  ASSERT_EQ(::symlink("/nonexistent/elsewhere.dat", (dir / "userdb.dat").c_str()), 0);
  auto s = udb::read_source(dir / "userdb");
  auto b = udb::Build::prepare(udb::paths_for(dir / "userdb"), *s);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("symbolic link"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Files

TEST(UserdbFiles, AtomicWriteKeepsModeAndFollowsLinks) {
  testutil::TempDir dir;
  const std::string f = dir / "userdb";
  ASSERT_TRUE(udb::write_file_atomically(f, "one\n").ok());
  EXPECT_EQ(mode_of(f), 0600u);
  EXPECT_EQ(testutil::read_file(f), "one\n");
  ::chmod(f.c_str(), 0640);
  ASSERT_TRUE(udb::write_file_atomically(f, "two\n").ok());
  EXPECT_EQ(mode_of(f), 0640u);
  EXPECT_EQ(testutil::read_file(f), "two\n");
  EXPECT_NE(::access((dir / ".tmp.userdb").c_str(), F_OK), 0);

  ASSERT_EQ(::symlink(f.c_str(), (dir / "link").c_str()), 0);
  ASSERT_TRUE(udb::write_file_atomically(dir / "link", "three\n").ok());
  EXPECT_EQ(testutil::read_file(f), "three\n");
  struct stat st;
  ASSERT_EQ(::lstat((dir / "link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST(UserdbFiles, LockTimesOutWhileHeld) {
  testutil::TempDir dir;
  EXPECT_EQ(udb::edit_lock_path("/a/b/userdb"), "/a/b/.lock.userdb");
  EXPECT_EQ(udb::edit_lock_path("userdb"), ".lock.userdb");
  auto held = udb::FileLock::acquire(dir / "lock");
  ASSERT_TRUE(held.ok());
  auto second = udb::FileLock::acquire(dir / "lock", 30);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.error().temporary());
  EXPECT_NE(second.error().message.find("stayed locked"), std::string::npos);
}

// read_secret_line with standard input redirected to a pipe (not a terminal).
class StdinPipe {
 public:
  explicit StdinPipe(const std::string& data) {
    saved_ = ::dup(0);
    int p[2];
    if (::pipe(p) != 0) std::abort();
    if (::write(p[1], data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
    ::close(p[1]);
    ::dup2(p[0], 0);
    ::close(p[0]);
  }
  ~StdinPipe() {
    ::dup2(saved_, 0);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

TEST(UserdbFiles, ReadSecretLineFromAPipe) {
  {
    StdinPipe in("first\r\nsecond\nlast-without-newline");
    auto a = udb::read_secret_line("Password: ", true);
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_EQ(a->reveal(), "first");
    auto b = udb::read_secret_line("", false);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->reveal(), "second");
    auto c = udb::read_secret_line("", false);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->reveal(), "last-without-newline");
    auto d = udb::read_secret_line("", false);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message.find("no input"), std::string::npos);
  }
  {
    StdinPipe in(std::string("a\0b\n", 4));
    auto r = udb::read_secret_line("", false);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("NUL"), std::string::npos);
  }
  {
    StdinPipe in(std::string(udb::max_password_bytes + 1, 'x') + "\n");
    auto r = udb::read_secret_line("", false);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("longer than"), std::string::npos);
  }
  {
    StdinPipe in("\n");
    auto r = udb::read_secret_line("", false);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
  }
}

}  // namespace
