// tests/fuzz/fuzz_imap_lexer.cpp: libFuzzer target for the IMAP command
// parser (imapd/lexer), sequence sets, the FETCH attribute parser and the
// SEARCH criteria parser. One input is one command as the session hands it
// over; its arguments go to every parser that would see them. Invariants are
// checked and any violation aborts, so the fuzzer reports it like a crash.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I.
//          tests/fuzz/fuzz_imap_lexer.cpp imapd/lexer.cpp imapd/sequence_set.cpp
//          imapd/fetch.cpp imapd/search.cpp imapd/imap_string.cpp lib/mime.cpp lib/rfc5322.cpp
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "imapd/fetch.hpp"
#include "imapd/lexer.hpp"
#include "imapd/search.hpp"
#include "imapd/sequence_set.hpp"
#include "tests/fuzz/invariant_check.hpp"

namespace {

bool inside(std::string_view outer, std::string_view inner) {
  return inner.empty() || (inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size());
}

// Every value's views point into the command; kinds agree with contents.
void check_value(std::string_view input, const imapd::Value& v, std::size_t depth) {
  using K = imapd::Value::Kind;
  CHECK(depth <= 64);
  CHECK(inside(input, v.raw));
  if (v.kind == K::literal) CHECK(inside(input, v.literal));
  if (v.kind == K::number) CHECK(v.text.find_first_not_of("0123456789") == std::string::npos);
  if (v.kind == K::atom || v.kind == K::number || v.kind == K::nil) CHECK(v.raw == v.text);
  if (v.kind != K::list && v.kind != K::section) CHECK(v.items.empty());
  for (const auto& child : v.items) check_value(input, child, depth + 1);
}

void check_sequence_set(std::string_view text) {
  const auto set = imapd::SequenceSet::parse(text);
  if (!set) return;
  // Formatting parses back to the same ranges.
  const auto again = imapd::SequenceSet::parse(set->to_string());
  CHECK(again);
  CHECK(again->ranges() == set->ranges());
  for (std::uint32_t largest : {0u, 1u, 7u, 1000u, 4294967295u}) {
    const auto resolved = set->resolve(largest);
    std::uint64_t prev_end = 0;
    for (const auto& r : resolved) {
      CHECK(r.first >= 1 && r.first <= r.last && r.last <= largest);
      CHECK(prev_end == 0 || r.first > prev_end + 1);  // sorted, merged
      prev_end = r.last;
      CHECK(set->contains(r.first, largest));
      CHECK(set->contains(r.last, largest));
    }
    if (largest > 0 && largest < 2000) {
      for (std::uint32_t n = 1; n <= largest; ++n) {
        bool in = false;
        for (const auto& r : resolved) in = in || (n >= r.first && n <= r.last);
        CHECK(in == set->contains(n, largest));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  imapd::LexerLimits limits;
  const auto cmd = imapd::parse_command(input, limits);
  (void)imapd::trailing_literal(input);
  if (!cmd.ok()) {
    CHECK(!cmd.error.empty());
    CHECK(cmd.args.empty());
    if (!cmd.tag.empty()) CHECK(imapd::is_valid_tag(cmd.tag));
    return 0;
  }
  CHECK(imapd::is_valid_tag(cmd.tag));
  CHECK(!cmd.name.empty());
  for (const auto& v : cmd.args) check_value(input, v, 0);
  for (const auto& v : cmd.args) {
    if (v.is_atom_like()) check_sequence_set(v.text);
  }
  // FETCH attributes from the last argument, with the FETCH request invariants.
  if (!cmd.args.empty()) {
    std::string error;
    const auto req = imapd::parse_fetch_attributes(cmd.args.back(), cmd.uid, error);
    if (req) {
      CHECK(!req->items.empty());
      if (cmd.uid) CHECK(req->has(imapd::FetchAttr::uid));
      for (const auto& item : req->items) {
        if (item.partial) CHECK(item.partial->count && *item.partial->count > 0);
        (void)item.section.to_string();
      }
    } else {
      CHECK(!error.empty());
    }
  }
  // SEARCH criteria from all arguments.
  imapd::SearchLimits search_limits;
  const auto search = imapd::parse_search(cmd.args, true, true, search_limits);
  CHECK(search.program.has_value() == search.error.empty());
  return 0;
}
