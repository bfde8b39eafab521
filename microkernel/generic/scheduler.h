// The per-CPU scheduler: 256 priorities (255 highest), FIFO round-robin within a priority, timer
// preemption. Scheduling contexts (budget, period) will refine `pick` without changing its callers.
#pragma once

#include <stdint.h>

#include "object/tcb.h"

namespace tessera::kernel {

class Scheduler {
 public:
  constexpr Scheduler() = default;
  // Makes `t` runnable at the tail of its priority's queue (no-op when already queued).
  void enqueue(Tcb* t);
  // Removes `t` from its queue (no-op when not queued).
  void dequeue(Tcb* t);
  // The highest-priority runnable thread, removed from its queue; null when none.
  Tcb* pick();
  // Whether a thread of priority above `priority` (or equal, when `or_equal`) is waiting.
  bool has_higher(uint8_t priority, bool or_equal) const;
  bool empty() const;

 private:
  uint64_t bitmap_[4] = {};
  Tcb* head_[256] = {};
  Tcb* tail_[256] = {};
};

// Switches this CPU to `t` and returns to user mode in it (loads its address space, FPU state, TLS
// bases and TSS stack pointer). Never returns. With kTraceable, a switch to another thread is
// recorded when the Scheduling category is on; the plain IPC fastpath resumes without that test,
// with the same body inlined (resume_thread_in_place, generic/resume.h).
template <bool kTraceable>
[[noreturn]] void resume_thread(Tcb* t);
[[noreturn]] inline void resume(Tcb* t) { resume_thread<true>(t); }

// Picks the next thread on this CPU and resumes it, idling with interrupts on while none is runnable.
[[noreturn]] void schedule();

// idle=poll on the command line: the idle loop spins (pause) instead of halting (docs/boot.md).
extern bool idle_poll;

// Called on a timer tick from user mode: rotates the current thread if another of equal or higher
// priority is waiting.
void preempt_on_tick();

Scheduler& this_scheduler();

}  // namespace tessera::kernel
