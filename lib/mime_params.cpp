// lib/mime_params.cpp: MIME header parameters (RFC 2045 5.1) with RFC 2231
// continuations, charsets and languages, and the Content-Type and
// Content-Disposition (RFC 2183) header parsers built on them. See
// lib/mime.hpp.
#include "lib/mime.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "lib/mime_internal.hpp"

namespace lib::mime {

using namespace internal;

// ---------------------------------------------------------------------------
// Parameters (RFC 2045 5.1, RFC 2231)
// ---------------------------------------------------------------------------

// Skips white space, line breaks and (nested) comments.
void internal::skip_cfws(std::string_view s, std::size_t& i) {
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      std::size_t depth = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\') {
          if (i + 1 < s.size()) ++i;  // a quoted pair; a last lone backslash ends the text
          continue;
        }
        if (s[i] == '(') ++depth;
        if (s[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else {
      break;
    }
  }
}

// RFC 2045 5.1 token characters.
bool internal::is_token_char(char ch) {
  const unsigned char c = static_cast<unsigned char>(ch);
  if (c <= 32 || c >= 127) return false;
  return std::strchr("()<>@,;:\\\"/[]?=", ch) == nullptr;
}

namespace {

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// RFC 2231 7: attribute-char stays, everything else becomes %XX.
std::string percent_encode(std::string_view bytes) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (is_token_char(c) && c != '*' && c != '\'' && c != '%') {
      out += c;
    } else {
      out += '%';
      out += hex[(static_cast<unsigned char>(c) >> 4) & 15];
      out += hex[static_cast<unsigned char>(c) & 15];
    }
  }
  return out;
}

struct RawParam {
  std::string name;  // lower-case, as written ("filename*0*")
  std::string value;
};

// "name*", "name*N", "name*N*": the base name, the section (-1: none) and
// whether the value is %-encoded. Anything else is a plain name.
struct ParamName {
  std::string base;
  int section = -1;
  bool encoded = false;
  bool rfc2231 = false;
};

ParamName split_param_name(const std::string& name) {
  ParamName p;
  const std::size_t star = name.find('*');
  if (star == std::string::npos || star == 0) {
    p.base = name;
    return p;
  }
  const std::string_view rest = std::string_view(name).substr(star + 1);
  if (rest.empty()) {
    p.base = name.substr(0, star);
    p.encoded = p.rfc2231 = true;
    return p;
  }
  std::size_t k = 0;
  int section = 0;
  while (k < rest.size() && is_digit(rest[k]) && k < 4) section = section * 10 + (rest[k++] - '0');
  if (k == 0) {
    p.base = name;
    return p;
  }
  const std::string_view tail = rest.substr(k);
  if (tail.empty() || tail == "*") {
    p.base = name.substr(0, star);
    p.section = section;
    p.encoded = tail == "*";
    p.rfc2231 = true;
    return p;
  }
  p.base = name;
  return p;
}

// Splits "charset'language'rest" (RFC 2231 4); without two quotes the whole
// value is the rest.
void split_extended(std::string_view v, std::string& charset, std::string& language, std::string_view& rest) {
  const std::size_t q1 = v.find('\'');
  const std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) {
    rest = v;
    return;
  }
  charset = to_lower(v.substr(0, q1));
  language = std::string(v.substr(q1 + 1, q2 - q1 - 1));
  rest = v.substr(q2 + 1);
}

// Scans "attribute = value" pairs separated by ';'. Tolerant of what real
// mailers write: a missing ';', unquoted values with tspecials or spaces, an
// unterminated quoted string, attributes without a value (skipped).
std::vector<RawParam> scan_params(std::string_view s, std::size_t max_raw) {
  std::vector<RawParam> out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n && out.size() < max_raw) {
    skip_cfws(s, i);
    if (i >= n) break;
    if (s[i] == ';') {
      ++i;
      continue;
    }
    const std::size_t name_start = i;
    while (i < n && s[i] != '=' && s[i] != ';' && !is_space(s[i]) && s[i] != '(' && s[i] != '"') ++i;
    std::string name = to_lower(s.substr(name_start, i - name_start));
    skip_cfws(s, i);
    if (i >= n || s[i] != '=' || name.empty()) {
      // No value: skip to the next ';' (or past one odd byte).
      if (name.empty() && i < n && s[i] != ';') ++i;
      while (i < n && s[i] != ';') {
        if (s[i] == '"') {  // don't stop at a ';' inside quotes
          ++i;
          while (i < n && s[i] != '"') i += (s[i] == '\\') ? 2 : 1;
        }
        if (i < n) ++i;
      }
      continue;
    }
    ++i;  // '='
    skip_cfws(s, i);
    std::string value;
    if (i < n && s[i] == '"') {
      ++i;
      while (i < n && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < n) {
          value += s[i + 1];
          i += 2;
        } else {
          if (s[i] != '\r' && s[i] != '\n') value += s[i];
          ++i;
        }
      }
      if (i < n) ++i;  // closing quote
      // Anything up to the next ';' after a quoted string is junk.
      while (i < n && s[i] != ';') ++i;
    } else {
      const std::size_t v_start = i;
      while (i < n && s[i] != ';') ++i;
      std::string_view v = s.substr(v_start, i - v_start);
      // A comment after a token value: "us-ascii (Plain text)".
      for (std::size_t k = 1; k < v.size(); ++k) {
        if (v[k] == '(' && is_space(v[k - 1])) {
          v = v.substr(0, k);
          break;
        }
      }
      for (char c : trim(v)) {
        if (c != '\r' && c != '\n') value += c;
      }
    }
    out.push_back(RawParam{std::move(name), std::move(value)});
  }
  return out;
}

}  // namespace

const Param* find_param(const Params& params, std::string_view name) {
  for (const Param& p : params) {
    if (iequals(p.name, name)) return &p;
  }
  return nullptr;
}

Params parse_params(std::string_view text, std::size_t max_params) {
  // RFC 2231 allows many continuation sections per parameter; ten per
  // parameter is far beyond any mailer and still bounded.
  const std::vector<RawParam> raw = scan_params(text, max_params * 10);

  struct Section {
    int number;
    bool encoded;
    std::size_t index;  // into raw
  };
  struct Group {
    std::string base;
    std::optional<std::size_t> plain;     // first plain value
    std::optional<std::size_t> extended;  // first "name*" value
    std::vector<Section> sections;
  };
  std::vector<Group> groups;
  std::map<std::string, std::size_t, std::less<>> by_name;
  for (std::size_t k = 0; k < raw.size(); ++k) {
    const ParamName pn = split_param_name(raw[k].name);
    auto it = by_name.find(pn.base);
    if (it == by_name.end()) {
      if (groups.size() >= max_params) continue;
      it = by_name.emplace(pn.base, groups.size()).first;
      groups.push_back(Group{pn.base, {}, {}, {}});
    }
    Group& g = groups[it->second];
    if (!pn.rfc2231) {
      if (!g.plain) g.plain = k;
    } else if (pn.section < 0) {
      if (!g.extended) g.extended = k;
    } else {
      g.sections.push_back(Section{pn.section, pn.encoded, k});
    }
  }

  Params out;
  out.reserve(groups.size());
  for (Group& g : groups) {
    Param p;
    p.name = g.base;
    if (g.extended || !g.sections.empty()) {
      std::string bytes;
      bool any_encoded = false;
      if (g.extended) {
        const std::string& v = raw[*g.extended].value;
        std::string_view rest;
        split_extended(v, p.charset, p.language, rest);
        bytes = percent_decode(rest);
        any_encoded = true;
      } else {
        // Sections in order from the lowest, stopping at a gap; a duplicate
        // section number keeps its first value.
        std::stable_sort(g.sections.begin(), g.sections.end(),
                         [](const Section& a, const Section& b) { return a.number < b.number; });
        int expect = g.sections.front().number;
        for (const Section& sec : g.sections) {
          if (sec.number < expect) continue;  // duplicate
          if (sec.number != expect) break;    // gap
          ++expect;
          std::string_view v = raw[sec.index].value;
          if (sec.encoded) {
            any_encoded = true;
            if (&sec == &g.sections.front()) split_extended(raw[sec.index].value, p.charset, p.language, v);
            bytes += percent_decode(v);
          } else {
            bytes += v;
          }
        }
      }
      // Plain continuations ("URL*0", "URL*1") are just a long plain value;
      // encoded ones get one canonical RFC 2231 form for pass-through.
      if (any_encoded) p.encoded = p.charset + "'" + p.language + "'" + percent_encode(bytes);
      std::optional<std::string> u;
      if (!p.charset.empty()) u = to_utf8(bytes, p.charset);
      p.value = u ? std::move(*u) : std::move(bytes);
    } else if (g.plain) {
      p.value = raw[*g.plain].value;
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Reads a token (type, subtype, disposition type) at s[i], lower-cased.
std::string internal::read_token(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  while (i < s.size() && is_token_char(s[i])) ++i;
  return to_lower(s.substr(start, i - start));
}

std::optional<ContentType> parse_content_type(std::string_view value) {
  std::size_t i = 0;
  skip_cfws(value, i);
  ContentType ct;
  ct.type = read_token(value, i);
  skip_cfws(value, i);
  if (ct.type.empty() || i >= value.size() || value[i] != '/') return std::nullopt;
  ++i;
  skip_cfws(value, i);
  ct.subtype = read_token(value, i);
  if (ct.subtype.empty()) return std::nullopt;
  skip_cfws(value, i);
  // After the subtype only parameters may follow; tolerate junk up to ';'
  // and a missing ';' before the first parameter.
  ct.params = parse_params(value.substr(i));
  return ct;
}

std::optional<Disposition> parse_content_disposition(std::string_view value) {
  std::size_t i = 0;
  skip_cfws(value, i);
  Disposition d;
  d.type = read_token(value, i);
  if (d.type.empty()) return std::nullopt;
  d.params = parse_params(value.substr(i));
  return d;
}

}  // namespace lib::mime
