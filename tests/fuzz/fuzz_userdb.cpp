// tests/fuzz/fuzz_userdb.cpp: the userdb text source parser
// (authlib/userdb_source.hpp), which makeuserdb and the userdb tool run on
// files an admin (or a script) wrote. Invariants: a source that parses
// serializes to text that parses to the same records with the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "authlib/userdb_source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = authlib::userdb::SourceFile::parse(input, "fuzz");
  if (!parsed) {
    if (parsed.error().message.find("fuzz") == std::string::npos) std::abort();  // errors name the file
    return 0;
  }
  auto again = authlib::userdb::SourceFile::parse(parsed->serialize(), "fuzz2");
  if (!again || again->addresses() != parsed->addresses()) std::abort();
  for (const auto& address : parsed->addresses()) {
    const auto* a = parsed->find(address);
    const auto* b = again->find(address);
    if (!a || !b || a->fields != b->fields || a->kind != b->kind) std::abort();
  }
  (void)authlib::userdb::split_fields(input);
  return 0;
}
