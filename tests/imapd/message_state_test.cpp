// tests/imapd/message_state_test.cpp: the compact message table
// (imapd/mailbox.hpp MessageState, imapd/message_state.cpp): names, flag
// letters, interned keyword sets, and a Mailbox following a flag change's
// rename.
#include <gtest/gtest.h>

#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "imapd/mailbox.hpp"
#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

TEST(MessageState, IsSmall) {
  // What an idle session pays per message, besides its name's heap block.
  EXPECT_LE(sizeof(MessageState), 56u);
}

TEST(MessageState, NameAndBase) {
  MessageState m;
  EXPECT_EQ(m.file_name(), "");
  EXPECT_EQ(m.base(), "");
  const std::string name = "1733480000.M123456P1234V0000000000000803I0000000000ABCDEF_0.host.example,S=1234:2,FS";
  m.set_file_name(name);
  EXPECT_EQ(m.file_name(), name);
  EXPECT_EQ(m.base(), name.substr(0, name.find(':')));
  // In new/: no ":2," part, the base is the whole name.
  m.set_file_name("2.b.host,S=5");
  EXPECT_EQ(m.base(), "2.b.host,S=5");
  EXPECT_EQ(m.file_name(), "2.b.host,S=5");
  // Set from a view of its own name (the old block goes after the copy).
  m.set_file_name("3.c.host:2,S");
  m.set_file_name(m.base());
  EXPECT_EQ(m.file_name(), "3.c.host");
  // A 255-byte name (NAME_MAX), the longest a directory holds.
  std::string longest(250, 'x');
  longest += ":2,ST";
  m.set_file_name(longest);
  EXPECT_EQ(m.file_name(), longest);
  EXPECT_EQ(m.base(), std::string(250, 'x'));
}

TEST(MessageState, NamesShareMappingsGivenBackWhenTheLastGoes) {
  ASSERT_EQ(MessageState::name_pool_bytes(), 0u);  // no message alive between tests
  {
    std::vector<MessageState> table(2000);
    for (std::size_t i = 0; i < table.size(); ++i)
      table[i].set_file_name(std::to_string(1733480000 + i) + ".M1P2V3I4_0.host.example,S=1234:2,S");
    // 55 bytes per 53-byte name (its length in front): two 64 KiB mappings, not 2,000 mallocs.
    EXPECT_GT(MessageState::name_pool_bytes(), 0u);
    EXPECT_LE(MessageState::name_pool_bytes(), 2u * 64 * 1024);
    for (std::size_t i = 0; i < table.size(); ++i)
      ASSERT_EQ(table[i].file_name(), std::to_string(1733480000 + i) + ".M1P2V3I4_0.host.example,S=1234:2,S");
    // Renames reuse freed blocks of their size: no new mapping.
    const std::size_t mapped = MessageState::name_pool_bytes();
    for (int round = 0; round < 3; ++round)
      for (auto& m : table) m.set_file_name(std::string(m.base()) + (round % 2 ? ":2,S" : ":2,T"));
    EXPECT_EQ(MessageState::name_pool_bytes(), mapped);
    EXPECT_EQ(table[7].file_name(), "1733480007.M1P2V3I4_0.host.example,S=1234:2,T");
    // A name too long for the pool (no directory holds it, but the type copes).
    MessageState big;
    big.set_file_name(std::string(300, 'b') + ":2,S");
    EXPECT_EQ(big.base(), std::string(300, 'b'));
    MessageState copy = big;
    EXPECT_EQ(copy.file_name(), std::string(300, 'b') + ":2,S");
    // Names shorter than a free block's link, and every size around the pool's limit.
    std::vector<MessageState> sizes(300);
    for (std::size_t n = 1; n < sizes.size(); ++n) sizes[n].set_file_name(std::string(n - 1, 'x') + ":");
    for (std::size_t n = 1; n < sizes.size(); ++n) {
      ASSERT_EQ(sizes[n].file_name().size(), n);
      ASSERT_EQ(sizes[n].base(), std::string(n - 1, 'x'));
    }
    for (std::size_t n = 1; n < sizes.size(); n += 2) sizes[n].set_file_name("");  // freed, reused below
    for (std::size_t n = 1; n < sizes.size(); n += 2) sizes[n].set_file_name(std::string(n, 'y'));
    for (std::size_t n = 1; n < sizes.size(); ++n)
      ASSERT_EQ(sizes[n].file_name(), n % 2 ? std::string(n, 'y') : std::string(n - 1, 'x') + ":");
  }
  EXPECT_EQ(MessageState::name_pool_bytes(), 0u);  // every name freed: the mappings went back
}

TEST(MessageState, CopiesAndMovesOwnTheirName) {
  MessageState a;
  a.uid = 7;
  a.set_file_name("1.a.host:2,S");
  a.set_maildir_flags("S");
  a.set_keywords(std::set<std::string>{"$Label1"});
  a.recent = true;
  a.crlf_size = 42;
  MessageState b = a;
  a.set_file_name("1.a.host:2,ST");
  EXPECT_EQ(b.file_name(), "1.a.host:2,S");
  EXPECT_EQ(b.uid, 7u);
  EXPECT_TRUE(b.recent);
  EXPECT_FALSE(b.vanished);
  EXPECT_TRUE(b.has_flag('S'));
  EXPECT_EQ(*b.crlf_size, 42u);
  EXPECT_EQ(b.keywords(), (std::set<std::string>{"$Label1"}));
  MessageState c = std::move(a);
  EXPECT_EQ(c.file_name(), "1.a.host:2,ST");
  std::vector<MessageState> v;
  for (int i = 0; i < 100; ++i) v.push_back(c);  // reallocations move them
  EXPECT_EQ(v[99].file_name(), "1.a.host:2,ST");
  b = v[5];
  EXPECT_EQ(b.file_name(), "1.a.host:2,ST");
  b = b;  // NOLINT: self-assignment keeps the name
  EXPECT_EQ(b.file_name(), "1.a.host:2,ST");
}

TEST(MessageState, FlagLettersRoundTrip) {
  MessageState m;
  EXPECT_EQ(m.maildir_flags(), "");
  for (std::string letters : {"", "S", "DFRST", "TSRFD", "aS", "STa", "zZaA", "S,T!", "ab", "DFRSTabcxyz"}) {
    m.set_maildir_flags(letters);
    // The same string lib::maildir keeps: ASCII letters, in ASCII order, once.
    EXPECT_EQ(m.maildir_flags(), lib::maildir::normalize_flags(letters)) << letters;
    for (char c : std::string("ADFRSTZaz!,"))
      EXPECT_EQ(m.has_flag(c), lib::maildir::has_flag(lib::maildir::normalize_flags(letters), c)) << letters << c;
  }
  // Independent of the bool bit-fields next to them.
  m.set_maildir_flags("ST");
  m.vanished = true;
  m.size_known = true;
  EXPECT_EQ(m.maildir_flags(), "ST");
  EXPECT_FALSE(m.recent);
  EXPECT_FALSE(m.size_in_name);
  EXPECT_EQ(m.location, lib::maildir::Location::cur_dir);
  m.location = lib::maildir::Location::new_dir;
  EXPECT_EQ(m.location, lib::maildir::Location::new_dir);
  EXPECT_TRUE(m.vanished);
  // The letters share their 8 bytes with the bit-fields: neither disturbs the other.
  m.set_maildir_flags("DFRSTZabcxyz");
  EXPECT_TRUE(m.vanished);
  EXPECT_TRUE(m.size_known);
  EXPECT_FALSE(m.recent);
  EXPECT_EQ(m.location, lib::maildir::Location::new_dir);
  m.recent = true;
  m.size_in_name = true;
  m.vanished = false;
  m.location = lib::maildir::Location::cur_dir;
  EXPECT_EQ(m.maildir_flags(), "DFRSTZabcxyz");
  m.set_maildir_flags("");
  EXPECT_TRUE(m.recent && m.size_in_name && m.size_known && !m.vanished);
}

TEST(MessageState, CrlfSizeIsAnOptional) {
  MessageState m;
  EXPECT_FALSE(m.crlf_size);
  EXPECT_EQ(m.crlf_size.value_or(9), 9u);
  m.crlf_size = 0;  // a known 0 is not "unknown"
  EXPECT_TRUE(m.crlf_size);
  EXPECT_EQ(*m.crlf_size, 0u);
  m.crlf_size = std::optional<std::uint64_t>();
  EXPECT_FALSE(m.crlf_size);
  m.crlf_size = std::optional<std::uint64_t>(5000000000ULL);  // beyond 32 bits
  EXPECT_EQ(m.crlf_size.value_or(0), 5000000000ULL);
}

TEST(MessageState, InternalDateIsATimeT) {
  MessageState m;
  EXPECT_EQ(m.internal_date, 0);  // not known yet
  EXPECT_FALSE(m.internal_date);
  m.internal_date = std::time_t{1733480000};
  EXPECT_TRUE(m.internal_date);
  EXPECT_EQ(static_cast<std::time_t>(m.internal_date), 1733480000);
  std::optional<std::time_t> mtime;
  mtime = m.internal_date;
  EXPECT_EQ(mtime, std::optional<std::time_t>(1733480000));
  m.internal_date = std::time_t{4102444800};  // 2100-01-01: past 2038
  EXPECT_EQ(static_cast<std::time_t>(m.internal_date), 4102444800);
  m.internal_date = std::time_t{-86400};  // before 1970: the nearest time kept, still "known"
  EXPECT_EQ(static_cast<std::time_t>(m.internal_date), 1);
  m.internal_date = std::time_t{1} << 40;  // after 2106
  EXPECT_EQ(static_cast<std::time_t>(m.internal_date), 0xffffffff);
}

TEST(KeywordSet, EqualSetsShareOneCopyUntilTheLastGoes) {
  const std::size_t before = KeywordSet::interned_count();
  {
    KeywordSet none;
    EXPECT_TRUE(none.empty());
    EXPECT_TRUE(none.get().empty());
    EXPECT_EQ(KeywordSet(std::set<std::string>{}), none);  // empty: nothing interned
    EXPECT_EQ(KeywordSet::interned_count(), before);
    KeywordSet a(std::set<std::string>{"$Label1", "work"});
    KeywordSet b(std::set<std::string>{"work", "$Label1"});
    KeywordSet c(std::set<std::string>{"work"});
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(&a.get(), &b.get());  // one copy
    EXPECT_EQ(KeywordSet::interned_count(), before + 2);
    std::vector<MessageState> table(1000);
    for (std::size_t i = 0; i < table.size(); ++i) table[i].set_keywords(i % 2 ? a : c);
    EXPECT_EQ(KeywordSet::interned_count(), before + 2);
    EXPECT_EQ(table[1].keywords(), (std::set<std::string>{"$Label1", "work"}));
    EXPECT_EQ(table[2].keywords(), (std::set<std::string>{"work"}));
    a = c;  // the {"$Label1", "work"} set lives on in b and the table
    a = a;  // NOLINT: self-assignment keeps the reference
    EXPECT_EQ(a.get(), (std::set<std::string>{"work"}));
    b = std::move(a);
    EXPECT_TRUE(a.empty());  // NOLINT: moved-from is empty
    table.clear();
    EXPECT_EQ(KeywordSet::interned_count(), before + 1);  // only {"work"} (b, c)
    // A freed entry's number is reused for the next new set.
    KeywordSet d(std::set<std::string>{"$Junk"});
    KeywordSet e(std::set<std::string>{"$NotJunk", "$Forwarded"});
    EXPECT_EQ(d.get(), (std::set<std::string>{"$Junk"}));
    EXPECT_EQ(e.get(), (std::set<std::string>{"$Forwarded", "$NotJunk"}));
    EXPECT_EQ(b.get(), (std::set<std::string>{"work"}));
    EXPECT_EQ(KeywordSet::interned_count(), before + 3);
  }
  EXPECT_EQ(KeywordSet::interned_count(), before);  // all released
}

class MessageTable : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = dir_.path() + "/m";
    ASSERT_TRUE(lib::maildir::create_maildir(folder_).ok());
  }
  testutil::TempDir dir_;
  std::string folder_;
};

TEST_F(MessageTable, FlagChangeRenamesAndKeywordsIntern) {
  testutil::write_file(folder_ + "/cur/1.a.host,S=17:2,S", "Subject: x\n\nbody\n");
  testutil::write_file(folder_ + "/cur/2.b.host,S=17:2,", "Subject: y\n\nbody\n");
  testutil::write_file(folder_ + "/new/3.c.host,S=17", "Subject: z\n\nbody\n");
  FolderName name;
  name.folder = "INBOX";
  auto opened = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(opened.ok());
  Mailbox& mb = **opened;
  ASSERT_EQ(mb.count(), 3u);
  const auto& ms = mb.messages();
  EXPECT_EQ(ms[0].base(), "1.a.host,S=17");
  EXPECT_EQ(ms[0].file_name(), "1.a.host,S=17:2,S");
  EXPECT_EQ(ms[0].maildir_flags(), "S");
  EXPECT_TRUE(ms[0].size_in_name);
  EXPECT_EQ(ms[0].size_bytes, 17u);
  EXPECT_EQ(ms[2].base(), "3.c.host,S=17");
  EXPECT_EQ(ms[2].file_name(), "3.c.host,S=17:2,");  // moved from new/ to cur/
  EXPECT_TRUE(ms[2].recent);

  // \Flagged \Deleted added to message 1: the file is renamed, the name and
  // letters follow, the base stays.
  auto r = mb.change_flags(0, {Mailbox::FlagChange::Mode::add, "FT", {"$Work", "urgent"}});
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(ms[0].file_name(), "1.a.host,S=17:2,FST");
  EXPECT_EQ(ms[0].base(), "1.a.host,S=17");
  EXPECT_EQ(ms[0].maildir_flags(), "FST");
  EXPECT_TRUE(ms[0].has_flag('T'));
  EXPECT_EQ(::access((folder_ + "/cur/1.a.host,S=17:2,FST").c_str(), F_OK), 0);
  EXPECT_EQ(ms[0].keywords(), (std::set<std::string>{"$Work", "urgent"}));
  EXPECT_EQ(mb.flag_list(ms[0]), "(\\Flagged \\Deleted \\Seen $Work urgent)");

  // The same keywords on message 2: one interned set for both.
  r = mb.change_flags(1, {Mailbox::FlagChange::Mode::replace, "S", {"urgent", "$Work"}});
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(ms[1].file_name(), "2.b.host,S=17:2,S");
  EXPECT_EQ(ms[1].keyword_set(), ms[0].keyword_set());
  EXPECT_EQ(&ms[1].keywords(), &ms[0].keywords());

  // Removing one keyword gives message 1 its own set; message 3 has none.
  r = mb.change_flags(0, {Mailbox::FlagChange::Mode::remove, "T", {"urgent"}});
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(ms[0].file_name(), "1.a.host,S=17:2,FS");
  EXPECT_EQ(ms[0].keywords(), (std::set<std::string>{"$Work"}));
  EXPECT_EQ(ms[1].keywords(), (std::set<std::string>{"$Work", "urgent"}));
  EXPECT_TRUE(ms[2].keywords().empty());

  // Another session sees the names, letters and keywords from disk.
  auto other = Mailbox::open(folder_, name, true);
  ASSERT_TRUE(other.ok());
  const auto& os = (*other)->messages();
  ASSERT_EQ(os.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(os[i].file_name(), ms[i].file_name());
    EXPECT_EQ(os[i].maildir_flags(), ms[i].maildir_flags());
    EXPECT_EQ(os[i].keywords(), ms[i].keywords());
    EXPECT_EQ(os[i].keyword_set(), ms[i].keyword_set());  // interned across the two tables
  }

  // A rename by another program: the rescan follows it.
  ASSERT_EQ(::rename((folder_ + "/cur/2.b.host,S=17:2,S").c_str(), (folder_ + "/cur/2.b.host,S=17:2,RS").c_str()), 0);
  ASSERT_TRUE((*other)->refresh(true).ok());
  EXPECT_EQ(os[1].file_name(), "2.b.host,S=17:2,RS");
  EXPECT_EQ(os[1].maildir_flags(), "RS");
  const std::string updates = (*other)->take_updates(false, true);
  EXPECT_NE(updates.find("* 2 FETCH (UID 2 FLAGS (\\Answered \\Seen $Work urgent))"), std::string::npos) << updates;
}

}  // namespace
}  // namespace imapd
