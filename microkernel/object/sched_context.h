// Scheduling contexts: a budget of CPU time per period (seL4 MCS's model, one refill). A thread
// bound to one may run for `budget` in every `period`; once it has used its budget it leaves the
// run queue until the period ends. A thread without one is scheduled round robin at its priority.
// Times are kept in TSC ticks; budgets are enforced on the kernel tick (1 kHz), so the smallest
// budget SchedControl accepts is one tick.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "generic/trace.h"
#include "object/tcb.h"

namespace tessera::kernel {

struct SchedContext {
  uint64_t budget;        // TSC ticks per period (0: not configured; the thread cannot run on it)
  uint64_t period;
  uint64_t period_start;
  uint64_t consumed;      // in the current period
  uint64_t total;         // ever
  uint64_t badge;
  Tcb* bound;
};

constexpr uint64_t kTickHz = 1000;
constexpr uint64_t kMinBudgetMicroseconds = 1000000 / kTickHz;
constexpr uint64_t kMaxPeriodMicroseconds = 10ull * 1000 * 1000;

// Adds `ticks` of CPU time to `t` and to its scheduling context.
inline void charge(Tcb* t, uint64_t ticks) {
  t->cpu_time += ticks;
  if (SchedContext* sc = t->sched_context; sc != nullptr) {
    sc->consumed += ticks;
    sc->total += ticks;
  }
}

// Charges the thread running on this CPU up to now, and starts charging `next` (may be null).
// On the IPC fastpath's hot path: kept inline and branch-light.
// With kTraced, the switch is also recorded (a Switch record at the same TSC) when the Scheduling
// category is on.
template <bool kTraced = false>
[[gnu::always_inline]] inline void account_switch(Cpu& cpu, Tcb* next) {
  if (cpu.account_thread == next) return;
  const uint64_t now = x86::rdtsc();
  if constexpr (kTraced) {
    if (tracing::on(trace::kCategoryScheduling)) [[unlikely]] {
      Tcb* previous = cpu.account_thread;
      tracing::emit(cpu, tracing::Kind::Switch, now, next != nullptr ? next->trace_id : 0,
                    previous != nullptr ? previous->trace_id : 0,
                    previous != nullptr ? static_cast<uint64_t>(previous->state) : 0, 0);
    }
  }
  if (cpu.account_thread != nullptr) charge(cpu.account_thread, now - cpu.account_start);
  cpu.account_thread = next;
  cpu.account_start = now;
}
inline void account_switch(Tcb* next) { account_switch<true>(this_cpu(), next); }
// On each tick: charge the current thread, throttle it if its budget is used up (returns true
// then: it must not continue), and release throttled threads whose period has ended.
bool sched_tick();
// Takes `t` off the throttled list (suspend, destroy).
void unthrottle(Tcb* t);
// Brings the running thread's charge up to date (for reading accounts mid-slice).
void charge_current();

// Binding (Tcb.setSchedParams, SchedContext.bind): InvalidArgument when `sc` is not configured,
// IllegalOperation when it is bound to another thread. Unbinding returns the thread to plain
// round robin.
Result<void> bind_sched_context(SchedContext* sc, Tcb* t);
void unbind_sched_context(SchedContext* sc);
uint64_t tsc_to_nanoseconds(uint64_t ticks);

}  // namespace tessera::kernel
