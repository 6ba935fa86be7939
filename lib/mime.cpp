// lib/mime.cpp: MIME parts and structure (RFC 2045, 2046): the Part accessors,
// body decoding, the structure parser and IMAP section lookup. Charsets, transfer
// encodings, encoded words and parameters live in lib/mime_charset.cpp,
// lib/mime_transfer.cpp, lib/mime_words.cpp and lib/mime_params.cpp. See
// lib/mime.hpp for the contracts. Nothing here is quadratic: the structure
// parser walks the message once, line by line, and compares a line with the
// open boundaries only when it begins with "--"; every other loop moves forward
// through its input.
#include "lib/mime.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "lib/mime_internal.hpp"

namespace lib::mime {

using namespace internal;

// ---------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------

const Part* Part::message() const {
  return (type == "message" && children.size() == 1) ? &children.front() : nullptr;
}

const Param* Part::param(std::string_view name) const { return find_param(params, name); }

std::string Part::charset() const {
  if (const Param* p = param("charset")) {
    const std::string_view v = trim(p->value);
    if (!v.empty()) return to_lower(v);
  }
  return type == "text" ? "us-ascii" : "";
}

std::string Part::filename() const {
  const Param* p = find_param(disposition_params, "filename");
  if (!p || p->value.empty()) p = param("name");
  if (!p) return {};
  std::string v = p->value;
  if (v.find("=?") != std::string::npos) v = decode_encoded_words(v);
  auto u = to_utf8(v, "us-ascii");  // valid UTF-8 stays; stray 8-bit is read as windows-1252
  return u ? *u : sanitize_utf8(v);
}

std::string_view Part::header_text(std::string_view message) const {
  if (header_start > message.size() || body_start > message.size() || body_start < header_start) return {};
  return message.substr(header_start, body_start - header_start);
}

std::string_view Part::body(std::string_view message) const {
  if (body_end > message.size() || body_start > body_end) return {};
  return message.substr(body_start, body_end - body_start);
}

bool Message::has(DiagnosticKind kind) const {
  for (const Diagnostic& d : diagnostics) {
    if (d.kind == kind) return true;
  }
  return false;
}

Decoded decode_body(std::string_view message, const Part& part) {
  const std::string_view body = part.body(message);
  switch (part.encoding) {
    case TransferEncoding::base64: return decode_base64(body);
    case TransferEncoding::quoted_printable: return decode_quoted_printable(body);
    default: break;
  }
  return Decoded{std::string(body), 0};
}

std::string text_utf8(std::string_view message, const Part& part) {
  Decoded d = decode_body(message, part);
  std::string cs = part.charset();
  if (cs.empty()) cs = "us-ascii";
  if (auto u = to_utf8(d.data, cs)) return std::move(*u);
  return sanitize_utf8(d.data);
}

// ---------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------

namespace {

// RFC 2046 5.1.1 allows 70 bytes; real mailers go a little over. Past this a
// boundary is refused, which also bounds the cost of comparing one.
constexpr std::size_t max_boundary_bytes = 200;
constexpr std::size_t max_languages = 32;
constexpr std::size_t no_level = static_cast<std::size_t>(-1);

// Where a walk over lines stopped: at a boundary line of an open multipart
// (level = its index on the boundary stack) or at the end of the message.
struct Stop {
  std::size_t pos = 0;   // start of the boundary line, or the message size
  std::size_t line = 0;  // line breaks before pos
  std::size_t level = no_level;
  bool close = false;     // "--boundary--"
  std::size_t next = 0;   // start of the line after the boundary line
  std::size_t next_line = 0;
};

struct BoundaryMatch {
  std::size_t level;
  bool close;
};

// Offset of the first byte >= 0x80, or npos. Eight bytes at a time: bodies
// can be tens of megabytes.
std::size_t find_8bit(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, sizeof w);
    if (w & 0x8080808080808080ULL) break;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return i;
  }
  return std::string_view::npos;
}

void downgrade(Part& p) {
  p.type = "application";
  p.subtype = "octet-stream";
  p.params.clear();
  p.children.clear();
}

TransferEncoding encoding_from_name(std::string_view name, bool& known) {
  known = true;
  if (name == "7bit") return TransferEncoding::seven_bit;
  if (name == "8bit") return TransferEncoding::eight_bit;
  if (name == "binary") return TransferEncoding::binary;
  if (name == "quoted-printable") return TransferEncoding::quoted_printable;
  if (name == "base64") return TransferEncoding::base64;
  known = false;
  return TransferEncoding::unknown;
}

bool identity_encoding(TransferEncoding e) {
  return e == TransferEncoding::seven_bit || e == TransferEncoding::eight_bit || e == TransferEncoding::binary;
}

class StructureParser {
 public:
  StructureParser(std::string_view message, const Limits& limits, Message& out)
      : msg_(message), lim_(limits), out_(out), max_depth_(std::min(limits.max_depth, max_depth_cap)) {}

  void run() {
    check_lines();
    parse_part(out_.root, 0, 0, 0, false);
    std::stable_sort(out_.diagnostics.begin(), out_.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.offset < b.offset; });
  }

 private:
  void diag(DiagnosticKind kind, std::size_t offset, std::string detail = {}) {
    if (out_.diagnostics.size() >= lim_.max_diagnostics) return;
    out_.diagnostics.push_back(Diagnostic{kind, offset, std::move(detail)});
  }

  // Line-level checks over the whole message, each kind reported once.
  void check_lines() {
    const char* base = msg_.data();
    const std::size_t n = msg_.size();
    if (n == 0) return;
    if (const void* nl = std::memchr(base, '\n', n)) {
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
      out_.line_ending = (at > 0 && base[at - 1] == '\r') ? rfc5322::LineEnding::crlf : rfc5322::LineEnding::lf;
    }
    bool long_seen = false, bare_lf_seen = false, mixed_seen = false;
    std::size_t pos = 0;
    while (pos < n && !(long_seen && bare_lf_seen && mixed_seen)) {
      const void* nlp = std::memchr(base + pos, '\n', n - pos);
      const std::size_t end = nlp ? static_cast<std::size_t>(static_cast<const char*>(nlp) - base) : n;
      const bool crlf = nlp && end > pos && base[end - 1] == '\r';
      const std::size_t len = end - pos - (crlf ? 1 : 0);
      if (len > 998 && !long_seen) {  // RFC 5322 2.1.1
        long_seen = true;
        diag(DiagnosticKind::line_too_long, pos);
      }
      if (nlp) {
        if (out_.line_ending == rfc5322::LineEnding::crlf && !crlf && !bare_lf_seen) {
          bare_lf_seen = true;
          diag(DiagnosticKind::bare_lf, end);
        } else if (out_.line_ending == rfc5322::LineEnding::lf && crlf && !mixed_seen) {
          mixed_seen = true;
          diag(DiagnosticKind::mixed_line_endings, end - 1);
        }
      }
      if (!nlp) break;
      pos = end + 1;
    }
    std::size_t p = 0;
    while (p < n) {
      const void* crp = std::memchr(base + p, '\r', n - p);
      if (!crp) break;
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(crp) - base);
      if (at + 1 >= n || base[at + 1] != '\n') {
        diag(DiagnosticKind::bare_cr, at);
        break;
      }
      p = at + 1;
    }
    if (const void* z = std::memchr(base, '\0', n)) {
      diag(DiagnosticKind::nul_byte, static_cast<std::size_t>(static_cast<const char*>(z) - base));
    }
  }

  // Is `line` (line break excluded) a boundary line of an open multipart?
  // Exact matches (boundary, optional "--", then only transport padding) win
  // over prefix matches, and inner levels over outer ones, so a boundary that
  // is a prefix of another still works whichever way they nest.
  std::optional<BoundaryMatch> match(std::string_view line) const {
    if (line.size() < 2 || line[0] != '-' || line[1] != '-') return std::nullopt;
    const std::string_view rest = line.substr(2);
    for (std::size_t k = bounds_.size(); k-- > 0;) {
      const std::string_view b = bounds_[k];
      if (rest.substr(0, b.size()) != b) continue;
      std::string_view tail = rest.substr(b.size());
      const bool close = tail.substr(0, 2) == "--";
      if (close) tail.remove_prefix(2);
      if (std::all_of(tail.begin(), tail.end(), is_wsp)) return BoundaryMatch{k, close};
    }
    for (std::size_t k = bounds_.size(); k-- > 0;) {
      const std::string_view b = bounds_[k];
      if (rest.substr(0, b.size()) == b) return BoundaryMatch{k, rest.substr(b.size(), 2) == "--"};
    }
    return std::nullopt;
  }

  // Walks lines from pos (a line start, `line` line breaks before it) to the
  // next boundary line of any open multipart, or to the end.
  Stop walk(std::size_t pos, std::size_t line) const {
    const char* base = msg_.data();
    const std::size_t n = msg_.size();
    Stop s;
    if (bounds_.empty()) {
      s.line = line + static_cast<std::size_t>(std::count(base + std::min(pos, n), base + n, '\n'));
      s.pos = s.next = n;
      s.next_line = s.line;
      return s;
    }
    while (pos < n) {
      const void* nlp = std::memchr(base + pos, '\n', n - pos);
      const std::size_t end = nlp ? static_cast<std::size_t>(static_cast<const char*>(nlp) - base) : n;
      if (base[pos] == '-' && pos + 1 < n && base[pos + 1] == '-') {
        std::size_t content_end = end;
        if (nlp && content_end > pos && base[content_end - 1] == '\r') --content_end;
        if (auto m = match(msg_.substr(pos, content_end - pos))) {
          s.pos = pos;
          s.line = line;
          s.level = m->level;
          s.close = m->close;
          s.next = nlp ? end + 1 : n;
          s.next_line = nlp ? line + 1 : line;
          return s;
        }
      }
      if (!nlp) break;
      pos = end + 1;
      ++line;
    }
    s.pos = s.next = n;
    s.line = s.next_line = line;
    return s;
  }

  // Applies the Content-* fields of part.header; the first of each wins.
  void apply_headers(Part& part, bool in_digest) {
    bool have_type = false, have_cte = false, have_disposition = false;
    bool have_id = false, have_description = false, have_language = false;
    bool have_location = false, have_md5 = false;
    bool type_ok = false;
    for (const rfc5322::Field& f : part.header.fields) {
      if (f.name.size() < 9 || !iequals(f.name.substr(0, 8), "content-")) continue;
      const std::string_view what = f.name.substr(8);
      if (iequals(what, "type") && !have_type) {
        have_type = true;
        if (auto ct = parse_content_type(f.value())) {
          part.type = std::move(ct->type);
          part.subtype = std::move(ct->subtype);
          part.params = std::move(ct->params);
          type_ok = true;
        } else {
          diag(DiagnosticKind::invalid_content_type, f.offset, excerpt(f.value()));
        }
      } else if (iequals(what, "transfer-encoding") && !have_cte) {
        have_cte = true;
        const std::string v = f.value();
        std::size_t i = 0;
        skip_cfws(v, i);
        const std::string name = read_token(v, i);
        if (name.empty()) continue;
        bool known = false;
        part.encoding = encoding_from_name(name, known);
        part.encoding_name = name;
        if (!known) diag(DiagnosticKind::unknown_transfer_encoding, f.offset, excerpt(name));
      } else if (iequals(what, "id") && !have_id) {
        have_id = true;
        part.id = f.value();
      } else if (iequals(what, "description") && !have_description) {
        have_description = true;
        part.description = f.value();
      } else if (iequals(what, "disposition") && !have_disposition) {
        have_disposition = true;
        if (auto d = parse_content_disposition(f.value())) {
          part.disposition = std::move(d->type);
          part.disposition_params = std::move(d->params);
        }
      } else if (iequals(what, "language") && !have_language) {
        have_language = true;
        const std::string v = f.value();
        std::size_t i = 0;
        while (i < v.size() && part.languages.size() < max_languages) {
          skip_cfws(v, i);
          const std::size_t start = i;
          while (i < v.size() && v[i] != ',' && v[i] != '(' && !is_space(v[i])) ++i;
          if (i > start) part.languages.push_back(v.substr(start, i - start));
          skip_cfws(v, i);
          if (i < v.size() && v[i] == ',') {
            ++i;
          } else if (i < v.size() && i == start) {
            ++i;  // a stray byte: step over it
          }
        }
      } else if (iequals(what, "location") && !have_location) {
        have_location = true;
        part.location = f.value();
      } else if (iequals(what, "md5") && !have_md5) {
        have_md5 = true;
        part.md5 = f.value();
      }
    }
    if (!type_ok) {  // RFC 2045 5.2, RFC 2046 5.1.5
      if (in_digest) {
        part.type = "message";
        part.subtype = "rfc822";
        part.params.clear();
      } else {
        part.type = "text";
        part.subtype = "plain";
        part.params = {Param{"charset", "us-ascii", {}, {}, {}}};
      }
    }
  }

  // Body end and line count from where the walk stopped.
  void finish_body(Part& part, const Stop& s, std::size_t body_line, std::size_t min_end) {
    const std::size_t bs = part.body_start;
    std::size_t be = s.level == no_level ? msg_.size() : s.pos;
    std::size_t end_line = s.line;
    if (s.level != no_level && be > bs) {
      // The line break before a boundary line is the boundary's (RFC 2046 5.1.1).
      --be;
      --end_line;
      if (be > bs && msg_[be - 1] == '\r') --be;
    }
    if (be < bs) be = bs;
    // An empty part right before the boundary line owns that line break as
    // its header's blank line; the enclosing body must still contain it.
    if (min_end > be) {
      be = s.pos;
      end_line = s.line;
    }
    part.body_end = be;
    part.body_lines = be == bs ? 0 : (end_line - body_line) + (msg_[be - 1] != '\n' ? 1 : 0);
  }

  void check_leaf(Part& part) {
    const std::string_view body = part.body(msg_);
    const std::size_t first_8bit = find_8bit(body);
    part.has_8bit = first_8bit != std::string_view::npos;
    if (part.has_8bit && (part.encoding == TransferEncoding::seven_bit ||
                          part.encoding == TransferEncoding::quoted_printable ||
                          part.encoding == TransferEncoding::base64)) {
      diag(DiagnosticKind::eight_bit_undeclared, part.body_start + first_8bit, part.encoding_name);
    }
    if (!lim_.check_encodings) return;
    std::size_t errors = 0;
    if (part.encoding == TransferEncoding::base64) errors = base64_errors(body);
    if (part.encoding == TransferEncoding::quoted_printable) errors = quoted_printable_errors(body);
    if (errors != 0) diag(DiagnosticKind::invalid_encoding, part.body_start, part.encoding_name);
  }

  // Reported once per message; the detail says which limit.
  void too_complex(std::size_t offset, bool depth) {
    if (too_complex_reported_) return;
    too_complex_reported_ = true;
    diag(DiagnosticKind::too_complex, offset,
         depth ? "nesting deeper than " + std::to_string(max_depth_)
               : "more than " + std::to_string(lim_.max_parts) + " parts");
  }

  // Parses the part whose header starts at pos (a line start, `line` line
  // breaks before it) and returns where its body ended.
  Stop parse_part(Part& part, std::size_t pos, std::size_t line, std::size_t depth, bool in_digest) {
    ++out_.part_count;
    rfc5322::HeaderOptions ho;
    ho.start = pos;
    ho.limits = lim_.header;
    if (!bounds_.empty()) ho.stop_before = [this](std::string_view l) { return match(l).has_value(); };
    part.header = rfc5322::parse_header(msg_, ho);
    for (Diagnostic& d : part.header.diagnostics) {
      // Line-level kinds come from check_lines() for the whole message.
      if (d.kind == DiagnosticKind::bare_cr || d.kind == DiagnosticKind::bare_lf ||
          d.kind == DiagnosticKind::mixed_line_endings || d.kind == DiagnosticKind::nul_byte) {
        continue;
      }
      diag(d.kind, d.offset, std::move(d.detail));
    }
    part.header.diagnostics.clear();
    part.header_start = part.header.start;
    part.body_start = part.header.body_start;
    const std::size_t body_line = line + part.header.lines;
    apply_headers(part, in_digest);

    Stop s;
    bool leaf = true;
    if (part.type == "multipart") {
      const Param* b = part.param("boundary");
      const std::string_view boundary = b ? std::string_view(b->value) : std::string_view();
      if (boundary.empty() || boundary.size() > max_boundary_bytes) {
        diag(DiagnosticKind::bad_boundary, part.header_start,
             boundary.empty() ? "multipart without boundary" : "boundary longer than 200 bytes");
        downgrade(part);
      } else if (!identity_encoding(part.encoding)) {
        diag(DiagnosticKind::encoding_on_composite, part.header_start, part.encoding_name);
        downgrade(part);
      } else if (depth >= max_depth_) {
        too_complex(part.header_start, true);
        downgrade(part);
      } else {
        leaf = false;
        s = parse_multipart(part, std::string(boundary), body_line, depth);
      }
    } else if (part.type == "message" && (part.subtype == "rfc822" || part.subtype == "global")) {
      if (!identity_encoding(part.encoding)) {
        // RFC 2045 6.4 forbids it for message/rfc822; RFC 6532 3.5 allows it
        // for message/global, but either way there is no message to open in place.
        if (part.subtype == "rfc822") {
          diag(DiagnosticKind::encoding_on_composite, part.header_start, part.encoding_name);
        }
        downgrade(part);
      } else if (depth >= max_depth_) {
        too_complex(part.header_start, true);
        downgrade(part);
      } else if (out_.part_count >= lim_.max_parts) {
        too_complex(part.header_start, false);
        downgrade(part);
      } else {
        leaf = false;
        part.children.emplace_back();
        s = parse_part(part.children.front(), part.body_start, body_line, depth + 1, false);
        part.has_8bit = part.children.front().has_8bit;
      }
    }
    if (leaf) s = walk(part.body_start, body_line);
    finish_body(part, s, body_line, part.children.empty() ? 0 : part.children.back().body_end);
    if (part.children.empty()) check_leaf(part);  // leaves, and composites that were downgraded
    return s;
  }

  Stop parse_multipart(Part& part, std::string boundary, std::size_t body_line, std::size_t depth) {
    for (const std::string& outer : bounds_) {
      if (outer.starts_with(boundary) || boundary.starts_with(outer)) {
        diag(DiagnosticKind::bad_boundary, part.header_start, "overlaps an enclosing boundary: " + excerpt(boundary));
        break;
      }
    }
    const bool digest = part.subtype == "digest";
    bounds_.push_back(std::move(boundary));
    const std::size_t level = bounds_.size() - 1;
    bool closed = false;
    bool skipped = false;
    Stop s = walk(part.body_start, body_line);  // the preamble
    while (s.level == level) {
      if (s.close) {
        closed = true;
        pop_boundary();
        s = walk(s.next, s.next_line);  // the epilogue, up to an outer boundary
        break;
      }
      if (out_.part_count >= lim_.max_parts) {
        too_complex(s.pos, false);
        skipped = true;
        s = walk(s.next, s.next_line);
        continue;
      }
      part.children.emplace_back();
      s = parse_part(part.children.back(), s.next, s.next_line, depth + 1, digest);
    }
    if (!closed) {
      pop_boundary();
      if (!part.children.empty()) diag(DiagnosticKind::missing_close_delimiter, s.pos, excerpt(bounds_text(part)));
    }
    if (part.children.empty()) {
      if (!skipped) diag(DiagnosticKind::bad_boundary, part.body_start, "boundary never found in the body");
      downgrade(part);
      return s;
    }
    part.has_8bit = std::any_of(part.children.begin(), part.children.end(), [](const Part& c) { return c.has_8bit; });
    return s;
  }

  std::string bounds_text(const Part& part) const {
    const Param* b = part.param("boundary");
    return b ? b->value : std::string();
  }

  void pop_boundary() { bounds_.pop_back(); }

  std::string_view msg_;
  const Limits& lim_;
  Message& out_;
  std::size_t max_depth_;
  std::vector<std::string> bounds_;  // boundaries of the open multiparts, outermost first
  bool too_complex_reported_ = false;
};

}  // namespace

Message parse(std::string_view message, const Limits& limits) {
  Message out;
  StructureParser(message, limits, out).run();
  return out;
}

const Part* find_section(const Part& root, std::string_view section) {
  const Part* cur = &root;
  bool first = true;
  while (!section.empty()) {
    const std::size_t dot = section.find('.');
    const std::string_view number = section.substr(0, dot);
    if (dot == std::string_view::npos) {
      section = {};
    } else {
      section.remove_prefix(dot + 1);
      if (section.empty()) return nullptr;  // "1."
    }
    // nz-number (RFC 3501 9): no leading zero; nine digits is plenty.
    if (number.empty() || number.size() > 9 || number[0] == '0') return nullptr;
    std::size_t k = 0;
    for (char c : number) {
      if (!is_digit(c)) return nullptr;
      k = k * 10 + static_cast<std::size_t>(c - '0');
    }
    const Part* container = cur;
    if (!first) {
      if (cur->is_multipart()) {
        container = cur;
      } else if (const Part* m = cur->message()) {
        container = m;
      } else {
        return nullptr;
      }
    }
    if (container->is_multipart()) {
      if (k > container->children.size()) return nullptr;
      cur = &container->children[k - 1];
    } else {
      if (k != 1) return nullptr;
      cur = container;  // a non-multipart message's only part is its body
    }
    first = false;
  }
  return cur;
}

}  // namespace lib::mime
