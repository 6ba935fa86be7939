// imapd/mutf7.cpp: modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8. See mutf7.hpp.
#include "imapd/mutf7.hpp"

#include <cstdint>
#include <vector>

#include "lib/utf8.hpp"

namespace imapd {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

bool is_printable_ascii(std::uint32_t c) { return c >= 0x20 && c <= 0x7e; }

using lib::utf8::append;

// Decodes one "&...-" run's BASE64 text (without & and -) into UTF-8.
bool decode_run(std::string_view b64, std::string& out) {
  std::uint32_t bits = 0;
  int nbits = 0;
  std::uint32_t high = 0;  // pending high surrogate
  for (char c : b64) {
    const int v = b64_value(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    nbits += 6;
    if (nbits >= 16) {
      nbits -= 16;
      const std::uint32_t unit = (bits >> nbits) & 0xffff;
      bits &= (1u << nbits) - 1;
      if (high != 0) {
        if (unit < 0xdc00 || unit > 0xdfff) return false;
        append(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
        high = 0;
      } else if (unit >= 0xd800 && unit <= 0xdbff) {
        high = unit;
      } else if (unit >= 0xdc00 && unit <= 0xdfff) {
        return false;
      } else {
        // Printable ASCII must be written directly; U+0000 is never a name.
        if (unit == 0 || is_printable_ascii(unit)) return false;
        append(out, unit);
      }
    }
  }
  // Leftover: fewer than 6 bits, all zero (RFC 3501 5.1.3 / RFC 2152).
  if (high != 0 || nbits >= 6 || bits != 0) return false;
  return true;
}

// Decodes one UTF-8 sequence at text[i]; returns the code point and advances
// i, or nullopt for an invalid sequence.
std::optional<std::uint32_t> next_code_point(std::string_view text, std::size_t& i) {
  const lib::utf8::Decoded d = lib::utf8::decode(text, i);
  if (!d.valid()) return std::nullopt;
  i += d.length;
  return static_cast<std::uint32_t>(d.code_point);
}

void flush_run(std::string& out, const std::vector<std::uint16_t>& units) {
  out.push_back('&');
  std::uint32_t bits = 0;
  int nbits = 0;
  for (std::uint16_t u : units) {
    bits = (bits << 16) | u;
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out.push_back(kAlphabet[(bits >> nbits) & 0x3f]);
    }
    bits &= (1u << nbits) - 1;
  }
  if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 0x3f]);
  out.push_back('-');
}

}  // namespace

std::optional<std::string> mutf7_to_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  bool last_was_run = false;  // the previous element was a "&...-" run
  for (std::size_t i = 0; i < in.size();) {
    const char c = in[i];
    if (!is_printable_ascii(static_cast<unsigned char>(c))) return std::nullopt;
    if (c != '&') {
      out.push_back(c);
      ++i;
      last_was_run = false;
      continue;
    }
    const std::size_t end = in.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (end == i + 1) {
      out.push_back('&');
      i = end + 1;
      last_was_run = false;
      continue;
    }
    if (last_was_run) return std::nullopt;  // "&AOQ-&APY-" must be "&AOQA9g-"
    if (!decode_run(in.substr(i + 1, end - i - 1), out)) return std::nullopt;
    i = end + 1;
    last_was_run = true;
  }
  return out;
}

std::optional<std::string> utf8_to_mutf7(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 2);
  std::vector<std::uint16_t> units;
  for (std::size_t i = 0; i < in.size();) {
    const auto cp = next_code_point(in, i);
    if (!cp || *cp == 0) return std::nullopt;
    if (is_printable_ascii(*cp)) {
      if (!units.empty()) {
        flush_run(out, units);
        units.clear();
      }
      out.push_back(static_cast<char>(*cp));
      if (*cp == '&') out.push_back('-');
      continue;
    }
    if (*cp >= 0x10000) {
      const std::uint32_t v = *cp - 0x10000;
      units.push_back(static_cast<std::uint16_t>(0xd800 + (v >> 10)));
      units.push_back(static_cast<std::uint16_t>(0xdc00 + (v & 0x3ff)));
    } else {
      units.push_back(static_cast<std::uint16_t>(*cp));
    }
  }
  if (!units.empty()) flush_run(out, units);
  return out;
}

bool is_valid_mutf7(std::string_view name) { return mutf7_to_utf8(name).has_value(); }

}  // namespace imapd
