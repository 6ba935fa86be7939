// imapd/keywords.hpp: Courier's courierimapkeywords/ folder, which stores the
// custom IMAP keywords (RFC 3501 2.3.2 "keywords") of a Maildir++ folder:
//   :list            keyword names one per line, a blank line, then lines
//                    "<basename>:<n> <n> ..." (0-based positions in the names)
//   <basename>       a pending update: that message's complete keyword list,
//   .<N>.<basename>  one per line (empty file: none); N is a 300 s time bucket
// Readers fold pending updates into the list; writers here replace :list through
// the folder's tmp/ and rename and remove the updates they folded.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>

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

// Replaces :list with map and removes pending update files. Creates the
// courierimapkeywords folder when map is not empty.
lib::Result<void> write_keywords(const std::string& folder_dir, const KeywordMap& map);

}  // namespace imapd
