// tests/fuzz/fuzz_imap_cache.cpp: imapd's parser of its imapd-cache files
// (imapd/mailbox_cache.hpp) on arbitrary bytes. A file it accepts must
// format back to the same bytes (the format has one spelling of each
// content), and a file it formats must parse back to the same entries.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/mailbox_cache.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = imapd::parse_cache(in, "fuzz");
  // The rank section alone, as SORT reads it, and the key section alone,
  // as a session reads it first.
  if (auto header = imapd::parse_cache_header(in.substr(0, imapd::cache_header_bytes()), size, "fuzz")) {
    const std::size_t ranks_length = imapd::cache_ranks_bytes(header->count);
    const bool ranks_ok = imapd::check_cache_ranks(in.substr(imapd::cache_header_bytes(), ranks_length), *header, "fuzz").ok();
    if (parsed.ok() && !ranks_ok) __builtin_trap();
    auto keys = imapd::parse_cache_keys(in.substr(imapd::cache_header_bytes() + ranks_length, header->keys_length),
                                        *header, "fuzz");
    if (keys.ok() && parsed.ok() && keys->size() != parsed->size()) __builtin_trap();
    if (keys.ok())
      for (const auto& k : *keys) {
        std::size_t n = 0;
        k.for_each_reference([&](std::string_view r) { n += r.size(); });
        if (n > k.references.size()) __builtin_trap();
      }
  }
  if (parsed.ok()) {
    std::vector<const imapd::CacheEntry*> ptrs;
    for (const auto& e : *parsed) ptrs.push_back(&e);
    const std::string again = imapd::format_cache(ptrs);
    if (again != in) __builtin_trap();
  }
  // The bytes as one entry's fields: formatted, then parsed back equal.
  imapd::CacheEntry e;
  e.base = "1.fuzz.host";
  e.file_size = size;
  e.mtime_ns = -static_cast<std::int64_t>(size);
  e.envelope = "(" + std::string(in) + ")";
  e.body = e.bodystructure = e.envelope;
  e.has_header = size % 2 == 0;
  if (e.has_header) e.header = std::string(in.substr(0, imapd::cache_max_header_bytes));
  e.facts.subject = std::string(in);
  e.facts.has_date = size % 3 == 0;
  if (e.facts.has_date) e.facts.date = -static_cast<std::int64_t>(size);
  e.facts.references.assign(size % 5, std::string(in.substr(0, 7)));
  auto back = imapd::parse_cache(imapd::format_cache({&e}), "fuzz");
  if (!back.ok() || back->size() != 1 || !((*back)[0] == e)) __builtin_trap();
  return 0;
}
