// tests/esmtpd/aliases_test.cpp: the alias compiler and expansion.
#include "esmtpd/aliases.hpp"

#include <gtest/gtest.h>

#include "lib/dbfile.hpp"
#include "tests/lib/test_util.hpp"

using namespace esmtpd::aliases;

namespace {

std::vector<lib::ListEntry> lines(std::initializer_list<const char*> texts) {
  std::vector<lib::ListEntry> out;
  int n = 0;
  for (const char* t : texts) out.push_back({"aliases", ++n, t});
  return out;
}

lib::Result<std::string> no_include(const std::string& p) { return lib::permanent_error("no file " + p); }

Lookup lookup_in(const Compiled& c) {
  return [&c](std::string_view key) -> lib::Result<std::optional<std::string>> {
    auto it = c.entries.find(std::string(key));
    if (it == c.entries.end()) return std::optional<std::string>();
    std::string v;
    for (const auto& t : it->second) v += (v.empty() ? "" : "\n") + t;
    return std::optional<std::string>(v);
  };
}

}  // namespace

TEST(Aliases, NestedDedupedAndContinued) {
  auto c = compile(lines({"staff: alice, bob", "all: staff,", "carol", "everyone: all, alice", "John@Example.com: john1"}),
                   no_include);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->entries.at("all"), (std::vector<std::string>{"alice", "bob", "carol"}));
  EXPECT_EQ(c->entries.at("everyone"), (std::vector<std::string>{"alice", "bob", "carol"}));
  auto e = expand(lookup_in(*c), "john@EXAMPLE.com", false);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->found);
  EXPECT_EQ(e->targets, std::vector<std::string>{"john1"});
  auto s = expand(lookup_in(*c), "staff@me.example", true);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->found);
  auto foreign = expand(lookup_in(*c), "staff@other.example", false);
  ASSERT_TRUE(foreign);
  EXPECT_FALSE(foreign->found);
}

TEST(Aliases, LoopNamed) {
  auto c = compile(lines({"a: b", "b: c", "c: a"}), no_include);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("alias loop: a -> b -> c -> a"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("aliases:1"), std::string::npos);
}

TEST(Aliases, VirtualDomainProgramsFilesIncludes) {
  auto inc = [](const std::string& p) -> lib::Result<std::string> {
    if (p == "/lists/x") return std::string("dave\neve, frank\n");
    return lib::permanent_error("cannot open " + p);
  };
  auto c = compile(lines({"@domain.com: localuser", "prog: |/usr/bin/foo -x, y", "box: /var/mail/box",
                          "list: :include:/lists/x"}),
                   inc);
  ASSERT_TRUE(c) << c.error().message;
  auto e = expand(lookup_in(*c), "foo@Domain.com", false);
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->found);
  EXPECT_EQ(e->targets, std::vector<std::string>{"localuser-foo"});
  EXPECT_EQ(c->entries.at("prog"), std::vector<std::string>{"|/usr/bin/foo -x, y"});
  EXPECT_EQ(c->entries.at("box"), std::vector<std::string>{"/var/mail/box"});
  EXPECT_EQ(c->entries.at("list"), (std::vector<std::string>{"dave", "eve", "frank"}));
  auto bad = compile(lines({"list: :include:/missing"}), inc);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("/missing"), std::string::npos);
  EXPECT_FALSE(compile(lines({"@d.com: a, b"}), inc));
  EXPECT_FALSE(compile(lines({"orphan continuation"}), inc));
}

TEST(Aliases, DatRoundTrip) {
  testutil::TempDir t;
  testutil::write_file(t / "aliases", "# comment\nstaff: alice,\n  bob\n@v.example: vuser\n");
  auto c = compile_source(t / "aliases");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(write_dat(*c, t / "aliases.dat"));
  auto db = lib::DbFile::open_read(t / "aliases.dat");
  ASSERT_TRUE(db);
  auto lookup = [&](std::string_view k) { return db->lookup(k); };
  auto e = expand(lookup, "staff@me.example", true);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->targets, (std::vector<std::string>{"alice", "bob"}));
  auto v = expand(lookup, "x@v.example", false);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->targets, std::vector<std::string>{"vuser-x"});
  EXPECT_EQ(dump(*c), "@v.example: vuser\nstaff: alice, bob\n");
}
