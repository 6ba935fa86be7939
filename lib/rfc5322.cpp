// lib/rfc5322.cpp: header blocks, addresses and dates (RFC 5322, 6532).
// See lib/rfc5322.hpp for the contracts. Every loop here advances through the
// input and never goes back more than a constant distance, so hostile input
// costs time linear in its size.
#include "lib/rfc5322.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "lib/ascii.hpp"

namespace lib::rfc5322 {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
using ascii::to_lower;

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// A short printable excerpt for Diagnostic::detail: control and 8-bit bytes
// become '?', so the detail can go into a log line as it is.
std::string excerpt(std::string_view s, std::size_t max_bytes = 40) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

// RFC 5322 3.6.8: field names are printable US-ASCII except ':'.
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------

std::string_view diagnostic_name(DiagnosticKind kind) {
  switch (kind) {
    case DiagnosticKind::eight_bit_in_headers: return "eight_bit_in_headers";
    case DiagnosticKind::nul_byte: return "nul_byte";
    case DiagnosticKind::malformed_field: return "malformed_field";
    case DiagnosticKind::header_too_large: return "header_too_large";
    case DiagnosticKind::too_many_fields: return "too_many_fields";
    case DiagnosticKind::field_too_large: return "field_too_large";
    case DiagnosticKind::bare_cr: return "bare_cr";
    case DiagnosticKind::bare_lf: return "bare_lf";
    case DiagnosticKind::mixed_line_endings: return "mixed_line_endings";
    case DiagnosticKind::line_too_long: return "line_too_long";
    case DiagnosticKind::invalid_content_type: return "invalid_content_type";
    case DiagnosticKind::bad_boundary: return "bad_boundary";
    case DiagnosticKind::missing_close_delimiter: return "missing_close_delimiter";
    case DiagnosticKind::too_complex: return "too_complex";
    case DiagnosticKind::invalid_encoding: return "invalid_encoding";
    case DiagnosticKind::unknown_transfer_encoding: return "unknown_transfer_encoding";
    case DiagnosticKind::encoding_on_composite: return "encoding_on_composite";
    case DiagnosticKind::eight_bit_undeclared: return "eight_bit_undeclared";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Header block
// ---------------------------------------------------------------------------

std::string unfold(std::string_view raw_value) {
  std::string out;
  out.reserve(raw_value.size());
  for (char c : raw_value) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

std::string Field::value() const {
  std::string v = unfold(raw_value);
  std::string_view t = trim(v);
  return std::string(t);
}

bool Field::is(std::string_view field_name) const { return iequals(name, field_name); }

const Field* Header::find(std::string_view name) const {
  for (const Field& f : fields) {
    if (f.is(name)) return &f;
  }
  return nullptr;
}

std::vector<const Field*> Header::find_all(std::string_view name) const {
  std::vector<const Field*> out;
  for (const Field& f : fields) {
    if (f.is(name)) out.push_back(&f);
  }
  return out;
}

std::optional<std::string> Header::value(std::string_view name) const {
  const Field* f = find(name);
  if (!f) return std::nullopt;
  return f->value();
}

bool Header::has(DiagnosticKind kind) const {
  for (const Diagnostic& d : diagnostics) {
    if (d.kind == kind) return true;
  }
  return false;
}

Header parse_header(std::string_view message, const HeaderOptions& options) {
  Header h;
  const std::size_t n = message.size();
  const char* base = message.data();
  const HeaderLimits& lim = options.limits;
  std::size_t pos = std::min(options.start, n);
  h.start = h.end = h.body_start = pos;

  // Each kind is reported once per block: one hostile header must not make
  // millions of diagnostics.
  std::uint32_t reported = 0;
  auto report = [&](DiagnosticKind kind, std::size_t offset, std::string detail) {
    const std::uint32_t bit = 1u << static_cast<unsigned>(kind);
    if (reported & bit) return;
    reported |= bit;
    h.diagnostics.push_back(Diagnostic{kind, offset, std::move(detail)});
  };

  enum class Current { none, storing, dropping };
  Current current = Current::none;
  std::size_t value_start = 0;
  bool over_block = false;
  bool first = true;

  while (pos < n) {
    const void* nl = std::memchr(base + pos, '\n', n - pos);
    const std::size_t line_end = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - base) : n;
    const std::size_t next = nl ? line_end + 1 : n;
    std::size_t content_end = line_end;
    bool crlf = false;
    if (nl && content_end > pos && base[content_end - 1] == '\r') {
      --content_end;
      crlf = true;
    }
    const std::string_view line = message.substr(pos, content_end - pos);
    if (options.stop_before && options.stop_before(line)) {
      h.stopped = true;
      break;
    }
    if (line.empty()) {  // the separator line (a line without any byte always has a '\n')
      if (h.line_ending == LineEnding::none) h.line_ending = crlf ? LineEnding::crlf : LineEnding::lf;
      h.end = pos;
      h.body_start = next;
      h.has_separator = true;
      ++h.lines;
      return h;
    }

    // Classify the line before recording anything about it: an invalid first
    // line means there is no header at all, and belongs to the body.
    const bool continuation = is_wsp(line[0]);
    std::size_t colon = std::string_view::npos;
    std::string_view name;
    bool valid = false;
    if (!continuation) {
      colon = line.find(':');
      if (colon != std::string_view::npos) {
        name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // obs-optional
        valid = valid_field_name(name);
      }
    }
    if (first && !valid) {
      report(DiagnosticKind::malformed_field, pos, excerpt(line));
      h.end = h.body_start = pos;
      return h;
    }
    first = false;

    if (nl) {
      const LineEnding le = crlf ? LineEnding::crlf : LineEnding::lf;
      if (h.line_ending == LineEnding::none) {
        h.line_ending = le;
      } else if (le != h.line_ending) {
        report(le == LineEnding::lf ? DiagnosticKind::bare_lf : DiagnosticKind::mixed_line_endings,
               line_end, {});
      }
    }
    for (std::size_t i = 0; i < line.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(line[i]);
      if (c >= 0x80) {
        // The field name is enough to find it, and keeps mail text out of logs.
        std::string_view field = name;
        if (continuation && current == Current::storing) field = h.fields.back().name;
        report(DiagnosticKind::eight_bit_in_headers, pos + i, excerpt(field));
      } else if (c == 0) {
        report(DiagnosticKind::nul_byte, pos + i, {});
      } else if (c == '\r') {  // a CR that survived the line-break strip is bare
        report(DiagnosticKind::bare_cr, pos + i, {});
      }
    }

    if (continuation) {
      if (current == Current::storing) {
        Field& f = h.fields.back();
        f.size = next - f.offset;
        f.raw_value = message.substr(value_start, content_end - value_start);
        if (f.size > lim.max_field_bytes) {
          report(DiagnosticKind::field_too_large, f.offset, excerpt(f.name));
          h.fields.pop_back();
          current = Current::dropping;
        }
      }
    } else if (!valid) {
      report(DiagnosticKind::malformed_field, pos, excerpt(line));
      current = Current::none;
    } else if (over_block) {
      current = Current::dropping;
    } else if (h.fields.size() >= lim.max_fields) {
      report(DiagnosticKind::too_many_fields, pos, excerpt(name));
      current = Current::dropping;
    } else {
      Field f;
      f.name = name;
      value_start = pos + colon + 1;
      f.raw_value = message.substr(value_start, content_end - value_start);
      f.offset = pos;
      f.size = next - pos;
      if (f.size > lim.max_field_bytes) {
        report(DiagnosticKind::field_too_large, pos, excerpt(name));
        current = Current::dropping;
      } else {
        h.fields.push_back(f);
        current = Current::storing;
      }
    }

    if (!over_block && next - h.start > lim.max_header_bytes) {
      over_block = true;
      report(DiagnosticKind::header_too_large, pos, {});
      // The field being built crosses the limit: a cut field could change
      // meaning (half an address list), so it goes entirely.
      if (current == Current::storing) {
        h.fields.pop_back();
        current = Current::dropping;
      }
    }
    if (nl) ++h.lines;
    pos = next;
  }
  h.end = h.body_start = pos;
  return h;
}

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

namespace {

enum class TokType { word, quoted, literal, comment, special };

struct Token {
  TokType type = TokType::word;
  char special = 0;
  std::string text;           // word/literal as written; quoted, comment: content unescaped
  bool space_before = false;  // white space or a comment separates it from the previous token
};

// The length of an RFC 2047 encoded word at s[i], or 0. Only the syntax is
// checked here; lib::mime decodes. Matching one as a whole keeps specials in
// its encoded text (real mailers put ',' and '.' there) from splitting a name.
std::size_t encoded_word_length(std::string_view s, std::size_t i) {
  const std::size_t n = s.size();
  if (i + 1 >= n || s[i] != '=' || s[i + 1] != '?') return 0;
  std::size_t j = i + 2;
  const std::size_t charset_start = j;
  while (j < n && s[j] != '?' && !is_space(s[j])) ++j;
  if (j == charset_start || j >= n || s[j] != '?') return 0;
  ++j;
  if (j >= n || !(s[j] == 'b' || s[j] == 'B' || s[j] == 'q' || s[j] == 'Q')) return 0;
  ++j;
  if (j >= n || s[j] != '?') return 0;
  ++j;
  while (j < n && s[j] != '?' && !is_space(s[j])) ++j;
  if (j + 1 >= n || s[j] != '?' || s[j + 1] != '=') return 0;
  return j + 2 - i;
}

bool is_address_special(char c) {
  switch (c) {
    case '<': case '>': case '@': case ',': case ';': case ':': case '.':
      return true;
    default:
      return false;
  }
}

// Bytes that end a word: white space, specials and the openers of the other
// token kinds. Control characters and 8-bit bytes (RFC 6532) stay in words.
bool ends_word(char c) {
  return is_space(c) || is_address_special(c) || c == '(' || c == ')' || c == '"' ||
         c == '[' || c == ']';
}

std::vector<Token> tokenize(std::string_view s, bool& malformed) {
  std::vector<Token> out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  bool space = false;
  auto push = [&](TokType type, std::string text, char special = 0) {
    Token t;
    t.type = type;
    t.special = special;
    t.text = std::move(text);
    t.space_before = space;
    out.push_back(std::move(t));
    space = false;
  };
  while (i < n) {
    const char c = s[i];
    if (is_space(c)) {
      space = true;
      ++i;
    } else if (c == '(') {
      // Comments nest (RFC 5322 3.2.2); only a depth counter, no recursion.
      std::size_t depth = 1;
      std::string text;
      std::size_t j = i + 1;
      for (; j < n; ++j) {
        const char d = s[j];
        if (d == '\\' && j + 1 < n) {
          text += s[++j];
          continue;
        }
        if (d == '(') ++depth;
        if (d == ')' && --depth == 0) break;
        if (d != '\r' && d != '\n') text += d;
      }
      if (j >= n) malformed = true;
      push(TokType::comment, std::move(text));
      space = true;  // a comment separates words like white space does
      i = j + 1;
    } else if (c == '"') {
      std::string text;
      std::size_t j = i + 1;
      for (; j < n && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < n) {
          text += s[++j];
        } else if (s[j] != '\r' && s[j] != '\n') {
          text += s[j];
        }
      }
      if (j >= n) {
        // Unterminated: the quote is the mistake ("\"John <a@b>"), so drop
        // it and read on as if it were not there.
        malformed = true;
        ++i;
        continue;
      }
      push(TokType::quoted, std::move(text));
      i = j + 1;
    } else if (c == '[') {
      std::size_t j = i + 1;
      while (j < n && s[j] != ']') ++j;
      std::string text;
      for (std::size_t k = i; k < std::min(j + 1, n); ++k) {
        if (s[k] != '\r' && s[k] != '\n') text += s[k];
      }
      if (j >= n) {
        malformed = true;
        text += ']';
      }
      push(TokType::literal, std::move(text));
      i = j + 1;
    } else if (is_address_special(c)) {
      push(TokType::special, std::string(1, c), c);
      ++i;
    } else if (c == ')' || c == ']') {  // stray closer: keep it as text
      malformed = true;
      push(TokType::word, std::string(1, c));
      ++i;
    } else if (std::size_t ew = encoded_word_length(s, i); ew != 0) {
      push(TokType::word, std::string(s.substr(i, ew)));
      i += ew;
    } else {
      std::string text;
      std::size_t j = i;
      while (j < n && !ends_word(s[j])) {
        if (s[j] == '\\' && j + 1 < n) {  // quoted-pair outside quotes: obsolete, keep the char
          text += s[j + 1];
          j += 2;
        } else {
          text += s[j++];
        }
      }
      push(TokType::word, std::move(text));
      i = j;
    }
  }
  return out;
}

// RFC 5322 3.2.3 atext, plus 8-bit bytes (RFC 6532 3.2).
bool is_atext(char ch) {
  const unsigned char c = static_cast<unsigned char>(ch);
  if (c >= 0x80) return true;
  if (is_alpha(ch) || is_digit(ch)) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", ch) != nullptr && ch != 0;
}

class AddressParser {
 public:
  AddressParser(const std::vector<Token>& tokens, AddressList& out, std::size_t max_addresses)
      : t_(tokens), out_(out), max_(max_addresses) {}

  void run() {
    const std::size_t n = t_.size();
    std::size_t i = 0;
    bool in_group = false;
    while (i < n) {
      if (special(i, ',')) {
        ++i;
        continue;
      }
      if (special(i, ';')) {
        if (in_group) {
          close_group();
          in_group = false;
        } else {
          out_.malformed = true;
        }
        ++i;
        continue;
      }
      // What ends this element decides what it is: ':' before any '@' or '<'
      // opens a group (RFC 5322 3.4); anything else is a mailbox.
      bool at_seen = false;
      char stop = 0;
      std::size_t k = i;
      for (; k < n; ++k) {
        if (t_[k].type != TokType::special) continue;
        const char c = t_[k].special;
        if (c == '@') at_seen = true;
        if (c == ',' || c == ';' || c == '<' || c == ':') {
          stop = c;
          break;
        }
      }
      if (stop == ':' && !at_seen && !in_group) {
        Address a;
        a.kind = Address::Kind::group_start;
        a.name = phrase(i, k);
        if (a.name.empty()) out_.malformed = true;
        group_open_ = emit(std::move(a));
        in_group = true;
        i = k + 1;
        continue;
      }
      i = mailbox(i);
    }
    if (in_group) {
      out_.malformed = true;  // group without ';'
      close_group();
    }
  }

 private:
  bool special(std::size_t k, char c) const {
    return k < t_.size() && t_[k].type == TokType::special && t_[k].special == c;
  }
  bool is_word(std::size_t k) const {
    return k < t_.size() && (t_[k].type == TokType::word || t_[k].type == TokType::quoted);
  }

  bool emit(Address a) {
    if (out_.addresses.size() >= max_) {
      out_.truncated = true;
      return false;
    }
    out_.addresses.push_back(std::move(a));
    return true;
  }
  void close_group() {
    // A group end always follows an emitted start, even past max_addresses,
    // so the markers stay paired for IMAP.
    if (group_open_) {
      Address a;
      a.kind = Address::Kind::group_end;
      out_.addresses.push_back(std::move(a));
    }
    group_open_ = false;
  }

  // Display text of tokens [b, e): words joined by one space where the
  // message had white space, comments dropped.
  std::string phrase(std::size_t b, std::size_t e) const {
    std::string out;
    for (std::size_t k = b; k < e; ++k) {
      const Token& t = t_[k];
      if (t.type == TokType::comment) continue;
      if (t.space_before && !out.empty()) out += ' ';
      out += t.text;
    }
    return std::string(trim(out));
  }
  // Tokens [b, e) glued together without spaces (local part, domain).
  std::string glue(std::size_t b, std::size_t e) const {
    std::string out;
    for (std::size_t k = b; k < e; ++k) {
      if (t_[k].type != TokType::comment) out += t_[k].text;
    }
    return out;
  }
  std::string first_comment(std::size_t b, std::size_t e) const {
    for (std::size_t k = b; k < e; ++k) {
      if (t_[k].type == TokType::comment) {
        std::string_view c = trim(t_[k].text);
        if (!c.empty()) return std::string(c);
      }
    }
    return {};
  }

  // addr-spec in tokens [b, e): split at the last '@'.
  void addr_spec(std::size_t b, std::size_t e, Address& a) {
    std::size_t at = e;
    for (std::size_t k = e; k > b; --k) {
      if (special(k - 1, '@')) {
        at = k - 1;
        break;
      }
    }
    if (at == e) {
      a.mailbox = glue(b, e);
      return;
    }
    a.mailbox = glue(b, at);
    a.host = glue(at + 1, e);
  }

  // A mailbox starting at token i; returns the index of the ',' or ';' that
  // ends it (or the end).
  std::size_t mailbox(std::size_t i) {
    const std::size_t n = t_.size();
    std::size_t k = i;
    while (k < n && !special(k, ',') && !special(k, ';') && !special(k, '<')) ++k;
    Address a;
    if (special(k, '<')) {
      a.name = phrase(i, k);
      std::size_t j = k + 1;
      // Obsolete route (RFC 5322 4.4): "@a,@b:" before the addr-spec.
      if (special(j, '@')) {
        std::size_t r = j;
        while (r < n && !special(r, ':') && !special(r, '>') && !special(r, ';')) ++r;
        if (special(r, ':')) {
          std::string route;
          for (std::size_t q = j; q < r; ++q) {
            if (t_[q].type != TokType::comment) route += t_[q].text;
          }
          a.route = std::move(route);
          j = r + 1;
        }
      }
      std::size_t e = j;
      while (e < n && !special(e, '>') && !special(e, ',') && !special(e, ';') && !special(e, '<')) ++e;
      addr_spec(j, e, a);
      if (special(e, '>')) {
        ++e;
      } else {
        out_.malformed = true;  // missing '>'
      }
      for (; e < n && !special(e, ',') && !special(e, ';'); ++e) {
        if (t_[e].type == TokType::comment) {
          if (a.name.empty()) a.name = std::string(trim(t_[e].text));
        } else {
          out_.malformed = true;  // junk after '>'
        }
      }
      if (!a.name.empty() || !a.mailbox.empty() || !a.host.empty()) emit(std::move(a));
      return e;
    }

    // No angle brackets: addr-spec, maybe with a comment as name, maybe (not
    // RFC, but common) with a display name in front: "John Smith john@x".
    std::size_t at = k;
    for (std::size_t q = k; q > i; --q) {
      if (special(q - 1, '@')) {
        at = q - 1;
        break;
      }
    }
    std::string name_text;
    if (at == k) {
      a.mailbox = phrase(i, k);
      std::size_t words = 0;
      for (std::size_t q = i; q < k; ++q) words += is_word(q) ? 1 : 0;
      if (words > 1) out_.malformed = true;
    } else {
      // The local part runs back from '@' over words joined by '.' or glued
      // without white space; whatever precedes it is a display name.
      std::vector<std::size_t> idx;  // non-comment tokens before '@'
      for (std::size_t q = i; q < at; ++q) {
        if (t_[q].type != TokType::comment) idx.push_back(q);
      }
      std::size_t s = at;
      auto local_token = [&](std::size_t q) { return is_word(q) || special(q, '.'); };
      if (!idx.empty() && local_token(idx.back())) {
        std::size_t pos = idx.size() - 1;
        while (pos > 0) {
          const std::size_t cur = idx[pos];
          const std::size_t prev = idx[pos - 1];
          if (!local_token(prev)) break;
          const bool dot_link = special(cur, '.') || special(prev, '.');
          const bool glued = !t_[cur].space_before;
          if (!dot_link && !glued) break;
          --pos;
        }
        s = idx[pos];
      }
      name_text = phrase(i, s);
      if (!name_text.empty()) out_.malformed = true;
      a.mailbox = glue(s, at);
      a.host = glue(at + 1, k);
    }
    a.name = !name_text.empty() ? name_text : first_comment(i, k);
    // Only comments (CFWS, "(the end of the group)") make no address.
    if (!a.mailbox.empty() || !a.host.empty()) emit(std::move(a));
    return k;
  }

  const std::vector<Token>& t_;
  AddressList& out_;
  std::size_t max_;
  bool group_open_ = false;
};

}  // namespace

std::string Address::addr_spec() const {
  if (kind != Kind::mailbox) return {};
  // dot-atom (RFC 5322 3.2.3) or quoted-string.
  bool dot_atom = !mailbox.empty() && mailbox.front() != '.' && mailbox.back() != '.' &&
                  mailbox.find("..") == std::string::npos;
  for (std::size_t i = 0; dot_atom && i < mailbox.size(); ++i) {
    if (mailbox[i] != '.' && !is_atext(mailbox[i])) dot_atom = false;
  }
  std::string out;
  if (dot_atom) {
    out = mailbox;
  } else {
    out = "\"";
    for (char c : mailbox) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  if (!host.empty()) {
    out += '@';
    out += host;
  }
  return out;
}

AddressList parse_address_list(std::string_view value, std::size_t max_addresses) {
  AddressList out;
  bool malformed = false;
  const std::vector<Token> tokens = tokenize(value, malformed);
  AddressParser(tokens, out, max_addresses).run();
  if (malformed) out.malformed = true;
  return out;
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm),
// so nothing depends on TZ or timegm().
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
}

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr std::array<int, 12> days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && leap_year(y)) ? 29 : days[static_cast<std::size_t>(m - 1)];
}

constexpr std::array<std::string_view, 12> month_names = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};
constexpr std::array<std::string_view, 7> day_names = {
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};

// "jan", "janu", "january" (and "sept") match; shorter than 3 letters does not.
bool name_prefix(std::string_view word, std::string_view full) {
  if (word.size() < 3 || word.size() > full.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (to_lower(word[i]) != full[i]) return false;
  }
  return true;
}

int month_number(std::string_view word) {
  for (std::size_t i = 0; i < month_names.size(); ++i) {
    if (name_prefix(word, month_names[i])) return static_cast<int>(i + 1);
  }
  return 0;
}

bool is_day_name(std::string_view word) {
  for (std::string_view d : day_names) {
    if (name_prefix(word, d)) return true;
  }
  return false;
}

// Named zones: RFC 5322 4.3 (UT, GMT, US zones) plus names seen in real mail.
// Single military letters other than Z mean "unknown" (RFC 5322 4.3).
struct NamedZone {
  std::string_view name;
  int minutes;
};
constexpr std::array<NamedZone, 26> named_zones = {{
    {"ut", 0},      {"utc", 0},     {"gmt", 0},     {"z", 0},       {"wet", 0},
    {"est", -300},  {"edt", -240},  {"cst", -360},  {"cdt", -300},  {"mst", -420},
    {"mdt", -360},  {"pst", -480},  {"pdt", -420},  {"akst", -540}, {"akdt", -480},
    {"hst", -600},  {"bst", 60},    {"cet", 60},    {"met", 60},    {"west", 60},
    {"cest", 120},  {"mest", 120},  {"eet", 120},   {"eest", 180},  {"jst", 540},
    {"kst", 540},
}};

std::optional<int> zone_by_name(std::string_view word, bool& known) {
  for (const NamedZone& z : named_zones) {
    if (iequals(word, z.name)) {
      known = true;
      return z.minutes;
    }
  }
  if (word.size() == 1 && is_alpha(word[0])) {
    known = false;
    return 0;
  }
  return std::nullopt;
}

struct DateParts {
  int year = -1, month = 0, day = 0;
  int hour = 0, minute = 0, second = 0;
  int zone = 0;
  bool zone_known = false;
};

std::optional<DateTime> finish_date(const DateParts& p) {
  if (p.year < 1900 || p.year > 9999 || p.month < 1 || p.month > 12) return std::nullopt;
  if (p.day < 1 || p.day > days_in_month(p.year, p.month)) return std::nullopt;
  if (p.hour > 23 || p.minute > 59 || p.second > 60) return std::nullopt;
  DateTime dt;
  dt.year = p.year;
  dt.month = p.month;
  dt.day = p.day;
  dt.hour = p.hour;
  dt.minute = p.minute;
  dt.second = p.second;
  dt.zone_offset_minutes = p.zone_known ? p.zone : 0;
  dt.zone_known = p.zone_known;
  const std::int64_t t = days_from_civil(p.year, p.month, p.day) * 86400 + p.hour * 3600 +
                         p.minute * 60 + p.second - static_cast<std::int64_t>(dt.zone_offset_minutes) * 60;
  dt.time = static_cast<std::time_t>(t);
  return dt;
}

// Reads up to max_digits digits at s[i]; returns the count read (0: none).
std::size_t read_number(std::string_view s, std::size_t& i, int& value, std::size_t max_digits) {
  std::size_t count = 0;
  value = 0;
  while (i < s.size() && is_digit(s[i]) && count < max_digits) {
    value = value * 10 + (s[i] - '0');
    ++i;
    ++count;
  }
  return count;
}

// "+hhmm", "+hh:mm", "+hh", "+h" at s[i] (sign included). Returns minutes.
std::optional<int> read_numeric_zone(std::string_view s, std::size_t& i, bool& known) {
  if (i >= s.size() || (s[i] != '+' && s[i] != '-')) return std::nullopt;
  const bool negative = s[i] == '-';
  std::size_t j = i + 1;
  int v = 0;
  const std::size_t digits = read_number(s, j, v, 4);
  int hours = 0, minutes = 0;
  if (digits == 0) return std::nullopt;
  if (digits <= 2) {
    hours = v;
    if (j < s.size() && s[j] == ':') {
      std::size_t q = j + 1;
      int mm = 0;
      if (read_number(s, q, mm, 2) == 2) {
        minutes = mm;
        j = q;
      }
    }
  } else {
    hours = v / 100;
    minutes = v % 100;
  }
  if (j < s.size() && is_digit(s[j])) return std::nullopt;  // more than 4 digits
  if (minutes > 59) return std::nullopt;
  i = j;
  const int total = hours * 60 + minutes;
  known = !(negative && total == 0);  // "-0000": zone unknown (RFC 5322 3.3)
  return negative ? -total : total;
}

// ISO 8601 / RFC 3339: "2006-01-02[T ]15:04[:05[.frac]][Z|+hh:mm|+hhmm]".
std::optional<DateTime> parse_iso_date(std::string_view s) {
  std::size_t i = 0;
  DateParts p;
  int v = 0;
  if (read_number(s, i, v, 4) != 4 || i >= s.size() || s[i] != '-') return std::nullopt;
  p.year = v;
  ++i;
  if (read_number(s, i, p.month, 2) == 0 || i >= s.size() || s[i] != '-') return std::nullopt;
  ++i;
  if (read_number(s, i, p.day, 2) == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    ++i;
    if (read_number(s, i, p.hour, 2) == 0 || i >= s.size() || s[i] != ':') return std::nullopt;
    ++i;
    if (read_number(s, i, p.minute, 2) != 2) return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (read_number(s, i, p.second, 2) != 2) return std::nullopt;
      if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
      }
    }
  }
  while (i < s.size() && s[i] == ' ') ++i;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      p.zone_known = true;
      ++i;
    } else if (auto z = read_numeric_zone(s, i, p.zone_known)) {
      p.zone = *z;
    } else {
      std::size_t j = i;
      while (j < s.size() && is_alpha(s[j])) ++j;
      auto named = zone_by_name(s.substr(i, j - i), p.zone_known);
      if (!named) return std::nullopt;
      p.zone = *named;
      i = j;
    }
  }
  while (i < s.size() && is_space(s[i])) ++i;
  if (i != s.size()) return std::nullopt;
  return finish_date(p);
}

}  // namespace

std::optional<DateTime> parse_date(std::string_view value) {
  // A date is short; anything longer than this is not one, and the cap keeps
  // the token list small.
  constexpr std::size_t max_date_bytes = 512;
  if (value.size() > max_date_bytes) return std::nullopt;

  // Comments go first (RFC 5322 3.3 allows CFWS everywhere): "+0200 (CEST)".
  std::string s;
  s.reserve(value.size());
  std::size_t depth = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && depth > 0) {
      ++i;
      continue;
    }
    if (c == '(') {
      ++depth;
      s += ' ';
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0) {
      s += (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
    }
  }
  const std::string_view text = trim(s);
  if (text.size() >= 4 && is_digit(text[0]) && is_digit(text[1]) && is_digit(text[2]) &&
      is_digit(text[3]) && text.size() > 4 && text[4] == '-') {
    return parse_iso_date(text);
  }

  struct Num {
    int value;
    std::size_t digits;
    bool after_month;
  };
  std::vector<Num> numbers;
  DateParts p;
  bool have_time = false, have_zone = false, have_numeric_zone = false;
  bool last_was_zone_name = false, last_was_time = false;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == ' ' || c == ',') {
      ++i;
      continue;
    }
    const bool prev_space = i == 0 || text[i - 1] == ' ' || text[i - 1] == ',';
    if ((c == '+' || c == '-') && i + 1 < n && is_digit(text[i + 1]) &&
        (c == '+' || prev_space || last_was_zone_name || last_was_time)) {
      bool known = false;
      auto z = read_numeric_zone(text, i, known);
      if (!z) return std::nullopt;
      if (!have_numeric_zone) {  // "GMT+0200": the number wins over the name
        p.zone = *z;
        p.zone_known = known;
        have_numeric_zone = have_zone = true;
      }
      last_was_zone_name = last_was_time = false;
      continue;
    }
    if (c == '-' || c == '/' || c == '.') {  // "2-Jan-2006", "2. Jan"
      ++i;
      continue;
    }
    if (is_alpha(c)) {
      std::size_t j = i;
      while (j < n && is_alpha(text[j])) ++j;
      const std::string_view word = text.substr(i, j - i);
      i = j;
      last_was_zone_name = last_was_time = false;
      if (int m = month_number(word); m != 0 && p.month == 0) {
        p.month = m;
        continue;
      }
      if (is_day_name(word)) continue;
      bool known = false;
      if (auto z = zone_by_name(word, known)) {
        if (!have_zone) {
          p.zone = *z;
          p.zone_known = known;
          have_zone = true;
        }
        last_was_zone_name = true;
        continue;
      }
      if (iequals(word, "am") || iequals(word, "pm")) {
        if (have_time && p.hour >= 1 && p.hour <= 12) {
          if (iequals(word, "pm") && p.hour != 12) p.hour += 12;
          if (iequals(word, "am") && p.hour == 12) p.hour = 0;
        }
        continue;
      }
      continue;  // unknown words ("at", unknown zone names) are ignored
    }
    if (is_digit(c)) {
      std::size_t j = i;
      int v = 0;
      const std::size_t digits = read_number(text, j, v, 9);
      if (j < n && is_digit(text[j])) return std::nullopt;  // absurdly long number
      const bool time_sep = j + 1 < n && (text[j] == ':' || text[j] == '.') && is_digit(text[j + 1]);
      if (time_sep && digits <= 2 && !have_time) {
        // hh:mm[:ss] (or with '.', only as hh.mm[.ss] with two-digit groups)
        const char sep = text[j];
        std::size_t q = j + 1;
        int mm = 0, ss = 0;
        const std::size_t md = read_number(text, q, mm, 2);
        if (md == 0 || (sep == '.' && md != 2)) return std::nullopt;
        if (q + 1 < n && text[q] == sep && is_digit(text[q + 1])) {
          ++q;
          if (read_number(text, q, ss, 2) == 0) return std::nullopt;
          if (q + 1 < n && text[q] == '.' && is_digit(text[q + 1])) {  // fractions
            ++q;
            while (q < n && is_digit(text[q])) ++q;
          }
        }
        p.hour = v;
        p.minute = mm;
        p.second = ss;
        have_time = true;
        last_was_time = true;
        i = q;
        continue;
      }
      if (numbers.size() >= 8) return std::nullopt;
      numbers.push_back(Num{v, digits, p.month != 0});
      last_was_time = last_was_zone_name = false;
      i = j;
      continue;
    }
    ++i;  // any other byte is noise
  }
  if (p.month == 0 || numbers.empty()) return std::nullopt;

  // RFC order is "day month year"; asctime is "month day time year".
  std::optional<std::size_t> day_index, year_index;
  for (std::size_t k = 0; k < numbers.size(); ++k) {
    if (!numbers[k].after_month && !day_index) day_index = k;
  }
  for (std::size_t k = 0; k < numbers.size(); ++k) {
    if (!numbers[k].after_month) continue;
    if (!day_index) {
      day_index = k;
    } else if (!year_index) {
      year_index = k;
    }
  }
  if (!day_index || !year_index) return std::nullopt;
  Num day = numbers[*day_index];
  Num year = numbers[*year_index];
  if (day.digits >= 3 && year.digits <= 2) std::swap(day, year);  // "2006 Jan 02"
  if (day.digits > 2) return std::nullopt;
  p.day = day.value;
  switch (year.digits) {
    case 2: p.year = year.value < 50 ? 2000 + year.value : 1900 + year.value; break;  // RFC 5322 4.3
    case 3: p.year = 1900 + year.value; break;
    case 4: p.year = year.value; break;
    default: return std::nullopt;
  }
  return finish_date(p);
}

std::string format_date(std::time_t time, int zone_offset_minutes) {
  zone_offset_minutes = std::clamp(zone_offset_minutes, -(99 * 60 + 59), 99 * 60 + 59);
  // Years 1 to 9999 only: keeps the arithmetic below far from overflow.
  constexpr std::int64_t min_time = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr std::int64_t max_time = 253402300799;  // 9999-12-31T23:59:59Z
  time = static_cast<std::time_t>(std::clamp<std::int64_t>(time, min_time, max_time));
  const std::int64_t local = static_cast<std::int64_t>(time) + zone_offset_minutes * 60;
  std::int64_t days = local / 86400;
  std::int64_t secs = local % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int y = 0, m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const std::int64_t wd = ((days % 7) + 7 + 4) % 7;  // 1970-01-01 was a Thursday
  static constexpr std::array<const char*, 7> wd_names = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> mon_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int abs_zone = zone_offset_minutes < 0 ? -zone_offset_minutes : zone_offset_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d",
                wd_names[static_cast<std::size_t>(wd)], d, mon_names[static_cast<std::size_t>(m - 1)], y,
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60),
                zone_offset_minutes < 0 ? '-' : '+', abs_zone / 60, abs_zone % 60);
  return buf;
}

}  // namespace lib::rfc5322
