// imapd/folders.hpp: IMAP mailbox names over Maildir++ folders (RFC 3501 5.1,
// 6.3.8 LIST wildcards; RFC 2342 NAMESPACE; RFC 6154 SPECIAL-USE), Courier-style:
// the personal namespace is "INBOX." with '.' as the hierarchy separator,
// INBOX is the maildir root and "INBOX.a.b" is the folder directory ".a.b".
// Names here are UTF-8 (as Courier-IMAP 5 keeps them on disk); the session
// converts to and from modified UTF-7 on the wire.
// Also the courierimapsubscribed file (one "INBOX.x" name per line).
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "lib/result.hpp"

namespace imapd {

inline constexpr char hierarchy_separator = '.';
inline constexpr std::string_view subscribed_file_name = "courierimapsubscribed";
inline constexpr std::size_t max_subscriptions = 10000;

// A client's mailbox name resolved to a Maildir++ folder ("" = INBOX).
struct FolderName {
  std::string folder;     // Maildir++ name without the leading '.'
  std::string imap_name;  // canonical: "INBOX" or "INBOX.<folder>"
  // Another account's folder reached through "#shared." (imapd/shared_virtual.hpp):
  // that account's maildir and login; both empty for the session's own folders.
  std::string root;
  std::string owner;
  // Set for "shared.<nick>.<folder>" (imapd/shared_fs.hpp): the account's
  // copy of the sharable folder; `folder` is then never a Maildir++ name.
  std::string dir;
};

// Maps a UTF-8 mailbox name to its folder. "INBOX" matches case-insensitively
// (RFC 3501 5.1), also as the first component. Refused with a reason fit for a
// NO reply: names outside INBOX, '/', empty components ("a..b"), a leading
// '.', control characters, invalid UTF-8, overlong names.
std::optional<FolderName> resolve_mailbox(std::string_view utf8_name, std::string& why);

// "INBOX" for the root, "INBOX.<folder>" otherwise.
std::string imap_name_of(std::string_view folder);

// LIST/LSUB matching (RFC 3501 6.3.8): '*' matches anything, '%' anything but
// the separator; INBOX's first component matches case-insensitively. The
// pattern is already joined to the reference. Bounded: patterns with more than
// 64 wildcards never match (no exponential backtracking).
bool list_match(std::string_view pattern, std::string_view name);

// SPECIAL-USE attribute for a folder, Courier's default names: "Sent" ->
// "\\Sent", "Drafts" -> "\\Drafts", trash_name -> "\\Trash"; empty otherwise.
std::string_view special_use(std::string_view folder, std::string_view trash_name);

// courierimapsubscribed in maildir_root: read (missing file = none) and
// write (through tmp/ and rename).
lib::Result<std::set<std::string>> read_subscriptions(const std::string& maildir_root);
lib::Result<void> write_subscriptions(const std::string& maildir_root,
                                      const std::set<std::string>& names);

}  // namespace imapd
