// tests/fuzz/fuzz_imap_mutf7.cpp: libFuzzer target for modified UTF-7
// (imapd/mutf7) and IMAP string rendering (imapd/imap_string). Checks that
// decoding and encoding are exact inverses on everything they accept (one
// canonical form per name), and that every rendered string parses back to
// the same bytes with the command lexer.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I.
//          tests/fuzz/fuzz_imap_mutf7.cpp imapd/mutf7.cpp imapd/imap_string.cpp imapd/lexer.cpp
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "imapd/imap_string.hpp"
#include "imapd/lexer.hpp"
#include "imapd/mutf7.hpp"
#include "tests/fuzz/invariant_check.hpp"

namespace {

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  // Modified UTF-7 -> UTF-8 -> modified UTF-7 gives back the input.
  if (const auto utf8 = imapd::mutf7_to_utf8(input)) {
    const auto back = imapd::utf8_to_mutf7(*utf8);
    CHECK(back);
    CHECK(*back == input);
  }
  // UTF-8 -> modified UTF-7 -> UTF-8 gives back the input; the encoding is
  // printable ASCII.
  if (const auto m = imapd::utf8_to_mutf7(input)) {
    for (char c : *m) CHECK(c >= 0x20 && c <= 0x7e);
    const auto back = imapd::mutf7_to_utf8(*m);
    CHECK(back);
    CHECK(*back == input);
  }

  // Rendered strings parse back to the same bytes.
  for (bool utf8 : {false, true}) {
    imapd::StringStyle style;
    style.utf8 = utf8;
    std::string cmd = "a X ";
    imapd::append_astring(cmd, input, style);
    cmd += ' ';
    imapd::append_string(cmd, input, style);
    const auto parsed = imapd::parse_command(cmd);
    CHECK(parsed.ok());
    CHECK(parsed.args.size() == 2);
    CHECK(parsed.args[0].str() == input);
    CHECK(parsed.args[1].str() == input);
    CHECK(parsed.args[1].is_string());
  }
  return 0;
}
