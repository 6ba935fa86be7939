// lib/mime_words.cpp: RFC 2047 encoded words in header text: decoding
// "=?charset?B|Q?...?=" words to UTF-8 (joining adjacent words, as 6.2 says)
// and encoding UTF-8 text as words that fit header lines. See lib/mime.hpp.
#include "lib/mime.hpp"

#include "lib/mime_internal.hpp"

namespace lib::mime {

using namespace internal;

// ---------------------------------------------------------------------------
// RFC 2047 encoded words
// ---------------------------------------------------------------------------

namespace {

struct EncodedWord {
  std::size_t length = 0;      // bytes of "=?...?=" in the text
  std::string_view charset;    // without an RFC 2231 "*language"
  char encoding = 0;           // 'b' or 'q'
  std::string_view payload;
};

// Syntax of an encoded word at text[i] (RFC 2047 2): charset and encoded
// text contain neither '?' nor white space. The scan stops at the first '?' or
// space, so trying every "=?" in a text is still linear.
std::optional<EncodedWord> match_encoded_word(std::string_view s, std::size_t i) {
  const std::size_t n = s.size();
  if (i + 1 >= n || s[i] != '=' || s[i + 1] != '?') return std::nullopt;
  std::size_t j = i + 2;
  const std::size_t cs_start = j;
  while (j < n && s[j] != '?' && !is_space(s[j])) ++j;
  if (j == cs_start || j >= n || s[j] != '?') return std::nullopt;
  EncodedWord w;
  w.charset = s.substr(cs_start, j - cs_start);
  if (const std::size_t star = w.charset.find('*'); star != std::string_view::npos) {
    w.charset = w.charset.substr(0, star);  // RFC 2231 5: charset*language
  }
  ++j;
  if (j >= n) return std::nullopt;
  w.encoding = lower(s[j]);
  if (w.encoding != 'b' && w.encoding != 'q') return std::nullopt;
  ++j;
  if (j >= n || s[j] != '?') return std::nullopt;
  ++j;
  const std::size_t p_start = j;
  while (j < n && s[j] != '?' && !is_space(s[j])) ++j;
  if (j + 1 >= n || s[j] != '?' || s[j + 1] != '=') return std::nullopt;
  w.payload = s.substr(p_start, j - p_start);
  w.length = j + 2 - i;
  if (w.charset.empty()) return std::nullopt;
  return w;
}

// RFC 2047 4.2: '_' is a space, "=XX" a byte; a stray '=' is kept.
std::string decode_q(std::string_view payload) {
  std::string out;
  out.reserve(payload.size());
  for (std::size_t i = 0; i < payload.size(); ++i) {
    const char c = payload[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=' && i + 2 < payload.size() && hex_value(payload[i + 1]) >= 0 &&
               hex_value(payload[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(payload[i + 1]) * 16 + hex_value(payload[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string decode_encoded_words(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::string pending;          // decoded bytes of adjacent words in pending_charset
  std::string pending_charset;  // lower-case
  bool have_pending = false;
  std::string_view held_space;  // white space after a word: dropped if a word follows
  bool after_word = false;

  auto flush = [&] {
    if (!have_pending) return;
    std::optional<std::string> u = to_utf8(pending, pending_charset);
    std::string converted = u ? std::move(*u) : sanitize_utf8(pending);
    for (char& c : converted) {
      if (c == '\r' || c == '\n' || c == '\0') c = ' ';  // no header injection through decoding
    }
    out += converted;
    pending.clear();
    have_pending = false;
  };

  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    if (text[i] == '=' && i + 1 < n && text[i + 1] == '?') {
      if (auto w = match_encoded_word(text, i)) {
        std::optional<std::string> bytes;
        if (w->encoding == 'q') {
          bytes = decode_q(w->payload);
        } else {
          Decoded d = decode_base64(w->payload);
          if (d.errors == 0) bytes = std::move(d.data);
        }
        if (bytes && known_charset(w->charset)) {
          const std::string cs = to_lower(w->charset);
          if (!have_pending || cs != pending_charset) {
            flush();
            pending_charset = cs;
            have_pending = true;
          }
          pending += *bytes;  // joined before conversion: a character may span words
          held_space = {};
          after_word = true;
          i += w->length;
          continue;
        }
      }
    }
    if (after_word && is_space(text[i])) {
      std::size_t j = i;
      while (j < n && is_space(text[j])) ++j;
      held_space = text.substr(i, j - i);
      i = j;
      continue;
    }
    if (after_word) {
      flush();
      out.append(held_space);
      held_space = {};
      after_word = false;
    }
    out += text[i++];
  }
  flush();
  out.append(held_space);
  return out;
}

std::string encode_encoded_words(std::string_view utf8, std::string_view separator) {
  bool plain = utf8.find("=?") == std::string_view::npos;
  for (std::size_t i = 0; plain && i < utf8.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    if ((c < 0x20 && c != '\t') || c >= 0x7f) plain = false;
  }
  if (plain) return std::string(utf8);

  // RFC 2047 5 (3): the Q characters allowed in every context, phrases included.
  auto q_safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '!' || c == '*' ||
           c == '+' || c == '-' || c == '/';
  };
  std::size_t q_len = 0;
  for (char c : utf8) q_len += (q_safe(c) || c == ' ') ? 1 : 3;
  const std::size_t b_len = (utf8.size() + 2) / 3 * 4;
  const bool use_q = q_len <= b_len;
  const std::string_view prefix = use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?";
  constexpr std::size_t max_word_bytes = 75;
  const std::size_t max_payload = max_word_bytes - prefix.size() - 2;  // 63
  const std::size_t max_b_raw = max_payload / 4 * 3;                   // 45 bytes -> 60 chars

  std::string out;
  std::string chunk;  // Q: encoded payload; B: raw bytes
  auto finish_word = [&] {
    if (chunk.empty()) return;
    if (!out.empty()) out.append(separator);
    out.append(prefix);
    out.append(use_q ? chunk : encode_base64(chunk, 0));
    out.append("?=");
    chunk.clear();
  };
  std::size_t i = 0;
  while (i < utf8.size()) {
    // One character: a whole UTF-8 sequence, or a single byte if invalid.
    std::size_t bad = 0;
    std::size_t len = utf8_sequence(utf8, i, bad);
    if (len == 0) len = 1;
    const std::string_view ch = utf8.substr(i, len);
    i += len;
    std::string enc;
    if (use_q) {
      for (char c : ch) {
        if (q_safe(c)) {
          enc += c;
        } else if (c == ' ') {
          enc += '_';
        } else {
          static constexpr char hex[] = "0123456789ABCDEF";
          enc += '=';
          enc += hex[(static_cast<unsigned char>(c) >> 4) & 15];
          enc += hex[static_cast<unsigned char>(c) & 15];
        }
      }
      if (chunk.size() + enc.size() > max_payload) finish_word();
      chunk += enc;
    } else {
      if (chunk.size() + ch.size() > max_b_raw) finish_word();
      chunk.append(ch);
    }
  }
  finish_word();
  return out;
}

}  // namespace lib::mime
