// tests/fuzz/fuzz_mime.cpp: libFuzzer target for lib/rfc5322 and lib/mime.
// Feeds one input to every parser: MIME structure (default and tight limits)
// with IMAP section lookups, header blocks, addresses, dates, encoded words,
// parameters, transfer encodings and charsets; checks their invariants and
// aborts on any violation, so the fuzzer reports it like a crash.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//          -I. tests/fuzz/fuzz_mime.cpp lib/mime.cpp lib/rfc5322.cpp
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mime.hpp"
#include "lib/rfc5322.hpp"
#include "tests/fuzz/invariant_check.hpp"

namespace {

using lib::mime::Part;

bool has_line_break_or_nul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool is_lower_ascii(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

bool within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;  // empty views may point anywhere
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// Header block invariants: views inside the input, offsets in order.
void check_header(const lib::rfc5322::Header& h, std::string_view in) {
  CHECK(h.start <= h.end);
  CHECK(h.end <= h.body_start);
  CHECK(h.body_start <= in.size());
  std::size_t prev = h.start;
  for (const auto& f : h.fields) {
    CHECK(!f.name.empty());
    CHECK(within(f.name, in));
    CHECK(within(f.raw_value, in));
    CHECK(f.offset >= prev);
    CHECK(f.offset + f.size <= h.end);
    CHECK(f.name.data() == in.data() + f.offset);
    CHECK(f.value().size() <= f.raw_value.size());
    prev = f.offset + f.size;
  }
}

void check_addresses(std::string_view value) {
  const auto list = lib::rfc5322::parse_address_list(value, 64);
  int depth = 0;
  for (const auto& a : list.addresses) {
    if (a.kind == lib::rfc5322::Address::Kind::group_start) ++depth;
    if (a.kind == lib::rfc5322::Address::Kind::group_end) --depth;
    CHECK(depth == 0 || depth == 1);
    if (a.kind == lib::rfc5322::Address::Kind::mailbox) {
      const std::string spec = a.addr_spec();
      CHECK(spec.size() >= a.mailbox.size());
    }
  }
  CHECK(depth == 0);
  CHECK(list.addresses.size() <= 65);
}

void check_date(std::string_view value) {
  const auto d = lib::rfc5322::parse_date(value);
  if (!d) return;
  CHECK(d->year >= 1900 && d->year <= 9999);
  CHECK(d->month >= 1 && d->month <= 12);
  CHECK(d->day >= 1 && d->day <= 31);
  CHECK(d->hour >= 0 && d->hour <= 23);
  CHECK(d->minute >= 0 && d->minute <= 59);
  CHECK(d->second >= 0 && d->second <= 60);
  if (!d->zone_known) CHECK(d->zone_offset_minutes == 0);
  // What format_date writes, parse_date reads back to the same instant.
  const std::string text = lib::rfc5322::format_date(d->time, d->zone_offset_minutes);
  const auto back = lib::rfc5322::parse_date(text);
  if (d->year > 1900 && d->year < 9999) {
    CHECK(back.has_value());
    CHECK(back->time == d->time);
    CHECK(back->zone_offset_minutes == d->zone_offset_minutes);
  }
}

void check_encoded_words(std::string_view value) {
  const std::string decoded = lib::mime::decode_encoded_words(value);
  // Decoding must never add a line break or NUL (header injection).
  if (!has_line_break_or_nul(value)) CHECK(!has_line_break_or_nul(decoded));

  std::string clean;
  for (char c : lib::mime::sanitize_utf8(value)) {
    if (c != '\r' && c != '\n' && c != '\0') clean += c;
  }
  const std::string enc = lib::mime::encode_encoded_words(clean, " ");
  CHECK(!has_line_break_or_nul(enc));
  CHECK(lib::mime::decode_encoded_words(enc) == clean);
  if (enc != clean) {
    std::size_t start = 0;
    while (start <= enc.size()) {
      std::size_t end = enc.find(' ', start);
      if (end == std::string::npos) end = enc.size();
      CHECK(end - start <= 75);
      start = end + 1;
    }
  }
}

// Every part of the tree, with the IMAP section path that must find it.
void collect_sections(const Part& p, const std::string& path, bool is_root,
                      std::vector<std::pair<std::string, const Part*>>& out) {
  auto child_path = [&](std::size_t i) {
    return (path.empty() ? std::string() : path + ".") + std::to_string(i + 1);
  };
  if (p.is_multipart()) {
    for (std::size_t i = 0; i < p.children.size(); ++i) {
      out.emplace_back(child_path(i), &p.children[i]);
      collect_sections(p.children[i], child_path(i), false, out);
    }
  } else if (const Part* m = p.message()) {
    if (is_root) return;  // covered by the root's own "1" below
    if (m->is_multipart()) {
      collect_sections(*m, path, false, out);
    } else {
      out.emplace_back(child_path(0), m);
      collect_sections(*m, child_path(0), false, out);
    }
  }
}

struct TreeStats {
  std::size_t parts = 0;
  std::size_t depth = 0;
};

void check_part(const Part& p, std::string_view in, std::size_t lo, std::size_t hi, std::size_t depth,
                TreeStats& stats, std::set<const Part*>& all, bool fields) {
  ++stats.parts;
  all.insert(&p);
  if (depth > stats.depth) stats.depth = depth;
  CHECK(lo <= p.header_start);
  CHECK(p.header_start == p.header.start);
  CHECK(p.header_start <= p.body_start);
  CHECK(p.body_start == p.header.body_start);
  CHECK(p.body_start <= p.body_end);
  CHECK(p.body_end <= hi);
  check_header(p.header, in);

  // Line count: "text lines", a last line without line break included.
  const std::string_view body = p.body(in);
  CHECK(body.size() == p.body_bytes());
  std::size_t lines = 0;
  for (char c : body) lines += c == '\n' ? 1 : 0;
  if (!body.empty() && body.back() != '\n') ++lines;
  CHECK(p.body_lines == lines);

  CHECK(!p.type.empty() && !p.subtype.empty());
  CHECK(is_lower_ascii(p.type) && is_lower_ascii(p.subtype));
  if (p.is_multipart()) {
    CHECK(!p.children.empty());
  } else if (p.type == "message") {
    CHECK(p.children.size() <= 1);
  } else {
    CHECK(p.children.empty());
  }
  const std::string name = p.filename();
  CHECK(lib::mime::valid_utf8(name));
  (void)p.charset();

  if (p.children.empty()) {
    bool eight = false;
    for (char c : body) eight = eight || static_cast<unsigned char>(c) >= 0x80;
    CHECK(eight == p.has_8bit);
    const auto decoded = lib::mime::decode_body(in, p);
    if (p.encoding == lib::mime::TransferEncoding::base64 ||
        p.encoding == lib::mime::TransferEncoding::quoted_printable) {
      CHECK(decoded.data.size() <= body.size());
    }
    CHECK(lib::mime::valid_utf8(lib::mime::text_utf8(in, p)));
  }
  std::size_t prev = p.body_start;
  for (const Part& c : p.children) {
    CHECK(c.header_start >= prev);
    check_part(c, in, p.body_start, p.body_end, depth + 1, stats, all, fields);
    prev = c.body_end;
  }
  // A few fields through the header-level parsers.
  if (!fields) return;
  std::size_t n = 0;
  for (const auto& f : p.header.fields) {
    if (++n > 16) break;
    const std::string v = f.value();
    check_addresses(v);
    check_date(v);
    check_encoded_words(v);
  }
}

void check_message(std::string_view in, const lib::mime::Limits& limits, std::string_view paths, bool fields) {
  const lib::mime::Message m = lib::mime::parse(in, limits);
  CHECK(m.diagnostics.size() <= limits.max_diagnostics);
  for (const auto& d : m.diagnostics) {
    CHECK(d.offset <= in.size());
    CHECK(!lib::rfc5322::diagnostic_name(d.kind).empty());
  }
  const std::size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    CHECK(m.line_ending == lib::rfc5322::LineEnding::none);
  } else {
    CHECK(m.line_ending == (nl > 0 && in[nl - 1] == '\r' ? lib::rfc5322::LineEnding::crlf
                                                         : lib::rfc5322::LineEnding::lf));
  }
  TreeStats stats;
  std::set<const Part*> all;
  check_part(m.root, in, 0, in.size(), 0, stats, all, fields);
  CHECK(stats.parts == m.part_count);
  const std::size_t max_depth = std::min(limits.max_depth, lib::mime::max_depth_cap);
  CHECK(stats.depth <= max_depth);
  if (limits.max_parts > 0) CHECK(m.part_count <= limits.max_parts);

  // IMAP section numbers: every part is found by its path ...
  CHECK(lib::mime::find_section(m.root, "") == &m.root);
  if (!m.root.is_multipart()) CHECK(lib::mime::find_section(m.root, "1") == &m.root);
  std::vector<std::pair<std::string, const Part*>> sections;
  if (!m.root.is_multipart()) {
    if (const Part* msg = m.root.message()) {
      if (msg->is_multipart()) {
        collect_sections(*msg, "1", false, sections);
      } else {
        sections.emplace_back("1.1", msg);
        collect_sections(*msg, "1.1", false, sections);
      }
    }
  } else {
    collect_sections(m.root, "", true, sections);
  }
  for (const auto& [path, part] : sections) CHECK(lib::mime::find_section(m.root, path) == part);
  // ... and arbitrary paths find nothing or a part of this tree.
  std::size_t start = 0;
  while (start < paths.size()) {
    std::size_t end = paths.find(' ', start);
    if (end == std::string_view::npos) end = paths.size();
    const Part* p = lib::mime::find_section(m.root, paths.substr(start, end - start));
    CHECK(p == nullptr || all.count(p) == 1);
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view head = in.substr(0, 64);

  // MIME structure, default limits and tight ones (so limits are hit often).
  check_message(in, lib::mime::Limits{}, head, true);
  lib::mime::Limits tight;
  tight.max_depth = 3;
  tight.max_parts = 8;
  tight.header.max_header_bytes = 300;
  tight.header.max_fields = 6;
  tight.header.max_field_bytes = 100;
  tight.max_diagnostics = 3;
  tight.check_encodings = false;
  check_message(in, tight, head, false);

  // Header block alone, from offset 0 and from the middle.
  check_header(lib::rfc5322::parse_header(in), in);
  lib::rfc5322::HeaderOptions mid;
  mid.start = size / 2;
  mid.stop_before = [](std::string_view line) { return line.substr(0, 2) == "--"; };
  check_header(lib::rfc5322::parse_header(in, mid), in);

  // The raw input as a field value.
  const std::string_view value = in.substr(0, 8192);
  check_addresses(value);
  check_date(value.substr(0, 600));
  check_encoded_words(value);
  if (auto ct = lib::mime::parse_content_type(value)) {
    CHECK(!ct->type.empty() && !ct->subtype.empty());
    CHECK(is_lower_ascii(ct->type) && is_lower_ascii(ct->subtype));
    CHECK(ct->params.size() <= 100);
    for (const auto& p : ct->params) CHECK(is_lower_ascii(p.name));
  }
  (void)lib::mime::parse_content_disposition(value);

  // Transfer encodings.
  const auto b64 = lib::mime::decode_base64(in);
  CHECK(b64.data.size() <= size);
  const auto again = lib::mime::decode_base64(lib::mime::encode_base64(b64.data));
  CHECK(again.errors == 0 && again.data == b64.data);
  const auto qp = lib::mime::decode_quoted_printable(in);
  CHECK(qp.data.size() <= size);

  // Charsets: output is always valid UTF-8.
  static const char* const charsets[] = {"utf-8",      "us-ascii",  "iso-8859-1", "windows-1252", "iso-2022-jp",
                                         "shift_jis",  "gb2312",    "utf-16",     "utf-7",        "koi8-r",
                                         "big5",       "euc-jp",    "x-unknown",  "ks_c_5601-1987", "utf-32le",
                                         "iso-8859-8-i"};
  const char* cs = charsets[size == 0 ? 0 : static_cast<unsigned char>(in[0]) % (sizeof charsets / sizeof *charsets)];
  if (auto u = lib::mime::to_utf8(in, cs)) CHECK(lib::mime::valid_utf8(*u));
  CHECK(lib::mime::valid_utf8(lib::mime::sanitize_utf8(in)));
  return 0;
}
