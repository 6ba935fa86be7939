// tests/imapd/mailbox_cache_test.cpp: the per-mailbox cache, imapd-cache
// (imapd/mailbox_cache.hpp): its file format against corruption, truncation
// and other versions, staleness, pruning, concurrent writers, and Mailbox
// answering from it.
#include "imapd/mailbox_cache.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "imapd/fetch.hpp"
#include "imapd/mailbox.hpp"
#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

CacheEntry entry(const std::string& base, std::uint64_t size = 100, std::int64_t mtime = 1700000000000000001) {
  CacheEntry e;
  e.base = base;
  e.file_size = size;
  e.mtime_ns = mtime;
  e.crlf_size = size + 3;
  e.envelope = "(NIL \"s " + base + "\" NIL NIL NIL NIL NIL NIL NIL NIL)";
  e.body = "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 5 1)";
  e.bodystructure = "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)";
  e.has_header = true;
  e.header = "Subject: s " + base + "\r\n\r\n";
  e.facts.has_date = true;
  e.facts.date = -86400;
  e.facts.subject = "S " + base;
  e.facts.reply = true;
  e.facts.from = "A@B";
  e.facts.display_to = "Bob";
  e.facts.message_id = "1@x";
  e.facts.references = {"0@x", "", "9@y"};
  return e;
}

std::string two_entry_file() {
  CacheEntry a = entry("1.a.host"), b = entry("2.b.host", 7, 5);
  b.has_header = false;
  b.header.clear();
  return format_cache({&a, &b});
}

TEST(CacheFile, RoundTrips) {
  CacheEntry a = entry("1.a.host"), b = entry("2.b.host", 7, -5);
  b.has_header = false;
  b.header.clear();
  const std::string data = format_cache({&a, &b});
  EXPECT_EQ(data.rfind("imapd-cache 3\n", 0), 0u);
  auto parsed = parse_cache(data, "c");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0], a);
  EXPECT_EQ((*parsed)[1], b);
  auto empty = parse_cache(format_cache({}), "c");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(CacheFile, EveryTruncationIsDetected) {
  const std::string data = two_entry_file();
  for (std::size_t n = 0; n < data.size(); ++n) {
    auto parsed = parse_cache(std::string_view(data).substr(0, n), "/m/imapd-cache");
    EXPECT_FALSE(parsed.ok()) << "prefix of " << n << " bytes accepted";
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().message.rfind("/m/imapd-cache: ", 0), 0u);
    }
  }
}

TEST(CacheFile, EveryFlippedByteIsDetected) {
  const std::string data = two_entry_file();
  for (std::size_t i = 0; i < data.size(); ++i) {
    for (unsigned char bit : {0x01, 0x80}) {
      std::string garbled = data;
      garbled[i] = static_cast<char>(garbled[i] ^ bit);
      EXPECT_FALSE(parse_cache(garbled, "c").ok()) << "byte " << i << " bit " << int(bit);
    }
  }
}

TEST(CacheFile, RejectsOtherVersionsTrailingBytesAndDuplicates) {
  std::string data = two_entry_file();
  std::string v1 = data;
  v1.replace(0, 14, "imapd-cache 1\n");
  auto r = parse_cache(v1, "c");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("version 1"), std::string::npos) << r.error().message;
  auto t = parse_cache(data + "x", "c");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("trailing bytes"), std::string::npos) << t.error().message;
  CacheEntry a = entry("1.a.host");
  auto d = parse_cache(format_cache({&a, &a}), "c");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("twice"), std::string::npos);
  EXPECT_FALSE(parse_cache("", "c").ok());
  EXPECT_FALSE(parse_cache("imapd-cache 3\n\xff\xff\xff\xff", "c").ok());  // huge count
  CacheEntry slash = entry("../evil");
  EXPECT_FALSE(parse_cache(format_cache({&slash}), "c").ok());
}

class CacheFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = dir_.path() + "/m";
    ASSERT_TRUE(lib::maildir::create_maildir(folder_).ok());
  }
  std::string file() const { return folder_ + "/imapd-cache"; }
  std::vector<CacheEntry> on_disk() const {
    auto parsed = parse_cache(testutil::read_file(file()), file());
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
    return parsed.ok() ? *parsed : std::vector<CacheEntry>{};
  }
  std::string deliver(const std::string& base, const std::string& content) {
    const std::string path = folder_ + "/cur/" + base + ":2,";
    testutil::write_file(path, content);
    return path;
  }
  testutil::TempDir dir_;
  std::string folder_;
};

TEST_F(CacheFolder, StaleEntriesAreNotServed) {
  {
    MailboxCache c(folder_);
    c.put(entry("1.a.host", 100, 42));
    ASSERT_TRUE(c.flush({"1.a.host"}).ok());
  }
  MailboxCache c(folder_);
  EXPECT_NE(c.find("1.a.host", 100, 42), nullptr);
  EXPECT_EQ(c.find("1.a.host", 101, 42), nullptr);  // other size
  EXPECT_EQ(c.find("1.a.host", 100, 43), nullptr);  // other mtime
  EXPECT_EQ(c.find("2.b.host", 100, 42), nullptr);
}

TEST_F(CacheFolder, ExpungedEntriesArePruned) {
  MailboxCache c(folder_);
  c.put(entry("1.a.host"));
  c.put(entry("2.b.host"));
  ASSERT_TRUE(c.flush({"1.a.host", "2.b.host"}).ok());
  EXPECT_EQ(on_disk().size(), 2u);
  ASSERT_TRUE(c.flush({"2.b.host"}).ok());  // 1 expunged: written without it
  auto now = on_disk();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].base, "2.b.host");
  EXPECT_EQ(c.find("1.a.host", 100, 1700000000000000001), nullptr);
}

// The write policy: a good file is replaced only when the change pays
// (1/8 of the folder read from message files, or 64 misses; 1/4 of its
// entries gone); a missing or unusable file whenever there is an entry.
TEST(CacheWritePolicy, WorthWriting) {
  using D = MailboxCache::Drift;
  EXPECT_FALSE(MailboxCache::worth_writing(D{0, 0, 40}, 40));
  EXPECT_FALSE(MailboxCache::worth_writing(D{4, 0, 36}, 40));  // 4 of 40 < 1/8
  EXPECT_TRUE(MailboxCache::worth_writing(D{5, 0, 35}, 40));
  EXPECT_TRUE(MailboxCache::worth_writing(D{1, 0, 0}, 1));
  EXPECT_FALSE(MailboxCache::worth_writing(D{63, 0, 10000}, 10000));
  EXPECT_TRUE(MailboxCache::worth_writing(D{64, 0, 10000}, 10000));
  EXPECT_FALSE(MailboxCache::worth_writing(D{0, 9, 40}, 31));  // 9 of 40 < 1/4
  EXPECT_TRUE(MailboxCache::worth_writing(D{0, 10, 40}, 30));
}

// The file's inode: a write renames a new file over it.
ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST_F(CacheFolder, AFileThatDriftedALittleIsKept) {
  std::vector<std::string> names;
  for (int i = 0; i < 24; ++i) names.push_back(std::to_string(i) + ".a.host");
  std::vector<std::string_view> present(names.begin(), names.end());
  {
    MailboxCache c(folder_);
    for (const auto& n : names) c.put(entry(n));
    ASSERT_TRUE(c.flush(present).ok());  // no file yet: written
  }
  const ino_t first = inode_of(file());
  ASSERT_NE(first, 0u);
  // Two new messages (2 of 24 < 1/8) and two gone (2 of 24 < 1/4): kept.
  names.push_back("24.a.host");
  names.push_back("25.a.host");
  present.assign(names.begin() + 2, names.end());
  {
    MailboxCache c(folder_);
    ASSERT_NE(c.find(names[5], 100, 1700000000000000001), nullptr);
    EXPECT_EQ(c.find("24.a.host", 100, 1700000000000000001), nullptr);
    c.put(entry("24.a.host"));
    c.put(entry("25.a.host"));
    ASSERT_TRUE(c.flush(present).ok());
    EXPECT_EQ(c.pending(), 2u);  // not written
  }
  EXPECT_EQ(inode_of(file()), first);
  EXPECT_EQ(on_disk().size(), 24u);
  // A session that changes nothing never writes.
  {
    MailboxCache c(folder_);
    ASSERT_NE(c.find(names[3], 100, 1700000000000000001), nullptr);
    ASSERT_TRUE(c.flush(present).ok());
  }
  EXPECT_EQ(inode_of(file()), first);
  // Two more: 4 of 26 reach 1/8: written, without the gone two.
  names.push_back("26.a.host");
  names.push_back("27.a.host");
  present.assign(names.begin() + 2, names.end());
  {
    MailboxCache c(folder_);
    for (const char* n : {"24.a.host", "25.a.host", "26.a.host", "27.a.host"}) c.put(entry(n));
    ASSERT_TRUE(c.flush(present).ok());
    EXPECT_EQ(c.pending(), 0u);
  }
  EXPECT_NE(inode_of(file()), first);
  auto now = on_disk();
  ASSERT_EQ(now.size(), 26u);
  for (const auto& e : now) EXPECT_NE(e.base, names[0]);
  // Gone messages alone: written once they are 1/4 of the file's entries.
  const ino_t second = inode_of(file());
  present.assign(names.begin() + 8, names.end());  // 6 of 26 gone
  {
    MailboxCache c(folder_);
    c.load_if_needed();
    ASSERT_TRUE(c.flush(present).ok());
  }
  EXPECT_EQ(inode_of(file()), second);
  present.assign(names.begin() + 9, names.end());  // 7 of 26
  {
    MailboxCache c(folder_);
    c.load_if_needed();
    ASSERT_TRUE(c.flush(present).ok());
  }
  EXPECT_NE(inode_of(file()), second);
  EXPECT_EQ(on_disk().size(), 19u);
}

TEST_F(CacheFolder, TheDecisionIsMadeAgainstTheFileOnDisk) {
  const std::vector<std::string_view> present{"1.a.host", "2.b.host"};
  MailboxCache one(folder_), two(folder_);
  (void)one.find("x", 1, 1);
  (void)two.find("x", 1, 1);  // both loaded before either writes (no file)
  one.put(entry("1.a.host"));
  one.put(entry("2.b.host"));
  two.put(entry("1.a.host"));
  ASSERT_TRUE(one.flush(present).ok());
  const ino_t written = inode_of(file());
  ASSERT_TRUE(two.flush(present).ok());  // the file on disk has its entry now
  EXPECT_EQ(inode_of(file()), written);
  // The same message read from other content (size): the file lacks that.
  MailboxCache three(folder_);
  (void)three.find("x", 1, 1);
  three.put(entry("2.b.host", 101));
  ASSERT_TRUE(three.flush(present).ok());
  EXPECT_NE(inode_of(file()), written);
  // A deleted file is written again by a session that has entries.
  ASSERT_EQ(::unlink(file().c_str()), 0);
  MailboxCache four(folder_);
  (void)four.find("x", 1, 1);
  four.put(entry("1.a.host"));
  ASSERT_TRUE(four.flush(present).ok());
  EXPECT_EQ(on_disk().size(), 1u);
}

TEST_F(CacheFolder, CorruptOrOtherVersionFileIsRebuilt) {
  for (const std::string& bad : {std::string("garbage\x01\x02"), std::string("imapd-cache 99\n"),
                                two_entry_file().substr(0, 40)}) {
    testutil::write_file(file(), bad);
    MailboxCache c(folder_);
    EXPECT_EQ(c.find("1.a.host", 100, 1700000000000000001), nullptr);  // nothing trusted
    c.put(entry("3.c.host"));
    ASSERT_TRUE(c.flush({"3.c.host"}).ok());
    auto now = on_disk();
    ASSERT_EQ(now.size(), 1u);
    EXPECT_EQ(now[0].base, "3.c.host");
  }
  // A bad file is rewritten even when nothing new was learnt.
  testutil::write_file(file(), "imapd-cache 1\nxx");
  MailboxCache c(folder_);
  (void)c.find("x", 1, 1);
  ASSERT_TRUE(c.flush({}).ok());
  EXPECT_TRUE(on_disk().empty());
}

TEST_F(CacheFolder, TwoWritersKeepEachOthersEntries) {
  MailboxCache one(folder_), two(folder_);
  (void)one.find("x", 1, 1);
  (void)two.find("x", 1, 1);  // both loaded before either writes
  one.put(entry("1.a.host"));
  two.put(entry("2.b.host"));
  const std::vector<std::string_view> present{"1.a.host", "2.b.host"};
  ASSERT_TRUE(one.flush(present).ok());
  ASSERT_TRUE(two.flush(present).ok());  // last writer merges the first's
  auto now = on_disk();
  EXPECT_EQ(now.size(), 2u);
}

// Writers in several processes (as imapd sessions are) rewrite the file
// over and over while this process reads it: every read is one whole,
// valid file.
TEST_F(CacheFolder, ConcurrentWritersNeverLeaveAPartialFile) {
  std::vector<pid_t> kids;
  for (int w = 0; w < 3; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int round = 0; round < 40; ++round) {
        MailboxCache c(folder_);
        std::vector<std::string> bases;
        for (int i = 0; i < 50; ++i) bases.push_back(std::to_string(i) + ".w" + std::to_string(w) + ".host");
        std::vector<std::string_view> present(bases.begin(), bases.end());
        for (const auto& b : bases) c.put(entry(b, static_cast<std::uint64_t>(round) + 1));
        if (!c.flush(present).ok()) ::_exit(1);
      }
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  int reads = 0;
  bool running = true;
  while (running) {
    running = false;
    for (pid_t p : kids)
      if (::waitpid(p, nullptr, WNOHANG) == 0) running = true;
    const std::string data = testutil::read_file(file());
    if (data.empty()) continue;
    auto parsed = parse_cache(data, file());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ++reads;
  }
  EXPECT_GT(reads, 0);
  // Children already reaped above; the file left is one writer's, whole.
  EXPECT_EQ(on_disk().size(), 50u);
}

// The key section is read and checked alone; a body record is checked when
// its entry is first asked for.
TEST(CacheFile, KeysParseWithoutTheBodies) {
  CacheEntry a = entry("1.a.host"), b = entry("2.b.host", 7, 5);
  b.facts.references.clear();
  b.facts.has_date = false;
  b.facts.date = 0;
  const std::string data = format_cache({&a, &b});
  auto header = parse_cache_header(data.substr(0, cache_header_bytes()), data.size(), "c");
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_EQ(header->count, 2u);
  const std::size_t keys_at = cache_header_bytes() + cache_ranks_bytes(header->count);
  const std::string_view keys_part = std::string_view(data).substr(keys_at, header->keys_length);
  auto keys = parse_cache_keys(keys_part, *header, "c");
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u);
  const CacheKeys& k = (*keys)[0];
  EXPECT_EQ(k.base, "1.a.host");
  EXPECT_EQ(k.subject, "S 1.a.host");
  EXPECT_EQ(k.display_to, "Bob");
  EXPECT_TRUE(k.has_date && k.reply);
  EXPECT_EQ(k.date, -86400);
  std::vector<std::string> refs;
  k.for_each_reference([&](std::string_view r) { refs.emplace_back(r); });
  EXPECT_EQ(refs, a.facts.references);
  EXPECT_FALSE((*keys)[1].has_date);
  EXPECT_EQ((*keys)[1].body_offset, k.body_length);
  // A body record decodes to the entry, and refuses a flipped byte.
  const std::string_view bodies = std::string_view(data).substr(keys_at + header->keys_length);
  CacheEntry back;
  ASSERT_TRUE(decode_cache_body(bodies.substr((*keys)[1].body_offset), (*keys)[1], back));
  EXPECT_EQ(back, b);
  std::string flipped(bodies.substr(0, k.body_length));
  flipped[flipped.size() / 2] ^= 1;
  EXPECT_FALSE(decode_cache_body(flipped, k, back));
  // The header is checked against the file's size.
  EXPECT_FALSE(parse_cache_header(data, data.size() + 1, "c").ok());
  EXPECT_FALSE(parse_cache_header(data, data.size() - 1, "c").ok());
}

const char* const kMessage =
    "From: Alice <alice@example.test>\n"
    "To: bob@example.test\n"
    "Subject: hello there\n"
    "Message-ID: <1@example.test>\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
    "\n"
    "body line\n";

TEST_F(CacheFolder, MailboxAnswersFromTheCacheAndNoticesReplacedFiles) {
  const std::string path = deliver("1.a.host", kMessage);
  FolderName name;
  name.folder = "INBOX";
  {
    auto mb = Mailbox::open(folder_, name, false);
    ASSERT_TRUE(mb.ok());
    const CacheEntry* e = (*mb)->cached(0);
    ASSERT_NE(e, nullptr);
    MessageText text(kMessage);
    std::string envelope;
    append_envelope(envelope, text.header());
    EXPECT_EQ(e->envelope, envelope);
    EXPECT_EQ(e->crlf_size, text.size());
    EXPECT_EQ(e->header, std::string(text.header_text()));
    std::string bs;
    append_body_structure(bs, text.mime().root, text.text(), true);
    EXPECT_EQ(e->bodystructure, bs);
    EXPECT_TRUE(e->facts.has_date);
    EXPECT_EQ(e->facts.date, 760686745);  // Mon, 7 Feb 1994 21:52:25 -0800
    EXPECT_EQ(e->facts.subject, "HELLO THERE");
    EXPECT_EQ(e->facts.message_id, "1@example.test");
    EXPECT_EQ(e->facts.from, "ALICE");  // RFC 5256: the addr-mailbox
  }  // closing writes the file
  ASSERT_EQ(on_disk().size(), 1u);
  // The file unreadable: the entry still answers (it is not opened).
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  {
    auto mb = Mailbox::open(folder_, name, false);
    ASSERT_TRUE(mb.ok());
    const CacheEntry* e = (*mb)->cached(0);
    ASSERT_NE(e, nullptr);
    EXPECT_NE(e->envelope.find("hello there"), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  // Replaced under the same name with other content (and mtime): not stale.
  std::string other = kMessage;
  other.replace(other.find("hello there"), 11, "changed now");
  testutil::write_file(path, other);
  struct timeval times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimes(path.c_str(), times), 0);
  auto mb = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(mb.ok());
  const CacheEntry* e = (*mb)->cached(0);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->envelope.find("changed now"), std::string::npos) << e->envelope;
  EXPECT_EQ((*mb)->messages()[0].internal_date, 1000000000);
}

TEST_F(CacheFolder, ExpungedMessageIsAnsweredFromItsEntryWhenItAgrees) {
  FolderName name;
  name.folder = "INBOX";
  const std::string right = "1.a.host,S=" + std::to_string(std::string(kMessage).size());
  const std::string wrong = "2.b.host,S=7";  // a ",S=" the file does not have
  const std::string p1 = deliver(right, kMessage);
  const std::string p2 = deliver(wrong, kMessage);
  {
    auto mb = Mailbox::open(folder_, name, false);
    ASSERT_TRUE(mb.ok());
    ASSERT_NE((*mb)->cached(0), nullptr);
    ASSERT_NE((*mb)->cached(1), nullptr);
  }  // closing writes both entries
  ASSERT_EQ(on_disk().size(), 2u);
  auto mb = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(mb.ok());
  // Another session expunges both; this one never checked their entries.
  ASSERT_EQ(::unlink(p1.c_str()), 0);
  ASSERT_EQ(::unlink(p2.c_str()), 0);
  const CacheEntry* e = (*mb)->cached_gone(0);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->envelope.find("hello there"), std::string::npos);
  EXPECT_EQ(e->crlf_size, MessageText(kMessage).size());
  // Its ",S=" agrees, so cached() trusts the entry without a stat (the name
  // fixes the content): the same answer, the deletion seen at the next scan.
  EXPECT_EQ((*mb)->cached(0), e);
  // The entry disagrees with what the session knows (",S="): not used; the
  // stat that checks it finds the file gone.
  EXPECT_EQ((*mb)->cached(1), nullptr);
  EXPECT_TRUE((*mb)->messages()[1].vanished);
  EXPECT_EQ((*mb)->cached_gone(1), nullptr);
}

// A garbled key section: the whole file is dropped and rebuilt.
TEST_F(CacheFolder, CorruptKeySectionIsRebuilt) {
  {
    MailboxCache c(folder_);
    c.put(entry("1.a.host"));
    c.put(entry("2.b.host"));
    ASSERT_TRUE(c.flush({"1.a.host", "2.b.host"}).ok());
  }
  std::string data = testutil::read_file(file());
  data[cache_header_bytes() + cache_ranks_bytes(2) + 60] ^= 0x04;  // inside the first key record
  testutil::write_file(file(), data);
  MailboxCache c(folder_);
  EXPECT_EQ(c.keys("1.a.host"), nullptr);
  EXPECT_EQ(c.keys("2.b.host"), nullptr);
  c.put(entry("2.b.host"));
  ASSERT_TRUE(c.flush({"1.a.host", "2.b.host"}).ok());
  auto now = on_disk();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].base, "2.b.host");
}

// A garbled body record: its keys (checked by the key section's CRC) serve
// SORT and THREAD, but its entry is not used and the file is rewritten
// without it at the next flush; the other entries stay.
TEST_F(CacheFolder, CorruptBodyRecordDropsThatEntry) {
  {
    MailboxCache c(folder_);
    c.put(entry("1.a.host"));
    c.put(entry("2.b.host"));
    ASSERT_TRUE(c.flush({"1.a.host", "2.b.host"}).ok());
  }
  std::string data = testutil::read_file(file());
  data[data.size() - 3] ^= 0x10;  // the last body record: 2.b.host's header
  testutil::write_file(file(), data);
  MailboxCache c(folder_);
  const CacheKeys* k = c.keys("2.b.host");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->subject, "S 2.b.host");
  EXPECT_NE(c.find_unchecked("1.a.host"), nullptr);
  EXPECT_EQ(c.find_unchecked("2.b.host"), nullptr);
  EXPECT_EQ(c.keys("2.b.host"), nullptr);  // known bad now
  ASSERT_TRUE(c.flush({"1.a.host", "2.b.host"}).ok());
  auto now = on_disk();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].base, "1.a.host");
}

// A session that loaded the keys keeps reading the file it opened when
// another session renames a new one over it: its entries match its keys.
TEST_F(CacheFolder, BodiesComeFromTheFileTheKeysCameFrom) {
  {
    MailboxCache c(folder_);
    c.put(entry("1.a.host", 100));
    ASSERT_TRUE(c.flush({"1.a.host"}).ok());
  }
  MailboxCache reader(folder_);
  const CacheKeys* k = reader.keys("1.a.host");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->file_size, 100u);
  {
    MailboxCache other(folder_);
    CacheEntry e = entry("1.a.host", 200);
    e.envelope = "(NIL \"other\" NIL NIL NIL NIL NIL NIL NIL NIL)";
    e.crlf_size = 999;
    other.put(e);
    ASSERT_TRUE(other.flush({"1.a.host"}).ok());
  }
  const CacheEntry* e = reader.find_named("1.a.host", 100);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->envelope, entry("1.a.host", 100).envelope);
  EXPECT_EQ(e->crlf_size, 103u);
}

TEST_F(CacheFolder, SortKeysAreCheckedLikeEntries) {
  FolderName name;
  name.folder = "INBOX";
  const std::string sized = "1.a.host,S=" + std::to_string(std::string(kMessage).size());
  deliver(sized, kMessage);                                // ",S=": trusted for its size
  const std::string path = deliver("2.b.host", kMessage);  // no ",S=": checked by stat
  std::size_t sized_at = 0;  // its sequence index
  {
    auto mb = Mailbox::open(folder_, name, false);
    ASSERT_TRUE(mb.ok());
    for (std::size_t i : {0, 1}) {
      const CacheKeys* k = (*mb)->cached_keys(i);
      ASSERT_NE(k, nullptr);
      if (k->base == sized) sized_at = i;
      EXPECT_EQ(k->subject, "HELLO THERE");
      EXPECT_EQ(k->message_id, "1@example.test");
      EXPECT_EQ(k->from, "ALICE");
      EXPECT_TRUE(k->has_date);
    }
  }
  ASSERT_EQ(on_disk().size(), 2u);
  // The body section garbled: the keys of the ",S=" message still serve
  // without the body section being read (a bad record found would have the
  // file rewritten at close).
  std::string data = testutil::read_file(file());
  data[data.size() - 5] ^= 0x01;
  testutil::write_file(file(), data);
  {
    auto mb = Mailbox::open(folder_, name, false);
    ASSERT_TRUE(mb.ok());
    const CacheKeys* k = (*mb)->cached_keys(sized_at);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->subject, "HELLO THERE");
  }
  EXPECT_EQ(testutil::read_file(file()), data);
  // Replaced under the same name (other size and mtime): stale keys unused.
  std::string other = kMessage;
  other.replace(other.find("hello there"), 11, "Re: changed it");
  testutil::write_file(path, other);
  struct timeval times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimes(path.c_str(), times), 0);
  auto mb = Mailbox::open(folder_, name, false);
  ASSERT_TRUE(mb.ok());
  const CacheKeys* k = (*mb)->cached_keys(1 - sized_at);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->subject, "CHANGED IT");
  EXPECT_TRUE(k->reply);
}

// The rank section: per record its id and its rank by each string key,
// read and checked alone; a garbled one is not used, and the file is
// written again (with good ranks) at the next flush.
TEST_F(CacheFolder, RankSectionRanksTheRecordsAndIsChecked) {
  CacheEntry a = entry("1.a.host", 10), b = entry("2.b.host", 20), c = entry("3.c.host", 30);
  a.facts.subject = "ZED";
  b.facts.subject = "ALPHA";
  c.facts.subject = "ZED";
  b.facts.from = "";
  c.facts.cc = "\xff";
  const std::string data = format_cache({&a, &b, &c});
  testutil::write_file(file(), data);
  {
    MailboxCache cache(folder_);
    const MailboxCache::Ranks* r = cache.ranks();
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->count, 3u);
    EXPECT_EQ(r->id(1), cache_entry_id("2.b.host", 20));
    EXPECT_NE(r->id(1), cache_entry_id("2.b.host", 21));
    EXPECT_EQ(r->find(cache_entry_id("3.c.host", 30), 0), 2u);  // not at the hint: the index
    EXPECT_EQ(r->find(cache_entry_id("4.d.host", 30), 0), 3u);  // none
    const std::uint32_t subject[] = {1, 0, 1}, from[] = {1, 0, 1}, cc[] = {0, 0, 1};
    for (std::uint32_t i = 0; i < 3; ++i) {
      EXPECT_EQ(r->rank(CacheRankKey::subject, i), subject[i]) << i;
      EXPECT_EQ(r->rank(CacheRankKey::from, i), from[i]) << i;
      EXPECT_EQ(r->rank(CacheRankKey::cc, i), cc[i]) << i;
      EXPECT_EQ(r->rank(CacheRankKey::display_to, i), 0u) << i;
    }
  }
  // A rank changed (a byte of the subject column): its checksum refuses it.
  std::string garbled = data;
  garbled[cache_header_bytes() + 3 * 8 + 4] ^= 0x01;
  testutil::write_file(file(), garbled);
  MailboxCache cache(folder_);
  EXPECT_EQ(cache.ranks(), nullptr);
  EXPECT_NE(cache.keys("2.b.host"), nullptr);  // the rest of the file serves
  ASSERT_TRUE(cache.flush({"1.a.host", "2.b.host", "3.c.host"}).ok());
  EXPECT_EQ(testutil::read_file(file()), data);  // rewritten whole, ranks recomputed
}

// SORT's ranks answer only for messages whose ",S=" name and size give a
// record's id: a message delivered since the file was written, or one
// without ",S=", sends SORT to the keys (which records it, so the next
// session has its rank); one removed by another program (Courier) shifts
// the rest, which are found by their ids.
TEST_F(CacheFolder, SortRanksFollowTheFolder) {
  FolderName name;
  name.folder = "INBOX";
  auto message = [](const std::string& subject) {
    std::string m = kMessage;
    return m.replace(m.find("hello there"), 11, subject);
  };
  auto sized = [&](const std::string& base, const std::string& text) {
    return deliver(base + ",S=" + std::to_string(text.size()), text);
  };
  const std::string subjects[] = {"pear", "Re: apple", "fig", "apple"};
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) paths.push_back(sized(std::to_string(i + 1) + ".m.host", message(subjects[i])));
  auto session = [&](const std::function<void(Mailbox&)>& f) {
    auto mb = Mailbox::open(folder_, name, false);
    ASSERT_TRUE(mb.ok());
    f(**mb);
  };
  const std::vector<CacheRankKey> by_subject{CacheRankKey::subject};
  std::vector<std::uint32_t> ranks;
  session([&](Mailbox& mb) {
    EXPECT_FALSE(mb.cached_ranks({0, 1, 2}, by_subject, ranks));  // no file yet
    for (std::size_t i = 0; i < 3; ++i) ASSERT_NE(mb.cached_keys(i), nullptr);
  });
  // The key section garbled: ranks still serve (it is not read for them).
  std::string data = testutil::read_file(file());
  const std::string good = data;
  data[cache_header_bytes() + cache_ranks_bytes(3) + 40] ^= 0x04;
  testutil::write_file(file(), data);
  session([&](Mailbox& mb) {
    auto bound = mb.cached_ranks({0, 1, 2}, {CacheRankKey::subject, CacheRankKey::from}, ranks);
    ASSERT_TRUE(bound);
    EXPECT_EQ(*bound, 3u);
    EXPECT_EQ(ranks, (std::vector<std::uint32_t>{2, 0, 1, 0, 0, 0}));  // PEAR APPLE FIG; ALICE x3
  });
  testutil::write_file(file(), good);
  // A new message: not in the file; the rest still rank (a subset).
  paths.push_back(sized("4.m.host", message(subjects[3])));
  session([&](Mailbox& mb) {
    ASSERT_EQ(mb.count(), 4u);
    EXPECT_FALSE(mb.cached_ranks({0, 1, 2, 3}, by_subject, ranks));
    EXPECT_TRUE(mb.cached_ranks({0, 2}, by_subject, ranks));
    EXPECT_EQ(ranks, (std::vector<std::uint32_t>{2, 1}));
    ASSERT_NE(mb.cached_keys(3), nullptr);  // SORT's way when ranks fail: recorded
  });
  session([&](Mailbox& mb) {
    ASSERT_TRUE(mb.cached_ranks({0, 1, 2, 3}, by_subject, ranks));
    EXPECT_EQ(ranks, (std::vector<std::uint32_t>{2, 0, 1, 0}));  // "Re: apple" and "apple" tie
  });
  // Message 1 removed by another program: the others shift down one.
  ASSERT_EQ(::unlink(paths[0].c_str()), 0);
  session([&](Mailbox& mb) {
    ASSERT_EQ(mb.count(), 3u);
    auto bound = mb.cached_ranks({0, 1, 2}, by_subject, ranks);
    ASSERT_TRUE(bound);
    EXPECT_EQ(ranks, (std::vector<std::uint32_t>{0, 1, 0}));
  });
  // A name without ",S=": its size is not known without a stat: no ranks.
  deliver("5.m.host", message("kiwi"));
  session([&](Mailbox& mb) { EXPECT_FALSE(mb.cached_ranks({0, 1, 2, 3}, by_subject, ranks)); });
}

}  // namespace
}  // namespace imapd
