// lib/shared_maildirs.hpp: the lists of sharable maildirs of Courier's
// filesystem shared folders: a maildir's `shared-maildirs` file and the
// system-wide @sysconfdir@/maildirshared. Read by imapd (the `shared.`
// namespace) and written by maildirmake --add/--del.
//
// Format (as Courier's maildir library reads it): one sharable maildir per
// line, "nick<whitespace>/path/to/sharable/maildir"; '#' starts a comment;
// blank lines are ignored. The nick names the collection in IMAP
// ("shared.<nick>.<folder>") and in shared-folders/<nick>/, so it may not
// contain '/', '.', whitespace or control characters. The path is the
// sharable maildir itself (made with maildirmake -S), not one of its folders.
// We also require it to be absolute: a relative path would depend on the
// reader's working directory.
//
// Lookups take the system-wide file first and the maildir's own second; the
// first line naming a nick wins (Courier's order).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace lib::maildir {

inline constexpr std::string_view shared_maildirs_file_name = "shared-maildirs";
inline constexpr std::string_view shared_folders_dir_name = "shared-folders";
inline constexpr std::string_view shared_timestamp_file_name = "shared-timestamp";
inline constexpr std::string_view system_shared_file_name = "maildirshared";
inline constexpr std::size_t max_share_nick_bytes = 64;
inline constexpr std::size_t max_shared_maildirs_bytes = 1024 * 1024;

struct SharedMaildir {
  std::string nick;
  std::string path;
  std::size_t line = 0;  // 1-based line in its file (0: not from a file)
};

struct SharedMaildirList {
  std::vector<SharedMaildir> entries;  // in file order, duplicates of a nick dropped
  std::vector<std::string> warnings;   // "<file>:<line>: <why>", for the log
};

// Checks a nick; on failure `why` says what is wrong with it.
bool valid_share_nick(std::string_view nick, std::string& why);

// Parses the text of a shared-maildirs or maildirshared file. `file_name`
// only labels the warnings. Bad lines (invalid nick, missing or relative
// path, a NUL byte) are skipped with a warning; nothing else fails.
SharedMaildirList parse_shared_maildirs(std::string_view text, std::string_view file_name);

// The file text for `entries` ("nick\tpath\n" each), as maildirmake writes it.
std::string format_shared_maildirs(const std::vector<SharedMaildir>& entries);

// Reads and parses a file; a missing file is an empty list. Other failures
// (unreadable, too large) are errors naming the path and the errno text.
Result<SharedMaildirList> read_shared_maildirs(const std::string& path);

// The sharable maildirs reachable from maildir `root`: those of
// `system_file` (@sysconfdir@/maildirshared) first, then root's
// shared-maildirs; a nick already seen is skipped. A file that cannot be
// read adds a warning and contributes nothing.
SharedMaildirList reachable_shared_maildirs(const std::string& root, const std::string& system_file);

// @sysconfdir@/maildirshared of this build.
std::string system_shared_maildirs_path();

}  // namespace lib::maildir
