// tests/imapd/sort_test.cpp: SORT (imapd/sort.hpp): RFC 5256 2.1 base
// subject extraction, the argument parser (criteria, REVERSE, charset,
// ESORT RETURN), the facts taken from a header (first mailbox, RFC 5957
// display names, Date with the INTERNALDATE fallback) and the ordering with
// ties in mailbox order.
#include "imapd/sort.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

#include "imapd/lexer.hpp"

namespace imapd {
namespace {

SortParseResult parse(const std::string& args, bool esort = true) {
  static ParsedCommand cmd;
  static std::string text;
  text = "t SORT " + args;
  cmd = parse_command(text);
  EXPECT_TRUE(cmd.ok()) << cmd.error;
  return parse_sort(cmd.args, esort);
}

TEST(BaseSubject, RemovesReplyAndForwardMarkers) {
  EXPECT_EQ(base_subject("Re: hello"), "hello");
  EXPECT_EQ(base_subject("RE: re: Fwd: hello"), "hello");
  EXPECT_EQ(base_subject("fw: hello"), "hello");
  EXPECT_EQ(base_subject("Re[2]: hello"), "hello");
  EXPECT_EQ(base_subject("Re [2] : hello"), "hello");
  EXPECT_EQ(base_subject("[list] Re: hello"), "hello");
  EXPECT_EQ(base_subject("[list] [other] hello"), "hello");
  EXPECT_EQ(base_subject("hello (fwd)"), "hello");
  EXPECT_EQ(base_subject("hello (FWD) (fwd)  "), "hello");
  EXPECT_EQ(base_subject("[Fwd: Re: hello]"), "hello");
  EXPECT_EQ(base_subject("[fwd: [fwd: hello (fwd)]]"), "hello");
  EXPECT_EQ(base_subject("  hello \t  world  "), "hello world");
  EXPECT_EQ(base_subject("Re:"), "");
}

TEST(BaseSubject, KeepsWhatIsNotALeader) {
  EXPECT_EQ(base_subject("[only a blob]"), "[only a blob]");  // removing it would leave nothing
  EXPECT_EQ(base_subject("Reply: x"), "Reply: x");
  EXPECT_EQ(base_subject("hello re: x"), "hello re: x");
  EXPECT_EQ(base_subject("[fwd: x"), "[fwd: x");  // no closing "]": neither blob nor wrapper
}

TEST(BaseSubject, TellsRepliesFromOriginals) {
  bool reply = true;
  EXPECT_EQ(base_subject("hello", &reply), "hello");
  EXPECT_FALSE(reply);
  EXPECT_EQ(base_subject("[list] hello", &reply), "hello");
  EXPECT_FALSE(reply);
  base_subject("Re: hello", &reply);
  EXPECT_TRUE(reply);
  base_subject("hello (fwd)", &reply);
  EXPECT_TRUE(reply);
  base_subject("[fwd: hello]", &reply);
  EXPECT_TRUE(reply);
}

TEST(BaseSubject, DecodesEncodedWords) {
  EXPECT_EQ(base_subject("=?utf-8?q?Re=3A_Gr=C3=BC=C3=9Fe?="), "Grüße");
  EXPECT_EQ(base_subject("Re: =?iso-8859-1?q?caf=E9?="), "café");
}

TEST(ParseSort, CriteriaAndReverse) {
  auto r = parse("(REVERSE date subject) UTF-8 ALL");
  ASSERT_TRUE(r.program) << r.error;
  ASSERT_EQ(r.program->criteria.size(), 2u);
  EXPECT_EQ(r.program->criteria[0].key, SortKey::date);
  EXPECT_TRUE(r.program->criteria[0].reverse);
  EXPECT_EQ(r.program->criteria[1].key, SortKey::subject);
  EXPECT_FALSE(r.program->criteria[1].reverse);
  EXPECT_TRUE(r.program->needs_header);
  EXPECT_FALSE(r.program->needs_size);
  EXPECT_FALSE(r.program->search.returns);

  r = parse("(ARRIVAL SIZE DISPLAYFROM DISPLAYTO) US-ASCII SEEN FROM x");
  ASSERT_TRUE(r.program) << r.error;
  EXPECT_EQ(r.program->criteria[2].key, SortKey::display_from);
  EXPECT_TRUE(r.program->needs_size);
}

TEST(ParseSort, RejectsBadArguments) {
  EXPECT_FALSE(parse("() UTF-8 ALL").program);
  EXPECT_FALSE(parse("(date) ALL").program);            // charset missing: ALL taken as one, no keys
  EXPECT_FALSE(parse("(date) UTF-8").program);          // no search key
  EXPECT_FALSE(parse("(bogus) UTF-8 ALL").program);
  EXPECT_FALSE(parse("(date reverse) UTF-8 ALL").program);
  EXPECT_FALSE(parse("(reverse reverse date) UTF-8 ALL").program);
  EXPECT_FALSE(parse("date UTF-8 ALL").program);
  auto r = parse("(date) KOI8-R ALL");
  EXPECT_FALSE(r.program);
  EXPECT_TRUE(r.bad_charset);
  EXPECT_FALSE(parse("RETURN (MIN) (date) UTF-8 ALL", false).program);  // RETURN only with ESORT
}

TEST(ParseSort, EsortReturn) {
  auto r = parse("RETURN (MIN COUNT) (date) UTF-8 ALL");
  ASSERT_TRUE(r.program) << r.error;
  ASSERT_TRUE(r.program->search.returns);
  EXPECT_TRUE(r.program->search.returns->min);
  EXPECT_TRUE(r.program->search.returns->count);
  EXPECT_FALSE(r.program->search.returns->all);
  r = parse("RETURN () (date) UTF-8 ALL");
  ASSERT_TRUE(r.program);
  EXPECT_TRUE(r.program->search.returns->all);
  EXPECT_FALSE(parse("RETURN (SAVE) (date) UTF-8 ALL").program);
}

lib::rfc5322::Header header_of(const std::string& text) {
  static std::vector<std::string> keep;
  keep.push_back(text);
  return lib::rfc5322::parse_header(keep.back());
}

TEST(SortFacts, FromHeader) {
  SortFacts f;
  f.arrival = 1000;
  fill_sort_facts(f, header_of("From: \"Zed\" <alice@example.org>\r\n"
                               "To: group: a@b, c@d;, bob@example.org\r\n"
                               "Cc: <carol@x>\r\n"
                               "Subject: Re: [list] Hello\r\n"
                               "Date: Thu, 01 Jan 1970 01:00:00 +0100\r\n\r\n"));
  EXPECT_EQ(f.from, "ALICE");
  EXPECT_EQ(f.to, "GROUP");  // a group sorts by its name
  EXPECT_EQ(f.cc, "CAROL");
  EXPECT_EQ(f.display_from, "ZED");
  EXPECT_EQ(f.display_to, "GROUP");
  EXPECT_EQ(f.subject, "HELLO");
  EXPECT_EQ(f.date, 0);

  SortFacts g;
  g.arrival = 1234;
  fill_sort_facts(g, header_of("From: =?utf-8?q?=C3=A9mile?= <e@x>\r\nDate: yesterday\r\n\r\n"));
  EXPECT_EQ(g.date, 1234);  // unparsable Date: INTERNALDATE
  EXPECT_EQ(g.display_from, "éMILE");  // i;ascii-casemap folds ASCII only
  EXPECT_EQ(g.to, "");
  EXPECT_EQ(g.subject, "");

  SortFacts h;
  fill_sort_facts(h, header_of("To: <d@x>, \"E\" <e@x>\r\nCc: =?utf-8?q?=C3=A9?= <c@x>\r\n\r\n"));
  EXPECT_EQ(h.to, "D");
  EXPECT_EQ(h.display_to, "D@X");  // no display name: the addr-spec
  EXPECT_EQ(h.cc, "C");
}

TEST(SortMessages, OrdersWithTiesInMailboxOrder) {
  std::vector<SortFacts> m(5);
  std::uint64_t sizes[] = {30, 10, 30, 20, 10};
  std::time_t arrivals[] = {5, 4, 3, 2, 1};
  for (std::uint32_t i = 0; i < 5; ++i) {
    m[i].seq = i + 1;
    m[i].size = sizes[i];
    m[i].arrival = arrivals[i];
  }
  auto order = [&](std::vector<SortCriterion> c) {
    sort_messages(m, c);
    std::vector<std::uint32_t> out;
    for (const auto& f : m) out.push_back(f.seq);
    return out;
  };
  EXPECT_EQ(order({{SortKey::size, false}}), (std::vector<std::uint32_t>{2, 5, 4, 1, 3}));
  EXPECT_EQ(order({{SortKey::size, true}}), (std::vector<std::uint32_t>{1, 3, 4, 2, 5}));
  EXPECT_EQ(order({{SortKey::size, false}, {SortKey::arrival, false}}),
            (std::vector<std::uint32_t>{5, 2, 4, 3, 1}));
  EXPECT_EQ(order({{SortKey::arrival, true}}), (std::vector<std::uint32_t>{1, 2, 3, 4, 5}));
}

// The one-string-key path (a shared prefix skipped, 8 bytes compared as an
// integer) orders exactly as a plain stable sort of the strings: keys with
// a long common prefix, NUL and 0xff bytes, keys that extend others.
TEST(SortMessages, OneStringKeyMatchesAPlainStableSort) {
  std::vector<std::string> keys;
  unsigned seed = 7;
  const std::string alphabet("ab\0\xff", 4);
  for (int i = 0; i < 600; ++i) {
    seed = seed * 1103515245 + 12345;
    std::string k = "COMMON PREFIX OF ALL ";
    for (unsigned n = (seed >> 16) % 12; n > 0; --n) {
      seed = seed * 1103515245 + 12345;
      k.push_back(alphabet[(seed >> 16) % alphabet.size()]);
    }
    keys.push_back(k);
  }
  for (bool reverse : {false, true}) {
    std::vector<SortFacts> m(keys.size());
    for (std::uint32_t i = 0; i < keys.size(); ++i) {
      m[i].seq = i + 1;
      m[i].subject = keys[i];
    }
    std::vector<std::uint32_t> expected(keys.size());
    for (std::uint32_t i = 0; i < keys.size(); ++i) expected[i] = i;
    std::stable_sort(expected.begin(), expected.end(), [&](std::uint32_t a, std::uint32_t b) {
      return reverse ? keys[b] < keys[a] : keys[a] < keys[b];
    });
    const SortCriterion c[] = {{SortKey::subject, reverse}};
    EXPECT_EQ(sort_order(m, c), expected) << "reverse " << reverse;
  }
}

// Ranks (the cache's rank section: a key's place among all keys, equal keys
// equal ranks) order exactly as the keys do: one key or several, REVERSE,
// ties in sequence order; ranks taken over a superset of the messages
// sorted (a file's records, SORT over some of them) give the same order.
TEST(SortMessages, RanksOrderAsTheKeysDo) {
  unsigned seed = 11;
  auto next = [&](unsigned mod) {
    seed = seed * 1103515245 + 12345;
    return (seed >> 16) % mod;
  };
  const std::size_t all = 900;
  std::vector<std::string> subjects(all), froms(all);
  for (std::size_t i = 0; i < all; ++i) {
    subjects[i] = "S" + std::string(next(3), 'X') + std::to_string(next(40));
    froms[i] = next(2) ? "" : "F" + std::to_string(next(7));
  }
  auto dense = [&](const std::vector<std::string>& keys) {
    std::vector<std::string> distinct(keys);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::vector<std::uint32_t> r;
    for (const auto& k : keys)
      r.push_back(static_cast<std::uint32_t>(std::lower_bound(distinct.begin(), distinct.end(), k) - distinct.begin()));
    return r;
  };
  const auto subject_rank = dense(subjects), from_rank = dense(froms);
  std::vector<std::uint32_t> picked;  // every other message, and a few more
  for (std::uint32_t i = 0; i < all; ++i)
    if (i % 2 == 0 || i % 7 == 0) picked.push_back(i);
  std::vector<SortFacts> m(picked.size());
  for (std::size_t p = 0; p < picked.size(); ++p) {
    m[p].seq = picked[p] + 1;
    m[p].subject = subjects[picked[p]];
    m[p].from = froms[picked[p]];
  }
  for (const std::vector<SortCriterion>& c : std::vector<std::vector<SortCriterion>>{
           {{SortKey::subject, false}},
           {{SortKey::subject, true}},
           {{SortKey::from, false}, {SortKey::subject, true}},
           {{SortKey::from, true}, {SortKey::subject, false}},
           {{SortKey::subject, true}, {SortKey::from, true}}}) {
    std::vector<std::uint32_t> ranks;
    for (const auto& crit : c)
      for (std::uint32_t i : picked) ranks.push_back(crit.key == SortKey::subject ? subject_rank[i] : from_rank[i]);
    EXPECT_EQ(sort_order_by_ranks(ranks, picked.size(), static_cast<std::uint32_t>(all), c), sort_order(m, c))
        << c.size() << " keys, first reversed " << c[0].reverse;
  }
  EXPECT_TRUE(sort_order_by_ranks({}, 0, 0, std::vector<SortCriterion>{{SortKey::subject, false}}).empty());
}

}  // namespace
}  // namespace imapd
