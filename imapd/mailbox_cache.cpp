// imapd/mailbox_cache.cpp: loading and writing imapd-cache
// (imapd/mailbox_cache.hpp), and the Mailbox members that answer from it.
#include "imapd/mailbox_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

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

void MailboxCache::load() {
  loaded_ = true;
  loaded_identity_ = identity();
  if (loaded_identity_.size < 0) return;  // none yet
  int open_errno = 0;
  auto data = lib::read_small_file(path_, cache_max_file_bytes, &open_errno);
  if (!data) {
    if (open_errno == ENOENT) return;
    lib::log::warning("%s; rebuilding the cache (deleting %s is safe)", data.error().message.c_str(), path_.c_str());
    dropped_ = true;
    return;
  }
  auto parsed = parse_cache(*data, path_);
  if (!parsed) {
    lib::log::warning("cache file %s; rebuilding it (the file is only a cache: deleting it is safe)",
                      parsed.error().message.c_str());
    dropped_ = true;
    return;
  }
  entries_.reserve(parsed->size());
  for (auto& e : *parsed) {
    std::string base = e.base;
    entries_.emplace(std::move(base), std::move(e));
  }
}

const CacheEntry* MailboxCache::find(const std::string& base, std::uint64_t size, std::int64_t mtime_ns) {
  if (!loaded_) load();
  auto it = entries_.find(base);
  if (it == entries_.end() || !it->second.matches(size, mtime_ns)) return nullptr;
  return &it->second;
}

const CacheEntry* MailboxCache::find_unchecked(const std::string& base) {
  if (!loaded_) load();
  auto it = entries_.find(base);
  return it == entries_.end() ? nullptr : &it->second;
}

const CacheEntry* MailboxCache::find_named(const std::string& base, std::uint64_t size) {
  const CacheEntry* e = find_unchecked(base);
  return e && e->file_size == size ? e : nullptr;
}

const CacheEntry* MailboxCache::put(CacheEntry entry) {
  if (!loaded_) load();
  ++pending_;
  auto [it, fresh] = entries_.try_emplace(entry.base);
  it->second = std::move(entry);
  return &it->second;
}

lib::Result<void> MailboxCache::flush(const std::vector<std::string_view>& present) {
  if (!loaded_) return {};
  std::unordered_set<std::string_view> live(present.begin(), present.end());
  std::size_t stale = 0;
  for (const auto& [base, e] : entries_)
    if (!live.count(base)) ++stale;
  if (pending_ == 0 && stale == 0 && !dropped_) return {};
  // A folder this session may not write (a read-only shared folder): the
  // cache lives in memory only, and nothing is logged.
  if (::access((folder_dir_ + "/tmp").c_str(), W_OK) != 0) return {};
  // Another session wrote the file since we read it: keep what it learned
  // about messages we still have (each entry is checked before use anyway).
  std::vector<CacheEntry> theirs;
  const Identity now = identity();
  if (now.size >= 0 && !(now == loaded_identity_)) {
    auto data = lib::read_small_file(path_, cache_max_file_bytes);
    if (data)
      if (auto parsed = parse_cache(*data, path_)) theirs = std::move(*parsed);
  }
  std::vector<const CacheEntry*> out;
  out.reserve(live.size());
  std::unordered_set<std::string_view> written;
  for (const auto& [base, e] : entries_)
    if (live.count(base) && written.insert(base).second) out.push_back(&e);
  for (const auto& e : theirs)
    if (live.count(e.base) && written.insert(e.base).second) out.push_back(&e);
  lib::AtomicFileOptions options;
  options.temp_path = folder_dir_ + "/tmp/" + std::string(cache_file_name) + "." + std::to_string(::getpid());
  auto w = lib::write_file_atomically(path_, format_cache(out), options);
  if (!w) return w.error();
  // Drop what is gone from memory too; adopt the other writer's entries.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (live.count(it->first)) {
      ++it;
    } else {
      it = entries_.erase(it);
    }
  }
  for (auto& e : theirs)
    if (live.count(e.base) && !entries_.count(e.base)) {
      std::string base = e.base;
      entries_.emplace(std::move(base), std::move(e));
    }
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
  if (!cache_) {
    if (!cache_usable()) return nullptr;
    cache_ = std::make_unique<MailboxCache>(dir_);
  }
  const CacheEntry* e = cache_->find_unchecked(std::string(m.base()));
  if (!e) return nullptr;
  if (m.size_known && e->file_size != m.size_bytes) return nullptr;
  if (m.internal_date != 0 && e->mtime_ns / 1000000000 != static_cast<std::int64_t>(m.internal_date)) return nullptr;
  return e;
}

const CacheEntry* Mailbox::cached(std::size_t index) {
  MessageState& m = messages_.at(index);
  if (m.vanished) return nullptr;
  if (m.cache) return m.cache;
  if (!cache_) {
    if (!cache_usable()) return nullptr;
    cache_ = std::make_unique<MailboxCache>(dir_);
  }
  // The name's ",S=" is the file's size for as long as the name exists
  // (maildir): an entry made from a file of that size needs no stat.
  if (m.size_in_name)
    if (const CacheEntry* e = cache_->find_named(std::string(m.base()), m.size_bytes)) {
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
  if (const CacheEntry* e = cache_->find(std::string(m.base()), static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st))) {
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
    f.subject = std::move(sf.subject);
    f.reply = tm.reply;
    f.from = std::move(sf.from);
    f.to = std::move(sf.to);
    f.cc = std::move(sf.cc);
    f.display_from = std::move(sf.display_from);
    f.display_to = std::move(sf.display_to);
    f.message_id = std::move(tm.message_id);
    f.references = std::move(tm.references);
  }
  m.internal_date = st.st_mtime;
  m.crlf_size = e.crlf_size;
  m.cache = cache_->put(std::move(e));
  return m.cache;
}

}  // namespace imapd
