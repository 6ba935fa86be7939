// tests/imapd/thread_test.cpp: THREAD (imapd/thread.hpp): argument parsing,
// msg-id extraction, ORDEREDSUBJECT grouping and REFERENCES (RFC 5256 3:
// reference linking, loops, duplicate ids, dummy pruning, subject gathering,
// sibling order by sent date) and the thread-list syntax.
#include "imapd/thread.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace imapd {
namespace {

ThreadMessage msg(std::uint32_t seq, std::time_t date, std::string id, std::vector<std::string> refs,
                  std::string subject = "", bool reply = false) {
  ThreadMessage m;
  m.seq = m.number = seq;
  m.date = date;
  m.message_id = m.keep(std::move(id));
  for (auto& r : refs) m.references.push_back(m.keep(std::move(r)));
  m.subject = m.keep(std::move(subject));
  m.reply = reply;
  return m;
}

TEST(ParseThread, AlgorithmsAndErrors) {
  auto run = [](const std::string& args) {
    static std::string text;
    static ParsedCommand cmd;
    text = "t THREAD " + args;
    cmd = parse_command(text);
    return parse_thread(cmd.args);
  };
  auto r = run("REFERENCES UTF-8 ALL");
  ASSERT_TRUE(r.program) << r.error;
  EXPECT_EQ(r.program->algorithm, ThreadAlgorithm::references);
  r = run("orderedsubject us-ascii SEEN");
  ASSERT_TRUE(r.program) << r.error;
  EXPECT_EQ(r.program->algorithm, ThreadAlgorithm::orderedsubject);
  EXPECT_FALSE(run("REFS UTF-8 ALL").program);
  EXPECT_FALSE(run("REFERENCES UTF-8").program);
  EXPECT_FALSE(run("REFERENCES ALL").program);
  EXPECT_TRUE(run("REFERENCES KOI8-R ALL").bad_charset);
}

TEST(MsgIds, Extraction) {
  EXPECT_EQ(parse_msg_ids("<a@b> <c@d>\r\n\t<e@f>"), (std::vector<std::string>{"a@b", "c@d", "e@f"}));
  EXPECT_EQ(parse_msg_ids("(comment) <a@b> junk <nohost> <x\r\n @y>"), (std::vector<std::string>{"a@b", "x@y"}));
  EXPECT_TRUE(parse_msg_ids("none here").empty());
}

TEST(FillThreadMessage, FromHeader) {
  std::string text = "Message-ID: <m@x>\r\nIn-Reply-To: <p@x> (sent by)\r\nSubject: Re: Plans\r\n"
                     "Date: Thu, 01 Jan 1970 00:01:00 +0000\r\n\r\n";
  auto h = lib::rfc5322::parse_header(text);
  ThreadMessage m;
  m.date = 999;
  fill_thread_message(m, h);
  EXPECT_EQ(m.message_id, "m@x");
  EXPECT_EQ(m.references, (std::vector<std::string_view>{"p@x"}));
  EXPECT_EQ(m.subject, "PLANS");
  EXPECT_TRUE(m.reply);
  EXPECT_EQ(m.date, 60);
  std::string text2 = "References: <a@x> <b@x>\r\nIn-Reply-To: <c@x>\r\n\r\n";
  auto h2 = lib::rfc5322::parse_header(text2);
  ThreadMessage m2;
  m2.date = 999;
  fill_thread_message(m2, h2);
  EXPECT_EQ(m2.references, (std::vector<std::string_view>{"a@x", "b@x"}));
  EXPECT_EQ(m2.date, 999);
}

TEST(OrderedSubject, GroupsBySubjectAndOrdersByDate) {
  std::vector<ThreadMessage> v = {
      msg(1, 10, "", {}, "A"), msg(2, 5, "", {}, "B"), msg(3, 30, "", {}, "A"),
      msg(4, 20, "", {}, "A"), msg(5, 40, "", {}, "C"), msg(6, 50, "", {}, "C"),
  };
  EXPECT_EQ(thread_orderedsubject(v), "(2)(1 (4)(3))(5 6)");
  EXPECT_EQ(thread_orderedsubject({}), "");
}

TEST(References, ChainAndSiblings) {
  std::vector<ThreadMessage> v = {
      msg(1, 1, "a@x", {}), msg(2, 2, "b@x", {"a@x"}), msg(3, 3, "c@x", {"a@x", "b@x"}),
      msg(4, 4, "d@x", {"a@x"}), msg(5, 0, "e@x", {}),
  };
  EXPECT_EQ(thread_references(v), "(5)(1 (2 3)(4))");
}

TEST(References, LoopIsBrokenAsDovecotDoes) {
  // imaptest's "thread": a; b refers to a and c; c refers to b.
  std::vector<ThreadMessage> v = {
      msg(1, 3, "a@b", {}), msg(2, 1, "b@b", {"a@b", "c@b"}), msg(3, 2, "c@b", {"b@b"}),
  };
  EXPECT_EQ(thread_references(v), "(3 2)(1)");
  std::vector<ThreadMessage> w = {msg(1, 1, "b@b", {"a@b", "c@b"}), msg(2, 2, "c@b", {"b@b"})};
  EXPECT_EQ(thread_references(w), "(2 1)");
}

TEST(References, MissingParentsBecomeDummies) {
  // Two replies to a message not in the mailbox: kept together under a dummy.
  std::vector<ThreadMessage> v = {msg(1, 1, "b@x", {"a@x"}), msg(2, 2, "c@x", {"a@x"})};
  EXPECT_EQ(thread_references(v), "((1)(2))");
  // One reply to a missing message: the dummy goes.
  EXPECT_EQ(thread_references({msg(1, 1, "b@x", {"a@x"})}), "(1)");
}

TEST(References, DuplicateIdsAndSelfReference) {
  std::vector<ThreadMessage> v = {msg(1, 1, "a@x", {}), msg(2, 2, "a@x", {}), msg(3, 3, "c@x", {"c@x"})};
  EXPECT_EQ(thread_references(v), "(1)(2)(3)");
}

TEST(References, GathersBySubject) {
  // No references, same base subject: the reply goes under the original.
  std::vector<ThreadMessage> v = {msg(1, 1, "a@x", {}, "PLAN"), msg(2, 2, "b@x", {}, "PLAN", true),
                                  msg(3, 3, "c@x", {}, "OTHER")};
  EXPECT_EQ(thread_references(v), "(1 2)(3)");
  // Two originals with one subject: siblings under a new dummy.
  std::vector<ThreadMessage> w = {msg(1, 1, "a@x", {}, "PLAN"), msg(2, 2, "b@x", {}, "PLAN")};
  EXPECT_EQ(thread_references(w), "((1)(2))");
  // Empty subjects are never gathered.
  std::vector<ThreadMessage> e = {msg(1, 1, "a@x", {}, ""), msg(2, 2, "b@x", {}, "", true)};
  EXPECT_EQ(thread_references(e), "(1)(2)");
}

}  // namespace
}  // namespace imapd
