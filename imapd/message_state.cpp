// imapd/message_state.cpp: MessageState's compact storage (imapd/mailbox.hpp):
// the file name in one block, flag letters as bits, interned keyword sets.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <vector>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "imapd/mailbox.hpp"

namespace imapd {
namespace {

// The interned sets: each distinct set once, in `by_words`, and a slot
// (its words and reference count) numbered by KeywordSet's id - 1. Never
// destroyed: a KeywordSet in a static object may outlive any table we could
// destroy.
struct KeywordTable {
  struct Slot {
    const std::set<std::string>* words = nullptr;
    std::size_t refs = 0;
  };
  std::map<std::set<std::string>, std::uint32_t> by_words;  // words -> id
  std::vector<Slot> slots;
  std::vector<std::uint32_t> free_ids;
};

KeywordTable& keyword_table() {
  static auto* table = new KeywordTable;
  return *table;
}

// Bit of an ASCII letter in MessageState's flag bits; 0 for anything else
// (lib::maildir::normalize_flags keeps only ASCII letters).
std::uint64_t letter_bit(char c) {
  if (c >= 'A' && c <= 'Z') return std::uint64_t{1} << (c - 'A');
  if (c >= 'a' && c <= 'z') return std::uint64_t{1} << (26 + (c - 'a'));
  return 0;
}

constexpr std::size_t name_header = 2;  // u16 name length

// The blocks of MessageState names come from a pool of 64 KiB mappings, not
// from malloc: a folder's names are made while SELECT's scan fills the heap
// with temporary tables, and 80-byte blocks left among them would keep most
// of those heap pages resident after the tables are freed (malloc_trim only
// returns whole free pages). In the pool the names sit together, unaligned,
// each in exactly its own size (at least 4 bytes), without malloc's header,
// and a message holds a 4-byte handle: mapping number (from 1) << 16 |
// offset. Freed blocks go to a free list per size and are reused; when the
// last name is freed (the folder closed) the mappings go back to the system.
// Blocks over max_pooled bytes (names longer than a directory entry can be,
// so never made from a scan) are not reused until then.
// Not thread-safe (imapd is single-threaded).
class NamePool {
 public:
  static constexpr std::size_t max_pooled = 257;  // a 255-byte name and its header
  static constexpr std::size_t block_bytes = 64 * 1024;
  static constexpr std::size_t max_bytes = block_bytes;

  // A free block holds the next free block's handle (memcpy: unaligned).
  static std::size_t rounded(std::size_t bytes) { return std::max(bytes, sizeof(std::uint32_t)); }

  char* at(std::uint32_t h) const { return static_cast<char*>(blocks_[(h >> 16) - 1]) + (h & 0xffff); }

  // `bytes` at most max_bytes.
  std::uint32_t allocate(std::size_t bytes) {
    const std::size_t size = rounded(bytes);
    if (size <= max_pooled && free_[size]) {
      const std::uint32_t h = free_[size];
      std::memcpy(&free_[size], at(h), sizeof(std::uint32_t));
      ++live_;
      return h;
    }
    if (blocks_.empty() || block_bytes - next_ < size) {
      if (blocks_.size() >= 0xffff) throw std::bad_alloc();
      void* m = ::mmap(nullptr, block_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      blocks_.push_back(m);
      next_ = 0;
    }
    const auto h = static_cast<std::uint32_t>(blocks_.size() << 16 | next_);
    next_ += size;
    ++live_;
    return h;
  }

  void release(std::uint32_t h, std::size_t bytes) noexcept {
    const std::size_t size = rounded(bytes);
    if (size <= max_pooled) {
      std::memcpy(at(h), &free_[size], sizeof(std::uint32_t));
      free_[size] = h;
    }
    if (--live_ == 0) reset();
  }

  std::size_t mapped_bytes() const { return blocks_.size() * block_bytes; }

 private:
  void reset() noexcept {
    for (void* b : blocks_) ::munmap(b, block_bytes);
    blocks_.clear();
    blocks_.shrink_to_fit();
    free_.fill(0);
    next_ = 0;
  }
  std::vector<void*> blocks_;
  std::array<std::uint32_t, max_pooled + 1> free_{};  // by block size; 0: none
  std::size_t next_ = 0;                              // in the last mapping
  std::size_t live_ = 0;                              // names not yet released
};

NamePool& name_pool() {
  static auto* pool = new NamePool;  // never destroyed: names in static objects may outlive it
  return *pool;
}

std::uint16_t get_u16(const char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

// --- KeywordSet ----------------------------------------------------------

KeywordSet::KeywordSet(const std::set<std::string>& words) {
  if (words.empty()) return;
  KeywordTable& t = keyword_table();
  auto it = t.by_words.find(words);
  if (it == t.by_words.end()) {
    std::uint32_t id;
    if (!t.free_ids.empty()) {
      id = t.free_ids.back();
      t.free_ids.pop_back();
    } else {
      t.slots.emplace_back();
      id = static_cast<std::uint32_t>(t.slots.size());
    }
    it = t.by_words.emplace(words, id).first;
    t.slots[id - 1].words = &it->first;
  }
  id_ = it->second;
  ++t.slots[id_ - 1].refs;
}

KeywordSet::KeywordSet(const KeywordSet& other) noexcept : id_(other.id_) {
  if (id_) ++keyword_table().slots[id_ - 1].refs;
}

KeywordSet& KeywordSet::operator=(const KeywordSet& other) noexcept {
  const std::uint32_t id = other.id_;  // other may be *this: count it before releasing ours
  if (id) ++keyword_table().slots[id - 1].refs;
  release();
  id_ = id;
  return *this;
}

KeywordSet& KeywordSet::operator=(KeywordSet&& other) noexcept {
  if (this != &other) {
    release();
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

KeywordSet::~KeywordSet() { release(); }

void KeywordSet::release() noexcept {
  if (id_) {
    KeywordTable& t = keyword_table();
    KeywordTable::Slot& slot = t.slots[id_ - 1];
    if (--slot.refs == 0) {
      t.by_words.erase(t.by_words.find(*slot.words));
      slot.words = nullptr;
      t.free_ids.push_back(id_);
    }
  }
  id_ = 0;
}

const std::set<std::string>& KeywordSet::get() const {
  static const std::set<std::string> none;
  return id_ ? *keyword_table().slots[id_ - 1].words : none;
}

std::size_t KeywordSet::interned_count() { return keyword_table().by_words.size(); }

// --- MessageState --------------------------------------------------------

std::string MessageState::maildir_flags() const {
  std::string out;
  for (int i = 0; i < 52; ++i)
    if (flag_bits_ & (std::uint64_t{1} << i)) out += static_cast<char>(i < 26 ? 'A' + i : 'a' + (i - 26));
  return out;
}

bool MessageState::has_flag(char letter) const {
  std::uint64_t bit = letter_bit(letter);
  return bit != 0 && (flag_bits_ & bit) != 0;
}

void MessageState::set_maildir_flags(std::string_view letters) {
  std::uint64_t bits = 0;
  for (char c : letters) bits |= letter_bit(c);
  flag_bits_ = bits;
}

MessageState::Name& MessageState::Name::operator=(const Name& other) {
  if (this != &other) set(other.name());
  return *this;
}

MessageState::Name& MessageState::Name::operator=(Name&& other) noexcept {
  if (this != &other) {
    free(h_);
    h_ = std::exchange(other.h_, 0);
  }
  return *this;
}

MessageState::Name::~Name() { free(h_); }

void MessageState::Name::free(std::uint32_t h) noexcept {
  if (h) name_pool().release(h, name_header + get_u16(name_pool().at(h)));
}

std::size_t MessageState::Name::pool_bytes() { return name_pool().mapped_bytes(); }

std::size_t MessageState::name_pool_bytes() { return Name::pool_bytes(); }

std::string_view MessageState::Name::name() const {
  if (!h_) return {};
  const char* p = name_pool().at(h_);
  return {p + name_header, get_u16(p)};
}

std::string_view MessageState::Name::base() const {
  std::string_view n = name();
  return n.substr(0, n.find(':'));  // as lib::maildir::parse_message_name
}

void MessageState::Name::set(std::string_view name) {
  // Maildir names are at most 255 bytes (lib::maildir::max_file_name_bytes);
  // a u16 holds any name a directory can, and one pool mapping its block.
  if (name.size() > NamePool::max_bytes - name_header) name = name.substr(0, NamePool::max_bytes - name_header);
  std::uint32_t h = 0;
  if (!name.empty()) {
    const auto len = static_cast<std::uint16_t>(name.size());
    h = name_pool().allocate(name_header + name.size());
    char* p = name_pool().at(h);
    std::memcpy(p, &len, 2);
    std::memcpy(p + name_header, name.data(), name.size());
  }
  free(h_);  // after the copy: name may point into the old block
  h_ = h;
}

}  // namespace imapd
