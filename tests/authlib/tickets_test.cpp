// tests/authlib/tickets_test.cpp: the login ticket table (authlib/tickets.hpp)
// and authdaemond's REDEEM answers (authlib/daemon_tickets.hpp).
#include "authlib/tickets.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authlib/daemon_tickets.hpp"

namespace {

using authlib::TicketTable;
using Refusal = TicketTable::Refusal;

const std::string account = "UID=1000\nGID=1000\nHOME=/home/alice\n.\n";

TicketTable make_table() {
  auto t = TicketTable::create();
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return std::move(*t);
}

TEST(Tickets, IssuedTicketIsRedeemedOnceForItsService) {
  auto table = make_table();
  auto ticket = table.issue("imap", "alice@example.test", account);
  ASSERT_TRUE(ticket);
  EXPECT_EQ(ticket->size(), 64u);
  auto r = table.redeem("imap", *ticket);
  EXPECT_EQ(r.refusal, Refusal::none);
  EXPECT_EQ(r.login, "alice@example.test");
  EXPECT_EQ(r.account_reply, account);
  EXPECT_EQ(table.redeem("imap", *ticket).refusal, Refusal::replayed);
}

TEST(Tickets, TwoTicketsDiffer) {
  auto table = make_table();
  auto a = table.issue("imap", "a", account), b = table.issue("imap", "a", account);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(Tickets, ForgedMalformedExpiredAndWrongServiceAreRefused) {
  auto table = make_table();
  auto ticket = table.issue("imap", "alice", account);
  ASSERT_TRUE(ticket);
  std::string forged = *ticket;
  forged[10] = forged[10] == '0' ? '1' : '0';
  EXPECT_EQ(table.redeem("imap", forged).refusal, Refusal::unknown);
  EXPECT_EQ(table.redeem("imap", "xyz").refusal, Refusal::malformed);
  EXPECT_EQ(table.redeem("imap", std::string(64, 'G')).refusal, Refusal::malformed);

  auto other = table.issue("pop3", "alice", account);
  ASSERT_TRUE(other);
  auto wrong = table.redeem("imap", *other);
  EXPECT_EQ(wrong.refusal, Refusal::wrong_service);
  EXPECT_EQ(wrong.issued_for, "pop3");
  EXPECT_TRUE(wrong.account_reply.empty());
  // Used up: not good for pop3 afterwards either.
  EXPECT_EQ(table.redeem("pop3", *other).refusal, Refusal::replayed);

  table.advance_clock_for_tests(TicketTable::ticket_lifetime + std::chrono::milliseconds(1));
  EXPECT_EQ(table.redeem("imap", *ticket).refusal, Refusal::expired);
}

TEST(Tickets, RedeemedByAnotherProcessOnlyOnce) {
  // The table is shared by authdaemond's workers: a ticket issued here is
  // redeemed in a forked child, and then is gone here too.
  auto table = make_table();
  auto ticket = table.issue("pop3", "bob", account);
  ASSERT_TRUE(ticket);
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(table.redeem("pop3", *ticket).refusal == Refusal::none ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(table.redeem("pop3", *ticket).refusal, Refusal::replayed);
}

TEST(Tickets, ExpiredPlacesAreReusedAndAFullTableSaysSo) {
  auto table = make_table();
  for (size_t i = 0; i < TicketTable::max_entries; ++i) ASSERT_TRUE(table.issue("imap", "a", account));
  auto full = table.issue("imap", "a", account);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("live tickets"), std::string::npos);
  table.advance_clock_for_tests(TicketTable::ticket_lifetime + std::chrono::milliseconds(1));
  EXPECT_TRUE(table.issue("imap", "a", account));
}

// Logins faster than max_entries per ticket_lifetime (bench/access measured
// a hard stop at 512 per 10 s): redeemed tickets give their places up, and a
// replay of a ticket whose place was reused is still refused.
TEST(Tickets, RedeemedPlacesAreReusedBeforeTheyExpire) {
  auto table = make_table();
  std::string first;
  for (size_t round = 0; round < 3; ++round)
    for (size_t i = 0; i < TicketTable::max_entries; ++i) {
      auto t = table.issue("imap", "a", account);
      ASSERT_TRUE(t) << "round " << round << ", ticket " << i << ": " << t.error().message;
      if (first.empty()) first = *t;
      ASSERT_EQ(table.redeem("imap", *t).refusal, Refusal::none);
    }
  const auto again = table.redeem("imap", first).refusal;
  EXPECT_TRUE(again == Refusal::unknown || again == Refusal::replayed);
  // Unredeemed live tickets still fill the table: that is the limit that stays.
  for (size_t i = 0; i < TicketTable::max_entries; ++i) ASSERT_TRUE(table.issue("imap", "a", account));
  EXPECT_FALSE(table.issue("imap", "a", account));
}

TEST(Tickets, OversizedFieldsAreNotIssued) {
  auto table = make_table();
  EXPECT_FALSE(table.issue("imap", std::string(TicketTable::max_login_bytes + 1, 'a'), account));
  EXPECT_FALSE(table.issue("imap", "a", std::string(TicketTable::max_account_bytes + 1, 'a')));
  EXPECT_FALSE(table.issue("", "a", account));
}

TEST(Tickets, LogPrefixNeverShowsTheWholeTicket) {
  std::string t(64, 'a');
  EXPECT_EQ(TicketTable::log_prefix(t), "aaaaaaaa...");
  EXPECT_EQ(TicketTable::log_prefix("zz\n"), "???...");
}

TEST(DaemonTickets, AttachAndRedeem) {
  auto table = make_table();
  authlib::ChainReply reply;
  reply.outcome = authlib::Outcome::ok;
  reply.reply = account;
  authlib::attach_ticket(table, reply, "imap", "alice");
  auto pos = reply.reply.find("TICKET=");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_TRUE(reply.reply.ends_with("\n.\n"));
  std::string ticket = reply.reply.substr(pos + 7, 64);
  EXPECT_EQ(reply.summary.find(ticket), std::string::npos);  // the log shows only the first digits

  // Only root (or authdaemond's own uid when it is not root) may redeem.
  uid_t other = ::geteuid() == 0 ? 1 : ::geteuid() + 1;
  auto refused = authlib::redeem_ticket(table, {"imap", ticket}, other, 42);
  EXPECT_EQ(refused.reply, "FAIL\n");
  EXPECT_NE(refused.summary.find("only root"), std::string::npos);

  auto ok = authlib::redeem_ticket(table, {"imap", ticket}, ::geteuid(), 42);
  EXPECT_EQ(ok.outcome, authlib::Outcome::ok);
  EXPECT_EQ(ok.reply, "LOGIN=alice\n" + account);
  auto again = authlib::redeem_ticket(table, {"imap", ticket}, ::geteuid(), 42);
  EXPECT_EQ(again.reply, "FAIL\n");
  EXPECT_NE(again.summary.find("replayed"), std::string::npos);
  EXPECT_EQ(again.summary.find(ticket), std::string::npos);
}

TEST(DaemonTickets, NoTicketForAFailure) {
  auto table = make_table();
  authlib::ChainReply reply;
  reply.outcome = authlib::Outcome::rejected;
  reply.reply = "FAIL\n";
  authlib::attach_ticket(table, reply, "imap", "alice");
  EXPECT_EQ(reply.reply, "FAIL\n");
}

}  // namespace
