// lib/mime_internal.hpp: helpers the lib/mime*.cpp files share (character
// classes, trimming, hex digits, the U+FFFD replacement and the excerpt quoted
// in diagnostics). Private to those files; the public API is lib/mime.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lib/mime.hpp"

namespace lib::mime::internal {

using rfc5322::iequals;
using rfc5322::to_lower;

inline bool is_wsp(char c) { return c == ' ' || c == '\t'; }
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

inline constexpr std::string_view replacement_char = "\xEF\xBF\xBD";  // U+FFFD

// A short printable excerpt for Diagnostic::detail.
inline std::string excerpt(std::string_view s, std::size_t max_bytes = 40) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

// lib/mime_charset.cpp: length of the valid UTF-8 sequence at s[i], or 0 with
// `bad` set to the length of the maximal invalid prefix (at least 1).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad);

// lib/mime_transfer.cpp: how many errors decoding `text` finds, decoding into
// nothing (the structure parser's check_encodings).
std::size_t base64_errors(std::string_view text);
std::size_t quoted_printable_errors(std::string_view text);

// lib/mime_params.cpp: RFC 2045 5.1 syntax the header parsers share.
void skip_cfws(std::string_view s, std::size_t& i);  // white space, breaks, comments
bool is_token_char(char ch);
std::string read_token(std::string_view s, std::size_t& i);  // lower-cased

}  // namespace lib::mime::internal
