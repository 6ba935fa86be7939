// imapd/keywords.cpp: Courier's courierimapkeywords (see keywords.hpp).
#include "imapd/keywords.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <unordered_set>
#include <vector>

#include "lib/c_handle.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/unique_fd.hpp"
#include "imapd/folder_lock.hpp"

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

namespace {

// What was read of one pending update file: folded into :list by a writer,
// it may be removed only if it is still that file (a Courier writer that
// replaced it meanwhile made a new inode or a newer mtime).
struct UpdateFile {
  std::string name;
  dev_t dev = 0;
  ino_t ino = 0;
  struct timespec mtime {};
};

struct KeywordState {
  KeywordMap map;
  std::vector<UpdateFile> folded;
};

bool newer(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

lib::Result<KeywordState> read_keyword_state(const std::string& folder_dir) {
  std::string dir = folder_dir + "/" + std::string(keywords_dir_name);
  int open_errno = 0;
  KeywordState state;
  auto list = lib::read_small_file(dir + "/:list", max_keywords_file_bytes, &open_errno);
  if (list) {
    state.map = parse_keyword_list(*list);
  } else if (open_errno != ENOENT) {
    return list.error();
  }
  lib::DirStream d(::opendir(dir.c_str()));
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return state;
    return lib::temporary_error("cannot read " + dir + ": " + lib::errno_text(errno));
  }
  // Pending updates: "<base>" or ".<N>.<base>"; the newest (largest mtime) wins.
  struct Pending {
    struct timespec mtime {};
    std::set<std::string> kws;
  };
  std::map<std::string, Pending> updates;
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
    lib::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) continue;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024) continue;
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    ssize_t got = ::pread(fd.get(), text.data(), text.size(), 0);
    if (got < 0) continue;
    text.resize(static_cast<std::size_t>(got));
    std::set<std::string> kws;
    std::string_view rest = text;
    while (!rest.empty()) {
      std::string_view line = next_line(rest);
      if (valid_keyword(line) && kws.size() < max_keywords_per_message) kws.emplace(line);
    }
    state.folded.push_back({std::string(name), st.st_dev, st.st_ino, st.st_mtim});
    auto& slot = updates[std::string(base)];
    if (!newer(slot.mtime, st.st_mtim)) slot = {st.st_mtim, std::move(kws)};
  }
  for (auto& [base, u] : updates) {
    if (u.kws.empty())
      state.map.erase(base);
    else
      state.map[base] = std::move(u.kws);
  }
  return state;
}

lib::Result<void> write_keyword_state(const std::string& folder_dir, const KeywordState& state) {
  std::string dir = folder_dir + "/" + std::string(keywords_dir_name);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return lib::temporary_error("cannot create " + dir + ": " + lib::errno_text(errno));
  std::string tmp = folder_dir + "/tmp/courierimapkeywords." + std::to_string(::getpid());
  lib::AtomicFileOptions options;
  options.temp_path = tmp;
  // Keywords are flags: like the Maildir renames of STORE (and Courier's own
  // :list), a change is not fsynced, and one lost with a power loss is
  // reported to CONDSTORE clients by imapd-modseq's recovery (README.md,
  // "What survives a power loss"). Fsynced when it folds per-message update
  // files, whose removal below must not outlive a lost :list.
  options.durable = !state.folded.empty();
  auto r = lib::write_file_atomically(dir + "/:list", format_keyword_list(state.map), options);
  if (!r) return r;
  // Remove the updates folded into the list just written, and only those: a
  // file another process (re)wrote since the read stays for the next reader.
  for (const auto& u : state.folded) {
    std::string path = dir + "/" + u.name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (st.st_dev != u.dev || st.st_ino != u.ino || newer(st.st_mtim, u.mtime)) continue;
    ::unlink(path.c_str());
  }
  return {};
}

}  // namespace

lib::Result<KeywordMap> read_keywords(const std::string& folder_dir) {
  auto s = read_keyword_state(folder_dir);
  if (!s) return s.error();
  return std::move(s->map);
}

lib::Result<void> write_keywords(const std::string& folder_dir, const KeywordMap& map) {
  FolderLock lock(folder_dir);
  auto s = read_keyword_state(folder_dir);
  if (!s) return s.error();
  s->map = map;
  return write_keyword_state(folder_dir, *s);
}

namespace {

// The base names in cur/ and new/ (unreadable directories: none).
std::unordered_set<std::string> message_bases(const std::string& folder_dir) {
  std::unordered_set<std::string> out;
  for (const char* sub : {"/cur", "/new"}) {
    lib::DirStream d(::opendir((folder_dir + sub).c_str()));
    if (!d) continue;
    while (dirent* e = ::readdir(d.get())) {
      std::string_view name = e->d_name;
      if (name.empty() || name[0] == '.') continue;
      out.emplace(name.substr(0, name.find(':')));
    }
  }
  return out;
}

// The entries of `map` whose message is in neither cur/ nor new/: read
// twice, so that one renamed (a flag change) during the first read is not
// taken for gone.
std::vector<std::string> gone_entries(const std::string& folder_dir, const KeywordMap& map,
                                      const std::function<bool(std::string_view)>& known) {
  std::vector<std::string> unknown;
  for (const auto& entry : map)
    if (!known(entry.first)) unknown.push_back(entry.first);
  if (unknown.empty()) return unknown;
  for (int pass = 0; pass < 2 && !unknown.empty(); ++pass) {
    const auto here = message_bases(folder_dir);
    std::erase_if(unknown, [&](const std::string& b) { return here.count(b) != 0; });
  }
  return unknown;
}

}  // namespace

lib::Result<KeywordMap> update_keywords(const std::string& folder_dir,
                                        const std::vector<KeywordChange>& changes,
                                        const std::function<bool(std::string_view)>& known) {
  FolderLock lock(folder_dir);
  if (!lock.ok())
    return lib::temporary_error("cannot lock folder " + folder_dir + ": " + lib::errno_text(errno));
  auto s = read_keyword_state(folder_dir);
  if (!s) return s.error();
  bool changed = false;
  for (const auto& c : changes) {
    auto it = s->map.find(c.base);
    std::set<std::string> now = it == s->map.end() ? std::set<std::string>{} : it->second;
    std::set<std::string> want = now;
    switch (c.op) {
      case KeywordChange::Op::set:
        want = c.keywords;
        break;
      case KeywordChange::Op::add:
        for (const auto& k : c.keywords)
          if (want.size() < max_keywords_per_message) want.insert(k);
        break;
      case KeywordChange::Op::remove:
        for (const auto& k : c.keywords) want.erase(k);
        break;
    }
    if (want == now) continue;
    changed = true;
    if (want.empty())
      s->map.erase(c.base);
    else
      s->map[c.base] = std::move(want);
  }
  std::vector<std::string> gone;
  if (known) gone = gone_entries(folder_dir, s->map, known);
  const bool prune = !gone.empty() && (changed || !s->folded.empty() || gone.size() * 4 >= s->map.size());
  if (prune)
    for (const auto& b : gone) s->map.erase(b);
  if (changed || !s->folded.empty() || prune) {
    auto w = write_keyword_state(folder_dir, *s);
    if (!w) return w.error();
  }
  return std::move(s->map);
}

}  // namespace imapd
