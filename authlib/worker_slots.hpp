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
#include <cstddef>
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
    std::atomic<int> used;      // reserved by the master for a live worker
    std::atomic<long long> busy_uid;  // -1: idle
  };
  static_assert(std::atomic<long long>::is_always_lock_free, "shared-memory atomics must be lock-free");
  explicit WorkerSlots(Slot* slots) : slots_(slots) {}
  Slot* slots_;
};

}  // namespace authlib
