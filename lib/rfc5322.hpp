// lib/rfc5322.hpp: Internet Message Format headers, the part of a message that
// esmtpd's checks, maildrop's filters and imapd's ENVELOPE/SEARCH read.
//   - Header block: fields, folding and unfolding, the header/body split
//     (RFC 5322 2.1, 2.2, 3.6), CRLF or LF line ends (LF is how Maildir stores
//     mail), with hard limits against hostile input.
//   - Addresses: mailbox and address lists with groups (RFC 5322 3.4), obsolete
//     routes (4.4), RFC 6532 UTF-8, and the real-world garbage around them.
//   - Dates: date-time (3.3) with the obsolete forms (4.3) and common mistakes.
// Everything here is a pure parser: bytes in, structure and diagnostics out, no
// I/O, no exceptions, no allocation proportional to more than the input. RFC
// 2047 encoded words, charsets and MIME structure are in lib/mime.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/ascii.hpp"

namespace lib::rfc5322 {

// ---------------------------------------------------------------------------
// Diagnostics (shared with lib::mime)
// ---------------------------------------------------------------------------

// What can be wrong with a message. The parsers never stop at a problem: they
// record it and still build the best structure they can; the caller decides
// what to refuse (esmtpd) and what to show anyway (imapd).
enum class DiagnosticKind {
  // Header blocks (parse_header).
  eight_bit_in_headers,  // a byte >= 0x80 in a header (fine only with SMTPUTF8, RFC 6532)
  nul_byte,              // a NUL byte anywhere
  malformed_field,       // a header line that is neither "name: value" nor a continuation
  header_too_large,      // header block over HeaderLimits::max_header_bytes; rest not stored
  too_many_fields,       // over HeaderLimits::max_fields; later fields not stored
  field_too_large,       // one field over HeaderLimits::max_field_bytes; field not stored
  // Lines (RFC 5322 2.1.1, 2.3).
  bare_cr,               // a CR not followed by LF
  bare_lf,               // a LF without CR in a message whose first line ends in CRLF
  mixed_line_endings,    // a CRLF in a message whose first line ends in a lone LF
  line_too_long,         // a line over 998 bytes, line end excluded
  // MIME (lib::mime::parse; RFC 2045, 2046).
  invalid_content_type,       // Content-Type unparsable; the RFC 2045 5.2 default is used
  bad_boundary,               // multipart boundary missing, empty, too long, overlapping an
                              // enclosing one, or never found in the body
  missing_close_delimiter,    // multipart ended without "--boundary--"
  too_complex,                // nesting deeper than Limits::max_depth or over max_parts
  invalid_encoding,           // base64 or quoted-printable body with invalid data
  unknown_transfer_encoding,  // Content-Transfer-Encoding not one of RFC 2045's five
  encoding_on_composite,      // multipart or message/rfc822 encoded in base64 or QP (2045 6.4)
  eight_bit_undeclared,       // 8-bit bytes in a part declared 7bit, quoted-printable or base64
};

// The snake_case name of a kind, for log lines ("bare_lf").
std::string_view diagnostic_name(DiagnosticKind kind);

struct Diagnostic {
  DiagnosticKind kind;
  std::size_t offset = 0;  // byte offset in the message where the problem is
  std::string detail;      // short, printable context (a field name, a boundary); may be empty
};

// ---------------------------------------------------------------------------
// Header block
// ---------------------------------------------------------------------------

enum class LineEnding {
  none,  // no line break seen
  crlf,  // "\r\n" (SMTP, RFC 5322)
  lf,    // "\n" (Maildir files on disk)
};

struct HeaderLimits {
  std::size_t max_header_bytes = 256 * 1024;  // whole block, separator line excluded
  std::size_t max_fields = 5000;
  std::size_t max_field_bytes = 64 * 1024;  // one field with its continuation lines
};

// One header field, as views into the parsed message: the message must outlive it.
struct Field {
  std::string_view name;       // as written, without the colon or WSP before it
  std::string_view raw_value;  // after the colon up to the last line break, folding kept
  std::size_t offset = 0;      // of the field's first byte in the message
  std::size_t size = 0;        // bytes, continuation lines and the final line break included

  // The value unfolded (RFC 5322 2.2.3: line breaks removed) with leading and
  // trailing white space trimmed.
  std::string value() const;
  // Case-insensitive comparison of the name (RFC 5322 1.2.2).
  bool is(std::string_view field_name) const;
};

struct Header {
  std::vector<Field> fields;  // in message order
  std::size_t start = 0;       // offset of the first header byte
  std::size_t end = 0;         // offset just past the last header line, its line break included
  std::size_t body_start = 0;  // offset of the body: after the blank line, or == end
  std::size_t lines = 0;       // line breaks between start and body_start
  LineEnding line_ending = LineEnding::none;  // of the first header line
  bool has_separator = false;  // a blank line ended the block (false: EOF or stop line)
  bool stopped = false;        // HeaderOptions::stop_before ended the block
  std::vector<Diagnostic> diagnostics;

  // First field with this name (case-insensitive), or nullptr.
  const Field* find(std::string_view name) const;
  // All fields with this name, in message order.
  std::vector<const Field*> find_all(std::string_view name) const;
  // Unfolded value of the first field with this name.
  std::optional<std::string> value(std::string_view name) const;
  bool has(DiagnosticKind kind) const;
};

struct HeaderOptions {
  std::size_t start = 0;  // offset in the message where the header block begins
  HeaderLimits limits;
  // Optional. Called with every header line (line break excluded) before it is
  // looked at; returning true ends the block before that line (Header::stopped).
  // lib::mime uses it so that a part's header never runs over a boundary.
  std::function<bool(std::string_view line)> stop_before;
};

// Splits the header block that begins at options.start off the message.
// The block ends at the first empty line (which is consumed: body_start is
// after it), at stop_before, or at the end of the message. Accepts CRLF and LF
// line ends. A line that is not a field is skipped with malformed_field, except
// a first line: then the block is empty and the body starts right there (a part
// or message without a header). Over a limit, fields are no longer stored but
// the block is still scanned to its end, so body_start is right; each limit is
// reported once. Never fails; options.start past the end gives an empty block.
Header parse_header(std::string_view message, const HeaderOptions& options = {});

// RFC 5322 2.2.3 unfolding: removes CR and LF; keeps everything else.
std::string unfold(std::string_view raw_value);

// ASCII case-insensitive equality and lower-case copy (lib/ascii.hpp).
using lib::ascii::iequals;
using lib::ascii::to_lower;

// ---------------------------------------------------------------------------
// Addresses (RFC 5322 3.4, 4.4)
// ---------------------------------------------------------------------------

// One element of an address list, in the shape IMAP ENVELOPE needs (RFC 3501
// 7.4.2): a mailbox, or a marker opening or closing a group. imapd maps them to
//   mailbox:     (name route mailbox host), empty strings as NIL
//                (Dovecot writes an empty host as "MISSING_DOMAIN")
//   group_start: (NIL NIL name NIL)
//   group_end:   (NIL NIL NIL NIL)
struct Address {
  enum class Kind { mailbox, group_start, group_end };
  Kind kind = Kind::mailbox;
  // Display name (or group name): quoted strings unquoted, words joined by one
  // space, RFC 2047 encoded words left encoded (lib::mime::decode_encoded_words
  // decodes them). Taken from a comment when there is no phrase ("a@b (Name)").
  std::string name;
  std::string route;    // obsolete source route "@a.example,@b.example", no ':'
  std::string mailbox;  // local part, unquoted ("john doe" for "\"john doe\"@x")
  std::string host;     // domain as written (comments removed), "[1.2.3.4]" kept; may be empty

  // "local@domain", the local part quoted again where RFC 5322 needs it;
  // just the local part when there is no host. Empty for group markers.
  std::string addr_spec() const;
};

struct AddressList {
  std::vector<Address> addresses;  // group markers always come in pairs
  bool malformed = false;  // something had to be repaired or skipped (missing '>', quote, ';')
  bool truncated = false;  // more than max_addresses elements; the rest was dropped
};

// Parses an address-list or mailbox-list field value (folded or not). Never
// fails: garbage yields fewer addresses and malformed = true. Tolerates missing
// '>' and '"', trailing and doubled commas, unqualified local parts, a group
// without ';', "Name addr@host" without brackets, encoded words containing
// specials. Linear in the input.
AddressList parse_address_list(std::string_view value, std::size_t max_addresses = 10000);

// ---------------------------------------------------------------------------
// Dates (RFC 5322 3.3, 4.3)
// ---------------------------------------------------------------------------

struct DateTime {
  std::time_t time = 0;          // the instant, seconds since the epoch (UTC)
  int zone_offset_minutes = 0;   // east of UTC as written (+0200 -> 120)
  bool zone_known = true;        // false for "-0000", a missing or unknown zone (then offset 0)
  // The date and time as written, in that zone. IMAP SENTBEFORE/SENTON/SENTSINCE
  // compare year/month/day, "disregarding time and timezone" (RFC 3501 6.4.4).
  int year = 1970, month = 1, day = 1;  // month 1-12
  int hour = 0, minute = 0, second = 0;
};

// Parses a Date-like field value: RFC 5322 date-time, plus obsolete and common
// forms: no day of week or comma, full day and month names, any case, 2- and
// 3-digit years (RFC 5322 4.3), no seconds, "." in the time, named zones (UT,
// GMT, UTC, Z, the US zones, a few European and Asian ones, military letters as
// unknown), "+02:00", a missing zone, comments, asctime order
// ("Mon Jan  2 15:04:05 2006") and ISO 8601 ("2006-01-02T15:04:05Z"). Returns
// nullopt for anything without a valid day, month and year, for impossible
// dates (31 Feb) and years outside 1900-9999.
std::optional<DateTime> parse_date(std::string_view value);

// RFC 5322 date-time for `time` shown in the zone `zone_offset_minutes` east of
// UTC: "Mon, 02 Jan 2006 15:04:05 +0200". Offsets are clamped to +-99:59.
std::string format_date(std::time_t time, int zone_offset_minutes);

}  // namespace lib::rfc5322
