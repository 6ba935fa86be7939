// imapd/search.hpp: SEARCH (RFC 3501 6.4.4): the criteria parser (every
// RFC 3501 search key, CHARSET UTF-8 / US-ASCII, RFC 4731 RETURN options for
// ESEARCH, RFC 5182 "$") into a tree, and its evaluation against one message
// at a time through an interface, so that keys needing no content never read
// the file. Text keys are case-insensitive on decoded text: headers with RFC
// 2047 decoded, bodies transfer-decoded and converted to UTF-8 (lib::mime).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "imapd/lexer.hpp"
#include "imapd/sequence_set.hpp"
#include "lib/rfc5322.hpp"

namespace imapd {

class MessageText;

enum class SystemFlag { answered, deleted, draft, flagged, seen, recent };

// One node of the criteria tree.
struct SearchKey {
  enum class Kind {
    all,          // ALL, and an empty group
    and_,         // children all match (the top level, "( ... )")
    or_,          // OR a b: children[0] or children[1]
    not_,         // NOT a: children[0]
    flag,         // ANSWERED DELETED DRAFT FLAGGED SEEN RECENT, NEW (recent, unseen),
                  // OLD (not recent) and the UN* forms (through not_)
    keyword,      // KEYWORD k (UNKEYWORD through not_)
    sequence,     // a sequence set of message numbers
    uid,          // UID set
    before, on, since,                     // INTERNALDATE, by date in the server's zone
    sent_before, sent_on, sent_since,      // Date: header, by its own date
    larger, smaller,                       // RFC822.SIZE
    header,       // HEADER name value, FROM TO CC BCC SUBJECT (name set)
    body,         // BODY text
    text,         // TEXT text (header and body)
    modseq,       // MODSEQ [entry type] n (RFC 7162 3.1.5): modseq >= `size`
    older, younger,  // WITHIN (RFC 5032): INTERNALDATE at least / less than `size` seconds ago
    emailid, threadid,  // OBJECTID (RFC 8474): EMAILID/THREADID `value` (THREADID: never, all NIL)
    saved_before, saved_on, saved_since,  // SAVEDATE (RFC 8514); INTERNALDATE when none
    savedate_supported,                   // SAVEDATESUPPORTED: the message has a save date
  };
  Kind kind = Kind::all;
  std::vector<SearchKey> children;
  SystemFlag flag = SystemFlag::seen;
  std::string field;       // header: field name (original case)
  std::string value;       // header/body/text: search string, case-folded UTF-8; keyword: name
  SequenceSet set;         // sequence, uid
  int year = 0, month = 0, day = 0;  // date keys
  std::uint64_t size = 0;  // larger, smaller; older, younger: seconds
};

// RFC 4731 RETURN options.
struct SearchReturn {
  bool min = false, max = false, all = false, count = false, save = false;
  // RFC 5267 CONTEXT=SEARCH: UPDATE, CONTEXT (a hint) and PARTIAL lo:hi
  // (1-based positions in the result, lo <= hi).
  bool update = false, context = false;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> partial;
  bool none() const { return !min && !max && !all && !count && !save && !partial; }
};

struct SearchProgram {
  SearchKey root;                        // Kind::and_ of the criteria
  std::optional<SearchReturn> returns;   // present when "RETURN (...)" was given (ESEARCH)
  bool needs_content = false;            // some key reads headers or body
  bool needs_size = false;               // LARGER/SMALLER
  bool uses_saved = false;               // "$" appears (RFC 5182)
  bool uses_modseq = false;              // MODSEQ appears (RFC 7162: enables CONDSTORE)
};

struct SearchLimits {
  std::size_t max_depth = 32;    // NOT/OR/parentheses nesting
  std::size_t max_keys = 1000;   // search keys in total
  std::size_t max_string_bytes = 64 * 1024;  // one search string
};

struct SearchParseResult {
  std::optional<SearchProgram> program;
  // On failure: the text for the reply, and whether it is
  // "NO [BADCHARSET (UTF-8 US-ASCII)]" (bad_charset) or BAD.
  std::string error;
  bool bad_charset = false;
};

// Parses the arguments of SEARCH (after the command name; for UID SEARCH the
// same): [RETURN (opts)] [CHARSET name] key+. Keys are case-insensitive.
// allow_esearch: accept RETURN (RFC 4731); allow_saved: accept "$".
SearchParseResult parse_search(std::span<const Value> args, bool allow_esearch = false,
                               bool allow_saved = false, const SearchLimits& limits = {});

// For SORT and THREAD (RFC 5256), whose charset is positional and mandatory:
// parses `return_option` ("RETURN" and its list, or empty) followed by
// CHARSET charset_and_keys[0] and the keys, as parse_search would.
SearchParseResult parse_search_with_charset(std::span<const Value> return_option,
                                            std::span<const Value> charset_and_keys,
                                            bool allow_esearch, const SearchLimits& limits);

// Moves a parsed program into `into`; on an error copies it into `result`
// (SortParseResult, ThreadParseResult) instead and returns false.
template <class Result>
bool take_search(SearchParseResult&& parsed, SearchProgram& into, Result& result) {
  if (!parsed.program) {
    result.error = std::move(parsed.error);
    result.bad_charset = parsed.bad_charset;
    return false;
  }
  into = std::move(*parsed.program);
  return true;
}

// One message, as SEARCH sees it. Implemented by the session.
class SearchMessage {
 public:
  virtual ~SearchMessage() = default;
  virtual std::uint32_t seq() const = 0;
  virtual std::uint32_t uid() const = 0;
  virtual bool has_flag(SystemFlag flag) const = 0;
  virtual bool has_keyword(std::string_view keyword) const = 0;  // case-insensitive
  virtual std::time_t internal_date() const = 0;
  // RFC822.SIZE (CRLF); the session may read the file for it.
  virtual std::uint64_t size() = 0;
  // The message, loaded on first call; nullptr when it cannot be read
  // (vanished): then text keys do not match.
  virtual MessageText* message() = 0;
  // The top-level header, for the header keys (and SORT, THREAD); the
  // session may answer from its per-mailbox cache without reading the
  // file. nullptr: unreadable. By default message()'s header.
  virtual const lib::rfc5322::Header* header();
  // The mod-sequence (RFC 7162), 0 when the session does not keep them.
  virtual std::uint64_t modseq() const { return 0; }
  // EMAILID (RFC 8474, imapd/objectid.hpp); empty: none.
  virtual std::string email_id() const { return {}; }
  // SAVEDATE (RFC 8514); nullopt: none.
  virtual std::optional<std::time_t> save_date() const { return std::nullopt; }
};

// The mailbox-wide facts evaluation needs.
struct SearchContext {
  std::uint32_t message_count = 0;   // "*" for sequence numbers
  std::uint32_t max_uid = 0;         // "*" for UIDs
  // For "$" (RFC 5182): the saved result as sorted UIDs; nullptr = empty.
  const std::vector<std::uint32_t>* saved_uids = nullptr;
  // Zone for BEFORE/ON/SINCE (minutes east of UTC); nullopt: server local time.
  std::optional<int> zone_offset_minutes;
};

// Whether `message` matches `program`. Cheap keys are evaluated first in
// every AND, so the message's content is only read when needed.
bool search_matches(const SearchProgram& program, SearchMessage& message,
                    const SearchContext& context);

// Case-folds UTF-8 for SEARCH comparisons: ASCII, Latin-1, Latin Extended-A,
// Greek and Cyrillic capitals to small letters; invalid bytes become U+FFFD.
std::string search_fold(std::string_view utf8);

// Parses an RFC 3501 date ("1-Feb-1994", day 1 or 2 digits, month any case).
std::optional<std::tuple<int, int, int>> parse_search_date(std::string_view text);

}  // namespace imapd
