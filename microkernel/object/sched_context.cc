#include "object/sched_context.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "generic/scheduler.h"

namespace tessera::kernel {
namespace {

// Starts a new period when the current one is over. Budgets are enforced on the tick, so a thread
// can overrun by up to a tick; the overrun is carried into the following periods as debt (as
// seL4's MCS charges overruns to future refills), so over time it gets exactly budget/period.
void roll_period(SchedContext* sc, uint64_t now) {
  if (sc->period == 0 || now < sc->period_start + sc->period) return;
  const uint64_t periods = (now - sc->period_start) / sc->period;
  sc->period_start += periods * sc->period;
  const uint64_t allowance = periods * sc->budget;
  sc->consumed = sc->consumed > allowance ? sc->consumed - allowance : 0;
}
}  // namespace

void charge_current() {
  Cpu& cpu = this_cpu();
  if (cpu.account_thread == nullptr) return;
  const uint64_t now = x86::rdtsc();
  charge(cpu.account_thread, now - cpu.account_start);
  cpu.account_start = now;
}

void unthrottle(Tcb* t) {
  if (!t->throttled) return;
  Tcb** link = &this_cpu().throttled;
  while (*link != nullptr && *link != t) link = &(*link)->throttle_next;
  if (*link == t) *link = t->throttle_next;
  t->throttle_next = nullptr;
  t->throttled = false;
}

bool sched_tick() {
  Cpu& cpu = this_cpu();
  const uint64_t now = x86::rdtsc();
  // Release throttled threads whose next period has begun.
  for (Tcb** link = &cpu.throttled; *link != nullptr;) {
    Tcb* t = *link;
    SchedContext* sc = t->sched_context;
    if (sc != nullptr) roll_period(sc, now);
    if (sc == nullptr || sc->consumed < sc->budget) {
      *link = t->throttle_next;
      t->throttle_next = nullptr;
      t->throttled = false;
      if (t->state == ThreadState::Running) this_scheduler().enqueue(t);
    } else {
      link = &t->throttle_next;
    }
  }
  Tcb* current = cpu.current;
  if (current == nullptr) return false;
  if (cpu.account_thread == current) {
    charge(current, now - cpu.account_start);
    cpu.account_start = now;
  }
  SchedContext* sc = current->sched_context;
  if (sc == nullptr) return false;
  roll_period(sc, now);
  if (sc->consumed < sc->budget) return false;
  current->throttled = true;
  current->throttle_next = cpu.throttled;
  cpu.throttled = current;
  return true;
}

}  // namespace tessera::kernel
