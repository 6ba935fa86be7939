// imapd/mutf7.hpp: modified UTF-7 mailbox names (RFC 3501 5.1.3) <-> UTF-8.
// courier-imap 5 keeps folder names in UTF-8 on disk and speaks modified
// UTF-7 to clients that have not enabled UTF8=ACCEPT (RFC 6855). Strict in
// both directions: only the one canonical encoding of a name is accepted, so
// two different wire names can never map to the same folder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imapd {

// Decodes a modified UTF-7 name to UTF-8. Returns nullopt for: bytes outside
// printable US-ASCII (0x20-0x7e), "&" without a closing "-", an empty shift
// "&-" other than the ampersand itself, characters outside the modified
// BASE64 alphabet (A-Z a-z 0-9 + ,), padding bits that are not zero or a
// partial UTF-16 unit, an encoded printable US-ASCII character or U+0000
// (non-canonical), two shifts back to back (non-canonical: one shift must
// hold them), unpaired surrogates.
std::optional<std::string> mutf7_to_utf8(std::string_view mutf7);

// Encodes UTF-8 as modified UTF-7: printable US-ASCII as is, "&" as "&-",
// everything else in "&...-" runs of modified BASE64 of UTF-16BE. Returns
// nullopt for invalid UTF-8 (overlong forms, surrogates, code points over
// U+10FFFF, truncated sequences) and for U+0000.
std::optional<std::string> utf8_to_mutf7(std::string_view utf8);

// Whether `name` is valid modified UTF-7 (mutf7_to_utf8 would succeed).
bool is_valid_mutf7(std::string_view name);

}  // namespace imapd
