// imapd/imap_string.cpp: IMAP string rendering (RFC 3501 4.3, 9; RFC 6855;
// RFC 3516). See imap_string.hpp.
#include "imapd/imap_string.hpp"

#include <cstdint>

#include "imapd/lexer.hpp"
#include "lib/utf8.hpp"

namespace imapd {

bool can_quote(std::string_view s, const StringStyle& style) {
  if (s.size() > style.max_quoted_bytes) return false;
  bool eight_bit = false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n' || c == '\0') return false;
    if (c >= 0x80) eight_bit = true;
  }
  if (eight_bit) return style.utf8 && lib::utf8::valid(s);
  return true;
}

void append_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_literal(std::string& out, std::string_view s, bool binary) {
  if (binary) out.push_back('~');
  out.push_back('{');
  out += std::to_string(s.size());
  out += "}\r\n";
  out.append(s.data(), s.size());
}

void append_string(std::string& out, std::string_view s, const StringStyle& style) {
  if (can_quote(s, style)) {
    append_quoted(out, s);
  } else {
    append_literal(out, s, s.find('\0') != std::string_view::npos);
  }
}

void append_nstring(std::string& out, std::optional<std::string_view> s, const StringStyle& style) {
  if (!s) {
    out += "NIL";
  } else {
    append_string(out, *s, style);
  }
}

void append_nstring_or_nil(std::string& out, std::string_view s, const StringStyle& style) {
  if (s.empty()) {
    out += "NIL";
  } else {
    append_string(out, s, style);
  }
}

void append_astring(std::string& out, std::string_view s, const StringStyle& style) {
  bool atom = !s.empty() && !(s.size() == 3 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'i' &&
                              (s[2] | 0x20) == 'l');
  for (char c : s) {
    if (!atom) break;
    if (!is_astring_char(c)) atom = false;
  }
  if (atom) {
    out.append(s.data(), s.size());
  } else {
    append_string(out, s, style);
  }
}

}  // namespace imapd
