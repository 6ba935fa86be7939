// pop3d/sizelist.cpp: see sizelist.hpp.
#include "pop3d/sizelist.hpp"

#include <charconv>

namespace pop3d {

namespace {

// An unsigned decimal number filling all of text.
std::optional<std::uint64_t> number(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// Splits text at sep into at most `max` fields.
std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t p = text.find(sep);
    out.push_back(text.substr(0, p));
    if (p == std::string_view::npos) break;
    text.remove_prefix(p + 1);
  }
  return out;
}

std::optional<SizeListEntry> parse_entry(std::string_view line, int version) {
  // "<name> <size> <uid>:<uidv>[:<utf8>]": the name is everything before the
  // second-to-last space, so it is taken from the end.
  size_t last = line.rfind(' ');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  size_t middle = line.rfind(' ', last - 1);
  if (middle == std::string_view::npos || middle == 0) return std::nullopt;
  SizeListEntry e;
  e.file_name = std::string(line.substr(0, middle));
  for (unsigned char c : e.file_name)
    if (c < 0x20 || c == '/' || c == 0x7f) return std::nullopt;
  auto size = number(line.substr(middle + 1, last - middle - 1));
  if (!size) return std::nullopt;
  e.size = *size;
  auto fields = split(line.substr(last + 1), ':');
  if (fields.size() < 2 || fields.size() > 3) return std::nullopt;
  if (version >= 3 && fields.size() != 3) return std::nullopt;
  auto uid = number(fields[0]);
  auto uidv = number(fields[1]);
  if (!uid || !uidv || *uid == 0 || *uid >= sizelist_max_uid) return std::nullopt;
  e.uid = *uid;
  e.uidv = *uidv;
  if (fields.size() == 3) {
    auto utf8 = number(fields[2]);
    if (!utf8 || *utf8 > 1) return std::nullopt;
    e.utf8 = *utf8 == 1;
  }
  return e;
}

}  // namespace

std::optional<SizeList> parse_sizelist(std::string_view text, size_t* skipped) {
  if (skipped) *skipped = 0;
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos || nl > 200) return std::nullopt;
  std::string_view header = text.substr(0, nl);
  text.remove_prefix(nl + 1);
  if (header.empty() || header[0] != '/') return std::nullopt;
  auto words = split(header.substr(1), ' ');
  if (words.size() < 2 || words.size() > 3) return std::nullopt;
  auto version = number(words[0]);
  if (!version || (*version != 2 && *version != 3)) return std::nullopt;
  auto next_uid = number(words[1]);
  if (!next_uid || *next_uid == 0 || *next_uid >= sizelist_max_uid) return std::nullopt;
  SizeList list;
  list.version = static_cast<int>(*version);
  list.next_uid = *next_uid;
  if (words.size() == 3) {
    auto uidv = number(words[2]);
    if (!uidv) return std::nullopt;
    list.uidv = *uidv;
  } else if (list.version == 3) {
    return std::nullopt;
  }
  while (!text.empty()) {
    nl = text.find('\n');
    // A last line without its newline was cut short (a full disk): skip it.
    if (nl == std::string_view::npos) {
      if (skipped) ++*skipped;
      break;
    }
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line.size() > sizelist_max_line_bytes) {
      if (skipped) ++*skipped;
      continue;
    }
    auto entry = parse_entry(line, list.version);
    if (!entry) {
      if (skipped) ++*skipped;
      continue;
    }
    // A UID at or above next_uid would be handed out again.
    if (entry->uid >= list.next_uid && entry->uidv == list.uidv) list.next_uid = entry->uid + 1;
    list.entries.push_back(std::move(*entry));
  }
  return list;
}

std::string format_sizelist(const SizeList& list) {
  std::string out;
  out.reserve(64 + list.entries.size() * 80);
  out += '/';
  out += std::to_string(sizelist_version);
  out += ' ';
  out += std::to_string(list.next_uid);
  out += ' ';
  out += std::to_string(list.uidv);
  out += '\n';
  for (const auto& e : list.entries) {
    out += e.file_name;
    out += ' ';
    out += std::to_string(e.size);
    out += ' ';
    out += std::to_string(e.uid);
    out += ':';
    out += std::to_string(e.uidv);
    out += e.utf8 ? ":1\n" : ":0\n";
  }
  return out;
}

std::string format_uidl(std::uint64_t uid, std::uint64_t uidv) {
  std::string out = "UID" + std::to_string(uid);
  if (uidv != 0) out += "-" + std::to_string(uidv);
  return out;
}

std::string_view message_base(std::string_view file_name) {
  return file_name.substr(0, file_name.find(':'));
}

int compare_message_names(std::string_view a, std::string_view b) {
  // atol(): leading decimal digits (names never start with blanks or signs).
  auto leading = [](std::string_view s) {
    std::uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') break;
      if (v > (UINT64_MAX - 9) / 10) break;
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
  };
  std::uint64_t na = leading(a), nb = leading(b);
  if (na != nb) return na < nb ? -1 : 1;
  size_t i = 0;
  for (;;) {
    int ca = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    int cb = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    if (ca == 0 && cb == 0) return 0;
    if (ca == ':' && cb == ':') return 0;
    if (ca != cb) return ca < cb ? -1 : 1;
    ++i;
  }
}

}  // namespace pop3d
