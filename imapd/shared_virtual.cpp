// imapd/shared_virtual.cpp: the shared index and "#shared." names (see
// shared_virtual.hpp).
#include "imapd/shared_virtual.hpp"

#include <cerrno>

#include "authlib/account_options.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"

namespace imapd::shared {
namespace {

constexpr std::size_t max_index_bytes = 64u << 20;
constexpr int max_include_depth = 4;

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    std::size_t tab = line.find('\t', pos);
    out.push_back(line.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
    if (tab == std::string_view::npos) break;
    pos = tab + 1;
  }
  return out;
}

void read_into(const std::string& path, const std::string& prefix, int depth, std::vector<Account>& out) {
  int open_errno = 0;
  auto text = lib::read_small_file(path, max_index_bytes, &open_errno);
  if (!text) {
    if (depth == 0 && open_errno == ENOENT) return;  // no index: nothing shared
    lib::log::warning("shared index %s: %s; the accounts it lists are not shown under #shared "
                      "(make it with authenumerate -s and sharedindexinstall)",
                      path.c_str(), text.error().message.c_str());
    return;
  }
  std::vector<std::string> problems;
  auto lines = parse_index(*text, problems);
  for (const auto& p : problems) lib::log::warning("shared index %s: %s; line ignored", path.c_str(), p.c_str());
  std::string dir = lib::parent_directory(path);
  for (const auto& l : lines) {
    std::string name = prefix + "." + munge(l.name);
    if (!l.include.empty()) {
      if (depth + 1 >= max_include_depth) {
        lib::log::warning("shared index %s: %s includes %s more than %d levels deep; not read", path.c_str(),
                          l.name.c_str(), l.include.c_str(), max_include_depth);
        continue;
      }
      read_into(l.include.front() == '/' ? l.include : dir + "/" + l.include, name, depth + 1, out);
      continue;
    }
    out.push_back({name, l.name, maildir_location(l.home, l.maildir)});
  }
}

}  // namespace

std::vector<IndexLine> parse_index(std::string_view text, std::vector<std::string>& problems) {
  std::vector<IndexLine> out;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto f = split_tabs(line);
    auto problem = [&](const char* what) {
      if (problems.size() < 20) problems.push_back("line " + std::to_string(line_no) + ": " + what);
    };
    if (f[0].empty() || f[0].find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      problem("no account name");
      continue;
    }
    if (f.size() == 3 && f[1] == "*") {
      if (f[2].empty()) {
        problem("an include line (name, *, file) without a file");
        continue;
      }
      out.push_back({std::string(f[0]), {}, {}, std::string(f[2])});
      continue;
    }
    if (f.size() < 4 || f.size() > 5 || f[3].empty()) {
      problem("expected name<TAB>uid<TAB>gid<TAB>home<TAB>[maildir] or name<TAB>*<TAB>file");
      continue;
    }
    out.push_back({std::string(f[0]), std::string(f[3]), f.size() == 5 ? std::string(f[4]) : std::string(), {}});
  }
  return out;
}

std::string munge(std::string_view name) {
  std::string out(name);
  for (char& ch : out)
    if (ch == '.' || ch == '/') ch = ' ';
  return out;
}

std::string maildir_location(const std::string& home, const std::string& maildir) {
  if (maildir.empty()) return home + "/Maildir";
  if (maildir.front() == '/') return maildir;
  return home + "/" + maildir;
}

std::vector<Account> read_accounts(const std::string& index_file) {
  std::vector<Account> out;
  read_into(index_file, std::string(root_name), 0, out);
  return out;
}

std::string index_file_for(const std::string& index_setting, std::string_view account_options) {
  // sharedgroup=X: Courier reads <IMAP_SHAREDINDEXFILE>X.
  auto group = authlib::account_option(account_options, "sharedgroup");
  if (group && !group->empty() && group->find('/') == std::string::npos) return index_setting + *group;
  return index_setting;
}

bool in_namespace(std::string_view name) {
  return name == root_name || (name.size() > root_name.size() && name.substr(0, root_name.size()) == root_name &&
                               name[root_name.size()] == '.');
}

std::optional<Target> resolve(const std::vector<Account>& accounts, std::string_view name) {
  if (!in_namespace(name)) return std::nullopt;
  if (name.find("..") != std::string_view::npos || name.back() == '.' || name.find('/') != std::string_view::npos)
    return std::nullopt;
  const Account* best = nullptr;
  for (const auto& a : accounts) {
    std::string_view n = a.imap_name;
    if (name.size() >= n.size() && name.substr(0, n.size()) == n && (name.size() == n.size() || name[n.size()] == '.'))
      if (!best || n.size() > best->imap_name.size()) best = &a;
  }
  if (best) {
    Target t;
    t.account = best;
    if (name.size() > best->imap_name.size()) t.folder = std::string(name.substr(best->imap_name.size() + 1));
    return t;
  }
  // A hierarchy level: "#shared" itself, or a prefix of some account's name.
  for (const auto& a : accounts) {
    std::string_view n = a.imap_name;
    if (n.size() > name.size() && n.substr(0, name.size()) == name && n[name.size()] == '.') return Target{};
  }
  if (name == root_name) return Target{};
  return std::nullopt;
}

}  // namespace imapd::shared
