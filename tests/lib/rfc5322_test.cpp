// tests/lib/rfc5322_test.cpp: header blocks, addresses and dates (lib/rfc5322.hpp),
// with well-formed, obsolete, malformed, oversized and hostile input.
#include "lib/rfc5322.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace {

using lib::rfc5322::Address;
using lib::rfc5322::DiagnosticKind;
using lib::rfc5322::Header;
using lib::rfc5322::HeaderOptions;
using lib::rfc5322::LineEnding;
using lib::rfc5322::parse_address_list;
using lib::rfc5322::parse_date;
using lib::rfc5322::parse_header;

std::vector<DiagnosticKind> kinds(const Header& h) {
  std::vector<DiagnosticKind> out;
  for (const auto& d : h.diagnostics) out.push_back(d.kind);
  return out;
}

// ---------------------------------------------------------------------------
// Header blocks
// ---------------------------------------------------------------------------

struct HeaderCase {
  const char* label;
  std::string input;
  std::vector<std::pair<std::string, std::string>> fields;  // name, unfolded value
  std::size_t body_start;
  LineEnding line_ending;
  bool has_separator;
  std::vector<DiagnosticKind> diagnostics;
};

TEST(Rfc5322Header, Table) {
  using K = DiagnosticKind;
  const std::vector<HeaderCase> cases = {
      {"crlf", "From: a@b\r\nSubject: hi\r\n\r\nbody\r\n", {{"From", "a@b"}, {"Subject", "hi"}}, 26,
       LineEnding::crlf, true, {}},
      {"lf", "From: a@b\nSubject: hi\n\nbody\n", {{"From", "a@b"}, {"Subject", "hi"}}, 23, LineEnding::lf, true, {}},
      {"folded", "Subject: a\r\n  b\r\n\tc\r\nX: y\r\n\r\n", {{"Subject", "a  b\tc"}, {"X", "y"}}, 29,
       LineEnding::crlf, true, {}},
      {"no body, no separator", "A: 1\nB: 2", {{"A", "1"}, {"B", "2"}}, 9, LineEnding::lf, false, {}},
      {"empty message", "", {}, 0, LineEnding::none, false, {}},
      {"blank first line", "\r\nbody", {}, 2, LineEnding::crlf, true, {}},
      {"body only", "hello world\nmore\n", {}, 0, LineEnding::none, false, {K::malformed_field}},
      {"continuation first", " folded\nA: b\n\n", {}, 0, LineEnding::none, false, {K::malformed_field}},
      {"space before colon", "Subject : x\n\n", {{"Subject", "x"}}, 13, LineEnding::lf, true, {}},
      {"malformed line skipped", "A: 1\nthis is junk\n cont of junk\nB: 2\n\n", {{"A", "1"}, {"B", "2"}}, 38,
       LineEnding::lf, true, {K::malformed_field}},
      {"empty value", "X-Empty:\nY:z\n\n", {{"X-Empty", ""}, {"Y", "z"}}, 14, LineEnding::lf, true, {}},
      {"colon in value", "Date: 12:34:56\n\n", {{"Date", "12:34:56"}}, 16, LineEnding::lf, true, {}},
      {"white space only continuation", "A: 1\n \nB: 2\n\n", {{"A", "1"}, {"B", "2"}}, 13, LineEnding::lf, true, {}},
      {"8-bit", "Subject: caf\xc3\xa9\n\n", {{"Subject", "caf\xc3\xa9"}}, 16, LineEnding::lf, true,
       {K::eight_bit_in_headers}},
      {"bare lf in crlf", "A: 1\r\nB: 2\nC: 3\r\n\r\n", {{"A", "1"}, {"B", "2"}, {"C", "3"}}, 19,
       LineEnding::crlf, true, {K::bare_lf}},
      {"crlf in lf", "A: 1\nB: 2\r\n\n", {{"A", "1"}, {"B", "2"}}, 12, LineEnding::lf, true,
       {K::mixed_line_endings}},
      {"nul", std::string("A: x\0y\n\n", 8), {{"A", std::string("x\0y", 3)}}, 8, LineEnding::lf, true,
       {K::nul_byte}},
      {"bare cr", "A: x\ry\n\n", {{"A", "xy"}}, 8, LineEnding::lf, true, {K::bare_cr}},
      {"8-bit name", "S\xc3\xbc: x\nA: b\n\n", {}, 0, LineEnding::none, false, {K::malformed_field}},
      {"header ends at eof in continuation", "A: 1\n 2", {{"A", "1 2"}}, 7, LineEnding::lf, false, {}},
      {"mbox From_ line", "From a@b Mon Jan  2 15:04:05 2006\nA: b\n\n", {}, 0, LineEnding::none, false,
       {K::malformed_field}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const Header h = parse_header(c.input);
    ASSERT_EQ(h.fields.size(), c.fields.size());
    for (std::size_t i = 0; i < c.fields.size(); ++i) {
      EXPECT_EQ(h.fields[i].name, c.fields[i].first);
      EXPECT_EQ(h.fields[i].value(), c.fields[i].second);
    }
    EXPECT_EQ(h.body_start, c.body_start);
    EXPECT_EQ(h.line_ending, c.line_ending);
    EXPECT_EQ(h.has_separator, c.has_separator);
    EXPECT_EQ(kinds(h), c.diagnostics);
    EXPECT_LE(h.end, h.body_start);
    EXPECT_LE(h.body_start, c.input.size());
  }
}

TEST(Rfc5322Header, OffsetsAndRawValue) {
  const std::string msg = "Received: from x\r\n\tby y\r\nSubject: s\r\n\r\nbody";
  const Header h = parse_header(msg);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[0].offset, 0u);
  EXPECT_EQ(msg.substr(h.fields[0].offset, h.fields[0].size), "Received: from x\r\n\tby y\r\n");
  EXPECT_EQ(h.fields[0].raw_value, " from x\r\n\tby y");
  EXPECT_EQ(msg.substr(h.fields[1].offset, h.fields[1].size), "Subject: s\r\n");
  EXPECT_EQ(h.end, 37u);
  EXPECT_EQ(h.body_start, 39u);
  EXPECT_EQ(msg.substr(h.body_start), "body");
  EXPECT_EQ(h.lines, 4u);
}

TEST(Rfc5322Header, CaseInsensitiveLookup) {
  const Header h = parse_header("received: 1\nSUBJECT: s\nReceived: 2\nX-a: \n\n");
  ASSERT_NE(h.find("Subject"), nullptr);
  EXPECT_EQ(h.find("subject")->value(), "s");
  EXPECT_EQ(h.find("Missing"), nullptr);
  const auto all = h.find_all("RECEIVED");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]->value(), "1");
  EXPECT_EQ(all[1]->value(), "2");
  EXPECT_EQ(h.value("x-A"), std::optional<std::string>(""));
  EXPECT_EQ(h.value("nope"), std::nullopt);
  EXPECT_TRUE(h.fields[0].is("RECEIVED"));
}

TEST(Rfc5322Header, StartOffsetAndStopLine) {
  const std::string msg = "junk\nA: 1\nB: 2\n--stop\nC: 3\n\n";
  HeaderOptions o;
  o.start = 5;
  o.stop_before = [](std::string_view line) { return line == "--stop"; };
  const Header h = parse_header(msg, o);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_TRUE(h.stopped);
  EXPECT_FALSE(h.has_separator);
  EXPECT_EQ(h.start, 5u);
  EXPECT_EQ(h.body_start, msg.find("--stop"));
  EXPECT_EQ(h.lines, 2u);

  HeaderOptions past;
  past.start = msg.size() + 100;
  const Header e = parse_header(msg, past);
  EXPECT_TRUE(e.fields.empty());
  EXPECT_EQ(e.body_start, msg.size());
}

TEST(Rfc5322Header, TooManyFields) {
  std::string msg;
  for (int i = 0; i < 50; ++i) msg += "X-" + std::to_string(i) + ": v\n";
  msg += "\nbody";
  HeaderOptions o;
  o.limits.max_fields = 10;
  const Header h = parse_header(msg, o);
  EXPECT_EQ(h.fields.size(), 10u);
  EXPECT_EQ(kinds(h), std::vector<DiagnosticKind>{DiagnosticKind::too_many_fields});
  EXPECT_EQ(msg.substr(h.body_start), "body");
}

TEST(Rfc5322Header, FieldTooLargeIsDroppedNotCut) {
  std::string msg = "A: 1\nTo: a@b";
  for (int i = 0; i < 100; ++i) msg += ",\n x" + std::to_string(i) + "@example.com";
  msg += "\nB: 2\n\nbody";
  HeaderOptions o;
  o.limits.max_field_bytes = 200;
  const Header h = parse_header(msg, o);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[0].name, "A");
  EXPECT_EQ(h.fields[1].name, "B");
  EXPECT_EQ(kinds(h), std::vector<DiagnosticKind>{DiagnosticKind::field_too_large});
  EXPECT_EQ(msg.substr(h.body_start), "body");
}

TEST(Rfc5322Header, HeaderTooLargeStillFindsBody) {
  std::string msg;
  for (int i = 0; i < 1000; ++i) msg += "X-Filler: 0123456789012345678901234567890123456789\n";
  msg += "\nthe body";
  HeaderOptions o;
  o.limits.max_header_bytes = 4096;
  const Header h = parse_header(msg, o);
  EXPECT_LT(h.fields.size(), 100u);
  EXPECT_GT(h.fields.size(), 0u);
  std::size_t stored = 0;
  for (const auto& f : h.fields) stored = std::max(stored, f.offset + f.size);
  EXPECT_LE(stored, 4096u);
  EXPECT_EQ(kinds(h), std::vector<DiagnosticKind>{DiagnosticKind::header_too_large});
  EXPECT_EQ(msg.substr(h.body_start), "the body");
}

TEST(Rfc5322Header, MillionLineHeaderIsLinearAndBounded) {
  // One field folded over a million lines: must end, store nothing huge,
  // and still find the body.
  std::string msg = "Subject: x\n";
  msg.reserve(3'100'000);
  for (int i = 0; i < 1'000'000; ++i) msg += " y\n";
  msg += "\nbody";
  const Header h = parse_header(msg);
  EXPECT_TRUE(h.has(DiagnosticKind::field_too_large));
  EXPECT_TRUE(h.has(DiagnosticKind::header_too_large));
  EXPECT_TRUE(h.fields.empty());
  EXPECT_EQ(msg.substr(h.body_start), "body");
  EXPECT_EQ(h.lines, 1'000'002u);
}

TEST(Rfc5322Header, UnfoldAndHelpers) {
  EXPECT_EQ(lib::rfc5322::unfold("a\r\n b\n\tc"), "a b\tc");
  EXPECT_TRUE(lib::rfc5322::iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(lib::rfc5322::iequals("abc", "abd"));
  EXPECT_FALSE(lib::rfc5322::iequals("abc", "abcd"));
  EXPECT_EQ(lib::rfc5322::to_lower("MiXeD-1"), "mixed-1");
  EXPECT_EQ(lib::rfc5322::diagnostic_name(DiagnosticKind::bare_lf), "bare_lf");
  EXPECT_EQ(lib::rfc5322::diagnostic_name(DiagnosticKind::eight_bit_undeclared), "eight_bit_undeclared");
}

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

struct Addr {
  char kind;  // 'm' mailbox, '[' group start, ']' group end
  std::string name, route, mailbox, host;
  bool operator==(const Addr&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Addr& a) {
  return os << a.kind << "{" << a.name << "|" << a.route << "|" << a.mailbox << "|" << a.host << "}";
}

std::vector<Addr> simplify(const lib::rfc5322::AddressList& list) {
  std::vector<Addr> out;
  for (const Address& a : list.addresses) {
    const char k = a.kind == Address::Kind::mailbox ? 'm' : a.kind == Address::Kind::group_start ? '[' : ']';
    out.push_back(Addr{k, a.name, a.route, a.mailbox, a.host});
  }
  return out;
}

struct AddressCase {
  const char* label;
  std::string input;
  std::vector<Addr> expected;
  bool malformed;
};

TEST(Rfc5322Address, Table) {
  const std::vector<AddressCase> cases = {
      {"addr-spec", "user@example.com", {{'m', "", "", "user", "example.com"}}, false},
      {"name-addr", "John Doe <john@example.com>", {{'m', "John Doe", "", "john", "example.com"}}, false},
      {"quoted name with comma", "\"Doe, John\" <john@example.com>", {{'m', "Doe, John", "", "john", "example.com"}},
       false},
      {"escaped quote in name", "\"J \\\"JD\\\" D\" <j@x>", {{'m', "J \"JD\" D", "", "j", "x"}}, false},
      {"comment as name", "john@example.com (John Doe)", {{'m', "John Doe", "", "john", "example.com"}}, false},
      {"two", "a@b.example, c@d.example", {{'m', "", "", "a", "b.example"}, {'m', "", "", "c", "d.example"}}, false},
      {"undisclosed", "undisclosed-recipients:;", {{'[', "undisclosed-recipients", "", "", ""}, {']', "", "", "", ""}},
       false},
      {"group with members", "Friends: a@b, \"C D\" <c@d>;, e@f",
       {{'[', "Friends", "", "", ""},
        {'m', "", "", "a", "b"},
        {'m', "C D", "", "c", "d"},
        {']', "", "", "", ""},
        {'m', "", "", "e", "f"}},
       false},
      {"quoted group name", "\"My Group\": a@b;", {{'[', "My Group", "", "", ""}, {'m', "", "", "a", "b"}, {']', "", "", "", ""}},
       false},
      {"group without semicolon", "team: a@b", {{'[', "team", "", "", ""}, {'m', "", "", "a", "b"}, {']', "", "", "", ""}},
       true},
      {"obsolete route", "<@relay1.example,@relay2.example:user@example.com>",
       {{'m', "", "@relay1.example,@relay2.example", "user", "example.com"}}, false},
      {"quoted local part", "\"john doe\"@example.com", {{'m', "", "", "john doe", "example.com"}}, false},
      {"domain literal", "user@[192.0.2.1]", {{'m', "", "", "user", "[192.0.2.1]"}}, false},
      {"encoded word with comma", "=?utf-8?q?Doe,_John?= <j@x>, k@y",
       {{'m', "=?utf-8?q?Doe,_John?=", "", "j", "x"}, {'m', "", "", "k", "y"}}, false},
      {"two encoded words", "=?utf-8?q?a?= =?utf-8?q?b?= <j@x>", {{'m', "=?utf-8?q?a?= =?utf-8?q?b?=", "", "j", "x"}},
       false},
      {"missing >", "John <john@example.com", {{'m', "John", "", "john", "example.com"}}, true},
      {"missing > before next", "John <a@b, Jane <c@d>", {{'m', "John", "", "a", "b"}, {'m', "Jane", "", "c", "d"}},
       true},
      {"unbalanced quote", "\"John <john@example.com>", {{'m', "John", "", "john", "example.com"}}, true},
      {"unbalanced quote then more", "a@b, \"John <john@example.com>",
       {{'m', "", "", "a", "b"}, {'m', "John", "", "john", "example.com"}}, true},
      {"trailing and double commas", "a@b,,, c@d,", {{'m', "", "", "a", "b"}, {'m', "", "", "c", "d"}}, false},
      {"unqualified", "root", {{'m', "", "", "root", ""}}, false},
      {"name without brackets", "John Smith john@example.com", {{'m', "John Smith", "", "john", "example.com"}}, true},
      {"obs-phrase with dot", "John Q. Public <jqp@example.com>", {{'m', "John Q. Public", "", "jqp", "example.com"}},
       false},
      {"utf-8", "J\xc3\xb6hn <j\xc3\xb6hn@ex\xc3\xa4mple.com>", {{'m', "J\xc3\xb6hn", "", "j\xc3\xb6hn", "ex\xc3\xa4mple.com"}},
       false},
      {"empty", "", {}, false},
      {"only commas", " , ,", {}, false},
      {"nested comments", "a@b (x (y) z)", {{'m', "x (y) z", "", "a", "b"}}, false},
      {"null address", "<>", {}, false},
      {"name with null address", "Name <>", {{'m', "Name", "", "", ""}}, false},
      {"spaces around dots", "john . smith @ example . com", {{'m', "", "", "john.smith", "example.com"}}, false},
      {"comment inside", "john(c)@example(d).com", {{'m', "c", "", "john", "example.com"}}, false},
      {"folded", "A <a@b>,\r\n B <c@d>", {{'m', "A", "", "a", "b"}, {'m', "B", "", "c", "d"}}, false},
      {"unterminated comment", "a@b (oops", {{'m', "oops", "", "a", "b"}}, true},
      {"unterminated literal", "a@[1.2.3", {{'m', "", "", "a", "[1.2.3]"}}, true},
      {"junk after >", "A <a@b> junk, c@d", {{'m', "A", "", "a", "b"}, {'m', "", "", "c", "d"}}, true},
      {"two @", "a@b@c", {{'m', "a@", "", "b", "c"}}, true},
      {"lone semicolon", ";", {}, true},
      {"brackets only", "<<<>>>", {}, true},
      {"only a comment", "(nobody)", {}, false},
      // RFC 5322 Appendix A.
      {"A.1.2", "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
       {{'m', "Mary Smith", "", "mary", "x.test"}, {'m', "", "", "jdoe", "example.org"}, {'m', "Who?", "", "one", "y.test"}},
       false},
      {"A.1.2 quoted", "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
       {{'m', "", "", "boss", "nil.test"}, {'m', "Giant; \"Big\" Box", "", "sysservices", "example.net"}}, false},
      {"A.1.3 group",
       "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
       {{'[', "A Group", "", "", ""},
        {'m', "Ed Jones", "", "c", "a.test"},
        {'m', "", "", "joe", "where.test"},
        {'m', "John", "", "jdoe", "one.test"},
        {']', "", "", "", ""}},
       false},
      {"A.5 comments", "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
       {{'m', "Pete", "", "pete", "silly.test"}}, false},
      {"A.5 group with comments",
       "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
       "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
       {{'[', "A Group", "", "", ""},
        {'m', "Chris Jones", "", "c", "public.example"},
        {'m', "", "", "joe", "example.org"},
        {'m', "John", "", "jdoe", "one.test"},
        {']', "", "", "", ""}},
       false},
      {"A.6.3 obsolete", "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
       {{'m', "Mary Smith", "@node.test", "mary", "example.net"}, {'m', "", "", "jdoe", "test.example"}}, false},
      {"A.6.1 obsolete phrase", "Joe Q. Public <john.q.public@example.com>",
       {{'m', "Joe Q. Public", "", "john.q.public", "example.com"}}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto list = parse_address_list(c.input);
    EXPECT_EQ(simplify(list), c.expected);
    EXPECT_EQ(list.malformed, c.malformed);
    EXPECT_FALSE(list.truncated);
  }
}

TEST(Rfc5322Address, GarbageNeverCrashesAndGroupsPair) {
  const std::vector<std::string> garbage = {
      "@@@", ":::", "::;;", "a:b:c;", "<@a,@b", "<@a,@b:", "\"", "(", "[", "\\", "a\\", "<a@b", "a:<b@c",
      "=?", "=?utf-8?q?", "g1: g2: a@b;;", std::string(1, '\0'), "\x80\xff<\x80@\xff>", ",<,>,", ")",
  };
  for (const auto& g : garbage) {
    SCOPED_TRACE(g);
    const auto list = parse_address_list(g);
    int depth = 0;
    for (const auto& a : list.addresses) {
      if (a.kind == Address::Kind::group_start) ++depth;
      if (a.kind == Address::Kind::group_end) --depth;
      EXPECT_TRUE(depth == 0 || depth == 1);
    }
    EXPECT_EQ(depth, 0);
  }
}

TEST(Rfc5322Address, TruncatedKeepsGroupsPaired) {
  const auto list = parse_address_list("a@b, c@d, e@f, g@h", 3);
  EXPECT_TRUE(list.truncated);
  EXPECT_EQ(list.addresses.size(), 3u);

  const auto g = parse_address_list("G: a@b, c@d, e@f;", 2);
  EXPECT_TRUE(g.truncated);
  ASSERT_EQ(g.addresses.size(), 3u);
  EXPECT_EQ(g.addresses.front().kind, Address::Kind::group_start);
  EXPECT_EQ(g.addresses.back().kind, Address::Kind::group_end);
}

TEST(Rfc5322Address, HugeListIsCapped) {
  std::string s;
  for (int i = 0; i < 12000; ++i) s += "u" + std::to_string(i) + "@example.com, ";
  const auto list = parse_address_list(s);
  EXPECT_TRUE(list.truncated);
  EXPECT_EQ(list.addresses.size(), 10000u);
  EXPECT_EQ(list.addresses.back().mailbox, "u9999");
}

TEST(Rfc5322Address, AddrSpecQuotesWhenNeeded) {
  const struct {
    const char* label;
    std::string mailbox, host, expected;
  } cases[] = {
      {"plain", "john.smith", "example.com", "john.smith@example.com"},
      {"space", "john doe", "example.com", "\"john doe\"@example.com"},
      {"leading dot", ".john", "x", "\".john\"@x"},
      {"double dot", "a..b", "x", "\"a..b\"@x"},
      {"quote and backslash", "a\"b\\c", "x", "\"a\\\"b\\\\c\"@x"},
      {"no host", "root", "", "root"},
      {"utf-8", "j\xc3\xb6hn", "x", "j\xc3\xb6hn@x"},
      {"empty local", "", "x", "\"\"@x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    Address a;
    a.mailbox = c.mailbox;
    a.host = c.host;
    EXPECT_EQ(a.addr_spec(), c.expected);
  }
  Address g;
  g.kind = Address::Kind::group_start;
  g.name = "x";
  EXPECT_EQ(g.addr_spec(), "");
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

struct DateCase {
  const char* label;
  std::string input;
  long long time;  // expected epoch seconds; -1: parse fails
  int zone;
  bool zone_known;
};

TEST(Rfc5322Date, Table) {
  // 2006-01-02 22:04:05 UTC == 1136239445.
  const long long t = 1136239445;
  const std::vector<DateCase> cases = {
      {"rfc 5322", "Mon, 2 Jan 2006 15:04:05 -0700", t, -420, true},
      {"no day of week", "2 Jan 2006 15:04:05 -0700", t, -420, true},
      {"two digit day", "Mon, 02 Jan 2006 15:04:05 -0700", t, -420, true},
      {"comment zone", "Mon, 2 Jan 2006 15:04:05 -0700 (MST)", t, -420, true},
      {"cfws everywhere", " Mon ,  2\r\n Jan  2006 15:04:05   -0700 ", t, -420, true},
      {"two digit year 06", "2 Jan 06 15:04:05 -0700", t, -420, true},
      {"two digit year 99", "2 Jan 99 00:00:00 +0000", 915235200, 0, true},
      {"three digit year", "2 Jan 106 15:04:05 -0700", t, -420, true},
      {"no seconds", "2 Jan 2006 15:04 -0700", t - 5, -420, true},
      {"gmt", "Mon, 2 Jan 2006 22:04:05 GMT", t, 0, true},
      {"ut", "Mon, 2 Jan 2006 22:04:05 UT", t, 0, true},
      {"utc", "Mon, 2 Jan 2006 22:04:05 UTC", t, 0, true},
      {"est", "Mon, 2 Jan 2006 17:04:05 EST", t, -300, true},
      {"pdt", "Mon, 2 Jan 2006 15:04:05 PDT", t, -420, true},
      {"cest comment", "Mon, 2 Jan 2006 23:04:05 +0100 (CET)", t, 60, true},
      {"military letter", "Mon, 2 Jan 2006 22:04:05 A", t, 0, false},
      {"minus zero", "Mon, 2 Jan 2006 22:04:05 -0000", t, 0, false},
      {"no zone", "Mon, 2 Jan 2006 22:04:05", t, 0, false},
      {"unknown zone name", "Mon, 2 Jan 2006 22:04:05 XYZT", t, 0, false},
      {"asctime", "Mon Jan  2 22:04:05 2006", t, 0, false},
      {"asctime with zone", "Mon Jan 2 15:04:05 MST 2006", t, -420, true},
      {"iso z", "2006-01-02T22:04:05Z", t, 0, true},
      {"iso offset", "2006-01-02 15:04:05-07:00", t, -420, true},
      {"iso fraction", "2006-01-02T22:04:05.123+0000", t, 0, true},
      {"iso no zone", "2006-01-02T22:04:05", t, 0, false},
      {"full names", "Monday, 2 January 2006 15:04:05 -0700", t, -420, true},
      {"lower case", "mon, 2 jan 2006 15:04:05 -0700", t, -420, true},
      {"colon zone", "Mon, 2 Jan 2006 15:04:05 -07:00", t, -420, true},
      {"gmt plus", "Mon, 2 Jan 2006 23:04:05 GMT+0100", t, 60, true},
      {"hour zone", "Mon, 2 Jan 2006 23:04:05 +01", t, 60, true},
      {"dotted time", "Mon, 2 Jan 2006 15.04.05 -0700", t, -420, true},
      {"dashes", "2-Jan-2006 15:04:05 -0700", t, -420, true},
      {"no comma", "Mon 2 Jan 2006 15:04:05 -0700", t, -420, true},
      {"german day", "Mo, 2. Jan 2006 15:04:05 -0700", t, -420, true},
      {"pm", "Mon, 2 Jan 2006 3:04:05 PM -0700", t, -420, true},
      {"no time", "2 Jan 2006", 1136160000, 0, false},
      {"sept", "1 Sept 2006 00:00:00 +0000", 1157068800, 0, true},
      {"leap day", "29 Feb 2004 00:00:00 +0000", 1078012800, 0, true},
      {"before epoch", "1 Jan 1969 00:00:00 +0000", -31536000, 0, true},
      {"leap second", "31 Dec 2016 23:59:60 +0000", 1483228800, 0, true},
      {"empty", "", -1, 0, false},
      {"garbage", "garbage", -1, 0, false},
      {"no month", "2 2006 15:04:05", -1, 0, false},
      {"31 feb", "31 Feb 2006 00:00:00 +0000", -1, 0, false},
      {"29 feb 2100", "29 Feb 2100 00:00:00 +0000", -1, 0, false},
      {"day 32", "32 Jan 2006 00:00:00 +0000", -1, 0, false},
      {"day 0", "0 Jan 2006 00:00:00 +0000", -1, 0, false},
      {"hour 25", "2 Jan 2006 25:00:00 +0000", -1, 0, false},
      {"minute 60", "2 Jan 2006 10:60:00 +0000", -1, 0, false},
      {"year 1800", "2 Jan 1800 00:00:00 +0000", -1, 0, false},
      {"year 5 digits", "2 Jan 20066 00:00:00 +0000", -1, 0, false},
      {"huge number", "2 Jan 99999999999999999999 00:00:00", -1, 0, false},
      {"zone minutes 99", "2 Jan 2006 00:00:00 +0199", -1, 0, false},
      {"no year", "Mon, 2 Jan 15:04:05 -0700", -1, 0, false},
      {"iso bad month", "2006-13-02T00:00:00Z", -1, 0, false},
      {"iso junk", "2006-01-02T00:00:00Z junk", -1, 0, false},
      {"too long", std::string(600, ' ') + "2 Jan 2006", -1, 0, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto d = parse_date(c.input);
    if (c.time == -1) {
      EXPECT_FALSE(d.has_value());
      continue;
    }
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(static_cast<long long>(d->time), c.time);
    EXPECT_EQ(d->zone_offset_minutes, c.zone);
    EXPECT_EQ(d->zone_known, c.zone_known);
  }
}

TEST(Rfc5322Date, LocalDateFieldsForImapSearch) {
  // SENTON compares the date as written, not the UTC date.
  const auto d = parse_date("Tue, 31 Dec 2019 23:30:00 -0500");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->year, 2019);
  EXPECT_EQ(d->month, 12);
  EXPECT_EQ(d->day, 31);
  EXPECT_EQ(d->hour, 23);
  EXPECT_EQ(d->minute, 30);
  EXPECT_EQ(static_cast<long long>(d->time), 1577853000LL);  // 2020-01-01 04:30 UTC
}

TEST(Rfc5322Date, FormatAndRoundTrip) {
  EXPECT_EQ(lib::rfc5322::format_date(1136239445, -420), "Mon, 02 Jan 2006 15:04:05 -0700");
  EXPECT_EQ(lib::rfc5322::format_date(0, 0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(lib::rfc5322::format_date(-1, 0), "Wed, 31 Dec 1969 23:59:59 +0000");
  EXPECT_EQ(lib::rfc5322::format_date(1136239445, 330), "Tue, 03 Jan 2006 03:34:05 +0530");
  const int zones[] = {0, 60, -300, 330, -720, 840};
  for (long long t = -2208988800LL + 86400; t < 4102444800LL; t += 86400LL * 97 + 3671) {
    for (int z : zones) {
      const std::string s = lib::rfc5322::format_date(static_cast<std::time_t>(t), z);
      const auto d = parse_date(s);
      ASSERT_TRUE(d) << s;
      EXPECT_EQ(static_cast<long long>(d->time), t) << s;
      EXPECT_EQ(d->zone_offset_minutes, z) << s;
    }
  }
  // Out-of-range inputs are clamped, never overflow.
  EXPECT_EQ(lib::rfc5322::format_date(static_cast<std::time_t>(-(1LL << 62)), 0).substr(0, 16), "Mon, 01 Jan 0001");
  EXPECT_FALSE(lib::rfc5322::format_date(static_cast<std::time_t>(1LL << 62), 100000).empty());
}

}  // namespace
