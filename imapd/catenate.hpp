// imapd/catenate.hpp: the CATENATE argument of APPEND (RFC 4469 5):
//     CATENATE (TEXT {n}<bytes> URL "/INBOX/;UID=3/;SECTION=1" ...)
// Pure: the parsed list in, the parts out; the session resolves URL parts
// (Session::url_data) and joins the bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/lexer.hpp"

namespace imapd {

struct CatenatePart {
  bool url = false;       // URL part; else TEXT
  std::string_view data;  // TEXT: the literal's bytes (empty when spooled); URL: the URL
};

inline constexpr std::size_t max_catenate_parts = 1000;

// Parses CATENATE's parenthesised list. nullopt with a text for BAD in
// `error`: not a list, empty, more than max_catenate_parts parts, a word
// other than TEXT/URL, TEXT without a literal (a quoted string is not
// allowed, RFC 4469 5), URL without an astring.
std::optional<std::vector<CatenatePart>> parse_catenate(const Value& list, std::string& error);

}  // namespace imapd
