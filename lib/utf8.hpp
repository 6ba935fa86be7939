// lib/utf8.hpp: the one UTF-8 decoder and encoder (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lib::utf8 {

struct Decoded {
  char32_t code_point = 0;  // valid only when length != 0
  std::size_t length = 0;   // bytes of the valid sequence; 0 when invalid
  // When invalid: the length of the maximal invalid prefix (at least 1), the
  // bytes to replace with one U+FFFD (Unicode 3.9, "U+FFFD substitution of
  // maximal subparts").
  std::size_t invalid_length = 1;

  bool valid() const noexcept { return length != 0; }
};

// Decodes the sequence starting at s[i]; i must be < s.size().
Decoded decode(std::string_view s, std::size_t i) noexcept;

// The offset of the first byte that does not start a valid sequence, or npos.
std::size_t first_invalid(std::string_view s) noexcept;

inline bool valid(std::string_view s) noexcept { return first_invalid(s) == std::string_view::npos; }

// Appends cp (<= U+10FFFF, not a surrogate) in UTF-8.
void append(std::string& out, char32_t cp);

}  // namespace lib::utf8
