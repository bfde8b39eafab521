// Spinlocks. The kernel runs on one CPU today; these are real locks so that SMP can come without
// revisiting every caller. IrqSpinlock also disables interrupts on the local CPU while held.
#pragma once

#include <tessera/lock_guard.h>  // LockGuard, used with both

#include "arch/x86_64/cpu.h"

namespace tessera::kernel {

class Spinlock {
 public:
  constexpr Spinlock() = default;
  void lock() {
    while (__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE)) {
      while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) x86::pause();
    }
  }
  void unlock() { __atomic_store_n(&locked_, false, __ATOMIC_RELEASE); }

 private:
  bool locked_ = false;
};

class IrqSpinlock {
 public:
  constexpr IrqSpinlock() = default;
  void lock() {
    const bool enabled = (x86::read_rflags() & (1u << 9)) != 0;
    x86::disable_interrupts();
    lock_.lock();
    interrupts_were_enabled_ = enabled;
  }
  void unlock() {
    const bool enable = interrupts_were_enabled_;
    lock_.unlock();
    if (enable) x86::enable_interrupts();
  }

 private:
  Spinlock lock_;
  bool interrupts_were_enabled_ = false;
};

}  // namespace tessera::kernel
