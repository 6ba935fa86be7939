// imapd/imap_string.hpp: writing IMAP strings in responses (RFC 3501 4.3,
// 4.5, 9: quoted, literal, nstring, astring, parenthesised lists; RFC 6855
// UTF-8 quoted strings; RFC 3516 literal8). Every function appends to `out`
// so that a whole response is built in one buffer and written once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace imapd {

struct StringStyle {
  // UTF8=ACCEPT is enabled (RFC 6855 3): valid UTF-8 may go into quoted
  // strings. Otherwise any 8-bit byte forces a literal.
  bool utf8 = false;
  // Longer strings are sent as literals even when they could be quoted: a
  // client reads a literal with no scanning for escapes.
  std::size_t max_quoted_bytes = 1024;
};

// Whether `s` can be sent as a quoted string (no CR, LF, NUL; 8-bit only
// with style.utf8 and valid UTF-8; not longer than style.max_quoted_bytes).
bool can_quote(std::string_view s, const StringStyle& style = {});

// "..." with \ and " escaped. The caller makes sure can_quote() holds.
void append_quoted(std::string& out, std::string_view s);

// {n}\r\n followed by the bytes (~{n} when `binary`, RFC 3516, for data
// with NUL bytes).
void append_literal(std::string& out, std::string_view s, bool binary = false);

// A string (RFC 3501 "string"): quoted when possible, else a literal; a
// literal8 when it contains NUL.
void append_string(std::string& out, std::string_view s, const StringStyle& style = {});

// nstring: NIL for nullopt, else append_string.
void append_nstring(std::string& out, std::optional<std::string_view> s,
                    const StringStyle& style = {});

// nstring where an empty value means NIL (ENVELOPE and BODYSTRUCTURE fields).
void append_nstring_or_nil(std::string& out, std::string_view s, const StringStyle& style = {});

// astring: an atom when every byte is an ASTRING-CHAR and the text is not
// empty and not "NIL" (which a client would read as NIL), else a string.
void append_astring(std::string& out, std::string_view s, const StringStyle& style = {});

// Mailbox names in LIST/LSUB/STATUS: an astring where "INBOX" is still
// written as is and "%" "*" are quoted.
inline void append_mailbox(std::string& out, std::string_view name, const StringStyle& style = {}) {
  append_astring(out, name, style);
}

// A parenthesised, space-separated list: calls item(out, element) for each
// element of `range`; "()" for an empty range unless nil_if_empty, which
// gives NIL (BODYSTRUCTURE parameter lists, ENVELOPE address lists).
template <class Range, class ItemFn>
void append_list(std::string& out, const Range& range, ItemFn&& item, bool nil_if_empty = false) {
  bool first = true;
  for (const auto& element : range) {
    out.push_back(first ? '(' : ' ');
    first = false;
    item(out, element);
  }
  if (first) {
    out += nil_if_empty ? "NIL" : "()";
  } else {
    out.push_back(')');
  }
}

}  // namespace imapd
