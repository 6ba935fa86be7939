// imapd/sort.cpp: SORT arguments, base subjects and ordering. See sort.hpp.
#include "imapd/sort.hpp"

#include <algorithm>
#include <tuple>

#include "lib/ascii.hpp"
#include "lib/mime.hpp"

namespace imapd {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// subj-blob = "[" *BLOBCHAR "]" *WSP, at `pos`; returns the end or npos.
std::size_t blob_end(std::string_view s, std::size_t pos) {
  if (pos >= s.size() || s[pos] != '[') return std::string_view::npos;
  std::size_t i = pos + 1;
  while (i < s.size() && s[i] != ']' && s[i] != '[') ++i;
  if (i >= s.size() || s[i] != ']') return std::string_view::npos;
  ++i;
  while (i < s.size() && s[i] == ' ') ++i;
  return i;
}

// subj-leader's refwd part, *subj-blob subj-refwd, at the start; returns its
// length or 0.
std::size_t refwd_leader(std::string_view s) {
  std::size_t pos = 0;
  for (std::size_t e; (e = blob_end(s, pos)) != std::string_view::npos;) pos = e;
  std::string_view rest = s.substr(pos);
  for (std::string_view word : {"fwd", "fw", "re"}) {
    if (!lib::ascii::istarts_with(rest, word)) continue;
    std::size_t i = pos + word.size();
    while (i < s.size() && s[i] == ' ') ++i;
    if (std::size_t e = blob_end(s, i); e != std::string_view::npos) i = e;
    if (i < s.size() && s[i] == ':') return i + 1;
  }
  return 0;
}

}  // namespace

std::string base_subject(std::string_view subject, bool* is_reply_or_forward) {
  bool reply = false;
  // (1) decode, and make every run of white space one space.
  std::string decoded = lib::mime::decode_encoded_words(subject);
  std::string s;
  s.reserve(decoded.size());
  for (char c : decoded) {
    if (is_wsp(c)) {
      if (s.empty() || s.back() != ' ') s.push_back(' ');
    } else {
      s.push_back(c);
    }
  }
  for (;;) {
    // (2) trailers: "(fwd)" and white space.
    for (;;) {
      if (!s.empty() && s.back() == ' ') {
        s.pop_back();
      } else if (s.size() >= 5 && lib::ascii::iequals(std::string_view(s).substr(s.size() - 5), "(fwd)")) {
        s.resize(s.size() - 5);
        reply = true;
      } else {
        break;
      }
    }
    // (3)-(5) leaders, and blobs that leave text behind.
    for (bool changed = true; changed;) {
      changed = false;
      if (!s.empty() && s.front() == ' ') {
        s.erase(0, 1);
        changed = true;
      } else if (std::size_t n = refwd_leader(s); n > 0) {
        s.erase(0, n);
        reply = true;
        changed = true;
      } else if (std::size_t e = blob_end(s, 0); e != std::string_view::npos && e < s.size()) {
        s.erase(0, e);
        changed = true;
      }
    }
    // (6) "[fwd: ... ]"
    if (s.size() >= 6 && lib::ascii::istarts_with(s, "[fwd:") && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      reply = true;
      continue;
    }
    break;
  }
  if (is_reply_or_forward) *is_reply_or_forward = reply;
  return s;
}

SortParseResult parse_sort(std::span<const Value> args, bool allow_esort, const SearchLimits& limits) {
  SortParseResult result;
  std::size_t pos = 0;
  std::span<const Value> return_option;
  if (allow_esort && pos < args.size() && args[pos].is_word("RETURN")) {
    if (pos + 1 >= args.size()) {
      result.error = "RETURN needs a list of options";
      return result;
    }
    return_option = args.subspan(pos, 2);
    pos += 2;
  }
  if (pos >= args.size() || !args[pos].is_list() || args[pos].items.empty()) {
    result.error = "Syntax: SORT (criteria) charset search-criteria";
    return result;
  }
  SortProgram program;
  bool reverse = false;
  for (const Value& v : args[pos].items) {
    static constexpr std::pair<std::string_view, SortKey> keys[] = {
        {"ARRIVAL", SortKey::arrival}, {"CC", SortKey::cc},     {"DATE", SortKey::date},
        {"FROM", SortKey::from},       {"SIZE", SortKey::size}, {"SUBJECT", SortKey::subject},
        {"TO", SortKey::to},           {"DISPLAYFROM", SortKey::display_from},
        {"DISPLAYTO", SortKey::display_to}};
    if (v.is_word("REVERSE") && !reverse) {
      reverse = true;
      continue;
    }
    auto it = std::find_if(std::begin(keys), std::end(keys), [&](const auto& k) { return v.is_word(k.first); });
    if (it == std::end(keys)) {
      result.error = "Unknown sort criterion " + std::string(v.raw);
      return result;
    }
    program.criteria.push_back({it->second, reverse});
    reverse = false;
    if (it->second == SortKey::size) program.needs_size = true;
    else if (it->second != SortKey::arrival) program.needs_header = true;
  }
  if (reverse) {
    result.error = "REVERSE must be followed by a sort criterion";
    return result;
  }
  ++pos;
  if (pos >= args.size() || !args[pos].is_astring()) {
    result.error = "SORT needs a charset";
    return result;
  }
  if (take_search(parse_search_with_charset(return_option, args.subspan(pos), allow_esort, limits), program.search, result))
    result.program = std::move(program);
  return result;
}

namespace {

// The first address of the field: a mailbox or the start of a group (whose
// name is the envelope's mailbox and, for RFC 5957, its display name, as
// Dovecot sorts it).
const lib::rfc5322::Address* first_address(const lib::rfc5322::Header& header, std::string_view field) {
  thread_local lib::rfc5322::AddressList list;
  auto value = header.value(field);
  list = value ? lib::rfc5322::parse_address_list(*value, 100) : lib::rfc5322::AddressList{};
  for (const auto& a : list.addresses)
    if (a.kind != lib::rfc5322::Address::Kind::group_end) return &a;
  return nullptr;
}

using Kind = lib::rfc5322::Address::Kind;

std::string mailbox_key(const lib::rfc5322::Header& header, std::string_view field) {
  const auto* a = first_address(header, field);
  if (!a) return {};
  return lib::ascii::to_upper(a->kind == Kind::group_start ? a->name : a->mailbox);
}

// RFC 5957 2: the display name, RFC 2047 decoded; the addr-spec when empty.
std::string display_key(const lib::rfc5322::Header& header, std::string_view field) {
  const auto* a = first_address(header, field);
  if (!a) return {};
  std::string name = lib::mime::decode_encoded_words(a->name);
  bool blank = std::all_of(name.begin(), name.end(), [](char c) { return is_wsp(c); });
  return lib::ascii::to_upper(blank && a->kind == Kind::mailbox ? a->addr_spec() : name);
}

}  // namespace

void fill_sort_facts(SortFacts& facts, const lib::rfc5322::Header& header) {
  facts.date = facts.arrival;
  if (auto d = header.value("Date"))
    if (auto parsed = lib::rfc5322::parse_date(*d)) facts.date = parsed->time;
  facts.owned = std::make_unique<std::array<std::string, 6>>();
  auto& o = *facts.owned;
  o[0] = mailbox_key(header, "From");
  o[1] = mailbox_key(header, "To");
  o[2] = mailbox_key(header, "Cc");
  o[3] = display_key(header, "From");
  o[4] = display_key(header, "To");
  auto subject = header.value("Subject");
  o[5] = lib::ascii::to_upper(subject ? base_subject(*subject) : std::string());
  facts.from = o[0];
  facts.to = o[1];
  facts.cc = o[2];
  facts.display_from = o[3];
  facts.display_to = o[4];
  facts.subject = o[5];
}

std::vector<std::uint32_t> sort_order(const std::vector<SortFacts>& messages, std::span<const SortCriterion> criteria) {
  auto compare_key = [](const SortFacts& a, const SortFacts& b, SortKey key) -> int {
    auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
    switch (key) {
      case SortKey::arrival: return cmp(a.arrival, b.arrival);
      case SortKey::date: return cmp(a.date, b.date);
      case SortKey::size: return cmp(a.size, b.size);
      case SortKey::cc: return a.cc.compare(b.cc);
      case SortKey::from: return a.from.compare(b.from);
      case SortKey::to: return a.to.compare(b.to);
      case SortKey::subject: return a.subject.compare(b.subject);
      case SortKey::display_from: return a.display_from.compare(b.display_from);
      case SortKey::display_to: return a.display_to.compare(b.display_to);
    }
    return 0;
  };
  std::vector<std::uint32_t> order(messages.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  // One string key (SORT (SUBJECT) and the like): the keys side by side,
  // compared without the per-criterion dispatch, first by 8 bytes taken
  // after the prefix all keys share (as a big-endian integer), and in full
  // only when those are equal.
  auto string_key = [](const SortFacts& f, SortKey key) -> const std::string_view* {
    switch (key) {
      case SortKey::cc: return &f.cc;
      case SortKey::from: return &f.from;
      case SortKey::to: return &f.to;
      case SortKey::subject: return &f.subject;
      case SortKey::display_from: return &f.display_from;
      case SortKey::display_to: return &f.display_to;
      default: return nullptr;
    }
  };
  if (criteria.size() == 1 && !messages.empty() && string_key(messages.front(), criteria.front().key)) {
    const SortKey key = criteria.front().key;
    std::string_view common = *string_key(messages.front(), key);
    for (const SortFacts& f : messages) {
      const std::string_view k = *string_key(f, key);
      std::size_t n = 0;
      while (n < common.size() && n < k.size() && common[n] == k[n]) ++n;
      common = common.substr(0, n);
    }
    struct Item {
      std::uint64_t prefix;
      std::string_view key;
      std::uint32_t seq, index;
    };
    std::vector<Item> items;
    items.reserve(messages.size());
    for (std::uint32_t i = 0; i < messages.size(); ++i) {
      const std::string_view k = *string_key(messages[i], key);
      std::uint64_t prefix = 0;
      for (std::size_t j = 0; j < 8; ++j)
        prefix = (prefix << 8) | (common.size() + j < k.size() ? static_cast<unsigned char>(k[common.size() + j]) : 0u);
      items.push_back({prefix, k, messages[i].seq, i});
    }
    // An LSD radix sort by the prefix (reversed: by its complement), 8 bits
    // a pass, stable; then each run of equal prefixes (one key shorter, its
    // zero fill, or longer keys alike in those 8 bytes) sorted in full.
    const bool reverse = criteria.front().reverse;
    if (reverse)
      for (Item& it : items) it.prefix = ~it.prefix;
    std::vector<Item> spare(items.size());
    for (int shift = 0; shift < 64; shift += 8) {
      std::size_t count[257] = {};
      for (const Item& it : items) ++count[((it.prefix >> shift) & 0xff) + 1];
      if (count[((items.front().prefix >> shift) & 0xff) + 1] == items.size()) continue;  // one bucket
      for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
      for (const Item& it : items) spare[count[(it.prefix >> shift) & 0xff]++] = it;
      items.swap(spare);
    }
    for (std::size_t i = 0; i < items.size();) {
      std::size_t j = i + 1;
      while (j < items.size() && items[j].prefix == items[i].prefix) ++j;
      if (j - i > 1)
        std::sort(items.begin() + static_cast<std::ptrdiff_t>(i), items.begin() + static_cast<std::ptrdiff_t>(j),
                  [reverse](const Item& a, const Item& b) {
                    const int r = a.key.compare(b.key);
                    if (r != 0) return reverse ? r > 0 : r < 0;
                    return a.seq != b.seq ? a.seq < b.seq : a.index < b.index;
                  });
      i = j;
    }
    for (std::size_t i = 0; i < items.size(); ++i) order[i] = items[i].index;
    return order;
  }
  // Ties in sequence order: seq, then the position, as the last words.
  std::sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) {
    const SortFacts& a = messages[x];
    const SortFacts& b = messages[y];
    for (const auto& c : criteria) {
      int r = compare_key(a, b, c.key);
      if (r != 0) return c.reverse ? r > 0 : r < 0;
    }
    return a.seq != b.seq ? a.seq < b.seq : x < y;
  });
  return order;
}

std::vector<std::uint32_t> sort_order_by_ranks(std::span<const std::uint32_t> ranks, std::size_t n,
                                               std::uint32_t bound, std::span<const SortCriterion> criteria) {
  std::vector<std::uint32_t> order(n), next(n);
  for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
  std::vector<std::uint32_t> count(std::size_t{bound} + 1);
  for (std::size_t c = criteria.size(); c-- > 0;) {
    const std::uint32_t* column = ranks.data() + c * n;
    const bool reverse = criteria[c].reverse;
    auto bucket = [&](std::uint32_t pos) { return reverse ? bound - 1 - column[pos] : column[pos]; };
    std::fill(count.begin(), count.end(), 0u);
    for (std::size_t i = 0; i < n; ++i) ++count[bucket(static_cast<std::uint32_t>(i)) + 1];
    for (std::uint32_t b = 0; b < bound; ++b) count[b + 1] += count[b];
    for (std::uint32_t pos : order) next[count[bucket(pos)]++] = pos;
    order.swap(next);
  }
  return order;
}

void sort_messages(std::vector<SortFacts>& messages, std::span<const SortCriterion> criteria) {
  const std::vector<std::uint32_t> order = sort_order(messages, criteria);
  std::vector<SortFacts> out;
  out.reserve(messages.size());
  for (std::uint32_t i : order) out.push_back(std::move(messages[i]));
  messages = std::move(out);
}

}  // namespace imapd
