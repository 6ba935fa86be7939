// imapd/mailbox_cache_file.cpp: the imapd-cache file format
// (imapd/mailbox_cache.hpp), pure: no I/O, so the fuzz target takes it alone.
//
//   "imapd-cache 1\n"                   version line
//   u32 count                           number of records
//   count x { u32 length, u32 crc32, length bytes of payload }
//   payload: u64 file_size, i64 mtime_ns, u64 crlf_size, u32 flags (bit 0:
//            has_header), then five strings (u32 length + bytes): base,
//            envelope, body, bodystructure, header, facts
//   facts:   u32 flags (bit 0: has_date, bit 1: reply), i64 date, then
//            strings subject, from, to, cc, display_from, display_to,
//            message_id, u32 reference count and that many strings
// Integers little-endian. Nothing may follow the last record.
#include <cstring>
#include <unordered_set>

#include "imapd/mailbox_cache.hpp"
#include "imapd/zlib_library.hpp"

namespace imapd {
namespace {

constexpr std::string_view magic = "imapd-cache ";
// A record larger than this is garbage (an entry is a few KiB; the header
// is capped at cache_max_header_bytes).
constexpr std::uint32_t max_record_bytes = 4u * 1024 * 1024;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// zlib is loaded before any cache is made (Mailbox::cached()); never fails here.
std::uint32_t crc_of(std::string_view s) {
  return static_cast<std::uint32_t>(
      (*zlib())->crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

// Reads fixed-size fields from a span; any read past the end sets failed.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool failed() const { return failed_; }
  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == s_.size(); }
  std::uint64_t u(int bytes) {
    if (failed_ || s_.size() - pos_ < static_cast<std::size_t>(bytes)) {
      failed_ = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(s_[pos_ + i])} << (8 * i);
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (failed_ || s_.size() - pos_ < n) {
      failed_ = true;
      return {};
    }
    std::string_view v = s_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string str() { return std::string(bytes(static_cast<std::size_t>(u(4)))); }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::string encode_facts(const HeaderFacts& f) {
  std::string out;
  put_u32(out, (f.has_date ? 1u : 0u) | (f.reply ? 2u : 0u));
  put_u64(out, static_cast<std::uint64_t>(f.date));
  for (const std::string* s : {&f.subject, &f.from, &f.to, &f.cc, &f.display_from, &f.display_to, &f.message_id})
    put_str(out, *s);
  put_u32(out, static_cast<std::uint32_t>(f.references.size()));
  for (const auto& r : f.references) put_str(out, r);
  return out;
}

bool decode_facts(std::string_view data, HeaderFacts& f) {
  Cursor c(data);
  const std::uint64_t flags = c.u(4);
  f.has_date = (flags & 1u) != 0;
  f.reply = (flags & 2u) != 0;
  f.date = static_cast<std::int64_t>(c.u(8));
  for (std::string* s : {&f.subject, &f.from, &f.to, &f.cc, &f.display_from, &f.display_to, &f.message_id})
    *s = c.str();
  const std::uint64_t n = c.u(4);
  if (c.failed() || n > data.size() / 4 || (flags & ~std::uint64_t{3}) != 0) return false;
  f.references.clear();
  for (std::uint64_t i = 0; i < n && !c.failed(); ++i) f.references.push_back(c.str());
  return !c.failed() && c.at_end();
}

std::string format_cache(const std::vector<const CacheEntry*>& entries) {
  std::string out;
  out.append(magic);
  out += std::to_string(cache_version);
  out.push_back('\n');
  put_u32(out, static_cast<std::uint32_t>(entries.size()));
  std::string payload;
  for (const CacheEntry* e : entries) {
    payload.clear();
    put_u64(payload, e->file_size);
    put_u64(payload, static_cast<std::uint64_t>(e->mtime_ns));
    put_u64(payload, e->crlf_size);
    put_u32(payload, e->has_header ? 1u : 0u);
    put_str(payload, e->base);
    put_str(payload, e->envelope);
    put_str(payload, e->body);
    put_str(payload, e->bodystructure);
    put_str(payload, e->header);
    put_str(payload, encode_facts(e->facts));
    put_u32(out, static_cast<std::uint32_t>(payload.size()));
    put_u32(out, crc_of(payload));
    out += payload;
  }
  return out;
}

lib::Result<std::vector<CacheEntry>> parse_cache(std::string_view data, const std::string& path) {
  const auto bad = [&](std::string what) { return lib::permanent_error(path + ": " + what); };
  if (data.substr(0, magic.size()) != magic) return bad("not an imapd cache file (no \"imapd-cache\" line)");
  const std::size_t eol = data.find('\n');
  if (eol == std::string_view::npos || eol > magic.size() + 10) return bad("no version line");
  const std::string_view version = data.substr(magic.size(), eol - magic.size());
  if (version != std::to_string(cache_version))
    return bad("version " + std::string(version) + " (this imapd uses version " + std::to_string(cache_version) +
               ")");
  Cursor c(data.substr(eol + 1));
  const std::size_t base_offset = eol + 1;
  const std::uint64_t count = c.u(4);
  if (c.failed()) return bad("truncated in the header");
  // Each record takes at least 8 + 28 + 24 bytes: a count beyond what the
  // file could hold is garbage (and must not size a vector).
  if (count > (data.size() - base_offset) / 60)
    return bad("header counts " + std::to_string(count) + " records, more than the file can hold");
  std::vector<CacheEntry> out;
  out.reserve(static_cast<std::size_t>(count));
  std::unordered_set<std::string_view> seen;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::size_t at = base_offset + c.pos();
    const std::uint64_t length = c.u(4);
    const std::uint64_t crc = c.u(4);
    if (c.failed()) return bad("truncated at byte " + std::to_string(at) + " (record " + std::to_string(i + 1) + " of " + std::to_string(count) + ")");
    if (length > max_record_bytes)
      return bad("record " + std::to_string(i + 1) + " at byte " + std::to_string(at) + " claims " +
                 std::to_string(length) + " bytes");
    const std::string_view payload = c.bytes(static_cast<std::size_t>(length));
    if (c.failed()) return bad("truncated in record " + std::to_string(i + 1) + " of " + std::to_string(count) + " (byte " + std::to_string(at) + ")");
    if (crc_of(payload) != crc)
      return bad("checksum mismatch in record " + std::to_string(i + 1) + " at byte " + std::to_string(at));
    Cursor p(payload);
    CacheEntry e;
    e.file_size = p.u(8);
    e.mtime_ns = static_cast<std::int64_t>(p.u(8));
    e.crlf_size = p.u(8);
    const std::uint64_t flags = p.u(4);
    e.base = p.str();
    e.envelope = p.str();
    e.body = p.str();
    e.bodystructure = p.str();
    e.header = p.str();
    const std::string facts = p.str();
    e.has_header = (flags & 1u) != 0;
    if (p.failed() || !p.at_end() || (flags & ~std::uint64_t{1}) != 0 || !decode_facts(facts, e.facts))
      return bad("record " + std::to_string(i + 1) + " at byte " + std::to_string(at) + " has malformed fields");
    if (e.base.empty() || e.base.find('/') != std::string::npos || e.base.find(':') != std::string::npos ||
        e.envelope.empty() || e.body.empty() || e.bodystructure.empty() ||
        e.header.size() > cache_max_header_bytes)
      return bad("record " + std::to_string(i + 1) + " at byte " + std::to_string(at) + " has invalid values");
    out.push_back(std::move(e));
  }
  if (!c.at_end()) return bad(std::to_string(data.size() - base_offset - c.pos()) + " bytes after the last record");
  for (const auto& e : out)
    if (!seen.insert(e.base).second) return bad("message " + e.base + " appears twice");
  return out;
}

}  // namespace imapd
