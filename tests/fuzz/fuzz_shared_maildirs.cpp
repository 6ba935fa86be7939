// tests/fuzz/fuzz_shared_maildirs.cpp: shared-maildirs / maildirshared parsing
// (lib/shared_maildirs.hpp): whatever the bytes, no crash, and every entry
// kept has a valid nick and an absolute path, and formats back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/shared_maildirs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = lib::maildir::parse_shared_maildirs(text, "fuzz");
  std::string why;
  for (const auto& e : parsed.entries)
    if (!lib::maildir::valid_share_nick(e.nick, why) || e.path.empty() || e.path[0] != '/') std::abort();
  auto again = lib::maildir::parse_shared_maildirs(lib::maildir::format_shared_maildirs(parsed.entries), "fuzz");
  if (again.entries.size() != parsed.entries.size()) std::abort();
  for (std::size_t i = 0; i < again.entries.size(); ++i)
    if (again.entries[i].nick != parsed.entries[i].nick || again.entries[i].path != parsed.entries[i].path)
      std::abort();
  return 0;
}
