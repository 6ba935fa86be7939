// lib/mime.hpp: MIME, for esmtpd's checks, maildrop's filters and imapd's
// BODYSTRUCTURE, BODY[section] and SEARCH.
//   - Structure: a tree of parts (RFC 2045, 2046) with byte offsets into the
//     original message, sizes and line counts, found in one pass over the
//     message with hard limits on depth, part count and header size.
//   - Content-Type and Content-Disposition parameters with RFC 2231
//     continuations and charsets; RFC 2047 encoded words (decode and encode).
//   - Transfer decoding (base64, quoted-printable; RFC 2045 6.7, 6.8) and
//     charset conversion to UTF-8 with glibc's iconv.
// Pure parsing: works on a string_view of the whole message, no I/O, no
// exceptions. Problems are reported as rfc5322::Diagnostic, never as crashes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/rfc5322.hpp"

namespace lib::mime {

using rfc5322::Diagnostic;
using rfc5322::DiagnosticKind;

// ---------------------------------------------------------------------------
// Parameters, Content-Type, Content-Disposition (RFC 2045 5.1, 2183, 2231)
// ---------------------------------------------------------------------------

struct Param {
  std::string name;   // lower-case, without the RFC 2231 "*" and "*N" suffixes
  std::string value;  // unquoted; RFC 2231 values joined, %-decoded and converted to
                      // UTF-8 (kept as decoded bytes when the charset is unknown)
  std::string charset;   // RFC 2231 charset, lower-case; empty for plain parameters
  std::string language;  // RFC 2231 language tag; usually empty
  // For parameters given %-encoded in RFC 2231 form: "charset'language'%XX.."
  // of the raw bytes, continuations joined, in one canonical form, for
  // protocols that pass it on (IMAP BODYSTRUCTURE as "filename*"). Empty for
  // plain parameters, including plain continuations ("URL*0", "URL*1").
  std::string encoded;
  bool extended() const { return !encoded.empty(); }
};
using Params = std::vector<Param>;

// The first parameter called `name` (case-insensitive), or nullptr.
const Param* find_param(const Params& params, std::string_view name);

struct ContentType {
  std::string type;     // lower-case, "text"
  std::string subtype;  // lower-case, "plain"
  Params params;
};

// Parses a Content-Type value "type/subtype; name=value; ...". Comments and
// white space are allowed anywhere (RFC 2045 5.1); parameter values may be
// tokens, quoted strings or (real-world) unquoted text with tspecials up to ';'.
// Duplicate parameters: the first wins; an RFC 2231 form wins over a plain one.
// Returns nullopt when there is no "type/subtype".
std::optional<ContentType> parse_content_type(std::string_view value);

struct Disposition {
  std::string type;  // lower-case, "attachment"
  Params params;
};

// Parses a Content-Disposition value (RFC 2183) with the same parameter rules.
// Returns nullopt when there is no disposition type.
std::optional<Disposition> parse_content_disposition(std::string_view value);

// Parses "; name=value; ..." (the part after the type) into parameters,
// joining RFC 2231 continuations. At most max_params are kept.
Params parse_params(std::string_view text, std::size_t max_params = 100);

// ---------------------------------------------------------------------------
// Structure (RFC 2045, 2046)
// ---------------------------------------------------------------------------

enum class TransferEncoding { seven_bit, eight_bit, binary, quoted_printable, base64, unknown };

struct Limits {
  // Composite parts (multipart, message/rfc822) nested deeper than this are
  // not opened: they become application/octet-stream with a too_complex
  // diagnostic. Values above max_depth_cap are treated as max_depth_cap.
  std::size_t max_depth = 30;
  std::size_t max_parts = 5000;  // parts beyond this are skipped (too_complex)
  rfc5322::HeaderLimits header;  // for the header of every part
  std::size_t max_diagnostics = 64;  // later diagnostics are dropped
  // Decode base64 and quoted-printable bodies to report invalid_encoding.
  // Linear, but reads every encoded body byte once more.
  bool check_encodings = true;
};
// The parser recurses once per nesting level; this bounds its stack use.
inline constexpr std::size_t max_depth_cap = 200;

// One MIME entity. Offsets are into the message given to parse(); the views in
// `header` point into it too, so the message must outlive the Part.
struct Part {
  rfc5322::Header header;  // its diagnostics are moved to Message::diagnostics
  std::size_t header_start = 0;  // == header.start
  std::size_t body_start = 0;    // first body byte
  // Just past the last body byte. For a part of a multipart, the line break
  // before the next boundary line belongs to the boundary (RFC 2046 5.1.1) and
  // is not in the body.
  std::size_t body_end = 0;
  std::size_t body_lines = 0;  // lines of body text, a last line without line break included

  // Effective content type, lower-case. Defaults (RFC 2045 5.2, RFC 2046
  // 5.1.5): text/plain with charset=us-ascii, message/rfc822 inside
  // multipart/digest. A multipart or message/rfc822 that cannot be opened (no
  // or unusable boundary, base64/QP-encoded, limits) becomes
  // application/octet-stream with no parameters, and a diagnostic says why, so
  // the type always agrees with `children`.
  std::string type = "text";
  std::string subtype = "plain";
  Params params;

  TransferEncoding encoding = TransferEncoding::seven_bit;
  std::string encoding_name = "7bit";  // lower-case, as given (e.g. "x-uuencode")
  std::string id;           // Content-ID, unfolded and trimmed
  std::string description;  // Content-Description, unfolded, encoded words kept
  std::string disposition;  // lower-case type of Content-Disposition; empty if none
  Params disposition_params;
  std::vector<std::string> languages;  // Content-Language tags
  std::string location;     // Content-Location (RFC 2557), unfolded and trimmed
  std::string md5;          // Content-MD5 (RFC 1864), trimmed
  bool has_8bit = false;    // a byte >= 0x80 in the body (of a leaf, or any child)

  // multipart/*: the parts, at least one. message/rfc822 and message/global:
  // exactly one, the encapsulated message (its header is what IMAP ENVELOPE
  // shows). Empty for everything else.
  std::vector<Part> children;

  std::size_t body_bytes() const { return body_end - body_start; }
  bool is_multipart() const { return type == "multipart"; }
  // The encapsulated message of a message/rfc822 or message/global part.
  const Part* message() const;
  // The first Content-Type parameter `name`, or nullptr.
  const Param* param(std::string_view name) const;
  // The charset parameter, lower-case; "us-ascii" for text/* without one, ""
  // for other types without one.
  std::string charset() const;
  // Attachment file name as UTF-8: Content-Disposition filename, else
  // Content-Type name; RFC 2231 and (not standard, but common) RFC 2047
  // decoded. Empty if none.
  std::string filename() const;
  // Views into `message` (the one given to parse()) of the part's header
  // block, its blank separator line included as IMAP BODY[n.MIME] and
  // BODY[HEADER] want it, and of its body. Offsets past the end of `message`
  // give an empty view.
  std::string_view header_text(std::string_view message) const;
  std::string_view body(std::string_view message) const;
};

struct Message {
  Part root;  // root.header is the message header (IMAP ENVELOPE, maildrop, esmtpd)
  std::vector<Diagnostic> diagnostics;  // message order, at most Limits::max_diagnostics
  rfc5322::LineEnding line_ending = rfc5322::LineEnding::none;  // of the first line
  std::size_t part_count = 0;  // parts in the tree, root and encapsulated messages included

  bool has(DiagnosticKind kind) const;
};

// Parses the structure of a whole message. Never fails: every problem is a
// diagnostic and the best possible tree is still built. Single pass over the
// message: multipart boundaries (prefix match on lines beginning with "--",
// exact matches first, innermost first) are tracked on a stack, so a missing
// close delimiter of an inner multipart is ended by an outer boundary, as RFC
// 2046 5.1.2 asks. Line-level checks (bare_cr, bare_lf, mixed_line_endings,
// line_too_long, nul_byte) cover the whole message, each reported once.
Message parse(std::string_view message, const Limits& limits = {});

// The part an IMAP section path ("1", "2.3.1"; RFC 3501 6.4.5) refers to, or
// nullptr. The empty path is the root. The first number selects a part of a
// multipart root, or 1 the root itself when it is not multipart; after a
// message/rfc822 part, the numbers go into its encapsulated message the same
// way. Leading zeros and numbers past the parts are not found.
const Part* find_section(const Part& root, std::string_view section);

// ---------------------------------------------------------------------------
// RFC 2047 encoded words
// ---------------------------------------------------------------------------

// Decodes =?charset?B|Q?text?= words in an unstructured value (Subject, a
// display name) to UTF-8. White space between two encoded words is dropped
// (RFC 2047 6.2) and adjacent words of one charset are joined before
// conversion, so a character split across words survives. A word with an
// unknown charset or invalid base64 is left as it is; the RFC 2231 language
// suffix ("utf-8*en") is ignored. CR, LF and NUL produced by decoding become
// spaces, so the result can never inject a header line. Text outside encoded
// words is copied unchanged.
std::string decode_encoded_words(std::string_view text);

// Encodes UTF-8 text for an unstructured header field or a display name: text
// of printable ASCII without "=?" is returned unchanged; anything else becomes
// =?UTF-8?Q?...?= or =?UTF-8?B?...?= words (whichever is shorter), each at most
// 75 bytes (RFC 2047 2), never splitting a UTF-8 character, joined by
// `separator` (" ", or "\r\n " to fold).
std::string encode_encoded_words(std::string_view utf8, std::string_view separator = " ");

// ---------------------------------------------------------------------------
// Charsets
// ---------------------------------------------------------------------------

// Converts `bytes` in `charset` (a MIME charset label, any case, maybe
// quoted) to UTF-8 with glibc's iconv. Bytes invalid in the charset become
// U+FFFD. Known charsets are a fixed table of what mail uses: UTF-8/16/32/7,
// US-ASCII, ISO-8859-*, windows-125x, KOI8, DOS and Mac code pages, and the
// Chinese, Japanese and Korean ones, under their MIME and WHATWG Encoding
// labels. As in browsers, iso-8859-1 means windows-1252, gb2312 means
// GB18030, ks_c_5601-1987 and euc-kr mean CP949, shift_jis means CP932, and
// "us-ascii" text with 8-bit bytes is read as UTF-8 if valid, else as
// windows-1252. Returns nullopt for any other label. A thread opens each
// converter once and keeps it, so hostile labels cost nothing.
std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset);

// Whether to_utf8 knows `charset`.
bool known_charset(std::string_view charset);

// `bytes` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view bytes);
bool valid_utf8(std::string_view bytes);

// ---------------------------------------------------------------------------
// Transfer encodings (RFC 2045 6)
// ---------------------------------------------------------------------------

struct Decoded {
  std::string data;
  std::size_t errors = 0;  // invalid characters or sequences skipped or kept literally
};

// Base64, tolerant: white space and line breaks are skipped, missing padding is
// accepted, invalid characters are skipped and counted, data after padding is
// decoded as a new run.
Decoded decode_base64(std::string_view text);

// Base64, strict: the one canonical encoding of RFC 4648 (no white space,
// whole groups of four, '=' only as padding, the bits padding leaves over
// zero), as protocols exchange it (SASL, imaplogin's hand-over to imapd).
// Decodes into `out`, cleared first; a caller decoding a secret wipes it.
// The size is checked before any byte is looked at.
enum class StrictBase64 { ok, too_long, invalid };
StrictBase64 decode_base64_strict(std::string_view text, std::size_t max_decoded_bytes,
                                  std::string& out);

// Quoted-printable, tolerant: trailing white space on a line is removed (RFC
// 2045 6.7 rule 3), "=" at the end of a line joins lines, "=XX" in either case
// is a byte; a "=" not starting a valid sequence is kept literally and
// counted. Line breaks are copied as they are (CRLF or LF).
Decoded decode_quoted_printable(std::string_view text);

// Base64 with a line break every line_bytes output characters (0: none).
std::string encode_base64(std::string_view data, std::size_t line_bytes = 76,
                          std::string_view line_break = "\r\n");

// The body of a leaf part with its Content-Transfer-Encoding undone; 7bit,
// 8bit, binary and unknown encodings are returned unchanged.
Decoded decode_body(std::string_view message, const Part& part);

// The text of a part as UTF-8 (IMAP SEARCH BODY/TEXT): decode_body, then the
// charset parameter (us-ascii by default); an unknown charset is read as
// UTF-8 with invalid sequences replaced.
std::string text_utf8(std::string_view message, const Part& part);

}  // namespace lib::mime
