// imapd/folders.cpp: mailbox names over Maildir++ folders (see folders.hpp).
#include "imapd/folders.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "lib/ascii.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/maildir.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {
namespace {

constexpr auto iequal = lib::ascii::iequals;

// Upper-cases a leading "inbox" component so INBOX matches case-insensitively.
std::string canonical_inbox(std::string_view s) {
  std::string out(s);
  if (s.size() >= 5 && iequal(s.substr(0, 5), "INBOX") && (s.size() == 5 || s[5] == '.'))
    for (std::size_t i = 0; i < 5; ++i) out[i] = "INBOX"[i];
  return out;
}

// Dynamic programming over (pattern position, name position): O(|p| * |n|)
// whatever the wildcards, so a hostile pattern cannot make LIST slow.
bool match_from(std::string_view p, std::string_view n) {
  std::vector<char> next(n.size() + 1, 0), cur(n.size() + 1, 0);
  next[n.size()] = 1;  // empty pattern matches only the empty rest
  for (std::size_t i = p.size(); i-- > 0;) {
    char c = p[i];
    for (std::size_t j = n.size() + 1; j-- > 0;) {
      bool m = false;
      if (c == '*') {
        m = next[j] || (j < n.size() && cur[j + 1]);
      } else if (c == '%') {
        m = next[j] || (j < n.size() && n[j] != hierarchy_separator && cur[j + 1]);
      } else {
        m = j < n.size() && n[j] == c && next[j + 1];
      }
      cur[j] = m;
    }
    std::swap(cur, next);
  }
  return next[0];
}

}  // namespace

std::optional<FolderName> resolve_mailbox(std::string_view name, std::string& why) {
  if (name.size() > lib::maildir::max_folder_name_bytes + 6) {
    why = "Mailbox name too long.";
    return std::nullopt;
  }
  if (iequal(name, "INBOX")) return FolderName{"", "INBOX"};
  if (name.size() <= 6 || !iequal(name.substr(0, 6), "INBOX.")) {
    why = "Mailbox names start with INBOX. (see NAMESPACE).";
    return std::nullopt;
  }
  std::string_view folder = name.substr(6);
  auto ok = lib::maildir::validate_folder_name(folder);
  if (!ok) {
    why = "Invalid mailbox name: " + ok.error().message;
    return std::nullopt;
  }
  if (folder.find("..") != std::string_view::npos || folder.find('/') != std::string_view::npos) {
    why = "Invalid mailbox name.";
    return std::nullopt;
  }
  return FolderName{std::string(folder), "INBOX." + std::string(folder)};
}

std::string imap_name_of(std::string_view folder) {
  if (folder.empty()) return "INBOX";
  return "INBOX." + std::string(folder);
}

bool list_match(std::string_view pattern, std::string_view name) {
  std::size_t wild = 0;
  for (char c : pattern)
    if (c == '*' || c == '%') ++wild;
  if (wild > 64) return false;
  std::string p = canonical_inbox(pattern);
  std::string n = canonical_inbox(name);
  return match_from(p, n);
}

std::string_view special_use(std::string_view folder, std::string_view trash_name) {
  if (folder == "Sent") return "\\Sent";
  if (folder == "Drafts") return "\\Drafts";
  if (!trash_name.empty() && folder == trash_name) return "\\Trash";
  return {};
}

lib::Result<std::set<std::string>> read_subscriptions(const std::string& root) {
  std::string path = root + "/" + std::string(subscribed_file_name);
  int open_errno = 0;
  auto text = lib::read_small_file(path, 4 * 1024 * 1024, &open_errno);
  std::set<std::string> out;
  if (!text) {
    if (open_errno == ENOENT) return out;
    return text.error();
  }
  std::string_view rest = *text;
  while (!rest.empty() && out.size() < max_subscriptions) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty()) out.emplace(canonical_inbox(line));
  }
  return out;
}

lib::Result<void> write_subscriptions(const std::string& root, const std::set<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += n + "\n";
  std::string tmp = root + "/tmp/courierimapsubscribed." + std::to_string(::getpid());
  std::string path = root + "/" + std::string(subscribed_file_name);
  lib::AtomicFileOptions options;
  options.temp_path = tmp;
  return lib::write_file_atomically(path, text, options);
}

}  // namespace imapd
