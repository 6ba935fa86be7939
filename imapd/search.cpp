// imapd/search.cpp: SEARCH criteria (RFC 3501 6.4.4, RFC 4731 RETURN, RFC
// 5182 "$"): parser and evaluator. See search.hpp. The parser recurses once
// per NOT/OR/parenthesis level, bounded by SearchLimits::max_depth; the
// evaluator walks the same tree.
#include "imapd/search.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "imapd/fetch.hpp"
#include "lib/ascii.hpp"
#include "lib/mime.hpp"
#include "lib/rfc5322.hpp"
#include "lib/utf8.hpp"

namespace imapd {

namespace {

using Kind = SearchKey::Kind;

using lib::ascii::to_upper;

constexpr auto iequal = lib::ascii::iequals;

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// ---------------------------------------------------------------------------
// Case folding
// ---------------------------------------------------------------------------

char32_t fold_code_point(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;  // Latin-1
  if (c >= 0x100 && c <= 0x17f) {                          // Latin Extended-A
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) return c | 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c & 1) ? c + 1 : c;
    if (c == 0x178) return 0xff;
    return c;
  }
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 32;  // Greek
  if (c == 0x386) return 0x3ac;
  if (c >= 0x388 && c <= 0x38a) return c + 37;
  if (c == 0x38c) return 0x3cc;
  if (c == 0x38e || c == 0x38f) return c + 63;
  if (c == 0x3c2) return 0x3c3;  // final sigma matches sigma
  if (c >= 0x410 && c <= 0x42f) return c + 32;  // Cyrillic
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  return c;
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

// What evaluating a key may cost: keys are reordered cheapest first.
int cost(const SearchKey& k) {
  switch (k.kind) {
    case Kind::all:
    case Kind::flag:
    case Kind::keyword:
    case Kind::sequence:
    case Kind::uid:
    case Kind::before:
    case Kind::on:
    case Kind::since:
    case Kind::modseq:
    case Kind::older:
    case Kind::younger:
    case Kind::emailid:
    case Kind::threadid:
    case Kind::saved_before:
    case Kind::saved_on:
    case Kind::saved_since:
    case Kind::savedate_supported:
      return 0;
    case Kind::larger:
    case Kind::smaller:
      return 1;
    case Kind::header:
    case Kind::sent_before:
    case Kind::sent_on:
    case Kind::sent_since:
      return 2;
    case Kind::body:
    case Kind::text:
      return 3;
    case Kind::not_:
      return cost(k.children[0]);
    case Kind::and_:
    case Kind::or_: {
      int c = 0;
      for (const auto& child : k.children) c = std::max(c, cost(child));
      return c;
    }
  }
  return 3;
}

void order_by_cost(SearchKey& k) {
  if (k.kind == Kind::and_) {
    std::stable_sort(k.children.begin(), k.children.end(),
                     [](const SearchKey& a, const SearchKey& b) { return cost(a) < cost(b); });
  } else if (k.kind == Kind::or_ && cost(k.children[1]) < cost(k.children[0])) {
    std::swap(k.children[0], k.children[1]);
  }
}

class Parser {
 public:
  Parser(std::span<const Value> args, bool allow_saved, const SearchLimits& limits, SearchProgram& program)
      : args_(args), allow_saved_(allow_saved), limits_(limits), program_(program) {}

  bool fail(std::string text) {
    if (error_.empty()) error_ = std::move(text);
    return false;
  }
  const std::string& error() const { return error_; }

  // Parses keys from args_[pos_..] until the end into `group` (an AND).
  bool parse_all(SearchKey& group) {
    while (pos_ < args_.size()) {
      SearchKey k;
      if (!parse_key(args_, pos_, k, 0)) return false;
      group.children.push_back(std::move(k));
    }
    return true;
  }

 private:
  bool count_key() {
    if (++keys_ > limits_.max_keys) return fail("Too many search keys");
    return true;
  }

  const Value* next(std::span<const Value> list, std::size_t& pos, std::string_view for_key) {
    if (pos >= list.size()) {
      fail("Missing argument for " + std::string(for_key));
      return nullptr;
    }
    return &list[pos++];
  }

  bool string_arg(std::span<const Value> list, std::size_t& pos, std::string_view key, std::string& out) {
    const Value* v = next(list, pos, key);
    if (!v) return false;
    if (!v->is_astring() || v->kind == Value::Kind::section) {
      return fail("Invalid string for " + std::string(key));
    }
    if (v->str().size() > limits_.max_string_bytes) return fail("Search string too long");
    out = std::string(v->str());
    return true;
  }

  bool date_arg(std::span<const Value> list, std::size_t& pos, std::string_view key, SearchKey& k) {
    const Value* v = next(list, pos, key);
    if (!v) return false;
    const auto d = (v->kind == Value::Kind::atom || v->kind == Value::Kind::quoted)
                       ? parse_search_date(v->str())
                       : std::nullopt;
    if (!d) return fail("Invalid date for " + std::string(key));
    std::tie(k.year, k.month, k.day) = *d;
    return true;
  }

  bool set_arg(const Value& v, SearchKey& k) {
    if (!v.is_atom_like()) return false;
    SequenceSetLimits sl;
    sl.allow_saved = allow_saved_;
    auto set = SequenceSet::parse(v.text, sl);
    if (!set) return false;
    if (set->is_saved()) program_.uses_saved = true;
    k.set = std::move(*set);
    return true;
  }

  bool parse_key(std::span<const Value> list, std::size_t& pos, SearchKey& k, std::size_t depth);

  std::span<const Value> args_;
  std::size_t pos_ = 0;
  bool allow_saved_;
  const SearchLimits& limits_;
  SearchProgram& program_;
  std::size_t keys_ = 0;
  std::string error_;
};

bool Parser::parse_key(std::span<const Value> list, std::size_t& pos, SearchKey& k, std::size_t depth) {
  if (depth > limits_.max_depth) return fail("Search criteria nested too deep");
  if (!count_key()) return false;
  const Value& v = list[pos++];
  if (v.is_list()) {
    if (v.items.empty()) return fail("Empty search group");
    k.kind = Kind::and_;
    std::size_t p = 0;
    while (p < v.items.size()) {
      SearchKey child;
      if (!parse_key(v.items, p, child, depth + 1)) return false;
      k.children.push_back(std::move(child));
    }
    order_by_cost(k);
    return true;
  }
  if (!v.is_atom_like()) return fail("Invalid search key");
  // A sequence set ("1:3,5", "*", "$").
  const char c0 = v.text.empty() ? '\0' : v.text[0];
  if ((c0 >= '0' && c0 <= '9') || c0 == '*' || c0 == '$') {
    k.kind = Kind::sequence;
    if (!set_arg(v, k)) return fail("Invalid sequence set " + v.text.substr(0, 40));
    return true;
  }
  std::string word = v.text;
  for (char& ch : word) ch = to_upper(ch);

  struct FlagKey {
    std::string_view name;
    SystemFlag flag;
    bool negate;
  };
  static constexpr FlagKey flag_keys[] = {
      {"ANSWERED", SystemFlag::answered, false}, {"DELETED", SystemFlag::deleted, false},
      {"DRAFT", SystemFlag::draft, false},       {"FLAGGED", SystemFlag::flagged, false},
      {"SEEN", SystemFlag::seen, false},         {"RECENT", SystemFlag::recent, false},
      {"UNANSWERED", SystemFlag::answered, true}, {"UNDELETED", SystemFlag::deleted, true},
      {"UNDRAFT", SystemFlag::draft, true},      {"UNFLAGGED", SystemFlag::flagged, true},
      {"UNSEEN", SystemFlag::seen, true},        {"OLD", SystemFlag::recent, true},
  };
  for (const auto& f : flag_keys) {
    if (word != f.name) continue;
    SearchKey flag;
    flag.kind = Kind::flag;
    flag.flag = f.flag;
    if (f.negate) {
      k.kind = Kind::not_;
      k.children.push_back(std::move(flag));
    } else {
      k = std::move(flag);
    }
    return true;
  }
  if (word == "ALL") {
    k.kind = Kind::all;
    return true;
  }
  if (word == "NEW") {  // RECENT UNSEEN
    k.kind = Kind::and_;
    SearchKey recent;
    recent.kind = Kind::flag;
    recent.flag = SystemFlag::recent;
    SearchKey seen;
    seen.kind = Kind::flag;
    seen.flag = SystemFlag::seen;
    SearchKey unseen;
    unseen.kind = Kind::not_;
    unseen.children.push_back(std::move(seen));
    k.children.push_back(std::move(recent));
    k.children.push_back(std::move(unseen));
    return true;
  }
  if (word == "NOT") {
    if (pos >= list.size()) return fail("Missing argument for NOT");
    k.kind = Kind::not_;
    k.children.resize(1);
    return parse_key(list, pos, k.children[0], depth + 1);
  }
  if (word == "OR") {
    k.kind = Kind::or_;
    k.children.resize(2);
    for (auto& child : k.children) {
      if (pos >= list.size()) return fail("Missing argument for OR");
      if (!parse_key(list, pos, child, depth + 1)) return false;
    }
    order_by_cost(k);
    return true;
  }
  if (word == "KEYWORD" || word == "UNKEYWORD") {
    const Value* a = next(list, pos, word);
    if (!a) return false;
    if (!a->is_atom_like() || a->text.empty() || a->text.size() > 1000) {
      return fail("Invalid keyword for " + word);
    }
    SearchKey kw;
    kw.kind = Kind::keyword;
    kw.value = a->text;
    if (word == "UNKEYWORD") {
      k.kind = Kind::not_;
      k.children.push_back(std::move(kw));
    } else {
      k = std::move(kw);
    }
    return true;
  }
  if (word == "UID") {
    const Value* a = next(list, pos, word);
    if (!a) return false;
    k.kind = Kind::uid;
    if (!set_arg(*a, k)) return fail("Invalid UID set");
    return true;
  }
  if (word == "MODSEQ") {
    // MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 3.1.5);
    // the per-flag entries share the message's modseq here.
    const Value* a = next(list, pos, word);
    if (!a) return false;
    if (a->kind != Value::Kind::number) {
      if (!a->is_astring()) return fail("Invalid MODSEQ entry name");
      const Value* type = next(list, pos, word);
      if (!type) return false;
      if (!type->is_word("ALL") && !type->is_word("SHARED") && !type->is_word("PRIV"))
        return fail("Invalid MODSEQ entry type (all, shared, priv)");
      a = next(list, pos, word);
      if (!a) return false;
    }
    if (a->kind != Value::Kind::number || a->number >= (std::uint64_t{1} << 63))
      return fail("Invalid mod-sequence for MODSEQ");
    k.kind = Kind::modseq;
    k.size = a->number;
    program_.uses_modseq = true;
    return true;
  }
  if (word == "LARGER" || word == "SMALLER") {
    const Value* a = next(list, pos, word);
    if (!a) return false;
    if (a->kind != Value::Kind::number) return fail("Invalid number for " + word);
    k.kind = word == "LARGER" ? Kind::larger : Kind::smaller;
    k.size = a->number;
    program_.needs_size = true;
    return true;
  }
  if (word == "SAVEDATESUPPORTED") {  // SAVEDATE (RFC 8514)
    k.kind = Kind::savedate_supported;
    return true;
  }
  if (word == "EMAILID" || word == "THREADID") {  // OBJECTID (RFC 8474)
    const Value* a = next(list, pos, word);
    if (!a) return false;
    if (!a->is_atom_like()) return fail("Invalid object id for " + word);
    k.kind = word == "EMAILID" ? Kind::emailid : Kind::threadid;
    k.value = a->text;
    return true;
  }
  if (word == "OLDER" || word == "YOUNGER") {  // WITHIN (RFC 5032)
    const Value* a = next(list, pos, word);
    if (!a) return false;
    if (a->kind != Value::Kind::number || a->number == 0 || a->number > 0xffffffffu)
      return fail("Invalid interval for " + word);
    k.kind = word == "OLDER" ? Kind::older : Kind::younger;
    k.size = a->number;
    return true;
  }
  static constexpr std::pair<std::string_view, Kind> date_keys[] = {
      {"BEFORE", Kind::before},          {"ON", Kind::on},           {"SINCE", Kind::since},
      {"SENTBEFORE", Kind::sent_before}, {"SENTON", Kind::sent_on}, {"SENTSINCE", Kind::sent_since},
      {"SAVEDBEFORE", Kind::saved_before}, {"SAVEDON", Kind::saved_on}, {"SAVEDSINCE", Kind::saved_since},
  };
  for (const auto& [name, kind] : date_keys) {
    if (word != name) continue;
    k.kind = kind;
    if (kind == Kind::sent_before || kind == Kind::sent_on || kind == Kind::sent_since) {
      program_.needs_content = true;
    }
    return date_arg(list, pos, word, k);
  }
  static constexpr std::pair<std::string_view, std::string_view> address_keys[] = {
      {"FROM", "From"}, {"TO", "To"}, {"CC", "Cc"}, {"BCC", "Bcc"}, {"SUBJECT", "Subject"},
  };
  for (const auto& [name, field] : address_keys) {
    if (word != name) continue;
    k.kind = Kind::header;
    k.field = std::string(field);
    std::string s;
    if (!string_arg(list, pos, word, s)) return false;
    k.value = search_fold(s);
    program_.needs_content = true;
    return true;
  }
  if (word == "HEADER") {
    k.kind = Kind::header;
    std::string s;
    if (!string_arg(list, pos, word, k.field) || !string_arg(list, pos, word, s)) return false;
    if (k.field.empty()) return fail("Empty header field name");
    k.value = search_fold(s);
    program_.needs_content = true;
    return true;
  }
  if (word == "BODY" || word == "TEXT") {
    k.kind = word == "BODY" ? Kind::body : Kind::text;
    std::string s;
    if (!string_arg(list, pos, word, s)) return false;
    k.value = search_fold(s);
    program_.needs_content = true;
    return true;
  }
  return fail("Unknown search key " + v.text.substr(0, 40));
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

struct Ymd {
  int y, m, d;
  auto operator<=>(const Ymd&) const = default;
};

Ymd ymd_of(std::time_t t, int zone_offset_minutes) {
  const std::time_t local = t + static_cast<std::time_t>(zone_offset_minutes) * 60;
  std::tm tm{};
  if (!gmtime_r(&local, &tm)) return {1970, 1, 1};
  return {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

bool compare_date(Kind kind, const Ymd& have, const Ymd& want) {
  switch (kind) {
    case Kind::before:
    case Kind::sent_before:
    case Kind::saved_before:
      return have < want;
    case Kind::on:
    case Kind::sent_on:
    case Kind::saved_on:
      return have == want;
    default:  // since, sent_since
      return have >= want;
  }
}

bool contains_folded(std::string_view haystack_folded, std::string_view needle_folded) {
  return haystack_folded.find(needle_folded) != std::string_view::npos;
}

class Evaluator {
 public:
  Evaluator(SearchMessage& message, const SearchContext& context) : m_(message), ctx_(context) {}

  bool eval(const SearchKey& k) {
    switch (k.kind) {
      case Kind::all:
        return true;
      case Kind::and_:
        for (const auto& c : k.children) {
          if (!eval(c)) return false;
        }
        return true;
      case Kind::or_:
        return eval(k.children[0]) || eval(k.children[1]);
      case Kind::not_:
        return !eval(k.children[0]);
      case Kind::flag:
        return m_.has_flag(k.flag);
      case Kind::keyword:
        return m_.has_keyword(k.value);
      case Kind::sequence:
        if (k.set.is_saved()) return in_saved();
        return k.set.contains(m_.seq(), ctx_.message_count);
      case Kind::uid:
        if (k.set.is_saved()) return in_saved();
        return k.set.contains(m_.uid(), ctx_.max_uid);
      case Kind::before:
      case Kind::on:
      case Kind::since: {
        const std::time_t t = m_.internal_date();
        const int zone = ctx_.zone_offset_minutes ? *ctx_.zone_offset_minutes : local_zone_offset_minutes(t);
        return compare_date(k.kind, ymd_of(t, zone), {k.year, k.month, k.day});
      }
      case Kind::sent_before:
      case Kind::sent_on:
      case Kind::sent_since: {
        const lib::rfc5322::Header* header = m_.header();
        if (!header) return false;
        const auto value = header->value("Date");
        if (!value) return false;
        const auto date = lib::rfc5322::parse_date(*value);
        if (!date) return false;
        return compare_date(k.kind, {date->year, date->month, date->day}, {k.year, k.month, k.day});
      }
      case Kind::modseq:
        return m_.modseq() >= k.size;
      case Kind::saved_before:
      case Kind::saved_on:
      case Kind::saved_since: {
        const std::time_t t = m_.save_date().value_or(m_.internal_date());
        const int zone = ctx_.zone_offset_minutes ? *ctx_.zone_offset_minutes : local_zone_offset_minutes(t);
        return compare_date(k.kind, ymd_of(t, zone), {k.year, k.month, k.day});
      }
      case Kind::savedate_supported:
        return m_.save_date().has_value();
      case Kind::emailid:
        return m_.email_id() == k.value;
      case Kind::threadid:
        return false;
      case Kind::older:
        return m_.internal_date() <= std::time(nullptr) - static_cast<std::time_t>(k.size);
      case Kind::younger:
        return m_.internal_date() > std::time(nullptr) - static_cast<std::time_t>(k.size);
      case Kind::larger:
        return m_.size() > k.size;
      case Kind::smaller:
        return m_.size() < k.size;
      case Kind::header:
        return header_matches(k.field, k.value);
      case Kind::body:
        return body_matches(k.value);
      case Kind::text:
        return text_header_matches(k.value) || body_matches(k.value);
    }
    return false;
  }

 private:
  bool in_saved() const {
    if (!ctx_.saved_uids) return false;
    return std::binary_search(ctx_.saved_uids->begin(), ctx_.saved_uids->end(), m_.uid());
  }

  bool header_matches(std::string_view field, std::string_view needle) {
    const lib::rfc5322::Header* header = m_.header();
    if (!header) return false;
    for (const auto& f : header->fields) {
      if (!f.is(field)) continue;
      if (needle.empty()) return true;  // RFC 3501: an empty string matches any such field
      if (contains_folded(search_fold(lib::mime::decode_encoded_words(f.value())), needle)) return true;
      if (is_address_field(field) && contains_folded(search_fold(address_text(f.value())), needle)) return true;
    }
    return false;
  }

  static bool is_address_field(std::string_view field) {
    for (std::string_view a : {"From", "To", "Cc", "Bcc", "Sender", "Reply-To"})
      if (lib::ascii::iequals(field, a)) return true;
    return false;
  }

  // The addresses as "Name <local@domain>, ...", comments and folding
  // removed, so FROM "user-from@domain.org" finds
  // "<user-from (comment)@ (comment) domain.org>" (RFC 3501 6.4.4 searches
  // the field; its comments are not part of the address).
  static std::string address_text(std::string_view value) {
    std::string out;
    for (const auto& a : lib::rfc5322::parse_address_list(value).addresses) {
      if (a.kind != lib::rfc5322::Address::Kind::mailbox) continue;
      if (!out.empty()) out += ", ";
      if (!a.name.empty()) out += lib::mime::decode_encoded_words(a.name) + " ";
      out += "<" + a.addr_spec() + ">";
    }
    return out;
  }

  // The whole header, each field decoded, for TEXT.
  bool text_header_matches(std::string_view needle) {
    if (!header_folded_) {
      const lib::rfc5322::Header* header = m_.header();
      if (!header) return false;
      std::string all;
      for (const auto& f : header->fields) {
        all.append(f.name.data(), f.name.size());
        all += ": ";
        all += lib::mime::decode_encoded_words(f.value());
        all += '\n';
      }
      header_folded_ = search_fold(all);
    }
    return contains_folded(*header_folded_, needle);
  }

  bool body_matches(std::string_view needle) {
    if (!body_folded_) {
      MessageText* msg = m_.message();
      if (!msg) return false;
      std::string all;
      collect_text(msg->text(), msg->mime().root, all);
      body_folded_ = search_fold(all);
    }
    return contains_folded(*body_folded_, needle);
  }

  // Every text part's decoded UTF-8, and the header of every encapsulated
  // message (a forwarded mail's Subject is part of the outer body).
  // Recursion is bounded by lib::mime's nesting limit.
  void collect_text(std::string_view text, const lib::mime::Part& part, std::string& out) {
    if (part.is_multipart()) {
      for (const auto& child : part.children) collect_text(text, child, out);
      return;
    }
    if (const lib::mime::Part* inner = part.message()) {
      for (const auto& f : inner->header.fields) {
        out.append(f.name.data(), f.name.size());
        out += ": ";
        out += lib::mime::decode_encoded_words(f.value());
        out += '\n';
      }
      collect_text(text, *inner, out);
      return;
    }
    if (part.type == "text") {
      out += lib::mime::text_utf8(text, part);
      out += '\n';
    }
  }

  SearchMessage& m_;
  const SearchContext& ctx_;
  std::optional<std::string> header_folded_;
  std::optional<std::string> body_folded_;
};

}  // namespace

const lib::rfc5322::Header* SearchMessage::header() {
  MessageText* m = message();
  return m ? &m->header() : nullptr;
}

std::string search_fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(static_cast<char>((b0 >= 'A' && b0 <= 'Z') ? b0 + 32 : b0));
      ++i;
      continue;
    }
    const lib::utf8::Decoded d = lib::utf8::decode(s, i);
    if (!d.valid()) {
      lib::utf8::append(out, 0xfffd);
      ++i;
      continue;
    }
    lib::utf8::append(out, fold_code_point(d.code_point));
    i += d.length;
  }
  return out;
}

std::optional<std::tuple<int, int, int>> parse_search_date(std::string_view s) {
  // date-day "-" date-month "-" date-year (RFC 3501 9); date-day is 1*2DIGIT.
  const std::size_t d1 = s.find('-');
  if (d1 == std::string_view::npos || d1 == 0 || d1 > 2) return std::nullopt;
  int day = 0;
  for (std::size_t i = 0; i < d1; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    day = day * 10 + (s[i] - '0');
  }
  if (s.size() != d1 + 1 + 3 + 1 + 4 || s[d1 + 4] != '-') return std::nullopt;
  int month = 0;
  for (int m = 0; m < 12; ++m) {
    if (iequal(s.substr(d1 + 1, 3), kMonths[m])) month = m + 1;
  }
  if (month == 0) return std::nullopt;
  int year = 0;
  for (char c : s.substr(d1 + 5)) {
    if (c < '0' || c > '9') return std::nullopt;
    year = year * 10 + (c - '0');
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day < 1 || day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return std::nullopt;
  return std::make_tuple(year, month, day);
}

SearchParseResult parse_search(std::span<const Value> args, bool allow_esearch, bool allow_saved,
                               const SearchLimits& limits) {
  SearchParseResult result;
  SearchProgram program;
  std::size_t pos = 0;
  if (allow_esearch && pos < args.size() && args[pos].is_word("RETURN")) {
    ++pos;
    if (pos >= args.size() || !args[pos].is_list()) {
      result.error = "RETURN needs a list of options";
      return result;
    }
    SearchReturn r;
    const auto& opts = args[pos].items;
    for (std::size_t oi = 0; oi < opts.size(); ++oi) {
      const Value& o = opts[oi];
      if (o.is_word("MIN")) {
        r.min = true;
      } else if (o.is_word("MAX")) {
        r.max = true;
      } else if (o.is_word("ALL")) {
        r.all = true;
      } else if (o.is_word("COUNT")) {
        r.count = true;
      } else if (o.is_word("SAVE") && allow_saved) {
        r.save = true;
      } else if (o.is_word("UPDATE")) {
        r.update = true;
      } else if (o.is_word("CONTEXT")) {
        r.context = true;
      } else if (o.is_word("PARTIAL") && !r.partial && oi + 1 < opts.size()) {
        // PARTIAL lo:hi (RFC 5267 4.4, 9394): two positive numbers.
        const Value& range = opts[++oi];
        auto set = range.is_atom_like() ? SequenceSet::parse(range.text) : std::nullopt;
        auto ranges = set && !set->uses_star() && !set->is_saved() ? set->resolve(0xffffffffu) : std::vector<SeqRange>{};
        if (ranges.size() != 1 || range.text.find(':') == std::string::npos) {
          result.error = "PARTIAL needs a range low:high";
          return result;
        }
        r.partial = std::pair(ranges[0].first, ranges[0].last);
      } else {
        result.error = "Unknown RETURN option";
        return result;
      }
    }
    if (r.none()) r.all = true;  // "RETURN ()" means ALL (RFC 4731 3.1)
    program.returns = r;
    ++pos;
  }
  if (pos < args.size() && args[pos].is_word("CHARSET")) {
    ++pos;
    if (pos >= args.size() || !args[pos].is_astring() || args[pos].kind == Value::Kind::section) {
      result.error = "CHARSET needs a name";
      return result;
    }
    const std::string_view cs = args[pos].str();
    if (!iequal(cs, "UTF-8") && !iequal(cs, "US-ASCII")) {
      result.error = "Unsupported charset";
      result.bad_charset = true;
      return result;
    }
    ++pos;
  }
  if (pos >= args.size()) {
    result.error = "Missing search criteria";
    return result;
  }
  program.root.kind = Kind::and_;
  Parser parser(args.subspan(pos), allow_saved, limits, program);
  if (!parser.parse_all(program.root)) {
    result.error = parser.error();
    return result;
  }
  order_by_cost(program.root);
  result.program = std::move(program);
  return result;
}

bool search_matches(const SearchProgram& program, SearchMessage& message, const SearchContext& context) {
  Evaluator e(message, context);
  return e.eval(program.root);
}

SearchParseResult parse_search_with_charset(std::span<const Value> return_option,
                                            std::span<const Value> charset_and_keys,
                                            bool allow_esearch, const SearchLimits& limits) {
  std::vector<Value> args(return_option.begin(), return_option.end());
  Value charset_word;
  charset_word.text = "CHARSET";
  charset_word.raw = "CHARSET";
  args.push_back(charset_word);
  args.insert(args.end(), charset_and_keys.begin(), charset_and_keys.end());
  return parse_search(args, allow_esearch, false, limits);
}

}  // namespace imapd
