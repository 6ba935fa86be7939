// imapd/shared_virtual.hpp: Courier's virtual shared folders, the "#shared."
// namespace (COURIER-COMPAT.md, "Shared folders, virtual (ACL) model").
//
// Other accounts are found through the shared index file (IMAP_SHAREDINDEXFILE,
// default @sysconfdir@/shared/index; the account option sharedgroup=X reads
// that path with X appended). Its lines:
//
//   name<TAB>uid<TAB>gid<TAB>home<TAB>[maildir]   an account (maildir: relative
//                                                 to home; empty: home/Maildir)
//   name<TAB>*<TAB>file                           a sub-hierarchy "#shared.name."
//                                                 read from file (relative to
//                                                 the including file's folder)
//
// "#shared.<name>" is that account's INBOX, "#shared.<name>.<folder>" its
// folder; '.' and '/' in names become spaces (as Courier's default munging).
// Access is decided by the folder's ACL (imapd/acl.hpp) for the logged-in
// identity; imapd runs as the logged-in account's uid, so the accounts that
// share must share a uid/gid (as Courier's virtual-mailbox sites do).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace imapd::shared {

inline constexpr std::string_view root_name = "#shared";

// An account in the index, flattened: its IMAP name ("#shared.<...>.<name>").
struct Account {
  std::string imap_name;  // "#shared.bob" or "#shared.group.bob"
  std::string login;      // the name as in the index (the owner for ACLs)
  std::string maildir;    // absolute, or as the index gives it
};

// One index file's lines: accounts, and includes (maildir empty, include set).
struct IndexLine {
  std::string name;
  std::string home;
  std::string maildir;  // account: the maildir location; include: empty
  std::string include;  // include: the other index file
};
// Parses an index file's text. Unusable lines are described in `problems`
// ("line N: ...") and skipped.
std::vector<IndexLine> parse_index(std::string_view text, std::vector<std::string>& problems);

// '.' and '/' become ' ' (IMAP hierarchy separator, path separator).
std::string munge(std::string_view name);

// The maildir of an index line: maildir absolute as is, relative to home,
// or home/Maildir when empty.
std::string maildir_location(const std::string& home, const std::string& maildir);

// Reads the index file and its includes (up to 4 levels), flattened. A missing
// top-level file means no shared accounts (empty list); other read errors
// and bad lines are logged once per call (WARN, with file and line).
std::vector<Account> read_accounts(const std::string& index_file);

// The index file for an account: IMAP_SHAREDINDEXFILE, with sharedgroup=X
// appended when the account options name one.
std::string index_file_for(const std::string& index_setting, std::string_view account_options);

// Whether a UTF-8 mailbox name lies in the #shared namespace.
bool in_namespace(std::string_view name);

// Where a "#shared..." name leads.
struct Target {
  const Account* account = nullptr;  // nullptr: a hierarchy level only (\Noselect)
  std::string folder;                // in that account: "" = INBOX, else Maildir++ name
};
// nullopt: no such account or hierarchy level (or an invalid name).
std::optional<Target> resolve(const std::vector<Account>& accounts, std::string_view name);

}  // namespace imapd::shared
