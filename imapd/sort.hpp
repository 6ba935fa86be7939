// imapd/sort.hpp: SORT (RFC 5256) with the DISPLAYFROM/DISPLAYTO keys of
// SORT=DISPLAY (RFC 5957) and ESORT's RETURN options (RFC 5267 3.2): the
// argument parser, RFC 5256 2.1 base subject extraction, the per-message
// sort facts taken from a header, and the ordering. Pure: the session reads
// the headers and hands them in.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/lexer.hpp"
#include "imapd/search.hpp"
#include "lib/rfc5322.hpp"

namespace imapd {

enum class SortKey { arrival, cc, date, from, size, subject, to, display_from, display_to };

struct SortCriterion {
  SortKey key = SortKey::arrival;
  bool reverse = false;
};

struct SortProgram {
  std::vector<SortCriterion> criteria;
  SearchProgram search;    // the search criteria after the charset
  bool needs_header = false;  // a key other than ARRIVAL and SIZE
  bool needs_size = false;    // SIZE
};

struct SortParseResult {
  std::optional<SortProgram> program;
  std::string error;         // text for BAD (or NO [BADCHARSET] when bad_charset)
  bool bad_charset = false;
};

// Parses SORT's arguments (after the command name): [RETURN (opts)] when
// allow_esort, then "(" criteria ")" charset search-key+. The charset is
// mandatory (RFC 5256 BASE.6.4.SORT); UTF-8 and US-ASCII are accepted.
SortParseResult parse_sort(std::span<const Value> args, bool allow_esort = false,
                           const SearchLimits& limits = {});

// RFC 5256 2.1: the base subject of a Subject field value (unfolded, RFC
// 2047 words not yet decoded): encoded words decoded to UTF-8, white space
// runs made one space, "(fwd)" trailers, "Re:"/"Fw:"/"Fwd:" leaders with
// their "[blob]"s, leading "[blob]"s that leave text behind and a
// "[fwd: ... ]" wrapper removed, repeatedly. `is_reply_or_forward` is set
// when a leader, trailer or wrapper was removed (RFC 5256 5 for THREAD).
std::string base_subject(std::string_view subject, bool* is_reply_or_forward = nullptr);

// What one message sorts by; strings already in the i;ascii-casemap form
// (ASCII letters upper-cased). The strings are views: into the per-mailbox
// cache's keys (imapd/mailbox_cache.hpp), or into `owned` when
// fill_sort_facts made them.
struct SortFacts {
  std::uint32_t seq = 0;
  std::time_t arrival = 0;   // INTERNALDATE
  std::time_t date = 0;      // Date: in UTC, INTERNALDATE when missing or invalid
  std::uint64_t size = 0;
  std::string_view cc, from, to;  // addr-mailbox of the first address (a group: its name)
  std::string_view subject;       // base subject
  std::string_view display_from, display_to;  // RFC 5957 display name (else addr-spec;
                                              // a group: its name)
  std::unique_ptr<std::array<std::string, 6>> owned;
};

// Fills the header-derived fields of `facts` (date falls back to
// facts.arrival, which must be set first).
void fill_sort_facts(SortFacts& facts, const lib::rfc5322::Header& header);

// Orders `messages` by the criteria; ties in sequence order (RFC 5256 3:
// "the order in which they appear in the mailbox"). Sorts indexes, and
// moves each message once.
void sort_messages(std::vector<SortFacts>& messages, std::span<const SortCriterion> criteria);
// The same order as positions into `messages`, which stay where they are.
std::vector<std::uint32_t> sort_order(const std::vector<SortFacts>& messages, std::span<const SortCriterion> criteria);

// The same order from precomputed ranks (the cache's rank section): `ranks`
// holds one column of n values per criterion, each below `bound`; equal
// ranks are equal keys. Ties in position order (the callers' positions are
// in sequence order). Stable counting sorts, last criterion first.
std::vector<std::uint32_t> sort_order_by_ranks(std::span<const std::uint32_t> ranks, std::size_t n,
                                               std::uint32_t bound, std::span<const SortCriterion> criteria);

}  // namespace imapd
