// imapd/mailbox_cache.cpp: loading and writing imapd-cache
// (imapd/mailbox_cache.hpp), and the Mailbox members that answer from it.
#include "imapd/mailbox_cache.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <unordered_set>

#include "imapd/fetch.hpp"
#include "imapd/mailbox.hpp"
#include "imapd/sort.hpp"
#include "imapd/thread.hpp"
#include "imapd/zlib_library.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"

namespace imapd {

MailboxCache::MailboxCache(std::string folder_dir)
    : folder_dir_(std::move(folder_dir)), path_(folder_dir_ + "/" + std::string(cache_file_name)) {}

MailboxCache::Identity MailboxCache::identity() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size, mtime_ns_of(st)};
}

namespace {

// Reads exactly `n` bytes at `offset`; false on a short file or an error.
bool pread_all(int fd, char* out, std::size_t n, std::uint64_t offset, int& err) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r < 0 ? errno : 0;
      return false;
    }
    out += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

}  // namespace

namespace {
// Whole pages, no huge pages: a session keeps its cache while the folder is
// selected, and 2 MiB pages would keep 2 MiB resident per section even for
// a small folder (an idle session after FETCH ENVELOPE of 1,000 messages
// measured 7.8 MiB with them, 2.5 MiB without: bench/access/README.md).
std::size_t mapped_length(std::size_t bytes) {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (std::max<std::size_t>(bytes, 1) + page - 1) / page * page;
}
}  // namespace

void* cache_map(std::size_t bytes) {
  // MAP_POPULATE: the pages are filled at once (one call, not a fault per
  // page); a read() fills them all anyway.
  void* p = ::mmap(nullptr, mapped_length(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

void cache_unmap(void* p, std::size_t bytes) {
  if (p) ::munmap(p, mapped_length(bytes));
}

void CacheBufferUnmap::operator()(char* p) const { cache_unmap(p, length); }

MailboxCache::Buffer MailboxCache::allocate(std::size_t n) {
  return Buffer(static_cast<char*>(cache_map(n)), CacheBufferUnmap{n});
}

// Reads the header and the key section only; the body section waits for
// the first entry asked for (load_bodies).
void MailboxCache::load() {
  loaded_ = true;
  const auto rebuild = [&](const std::string& why) {
    lib::log::warning("cache file %s; rebuilding it (the file is only a cache: deleting it is safe)", why.c_str());
    dropped_ = true;
    slots_.clear();
    index_.clear();
    fd_.reset();
  };
  lib::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return;  // none yet
    rebuild(path_ + ": cannot open: " + lib::errno_text(errno));
    return;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    rebuild(path_ + ": cannot stat: " + lib::errno_text(errno));
    return;
  }
  loaded_identity_ = {st.st_dev, st.st_ino, st.st_size, mtime_ns_of(st)};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || size > cache_max_file_bytes) {
    rebuild(path_ + ": not a regular file of at most " + std::to_string(cache_max_file_bytes) + " bytes");
    return;
  }
  int err = 0;
  std::string head(std::min<std::uint64_t>(size, cache_header_bytes()), '\0');
  if (!pread_all(fd.get(), head.data(), head.size(), 0, err)) {
    rebuild(path_ + ": cannot read: " + (err ? lib::errno_text(err) : std::string("short file")));
    return;
  }
  auto header = parse_cache_header(head, size, path_);
  if (!header) {
    rebuild(header.error().message);
    return;
  }
  // The rank section is checked when SORT reads it (ranks()); the keys follow it.
  const std::uint64_t keys_at = head.size() + cache_ranks_bytes(header->count);
  keys_data_ = allocate(header->keys_length);
  if (!pread_all(fd.get(), keys_data_.get(), header->keys_length, keys_at, err)) {
    rebuild(path_ + ": cannot read: " + (err ? lib::errno_text(err) : std::string("short file")));
    return;
  }
  slots_.reserve_file(header->count);
  auto keys = parse_cache_keys(
      std::string_view(keys_data_.get(), header->keys_length), *header, path_,
      [](void* self, const CacheKeys& k) { static_cast<MailboxCache*>(self)->slots_.add_file().keys = k; }, this);
  if (!keys) {
    rebuild(keys.error().message);
    return;
  }
  // Duplicates: parse_cache_keys does not look (parse_cache does); the
  // index finds them when it is built.
  bodies_at_ = keys_at + header->keys_length;
  bodies_length_ = header->bodies_length;
  fd_ = std::move(fd);
}

bool MailboxCache::load_bodies() {
  if (bodies_tried_) return bodies_data_ != nullptr;
  bodies_tried_ = true;
  if (!fd_) return false;
  Buffer data = allocate(bodies_length_);
  int err = 0;
  if (!pread_all(fd_.get(), data.get(), bodies_length_, bodies_at_, err)) {
    lib::log::warning("cache file %s: cannot read its body section: %s; rebuilding it", path_.c_str(),
                      err ? lib::errno_text(err).c_str() : "short file");
    dropped_ = true;
    return false;
  }
  bodies_data_ = std::move(data);
  fd_.reset();  // everything is in memory now
  return true;
}

namespace {
std::uint64_t le_u64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}
std::uint32_t le_u32(const unsigned char* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}
}  // namespace

std::uint64_t MailboxCache::Ranks::id(std::uint32_t i) const { return le_u64(ids + 8 * std::size_t{i}); }

std::uint32_t MailboxCache::Ranks::rank(CacheRankKey key, std::uint32_t i) const {
  return le_u32(columns[static_cast<int>(key)] + 4 * std::size_t{i});
}

std::uint32_t MailboxCache::Ranks::find(std::uint64_t want, std::size_t hint) const {
  if (hint < count && id(static_cast<std::uint32_t>(hint)) == want) return static_cast<std::uint32_t>(hint);
  if (!indexed) {
    indexed = true;
    index.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i)
      if (!index.try_emplace(id(i), i).second) index[id(i)] = count;  // an id twice: neither is used
  }
  auto it = index.find(want);
  return it == index.end() ? count : it->second;
}

// The header and the rank section alone: SORT by string keys reads
// count x 32 bytes, not the key section.
const MailboxCache::Ranks* MailboxCache::ranks() {
  if (ranks_tried_) return ranks_data_ ? &ranks_ : nullptr;
  ranks_tried_ = true;
  lib::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) > cache_max_file_bytes)
    return nullptr;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  int err = 0;
  std::string head(std::min<std::uint64_t>(size, cache_header_bytes()), '\0');
  if (!pread_all(fd.get(), head.data(), head.size(), 0, err)) return nullptr;
  auto header = parse_cache_header(head, size, path_);
  if (!header) return nullptr;
  const auto length = static_cast<std::size_t>(cache_ranks_bytes(header->count));
  Buffer data = allocate(length);
  if (!pread_all(fd.get(), data.get(), length, head.size(), err)) return nullptr;
  if (auto checked = check_cache_ranks(std::string_view(data.get(), length), *header, path_); !checked) {
    // The rest may be fine: SORT falls back to the keys, and the file is
    // written again (with ranks) when the folder is closed.
    lib::log::warning("cache file %s; rebuilding it (the file is only a cache: deleting it is safe)",
                      checked.error().message.c_str());
    dropped_ = true;
    return nullptr;
  }
  Ranks r;
  r.count = header->count;
  const auto* base = reinterpret_cast<const unsigned char*>(data.get());
  r.ids = base;
  for (int c = 0; c < cache_rank_keys; ++c) r.columns[c] = base + std::size_t{r.count} * (8 + 4 * c);
  // Ranks index SORT's buckets: each below the count, or the section is unused.
  for (int c = 0; c < cache_rank_keys; ++c)
    for (std::uint32_t i = 0; i < r.count; ++i)
      if (r.rank(static_cast<CacheRankKey>(c), i) >= r.count) {
        lib::log::warning("cache file %s: a rank in its rank section is beyond its %u records; rebuilding it (the "
                          "file is only a cache: deleting it is safe)", path_.c_str(), r.count);
        dropped_ = true;
        return nullptr;
      }
  ranks_data_ = std::move(data);
  ranks_ = std::move(r);
  return &ranks_;
}

void MailboxCache::build_index() {
  indexed_ = true;
  index_.reserve(slots_.size());
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].bad) continue;
    auto [it, fresh] = index_.try_emplace(slots_[i].keys.base, i);
    if (!fresh) {  // a base name twice: the file is not one writer's
      lib::log::warning("cache file %s: message %s appears twice; rebuilding it (the file is only a cache: "
                        "deleting it is safe)", path_.c_str(), std::string(slots_[i].keys.base).c_str());
      slots_[i].bad = slots_[it->second].bad = true;
      dropped_ = true;
    }
  }
}

MailboxCache::Slot* MailboxCache::slot(std::string_view base, std::size_t hint) {
  if (!loaded_) load();
  // The slot at the hint holds an entry for this very name, checked as any
  // other (a base name twice in a file, which no imapd writes, is found
  // when the index is built, and both slots are then refused).
  if (hint < slots_.size() && !slots_[hint].bad && slots_[hint].keys.base == base) return &slots_[hint];
  if (!indexed_) build_index();
  auto it = index_.find(base);
  return it == index_.end() || slots_[it->second].bad ? nullptr : &slots_[it->second];
}

// The slot's full entry: its body record decoded and checked on first use.
const CacheEntry* MailboxCache::entry_of(Slot& s) {
  if (s.entry) return s.entry.get();
  auto e = std::make_unique<CacheEntry>();
  if (!load_bodies() ||
      !decode_cache_body(std::string_view(bodies_data_.get() + s.keys.body_offset, s.keys.body_length), s.keys, *e)) {
    if (bodies_data_)
      lib::log::warning("cache file %s: the body record of message %s (byte %llu) fails its checksum or has "
                        "malformed fields; rebuilding it (the file is only a cache: deleting it is safe)",
                        path_.c_str(), std::string(s.keys.base).c_str(),
                        static_cast<unsigned long long>(bodies_at_ + s.keys.body_offset));
    s.bad = true;
    dropped_ = true;
    return nullptr;
  }
  s.entry = std::move(e);
  return s.entry.get();
}

const CacheKeys* MailboxCache::keys(std::string_view base, std::size_t hint) {
  Slot* s = slot(base, hint);
  return s ? &s->keys : nullptr;
}

const CacheEntry* MailboxCache::find(std::string_view base, std::uint64_t size, std::int64_t mtime_ns) {
  Slot* s = slot(base);
  if (!s || !s->keys.matches(size, mtime_ns)) return nullptr;
  return entry_of(*s);
}

const CacheEntry* MailboxCache::find_unchecked(std::string_view base) {
  Slot* s = slot(base);
  return s ? entry_of(*s) : nullptr;
}

const CacheEntry* MailboxCache::find_named(std::string_view base, std::uint64_t size, std::size_t hint) {
  Slot* s = slot(base, hint);
  return s && s->keys.file_size == size ? entry_of(*s) : nullptr;
}

// Takes `entry` in as the slot of its base name; the map's key keeps
// viewing storage that never moves (the key section, or names_).
void MailboxCache::adopt(CacheEntry entry) {
  Slot* s = slot(entry.base);
  if (!s) {
    auto it = index_.find(std::string_view(entry.base));  // a bad slot: reused
    if (it != index_.end()) {
      s = &slots_[it->second];
    } else {
      names_.push_back(entry.base);
      s = &slots_.add();
      index_.emplace(std::string_view(names_.back()), slots_.size() - 1);
    }
  }
  if (s->entry) {
    *s->entry = std::move(entry);  // same address: MessageState::cache stays valid
  } else {
    s->entry = std::make_unique<CacheEntry>(std::move(entry));
  }
  s->keys = keys_of(*s->entry, s->references);
  s->bad = false;
}

const CacheEntry* MailboxCache::put(CacheEntry entry) {
  if (!loaded_) load();
  ++pending_;
  const std::string base = entry.base;
  adopt(std::move(entry));
  Slot* s = slot(base);
  s->fresh = true;
  return s->entry.get();
}

bool MailboxCache::worth_writing(const Drift& drift, std::size_t present) {
  if (drift.missing > 0 && (drift.missing * 8 >= present || drift.missing >= cache_rewrite_misses)) return true;
  return drift.stale > 0 && drift.stale * 4 >= drift.records;
}

lib::Result<void> MailboxCache::flush(const std::vector<std::string_view>& present) {
  if (!loaded_) return {};
  std::unordered_set<std::string_view> live(present.begin(), present.end());
  // What a write would change in the file as loaded.
  Drift drift;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.bad) continue;
    const bool here = live.count(s.keys.base) != 0;
    if (s.fresh) {
      if (here) ++drift.missing;
      continue;
    }
    ++drift.records;
    if (!here) ++drift.stale;
  }
  if (drift.missing == 0 && drift.stale == 0 && !dropped_) return {};
  // A folder this session may not write (a read-only shared folder): the
  // cache lives in memory only, and nothing is logged.
  if (::access((folder_dir_ + "/tmp").c_str(), W_OK) != 0) return {};
  // Another session wrote the file since we read it: keep what it learned
  // about messages we still have (each entry is checked before use anyway),
  // and judge what a write would change against its file.
  std::vector<CacheEntry> theirs;
  bool usable = loaded_identity_.size >= 0 && !dropped_;  // a good file is on disk
  const Identity now = identity();
  if (!(now == loaded_identity_)) {
    usable = false;
    auto data = now.size >= 0 ? lib::read_small_file(path_, cache_max_file_bytes) : std::string();
    if (data && !data->empty())
      if (auto parsed = parse_cache(*data, path_)) {
        theirs = std::move(*parsed);
        usable = true;
        drift = {};
        drift.records = theirs.size();
        std::unordered_map<std::string_view, const CacheEntry*> by_base;
        by_base.reserve(theirs.size());
        for (const auto& e : theirs) {
          by_base.emplace(e.base, &e);
          if (!live.count(e.base)) ++drift.stale;
        }
        for (std::size_t i = 0; i < slots_.size(); ++i) {
          const Slot& s = slots_[i];
          if (s.bad || !live.count(s.keys.base)) continue;
          auto it = by_base.find(s.keys.base);
          if (it == by_base.end() || !s.keys.matches(it->second->file_size, it->second->mtime_ns)) ++drift.missing;
        }
      }
  }
  // A good file that drifted a little stays: the few misses are read from
  // the message files, the few stale entries are never served.
  if (usable && !worth_writing(drift, present.size())) return {};
  std::vector<const CacheEntry*> out;
  out.reserve(live.size());
  std::unordered_set<std::string_view> written;
  // In the folder's order: the next session finds its keys in sequence.
  for (std::size_t i = 0; i < present.size(); ++i) {
    Slot* s = slot(present[i], i);
    if (!s || !written.insert(present[i]).second) continue;
    if (const CacheEntry* e = entry_of(*s)) out.push_back(e);
  }
  for (const auto& e : theirs)
    if (live.count(e.base) && written.insert(e.base).second) out.push_back(&e);
  lib::AtomicFileOptions options;
  options.temp_path = folder_dir_ + "/tmp/" + std::string(cache_file_name) + "." + std::to_string(::getpid());
  options.durable = false;  // a cache: a torn or lost file fails its CRC-32s and is rebuilt
  auto w = lib::write_file_atomically(path_, format_cache(out), options);
  if (!w) return w.error();
  // Drop what is gone from memory too; adopt the other writer's entries.
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (!slots_[i].bad && !live.count(slots_[i].keys.base))
      slots_[i].bad = true;  // its entry stays: MessageState::cache may point at it
  for (auto& e : theirs)
    if (live.count(e.base) && !slot(e.base)) adopt(std::move(e));
  for (std::size_t i = 0; i < slots_.size(); ++i) slots_[i].fresh = false;  // all in the file now
  loaded_identity_ = identity();
  pending_ = 0;
  dropped_ = false;
  return {};
}

// --- Mailbox ----------------------------------------------------------------

namespace {

// The cache's records carry zlib's CRC-32 (imapd/zlib_library.hpp): without
// zlib imapd reads the message files, as it did before the cache, and says
// so once.
bool cache_usable() {
  auto z = zlib();
  if (z) return true;
  static bool said = false;
  if (!said) lib::log::warning("the message cache is off: %s", z.error().message.c_str());
  said = true;
  return false;
}

}  // namespace

Mailbox::~Mailbox() { flush_cache(true); }

void Mailbox::flush_cache(bool closing) {
  if (closing && cache_prune_ && !cache_) {
    // Messages were expunged in this session, which never needed the cache:
    // a file that exists is rewritten without them.
    struct stat st {};
    if (::stat((dir_ + "/" + std::string(cache_file_name)).c_str(), &st) != 0 || !cache_usable()) return;
    cache_ = std::make_unique<MailboxCache>(dir_);
    cache_->load_if_needed();
  }
  if (!cache_) return;
  // While the session goes on, write only after a large batch (a FETCH 1:*
  // of a big folder); the rest is written when the folder is closed.
  if (!closing && cache_->pending() < cache_flush_batch) return;
  std::vector<std::string_view> present;
  present.reserve(messages_.size());
  for (const auto& m : messages_)
    if (!m.vanished) present.push_back(m.base());
  auto r = cache_->flush(present);
  if (!r) lib::log::warning("cannot write the message cache: %s (imapd works without it, more slowly)",
                            r.error().message.c_str());
}

const CacheEntry* Mailbox::cached_gone(std::size_t index) {
  const MessageState& m = messages_.at(index);
  if (m.cache) return m.cache;
  if (!cache_usable()) return nullptr;
  if (!cache_) cache_ = std::make_unique<MailboxCache>(dir_);
  const CacheEntry* e = cache_->find_unchecked(m.base());
  if (!e) return nullptr;
  if (m.size_known && e->file_size != m.size_bytes) return nullptr;
  if (m.internal_date != 0 && e->mtime_ns / 1000000000 != static_cast<std::int64_t>(m.internal_date)) return nullptr;
  return e;
}

const CacheEntry* Mailbox::cached(std::size_t index) {
  MessageState& m = messages_.at(index);
  if (m.vanished) return nullptr;
  if (m.cache) return m.cache;
  if (!cache_usable()) return nullptr;
  if (!cache_) cache_ = std::make_unique<MailboxCache>(dir_);
  // The name's ",S=" is the file's size for as long as the name exists
  // (maildir): an entry made from a file of that size needs no stat.
  if (m.size_in_name)
    if (const CacheEntry* e = cache_->find_named(m.base(), m.size_bytes, index)) {
      m.cache = e;
      if (!m.crlf_size) m.crlf_size = e->crlf_size;
      return e;
    }
  struct stat st {};
  auto found = stat_file(index, st);
  if (!found || !*found) {
    if (!found) lib::log::error("%s", found.error().message.c_str());
    return nullptr;
  }
  if (const CacheEntry* e = cache_->find(m.base(), static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st))) {
    m.cache = e;
    if (!m.crlf_size) m.crlf_size = e->crlf_size;
    return e;
  }
  // A miss: the message is read and parsed once, for every session after.
  auto fd = open_message(index);
  if (!fd || !*fd) {
    if (!fd) lib::log::error("%s", fd.error().message.c_str());
    return nullptr;
  }
  const std::string path = path_of(m);
  if (::fstat((*fd)->get(), &st) != 0) {  // the key of what is read
    lib::log::error("cannot stat %s: %s", path.c_str(), lib::errno_text(errno).c_str());
    return nullptr;
  }
  auto data = read_message_file((*fd)->get(), path);
  if (!data) {
    lib::log::error("%s", data.error().message.c_str());
    return nullptr;
  }
  MessageText text(*data);
  CacheEntry e;
  e.base = m.base();
  e.file_size = static_cast<std::uint64_t>(st.st_size);
  e.mtime_ns = mtime_ns_of(st);
  e.crlf_size = text.size();
  append_envelope(e.envelope, text.header());
  append_body_structure(e.body, text.mime().root, text.text(), false);
  append_body_structure(e.bodystructure, text.mime().root, text.text(), true);
  const std::string_view header = text.header_text();
  if (header.size() <= cache_max_header_bytes) {
    e.has_header = true;
    e.header = std::string(header);
  }
  {
    // Date: without a valid one, fill_* keep the sentinel.
    constexpr std::time_t none = std::numeric_limits<std::time_t>::min();
    SortFacts sf;
    sf.arrival = none;
    fill_sort_facts(sf, text.header());
    ThreadMessage tm;
    tm.date = none;
    fill_thread_message(tm, text.header());
    HeaderFacts& f = e.facts;
    f.has_date = sf.date != none;
    f.date = f.has_date ? static_cast<std::int64_t>(sf.date) : 0;
    f.subject = std::string(sf.subject);
    f.reply = tm.reply;
    f.from = std::string(sf.from);
    f.to = std::string(sf.to);
    f.cc = std::string(sf.cc);
    f.display_from = std::string(sf.display_from);
    f.display_to = std::string(sf.display_to);
    f.message_id = std::string(tm.message_id);
    f.references.assign(tm.references.begin(), tm.references.end());
  }
  m.internal_date = st.st_mtime;
  m.crlf_size = e.crlf_size;
  m.cache = cache_->put(std::move(e));
  return m.cache;
}

std::optional<std::uint32_t> Mailbox::cached_ranks(const std::vector<std::size_t>& indexes,
                                                   const std::vector<CacheRankKey>& keys,
                                                   std::vector<std::uint32_t>& out) {
  // The header and rank section are checked with XXH3: zlib (for the other
  // sections' CRC-32) is loaded only when they are needed.
  if (!cache_) cache_ = std::make_unique<MailboxCache>(dir_);
  const MailboxCache::Ranks* r = cache_->ranks();
  if (!r) return std::nullopt;
  // Each message's record: the one whose id its base name and the size in
  // its name give (as cached_keys() trusts a ",S=" name), looked for at its
  // own position first (the file is written in the folder's order).
  std::vector<std::uint32_t> records;
  records.reserve(indexes.size());
  for (std::size_t i : indexes) {
    const MessageState& m = messages_.at(i);
    if (m.vanished || !m.size_in_name) return std::nullopt;
    const std::uint32_t at = r->find(cache_entry_id(m.base(), m.size_bytes), i);
    if (at >= r->count) return std::nullopt;
    records.push_back(at);
  }
  out.resize(keys.size() * records.size());
  std::uint32_t* o = out.data();
  for (CacheRankKey key : keys)
    for (std::uint32_t at : records) *o++ = r->rank(key, at);
  return r->count;
}

// SORT and THREAD: the keys alone, checked as cached() checks an entry,
// without decoding (or reading) the body section.
const CacheKeys* Mailbox::cached_keys(std::size_t index) {
  MessageState& m = messages_.at(index);
  if (m.vanished) return nullptr;
  if (!m.cache) {
    if (!cache_usable()) return nullptr;
    if (!cache_) cache_ = std::make_unique<MailboxCache>(dir_);
    if (m.size_in_name)
      if (const CacheKeys* k = cache_->keys(m.base(), index); k && k->file_size == m.size_bytes) {
        if (!m.crlf_size) m.crlf_size = k->crlf_size;
        return k;
      }
    if (!cached(index)) return nullptr;  // a stat, or the file read on a miss
  }
  return cache_->keys(m.base(), index);
}

}  // namespace imapd
