// lib/config_internal.hpp: what lib/config.cpp (the Config API) and
// lib/config_shell.cpp (the shell-subset parser) share: name characters, the
// checks every settings file gets before parsing, the "file:line" and excerpt
// forms of error messages, and the parser's entry point. Private to those two
// files; the public API is lib/config.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lib/config.hpp"

namespace lib::config_internal {

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }
inline bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
inline bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Text from a file, made safe and short for an error message.
std::string shown(std::string_view s, size_t max_chars = 60);

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t invalid_utf8_at(std::string_view s);

// Physical line limits and NUL bytes, checked once before parsing so that every later
// step can assume sane input. Reports the first problem by line number.
Result<void> check_text(std::string_view text, const std::string& origin,
                        size_t max_line_bytes);

// CRLF -> LF; returns whether anything changed.
bool strip_crlf(std::string& text);

// "origin:line" for error messages.
std::string at(const std::string& origin, int line);

// Runs the shell-subset parser (lib/config_shell.cpp) over `text`, adding its
// settings and warnings to `out`; `base` supplies values for ${NAME} expansion.
Result<void> parse_shell(std::string_view text, const std::string& origin, const Config* base,
                         Config& out);

}  // namespace lib::config_internal
