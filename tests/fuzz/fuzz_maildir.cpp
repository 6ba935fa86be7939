// tests/fuzz/fuzz_maildir.cpp: Maildir++ name and quota parsers
// (lib/maildir.hpp, lib/maildir_quota.hpp) on arbitrary bytes. Invariants:
// a parsed name rebuilt with make_cur_name parses back to the same base and
// flags; normalize_flags is idempotent; a quota spec that parses formats back
// to text that parses to the same spec.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto name = lib::maildir::parse_message_name(input)) {
    if (name->base.empty() || name->base.size() > input.size()) std::abort();
    auto flags = lib::maildir::normalize_flags(name->flags);
    if (flags != name->flags || lib::maildir::normalize_flags(flags) != flags) std::abort();
    auto again = lib::maildir::parse_message_name(lib::maildir::make_cur_name(name->base, flags));
    if (again && (again->base != name->base || again->flags != flags)) std::abort();
  }
  (void)lib::maildir::validate_folder_name(input);

  if (auto spec = lib::maildir::parse_quota_spec(input)) {
    auto back = lib::maildir::parse_quota_spec(spec->to_string());
    if (spec->limited() && (!back || !(*back == *spec))) std::abort();
  }
  bool clean = false;
  (void)lib::maildir::parse_quota_line(input, &clean);
  auto parsed = lib::maildir::parse_maildirsize(input);
  if (!parsed.needs_recalc && (parsed.usage.bytes < 0 || parsed.usage.messages < 0)) std::abort();
  (void)lib::maildir::counts_toward_quota(input);
  return 0;
}
