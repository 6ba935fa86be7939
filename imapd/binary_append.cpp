// imapd/binary_append.cpp: see binary_append.hpp.
#include "imapd/binary_append.hpp"

#include <algorithm>
#include <vector>

#include "lib/mime.hpp"

namespace imapd {
namespace {

struct Edit {
  std::size_t offset = 0, length = 0;
  std::string text;
};

void collect(const lib::mime::Part& part, std::string_view message, std::vector<Edit>& edits) {
  for (const auto& child : part.children) collect(child, message, edits);
  if (!part.children.empty() || part.encoding != lib::mime::TransferEncoding::binary) return;
  const auto* cte = part.header.find("Content-Transfer-Encoding");
  if (!cte) return;
  edits.push_back({cte->offset, cte->size, "Content-Transfer-Encoding: base64\r\n"});
  std::string body = lib::mime::encode_base64(message.substr(part.body_start, part.body_bytes()));
  if (!body.empty()) body += "\r\n";
  edits.push_back({part.body_start, part.body_bytes(), std::move(body)});
}

}  // namespace

std::string encode_binary_parts(std::string_view message) {
  lib::mime::Message parsed = lib::mime::parse(message);
  std::vector<Edit> edits;
  collect(parsed.root, message, edits);
  if (edits.empty()) return std::string(message);
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.offset < b.offset; });
  std::string out;
  std::size_t pos = 0;
  for (const auto& e : edits) {
    if (e.offset < pos || e.offset + e.length > message.size()) return std::string(message);  // overlapping: keep
    out.append(message.substr(pos, e.offset - pos));
    out += e.text;
    pos = e.offset + e.length;
  }
  out.append(message.substr(pos));
  return out;
}

}  // namespace imapd
