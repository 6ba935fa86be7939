// maildrop/dot_courier.cpp: see dot_courier.hpp.
#include "maildrop/dot_courier.hpp"

#include <cctype>

namespace maildrop {

std::vector<std::string> dot_courier_candidates(std::string_view ext_in) {
  if (ext_in.empty()) return {".courier"};
  std::string ext;
  for (char c : ext_in) ext += c == '.' ? ':' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::string> out{".courier-" + ext};
  // user-foo-bar: .courier-foo-default, then .courier-default
  std::string prefix = ext;
  while (true) {
    auto dash = prefix.rfind('-');
    if (dash == std::string::npos) break;
    prefix.resize(dash);
    out.push_back(".courier-" + prefix + "-default");
  }
  out.push_back(".courier-default");
  return out;
}

std::variant<std::vector<DotCourierLine>, DotCourierParseError> parse_dot_courier(std::string_view text) {
  std::vector<DotCourierLine> out;
  std::string logical;
  int line_no = 0, start_line = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    if (pos == text.size() && logical.empty()) break;
    auto nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (logical.empty()) start_line = line_no;
    if (!line.empty() && line.back() == '\\') {
      logical += line.substr(0, line.size() - 1);
      continue;
    }
    logical += line;
    std::string l = std::move(logical);
    logical.clear();
    std::size_t b = l.find_first_not_of(" \t");
    if (b == std::string::npos || l[b] == '#') continue;
    l = l.substr(b);
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t')) l.pop_back();
    DotCourierLine d;
    d.line = start_line;
    if (l[0] == '|') {
      bool dynamic = l.size() > 1 && l[1] == '|';
      d.kind = dynamic ? DotCourierLine::Kind::dynamic : DotCourierLine::Kind::program;
      d.text = l.substr(dynamic ? 2 : 1);
      d.text.erase(0, d.text.find_first_not_of(" \t"));
      if (d.text.empty()) return DotCourierParseError{start_line, std::string(dynamic ? "'||'" : "'|'") + " without a command"};
    } else if (l[0] == '.' || l[0] == '/') {
      d.kind = DotCourierLine::Kind::mailbox;
      d.text = l;
    } else {
      d.kind = DotCourierLine::Kind::forward;
      std::string cur;
      for (char c : l + ",") {
        if (c == ',') {
          std::size_t s = cur.find_first_not_of(" \t&!");
          std::size_t e = cur.find_last_not_of(" \t");
          if (s != std::string::npos) d.addresses.push_back(cur.substr(s, e - s + 1));
          cur.clear();
        } else {
          cur += c;
        }
      }
      if (d.addresses.empty()) return DotCourierParseError{start_line, "forward line without an address"};
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace maildrop
