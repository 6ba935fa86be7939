// imapd/binary_part.hpp: what BINARY shows for a part (RFC 3516, and
// URLFETCH's BINARY, RFC 5524): a leaf's body transfer-decoded; a multipart
// or message/rfc822 part's content with every leaf inside decoded and its
// Content-Transfer-Encoding field saying "binary", boundaries, prologues and
// epilogues kept. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/mime.hpp"

namespace imapd {

// `text` is the message (CRLF form) `part` was parsed from. with_header:
// the part's own header first (BINARY[] of the whole message). nullopt: a
// leaf inside has an unknown transfer encoding (NO [UNKNOWN-CTE]).
std::optional<std::string> binary_content(std::string_view text, const lib::mime::Part& part,
                                          bool with_header = false);

// The structure of `part` as BINARY returns it, for URLFETCH with BINARY and
// BODYPARTSTRUCTURE together (RFC 5524 3: the structure describes the data
// returned): the part's fields as stored, transfer-encoding names kept, with
// every body's size that of its decoded bytes and its line count the number
// of line feeds in them ("hello world" without a line break: 0 lines).
// nullopt where binary_content is.
std::optional<lib::mime::Part> binary_structure(std::string_view text, const lib::mime::Part& part);

}  // namespace imapd
