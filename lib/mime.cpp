// lib/mime.cpp: MIME structure, parameters, encoded words, transfer encodings
// and charsets (RFC 2045, 2046, 2047, 2183, 2231). See lib/mime.hpp for the
// contracts. Nothing here is quadratic: the structure parser walks the message
// once, line by line, and compares a line with the open boundaries only when
// it begins with "--"; every other loop moves forward through its input.
#include "lib/mime.hpp"

#include <errno.h>
#include <iconv.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>

#include "lib/c_handle.hpp"
#include "lib/utf8.hpp"

namespace lib::mime {

namespace {

using rfc5322::iequals;
using rfc5322::to_lower;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr std::string_view replacement_char = "\xEF\xBF\xBD";  // U+FFFD

// A short printable excerpt for Diagnostic::detail.
std::string excerpt(std::string_view s, std::size_t max_bytes = 40) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// UTF-8 and charsets
// ---------------------------------------------------------------------------

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 with `bad` set to the
// length of the maximal invalid prefix (at least 1) to replace with one U+FFFD.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) {
  const utf8::Decoded d = utf8::decode(s, i);
  bad = d.invalid_length;
  return d.length;
}

// The charsets mail uses, as iconv names. Only these are converted: a fixed
// table keeps hostile labels away from iconv_open, and lets every thread
// open each converter at most once and keep it (see IconvCache).
struct Label {
  std::string_view label;  // lower-case MIME / WHATWG Encoding label
  int index;               // into iconv_names
};
constexpr std::array<std::string_view, 52> iconv_names = {{
    "WINDOWS-1252",
    "ISO-8859-2",
    "ISO-8859-3",
    "ISO-8859-4",
    "ISO-8859-5",
    "ISO-8859-6",
    "ISO-8859-7",
    "ISO-8859-8",
    "ISO-8859-9",
    "ISO-8859-10",
    "ISO-8859-11",
    "ISO-8859-13",
    "ISO-8859-14",
    "ISO-8859-15",
    "ISO-8859-16",
    "WINDOWS-1250",
    "WINDOWS-1251",
    "WINDOWS-1253",
    "WINDOWS-1254",
    "WINDOWS-1255",
    "WINDOWS-1256",
    "WINDOWS-1257",
    "WINDOWS-1258",
    "WINDOWS-874",
    "KOI8-R",
    "KOI8-U",
    "IBM866",
    "CP850",
    "CP437",
    "CP852",
    "MACINTOSH",
    "MAC-CYRILLIC",
    "GB18030",
    "BIG5-HKSCS",
    "EUC-TW",
    "EUC-JP",
    "ISO-2022-JP",
    "ISO-2022-JP-2",
    "CP932",
    "CP949",
    "ISO-2022-KR",
    "ISO-2022-CN",
    "UTF-16",
    "UTF-16BE",
    "UTF-16LE",
    "UTF-32",
    "UTF-32BE",
    "UTF-32LE",
    "UTF-7",
    "VISCII",
    "ARMSCII-8",
    "GEORGIAN-PS",
}};
constexpr std::array<Label, 228> labels = {{
    {"iso-8859-1", 0},
    {"iso8859-1", 0},
    {"iso_8859-1", 0},
    {"iso_8859-1:1987", 0},
    {"latin1", 0},
    {"l1", 0},
    {"iso-ir-100", 0},
    {"cp819", 0},
    {"ibm819", 0},
    {"csisolatin1", 0},
    {"windows-1252", 0},
    {"cp1252", 0},
    {"x-cp1252", 0},
    {"iso-8859-2", 1},
    {"iso8859-2", 1},
    {"iso_8859-2", 1},
    {"latin2", 1},
    {"l2", 1},
    {"csisolatin2", 1},
    {"iso-ir-101", 1},
    {"iso-8859-3", 2},
    {"iso8859-3", 2},
    {"iso_8859-3", 2},
    {"latin3", 2},
    {"l3", 2},
    {"iso-ir-109", 2},
    {"iso-8859-4", 3},
    {"iso8859-4", 3},
    {"iso_8859-4", 3},
    {"latin4", 3},
    {"l4", 3},
    {"iso-ir-110", 3},
    {"iso-8859-5", 4},
    {"iso8859-5", 4},
    {"iso_8859-5", 4},
    {"cyrillic", 4},
    {"csisolatincyrillic", 4},
    {"iso-ir-144", 4},
    {"iso-8859-6", 5},
    {"iso8859-6", 5},
    {"iso_8859-6", 5},
    {"arabic", 5},
    {"iso-8859-6-i", 5},
    {"iso-8859-6-e", 5},
    {"iso-ir-127", 5},
    {"asmo-708", 5},
    {"ecma-114", 5},
    {"iso-8859-7", 6},
    {"iso8859-7", 6},
    {"iso_8859-7", 6},
    {"greek", 6},
    {"greek8", 6},
    {"iso-ir-126", 6},
    {"ecma-118", 6},
    {"elot_928", 6},
    {"iso-8859-8", 7},
    {"iso8859-8", 7},
    {"iso_8859-8", 7},
    {"hebrew", 7},
    {"iso-8859-8-i", 7},
    {"iso-8859-8-e", 7},
    {"iso-ir-138", 7},
    {"visual", 7},
    {"logical", 7},
    {"iso-8859-9", 8},
    {"iso8859-9", 8},
    {"iso_8859-9", 8},
    {"latin5", 8},
    {"l5", 8},
    {"iso-ir-148", 8},
    {"iso-8859-10", 9},
    {"iso8859-10", 9},
    {"iso_8859-10", 9},
    {"latin6", 9},
    {"l6", 9},
    {"iso-ir-157", 9},
    {"iso-8859-11", 10},
    {"iso8859-11", 10},
    {"iso_8859-11", 10},
    {"iso-8859-13", 11},
    {"iso8859-13", 11},
    {"iso_8859-13", 11},
    {"latin7", 11},
    {"iso-8859-14", 12},
    {"iso8859-14", 12},
    {"iso_8859-14", 12},
    {"latin8", 12},
    {"iso-ir-199", 12},
    {"iso-8859-15", 13},
    {"iso8859-15", 13},
    {"iso_8859-15", 13},
    {"latin9", 13},
    {"latin-9", 13},
    {"l9", 13},
    {"iso-8859-16", 14},
    {"iso8859-16", 14},
    {"iso_8859-16", 14},
    {"latin10", 14},
    {"l10", 14},
    {"iso-ir-226", 14},
    {"windows-1250", 15},
    {"cp1250", 15},
    {"x-cp1250", 15},
    {"windows-1251", 16},
    {"cp1251", 16},
    {"x-cp1251", 16},
    {"windows-1253", 17},
    {"cp1253", 17},
    {"x-cp1253", 17},
    {"windows-1254", 18},
    {"cp1254", 18},
    {"x-cp1254", 18},
    {"windows-1255", 19},
    {"cp1255", 19},
    {"x-cp1255", 19},
    {"windows-1256", 20},
    {"cp1256", 20},
    {"x-cp1256", 20},
    {"windows-1257", 21},
    {"cp1257", 21},
    {"x-cp1257", 21},
    {"windows-1258", 22},
    {"cp1258", 22},
    {"x-cp1258", 22},
    {"windows-874", 23},
    {"cp874", 23},
    {"dos-874", 23},
    {"tis-620", 23},
    {"tis620", 23},
    {"koi8-r", 24},
    {"koi8", 24},
    {"koi", 24},
    {"cskoi8r", 24},
    {"koi8_r", 24},
    {"koi8-u", 25},
    {"koi8-ru", 25},
    {"ibm866", 26},
    {"cp866", 26},
    {"866", 26},
    {"csibm866", 26},
    {"cp850", 27},
    {"ibm850", 27},
    {"850", 27},
    {"cp437", 28},
    {"ibm437", 28},
    {"437", 28},
    {"cp852", 29},
    {"ibm852", 29},
    {"852", 29},
    {"macintosh", 30},
    {"mac", 30},
    {"x-mac-roman", 30},
    {"csmacintosh", 30},
    {"x-mac-cyrillic", 31},
    {"x-mac-ukrainian", 31},
    {"gb18030", 32},
    {"gb2312", 32},
    {"gbk", 32},
    {"x-gbk", 32},
    {"cp936", 32},
    {"chinese", 32},
    {"csgb2312", 32},
    {"gb_2312-80", 32},
    {"gb_2312", 32},
    {"iso-ir-58", 32},
    {"csiso58gb231280", 32},
    {"euc-cn", 32},
    {"x-euc-cn", 32},
    {"big5", 33},
    {"big5-hkscs", 33},
    {"cn-big5", 33},
    {"x-x-big5", 33},
    {"csbig5", 33},
    {"x-big5", 33},
    {"euc-tw", 34},
    {"x-euc-tw", 34},
    {"euc-jp", 35},
    {"x-euc-jp", 35},
    {"cseucpkdfmtjapanese", 35},
    {"iso-2022-jp", 36},
    {"csiso2022jp", 36},
    {"iso-2022-jp-2", 37},
    {"csiso2022jp2", 37},
    {"shift_jis", 38},
    {"shift-jis", 38},
    {"sjis", 38},
    {"x-sjis", 38},
    {"ms_kanji", 38},
    {"csshiftjis", 38},
    {"windows-31j", 38},
    {"ms932", 38},
    {"cp932", 38},
    {"euc-kr", 39},
    {"ks_c_5601-1987", 39},
    {"ks_c_5601-1989", 39},
    {"ks_c_5601", 39},
    {"ksc5601", 39},
    {"ksc_5601", 39},
    {"korean", 39},
    {"csksc56011987", 39},
    {"iso-ir-149", 39},
    {"windows-949", 39},
    {"cp949", 39},
    {"x-windows-949", 39},
    {"uhc", 39},
    {"cseuckr", 39},
    {"iso-2022-kr", 40},
    {"csiso2022kr", 40},
    {"iso-2022-cn", 41},
    {"iso-2022-cn-ext", 41},
    {"utf-16", 42},
    {"ucs-2", 42},
    {"unicode", 42},
    {"csunicode", 42},
    {"iso-10646-ucs-2", 42},
    {"utf-16be", 43},
    {"unicodefffe", 43},
    {"utf-16le", 44},
    {"utf-32", 45},
    {"utf-32be", 46},
    {"utf-32le", 47},
    {"utf-7", 48},
    {"unicode-1-1-utf-7", 48},
    {"csunicode11utf7", 48},
    {"viscii", 49},
    {"csviscii", 49},
    {"armscii-8", 50},
    {"georgian-ps", 51},
}};

constexpr int utf8_charset = -1;
constexpr int ascii_charset = -2;
constexpr int unknown_charset = -3;
constexpr std::size_t max_charset_label_bytes = 40;

// A charset label (any case, maybe quoted) to utf8_charset, ascii_charset, an
// index into iconv_names, or unknown_charset.
int lookup_charset(std::string_view label) {
  label = trim(label);
  if (label.size() >= 2 && label.front() == '"' && label.back() == '"') label = label.substr(1, label.size() - 2);
  if (label.empty() || label.size() > max_charset_label_bytes) return unknown_charset;
  char buf[max_charset_label_bytes];
  for (std::size_t i = 0; i < label.size(); ++i) buf[i] = lower(label[i]);
  const std::string_view key(buf, label.size());
  static constexpr std::array<std::string_view, 4> utf8_labels = {"utf-8", "utf8", "unicode-1-1-utf-8",
                                                                  "x-unicode20utf8"};
  static constexpr std::array<std::string_view, 9> ascii_labels = {
      "us-ascii", "ascii", "ansi_x3.4-1968", "iso-ir-6", "us", "iso646-us", "cp367", "ibm367", "csascii"};
  if (std::find(utf8_labels.begin(), utf8_labels.end(), key) != utf8_labels.end()) return utf8_charset;
  if (std::find(ascii_labels.begin(), ascii_labels.end(), key) != ascii_labels.end()) return ascii_charset;
  // Sorted once (thread-safe static init), then binary search.
  static const std::vector<Label> sorted = [] {
    std::vector<Label> v(labels.begin(), labels.end());
    std::sort(v.begin(), v.end(), [](const Label& a, const Label& b) { return a.label < b.label; });
    return v;
  }();
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                                   [](const Label& l, std::string_view k) { return l.label < k; });
  return (it != sorted.end() && it->label == key) ? it->index : unknown_charset;
}

// One iconv descriptor per table charset and thread, opened on first use and
// kept: iconv_open of a charset whose gconv module is not loaded costs a
// dlopen, so evicting and reopening would let a message with many charsets
// cost far more than its size.
using IconvHandle = CHandle<void, iconv_close>;

class IconvCache {
 public:
  // The descriptor "iconv_names[index] to UTF-8", or nullptr if iconv lacks it.
  iconv_t get(int index) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (!slot.tried) {
      slot.tried = true;
      iconv_t cd = iconv_open("UTF-8", iconv_names[static_cast<std::size_t>(index)].data());
      if (cd != reinterpret_cast<iconv_t>(-1)) slot.cd.reset(cd);
    }
    return slot.cd.get();
  }

 private:
  struct Slot {
    IconvHandle cd;
    bool tried = false;
  };
  std::array<Slot, iconv_names.size()> slots_;
};

thread_local IconvCache iconv_cache;

constexpr int windows_1252 = 0;  // iconv_names[0]
static_assert(iconv_names[windows_1252] == "WINDOWS-1252");

std::string iconv_convert(iconv_t cd, std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 2);
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // initial shift state
  char* ip = const_cast<char*>(in.data());        // iconv's API is not const-correct
  std::size_t il = in.size();
  char buf[4096];
  while (true) {
    const bool flush = il == 0;  // the last call writes any closing shift sequence
    char* op = buf;
    std::size_t ol = sizeof buf;
    const std::size_t r = flush ? iconv(cd, nullptr, nullptr, &op, &ol) : iconv(cd, &ip, &il, &op, &ol);
    const int err = errno;
    out.append(buf, static_cast<std::size_t>(op - buf));
    if (r != static_cast<std::size_t>(-1)) {
      if (flush) break;
      continue;
    }
    if (err == E2BIG) continue;  // buf was full: output was made, go on
    if (err == EILSEQ && il > 0) {
      out += replacement_char;
      ++ip;
      --il;
      continue;
    }
    if (err == EINVAL && il > 0) {  // incomplete sequence at the end
      out += replacement_char;
      il = 0;
      continue;
    }
    break;
  }
  return out;
}

}  // namespace

bool valid_utf8(std::string_view bytes) { return utf8::valid(bytes); }

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    std::size_t bad = 0;
    const std::size_t len = utf8_sequence(bytes, i, bad);
    if (len == 0) {
      out += replacement_char;
      i += bad;
    } else {
      out.append(bytes.substr(i, len));
      i += len;
    }
  }
  return out;
}

bool known_charset(std::string_view charset) {
  const int cs = lookup_charset(charset);
  if (cs == unknown_charset) return false;
  if (cs < 0) return true;
  return iconv_cache.get(cs) != nullptr;
}

std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset) {
  const int cs = lookup_charset(charset);
  if (cs == unknown_charset) return std::nullopt;
  if (cs == utf8_charset) return sanitize_utf8(bytes);
  if (cs == ascii_charset) {
    // 8-bit bytes under a us-ascii label: UTF-8 if they are valid UTF-8 (an
    // undeclared UTF-8 mailer), else windows-1252 (an undeclared Windows one).
    if (valid_utf8(bytes)) return std::string(bytes);
    if (iconv_t cd = iconv_cache.get(windows_1252)) return iconv_convert(cd, bytes);
    return sanitize_utf8(bytes);
  }
  iconv_t cd = iconv_cache.get(cs);
  if (!cd) return std::nullopt;
  return iconv_convert(cd, bytes);
}

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

Decoded decode_base64(std::string_view text) {
  Decoded d;
  d.data.reserve(text.size() / 4 * 3 + 3);
  StringSink sink{d.data};
  d.errors = base64_decode_into(text, sink);
  return d;
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

// ---------------------------------------------------------------------------
// Parameters (RFC 2045 5.1, RFC 2231)
// ---------------------------------------------------------------------------

namespace {

// Skips white space, line breaks and (nested) comments.
void skip_cfws(std::string_view s, std::size_t& i) {
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      std::size_t depth = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\') {
          ++i;
          continue;
        }
        if (s[i] == '(') ++depth;
        if (s[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else {
      break;
    }
  }
}

// RFC 2045 5.1 token characters.
bool is_token_char(char ch) {
  const unsigned char c = static_cast<unsigned char>(ch);
  if (c <= 32 || c >= 127) return false;
  return std::strchr("()<>@,;:\\\"/[]?=", ch) == nullptr;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// RFC 2231 7: attribute-char stays, everything else becomes %XX.
std::string percent_encode(std::string_view bytes) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (is_token_char(c) && c != '*' && c != '\'' && c != '%') {
      out += c;
    } else {
      out += '%';
      out += hex[(static_cast<unsigned char>(c) >> 4) & 15];
      out += hex[static_cast<unsigned char>(c) & 15];
    }
  }
  return out;
}

struct RawParam {
  std::string name;  // lower-case, as written ("filename*0*")
  std::string value;
};

// "name*", "name*N", "name*N*": the base name, the section (-1: none) and
// whether the value is %-encoded. Anything else is a plain name.
struct ParamName {
  std::string base;
  int section = -1;
  bool encoded = false;
  bool rfc2231 = false;
};

ParamName split_param_name(const std::string& name) {
  ParamName p;
  const std::size_t star = name.find('*');
  if (star == std::string::npos || star == 0) {
    p.base = name;
    return p;
  }
  const std::string_view rest = std::string_view(name).substr(star + 1);
  if (rest.empty()) {
    p.base = name.substr(0, star);
    p.encoded = p.rfc2231 = true;
    return p;
  }
  std::size_t k = 0;
  int section = 0;
  while (k < rest.size() && is_digit(rest[k]) && k < 4) section = section * 10 + (rest[k++] - '0');
  if (k == 0) {
    p.base = name;
    return p;
  }
  const std::string_view tail = rest.substr(k);
  if (tail.empty() || tail == "*") {
    p.base = name.substr(0, star);
    p.section = section;
    p.encoded = tail == "*";
    p.rfc2231 = true;
    return p;
  }
  p.base = name;
  return p;
}

// Splits "charset'language'rest" (RFC 2231 4); without two quotes the whole
// value is the rest.
void split_extended(std::string_view v, std::string& charset, std::string& language, std::string_view& rest) {
  const std::size_t q1 = v.find('\'');
  const std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) {
    rest = v;
    return;
  }
  charset = to_lower(v.substr(0, q1));
  language = std::string(v.substr(q1 + 1, q2 - q1 - 1));
  rest = v.substr(q2 + 1);
}

// Scans "attribute = value" pairs separated by ';'. Tolerant of what real
// mailers write: a missing ';', unquoted values with tspecials or spaces, an
// unterminated quoted string, attributes without a value (skipped).
std::vector<RawParam> scan_params(std::string_view s, std::size_t max_raw) {
  std::vector<RawParam> out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n && out.size() < max_raw) {
    skip_cfws(s, i);
    if (i >= n) break;
    if (s[i] == ';') {
      ++i;
      continue;
    }
    const std::size_t name_start = i;
    while (i < n && s[i] != '=' && s[i] != ';' && !is_space(s[i]) && s[i] != '(' && s[i] != '"') ++i;
    std::string name = to_lower(s.substr(name_start, i - name_start));
    skip_cfws(s, i);
    if (i >= n || s[i] != '=' || name.empty()) {
      // No value: skip to the next ';' (or past one odd byte).
      if (name.empty() && i < n && s[i] != ';') ++i;
      while (i < n && s[i] != ';') {
        if (s[i] == '"') {  // don't stop at a ';' inside quotes
          ++i;
          while (i < n && s[i] != '"') i += (s[i] == '\\') ? 2 : 1;
        }
        if (i < n) ++i;
      }
      continue;
    }
    ++i;  // '='
    skip_cfws(s, i);
    std::string value;
    if (i < n && s[i] == '"') {
      ++i;
      while (i < n && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < n) {
          value += s[i + 1];
          i += 2;
        } else {
          if (s[i] != '\r' && s[i] != '\n') value += s[i];
          ++i;
        }
      }
      if (i < n) ++i;  // closing quote
      // Anything up to the next ';' after a quoted string is junk.
      while (i < n && s[i] != ';') ++i;
    } else {
      const std::size_t v_start = i;
      while (i < n && s[i] != ';') ++i;
      std::string_view v = s.substr(v_start, i - v_start);
      // A comment after a token value: "us-ascii (Plain text)".
      for (std::size_t k = 1; k < v.size(); ++k) {
        if (v[k] == '(' && is_space(v[k - 1])) {
          v = v.substr(0, k);
          break;
        }
      }
      for (char c : trim(v)) {
        if (c != '\r' && c != '\n') value += c;
      }
    }
    out.push_back(RawParam{std::move(name), std::move(value)});
  }
  return out;
}

}  // namespace

const Param* find_param(const Params& params, std::string_view name) {
  for (const Param& p : params) {
    if (iequals(p.name, name)) return &p;
  }
  return nullptr;
}

Params parse_params(std::string_view text, std::size_t max_params) {
  // RFC 2231 allows many continuation sections per parameter; ten per
  // parameter is far beyond any mailer and still bounded.
  const std::vector<RawParam> raw = scan_params(text, max_params * 10);

  struct Section {
    int number;
    bool encoded;
    std::size_t index;  // into raw
  };
  struct Group {
    std::string base;
    std::optional<std::size_t> plain;     // first plain value
    std::optional<std::size_t> extended;  // first "name*" value
    std::vector<Section> sections;
  };
  std::vector<Group> groups;
  std::map<std::string, std::size_t, std::less<>> by_name;
  for (std::size_t k = 0; k < raw.size(); ++k) {
    const ParamName pn = split_param_name(raw[k].name);
    auto it = by_name.find(pn.base);
    if (it == by_name.end()) {
      if (groups.size() >= max_params) continue;
      it = by_name.emplace(pn.base, groups.size()).first;
      groups.push_back(Group{pn.base, {}, {}, {}});
    }
    Group& g = groups[it->second];
    if (!pn.rfc2231) {
      if (!g.plain) g.plain = k;
    } else if (pn.section < 0) {
      if (!g.extended) g.extended = k;
    } else {
      g.sections.push_back(Section{pn.section, pn.encoded, k});
    }
  }

  Params out;
  out.reserve(groups.size());
  for (Group& g : groups) {
    Param p;
    p.name = g.base;
    if (g.extended || !g.sections.empty()) {
      std::string bytes;
      bool any_encoded = false;
      if (g.extended) {
        const std::string& v = raw[*g.extended].value;
        std::string_view rest;
        split_extended(v, p.charset, p.language, rest);
        bytes = percent_decode(rest);
        any_encoded = true;
      } else {
        // Sections in order from the lowest, stopping at a gap; a duplicate
        // section number keeps its first value.
        std::stable_sort(g.sections.begin(), g.sections.end(),
                         [](const Section& a, const Section& b) { return a.number < b.number; });
        int expect = g.sections.front().number;
        for (const Section& sec : g.sections) {
          if (sec.number < expect) continue;  // duplicate
          if (sec.number != expect) break;    // gap
          ++expect;
          std::string_view v = raw[sec.index].value;
          if (sec.encoded) {
            any_encoded = true;
            if (&sec == &g.sections.front()) split_extended(raw[sec.index].value, p.charset, p.language, v);
            bytes += percent_decode(v);
          } else {
            bytes += v;
          }
        }
      }
      // Plain continuations ("URL*0", "URL*1") are just a long plain value;
      // encoded ones get one canonical RFC 2231 form for pass-through.
      if (any_encoded) p.encoded = p.charset + "'" + p.language + "'" + percent_encode(bytes);
      std::optional<std::string> u;
      if (!p.charset.empty()) u = to_utf8(bytes, p.charset);
      p.value = u ? std::move(*u) : std::move(bytes);
    } else if (g.plain) {
      p.value = raw[*g.plain].value;
    }
    out.push_back(std::move(p));
  }
  return out;
}

namespace {

// Reads a token (type, subtype, disposition type) at s[i], lower-cased.
std::string read_token(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  while (i < s.size() && is_token_char(s[i])) ++i;
  return to_lower(s.substr(start, i - start));
}

}  // namespace

std::optional<ContentType> parse_content_type(std::string_view value) {
  std::size_t i = 0;
  skip_cfws(value, i);
  ContentType ct;
  ct.type = read_token(value, i);
  skip_cfws(value, i);
  if (ct.type.empty() || i >= value.size() || value[i] != '/') return std::nullopt;
  ++i;
  skip_cfws(value, i);
  ct.subtype = read_token(value, i);
  if (ct.subtype.empty()) return std::nullopt;
  skip_cfws(value, i);
  // After the subtype only parameters may follow; tolerate junk up to ';'
  // and a missing ';' before the first parameter.
  ct.params = parse_params(value.substr(i));
  return ct;
}

std::optional<Disposition> parse_content_disposition(std::string_view value) {
  std::size_t i = 0;
  skip_cfws(value, i);
  Disposition d;
  d.type = read_token(value, i);
  if (d.type.empty()) return std::nullopt;
  d.params = parse_params(value.substr(i));
  return d;
}

// ---------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------

const Part* Part::message() const {
  return (type == "message" && children.size() == 1) ? &children.front() : nullptr;
}

const Param* Part::param(std::string_view name) const { return find_param(params, name); }

std::string Part::charset() const {
  if (const Param* p = param("charset")) {
    const std::string_view v = trim(p->value);
    if (!v.empty()) return to_lower(v);
  }
  return type == "text" ? "us-ascii" : "";
}

std::string Part::filename() const {
  const Param* p = find_param(disposition_params, "filename");
  if (!p || p->value.empty()) p = param("name");
  if (!p) return {};
  std::string v = p->value;
  if (v.find("=?") != std::string::npos) v = decode_encoded_words(v);
  auto u = to_utf8(v, "us-ascii");  // valid UTF-8 stays; stray 8-bit is read as windows-1252
  return u ? *u : sanitize_utf8(v);
}

std::string_view Part::header_text(std::string_view message) const {
  if (header_start > message.size() || body_start > message.size() || body_start < header_start) return {};
  return message.substr(header_start, body_start - header_start);
}

std::string_view Part::body(std::string_view message) const {
  if (body_end > message.size() || body_start > body_end) return {};
  return message.substr(body_start, body_end - body_start);
}

bool Message::has(DiagnosticKind kind) const {
  for (const Diagnostic& d : diagnostics) {
    if (d.kind == kind) return true;
  }
  return false;
}

Decoded decode_body(std::string_view message, const Part& part) {
  const std::string_view body = part.body(message);
  switch (part.encoding) {
    case TransferEncoding::base64: return decode_base64(body);
    case TransferEncoding::quoted_printable: return decode_quoted_printable(body);
    default: break;
  }
  return Decoded{std::string(body), 0};
}

std::string text_utf8(std::string_view message, const Part& part) {
  Decoded d = decode_body(message, part);
  std::string cs = part.charset();
  if (cs.empty()) cs = "us-ascii";
  if (auto u = to_utf8(d.data, cs)) return std::move(*u);
  return sanitize_utf8(d.data);
}

// ---------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------

namespace {

// RFC 2046 5.1.1 allows 70 bytes; real mailers go a little over. Past this a
// boundary is refused, which also bounds the cost of comparing one.
constexpr std::size_t max_boundary_bytes = 200;
constexpr std::size_t max_languages = 32;
constexpr std::size_t no_level = static_cast<std::size_t>(-1);

// Where a walk over lines stopped: at a boundary line of an open multipart
// (level = its index on the boundary stack) or at the end of the message.
struct Stop {
  std::size_t pos = 0;   // start of the boundary line, or the message size
  std::size_t line = 0;  // line breaks before pos
  std::size_t level = no_level;
  bool close = false;     // "--boundary--"
  std::size_t next = 0;   // start of the line after the boundary line
  std::size_t next_line = 0;
};

struct BoundaryMatch {
  std::size_t level;
  bool close;
};

// Offset of the first byte >= 0x80, or npos. Eight bytes at a time: bodies
// can be tens of megabytes.
std::size_t find_8bit(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, sizeof w);
    if (w & 0x8080808080808080ULL) break;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return i;
  }
  return std::string_view::npos;
}

void downgrade(Part& p) {
  p.type = "application";
  p.subtype = "octet-stream";
  p.params.clear();
  p.children.clear();
}

TransferEncoding encoding_from_name(std::string_view name, bool& known) {
  known = true;
  if (name == "7bit") return TransferEncoding::seven_bit;
  if (name == "8bit") return TransferEncoding::eight_bit;
  if (name == "binary") return TransferEncoding::binary;
  if (name == "quoted-printable") return TransferEncoding::quoted_printable;
  if (name == "base64") return TransferEncoding::base64;
  known = false;
  return TransferEncoding::unknown;
}

bool identity_encoding(TransferEncoding e) {
  return e == TransferEncoding::seven_bit || e == TransferEncoding::eight_bit || e == TransferEncoding::binary;
}

class StructureParser {
 public:
  StructureParser(std::string_view message, const Limits& limits, Message& out)
      : msg_(message), lim_(limits), out_(out), max_depth_(std::min(limits.max_depth, max_depth_cap)) {}

  void run() {
    check_lines();
    parse_part(out_.root, 0, 0, 0, false);
    std::stable_sort(out_.diagnostics.begin(), out_.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.offset < b.offset; });
  }

 private:
  void diag(DiagnosticKind kind, std::size_t offset, std::string detail = {}) {
    if (out_.diagnostics.size() >= lim_.max_diagnostics) return;
    out_.diagnostics.push_back(Diagnostic{kind, offset, std::move(detail)});
  }

  // Line-level checks over the whole message, each kind reported once.
  void check_lines() {
    const char* base = msg_.data();
    const std::size_t n = msg_.size();
    if (n == 0) return;
    if (const void* nl = std::memchr(base, '\n', n)) {
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
      out_.line_ending = (at > 0 && base[at - 1] == '\r') ? rfc5322::LineEnding::crlf : rfc5322::LineEnding::lf;
    }
    bool long_seen = false, bare_lf_seen = false, mixed_seen = false;
    std::size_t pos = 0;
    while (pos < n && !(long_seen && bare_lf_seen && mixed_seen)) {
      const void* nlp = std::memchr(base + pos, '\n', n - pos);
      const std::size_t end = nlp ? static_cast<std::size_t>(static_cast<const char*>(nlp) - base) : n;
      const bool crlf = nlp && end > pos && base[end - 1] == '\r';
      const std::size_t len = end - pos - (crlf ? 1 : 0);
      if (len > 998 && !long_seen) {  // RFC 5322 2.1.1
        long_seen = true;
        diag(DiagnosticKind::line_too_long, pos);
      }
      if (nlp) {
        if (out_.line_ending == rfc5322::LineEnding::crlf && !crlf && !bare_lf_seen) {
          bare_lf_seen = true;
          diag(DiagnosticKind::bare_lf, end);
        } else if (out_.line_ending == rfc5322::LineEnding::lf && crlf && !mixed_seen) {
          mixed_seen = true;
          diag(DiagnosticKind::mixed_line_endings, end - 1);
        }
      }
      if (!nlp) break;
      pos = end + 1;
    }
    std::size_t p = 0;
    while (p < n) {
      const void* crp = std::memchr(base + p, '\r', n - p);
      if (!crp) break;
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(crp) - base);
      if (at + 1 >= n || base[at + 1] != '\n') {
        diag(DiagnosticKind::bare_cr, at);
        break;
      }
      p = at + 1;
    }
    if (const void* z = std::memchr(base, '\0', n)) {
      diag(DiagnosticKind::nul_byte, static_cast<std::size_t>(static_cast<const char*>(z) - base));
    }
  }

  // Is `line` (line break excluded) a boundary line of an open multipart?
  // Exact matches (boundary, optional "--", then only transport padding) win
  // over prefix matches, and inner levels over outer ones, so a boundary that
  // is a prefix of another still works whichever way they nest.
  std::optional<BoundaryMatch> match(std::string_view line) const {
    if (line.size() < 2 || line[0] != '-' || line[1] != '-') return std::nullopt;
    const std::string_view rest = line.substr(2);
    for (std::size_t k = bounds_.size(); k-- > 0;) {
      const std::string_view b = bounds_[k];
      if (rest.substr(0, b.size()) != b) continue;
      std::string_view tail = rest.substr(b.size());
      const bool close = tail.substr(0, 2) == "--";
      if (close) tail.remove_prefix(2);
      if (std::all_of(tail.begin(), tail.end(), is_wsp)) return BoundaryMatch{k, close};
    }
    for (std::size_t k = bounds_.size(); k-- > 0;) {
      const std::string_view b = bounds_[k];
      if (rest.substr(0, b.size()) == b) return BoundaryMatch{k, rest.substr(b.size(), 2) == "--"};
    }
    return std::nullopt;
  }

  // Walks lines from pos (a line start, `line` line breaks before it) to the
  // next boundary line of any open multipart, or to the end.
  Stop walk(std::size_t pos, std::size_t line) const {
    const char* base = msg_.data();
    const std::size_t n = msg_.size();
    Stop s;
    if (bounds_.empty()) {
      s.line = line + static_cast<std::size_t>(std::count(base + std::min(pos, n), base + n, '\n'));
      s.pos = s.next = n;
      s.next_line = s.line;
      return s;
    }
    while (pos < n) {
      const void* nlp = std::memchr(base + pos, '\n', n - pos);
      const std::size_t end = nlp ? static_cast<std::size_t>(static_cast<const char*>(nlp) - base) : n;
      if (base[pos] == '-' && pos + 1 < n && base[pos + 1] == '-') {
        std::size_t content_end = end;
        if (nlp && content_end > pos && base[content_end - 1] == '\r') --content_end;
        if (auto m = match(msg_.substr(pos, content_end - pos))) {
          s.pos = pos;
          s.line = line;
          s.level = m->level;
          s.close = m->close;
          s.next = nlp ? end + 1 : n;
          s.next_line = nlp ? line + 1 : line;
          return s;
        }
      }
      if (!nlp) break;
      pos = end + 1;
      ++line;
    }
    s.pos = s.next = n;
    s.line = s.next_line = line;
    return s;
  }

  // Applies the Content-* fields of part.header; the first of each wins.
  void apply_headers(Part& part, bool in_digest) {
    bool have_type = false, have_cte = false, have_disposition = false;
    bool have_id = false, have_description = false, have_language = false;
    bool have_location = false, have_md5 = false;
    bool type_ok = false;
    for (const rfc5322::Field& f : part.header.fields) {
      if (f.name.size() < 9 || !iequals(f.name.substr(0, 8), "content-")) continue;
      const std::string_view what = f.name.substr(8);
      if (iequals(what, "type") && !have_type) {
        have_type = true;
        if (auto ct = parse_content_type(f.value())) {
          part.type = std::move(ct->type);
          part.subtype = std::move(ct->subtype);
          part.params = std::move(ct->params);
          type_ok = true;
        } else {
          diag(DiagnosticKind::invalid_content_type, f.offset, excerpt(f.value()));
        }
      } else if (iequals(what, "transfer-encoding") && !have_cte) {
        have_cte = true;
        const std::string v = f.value();
        std::size_t i = 0;
        skip_cfws(v, i);
        const std::string name = read_token(v, i);
        if (name.empty()) continue;
        bool known = false;
        part.encoding = encoding_from_name(name, known);
        part.encoding_name = name;
        if (!known) diag(DiagnosticKind::unknown_transfer_encoding, f.offset, excerpt(name));
      } else if (iequals(what, "id") && !have_id) {
        have_id = true;
        part.id = f.value();
      } else if (iequals(what, "description") && !have_description) {
        have_description = true;
        part.description = f.value();
      } else if (iequals(what, "disposition") && !have_disposition) {
        have_disposition = true;
        if (auto d = parse_content_disposition(f.value())) {
          part.disposition = std::move(d->type);
          part.disposition_params = std::move(d->params);
        }
      } else if (iequals(what, "language") && !have_language) {
        have_language = true;
        const std::string v = f.value();
        std::size_t i = 0;
        while (i < v.size() && part.languages.size() < max_languages) {
          skip_cfws(v, i);
          const std::size_t start = i;
          while (i < v.size() && v[i] != ',' && v[i] != '(' && !is_space(v[i])) ++i;
          if (i > start) part.languages.push_back(v.substr(start, i - start));
          skip_cfws(v, i);
          if (i < v.size() && v[i] == ',') {
            ++i;
          } else if (i < v.size() && i == start) {
            ++i;  // a stray byte: step over it
          }
        }
      } else if (iequals(what, "location") && !have_location) {
        have_location = true;
        part.location = f.value();
      } else if (iequals(what, "md5") && !have_md5) {
        have_md5 = true;
        part.md5 = f.value();
      }
    }
    if (!type_ok) {  // RFC 2045 5.2, RFC 2046 5.1.5
      if (in_digest) {
        part.type = "message";
        part.subtype = "rfc822";
        part.params.clear();
      } else {
        part.type = "text";
        part.subtype = "plain";
        part.params = {Param{"charset", "us-ascii", {}, {}, {}}};
      }
    }
  }

  // Body end and line count from where the walk stopped.
  void finish_body(Part& part, const Stop& s, std::size_t body_line, std::size_t min_end) {
    const std::size_t bs = part.body_start;
    std::size_t be = s.level == no_level ? msg_.size() : s.pos;
    std::size_t end_line = s.line;
    if (s.level != no_level && be > bs) {
      // The line break before a boundary line is the boundary's (RFC 2046 5.1.1).
      --be;
      --end_line;
      if (be > bs && msg_[be - 1] == '\r') --be;
    }
    if (be < bs) be = bs;
    // An empty part right before the boundary line owns that line break as
    // its header's blank line; the enclosing body must still contain it.
    if (min_end > be) {
      be = s.pos;
      end_line = s.line;
    }
    part.body_end = be;
    part.body_lines = be == bs ? 0 : (end_line - body_line) + (msg_[be - 1] != '\n' ? 1 : 0);
  }

  void check_leaf(Part& part) {
    const std::string_view body = part.body(msg_);
    const std::size_t first_8bit = find_8bit(body);
    part.has_8bit = first_8bit != std::string_view::npos;
    if (part.has_8bit && (part.encoding == TransferEncoding::seven_bit ||
                          part.encoding == TransferEncoding::quoted_printable ||
                          part.encoding == TransferEncoding::base64)) {
      diag(DiagnosticKind::eight_bit_undeclared, part.body_start + first_8bit, part.encoding_name);
    }
    if (!lim_.check_encodings) return;
    NullSink sink;
    std::size_t errors = 0;
    if (part.encoding == TransferEncoding::base64) errors = base64_decode_into(body, sink);
    if (part.encoding == TransferEncoding::quoted_printable) errors = qp_decode_into(body, sink);
    if (errors != 0) diag(DiagnosticKind::invalid_encoding, part.body_start, part.encoding_name);
  }

  // Reported once per message; the detail says which limit.
  void too_complex(std::size_t offset, bool depth) {
    if (too_complex_reported_) return;
    too_complex_reported_ = true;
    diag(DiagnosticKind::too_complex, offset,
         depth ? "nesting deeper than " + std::to_string(max_depth_)
               : "more than " + std::to_string(lim_.max_parts) + " parts");
  }

  // Parses the part whose header starts at pos (a line start, `line` line
  // breaks before it) and returns where its body ended.
  Stop parse_part(Part& part, std::size_t pos, std::size_t line, std::size_t depth, bool in_digest) {
    ++out_.part_count;
    rfc5322::HeaderOptions ho;
    ho.start = pos;
    ho.limits = lim_.header;
    if (!bounds_.empty()) ho.stop_before = [this](std::string_view l) { return match(l).has_value(); };
    part.header = rfc5322::parse_header(msg_, ho);
    for (Diagnostic& d : part.header.diagnostics) {
      // Line-level kinds come from check_lines() for the whole message.
      if (d.kind == DiagnosticKind::bare_cr || d.kind == DiagnosticKind::bare_lf ||
          d.kind == DiagnosticKind::mixed_line_endings || d.kind == DiagnosticKind::nul_byte) {
        continue;
      }
      diag(d.kind, d.offset, std::move(d.detail));
    }
    part.header.diagnostics.clear();
    part.header_start = part.header.start;
    part.body_start = part.header.body_start;
    const std::size_t body_line = line + part.header.lines;
    apply_headers(part, in_digest);

    Stop s;
    bool leaf = true;
    if (part.type == "multipart") {
      const Param* b = part.param("boundary");
      const std::string_view boundary = b ? std::string_view(b->value) : std::string_view();
      if (boundary.empty() || boundary.size() > max_boundary_bytes) {
        diag(DiagnosticKind::bad_boundary, part.header_start,
             boundary.empty() ? "multipart without boundary" : "boundary longer than 200 bytes");
        downgrade(part);
      } else if (!identity_encoding(part.encoding)) {
        diag(DiagnosticKind::encoding_on_composite, part.header_start, part.encoding_name);
        downgrade(part);
      } else if (depth >= max_depth_) {
        too_complex(part.header_start, true);
        downgrade(part);
      } else {
        leaf = false;
        s = parse_multipart(part, std::string(boundary), body_line, depth);
      }
    } else if (part.type == "message" && (part.subtype == "rfc822" || part.subtype == "global")) {
      if (!identity_encoding(part.encoding)) {
        // RFC 2045 6.4 forbids it for message/rfc822; RFC 6532 3.5 allows it
        // for message/global, but either way there is no message to open in place.
        if (part.subtype == "rfc822") {
          diag(DiagnosticKind::encoding_on_composite, part.header_start, part.encoding_name);
        }
        downgrade(part);
      } else if (depth >= max_depth_) {
        too_complex(part.header_start, true);
        downgrade(part);
      } else if (out_.part_count >= lim_.max_parts) {
        too_complex(part.header_start, false);
        downgrade(part);
      } else {
        leaf = false;
        part.children.emplace_back();
        s = parse_part(part.children.front(), part.body_start, body_line, depth + 1, false);
        part.has_8bit = part.children.front().has_8bit;
      }
    }
    if (leaf) s = walk(part.body_start, body_line);
    finish_body(part, s, body_line, part.children.empty() ? 0 : part.children.back().body_end);
    if (part.children.empty()) check_leaf(part);  // leaves, and composites that were downgraded
    return s;
  }

  Stop parse_multipart(Part& part, std::string boundary, std::size_t body_line, std::size_t depth) {
    for (const std::string& outer : bounds_) {
      if (outer.starts_with(boundary) || boundary.starts_with(outer)) {
        diag(DiagnosticKind::bad_boundary, part.header_start, "overlaps an enclosing boundary: " + excerpt(boundary));
        break;
      }
    }
    const bool digest = part.subtype == "digest";
    bounds_.push_back(std::move(boundary));
    const std::size_t level = bounds_.size() - 1;
    bool closed = false;
    bool skipped = false;
    Stop s = walk(part.body_start, body_line);  // the preamble
    while (s.level == level) {
      if (s.close) {
        closed = true;
        pop_boundary();
        s = walk(s.next, s.next_line);  // the epilogue, up to an outer boundary
        break;
      }
      if (out_.part_count >= lim_.max_parts) {
        too_complex(s.pos, false);
        skipped = true;
        s = walk(s.next, s.next_line);
        continue;
      }
      part.children.emplace_back();
      s = parse_part(part.children.back(), s.next, s.next_line, depth + 1, digest);
    }
    if (!closed) {
      pop_boundary();
      if (!part.children.empty()) diag(DiagnosticKind::missing_close_delimiter, s.pos, excerpt(bounds_text(part)));
    }
    if (part.children.empty()) {
      if (!skipped) diag(DiagnosticKind::bad_boundary, part.body_start, "boundary never found in the body");
      downgrade(part);
      return s;
    }
    part.has_8bit = std::any_of(part.children.begin(), part.children.end(), [](const Part& c) { return c.has_8bit; });
    return s;
  }

  std::string bounds_text(const Part& part) const {
    const Param* b = part.param("boundary");
    return b ? b->value : std::string();
  }

  void pop_boundary() { bounds_.pop_back(); }

  std::string_view msg_;
  const Limits& lim_;
  Message& out_;
  std::size_t max_depth_;
  std::vector<std::string> bounds_;  // boundaries of the open multiparts, outermost first
  bool too_complex_reported_ = false;
};

}  // namespace

Message parse(std::string_view message, const Limits& limits) {
  Message out;
  StructureParser(message, limits, out).run();
  return out;
}

const Part* find_section(const Part& root, std::string_view section) {
  const Part* cur = &root;
  bool first = true;
  while (!section.empty()) {
    const std::size_t dot = section.find('.');
    const std::string_view number = section.substr(0, dot);
    if (dot == std::string_view::npos) {
      section = {};
    } else {
      section.remove_prefix(dot + 1);
      if (section.empty()) return nullptr;  // "1."
    }
    // nz-number (RFC 3501 9): no leading zero; nine digits is plenty.
    if (number.empty() || number.size() > 9 || number[0] == '0') return nullptr;
    std::size_t k = 0;
    for (char c : number) {
      if (!is_digit(c)) return nullptr;
      k = k * 10 + static_cast<std::size_t>(c - '0');
    }
    const Part* container = cur;
    if (!first) {
      if (cur->is_multipart()) {
        container = cur;
      } else if (const Part* m = cur->message()) {
        container = m;
      } else {
        return nullptr;
      }
    }
    if (container->is_multipart()) {
      if (k > container->children.size()) return nullptr;
      cur = &container->children[k - 1];
    } else {
      if (k != 1) return nullptr;
      cur = container;  // a non-multipart message's only part is its body
    }
    first = false;
  }
  return cur;
}

}  // namespace lib::mime
