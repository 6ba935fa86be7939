// courierd/text.hpp: small text helpers shared by courierd's files (TAB-separated
// fields of the helper protocols, trimming, line iteration).
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace courierd {

// A value safe inside one TAB-separated field of one line: TAB, CR and LF become spaces.
inline std::string field(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return out;
}

inline std::vector<std::string_view> split_tabs(std::string_view s) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    auto tab = s.find('\t', pos);
    out.push_back(s.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
    if (tab == std::string_view::npos) return out;
    pos = tab + 1;
  }
}

// Without surrounding white space (blanks, TAB, CR, LF).
inline std::string_view trim_view(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
inline std::string trim(std::string_view s) { return std::string(trim_view(s)); }

// Calls fn(line, line_number) for each line of text (without its LF); a last line
// without LF counts too.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    fn(line, ++line_no);
  }
}

}  // namespace courierd
