// lib/mime_charset.cpp: UTF-8 checks and repair and charset conversion to
// UTF-8 (valid_utf8, sanitize_utf8, known_charset, to_utf8). The charsets mail
// uses are a fixed table of labels mapped to iconv names; each thread keeps one
// iconv descriptor per charset, opened on first use. See lib/mime.hpp.
#include "lib/mime.hpp"

#include <errno.h>
#include <iconv.h>

#include <array>
#include <cstring>

#include "lib/c_handle.hpp"
#include "lib/mime_internal.hpp"
#include "lib/utf8.hpp"

namespace lib::mime {

using namespace internal;

// ---------------------------------------------------------------------------
// UTF-8 and charsets
// ---------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i], or 0 with `bad` set to the
// length of the maximal invalid prefix (at least 1) to replace with one U+FFFD.
std::size_t internal::utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) {
  const utf8::Decoded d = utf8::decode(s, i);
  bad = d.invalid_length;
  return d.length;
}

namespace {

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

}  // namespace lib::mime
