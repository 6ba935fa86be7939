// imapd/sequence_set.cpp: IMAP sequence sets (RFC 3501 9, RFC 5182) and
// compact number-set formatting (RFC 4315, RFC 4731). See sequence_set.hpp.
#include "imapd/sequence_set.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace imapd {

namespace {

// seq-number = nz-number / "*"; nz-number has no leading zero (RFC 3501 9).
std::optional<std::uint32_t> parse_seq_number(std::string_view text) {
  if (text == "*") return SequenceSet::star;
  if (text.empty() || text.size() > 10 || text[0] < '1' || text[0] > '9') return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

void append_number(std::string& out, std::uint32_t n) {
  if (n == SequenceSet::star) {
    out.push_back('*');
  } else {
    out += std::to_string(n);
  }
}

}  // namespace

std::optional<SequenceSet> SequenceSet::parse(std::string_view text,
                                              const SequenceSetLimits& limits) {
  SequenceSet set;
  if (text == "$") {
    if (!limits.allow_saved) return std::nullopt;
    set.saved_ = true;
    return set;
  }
  if (text.empty()) return std::nullopt;
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = text.find(',', pos);
    const auto element = text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    if (set.ranges_.size() >= limits.max_ranges) return std::nullopt;
    const std::size_t colon = element.find(':');
    SeqRange r;
    if (colon == std::string_view::npos) {
      const auto n = parse_seq_number(element);
      if (!n) return std::nullopt;
      r = {*n, *n};
    } else {
      const auto a = parse_seq_number(element.substr(0, colon));
      const auto b = parse_seq_number(element.substr(colon + 1));
      if (!a || !b) return std::nullopt;
      r = {*a, *b};
    }
    set.ranges_.push_back(r);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return set;
}

SequenceSet SequenceSet::from_ranges(std::vector<SeqRange> ranges) {
  SequenceSet set;
  set.ranges_ = std::move(ranges);
  return set;
}

bool SequenceSet::uses_star() const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [](const SeqRange& r) { return r.first == star || r.last == star; });
}

std::uint32_t SequenceSet::max_explicit() const {
  std::uint32_t m = 0;
  for (const auto& r : ranges_) m = std::max({m, r.first, r.last});
  return m;
}

bool SequenceSet::contains(std::uint32_t n, std::uint32_t largest) const {
  if (n == 0 || n > largest) return false;
  for (const auto& r : ranges_) {
    std::uint32_t a = r.first == star ? largest : r.first;
    std::uint32_t b = r.last == star ? largest : r.last;
    if (a > b) std::swap(a, b);
    if (n >= a && n <= b) return true;
  }
  return false;
}

std::vector<SeqRange> SequenceSet::resolve(std::uint32_t largest) const {
  std::vector<SeqRange> out;
  if (largest == 0) return out;
  out.reserve(ranges_.size());
  for (const auto& r : ranges_) {
    std::uint32_t a = r.first == star ? largest : r.first;
    std::uint32_t b = r.last == star ? largest : r.last;
    if (a > b) std::swap(a, b);
    if (a > largest) continue;
    out.push_back({a, std::min(b, largest)});
  }
  std::sort(out.begin(), out.end(),
            [](const SeqRange& x, const SeqRange& y) { return x.first < y.first; });
  std::size_t w = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    // Merge overlapping and adjacent ranges ("1:3,4" -> "1:4").
    if (w > 0 && static_cast<std::uint64_t>(out[i].first) <= static_cast<std::uint64_t>(out[w - 1].last) + 1) {
      out[w - 1].last = std::max(out[w - 1].last, out[i].last);
    } else {
      out[w++] = out[i];
    }
  }
  out.resize(w);
  return out;
}

std::string SequenceSet::to_string() const {
  if (saved_) return "$";
  return format_ranges(ranges_);
}

std::size_t SequenceSet::lower_bound_from(std::span<const std::uint32_t> sorted, std::size_t from,
                                          std::uint32_t value) {
  const auto it = std::lower_bound(sorted.begin() + static_cast<std::ptrdiff_t>(from), sorted.end(), value);
  return static_cast<std::size_t>(it - sorted.begin());
}

std::string format_ranges(std::span<const SeqRange> ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out.push_back(',');
    append_number(out, r.first);
    if (r.last != r.first) {
      out.push_back(':');
      append_number(out, r.last);
    }
  }
  return out;
}

std::string format_numbers(std::span<const std::uint32_t> numbers) {
  std::string out;
  std::size_t i = 0;
  while (i < numbers.size()) {
    std::size_t j = i;
    while (j + 1 < numbers.size() && numbers[j] != std::numeric_limits<std::uint32_t>::max() &&
           numbers[j + 1] == numbers[j] + 1) {
      ++j;
    }
    if (!out.empty()) out.push_back(',');
    out += std::to_string(numbers[i]);
    if (j > i) {
      out.push_back(':');
      out += std::to_string(numbers[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace imapd
