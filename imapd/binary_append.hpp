// imapd/binary_append.hpp: APPEND of a binary literal (RFC 3516 4.4).
// imapd stores messages with LF line ends (as Courier does), which would
// change a binary body's bare CRs and LFs; so every leaf part declared
// "Content-Transfer-Encoding: binary" is re-encoded as base64 before the
// message is stored (RFC 3516 allows the server this), and BINARY[] of the
// part decodes it back to the exact bytes.
#pragma once

#include <string>
#include <string_view>

namespace imapd {

// `message` with each binary leaf part's body base64-encoded and its
// Content-Transfer-Encoding field rewritten; unchanged when there is none.
std::string encode_binary_parts(std::string_view message);

}  // namespace imapd
