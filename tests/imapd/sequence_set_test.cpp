// tests/imapd/sequence_set_test.cpp: IMAP sequence sets (imapd/sequence_set.hpp):
// parsing, "*" and reversed ranges, membership, resolution against a mailbox,
// iteration without expansion, compact formatting, and malformed input.
#include "imapd/sequence_set.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace imapd {
namespace {

std::string show(const std::vector<SeqRange>& ranges) { return format_ranges(ranges); }

struct ResolveCase {
  const char* label;
  const char* set;
  std::uint32_t largest;
  const char* resolved;
};

TEST(SequenceSet, ParsesAndResolves) {
  const ResolveCase cases[] = {
      {"single", "5", 10, "5"},
      {"range", "1:3", 10, "1:3"},
      {"list", "1:3,5,7:*", 10, "1:3,5,7:10"},
      {"reversed", "7:2", 10, "2:7"},
      {"star alone", "*", 10, "10"},
      {"star first", "*:8", 10, "8:10"},
      {"star star", "*:*", 10, "10"},
      {"merge overlapping", "1:5,3:8,10", 20, "1:8,10"},
      {"merge adjacent", "1:3,4,5:6", 20, "1:6"},
      {"unsorted", "9,1,5", 20, "1,5,9"},
      {"clipped above", "5:100", 10, "5:10"},
      {"beyond largest dropped", "50:60", 10, ""},
      {"uid n:* past last", "559:*", 500, "500"},
      {"empty mailbox", "1:*", 0, ""},
      {"max number", "4294967295", 4294967295u, "4294967295"},
      {"full range", "1:4294967295", 4294967295u, "1:4294967295"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto set = SequenceSet::parse(c.set);
    ASSERT_TRUE(set);
    EXPECT_EQ(show(set->resolve(c.largest)), c.resolved);
    if (std::string(c.set) != "*:*") {
      EXPECT_EQ(set->to_string(), c.set);
    }
  }
}

TEST(SequenceSet, RejectsMalformed) {
  const char* bad[] = {"",      "0",     "0:5",   "5:0",   "1,",    ",1",      "1,,2",
                       "1:",    ":1",    "1:2:3", "a",     "1a",    "-1",      "+1",
                       "01",    " 1",    "1 ",    "1;2",   "**",    "4294967296",
                       "99999999999", "$", "1:*:", "*1", "1.5"};
  for (const char* s : bad) {
    SCOPED_TRACE(s);
    EXPECT_FALSE(SequenceSet::parse(s));
  }
}

TEST(SequenceSet, Saved) {
  SequenceSetLimits limits;
  limits.allow_saved = true;
  const auto set = SequenceSet::parse("$", limits);
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->is_saved());
  EXPECT_EQ(set->to_string(), "$");
  EXPECT_FALSE(SequenceSet::parse("$,1", limits));
  EXPECT_FALSE(SequenceSet::parse("1:$", limits));
}

TEST(SequenceSet, RangeLimit) {
  SequenceSetLimits limits;
  limits.max_ranges = 3;
  EXPECT_TRUE(SequenceSet::parse("1,2,3", limits));
  EXPECT_FALSE(SequenceSet::parse("1,2,3,4", limits));
  std::string huge;
  for (int i = 1; i <= 200000; ++i) huge += std::to_string(i) + ",";
  huge.pop_back();
  EXPECT_FALSE(SequenceSet::parse(huge));  // default limit 100000
}

TEST(SequenceSet, Contains) {
  const auto set = SequenceSet::parse("2:4,9,*");
  ASSERT_TRUE(set);
  struct {
    std::uint32_t n, largest;
    bool want;
  } cases[] = {
      {1, 20, false}, {2, 20, true}, {4, 20, true}, {5, 20, false}, {9, 20, true},
      {20, 20, true}, {19, 20, false}, {0, 20, false}, {21, 20, false}, {3, 3, true},
      {9, 8, false},  // beyond the mailbox
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.n) + " of " + std::to_string(c.largest));
    EXPECT_EQ(set->contains(c.n, c.largest), c.want);
  }
  EXPECT_FALSE(SequenceSet::parse("*")->contains(1, 0));
  EXPECT_TRUE(set->uses_star());
  EXPECT_EQ(set->max_explicit(), 9u);
  EXPECT_FALSE(SequenceSet::parse("1:3")->uses_star());
}

TEST(SequenceSet, ForEachInUsesBinarySearch) {
  const std::vector<std::uint32_t> uids = {3, 5, 8, 13, 21, 34, 55, 89};
  std::vector<std::size_t> got;
  SequenceSet::parse("4:13,50:*,1")->for_each_in(uids, uids.back(), [&](std::size_t i) {
    got.push_back(i);
  });
  EXPECT_EQ(got, (std::vector<std::size_t>{1, 2, 3, 6, 7}));

  // The whole 32-bit range over a small mailbox: no expansion.
  got.clear();
  SequenceSet::parse("1:4294967295")->for_each_in(uids, 4294967295u, [&](std::size_t i) {
    got.push_back(i);
  });
  EXPECT_EQ(got.size(), uids.size());

  got.clear();
  SequenceSet::parse("1:*")->for_each_in(std::span<const std::uint32_t>(), 0,
                                         [&](std::size_t i) { got.push_back(i); });
  EXPECT_TRUE(got.empty());
}

TEST(SequenceSet, FormatNumbers) {
  struct {
    const char* label;
    std::vector<std::uint32_t> in;
    const char* want;
  } cases[] = {
      {"empty", {}, ""},
      {"one", {7}, "7"},
      {"run", {4, 5, 6}, "4:6"},
      {"mixed order kept", {4, 5, 6, 9, 2}, "4:6,9,2"},
      {"descending not merged", {3, 2, 1}, "3,2,1"},
      {"max", {4294967294u, 4294967295u}, "4294967294:4294967295"},
      {"duplicates", {1, 1, 2}, "1,1:2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(format_numbers(c.in), c.want);
  }
  std::vector<std::uint32_t> many(100000);
  std::iota(many.begin(), many.end(), 1u);
  EXPECT_EQ(format_numbers(many), "1:100000");
}

TEST(SequenceSet, FromRanges) {
  const auto set = SequenceSet::from_ranges({{1, 3}, {SequenceSet::star, 5}});
  EXPECT_EQ(set.to_string(), "1:3,*:5");
  EXPECT_EQ(show(set.resolve(10)), "1:3,5:10");
}

}  // namespace
}  // namespace imapd
