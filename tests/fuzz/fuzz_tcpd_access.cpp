// tests/fuzz/fuzz_tcpd_access.cpp: the access-file line parser
// (tcpd/access.hpp: parse_access_line, parse_access_action) on arbitrary
// text, as makesmtpaccess reads it and couriertcpd re-reads actions from a
// .dat. Invariants: no crash, no hang; a line that parses yields 1 to
// access_max_keys_per_line keys, each of which parses again on its own line
// to itself; its action parses; variable names are valid and values hold no
// control characters other than TAB.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/config.hpp"
#include "tcpd/access.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto check_rule = [](const tcpd::AccessRule& rule) {
    for (const auto& v : rule.variables) {
      if (!lib::valid_setting_name(v.name)) std::abort();
      for (char c : v.value)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) std::abort();
    }
    if (!rule.allow && !rule.variables.empty()) std::abort();
  };
  if (auto rule = tcpd::parse_access_action(input)) check_rule(*rule);

  auto records = tcpd::parse_access_line(input);
  if (!records) {
    if (records.error().message.empty()) std::abort();
    return 0;
  }
  if (records->empty() || records->size() > tcpd::access_max_keys_per_line) std::abort();
  const auto& first = records->front();
  auto rule = tcpd::parse_access_action(first.action);
  if (!rule) std::abort();
  check_rule(*rule);
  // A compiled key is in couriertcpd's final form: it parses to itself.
  for (size_t i = 0; i < records->size() && i < 64; ++i) {
    const auto& key = (*records)[i].key;
    if (key.empty()) std::abort();
    auto again = tcpd::parse_access_line(key + "\tdeny");
    if (!again || again->size() != 1 || again->front().key != key) std::abort();
  }
  return 0;
}
