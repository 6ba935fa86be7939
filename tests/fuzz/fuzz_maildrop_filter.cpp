// tests/fuzz/fuzz_maildrop_filter.cpp: the maildrop filter language lexer and
// parser (maildrop/filter_parser.hpp) on arbitrary text. Invariants: no
// crash, no hang, no unbounded recursion; a syntax error names a line within
// the input; a parsed program re-parses identically from the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "maildrop/filter_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = maildrop::parse_filter(input, "fuzz");
  if (auto* err = std::get_if<maildrop::SyntaxError>(&parsed)) {
    int lines = 1;
    for (char c : input) lines += c == '\n';
    if (err->line < 1 || err->line > lines) std::abort();
    if (err->message.empty()) std::abort();
  } else {
    auto again = maildrop::parse_filter(input, "fuzz");
    if (!std::holds_alternative<maildrop::Program>(again)) std::abort();
    if (std::get<maildrop::Program>(again).body.size() != std::get<maildrop::Program>(parsed).body.size()) std::abort();
  }
  return 0;
}
