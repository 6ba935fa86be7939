// lib/mime_transfer.cpp: the content transfer encodings (RFC 2045 6):
// base64 and quoted-printable decoding, tolerant of what real mailers send and
// counting what they got wrong, and base64 encoding with line breaks. See
// lib/mime.hpp.
#include "lib/mime.hpp"

#include <array>
#include <cstdint>
#include <cstring>

#include "lib/mime_internal.hpp"

namespace lib::mime {

using namespace internal;

// ---------------------------------------------------------------------------
// Transfer encodings
// ---------------------------------------------------------------------------

namespace {

constexpr signed char b64_space = -2;
constexpr signed char b64_pad = -3;
constexpr signed char b64_invalid = -1;

constexpr std::array<signed char, 256> make_base64_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = b64_invalid;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  t[' '] = t['\t'] = t['\r'] = t['\n'] = t['\f'] = t['\v'] = b64_space;
  t['='] = b64_pad;
  return t;
}
constexpr std::array<signed char, 256> base64_table = make_base64_table();

// Writes decoded bytes somewhere: into a string, or nowhere (validation only).
struct StringSink {
  std::string& out;
  void put(char c) { out += c; }
  void append(std::string_view s) { out.append(s); }
};
struct NullSink {
  void put(char) {}
  void append(std::string_view) {}
};

template <class Sink>
std::size_t base64_decode_into(std::string_view text, Sink& sink) {
  std::size_t errors = 0;
  std::uint32_t acc = 0;
  int quad = 0;
  bool after_pad = false;
  for (char ch : text) {
    const signed char v = base64_table[static_cast<unsigned char>(ch)];
    if (v >= 0) {
      after_pad = false;
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      if (++quad == 4) {
        sink.put(static_cast<char>((acc >> 16) & 0xff));
        sink.put(static_cast<char>((acc >> 8) & 0xff));
        sink.put(static_cast<char>(acc & 0xff));
        quad = 0;
        acc = 0;
      }
    } else if (v == b64_space) {
      continue;
    } else if (v == b64_pad) {
      if (quad == 2) {
        sink.put(static_cast<char>((acc >> 4) & 0xff));
      } else if (quad == 3) {
        sink.put(static_cast<char>((acc >> 10) & 0xff));
        sink.put(static_cast<char>((acc >> 2) & 0xff));
      } else if (!(quad == 0 && after_pad)) {
        ++errors;  // '=' where no padding can be
      }
      if (quad != 0) after_pad = true;
      quad = 0;
      acc = 0;
    } else {
      ++errors;
    }
  }
  if (quad == 1) {
    ++errors;  // six bits cannot make a byte
  } else if (quad == 2) {
    sink.put(static_cast<char>((acc >> 4) & 0xff));
  } else if (quad == 3) {
    sink.put(static_cast<char>((acc >> 10) & 0xff));
    sink.put(static_cast<char>((acc >> 2) & 0xff));
  }
  return errors;
}

template <class Sink>
std::size_t qp_decode_into(std::string_view text, Sink& sink) {
  std::size_t errors = 0;
  std::size_t pos = 0;
  const std::size_t n = text.size();
  while (pos < n) {
    const void* nlp = std::memchr(text.data() + pos, '\n', n - pos);
    const std::size_t line_end = nlp ? static_cast<std::size_t>(static_cast<const char*>(nlp) - text.data()) : n;
    std::size_t content_end = line_end;
    bool crlf = false;
    if (nlp && content_end > pos && text[content_end - 1] == '\r') {
      --content_end;
      crlf = true;
    }
    std::string_view line = text.substr(pos, content_end - pos);
    while (!line.empty() && is_wsp(line.back())) line.remove_suffix(1);  // RFC 2045 6.7 (3)
    bool soft = false;
    if (!line.empty() && line.back() == '=') {  // soft line break, 6.7 (5)
      soft = true;
      line.remove_suffix(1);
    }
    std::size_t i = 0;
    while (i < line.size()) {
      const char c = line[i];
      if (c != '=') {
        const std::size_t eq = line.find('=', i);
        const std::size_t stop = eq == std::string_view::npos ? line.size() : eq;
        sink.append(line.substr(i, stop - i));
        i = stop;
        continue;
      }
      const int h = i + 1 < line.size() ? hex_value(line[i + 1]) : -1;
      const int l = i + 2 < line.size() ? hex_value(line[i + 2]) : -1;
      if (h >= 0 && l >= 0) {
        sink.put(static_cast<char>(h * 16 + l));
        i += 3;
      } else {
        sink.put('=');
        ++errors;
        ++i;
      }
    }
    if (nlp && !soft) sink.append(crlf ? "\r\n" : "\n");
    pos = nlp ? line_end + 1 : n;
  }
  return errors;
}

}  // namespace

std::size_t internal::base64_errors(std::string_view text) {
  NullSink sink;
  return base64_decode_into(text, sink);
}

std::size_t internal::quoted_printable_errors(std::string_view text) {
  NullSink sink;
  return qp_decode_into(text, sink);
}

Decoded decode_base64(std::string_view text) {
  Decoded d;
  d.data.reserve(text.size() / 4 * 3 + 3);
  StringSink sink{d.data};
  d.errors = base64_decode_into(text, sink);
  return d;
}

StrictBase64 decode_base64_strict(std::string_view text, std::size_t max_decoded_bytes,
                                  std::string& out) {
  out.clear();
  if (text.empty()) return StrictBase64::ok;
  constexpr std::size_t max_text = std::size_t{1} << 28;
  if (text.size() > max_text || text.size() / 4 > max_decoded_bytes / 3 + 1) return StrictBase64::too_long;
  if (text.size() % 4 != 0) return StrictBase64::invalid;
  std::size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  if (pad > 2) return StrictBase64::invalid;
  const std::size_t data_chars = text.size() - pad;
  signed char last = 0;
  for (std::size_t i = 0; i < data_chars; ++i) {
    last = base64_table[static_cast<unsigned char>(text[i])];
    if (last < 0) return StrictBase64::invalid;
  }
  // RFC 4648 3.5: the bits the padding leaves over are zero, so every byte
  // string has exactly one accepted encoding.
  if ((pad == 1 && (last & 0x3) != 0) || (pad == 2 && (last & 0xf) != 0)) return StrictBase64::invalid;
  const std::size_t decoded = text.size() / 4 * 3 - pad;
  if (decoded > max_decoded_bytes) return StrictBase64::too_long;
  // Only whole groups of alphabet characters are left, '=' only at the end;
  // the exact size is reserved so no reallocation leaves a copy behind.
  out.reserve(decoded);
  StringSink sink{out};
  base64_decode_into(text, sink);
  return StrictBase64::ok;
}

Decoded decode_quoted_printable(std::string_view text) {
  Decoded d;
  d.data.reserve(text.size());
  StringSink sink{d.data};
  d.errors = qp_decode_into(text, sink);
  return d;
}

std::string encode_base64(std::string_view data, std::size_t line_bytes, std::string_view line_break) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4 + (line_bytes ? data.size() / line_bytes * line_break.size() : 0));
  std::size_t column = 0;
  auto emit = [&](char c) {
    if (line_bytes != 0 && column == line_bytes) {
      out.append(line_break);
      column = 0;
    }
    out += c;
    ++column;
  };
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                            (static_cast<unsigned char>(data[i + 1]) << 8) |
                            static_cast<unsigned char>(data[i + 2]);
    emit(alphabet[(v >> 18) & 63]);
    emit(alphabet[(v >> 12) & 63]);
    emit(alphabet[(v >> 6) & 63]);
    emit(alphabet[v & 63]);
  }
  const std::size_t rest = data.size() - i;
  if (rest != 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    emit(alphabet[(v >> 18) & 63]);
    emit(alphabet[(v >> 12) & 63]);
    emit(rest == 2 ? alphabet[(v >> 6) & 63] : '=');
    emit('=');
  }
  return out;
}

}  // namespace lib::mime
