// imapd/mailbox_cache.hpp: the per-mailbox cache, "imapd-cache" in each
// folder's directory beside Courier's courierimapuiddb (issue 15 item 2).
//
// For each message it keeps what FETCH ENVELOPE, BODY, BODYSTRUCTURE,
// RFC822.SIZE and BODY.PEEK[HEADER...], and SEARCH/SORT/THREAD on header
// fields, would otherwise read and parse from the file every session: the
// rendered ENVELOPE, BODY and BODYSTRUCTURE, the CRLF size and the top-level
// header block.
//
// Never trusted blindly:
// - an entry is keyed by the message's base name (the unique part before
//   ":2,"), its file size and its mtime in nanoseconds; a file whose size or
//   mtime differ (replaced under the same name) is read again; except that
//   when the base name carries ",S=NNN" and NNN is the entry's file size,
//   the entry is used without a stat: the maildir rule that a message's
//   content never changes under its name is trusted (a file rewritten in
//   place, or replaced under the same name with ",S=" left as it was, is
//   then served from the old entry until the cache file is deleted);
// - the file starts with a version line and a header with its own check (XXH3)
//   that gives the record count and the lengths and checksums of its
//   sections: the file is refused unless its size is exactly what the
//   header says. The rank section (per record: an id, XXH3-64 of its base
//   name and file size, and its rank by each string sort key, worked out
//   when the file is written) is all SORT by those keys reads: checked by
//   its XXH3-64, used only for messages whose ",S=" name and size give the
//   record's id (else SORT uses the key section). The key section (each message's base name, file size and
//   mtime, CRLF size, and the facts SORT and THREAD use) is read and checked
//   alone when a folder's cache is first needed; the body section (ENVELOPE,
//   BODY, BODYSTRUCTURE, header block; a CRC-32 per record, kept in the
//   key section) is read in one more read(2) only when FETCH or SEARCH asks
//   for one of those, each record checked on first use. A file of another
//   version, truncated, garbled or with trailing bytes is dropped whole
//   (with a log line naming it) and rebuilt; a body record that fails its
//   check drops that entry (the message is read again) and the file is
//   rewritten at close.
//   The file is read with read(2), never mapped: another session renaming a
//   new file over it cannot fault this one (it keeps reading the file it
//   opened).
// It is written through lib::write_file_atomically (a temporary in the
// folder's tmp/, then rename): a reader sees one writer's whole file. Two
// sessions on one folder each write what they know; the last writer wins,
// and both stay correct since every entry is checked against the file before
// use. Courier-IMAP does not know the name and leaves it alone. Entries of
// messages no longer in the folder are dropped when the file is written,
// which is only when that pays (MailboxCache::worth_writing): a few misses
// are read from the message files by each session instead.
// Deleting the file is always safe: the next session rebuilds it.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {

inline constexpr std::string_view cache_file_name = "imapd-cache";
// The first line of the file; another version is rebuilt.
inline constexpr std::uint32_t cache_version = 3;
// Larger top-level headers are not kept (their header searches read the file).
inline constexpr std::size_t cache_max_header_bytes = 64 * 1024;
// Misses that make a session write the file whatever the folder's size
// (MailboxCache::worth_writing).
inline constexpr std::size_t cache_rewrite_misses = 64;
// A cache file above this size is refused (and rebuilt).
inline constexpr std::size_t cache_max_file_bytes = 512u * 1024 * 1024;

// What SORT and THREAD take from the header (imapd/sort.hpp SortFacts,
// imapd/thread.hpp ThreadMessage), worked out once: no header is parsed
// when they run from the cache.
struct HeaderFacts {
  bool has_date = false;    // a valid Date: (else INTERNALDATE is used)
  std::int64_t date = 0;    // Date: in UTC
  std::string subject;      // base subject, upper-cased ASCII
  bool reply = false;       // the subject had a reply or forward marker
  std::string from, to, cc, display_from, display_to;
  std::string message_id;
  std::vector<std::string> references;
  friend bool operator==(const HeaderFacts&, const HeaderFacts&) = default;
};

struct CacheEntry {
  std::string base;             // Maildir base name (before ':')
  std::uint64_t file_size = 0;  // key: st_size
  std::int64_t mtime_ns = 0;    // key: st_mtim in nanoseconds
  std::uint64_t crlf_size = 0;  // RFC822.SIZE
  std::string envelope;         // "(" ... ")" as FETCH ENVELOPE renders it
  std::string body;             // FETCH BODY
  std::string bodystructure;    // FETCH BODYSTRUCTURE
  bool has_header = false;      // header is the top-level header (else too large)
  std::string header;           // header block, CRLF form, with its blank line
  HeaderFacts facts;            // for SORT and THREAD

  bool matches(std::uint64_t size, std::int64_t mtime) const { return file_size == size && mtime_ns == mtime; }
  friend bool operator==(const CacheEntry&, const CacheEntry&) = default;
};

// One entry's key record: what SORT and THREAD need, as views into the
// loaded key section (or into an entry made this session), so that a
// folder's keys load with no per-field allocation.
struct CacheKeys {
  std::string_view base;
  std::uint64_t file_size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t crlf_size = 0;
  bool has_header = false;
  bool has_date = false;
  bool reply = false;
  std::int64_t date = 0;
  std::string_view subject, from, to, cc, display_from, display_to, message_id;
  // The references as stored: u32 count, then u32 length + bytes each
  // (already checked); for_each_reference walks them.
  std::string_view references;
  // The body record in the body section.
  std::uint64_t body_offset = 0;
  std::uint32_t body_length = 0;
  std::uint32_t body_crc = 0;

  bool matches(std::uint64_t size, std::int64_t mtime) const { return file_size == size && mtime_ns == mtime; }
  template <typename F>
  void for_each_reference(F&& f) const {
    auto u32 = [&](std::size_t at) {
      std::uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(references[at + i])} << (8 * i);
      return v;
    };
    if (references.size() < 4) return;
    const std::uint32_t n = u32(0);
    std::size_t at = 4;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t len = u32(at);
      f(references.substr(at + 4, len));
      at += 4 + len;
    }
  }
};

// The file's fixed start: version line and header.
struct CacheHeader {
  std::uint32_t count = 0;
  std::uint64_t keys_length = 0;
  std::uint64_t bodies_length = 0;
  std::uint32_t keys_crc = 0;
  std::uint64_t ranks_hash = 0;
};

// The string sort keys the rank section ranks records by, in its column
// order (imapd/sort.hpp SortKey names the same keys).
enum class CacheRankKey { subject, from, to, cc, display_from, display_to };
inline constexpr int cache_rank_keys = 6;
std::string_view rank_key_of(const CacheKeys& keys, CacheRankKey key);
// A record's id in the rank section: XXH3-64 of its base name, seeded with
// its file size.
std::uint64_t cache_entry_id(std::string_view base, std::uint64_t file_size);
// Bytes of the rank section for `count` records (it follows the header).
std::uint64_t cache_ranks_bytes(std::uint32_t count);
// Checks the rank section's length and XXH3-64 (its ranks are used only
// as bounds-checked numbers: the caller checks each is below count).
lib::Result<void> check_cache_ranks(std::string_view ranks, const CacheHeader& header, const std::string& path);
// Bytes of the version line plus the header.
std::size_t cache_header_bytes();
// Checks the version line and header (`data` holds at least
// cache_header_bytes(), or the whole file when shorter) against the file's
// size. Errors are prefixed by `path`.
lib::Result<CacheHeader> parse_cache_header(std::string_view data, std::uint64_t file_size, const std::string& path);
// Checks the key section (its CRC-32 and every record; it follows the rank
// section) and returns one
// CacheKeys per record, viewing `keys`; body_offset is relative to the
// start of the body section. Errors name `path` and the byte offset.
lib::Result<std::vector<CacheKeys>> parse_cache_keys(std::string_view keys, const CacheHeader& header,
                                                     const std::string& path);
// The same, handing each record to `sink` as it is checked (no vector).
lib::Result<void> parse_cache_keys(std::string_view keys, const CacheHeader& header, const std::string& path,
                                   void (*sink)(void* context, const CacheKeys& keys), void* context);
// Decodes and checks one body record (`record`, the keys' body bytes) into
// `entry`'s envelope, body, bodystructure and header; false: its CRC-32 or
// fields are wrong.
bool decode_cache_body(std::string_view record, const CacheKeys& keys, CacheEntry& entry);
// The keys of an entry, viewing it; `references` receives the encoded
// references that keys.references views.
CacheKeys keys_of(const CacheEntry& entry, std::string& references);

// HeaderFacts as bytes and back; false: malformed.
std::string encode_facts(const HeaderFacts& facts);
bool decode_facts(std::string_view data, HeaderFacts& facts);

// The file's bytes for `entries` (in the given order).
std::string format_cache(const std::vector<const CacheEntry*>& entries);
// Parses a cache file; errors say what is wrong and where (byte offset),
// prefixed by `path`: another version, truncated, a record's checksum,
// length or fields, trailing bytes, a base name seen twice.
lib::Result<std::vector<CacheEntry>> parse_cache(std::string_view data, const std::string& path);

std::int64_t mtime_ns_of(const struct stat& st);

// Frees MailboxCache's section buffers (munmap).
struct CacheBufferUnmap {
  std::size_t length = 0;
  void operator()(char* p) const;
};
// Anonymous memory of its own mapping (given back whole when the cache
// goes, never left pinning heap pages): `bytes` rounded up to pages;
// cache_unmap takes the same count.
void* cache_map(std::size_t bytes);
void cache_unmap(void* p, std::size_t bytes);
// For the vector of a loaded file's slots (megabytes for a big folder).
template <typename T>
struct CacheAllocator {
  using value_type = T;
  CacheAllocator() = default;
  template <typename U>
  CacheAllocator(const CacheAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(cache_map(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { cache_unmap(p, n * sizeof(T)); }
  friend bool operator==(const CacheAllocator&, const CacheAllocator&) { return true; }
};

// One folder's cache, loaded on first use and written back by flush().
class MailboxCache {
 public:
  explicit MailboxCache(std::string folder_dir);

  const std::string& path() const { return path_; }

  // The entry for `base` if it holds for a file of this size and mtime;
  // else null. Loads the file on first call (the key section; the body
  // section when an entry is first asked for).
  const CacheEntry* find(std::string_view base, std::uint64_t size, std::int64_t mtime_ns);
  // The entry for `base` whatever its key (null if none): for a message
  // whose file is gone, which can no longer be checked (Mailbox::cached_gone).
  const CacheEntry* find_unchecked(std::string_view base);
  // The entry for `base` if it was made from a file of `size` bytes (the
  // name's ",S="; no mtime compared); else null.
  const CacheEntry* find_named(std::string_view base, std::uint64_t size, std::size_t hint = no_hint);
  // The keys alone (SORT, THREAD): no body record read. Unchecked: the
  // caller compares file_size/mtime_ns as find() and find_named() do.
  // `hint`: where the entry likely is (the message's sequence index: the
  // file is written in the folder's order), tried before the hash index,
  // which is built only when a hint misses.
  const CacheKeys* keys(std::string_view base, std::size_t hint = no_hint);
  static constexpr std::size_t no_hint = static_cast<std::size_t>(-1);
  // SORT by a string key without the key section: the file's rank section,
  // read and checked alone on first call (the file as it is now, not
  // necessarily the one load() read). null when the file has none or it
  // fails its check (no log line: load() says what is wrong when the keys
  // are needed). A record is message `base` of `size` bytes when its id is
  // cache_entry_id(base, size).
  struct Ranks {
    std::uint32_t count = 0;
    const unsigned char* ids = nullptr;                    // count x u64, little-endian
    const unsigned char* columns[cache_rank_keys] = {};    // count x u32 each
    std::uint64_t id(std::uint32_t i) const;
    std::uint32_t rank(CacheRankKey key, std::uint32_t i) const;
    // The record with this id, or count: tries `hint` first, then an
    // index built on first miss.
    std::uint32_t find(std::uint64_t id, std::size_t hint) const;
    mutable std::unordered_map<std::uint64_t, std::uint32_t> index;
    mutable bool indexed = false;
  };
  const Ranks* ranks();
  // Adds or replaces an entry (made from the message's file).
  const CacheEntry* put(CacheEntry entry);

  // Reads the file now if not yet read (so that flush() prunes it).
  void load_if_needed() {
    if (!loaded_) load();
  }
  // Entries added since the last write.
  std::size_t pending() const { return pending_; }
  // Writes the file when that pays (worth_writing): only entries of
  // `present` bases (the messages in the folder). When another session
  // rewrote the file since it was loaded, its entries for present messages
  // are kept too, and the decision is made against that file. Errors name
  // the file and errno text (callers log them: a cache that cannot be
  // written costs speed, nothing else).
  lib::Result<void> flush(const std::vector<std::string_view>& present);
  // What a write would change, for worth_writing: `missing` present
  // messages whose entry the file lacks (or holds for other content),
  // `stale` entries of messages no longer present, out of `records`.
  struct Drift {
    std::size_t missing = 0, stale = 0, records = 0;
  };
  // Whether to replace a usable file of `present` messages that drifted
  // this much: when the messages read from their files are 1/8 of the
  // folder or cache_rewrite_misses, or entries of gone messages 1/4 of the
  // file (each session parses the misses; writing the whole file, a new
  // inode, is dearer for a few). A missing or unusable file is always
  // written when there is an entry to write.
  static bool worth_writing(const Drift& drift, std::size_t present);

 private:
  struct Slot {
    CacheKeys keys;                      // views: key section, or *entry
    std::unique_ptr<CacheEntry> entry;   // decoded on first use, or put()
    std::string references;              // keys.references of a put() entry
    bool bad = false;                    // its body record failed its check
    bool fresh = false;                  // put() since the file was last written
  };
  void load();
  bool load_bodies();
  Slot* slot(std::string_view base, std::size_t hint = no_hint);
  void build_index();
  const CacheEntry* entry_of(Slot& s);
  void adopt(CacheEntry entry);
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    std::int64_t mtime_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  Identity identity() const;

  std::string folder_dir_;
  std::string path_;
  bool loaded_ = false;
  bool dropped_ = false;  // the file on disk was (partly) unusable: rewrite it
  Identity loaded_identity_;
  // The file as loaded: its descriptor (for the body section), key section.
  lib::UniqueFd fd_;
  // Anonymous memory for a section read (its own mapping, unmapped whole
  // when the cache goes).
  using Buffer = std::unique_ptr<char, CacheBufferUnmap>;
  static Buffer allocate(std::size_t n);
  Buffer keys_data_;
  std::uint64_t bodies_at_ = 0, bodies_length_ = 0;
  bool bodies_tried_ = false;
  Buffer bodies_data_;
  bool ranks_tried_ = false;
  Buffer ranks_data_;
  Ranks ranks_;
  // The file's entries in its order (one vector, sized once), then those
  // put() this session (a deque): slots never move. Slots of messages gone
  // are marked bad.
  class Slots {
   public:
    void reserve_file(std::size_t n) { file_.reserve(n); }
    Slot& add_file() { return file_.emplace_back(); }  // while loading only
    Slot& add() { return more_.emplace_back(); }
    std::size_t size() const { return file_.size() + more_.size(); }
    Slot& operator[](std::size_t i) { return i < file_.size() ? file_[i] : more_[i - file_.size()]; }
    void clear() {
      file_.clear();
      more_.clear();
    }

   private:
    std::vector<Slot, CacheAllocator<Slot>> file_;
    std::deque<Slot> more_;
  };
  Slots slots_;
  std::unordered_map<std::string_view, std::size_t> index_;  // base -> slot
  bool indexed_ = false;
  std::deque<std::string> names_;  // base names of put() entries
  std::size_t pending_ = 0;
};

}  // namespace imapd
