// imapd/keywords.cpp: Courier's courierimapkeywords (see keywords.hpp).
#include "imapd/keywords.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <vector>

#include "lib/c_handle.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {
namespace {

std::string_view next_line(std::string_view& rest) {
  std::size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

bool valid_base(std::string_view b) {
  if (b.empty() || b.size() > 255 || b[0] == '.' || b[0] == ':') return false;
  return b.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

}  // namespace

bool valid_keyword(std::string_view name) {
  if (name.empty() || name.size() > max_keyword_bytes) return false;
  for (unsigned char c : name) {
    // atom-specials (RFC 3501 9): ( ) { SP CTL % * " \ ]
    if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' ||
        c == '"' || c == '\\' || c == ']')
      return false;
  }
  return true;
}

KeywordMap parse_keyword_list(std::string_view text) {
  KeywordMap map;
  std::vector<std::string> names;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::string_view line = next_line(rest);
    if (line.empty()) break;
    names.emplace_back(line);
  }
  while (!rest.empty()) {
    std::string_view line = next_line(rest);
    std::size_t colon = line.rfind(':');
    if (colon == std::string_view::npos) continue;
    std::string_view base = line.substr(0, colon);
    if (!valid_base(base)) continue;
    std::set<std::string> kws;
    std::string_view nums = line.substr(colon + 1);
    while (!nums.empty()) {
      std::size_t sp = nums.find(' ');
      std::string_view num = nums.substr(0, sp);
      nums = sp == std::string_view::npos ? std::string_view() : nums.substr(sp + 1);
      std::size_t idx = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), idx);
      if (ec != std::errc() || p != num.data() + num.size() || idx >= names.size()) continue;
      if (valid_keyword(names[idx]) && kws.size() < max_keywords_per_message) kws.insert(names[idx]);
    }
    if (!kws.empty()) map[std::string(base)] = std::move(kws);
  }
  return map;
}

std::string format_keyword_list(const KeywordMap& map) {
  std::map<std::string, std::size_t, std::less<>> index;
  std::vector<const std::string*> names;
  for (const auto& [base, kws] : map)
    for (const auto& k : kws)
      if (index.emplace(k, names.size()).second) names.push_back(&k);
  std::string out;
  for (const auto* n : names) {
    out += *n;
    out += '\n';
  }
  out += '\n';
  for (const auto& [base, kws] : map) {
    out += base;
    out += ':';
    bool first = true;
    for (const auto& k : kws) {
      if (!first) out += ' ';
      first = false;
      out += std::to_string(index.find(k)->second);
    }
    out += '\n';
  }
  return out;
}

lib::Result<KeywordMap> read_keywords(const std::string& folder_dir) {
  std::string dir = folder_dir + "/" + std::string(keywords_dir_name);
  int open_errno = 0;
  KeywordMap map;
  auto list = lib::read_small_file(dir + "/:list", max_keywords_file_bytes, &open_errno);
  if (list) {
    map = parse_keyword_list(*list);
  } else if (open_errno != ENOENT) {
    return list.error();
  }
  lib::DirStream d(::opendir(dir.c_str()));
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return map;
    return lib::temporary_error("cannot read " + dir + ": " + lib::errno_text(errno));
  }
  // Pending updates: "<base>" or ".<N>.<base>"; the newest (largest mtime) wins.
  std::map<std::string, std::pair<time_t, std::set<std::string>>> updates;
  std::size_t seen = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (name == "." || name == ".." || name == ":list") continue;
    if (++seen > 100000) break;
    std::string_view base = name;
    if (name[0] == '.') {
      std::size_t dot = name.find('.', 1);
      if (dot == std::string_view::npos) continue;
      base = name.substr(dot + 1);
    }
    if (!valid_base(base)) continue;
    std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    auto text = lib::read_small_file(path, 64 * 1024);
    if (!text) continue;
    std::set<std::string> kws;
    std::string_view rest = *text;
    while (!rest.empty()) {
      std::string_view line = next_line(rest);
      if (valid_keyword(line) && kws.size() < max_keywords_per_message) kws.emplace(line);
    }
    auto& slot = updates[std::string(base)];
    if (slot.first <= st.st_mtime) slot = {st.st_mtime, std::move(kws)};
  }
  for (auto& [base, u] : updates) {
    if (u.second.empty())
      map.erase(base);
    else
      map[base] = std::move(u.second);
  }
  return map;
}

lib::Result<void> write_keywords(const std::string& folder_dir, const KeywordMap& map) {
  std::string dir = folder_dir + "/" + std::string(keywords_dir_name);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return lib::temporary_error("cannot create " + dir + ": " + lib::errno_text(errno));
  std::string tmp = folder_dir + "/tmp/courierimapkeywords." + std::to_string(::getpid());
  lib::AtomicFileOptions options;
  options.temp_path = tmp;
  auto r = lib::write_file_atomically(dir + "/:list", format_keyword_list(map), options);
  if (!r) return r;
  // The updates are folded into the list we just wrote.
  lib::DirStream d(::opendir(dir.c_str()));
  if (!d) return {};
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (name == "." || name == ".." || name == ":list") continue;
    stale.emplace_back(name);
  }
  for (const auto& n : stale) ::unlink((dir + "/" + n).c_str());
  return {};
}

}  // namespace imapd
