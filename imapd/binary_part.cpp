// imapd/binary_part.cpp: BINARY content of a part (see binary_part.hpp).
#include "imapd/binary_part.hpp"

#include <algorithm>

#include "lib/ascii.hpp"

namespace imapd {
namespace {

using lib::mime::Part;
using lib::mime::TransferEncoding;

// A header with its Content-Transfer-Encoding field (and continuation
// lines) replaced by "Content-Transfer-Encoding: binary".
std::string binary_header(std::string_view header) {
  std::string out;
  bool skipping = false;
  while (!header.empty()) {
    std::size_t nl = header.find('\n');
    std::string_view line = header.substr(0, nl == std::string_view::npos ? header.size() : nl + 1);
    header.remove_prefix(line.size());
    const bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (continuation && skipping) continue;
    skipping = false;
    std::size_t colon = line.find(':');
    if (!continuation && colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (lib::ascii::iequals(name, "Content-Transfer-Encoding")) {
        out += "Content-Transfer-Encoding: binary\r\n";
        skipping = true;
        continue;
      }
    }
    out += line;
  }
  return out;
}

bool append_content(std::string_view text, const Part& p, std::string& out);

// Header and content of an entity inside the part.
bool append_entity(std::string_view text, const Part& p, std::string& out) {
  std::string_view header = text.substr(p.header_start, p.body_start - p.header_start);
  const bool encoded = p.children.empty() && (p.encoding == TransferEncoding::base64 ||
                                              p.encoding == TransferEncoding::quoted_printable);
  if (encoded)
    out += binary_header(header);
  else
    out += header;
  return append_content(text, p, out);
}

bool append_content(std::string_view text, const Part& p, std::string& out) {
  if (p.children.empty()) {
    if (p.encoding == TransferEncoding::unknown) return false;
    out += lib::mime::decode_body(text, p).data;
    return true;
  }
  if (!p.is_multipart()) return append_entity(text, p.children[0], out);  // message/rfc822
  std::size_t pos = p.body_start;
  for (const Part& child : p.children) {
    if (child.header_start < pos) return false;
    out += text.substr(pos, child.header_start - pos);  // prologue or boundary line
    if (!append_entity(text, child, out)) return false;
    pos = child.body_end;
  }
  if (p.body_end > pos) out += text.substr(pos, p.body_end - pos);  // closing boundary, epilogue
  return true;
}

// Sizes and line counts of `decoded` (parsed from the BINARY bytes `dtext`)
// copied onto `out`, which keeps its own fields. Where the trees differ (a
// base64 message/rfc822 is a leaf as stored but opens once decoded; a part of
// a multipart/digest, message/rfc822 by default, parsed alone), the parts
// inside keep their stored sizes.
// Recursion is bounded by lib::mime's nesting limit.
void take_decoded_sizes(Part& out, const Part& decoded, std::string_view dtext) {
  out.body_start = decoded.body_start;
  out.body_end = decoded.body_end;
  const std::string_view body = decoded.body(dtext);
  out.body_lines = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
  if (out.children.size() != decoded.children.size()) return;
  for (std::size_t i = 0; i < out.children.size(); ++i) take_decoded_sizes(out.children[i], decoded.children[i], dtext);
}

}  // namespace

std::optional<Part> binary_structure(std::string_view text, const Part& part) {
  auto bin = binary_content(text, part, true);  // with the part's header, so it parses as the part
  if (!bin) return std::nullopt;
  const lib::mime::Message decoded = lib::mime::parse(*bin);
  Part out = part;
  take_decoded_sizes(out, decoded.root, *bin);
  return out;
}

std::optional<std::string> binary_content(std::string_view text, const Part& part, bool with_header) {
  std::string out;
  if (!(with_header ? append_entity(text, part, out) : append_content(text, part, out))) return std::nullopt;
  return out;
}

}  // namespace imapd
