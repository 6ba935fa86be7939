// tests/imapd/notify_test.cpp: NOTIFY's argument parser and filter matching
// (imapd/notify.hpp, RFC 5465).
#include "imapd/notify.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imapd {
namespace {

// Parses "NOTIFY <args>" as a command line would arrive.
NotifyParse parse(const std::string& args) {
  static std::string keep;  // the Values point into the command text
  keep = "t NOTIFY " + args;
  ParsedCommand c = parse_command(keep);
  EXPECT_TRUE(c.ok()) << c.error;
  return parse_notify(c.args);
}

TEST(NotifyParse, None) {
  auto p = parse("NONE");
  ASSERT_TRUE(p.request);
  EXPECT_TRUE(p.request->none);
}

TEST(NotifyParse, SetWithStatusAndFilters) {
  auto p = parse("SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) (subtree (INBOX.a \"INBOX.b c\") "
                 "(MessageNew MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange)) (inboxes NONE)");
  ASSERT_TRUE(p.request) << p.error;
  const auto& r = *p.request;
  EXPECT_TRUE(r.status);
  ASSERT_EQ(r.groups.size(), 4u);
  EXPECT_EQ(r.groups[0].kind, NotifyGroup::Kind::selected);
  EXPECT_EQ(r.groups[0].events, notify_event::message_new | notify_event::message_expunge);
  EXPECT_EQ(r.groups[0].fetch_atts, "(UID FLAGS)");
  EXPECT_EQ(r.groups[1].kind, NotifyGroup::Kind::subtree);
  ASSERT_EQ(r.groups[1].names.size(), 2u);
  EXPECT_EQ(r.groups[1].names[1], "INBOX.b c");
  EXPECT_EQ(r.groups[2].events, notify_event::mailbox_name | notify_event::subscription_change);
  EXPECT_EQ(r.groups[3].kind, NotifyGroup::Kind::inboxes);
  EXPECT_EQ(r.groups[3].events, 0u);
}

TEST(NotifyParse, SingleMailboxWithoutParentheses) {
  auto p = parse("SET (mailboxes INBOX.x (MessageExpunge))");
  ASSERT_TRUE(p.request) << p.error;
  ASSERT_EQ(p.request->groups.size(), 1u);
  EXPECT_EQ(p.request->groups[0].names, std::vector<std::string>{"INBOX.x"});
  EXPECT_FALSE(p.request->status);
}

TEST(NotifyParse, UnsupportedEventIsBadEvent) {
  auto p = parse("SET (selected (AnnotationChange))");
  EXPECT_FALSE(p.request);
  EXPECT_TRUE(p.bad_event);
  p = parse("SET (selected (MailboxName))");
  EXPECT_FALSE(p.request);
  EXPECT_TRUE(p.bad_event);
}

TEST(NotifyParse, SyntaxErrorsAreBad) {
  for (const char* bad : {"", "SET", "SET STATUS", "GET (selected (MessageNew))", "SET (selected)",
                          "SET (nowhere (MessageNew))", "SET (mailboxes (MessageNew))", "SET (selected MessageNew)",
                          "SET (selected ())", "SET (selected (MessageNew MessageNew))",
                          "SET (personal (MessageNew (UID)))", "SET (mailboxes () (MessageNew))", "NONE extra"}) {
    auto p = parse(bad);
    EXPECT_FALSE(p.request) << bad;
    EXPECT_FALSE(p.bad_event) << bad;
    EXPECT_FALSE(p.error.empty()) << bad;
  }
}

TEST(NotifyMatch, FirstFilterWins) {
  auto p = parse("SET (selected (MessageNew)) (mailboxes INBOX.a (FlagChange)) (subtree INBOX.a (MessageExpunge)) "
                 "(subscribed (MailboxName)) (inboxes (MessageNew))");
  ASSERT_TRUE(p.request) << p.error;
  const auto& r = *p.request;
  EXPECT_EQ(notify_events_for(r, "INBOX.a", false), notify_event::flag_change);
  EXPECT_EQ(notify_events_for(r, "INBOX.a.b", false), notify_event::message_expunge);
  EXPECT_EQ(notify_events_for(r, "INBOX.ab", false), 0u);  // not below INBOX.a
  EXPECT_EQ(notify_events_for(r, "INBOX.ab", true), notify_event::mailbox_name);
  EXPECT_EQ(notify_events_for(r, "INBOX", false), notify_event::message_new);
}

TEST(NotifyMatch, Subtree) {
  EXPECT_TRUE(notify_in_subtree("INBOX.a", "INBOX.a"));
  EXPECT_TRUE(notify_in_subtree("INBOX.a.b", "INBOX.a"));
  EXPECT_FALSE(notify_in_subtree("INBOX.ab", "INBOX.a"));
  EXPECT_FALSE(notify_in_subtree("INBOX", "INBOX.a"));
  EXPECT_TRUE(notify_in_subtree("INBOX.a", "INBOX"));
}

}  // namespace
}  // namespace imapd
