// authlib/worker_slots.cpp: see worker_slots.hpp.
#include "authlib/worker_slots.hpp"

#include <algorithm>
#include <cerrno>
#include <new>
#include <string>
#include <sys/mman.h>

namespace authlib {

namespace {

// n value-initialised T in memory the processes forked later share (T holds
// only lock-free atomics).
template <class T>
lib::Result<T*> map_shared(size_t n, const char* what) {
  void* p = ::mmap(nullptr, sizeof(T) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return lib::temporary_error(std::string("mmap of the ") + what + ": " + lib::errno_text(errno));
  auto* items = static_cast<T*>(p);
  for (size_t i = 0; i < n; ++i) new (&items[i]) T();
  return items;
}

}  // namespace

lib::Result<WorkerSlots> WorkerSlots::create() {
  auto slots = map_shared<Slot>(max_slots, "worker table");
  if (!slots) return slots.error();
  return WorkerSlots(*slots);
}

WorkerSlots::WorkerSlots(WorkerSlots&& other) noexcept : slots_(other.slots_) { other.slots_ = nullptr; }

WorkerSlots::~WorkerSlots() {
  if (slots_) ::munmap(slots_, sizeof(Slot) * max_slots);
}

int WorkerSlots::reserve() {
  for (size_t i = 0; i < max_slots; ++i) {
    if (slots_[i].used.load() == 0) {
      slots_[i].used.store(1);
      slots_[i].busy_uid.store(-1);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void WorkerSlots::release(int slot) noexcept {
  if (slot < 0 || static_cast<size_t>(slot) >= max_slots) return;
  slots_[slot].busy_uid.store(-1);
  slots_[slot].used.store(0);
}

int WorkerSlots::begin(int slot, uid_t uid) noexcept {
  if (slot < 0 || static_cast<size_t>(slot) >= max_slots) return 1;
  slots_[slot].busy_uid.store(static_cast<long long>(uid));
  int n = 0;
  for (size_t i = 0; i < max_slots; ++i)
    if (slots_[i].busy_uid.load() == static_cast<long long>(uid)) ++n;
  return n;
}

void WorkerSlots::end(int slot) noexcept {
  if (slot < 0 || static_cast<size_t>(slot) >= max_slots) return;
  slots_[slot].busy_uid.store(-1);
}

namespace {

uint64_t fnv1a(std::string_view text) noexcept {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h ? h : 1;
}

int64_t now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

lib::Result<FailedLogins> FailedLogins::create() {
  auto entries = map_shared<Entry>(max_entries, "failed-login table");
  if (!entries) return entries.error();
  return FailedLogins(*entries);
}

FailedLogins::FailedLogins(FailedLogins&& other) noexcept : entries_(other.entries_) { other.entries_ = nullptr; }

FailedLogins::~FailedLogins() {
  if (entries_) ::munmap(entries_, sizeof(Entry) * max_entries);
}

// Open addressing over 16 places; a place whose last failure is older than
// the window is free to take.
FailedLogins::Entry* FailedLogins::find(uint64_t hash, int64_t now, bool create) noexcept {
  constexpr size_t probes = 16;
  const int64_t stale_before = now - std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
  for (size_t i = 0; i < probes; ++i) {
    Entry& e = entries_[(hash + i) % max_entries];
    if (e.key.load() == hash) return &e;
  }
  if (!create) return nullptr;
  for (size_t i = 0; i < probes; ++i) {
    Entry& e = entries_[(hash + i) % max_entries];
    uint64_t current = e.key.load();
    if (current != 0 && e.last_ms.load() >= stale_before) continue;
    if (e.key.compare_exchange_strong(current, hash)) {
      e.failures.store(0);
      e.last_ms.store(now);
      return &e;
    }
  }
  return nullptr;  // a full neighbourhood: this key goes undelayed
}

std::chrono::milliseconds FailedLogins::failed(std::string_view key) noexcept {
  int64_t now = now_ms();
  Entry* e = find(fnv1a(key), now, true);
  if (!e) return std::chrono::milliseconds(0);
  if (now - e->last_ms.load() > std::chrono::duration_cast<std::chrono::milliseconds>(window).count())
    e->failures.store(0);
  e->last_ms.store(now);
  uint32_t n = e->failures.fetch_add(1) + 1;
  if (n <= 1) return std::chrono::milliseconds(0);
  uint32_t shift = std::min<uint32_t>(n - 2, 16);
  auto delay = first_delay * (1LL << shift);
  return std::min<std::chrono::milliseconds>(delay, max_delay);
}

void FailedLogins::succeeded(std::string_view key) noexcept {
  if (Entry* e = find(fnv1a(key), now_ms(), false)) e->failures.store(0);
}

}  // namespace authlib
