// tests/fuzz/fuzz_config.cpp: the configuration readers (lib/config.hpp) on
// arbitrary text: the shell-style NAME=value syntax, the authldaprc syntax
// and the typed accessors. Invariants: no crash, no hang; every value read
// back from a parsed file is within the size limits; duration and boolean
// parsers agree with the accessors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (auto parsed : {lib::Config::parse(input, "fuzz"), lib::Config::parse_spaced(input, "fuzz")}) {
    if (!parsed) {
      if (parsed.error().message.find("fuzz") == std::string::npos) std::abort();  // errors name the origin
      continue;
    }
    for (const auto& name : parsed->names()) {
      if (!lib::valid_setting_name(name)) std::abort();
      auto value = parsed->get(name);
      if (!value || value->size() > lib::config_max_value_bytes) std::abort();
      (void)parsed->get_int(name, 0);
      (void)parsed->get_bool(name, false);
      (void)parsed->get_duration(name, std::chrono::seconds(1));
      (void)parsed->get_list(name);
    }
  }
  (void)lib::parse_duration(input);
  (void)lib::parse_bool(input);
  return 0;
}
