// imapd/keywords.hpp: Courier's courierimapkeywords/ folder, which stores the
// custom IMAP keywords (RFC 3501 2.3.2 "keywords") of a Maildir++ folder:
//   :list            keyword names one per line, a blank line, then lines
//                    "<basename>:<n> <n> ..." (0-based positions in the names)
//   <basename>       a pending update: that message's complete keyword list,
//   .<N>.<basename>  one per line (empty file: none); N is a 300 s time bucket
// Readers fold pending updates into the list; writers here, holding the folder
// lock, replace :list through the folder's tmp/ and rename, and remove only
// the update files they folded in (same inode, not newer than when read).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace imapd {

inline constexpr std::string_view keywords_dir_name = "courierimapkeywords";
inline constexpr std::size_t max_keywords_file_bytes = 64u * 1024 * 1024;
inline constexpr std::size_t max_keyword_bytes = 200;
inline constexpr std::size_t max_keywords_per_message = 100;

// basename -> its keywords (never an empty set).
using KeywordMap = std::map<std::string, std::set<std::string>, std::less<>>;

// Parses a :list file. Malformed lines and out-of-range indexes are skipped.
KeywordMap parse_keyword_list(std::string_view text);

// The :list text for map (keywords numbered in first-use order).
std::string format_keyword_list(const KeywordMap& map);

// Whether name is an acceptable keyword: an IMAP atom without '\\' (RFC 3501
// flag-keyword), at most max_keyword_bytes.
bool valid_keyword(std::string_view name);

// Reads folder_dir/courierimapkeywords: :list plus pending updates (newest
// wins). A missing folder yields an empty map.
lib::Result<KeywordMap> read_keywords(const std::string& folder_dir);

// Under the folder lock: replaces :list with map and removes the pending
// update files it read (not ones written since). Creates the
// courierimapkeywords folder. For tools and tests; sessions use
// update_keywords, which never overwrites another writer's change.
lib::Result<void> write_keywords(const std::string& folder_dir, const KeywordMap& map);

// One message's keyword change, applied to what is on disk at the time.
struct KeywordChange {
  enum class Op { set, add, remove };
  std::string base;
  Op op = Op::set;
  std::set<std::string> keywords;
};

// Under the folder lock (imapd/folder_lock.hpp): reads :list and the pending
// update files, applies `changes` in order, writes :list atomically (fsynced
// only when it folds update files) and removes exactly the update files
// folded in, so a change another session or Courier's imapd made meanwhile
// is never lost. Returns the new map.
//
// With `known` (true for the base names the caller has in the folder), the
// entries of other messages are looked for in cur/ and new/ (two directory
// reads) and those gone are dropped: when :list is written anyway, or when
// they are a quarter of its entries. A few entries of expunged messages
// are otherwise left in it: never matched by a message (base names are
// unique), and dropped by Courier's imapd when it reads the file. Without
// `known`, entries of gone messages are left alone.
lib::Result<KeywordMap> update_keywords(const std::string& folder_dir,
                                        const std::vector<KeywordChange>& changes,
                                        const std::function<bool(std::string_view)>& known = {});

}  // namespace imapd
