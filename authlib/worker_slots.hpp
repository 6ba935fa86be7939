// authlib/worker_slots.hpp: what each authdaemond worker is busy with, shared
// by all of them (one anonymous shared mapping made by the master before it
// forks), so that one peer uid cannot hold every worker with idle
// connections (DESIGN.md, Privileges; issue 14).
//
// Each worker owns one slot, given by the master at fork and freed by the
// master when the worker is reaped, so a worker that dies mid-request leaks
// nothing. A worker writes only its own slot: the uid of the peer whose
// request it is serving, or none. Counting scans all slots; two workers that
// claim the last place at once both see the other and both refuse, never both
// proceed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <sys/types.h>

#include "lib/result.hpp"

namespace authlib {

class WorkerSlots {
 public:
  static constexpr size_t max_slots = 1024;

  static lib::Result<WorkerSlots> create();
  WorkerSlots(WorkerSlots&& other) noexcept;
  WorkerSlots& operator=(WorkerSlots&&) = delete;
  WorkerSlots(const WorkerSlots&) = delete;
  ~WorkerSlots();

  // Master: a free slot for the worker about to be forked, or -1 (then that
  // worker counts for nobody: better than no worker).
  int reserve();
  // Master: the worker in `slot` has ended.
  void release(int slot) noexcept;

  // Worker: starts serving a request from `uid`. Returns how many workers,
  // this one included, now serve that uid.
  int begin(int slot, uid_t uid) noexcept;
  // Worker: the request is over.
  void end(int slot) noexcept;

 private:
  struct Slot {
    std::atomic<int> used{0};             // reserved by the master for a live worker
    std::atomic<long long> busy_uid{-1};  // -1: idle
  };
  static_assert(std::atomic<long long>::is_always_lock_free, "shared-memory atomics must be lock-free");
  explicit WorkerSlots(Slot* slots) : slots_(slots) {}
  Slot* slots_;
};

// Failed AUTHs per account and per peer uid, shared by the workers the same
// way: each failure within `window` of the last one doubles the delay before
// the next FAIL is sent (the first is free), up to max_delay; a success clears
// the account's count. Counts are approximate under races, never unbounded.
class FailedLogins {
 public:
  static constexpr size_t max_entries = 4096;
  static constexpr std::chrono::milliseconds first_delay{250};
  static constexpr std::chrono::milliseconds max_delay{2000};
  static constexpr std::chrono::seconds window{60};

  static lib::Result<FailedLogins> create();
  FailedLogins(FailedLogins&& other) noexcept;
  FailedLogins& operator=(FailedLogins&&) = delete;
  FailedLogins(const FailedLogins&) = delete;
  ~FailedLogins();

  // Records a failure for `key` ("a:account", "u:uid") and returns the delay
  // it now earns.
  std::chrono::milliseconds failed(std::string_view key) noexcept;
  void succeeded(std::string_view key) noexcept;

 private:
  struct Entry {
    std::atomic<uint64_t> key{0};  // 0: free
    std::atomic<uint32_t> failures{0};
    std::atomic<int64_t> last_ms{0};  // steady clock
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free,
                "shared-memory atomics must be lock-free");
  explicit FailedLogins(Entry* entries) : entries_(entries) {}
  Entry* find(uint64_t hash, int64_t now_ms, bool create) noexcept;
  Entry* entries_;
};

}  // namespace authlib
