// tests/fuzz/fuzz_imap_store.cpp: imapd's parsers of Courier's per-folder
// files and of LIST patterns, on arbitrary bytes: courierimapuiddb,
// courierimapkeywords/:list, mailbox names and LIST wildcard matching.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "imapd/folders.hpp"
#include "imapd/keywords.hpp"
#include "imapd/uiddb.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto db = imapd::parse_uiddb(in, "fuzz");
  if (db.ok()) {
    auto again = imapd::parse_uiddb(imapd::format_uiddb(*db), "fuzz");
    if (!again.ok() || again->uids != db->uids) __builtin_trap();
  }
  auto kw = imapd::parse_keyword_list(in);
  if (imapd::parse_keyword_list(imapd::format_keyword_list(kw)) != kw) __builtin_trap();
  std::string why;
  (void)imapd::resolve_mailbox(in, why);
  std::size_t split = in.find('\n');
  if (split != std::string_view::npos) (void)imapd::list_match(in.substr(0, split), in.substr(split + 1));
  return 0;
}
