// imapd/mailbox_cache_file.cpp: the imapd-cache file format
// (imapd/mailbox_cache.hpp), pure: no I/O, so the fuzz target takes it alone.
//
//   "imapd-cache 3\n"                   version line
//   header (36 bytes): u32 count, u64 keys_length, u64 bodies_length,
//            u32 keys_crc (CRC-32 of the key section), u64 ranks_hash
//            (XXH3-64 of the rank section), u32 header_check (the low 32
//            bits of the XXH3-64 of the 32 bytes before it)
//   rank section (count x 32 bytes): count x u64 id (XXH3-64 of the base
//            name, seeded with the file size: cache_entry_id), then for
//            each of the six string sort keys in CacheRankKey order
//            count x u32 rank: the record's place among the file's
//            records by that key (equal keys, equal ranks; dense from 0)
//   key section (keys_length bytes): count x { u32 length, length bytes }:
//            u64 file_size, i64 mtime_ns, u64 crlf_size, u32 flags (bit 0:
//            has_header, bit 1: has_date, bit 2: reply), i64 date,
//            u32 body_length, u32 body_crc, then strings (u32 length +
//            bytes) base, subject, from, to, cc, display_from, display_to,
//            message_id, then u32 reference count and that many strings
//   body section (bodies_length bytes): count records, in key order, each
//            body_length bytes (CRC-32 body_crc): strings envelope, body,
//            bodystructure, header
// The file is exactly that long. Integers little-endian.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_set>

#include "imapd/mailbox_cache.hpp"
#include "imapd/zlib_library.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

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

namespace {

constexpr std::size_t header_bytes = 36;
// The smallest key record: fixed fields, eight string lengths, a count.
constexpr std::size_t min_key_record = 8 + 8 + 8 + 4 + 8 + 4 + 4 + 8 * 4 + 4;

std::string version_line() { return std::string(magic) + std::to_string(cache_version) + "\n"; }

std::string encode_body(const CacheEntry& e) {
  std::string out;
  put_str(out, e.envelope);
  put_str(out, e.body);
  put_str(out, e.bodystructure);
  put_str(out, e.header);
  return out;
}

std::string encode_references(const std::vector<std::string>& refs) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(refs.size()));
  for (const auto& r : refs) put_str(out, r);
  return out;
}

void put_keys(std::string& out, const CacheKeys& k) {
  const std::size_t at = out.size();
  put_u32(out, 0);  // length, set below
  put_u64(out, k.file_size);
  put_u64(out, static_cast<std::uint64_t>(k.mtime_ns));
  put_u64(out, k.crlf_size);
  put_u32(out, (k.has_header ? 1u : 0u) | (k.has_date ? 2u : 0u) | (k.reply ? 4u : 0u));
  put_u64(out, static_cast<std::uint64_t>(k.date));
  put_u32(out, k.body_length);
  put_u32(out, k.body_crc);
  for (std::string_view s : {k.base, k.subject, k.from, k.to, k.cc, k.display_from, k.display_to, k.message_id})
    put_str(out, s);
  out.append(k.references.empty() ? std::string_view("\0\0\0\0", 4) : k.references);
  const auto length = static_cast<std::uint32_t>(out.size() - at - 4);
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((length >> (8 * i)) & 0xff);
}

}  // namespace

CacheKeys keys_of(const CacheEntry& e, std::string& references) {
  references = encode_references(e.facts.references);
  CacheKeys k;
  k.base = e.base;
  k.file_size = e.file_size;
  k.mtime_ns = e.mtime_ns;
  k.crlf_size = e.crlf_size;
  k.has_header = e.has_header;
  k.has_date = e.facts.has_date;
  k.reply = e.facts.reply;
  k.date = e.facts.date;
  k.subject = e.facts.subject;
  k.from = e.facts.from;
  k.to = e.facts.to;
  k.cc = e.facts.cc;
  k.display_from = e.facts.display_from;
  k.display_to = e.facts.display_to;
  k.message_id = e.facts.message_id;
  k.references = references;
  return k;
}

std::size_t cache_header_bytes() { return version_line().size() + header_bytes; }

std::uint64_t cache_entry_id(std::string_view base, std::uint64_t file_size) {
  return XXH3_64bits_withSeed(base.data(), base.size(), file_size);
}

std::uint64_t cache_ranks_bytes(std::uint32_t count) { return std::uint64_t{count} * (8 + 4 * cache_rank_keys); }

std::string_view rank_key_of(const CacheKeys& k, CacheRankKey key) {
  switch (key) {
    case CacheRankKey::subject: return k.subject;
    case CacheRankKey::from: return k.from;
    case CacheRankKey::to: return k.to;
    case CacheRankKey::cc: return k.cc;
    case CacheRankKey::display_from: return k.display_from;
    case CacheRankKey::display_to: return k.display_to;
  }
  return {};
}

namespace {

// The rank section for `keys` (in file order): ids, then a rank column per
// key. Ranks order the strings as SORT compares them (bytewise, the keys
// being i;ascii-casemap upper-cased already: imapd/sort.cpp sort_order).
std::string format_ranks(const std::vector<CacheKeys>& keys) {
  const auto n = static_cast<std::uint32_t>(keys.size());
  std::string out;
  out.reserve(static_cast<std::size_t>(cache_ranks_bytes(n)));
  for (const CacheKeys& k : keys) put_u64(out, cache_entry_id(k.base, k.file_size));
  std::vector<std::uint32_t> order(n), rank(n);
  for (int c = 0; c < cache_rank_keys; ++c) {
    const auto key = static_cast<CacheRankKey>(c);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return rank_key_of(keys[a], key) < rank_key_of(keys[b], key); });
    std::uint32_t r = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i > 0 && rank_key_of(keys[order[i - 1]], key) != rank_key_of(keys[order[i]], key)) ++r;
      rank[order[i]] = r;
    }
    for (std::uint32_t v : rank) put_u32(out, v);
  }
  return out;
}

std::uint64_t hash_of(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }
// The header's own check: the low 32 bits of its XXH3-64 (not zlib's CRC-32,
// so that SORT from the rank section needs no zlib loaded).
std::uint32_t header_check(std::string_view s) { return static_cast<std::uint32_t>(hash_of(s)); }

}  // namespace

std::string format_cache(const std::vector<const CacheEntry*>& entries) {
  std::string keys, bodies;
  std::vector<std::string> refs(entries.size());
  std::vector<CacheKeys> all;
  all.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    CacheKeys k = keys_of(*entries[i], refs[i]);
    const std::string body = encode_body(*entries[i]);
    k.body_length = static_cast<std::uint32_t>(body.size());
    k.body_crc = crc_of(body);
    put_keys(keys, k);
    bodies += body;
    all.push_back(k);
  }
  const std::string ranks = format_ranks(all);
  std::string header;
  put_u32(header, static_cast<std::uint32_t>(entries.size()));
  put_u64(header, keys.size());
  put_u64(header, bodies.size());
  put_u32(header, crc_of(keys));
  put_u64(header, hash_of(ranks));
  put_u32(header, header_check(header));
  std::string out = version_line();
  out.reserve(out.size() + header.size() + ranks.size() + keys.size() + bodies.size());
  out += header;
  out += ranks;
  out += keys;
  out += bodies;
  return out;
}

lib::Result<CacheHeader> parse_cache_header(std::string_view data, std::uint64_t file_size, const std::string& path) {
  const auto bad = [&](std::string what) { return lib::permanent_error(path + ": " + what); };
  if (data.substr(0, magic.size()) != magic) return bad("not an imapd cache file (no \"imapd-cache\" line)");
  const std::size_t eol = data.find('\n');
  if (eol == std::string_view::npos || eol > magic.size() + 10) return bad("no version line");
  const std::string_view version = data.substr(magic.size(), eol - magic.size());
  if (version != std::to_string(cache_version))
    return bad("version " + std::string(version) + " (this imapd uses version " + std::to_string(cache_version) +
               ")");
  Cursor c(data.substr(eol + 1));
  CacheHeader h;
  h.count = static_cast<std::uint32_t>(c.u(4));
  h.keys_length = c.u(8);
  h.bodies_length = c.u(8);
  h.keys_crc = static_cast<std::uint32_t>(c.u(4));
  h.ranks_hash = c.u(8);
  const std::uint64_t crc = c.u(4);
  if (c.failed()) return bad("truncated in the header");
  if (header_check(data.substr(eol + 1, header_bytes - 4)) != crc) return bad("checksum mismatch in the header");
  const std::uint64_t start = eol + 1 + header_bytes;
  const std::uint64_t ranks = cache_ranks_bytes(h.count);
  if (h.keys_length > file_size || h.bodies_length > file_size || ranks > file_size ||
      start + ranks + h.keys_length + h.bodies_length != file_size)
    return bad("the header describes " + std::to_string(start + ranks + h.keys_length + h.bodies_length) +
               " bytes, the file has " + std::to_string(file_size) + " (truncated or trailing bytes)");
  if (h.count > h.keys_length / (4 + min_key_record))
    return bad("header counts " + std::to_string(h.count) + " records, more than the file can hold");
  return h;
}

lib::Result<void> check_cache_ranks(std::string_view ranks, const CacheHeader& header, const std::string& path) {
  const auto bad = [&](std::string what) { return lib::permanent_error(path + ": " + what); };
  if (ranks.size() != cache_ranks_bytes(header.count)) return bad("rank section truncated");
  if (hash_of(ranks) != header.ranks_hash) return bad("checksum mismatch in the rank section");
  return {};
}

lib::Result<std::vector<CacheKeys>> parse_cache_keys(std::string_view keys, const CacheHeader& header,
                                                     const std::string& path) {
  std::vector<CacheKeys> out;
  out.reserve(header.count);
  auto r = parse_cache_keys(
      keys, header, path, [](void* v, const CacheKeys& k) { static_cast<std::vector<CacheKeys>*>(v)->push_back(k); },
      &out);
  if (!r) return r.error();
  return out;
}

lib::Result<void> parse_cache_keys(std::string_view keys, const CacheHeader& header, const std::string& path,
                                   void (*sink)(void* context, const CacheKeys& keys), void* context) {
  const auto bad = [&](std::string what) { return lib::permanent_error(path + ": " + what); };
  const std::size_t base_offset = cache_header_bytes() + static_cast<std::size_t>(cache_ranks_bytes(header.count));
  if (keys.size() != header.keys_length) return bad("key section truncated");
  if (crc_of(keys) != header.keys_crc) return bad("checksum mismatch in the key section");
  Cursor c(keys);
  std::uint64_t body_offset = 0;
  for (std::uint32_t i = 0; i < header.count; ++i) {
    const std::size_t at = base_offset + c.pos();
    const auto where = [&] { return "record " + std::to_string(i + 1) + " at byte " + std::to_string(at); };
    const std::uint64_t length = c.u(4);
    const std::string_view payload = c.bytes(static_cast<std::size_t>(length));
    if (c.failed()) return bad("truncated in " + where());
    Cursor p(payload);
    CacheKeys k;
    k.file_size = p.u(8);
    k.mtime_ns = static_cast<std::int64_t>(p.u(8));
    k.crlf_size = p.u(8);
    const std::uint64_t flags = p.u(4);
    k.has_header = (flags & 1u) != 0;
    k.has_date = (flags & 2u) != 0;
    k.reply = (flags & 4u) != 0;
    k.date = static_cast<std::int64_t>(p.u(8));
    k.body_length = static_cast<std::uint32_t>(p.u(4));
    k.body_crc = static_cast<std::uint32_t>(p.u(4));
    for (std::string_view* s :
         {&k.base, &k.subject, &k.from, &k.to, &k.cc, &k.display_from, &k.display_to, &k.message_id})
      *s = p.bytes(static_cast<std::size_t>(p.u(4)));
    const std::size_t refs_at = p.pos();
    const std::uint64_t n = p.u(4);
    if (p.failed() || n > payload.size() / 4) return bad(where() + " has malformed fields");
    for (std::uint64_t r = 0; r < n && !p.failed(); ++r) (void)p.bytes(static_cast<std::size_t>(p.u(4)));
    if (p.failed() || !p.at_end() || (flags & ~std::uint64_t{7}) != 0)
      return bad(where() + " has malformed fields");
    k.references = payload.substr(refs_at);
    if (k.base.empty() || k.base.find('/') != std::string_view::npos || k.base.find(':') != std::string_view::npos ||
        k.body_length < 16 || k.body_length > max_record_bytes || (!k.has_date && k.date != 0))
      return bad(where() + " has invalid values");
    k.body_offset = body_offset;
    body_offset += k.body_length;
    sink(context, k);
  }
  if (!c.at_end()) return bad(std::to_string(keys.size() - c.pos()) + " bytes after the last key record");
  if (body_offset != header.bodies_length)
    return bad("the key records describe " + std::to_string(body_offset) + " body bytes, the header " +
               std::to_string(header.bodies_length));
  return {};
}

bool decode_cache_body(std::string_view record, const CacheKeys& k, CacheEntry& e) {
  if (record.size() != k.body_length || crc_of(record) != k.body_crc) return false;
  Cursor p(record);
  e.envelope = p.str();
  e.body = p.str();
  e.bodystructure = p.str();
  e.header = p.str();
  if (p.failed() || !p.at_end() || e.envelope.empty() || e.body.empty() || e.bodystructure.empty() ||
      e.header.size() > cache_max_header_bytes || (!k.has_header && !e.header.empty()))
    return false;
  e.base = std::string(k.base);
  e.file_size = k.file_size;
  e.mtime_ns = k.mtime_ns;
  e.crlf_size = k.crlf_size;
  e.has_header = k.has_header;
  HeaderFacts& f = e.facts;
  f.has_date = k.has_date;
  f.reply = k.reply;
  f.date = k.date;
  f.subject = std::string(k.subject);
  f.from = std::string(k.from);
  f.to = std::string(k.to);
  f.cc = std::string(k.cc);
  f.display_from = std::string(k.display_from);
  f.display_to = std::string(k.display_to);
  f.message_id = std::string(k.message_id);
  f.references.clear();
  k.for_each_reference([&](std::string_view r) { f.references.emplace_back(r); });
  return true;
}

lib::Result<std::vector<CacheEntry>> parse_cache(std::string_view data, const std::string& path) {
  auto header = parse_cache_header(data, data.size(), path);
  if (!header) return header.error();
  const std::size_t ranks_length = static_cast<std::size_t>(cache_ranks_bytes(header->count));
  const std::string_view ranks = data.substr(cache_header_bytes(), ranks_length);
  if (auto r = check_cache_ranks(ranks, *header, path); !r) return r.error();
  const std::size_t start = cache_header_bytes() + ranks_length;
  auto keys = parse_cache_keys(data.substr(start, static_cast<std::size_t>(header->keys_length)), *header, path);
  if (!keys) return keys.error();
  // The ranks must be those of these keys (a file has one spelling).
  if (format_ranks(*keys) != ranks)
    return lib::permanent_error(path + ": the rank section does not order the key section's records");
  const std::string_view bodies = data.substr(start + static_cast<std::size_t>(header->keys_length));
  std::vector<CacheEntry> out;
  out.reserve(keys->size());
  std::unordered_set<std::string_view> seen;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const CacheKeys& k = (*keys)[i];
    if (!seen.insert(k.base).second) return lib::permanent_error(path + ": message " + std::string(k.base) + " appears twice");
    CacheEntry e;
    if (!decode_cache_body(bodies.substr(static_cast<std::size_t>(k.body_offset), k.body_length), k, e))
      return lib::permanent_error(path + ": body record " + std::to_string(i + 1) + " at byte " +
                                  std::to_string(start + header->keys_length + k.body_offset) +
                                  " fails its checksum or has malformed fields");
    out.push_back(std::move(e));
  }
  return out;
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

}  // namespace imapd
