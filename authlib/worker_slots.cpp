// authlib/worker_slots.cpp: see worker_slots.hpp.
#include "authlib/worker_slots.hpp"

#include <cerrno>
#include <new>
#include <sys/mman.h>

namespace authlib {

lib::Result<WorkerSlots> WorkerSlots::create() {
  void* p = ::mmap(nullptr, sizeof(Slot) * max_slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return lib::temporary_error("mmap of the worker table: " + lib::errno_text(errno));
  auto* slots = static_cast<Slot*>(p);
  for (size_t i = 0; i < max_slots; ++i) {
    new (&slots[i].used) std::atomic<int>(0);
    new (&slots[i].busy_uid) std::atomic<long long>(-1);
  }
  return WorkerSlots(slots);
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

}  // namespace authlib
