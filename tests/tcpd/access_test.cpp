// tests/tcpd/access_test.cpp: access-file actions, lines, CIDR expansion,
// compiling and lookups.
#include "tcpd/access.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/lib/test_util.hpp"

namespace tcpd {
namespace {

struct ActionCase {
  const char* label;
  std::string action;
  bool ok;
  bool allow;
  std::vector<AccessVariable> vars;
  const char* error_part;  // a piece of the error text
};

TEST(AccessActionTest, Table) {
  const ActionCase cases[] = {
      {"deny", "deny", true, false, {}, ""},
      {"allow", "allow", true, true, {}, ""},
      {"bare variable", "allow,RELAYCLIENT", true, true, {{"RELAYCLIENT", ""}}, ""},
      {"two variables", "allow,RELAYCLIENT,SIZELIMIT=1000000", true, true,
       {{"RELAYCLIENT", ""}, {"SIZELIMIT", "1000000"}}, ""},
      {"double quoted with comma", "allow,BLOCK=\"550 go, away\"", true, true, {{"BLOCK", "550 go, away"}}, ""},
      {"single quoted", "allow,X='a,b',Y=c", true, true, {{"X", "a,b"}, {"Y", "c"}}, ""},
      {"quote in the middle", "allow,X=a\"b,c\"d", true, true, {{"X", "ab,cd"}}, ""},
      {"blanks around items", "allow, A=1 ,\tB", true, true, {{"A", "1"}, {"B", ""}}, ""},
      {"empty value", "allow,BLOCK=", true, true, {{"BLOCK", ""}}, ""},
      {"value with equals", "allow,A=b=c", true, true, {{"A", "b=c"}}, ""},
      {"maxcperip", "allow,MAXCPERIP=100", true, true, {{"MAXCPERIP", "100"}}, ""},
      {"deny with extra", "deny,RELAYCLIENT", false, false, {}, "nothing may follow"},
      {"unknown word", "permit", false, false, {}, "must be"},
      {"allow without comma", "allowRELAYCLIENT", false, false, {}, "comma"},
      {"empty item", "allow,,A", false, false, {}, "empty item"},
      {"trailing comma", "allow,A,", false, false, {}, "ends with a comma"},
      {"unterminated quote", "allow,A=\"oops", false, false, {}, "unterminated"},
      {"bad name digit", "allow,1A=2", false, false, {}, "not a variable name"},
      {"bad name dash", "allow,A-B=2", false, false, {}, "not a variable name"},
      {"empty name", "allow,=x", false, false, {}, "not a variable name"},
      {"control character", std::string("allow,A=\x01"), false, false, {}, "control character"},
      {"newline", "allow,A=x\ny", false, false, {}, "control character"},
      {"nul byte", std::string("allow,A=x\0y", 11), false, false, {}, "control character"},
      {"empty", "", false, false, {}, "must be"},
      {"too long", "allow,A=" + std::string(9000, 'x'), false, false, {}, "longer than"},
  };
  for (const auto& c : cases) {
    auto r = parse_access_action(c.action);
    ASSERT_EQ(r.ok(), c.ok) << c.label << (r ? "" : ": " + r.error().message);
    if (r) {
      EXPECT_EQ(r->allow, c.allow) << c.label;
      EXPECT_EQ(r->variables, c.vars) << c.label;
    } else {
      EXPECT_NE(r.error().message.find(c.error_part), std::string::npos) << c.label << ": " << r.error().message;
    }
  }
}

TEST(AccessActionTest, TooManyVariables) {
  std::string action = "allow";
  for (int i = 0; i < 101; ++i) action += ",V" + std::to_string(i);
  auto r = parse_access_action(action);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("more than 100"), std::string::npos);
}

struct LineCase {
  const char* label;
  std::string line;
  bool ok;
  std::vector<std::string> keys;  // expected keys (all of them, or the first few when prefix_only)
  size_t count;                   // expected number of keys
  const char* error_part;
};

TEST(AccessLineTest, Table) {
  const LineCase cases[] = {
      {"ipv4 address", "192.68.0.10\tallow", true, {"192.68.0.10"}, 1, ""},
      {"ipv4 prefix", "192.68.0\tdeny", true, {"192.68.0"}, 1, ""},
      {"one octet", "10\tallow,RELAYCLIENT", true, {"10"}, 1, ""},
      {"star", "*\tdeny", true, {"*"}, 1, ""},
      {"star port", "*.25\tallow,X", true, {"*.25"}, 1, ""},
      {"local ip.port", "1.2.3.4.25\tallow", true, {"1.2.3.4.25"}, 1, ""},
      {"blank separator", "10.1   allow", true, {"10.1"}, 1, ""},
      {"courier ipv6", ":0000:0000:0000:0000:0000:f643:00a2:9354\tdeny", true,
       {":0000:0000:0000:0000:0000:f643:00a2:9354"}, 1, ""},
      {"courier ipv6 prefix", ":3ffe\tdeny", true, {":3ffe"}, 1, ""},
      {"short and uppercase groups", ":2002:C0A8:1\tdeny", true, {":2002:c0a8:0001"}, 1, ""},
      {"plain ipv6", "2001:db8::1\tallow", true, {":2001:0db8:0000:0000:0000:0000:0000:0001"}, 1, ""},
      {"plain mapped ipv6", "::ffff:1.2.3.4\tallow", true, {"1.2.3.4"}, 1, ""},
      {"cidr /24", "192.168.1.0/24\tallow", true, {"192.168.1"}, 1, ""},
      {"cidr /32", "192.168.1.7/32\tallow", true, {"192.168.1.7"}, 1, ""},
      {"cidr /23", "10.0.0.0/23\tdeny", true, {"10.0.0", "10.0.1"}, 2, ""},
      {"cidr /20", "10.1.0.0/20\tdeny", true, {"10.1.0", "10.1.1"}, 16, ""},
      {"cidr /14", "10.0.0.0/14\tdeny", true, {"10.0", "10.1", "10.2", "10.3"}, 4, ""},
      {"cidr /8", "10.0.0.0/8\tdeny", true, {"10"}, 1, ""},
      {"cidr /0", "0.0.0.0/0\tdeny", true, {"0", "1"}, 256, ""},
      {"ipv6 cidr", "2001:db8::/32\tdeny", true, {":2001:0db8"}, 1, ""},
      {"ipv6 cidr /110 (net-cidr doc)", "::dead:beef:0:0/110\tdeny", true,
       {":0000:0000:0000:0000:dead:beef:0000", ":0000:0000:0000:0000:dead:beef:0001"}, 4, ""},
      {"ipv6 /0 at the limit", "::/0\tdeny", true, {":0000", ":0001"}, 65536, ""},
      {"range", "10.0.0.0-10.0.3.255\tallow", true, {"10.0.0", "10.0.1", "10.0.2", "10.0.3"}, 4, ""},
      {"range of one", "10.0.0.5-10.0.0.5\tallow", true, {"10.0.0.5"}, 1, ""},
      {"odd range", "10.0.0.255-10.0.1.0\tallow", true, {"10.0.0.255", "10.0.1.0"}, 2, ""},
      {"no action", "10.1.2.3", false, {}, 0, "no action"},
      {"bad action", "10.1.2.3\tok", false, {}, 0, "must be"},
      {"leading zero", "010.1\tdeny", false, {}, 0, "IPv4 prefix"},
      {"octet 256", "10.256\tdeny", false, {}, 0, "IPv4 prefix"},
      {"too many parts", "1.2.3.4.5.6\tdeny", false, {}, 0, "too many parts"},
      {"port zero", "1.2.3.4.0\tdeny", false, {}, 0, "IPv4 prefix"},
      {"hostname", "mail.example.com\tdeny", false, {}, 0, "IPv4 prefix"},
      {"ipv6 bad group", ":12345\tdeny", false, {}, 0, "couriertcpd's form"},
      {"ipv6 nine groups", ":1:2:3:4:5:6:7:8:9\tdeny", false, {}, 0, "more than 8"},
      {"ipv6 port on prefix", ":2001:0db8.25\tdeny", false, {}, 0, "complete address"},
      {"cidr host bits", "10.1.2.3/16\tdeny", false, {}, 0, "did you mean 10.1.0.0/16"},
      {"cidr mask too big", "10.0.0.0/33\tdeny", false, {}, 0, "0 to 32"},
      {"cidr mask text", "10.0.0.0/x\tdeny", false, {}, 0, "prefix length"},
      {"cidr partial address", "10/8\tdeny", false, {}, 0, "not an IP address"},
      {"ipv6 cidr /15", "2001:db8::/15\tdeny", false, {}, 0, "host bits"},
      {"range too wide", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe\tdeny", false, {}, 0, "more than 65536"},
      {"range backwards", "10.0.0.9-10.0.0.1\tdeny", false, {}, 0, "ends before"},
      {"range mixed families", "10.0.0.1-::1\tdeny", false, {}, 0, "same family"},
      {"bad plain ipv6", "2001:db8:::1\tdeny", false, {}, 0, "not an IPv6 address"},
  };
  for (const auto& c : cases) {
    auto r = parse_access_line(c.line);
    ASSERT_EQ(r.ok(), c.ok) << c.label << (r ? "" : ": " + r.error().message);
    if (!r) {
      EXPECT_NE(r.error().message.find(c.error_part), std::string::npos) << c.label << ": " << r.error().message;
      continue;
    }
    ASSERT_EQ(r->size(), c.count) << c.label;
    for (size_t i = 0; i < c.keys.size(); ++i) EXPECT_EQ((*r)[i].key, c.keys[i]) << c.label << " #" << i;
  }
}

TEST(AccessLineTest, ActionKeptVerbatim) {
  auto r = parse_access_line("192.168.2.3\tallow,BLOCK=\"550 x, y\"");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].action, "allow,BLOCK=\"550 x, y\"");
}

TEST(AccessDecideTest, MostSpecificWins) {
  std::map<std::string, std::string> db = {
      {"192.68.0", "deny"}, {"192.68.0.10", "allow,RELAYCLIENT"}, {"*", "deny"}, {"10", "allow,A=1"}};
  auto lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = db.find(k);
    if (it == db.end()) return std::nullopt;
    return it->second;
  };
  struct Case {
    const char* label;
    const char* ip;
    bool allow;
    const char* key;
    size_t vars;
  } cases[] = {
      {"exact allow beats block deny", "192.68.0.10", true, "192.68.0.10", 1},
      {"block deny", "192.68.0.11", false, "192.68.0", 0},
      {"default deny", "172.16.0.1", false, "*", 0},
      {"prefix allow", "10.9.8.7", true, "10", 1},
      {"ipv6 falls to star", "2001:db8::1", false, "*", 0},
  };
  for (const auto& c : cases) {
    auto d = decide_access(access_lookup_keys(*IpAddress::parse(c.ip)), lookup);
    EXPECT_EQ(d.allow, c.allow) << c.label;
    EXPECT_EQ(d.matched_key, c.key) << c.label;
    EXPECT_EQ(d.variables.size(), c.vars) << c.label;
  }
  // No entry and no "*": allow, nothing matched.
  auto none = decide_access(access_lookup_keys(*IpAddress::parse("1.1.1.1")),
                            [](const std::string&) { return std::optional<std::string>(); });
  EXPECT_TRUE(none.allow);
  EXPECT_TRUE(none.matched_key.empty());
  // A corrupt entry fails closed.
  std::string bad;
  auto corrupt = decide_access(access_lookup_keys(*IpAddress::parse("1.1.1.1")),
                               [](const std::string& k) {
                                 return k == "1.1" ? std::optional<std::string>("allow,\"oops")
                                                   : std::optional<std::string>();
                               },
                               &bad);
  EXPECT_FALSE(corrupt.allow);
  EXPECT_NE(bad.find("1.1: unterminated"), std::string::npos) << bad;
}

TEST(AccessCompileTest, DirectoryCompilesAndLooksUp) {
  testutil::TempDir dir;
  ::mkdir((dir / "src").c_str(), 0755);
  testutil::write_file(dir / "src/a", "# comment\n\n127.0.0.1\tallow,RELAYCLIENT\n10.0.0.0/23\tdeny\n");
  testutil::write_file(dir / "src/b", ":0000:0000:0000:0000:0000:0000:0000:0001\tallow,RELAYCLIENT\n*\tallow,X=1\n");
  testutil::write_file(dir / "src/b~", "garbage that is skipped\n");
  std::vector<std::string> warnings;
  auto n = compile_access_source(dir / "src", dir / "out.dat", &warnings);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 5u);
  EXPECT_TRUE(warnings.empty());

  auto f = AccessFile::open(dir / "out.dat");
  ASSERT_TRUE(f) << f.error().message;
  auto d = f->decide(access_lookup_keys(*IpAddress::parse("10.0.1.5")));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->allow);
  d = f->decide(access_lookup_keys(*IpAddress::parse("::1")));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->allow);
  ASSERT_EQ(d->variables.size(), 1u);
  EXPECT_EQ(d->variables[0].name, "RELAYCLIENT");
  d = f->decide(access_lookup_keys(*IpAddress::parse("8.8.8.8")));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->matched_key, "*");
}

TEST(AccessCompileTest, BadLineNamesFileAndLineAndKeepsOldDatabase) {
  testutil::TempDir dir;
  testutil::write_file(dir / "src", "127.0.0.1\tallow\n");
  ASSERT_TRUE(compile_access_source(dir / "src", dir / "out.dat", nullptr));
  testutil::write_file(dir / "src", "127.0.0.2\tallow\n\n10.1.2.3/16\tdeny\n");
  auto r = compile_access_source(dir / "src", dir / "out.dat", nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(dir / "src" + ":3: "), std::string::npos) << r.error().message;
  auto f = AccessFile::open(dir / "out.dat");
  ASSERT_TRUE(f);
  auto d = f->decide({"127.0.0.1"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->matched_key, "127.0.0.1");  // the old database is still there
  d = f->decide({"127.0.0.2"});
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->matched_key.empty());
}

TEST(AccessCompileTest, DuplicateKeyWarnsAndLaterWins) {
  testutil::TempDir dir;
  testutil::write_file(dir / "src", "10.1\tallow\n10.1.0.0/16\tdeny\n");
  std::vector<std::string> warnings;
  ASSERT_TRUE(compile_access_source(dir / "src", dir / "out.dat", &warnings));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(":2: 10.1 was already listed at"), std::string::npos) << warnings[0];
  auto f = AccessFile::open(dir / "out.dat");
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->decide({"10.1"})->allow);
}

TEST(AccessCompileTest, HostileInput) {
  testutil::TempDir dir;
  struct Case {
    const char* label;
    std::string content;
    const char* error_part;
  } cases[] = {
      {"nul byte", std::string("10\tallow\0x\n", 11), "NUL"},
      {"overlong line", "10\tallow,A=" + std::string(70000, 'x') + "\n", ":1"},
      {"invalid utf-8", "10\tallow,A=\xff\xfe\n", "UTF-8"},
      {"huge expansion", "::-ffff:ffff::\tdeny\n", "more than"},
  };
  for (const auto& c : cases) {
    testutil::write_file(dir / "src", c.content);
    auto r = compile_access_source(dir / "src", dir / "out.dat", nullptr);
    ASSERT_FALSE(r) << c.label;
    EXPECT_NE(r.error().message.find(c.error_part), std::string::npos) << c.label << ": " << r.error().message;
    struct stat st;
    EXPECT_NE(::stat((dir / "out.dat").c_str(), &st), 0) << c.label << ": nothing may be written";
  }
  auto missing = compile_access_source(dir / "nope", dir / "out.dat", nullptr);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
}

}  // namespace
}  // namespace tcpd
