// tests/imapd/session_test.cpp: imapd's authenticated session on a temporary
// Maildir: a client script in, the transcript out (UIDVALIDITY, which is the
// creation time, is replaced by "V").
#include "imapd/session.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "imapd/mailbox.hpp"
#include "imapd/uiddb.hpp"
#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/Maildir";
    ASSERT_TRUE(lib::maildir::create_maildir(root_).ok());
  }
  void deliver(const std::string& subject, const std::string& flags = "") {
    lib::maildir::DeliveryOptions o;
    if (!flags.empty()) {
      o.location = lib::maildir::Location::cur_dir;
      o.flags = flags;
    }
    ASSERT_TRUE(lib::maildir::deliver(root_, "From: a@b.c\nSubject: " + subject + "\n\nbody " + subject + "\n", o).ok());
  }
  std::string run(const std::string& script, Settings s = {}) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT_EQ(::write(sv[1], script.data(), script.size()), static_cast<ssize_t>(script.size()));
    ::shutdown(sv[1], SHUT_WR);
    {
      lib::io::Reader in(sv[0]);
      lib::io::Writer out(sv[0]);
      Session session(s, root_, "alice", in, out);
      session.run("");
    }
    ::shutdown(sv[0], SHUT_WR);
    std::string t;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(sv[1], buf, sizeof buf)) > 0) t.append(buf, static_cast<std::size_t>(n));
    ::close(sv[0]);
    ::close(sv[1]);
    t = t.substr(t.find("\r\n") + 2);  // drop PREAUTH
    t = std::regex_replace(t, std::regex("HIGHESTMODSEQ \\d+"), "HIGHESTMODSEQ M");
    t = std::regex_replace(t, std::regex("MAILBOXID \\(M[0-9a-f]{24}\\)"), "MAILBOXID (M)");  // random
    return std::regex_replace(t, std::regex("UIDVALIDITY \\d+"), "UIDVALIDITY V");
  }
  testutil::TempDir dir_;
  std::string root_;
};

TEST_F(SessionTest, SelectEmptyInbox) {
  EXPECT_EQ(run("a SELECT INBOX\r\n"),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Limited\r\n"
            "* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY V] Ok\r\n* OK [UIDNEXT 1] Ok\r\n"
            "* OK [HIGHESTMODSEQ M] Highest\r\n"
            "* OK [MAILBOXID (M)] Ok\r\n"
            "a OK [READ-WRITE] Ok\r\n");
}

TEST_F(SessionTest, SelectFetchStoreExpunge) {
  deliver("one");
  deliver("two", "S");
  deliver("three");
  std::string t = run(
      "a SELECT INBOX\r\n"
      "b FETCH 1:* (UID FLAGS)\r\n"
      "c STORE 1 +FLAGS (\\Deleted)\r\n"
      "d UID STORE 3 FLAGS.SILENT ($Work)\r\n"
      "e EXPUNGE\r\n"
      "f UID SEARCH KEYWORD $Work\r\n"
      "g FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n");
  EXPECT_NE(t.find("* 3 EXISTS\r\n* 2 RECENT\r\n* OK [UNSEEN 1]"), std::string::npos) << t;
  EXPECT_NE(t.find("* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n"
                   "* 3 FETCH (UID 3 FLAGS (\\Recent))\r\nb OK FETCH completed.\r\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("* 1 FETCH (FLAGS (\\Deleted \\Recent))\r\nc OK"), std::string::npos) << t;
  // .SILENT: no FETCH, but the new keyword is announced in FLAGS first.
  EXPECT_NE(t.find("c OK STORE completed.\r\n* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n"
                   "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] Limited\r\nd OK"),
            std::string::npos) << t;
  EXPECT_NE(t.find("* 1 EXPUNGE\r\n* 1 RECENT\r\ne OK EXPUNGE completed.\r\n"), std::string::npos) << t;
  EXPECT_NE(t.find("* SEARCH 3\r\nf OK"), std::string::npos) << t;
  EXPECT_NE(t.find("* 2 FETCH (BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: three\r\n\r\n)\r\ng OK"), std::string::npos) << t;
  auto db = read_uiddb(root_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->uids.size(), 2u);
  EXPECT_EQ(db->next_uid, 4u);
}

// A session in its own thread, driven one command at a time, so the test
// can change the Maildir between commands as another process would.
class LiveSession {
 public:
  LiveSession(const std::string& root) {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv_), 0);
    thread_ = std::thread([this, root] {
      lib::io::Reader in(sv_[0]);
      lib::io::Writer out(sv_[0]);
      Session session(Settings{}, root, "alice", in, out);
      session.run("");
      ::shutdown(sv_[0], SHUT_WR);
    });
    (void)until("* PREAUTH");
  }
  ~LiveSession() {
    ::shutdown(sv_[1], SHUT_WR);
    thread_.join();
    ::close(sv_[0]);
    ::close(sv_[1]);
  }
  // Sends "tag command" and returns what came back up to the tagged reply.
  std::string command(const std::string& tag, const std::string& command) {
    std::string line = tag + " " + command + "\r\n";
    EXPECT_EQ(::write(sv_[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    return until(tag + " ");
  }

 private:
  std::string until(const std::string& start) {
    for (;;) {
      std::size_t at = buffered_.rfind("\r\n" + start);
      bool first = buffered_.compare(0, start.size(), start) == 0;
      if (first || at != std::string::npos) {
        std::size_t end = buffered_.find("\r\n", first ? 0 : at + 2);
        if (end != std::string::npos) {
          std::string out = buffered_.substr(0, end + 2);
          buffered_.erase(0, end + 2);
          return out;
        }
      }
      char buf[8192];
      ssize_t n = ::read(sv_[1], buf, sizeof buf);
      if (n <= 0) return std::exchange(buffered_, std::string());
      buffered_.append(buf, static_cast<std::size_t>(n));
    }
  }
  int sv_[2] = {-1, -1};
  std::thread thread_;
  std::string buffered_;
};

// Changes made right after a command's rescan (within the same tick of the
// clock, so the directories' mtimes may look the same to a coarse check)
// are still seen by the next command.
TEST_F(SessionTest, ChangesByOthersRightAfterARescanAreSeenByTheNextCommand) {
  deliver("first");
  LiveSession live(root_);
  std::string t = live.command("a", "SELECT INBOX");
  ASSERT_NE(t.find("* 1 EXISTS\r\n"), std::string::npos) << t;
  std::size_t count = 1;
  for (int i = 0; i < 20; ++i) {
    auto d = lib::maildir::deliver(root_, "Subject: more\n\nbody\n");  // into new/
    ASSERT_TRUE(d.ok());
    ++count;
    t = live.command("n" + std::to_string(i), "NOOP");
    EXPECT_NE(t.find("* " + std::to_string(count) + " EXISTS\r\n"), std::string::npos) << i << ": " << t;
    // Another process flags the newest message (a rename in cur/).
    auto found = lib::maildir::find_message(root_, d->base);
    ASSERT_TRUE(found.ok() && found->has_value());
    std::string newest = (*found)->file_name;
    ASSERT_TRUE(lib::maildir::set_flags(root_, newest, "F").ok());
    t = live.command("f" + std::to_string(i), "NOOP");
    EXPECT_NE(t.find("* " + std::to_string(count) + " FETCH (FLAGS (\\Flagged"), std::string::npos)
        << i << ": " << t;
    // And removes it: the next command tells the EXPUNGE.
    auto now = lib::maildir::find_message(root_, newest.substr(0, newest.find(':')));
    ASSERT_TRUE(now.ok() && now->has_value());
    ASSERT_EQ(::unlink((root_ + "/cur/" + (*now)->file_name).c_str()), 0);
    t = live.command("x" + std::to_string(i), "NOOP");
    EXPECT_NE(t.find("* " + std::to_string(count) + " EXPUNGE\r\n"), std::string::npos) << i << ": " << t;
    --count;
  }
}

// Two changes to cur/ with one mtime (as within one tick of a coarse file
// system clock): a session that rescanned after the first must not trust
// that mtime for the second. Simulated by setting cur/'s mtime back.
TEST_F(SessionTest, AnMtimeNotOlderThanTheLastScanIsNotTrusted) {
  deliver("first");
  deliver("second");
  LiveSession live(root_);
  std::string t = live.command("a", "SELECT INBOX");
  ASSERT_NE(t.find("* 2 EXISTS\r\n"), std::string::npos) << t;
  const std::string cur = root_ + "/cur";
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  // The first change, stamped after the scan that follows reads the clock.
  struct timespec stamp[2] = {{0, UTIME_OMIT}, {now.tv_sec + 100, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, cur.c_str(), stamp, 0), 0);
  t = live.command("b", "NOOP");
  // The second change, with the same mtime.
  auto scanned = lib::maildir::scan_messages(root_, false);
  ASSERT_TRUE(scanned.ok());
  ASSERT_EQ(scanned->size(), 2u);
  ASSERT_TRUE(lib::maildir::set_flags(root_, (*scanned)[0].file_name, "S").ok());
  ASSERT_EQ(::utimensat(AT_FDCWD, cur.c_str(), stamp, 0), 0);
  t = live.command("c", "NOOP");
  EXPECT_NE(t.find("* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n"), std::string::npos) << t;
}

// A rescan that finds only renames does not read courierimapuiddb; the
// next one that finds a new message does, and a replaced UIDVALIDITY then
// ends the session (RFC 3501 2.3.1.1: no renumbering under a client).
TEST_F(SessionTest, RemovedUidDbIsNoticedWhenTheNextMessageComes) {
  deliver("first");
  LiveSession live(root_);
  std::string t = live.command("a", "SELECT INBOX");
  ASSERT_NE(t.find("* 1 EXISTS\r\n"), std::string::npos) << t;
  ASSERT_EQ(::unlink((root_ + "/courierimapuiddb").c_str()), 0);
  auto scanned = lib::maildir::scan_messages(root_, false);
  ASSERT_TRUE(scanned.ok() && scanned->size() == 1u);
  ASSERT_TRUE(lib::maildir::set_flags(root_, (*scanned)[0].file_name, "S").ok());
  t = live.command("b", "NOOP");
  EXPECT_NE(t.find("* 1 FETCH (FLAGS (\\Seen \\Recent))\r\nb OK"), std::string::npos) << t;
  deliver("second");
  t = live.command("c", "NOOP");
  EXPECT_NE(t.find("* BYE [UNAVAILABLE]"), std::string::npos) << t;
}

// SELECT reads the folder once: no second rescan at the end of the command
// that just scanned it; the same for STATUS of the selected folder.
TEST_F(SessionTest, OneScanPerCommandThatScans) {
  deliver("one");
  deliver("two", "S");
  std::uint64_t before = Mailbox::scan_serial();
  std::string t = run("a SELECT INBOX\r\n");
  EXPECT_NE(t.find("* 2 EXISTS\r\n"), std::string::npos) << t;
  EXPECT_EQ(Mailbox::scan_serial() - before, 1u);
  before = Mailbox::scan_serial();
  deliver("three");
  t = run("a SELECT INBOX\r\nb STATUS INBOX (MESSAGES)\r\n");
  EXPECT_NE(t.find("* STATUS INBOX (MESSAGES 3)\r\n"), std::string::npos) << t;
  EXPECT_LE(Mailbox::scan_serial() - before, 2u);
}

TEST_F(SessionTest, StateErrorsAndSyntax) {
  struct Case {
    const char* label;
    const char* script;
    const char* expect;
  } cases[] = {
      {"fetch unselected", "a FETCH 1 FLAGS\r\n", "a BAD No mailbox selected.\r\n"},
      {"unknown", "a FROB\r\n", "a BAD Unknown command.\r\n"},
      {"uid with non-uid command", "a UID SELECT INBOX\r\n", "a BAD Unknown command.\r\n"},
      {"bad set", "a SELECT INBOX\r\nb FETCH x FLAGS\r\n", "b BAD Invalid sequence set.\r\n"},
      {"set past end", "a SELECT INBOX\r\nb FETCH 5 FLAGS\r\n", "b BAD Invalid sequence set.\r\n"},
      {"no such mailbox", "a SELECT INBOX.nope\r\n", "a NO [NONEXISTENT] Mailbox does not exist.\r\n"},
      {"outside namespace", "a SELECT Other\r\n", "a NO Mailbox names start with INBOX. (see NAMESPACE).\r\n"},
      {"bad mutf7", "a CREATE INBOX.&AGE-\r\n", "a NO Invalid mailbox name (not modified UTF-7).\r\n"},
      {"slash", "a CREATE INBOX.a/b\r\n", "a NO Invalid mailbox name"},
      {"dotdot", "a CREATE INBOX..b\r\n", "a NO Invalid mailbox name"},
      {"logout", "a LOGOUT\r\nb NOOP\r\n", "* BYE Courier-compatible IMAP server shutting down.\r\na OK LOGOUT completed.\r\n"},
      {"namespace", "a NAMESPACE\r\n", "* NAMESPACE ((\"INBOX.\" \".\")) NIL"},
      {"enable", "a ENABLE CONDSTORE X-UNKNOWN\r\n", "* ENABLED CONDSTORE\r\na OK ENABLE completed.\r\n"},
      {"idle done", "a IDLE\r\nDONE\r\n", "+ idling\r\na OK IDLE completed.\r\n"},
      {"idle garbage", "a IDLE\r\nNOPE\r\n", "+ idling\r\na BAD Expected DONE.\r\n"},
      {"store bad flag", "a SELECT INBOX\r\nb STORE 1:* +FLAGS (\\Bogus)\r\n", "b BAD Invalid system flag.\r\n"},
      {"search charset", "a SELECT INBOX\r\nb SEARCH CHARSET KOI8-R ALL\r\n", "b NO [BADCHARSET"},
  };
  for (const auto& c : cases) {
    std::string t = run(c.script);
    EXPECT_NE(t.find(c.expect), std::string::npos) << c.label << ":\n" << t;
  }
}

TEST_F(SessionTest, FoldersAndStatus) {
  deliver("x");
  std::string t = run(
      "a CREATE INBOX.Sent\r\n"
      "b CREATE INBOX.A.B\r\n"
      "c LIST \"\" *\r\n"
      "d STATUS INBOX (MESSAGES UIDNEXT UNSEEN RECENT)\r\n"
      "e RENAME INBOX INBOX.Old\r\n"
      "f STATUS INBOX.Old (MESSAGES)\r\n"
      "g STATUS INBOX (MESSAGES)\r\n"
      "h DELETE INBOX.A\r\n");
  EXPECT_NE(t.find("* LIST (\\HasChildren) \".\" INBOX\r\n"
                   "* LIST (\\Noselect \\HasChildren) \".\" INBOX.A\r\n"
                   "* LIST (\\HasNoChildren) \".\" INBOX.A.B\r\n"
                   "* LIST (\\HasNoChildren \\Sent) \".\" INBOX.Sent\r\nc OK"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1 RECENT 1)"), std::string::npos) << t;
  EXPECT_NE(t.find("* STATUS INBOX.Old (MESSAGES 1)"), std::string::npos) << t;
  EXPECT_NE(t.find("* STATUS INBOX (MESSAGES 0)"), std::string::npos) << t;
  EXPECT_NE(t.find("h NO"), std::string::npos) << t;  // only implied by INBOX.A.B
}

}  // namespace
}  // namespace imapd
