// tests/maildrop/delivery_test.cpp: spooling, Maildir delivery with quota
// and warnings, concurrent writers, mbox locking, classification, forwards.
#include "maildrop/delivery.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/maildir_quota.hpp"
#include "tests/maildrop/test_support.hpp"

namespace maildrop {
namespace {

using test::TempDir;

TEST(Spool, AddsReturnPathAndHeadersAndDropsOldReturnPath) {
  TempDir d;
  Message m = test::spool_text(d, "From sender@x Mon Jan  1 00:00:00 2026\nReturn-Path: <forged@x>\n continued\nSubject: s\n\nbody\n",
                               "Return-Path: <real@x>", {"Delivered-To: bob@example.test"});
  std::string out(m.size(), '\0');
  ASSERT_EQ(::pread(m.fd(), out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  EXPECT_EQ(out, "Return-Path: <real@x>\nDelivered-To: bob@example.test\nSubject: s\n\nbody\n");
  EXPECT_EQ(m.forward_offset(), std::string("Return-Path: <real@x>\n").size());
  ASSERT_EQ(m.headers().size(), 3u);
  EXPECT_EQ(m.headers()[2], "Subject: s");
  EXPECT_EQ(m.lines(), 5u);
}

TEST(Spool, MessageWithoutBodyOrSeparator) {
  TempDir d;
  Message m = test::spool_text(d, "Subject: only\n");
  EXPECT_EQ(m.headers().size(), 1u);
  int n = 0;
  ASSERT_TRUE(m.for_each_body_line([&](std::string_view) { return ++n, true; }).ok());
  EXPECT_EQ(n, 0);
}

TEST(Spool, CrlfSeparatorAndOversizedHeader) {
  TempDir d;
  Message crlf = test::spool_text(d, "Subject: a\r\nX: b\r\n\r\nbody\r\n");
  ASSERT_EQ(crlf.headers().size(), 2u);
  EXPECT_EQ(crlf.headers()[1], "X: b");
  std::vector<std::string> lines;
  ASSERT_TRUE(crlf.for_each_body_line([&](std::string_view l) { return lines.emplace_back(l), true; }).ok());
  EXPECT_EQ(lines, std::vector<std::string>{"body"});
  // A "header" of 2 MB without a blank line: parsing stops at the limit and
  // everything is kept byte for byte.
  std::string huge = "Subject: x\n" + std::string(2 * 1024 * 1024, 'h') + "\n";
  Message big = test::spool_text(d, huge);
  EXPECT_EQ(big.size(), huge.size());
  std::string back(big.size(), '\0');
  ASSERT_EQ(::pread(big.fd(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, huge);
}

TEST(Spool, LargeMessageIsStreamed) {
  TempDir d;
  std::string body;
  for (int i = 0; i < 200000; ++i) body += "line " + std::to_string(i) + " of a large message\n";
  Message m = test::spool_text(d, "Subject: big\n\n" + body);
  EXPECT_EQ(m.size(), 14 + body.size());
  std::uint64_t lines = 0;
  ASSERT_TRUE(m.for_each_body_line([&](std::string_view) { return ++lines, true; }).ok());
  EXPECT_EQ(lines, 200000u);
}

TEST(Classify, Targets) {
  TempDir d;
  ASSERT_TRUE(lib::maildir::create_maildir(d.str("md")).ok());
  EXPECT_EQ(classify_target("|cat"), TargetKind::program);
  EXPECT_EQ(classify_target("!a@b"), TargetKind::forward);
  EXPECT_EQ(classify_target(d.str("md")), TargetKind::maildir);
  EXPECT_EQ(classify_target(d.str("nothing/")), TargetKind::maildir);
  EXPECT_EQ(classify_target(d.str("mbox")), TargetKind::mbox);
  // a missing folder of a maildir is a maildir (an error later), never an mbox
  EXPECT_EQ(classify_target(d.str("md/.Missing")), TargetKind::maildir);
  Message m = test::spool_text(d, "Subject: x\n\nx\n");
  auto r = deliver_to(m, d.str("md/.Missing"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("maildirmake -f Missing " + d.str("md")), std::string::npos) << r.error().message;
}

TEST(MaildirDelivery, ByteExact) {
  TempDir d;
  ASSERT_TRUE(lib::maildir::create_maildir(d.str("md")).ok());
  std::string text = "Subject: x\r\n\r\n8bit \xe9\xff body\r\nno final newline";
  Message m = test::spool_text(d, text);
  auto r = deliver_maildir(m, d.str("md"), {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(test::only_message(d.str("md")), text);
}

TEST(MaildirDelivery, MissingPartsAndPermissionsAreExplained) {
  TempDir d;
  Message m = test::spool_text(d, "Subject: x\n\nbody\n");
  auto r = deliver_maildir(m, d.str("none"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find("create it: maildirmake " + d.str("none")), std::string::npos);
  ASSERT_TRUE(lib::maildir::create_maildir(d.str("md")).ok());
  std::filesystem::remove(d.path / "md" / "tmp");
  r = deliver_maildir(m, d.str("md"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("has no tmp/"), std::string::npos);
  if (::geteuid() != 0) {
    ASSERT_TRUE(lib::maildir::create_maildir(d.str("ro")).ok());
    ::chmod(d.str("ro/new").c_str(), 0500);
    r = deliver_maildir(m, d.str("ro"), {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not writable"), std::string::npos);
    ::chmod(d.str("ro/new").c_str(), 0700);
  }
}

TEST(MaildirDelivery, QuotaBoundaryAndWarningOncePerDay) {
  TempDir d;
  std::string md = d.str("md");
  ASSERT_TRUE(lib::maildir::create_maildir(md).ok());
  std::string text = "Subject: q\n\n" + std::string(88, 'x') + "\n";  // 101 bytes
  ASSERT_EQ(text.size(), 101u);
  ASSERT_TRUE(lib::maildir::set_quota(md, *lib::maildir::parse_quota_spec("303S")).ok());
  DeliveryContext ctx;
  ctx.warn_percent = 60;
  Message m = test::spool_text(d, text);
  ASSERT_TRUE(deliver_maildir(m, md, ctx).ok());  // 101 = 33%
  EXPECT_EQ(test::count_messages(md), 1);
  ASSERT_TRUE(deliver_maildir(m, md, ctx).ok());  // 202 = 66%: warning delivered too
  EXPECT_EQ(test::count_messages(md), 3);
  struct stat st;
  EXPECT_EQ(::stat((md + "/quotawarn").c_str(), &st), 0);
  // Exactly at the limit (303 of 303 bytes) is allowed; no second warning the same day.
  ASSERT_TRUE(deliver_maildir(m, md, ctx).ok());
  EXPECT_EQ(test::count_messages(md), 4);
  auto r = deliver_maildir(m, md, ctx);  // 404 > 303
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find("over its quota"), std::string::npos);
  EXPECT_EQ(test::count_messages(md), 4);
}

TEST(MaildirDelivery, QuotaFromContextCreatesMaildirsize) {
  TempDir d;
  std::string md = d.str("md");
  ASSERT_TRUE(lib::maildir::create_maildir(md).ok());
  DeliveryContext ctx;
  ctx.quota = *lib::maildir::parse_quota_spec("1C");
  Message m = test::spool_text(d, "Subject: q\n\nx\n");
  ASSERT_TRUE(deliver_maildir(m, md, ctx).ok());
  EXPECT_FALSE(deliver_maildir(m, md, ctx).ok());
  EXPECT_EQ(test::read_file(md + "/maildirsize").substr(0, 3), "1C\n");
}

TEST(MaildirDelivery, ConcurrentWritersLoseNothing) {
  TempDir d;
  std::string md = d.str("md");
  ASSERT_TRUE(lib::maildir::create_maildir(md).ok());
  constexpr int writers = 8, each = 10;
  std::vector<pid_t> pids;
  for (int w = 0; w < writers; ++w) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (int i = 0; i < each; ++i) {
        TempDir own;
        Message m = test::spool_text(own, "Subject: " + std::to_string(w) + "-" + std::to_string(i) + "\n\nx\n");
        if (!deliver_maildir(m, md, {}).ok()) ::_exit(1);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t p : pids) {
    int st = 0;
    ::waitpid(p, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  EXPECT_EQ(test::count_messages(md), writers * each);
}

TEST(MboxDelivery, AppendsWithLocksAndNoCreateWhenRefused) {
  TempDir d;
  Message m = test::spool_text(d, "Subject: a\n\nFrom me\n>From you\nend");
  DeliveryContext ctx;
  ctx.sender = "s@x";
  EXPECT_FALSE(deliver_mbox(m, d.str("box"), ctx, false).ok());
  ASSERT_TRUE(deliver_mbox(m, d.str("box"), ctx, true).ok());
  ASSERT_TRUE(deliver_mbox(m, d.str("box"), ctx, false).ok());
  std::string box = test::read_file(d.str("box"));
  EXPECT_EQ(box.rfind("From s@x ", 0), 0u);
  EXPECT_NE(box.find("\n>From me\n>>From you\nend\n\nFrom s@x "), std::string::npos);
  struct stat st;
  EXPECT_NE(::stat(d.str("box.lock").c_str(), &st), 0);
  EXPECT_EQ(::stat(d.str("box").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(MboxDelivery, HeldDotLockTimesOut) {
  TempDir d;
  test::write_file(d.str("box.lock"), "1\n");
  Message m = test::spool_text(d, "Subject: a\n\nx\n");
  DeliveryContext ctx;
  ctx.lock_timeout = std::chrono::seconds(1);
  auto r = deliver_mbox(m, d.str("box"), ctx, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("still held"), std::string::npos);
}

TEST(Forward, MissingSendmailIsExplained) {
  TempDir d;
  Message m = test::spool_text(d, "Subject: a\n\nx\n");
  DeliveryContext ctx;
  ctx.sendmail = d.str("no-sendmail");
  auto r = deliver_forward(m, {"a@b.test"}, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message.find("no sendmail program at " + d.str("no-sendmail")), std::string::npos);
}

TEST(Forward, SendmailGetsSenderRecipientsAndMessageWithoutReturnPath) {
  TempDir d;
  std::string fake = d.str("sendmail");
  test::write_file(fake, "#!/bin/sh\necho \"$@\" > " + d.str("args") + "\ncat > " + d.str("msg") + "\n");
  ::chmod(fake.c_str(), 0755);
  Message m = test::spool_text(d, "Subject: a\n\nx\n", "Return-Path: <s@x>", {"Delivered-To: u@y"});
  DeliveryContext ctx;
  ctx.sendmail = fake;
  ctx.sender = "s@x";
  auto r = deliver_to(m, "!a@b.test, c@d.test", ctx);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(test::read_file(d.str("args")), "-f s@x -- a@b.test c@d.test\n");
  EXPECT_EQ(test::read_file(d.str("msg")), "Delivered-To: u@y\nSubject: a\n\nx\n");
}

TEST(Programs, PermanentExitCodes) {
  EXPECT_TRUE(permanent_exit_code(67));
  EXPECT_TRUE(permanent_exit_code(70));
  EXPECT_FALSE(permanent_exit_code(75));
  EXPECT_FALSE(permanent_exit_code(1));
  TempDir d;
  Message m = test::spool_text(d, "Subject: a\n\nx\n");
  auto r = deliver_program(m, "exit 67", {});
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().temporary());
  r = deliver_program(m, "exit 1", {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary());
}

}  // namespace
}  // namespace maildrop
