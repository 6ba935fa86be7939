// tests/esmtpd/queue_test.cpp: lib/queue (the queue file format and commit protocol).
#include "lib/queue.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "tests/lib/test_util.hpp"

namespace q = lib::queue;
using testutil::TempDir;

namespace {

q::Envelope sample() {
  q::Envelope e;
  e.accepted = 1700000000;
  e.sender = "alice@example.test";
  e.client = "mx.example.org (mx.example.org [192.0.2.1])";
  e.protocol = "ESMTPS";
  e.body = "8BITMIME";
  e.auth_user = "alice";
  e.envid = "abc";
  e.ret = "HDRS";
  e.recipients = {{"bob@example.test", "rfc822;bob@example.test", "SUCCESS,FAILURE"},
                  {"carol@example.test", "", ""}};
  return e;
}

std::size_t count_files(const std::string& dir) {
  std::size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) { (void)e; ++n; }
  return n;
}

}  // namespace

TEST(Queue, QidShape) {
  std::string a = q::new_qid(), b = q::new_qid();
  EXPECT_NE(a, b);
  EXPECT_TRUE(q::valid_qid(a)) << a;
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef."), std::string::npos);
  EXPECT_GE(a.find('.'), 9u);
  EXPECT_FALSE(q::valid_qid("../x"));
  EXPECT_FALSE(q::valid_qid("a.b.c"));
  EXPECT_FALSE(q::valid_qid("a..b.c"));
}

TEST(Queue, CommitThenRead) {
  TempDir t;
  ASSERT_TRUE(q::ensure_layout(t.path()));
  auto s = q::Submission::begin(t.path());
  ASSERT_TRUE(s) << s.error().message;
  std::string body = "Received: x\nSubject: hi\n\n" + std::string(200000, 'a') + "\n";
  ASSERT_TRUE(s->write(body.substr(0, 10)));
  ASSERT_TRUE(s->write(body.substr(10)));
  std::string qid = s->qid();
  auto env = sample();
  ASSERT_TRUE(s->commit(env));
  EXPECT_EQ(testutil::read_file(q::data_path(t.path(), qid)), body);
  auto r = q::read_control(q::control_path(t.path(), qid));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->qid, qid);
  EXPECT_EQ(r->size, body.size());
  EXPECT_EQ(r->sender, "alice@example.test");
  EXPECT_EQ(*r->auth_user, "alice");
  EXPECT_EQ(r->client, env.client);
  EXPECT_EQ(r->protocol, "ESMTPS");
  EXPECT_EQ(r->body, "8BITMIME");
  EXPECT_EQ(*r->envid, "abc");
  EXPECT_EQ(*r->ret, "HDRS");
  ASSERT_EQ(r->recipients.size(), 2u);
  EXPECT_EQ(r->recipients[0].orcpt, "rfc822;bob@example.test");
  EXPECT_EQ(r->recipients[0].notify, "SUCCESS,FAILURE");
  EXPECT_EQ(r->recipients[1].address, "carol@example.test");
  EXPECT_EQ(count_files(t / "tmp"), 0u);
  auto list = q::list_messages(t.path());
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0], qid);
}

TEST(Queue, NullSenderRoundTrips) {
  auto e = sample();
  e.qid = q::new_qid();
  e.sender = "";
  e.auth_user.reset();
  auto r = q::parse_control(q::format_control(e), "x.ctl");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->sender, "");
  EXPECT_FALSE(r->auth_user);
}

TEST(Queue, AppendedRecords) {
  TempDir t;
  ASSERT_TRUE(q::ensure_layout(t.path()));
  auto s = q::Submission::begin(t.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->write("x\n"));
  std::string qid = s->qid();
  ASSERT_TRUE(s->commit(sample()));
  std::string ctl = q::control_path(t.path(), qid);
  ASSERT_TRUE(q::append_records(ctl, q::deferral_record({1, 1700000100, "4.4.1", "connection\nrefused"}) +
                                         q::next_attempt_record(1700000400)));
  ASSERT_TRUE(q::append_records(ctl, q::final_record({0, 1700000200, q::FinalKind::delivered, "2.0.0", "ok"})));
  auto r = q::read_control(ctl);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->deferrals.size(), 1u);
  EXPECT_EQ(r->deferrals[0].text, "connection refused");
  EXPECT_EQ(*r->next_attempt, 1700000400);
  EXPECT_FALSE(r->all_final());
  ASSERT_TRUE(q::append_records(ctl, q::final_record({1, 1700000300, q::FinalKind::failed, "5.1.1", "no such user"}) +
                                         q::completed_record(1700000301)));
  r = q::read_control(ctl);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->all_final());
  EXPECT_EQ(r->final_for(1)->kind, q::FinalKind::failed);
  EXPECT_EQ(*r->completed, 1700000301);
  EXPECT_FALSE(q::append_records(ctl, "C 1"));  // not a whole line
}

TEST(Queue, TornFinalLineIgnored) {
  auto e = sample();
  e.qid = q::new_qid();
  std::string text = q::format_control(e) + "D 0\t17000";
  auto r = q::parse_control(text, "x.ctl");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->finals.empty());
}

TEST(Queue, UnknownRecordRefusedWithFileAndLine) {
  auto e = sample();
  e.qid = q::new_qid();
  std::string text = q::format_control(e) + "K what\n";
  auto r = q::parse_control(text, "/q/msgs/x.ctl");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/q/msgs/x.ctl:14:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("unknown record 'K'"), std::string::npos);
}

TEST(Queue, StrictParsing) {
  auto e = sample();
  e.qid = q::new_qid();
  std::string good = q::format_control(e);
  EXPECT_FALSE(q::parse_control("Q " + e.qid + "\n", "x"));                   // no V first
  EXPECT_FALSE(q::parse_control("V 2\n", "x"));                              // version
  EXPECT_FALSE(q::parse_control(good + "D 7\t1\tdelivered\t2.0.0\tok\n", "x"));  // no rcpt 7
  EXPECT_FALSE(q::parse_control(good + "D 0\t1\tlost\t2.0.0\tok\n", "x"));    // kind
  EXPECT_FALSE(q::parse_control(good + "X soon\n", "x"));
  EXPECT_FALSE(q::parse_control(good + "Xnospace\n", "x"));
  std::string no_rcpt = good.substr(0, good.find("R "));
  auto r = q::parse_control(no_rcpt, "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no recipient"), std::string::npos);
  EXPECT_FALSE(q::parse_control("", "x"));
}

TEST(Queue, BadEnvelopeNotCommitted) {
  TempDir t;
  ASSERT_TRUE(q::ensure_layout(t.path()));
  auto s = q::Submission::begin(t.path());
  ASSERT_TRUE(s);
  auto e = sample();
  e.recipients[0].address = "a\nb";
  EXPECT_FALSE(s->commit(e));
  EXPECT_EQ(count_files(t / "tmp"), 0u);
  EXPECT_EQ(count_files(t / "msgs"), 0u);
}

TEST(Queue, AbandonedSubmissionLeavesNothing) {
  TempDir t;
  ASSERT_TRUE(q::ensure_layout(t.path()));
  {
    auto s = q::Submission::begin(t.path());
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->write("partial"));
  }
  EXPECT_EQ(count_files(t / "tmp"), 0u);
  EXPECT_EQ(count_files(t / "msgs"), 0u);
}

// A process killed while writing (before commit) leaves only tmp/ files, never a
// committed message; a data file renamed without its control is not a message.
TEST(Queue, KillBetweenStepsLeavesNoCommittedHalf) {
  TempDir t;
  ASSERT_TRUE(q::ensure_layout(t.path()));
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = q::Submission::begin(t.path());
    if (!s) ::_exit(1);
    (void)s->write(std::string(300000, 'x'));
    ::kill(::getpid(), SIGKILL);
    ::_exit(2);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto list = q::list_messages(t.path());
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(count_files(t / "tmp"), 1u);  // the leftover courierd cleans after 36 h
  // The state between the two renames: data in msgs/ without control.
  std::string qid = q::new_qid();
  testutil::write_file(q::data_path(t.path(), qid), "x\n");
  list = q::list_messages(t.path());
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST(Queue, TriggerAndLock) {
  TempDir t;
  ASSERT_TRUE(q::ensure_layout(t.path()));
  EXPECT_EQ(q::poke_trigger(t.path()), q::PokeResult::not_running);  // no FIFO
  ASSERT_EQ(::mkfifo((t / "trigger").c_str(), 0620), 0);
  EXPECT_EQ(q::poke_trigger(t.path()), q::PokeResult::not_running);  // no reader
  int rfd = ::open((t / "trigger").c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(rfd, 0);
  EXPECT_EQ(q::poke_trigger(t.path()), q::PokeResult::poked);
  char c = 0;
  EXPECT_EQ(::read(rfd, &c, 1), 1);
  ::close(rfd);
  EXPECT_NE(q::not_running_message(t.path()).find("courierd is not running"), std::string::npos);

  EXPECT_FALSE(q::courierd_running(t.path()));
  testutil::write_file(t / "courierd.lock", "4242\n");
  EXPECT_FALSE(q::courierd_running(t.path()));
  int lfd = ::open((t / "courierd.lock").c_str(), O_RDWR);
  ASSERT_EQ(::flock(lfd, LOCK_EX), 0);
  long pid = 0;
  EXPECT_TRUE(q::courierd_running(t.path(), &pid));
  EXPECT_EQ(pid, 4242);
  ::close(lfd);
}
