// tests/fuzz/fuzz_aliases.cpp: the alias compiler (esmtpd/aliases.hpp) on
// arbitrary source text, then expansion over what it compiled. Invariants: no
// crash, no hang (nested aliases and loops are bounded); errors name file:line;
// every compiled alias has targets without LF, none of them another alias name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "esmtpd/aliases.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<lib::ListEntry> entries;
  int line = 0;
  while (!input.empty() && entries.size() < 2000) {
    auto lf = input.find('\n');
    std::string text(input.substr(0, lf));
    input = lf == std::string_view::npos ? std::string_view() : input.substr(lf + 1);
    ++line;
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.pop_back();
    std::size_t start = text.find_first_not_of(" \t");
    if (start == std::string::npos || text[start] == '#') continue;
    entries.push_back({"fuzz", line, text.substr(start)});
  }
  auto include = [](const std::string& path) -> lib::Result<std::string> {
    if (path == "/inc") return std::string("a, b\nc\n");
    return lib::permanent_error("no " + path);
  };
  auto c = esmtpd::aliases::compile(entries, include);
  if (!c) {
    if (c.error().message.find("fuzz:") == std::string::npos && c.error().message.find("/inc") == std::string::npos)
      std::abort();
    return 0;
  }
  for (const auto& [name, targets] : c->entries) {
    for (const auto& t : targets) {
      if (t.find('\n') != std::string::npos) std::abort();
      if (name[0] != '@' && c->entries.count(t) && t[0] != '|' && t[0] != '/') std::abort();
    }
  }
  auto lookup = [&](std::string_view key) -> lib::Result<std::optional<std::string>> {
    auto it = c->entries.find(std::string(key));
    if (it == c->entries.end()) return std::optional<std::string>();
    std::string v;
    for (const auto& t : it->second) v += (v.empty() ? "" : "\n") + t;
    return std::optional<std::string>(v);
  };
  for (const auto& [name, targets] : c->entries) (void)esmtpd::aliases::expand(lookup, name + "@d.example", true);
  (void)esmtpd::aliases::dump(*c);
  return 0;
}
