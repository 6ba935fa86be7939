// lib/shared_maildirs.cpp: shared-maildirs and maildirshared (see the header).
#include "lib/shared_maildirs.hpp"

#include <cerrno>
#include <set>

#include "lib/config.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

namespace lib::maildir {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_share_nick(std::string_view nick, std::string& why) {
  if (nick.empty()) {
    why = "the name is empty";
    return false;
  }
  if (nick.size() > max_share_nick_bytes) {
    why = "the name is longer than " + std::to_string(max_share_nick_bytes) + " bytes";
    return false;
  }
  for (char c : nick) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '.' || is_space(c) || u < 0x20 || u == 0x7f) {
      why = "the name may not contain '/', '.', spaces or control characters";
      return false;
    }
  }
  return true;
}

SharedMaildirList parse_shared_maildirs(std::string_view text, std::string_view file_name) {
  SharedMaildirList out;
  std::set<std::string, std::less<>> seen;
  std::size_t line_no = 0;
  auto warn = [&](const std::string& why) {
    out.warnings.push_back(std::string(file_name) + ":" + std::to_string(line_no) + ": " + why);
  };
  while (!text.empty()) {
    ++line_no;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (line.find('\0') != std::string_view::npos) {
      warn("NUL byte in the line; line skipped");
      continue;
    }
    std::size_t sp = 0;
    while (sp < line.size() && !is_space(line[sp])) ++sp;
    std::string_view nick = line.substr(0, sp);
    std::string_view path = trim(line.substr(sp));
    std::string why;
    if (path.empty()) {
      warn("\"" + std::string(nick) + "\" has no path; the line is \"nick /path/to/sharable/maildir\"");
      continue;
    }
    if (!valid_share_nick(nick, why)) {
      warn("invalid name \"" + std::string(nick) + "\": " + why);
      continue;
    }
    if (path.front() != '/') {
      warn("the path of \"" + std::string(nick) + "\" is not absolute: " + std::string(path));
      continue;
    }
    if (!seen.insert(std::string(nick)).second) {
      warn("\"" + std::string(nick) + "\" is listed again; the first line wins");
      continue;
    }
    out.entries.push_back({std::string(nick), std::string(path), line_no});
  }
  return out;
}

std::string format_shared_maildirs(const std::vector<SharedMaildir>& entries) {
  std::string out;
  for (const auto& e : entries) out += e.nick + "\t" + e.path + "\n";
  return out;
}

Result<SharedMaildirList> read_shared_maildirs(const std::string& path) {
  int open_errno = 0;
  auto text = read_small_file(path, max_shared_maildirs_bytes, &open_errno);
  if (!text) {
    if (open_errno == ENOENT) return SharedMaildirList{};
    return text.error();
  }
  return parse_shared_maildirs(*text, path);
}

SharedMaildirList reachable_shared_maildirs(const std::string& root, const std::string& system_file) {
  SharedMaildirList out;
  std::set<std::string, std::less<>> seen;
  for (const std::string& path : {system_file, root + "/" + std::string(shared_maildirs_file_name)}) {
    if (path.empty()) continue;
    auto r = read_shared_maildirs(path);
    if (!r) {
      out.warnings.push_back(r.error().message);
      continue;
    }
    for (auto& w : r->warnings) out.warnings.push_back(std::move(w));
    for (auto& e : r->entries)
      if (seen.insert(e.nick).second) out.entries.push_back(std::move(e));
  }
  return out;
}

std::string system_shared_maildirs_path() {
  return std::string(SYSCONFDIR) + "/" + std::string(system_shared_file_name);
}

}  // namespace lib::maildir
