// imapd/fetch.hpp: FETCH (RFC 3501 6.4.5, 7.4.2): the attribute parser and
// the renderer of every data item: FLAGS, UID, INTERNALDATE, RFC822.SIZE,
// ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial>, BODY.PEEK,
// RFC822, RFC822.HEADER, RFC822.TEXT, BINARY[]/BINARY.PEEK/BINARY.SIZE (RFC
// 3516), MODSEQ (RFC 7162). Pure: the session loads the file and passes its
// bytes; nothing here does I/O.
//
// Line ends: Maildir files are usually stored with LF line ends, but IMAP
// sizes and bodies are in CRLF (RFC 3501 2.3.1). As Courier does, every
// size and every byte FETCH returns is of the message with each bare LF
// turned into CRLF: RFC822.SIZE, BODY[] and all section offsets and partials,
// BODYSTRUCTURE sizes. This is the size in the ",W=" field of Courier's
// Maildir file names; crlf_size() computes it when a name lacks it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/imap_string.hpp"
#include "imapd/lexer.hpp"
#include "lib/mime.hpp"
#include "lib/rfc5322.hpp"

namespace imapd {

// ---------------------------------------------------------------------------
// The message as FETCH and SEARCH see it
// ---------------------------------------------------------------------------

// Size of `raw` once every LF not preceded by CR becomes CRLF.
std::size_t crlf_size(std::string_view raw);
// `raw` with every LF not preceded by CR turned into CRLF (bare CRs stay).
std::string to_crlf(std::string_view raw);

// A message's bytes in CRLF form with its header and MIME structure parsed
// on first use. `raw` (the file as stored, e.g. mmap'd) must outlive the
// object; when it already has only CRLF line ends it is used in place,
// otherwise it is converted lazily into one buffer reserved at full size:
// header() converts only the header, so FETCH ENVELOPE or
// BODY.PEEK[HEADER.FIELDS (..)] never copies the body. Neither copyable nor
// movable (the parsed structure points into the text): hold it in a
// std::optional or std::unique_ptr.
class MessageText {
 public:
  explicit MessageText(std::string_view raw);
  MessageText(const MessageText&) = delete;
  MessageText& operator=(const MessageText&) = delete;

  std::string_view text() const;                  // the whole message, CRLF form
  std::size_t size() const { return size_; }      // RFC822.SIZE, known without converting
  // The top-level header (cheap: only the header is converted and parsed).
  const lib::rfc5322::Header& header();
  // The top-level header's bytes with the blank line after it (BODY[HEADER]),
  // CRLF form, without converting the body.
  std::string_view header_text();
  // The whole MIME tree (one pass over the message).
  const lib::mime::Message& mime();

 private:
  // The CRLF form of raw_[0, raw_end), raw_end at a line start or the end.
  std::string_view converted_prefix(std::size_t raw_end) const;

  std::string_view raw_;
  std::size_t size_ = 0;
  bool in_place_ = false;
  mutable std::string converted_;        // capacity size_ from the start: never reallocates
  mutable std::size_t converted_raw_ = 0;  // raw_ bytes converted so far
  std::optional<lib::rfc5322::Header> header_;
  std::string_view header_buffer_;  // what header_ was parsed from (a prefix of the text)
  std::optional<lib::mime::Message> mime_;
};

// ---------------------------------------------------------------------------
// The FETCH request
// ---------------------------------------------------------------------------

enum class FetchAttr {
  flags,          // FLAGS
  uid,            // UID
  internaldate,   // INTERNALDATE
  rfc822_size,    // RFC822.SIZE
  envelope,       // ENVELOPE
  body,           // BODY (BODYSTRUCTURE without extension data)
  bodystructure,  // BODYSTRUCTURE
  body_section,   // BODY[section]<partial>, BODY.PEEK[...]
  binary,         // BINARY[part]<partial>, BINARY.PEEK[...] (RFC 3516)
  binary_size,    // BINARY.SIZE[part]
  rfc822,         // RFC822 (== BODY[], sets \Seen)
  rfc822_header,  // RFC822.HEADER (== BODY.PEEK[HEADER])
  rfc822_text,    // RFC822.TEXT (== BODY[TEXT], sets \Seen)
  modseq,         // MODSEQ (RFC 7162)
  emailid,        // EMAILID (RFC 8474)
  threadid,       // THREADID (RFC 8474): NIL, threads are not tracked
  savedate,       // SAVEDATE (RFC 8514)
};

// A section specification (RFC 3501 6.4.5 "section").
struct SectionSpec {
  enum class Text { none, header, header_fields, header_fields_not, text, mime };
  std::vector<std::uint32_t> part;  // "1.2.3" -> {1, 2, 3}; empty: the whole message
  Text text = Text::none;
  std::vector<std::string> fields;  // HEADER.FIELDS (.NOT) names, as the client wrote them

  // The section as it appears in the response: "1.HEADER.FIELDS (From To)".
  std::string to_string() const;
};

struct FetchItem {
  FetchAttr attr = FetchAttr::flags;
  SectionSpec section;             // body_section, binary, binary_size
  bool peek = false;               // BODY.PEEK / BINARY.PEEK
  std::optional<Partial> partial;  // body_section, binary: <origin.count>
};

struct FetchRequest {
  std::vector<FetchItem> items;  // in the order requested; UID first when added for UID FETCH
  bool needs_message = false;    // an item reads the file (everything but FLAGS, UID,
                                 // INTERNALDATE, MODSEQ and RFC822.SIZE)
  bool needs_size = false;       // RFC822.SIZE: from ",W=" when known, else from the file
  bool sets_seen = false;        // BODY[..]/BINARY[..] without PEEK, RFC822, RFC822.TEXT:
                                 // the session sets \Seen (RFC 3501 6.4.5) unless read-only
  bool has(FetchAttr attr) const;
};

// Parses the FETCH data item argument (what follows the sequence set): the
// macros ALL, FAST, FULL, one attribute, or a parenthesised list of
// attributes (RFC 3501 6.4.5, 9 "fetch"). For UID FETCH (uid_command) UID is
// added first unless requested (RFC 3501 6.4.8). Returns nullopt with a text
// for BAD in `error` for an unknown attribute, a bad section ("HEADER.FIELDS"
// without names, part number 0, text after MIME/HEADER, a partial without
// count or with count 0, BINARY with a text part), an empty list, or more
// than max_items attributes.
std::optional<FetchRequest> parse_fetch_attributes(const Value& att, bool uid_command,
                                                   std::string& error,
                                                   std::size_t max_items = 1000);

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

// What the session knows about a message without reading it.
struct FetchMessageInfo {
  std::uint32_t uid = 0;
  // Flag names separated by one space, without parentheses:
  // "\Seen \Answered $Forwarded" (the session owns flags and keywords).
  std::string_view flags;
  std::time_t internal_date = 0;
  // Zone INTERNALDATE is shown in, minutes east of UTC; nullopt: the
  // server's local zone at that time.
  std::optional<int> zone_offset_minutes;
  std::optional<std::uint64_t> size;    // RFC822.SIZE if known (",W="); else taken from `message`
  std::optional<std::uint64_t> modseq;  // for MODSEQ; 0 when absent
  std::string_view email_id;            // for EMAILID (imapd/objectid.hpp); empty: NIL
  std::optional<std::time_t> save_date;  // for SAVEDATE; nullopt: NIL
  // Add FLAGS even when not requested: the fetch just set \Seen (RFC 3501
  // 6.4.5: the changed flags SHOULD be returned).
  bool add_flags = false;
  // ENVELOPE, BODY and BODYSTRUCTURE already rendered (with the default
  // StringStyle) by the per-mailbox cache (imapd/mailbox_cache.hpp); used
  // instead of parsing `message` when set.
  std::optional<std::string_view> envelope, body, bodystructure;
};

enum class FetchStatus {
  ok,
  message_unavailable,  // an item needs `message` but none was given
  unknown_cte,          // BINARY of a part with an unknown transfer encoding:
                        // reply "NO [UNKNOWN-CTE]" (RFC 3516 4.3)
};

// Appends the parenthesised data of one FETCH response, "(UID 5 FLAGS
// (\Seen) BODY[] {12}\r\n...)", the items in request order. `message` may be
// null when !request.needs_message and the size is known. On a status other
// than ok, `out` is left as it was.
FetchStatus render_fetch(const FetchRequest& request, const FetchMessageInfo& info,
                         MessageText* message, std::string& out, const StringStyle& style = {});

// The pieces, for tests and for commands that show them elsewhere.
// ENVELOPE of a header (RFC 3501 7.4.2): RFC 2047 words left as written;
// Sender and Reply-To default to From; empty host "MISSING_DOMAIN" and empty
// mailbox "MISSING_MAILBOX" so no client mistakes a mailbox for a group.
void append_envelope(std::string& out, const lib::rfc5322::Header& header,
                     const StringStyle& style = {});
// BODYSTRUCTURE (extended) or BODY of a part; `text` is the message the part
// was parsed from.
void append_body_structure(std::string& out, const lib::mime::Part& part, std::string_view text,
                           bool extended, const StringStyle& style = {});

// The bytes BODY[section] refers to in `message`, or nullopt when the part
// does not exist (rendered as NIL). HEADER.FIELDS(.NOT) builds a new string.
std::optional<std::string> section_bytes(MessageText& message, const SectionSpec& section);

// INTERNALDATE text (RFC 3501 9 "date-time"): "02-Jan-2006 15:04:05 +0200",
// the day space-padded (" 2-Jan-2006 ...").
std::string format_internal_date(std::time_t time, int zone_offset_minutes);
// The server's local zone offset (minutes east of UTC) at `time`.
int local_zone_offset_minutes(std::time_t time);

// Parses an APPEND date-time (RFC 3501 9, without the quotes): "dd-Mon-yyyy
// hh:mm:ss +zzzz", day 1 or 2 digits (space-padded), month any case.
// Returns the instant and the zone, or nullopt when invalid.
struct InternalDate {
  std::time_t time = 0;
  int zone_offset_minutes = 0;
};
std::optional<InternalDate> parse_internal_date(std::string_view text);

}  // namespace imapd
