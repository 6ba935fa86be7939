// imapd/sequence_set.hpp: IMAP sequence sets (RFC 3501 9 "sequence-set",
// RFC 5182 "$" for SEARCHRES) for message sequence numbers and UIDs, and the
// compact formatting of UID sets for COPYUID/APPENDUID (RFC 4315) and
// ESEARCH (RFC 4731). Pure, no I/O. A set is kept as its ranges: "1:*" is
// one range whatever the mailbox size, never an expanded list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace imapd {

// A closed range of numbers, first <= last after normalisation.
struct SeqRange {
  std::uint32_t first = 0;
  std::uint32_t last = 0;
  friend bool operator==(const SeqRange&, const SeqRange&) = default;
};

struct SequenceSetLimits {
  std::size_t max_ranges = 100000;  // comma-separated elements
  bool allow_saved = false;         // accept "$" (RFC 5182 SEARCHRES)
};

class SequenceSet {
 public:
  // The number "*" stands for; 0 is never a valid number.
  static constexpr std::uint32_t star = 0;

  // Parses "1:3,5,7:*" (RFC 3501 9): numbers 1..4294967295 or "*", ranges in
  // either order ("*:4" == "4:*"), no spaces, no empty elements, no leading
  // "+"/"-"; "$" alone when limits.allow_saved. Returns nullopt on any syntax
  // error, a 0, a number over 32 bits, or more than limits.max_ranges
  // elements.
  static std::optional<SequenceSet> parse(std::string_view text,
                                          const SequenceSetLimits& limits = {});

  // A set from explicit ranges (star allowed as a bound).
  static SequenceSet from_ranges(std::vector<SeqRange> ranges);

  // "$": the caller substitutes the saved search result (RFC 5182).
  bool is_saved() const { return saved_; }
  bool uses_star() const;
  // The largest number written explicitly (not "*"), 0 if none: for
  // sequence numbers, RFC 3501 makes a number above the mailbox's count an
  // error; the session compares this with it.
  std::uint32_t max_explicit() const;

  // Whether n is in the set, "*" standing for `largest` (the message count
  // for sequence numbers, the highest UID for UIDs). With largest == 0 (an
  // empty mailbox) "*" matches nothing. Linear in the number of ranges; use
  // resolve() for many lookups.
  bool contains(std::uint32_t n, std::uint32_t largest) const;

  // The set with "*" replaced by `largest`, each range ordered, clipped to
  // 1..largest (numbers above the largest do not exist: this also makes a UID
  // range "559:*" include the last UID, RFC 3501 6.4.8), sorted and merged.
  // Empty when nothing remains.
  std::vector<SeqRange> resolve(std::uint32_t largest) const;

  // Calls fn(index) for every element of `sorted` (ascending numbers, e.g. a
  // mailbox's UIDs; `largest` is normally its last element) that is in the set,
  // in ascending order. Cost: O(ranges * log(sorted.size()) + matches).
  template <class Fn>
  void for_each_in(std::span<const std::uint32_t> sorted, std::uint32_t largest, Fn&& fn) const {
    std::size_t i = 0;
    for (const SeqRange& r : resolve(largest)) {
      i = lower_bound_from(sorted, i, r.first);
      while (i < sorted.size() && sorted[i] <= r.last) fn(i++);
      if (i >= sorted.size()) break;
    }
  }

  // The ranges as parsed (bounds may be star, first may exceed last).
  const std::vector<SeqRange>& ranges() const { return ranges_; }

  // The set as written by format_ranges() of its parsed ranges ("$" for saved).
  std::string to_string() const;

 private:
  static std::size_t lower_bound_from(std::span<const std::uint32_t> sorted, std::size_t from,
                                      std::uint32_t value);
  std::vector<SeqRange> ranges_;
  bool saved_ = false;
};

// "1:3,5,9:*": ranges joined by commas, a range of one number as the number,
// star as "*". No sorting: the order is kept (COPYUID pairs its two sets
// element by element, RFC 4315 4.3).
std::string format_ranges(std::span<const SeqRange> ranges);

// A list of numbers in the given order as a compact set: runs of consecutive
// ascending numbers become "a:b" ("4,5,6,9,2" -> "4:6,9,2"). For COPYUID,
// APPENDUID and ESEARCH ALL. Empty input gives "".
std::string format_numbers(std::span<const std::uint32_t> numbers);

}  // namespace imapd
