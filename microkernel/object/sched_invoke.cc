// SchedControl.configure and the SchedContext invocations; binding a thread is shared with
// Tcb.setSchedParams (sched_context.h describes the model).
#include <tessera/abi/kernel.capnp.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/timer.h"
#include "cap/cspace.h"
#include "generic/invocation.h"
#include "generic/scheduler.h"
#include "generic/kernel_layout.h"
#include "object/kernel_objects.h"
#include "object/sched_context.h"

namespace tessera::kernel {
namespace {

uint64_t microseconds_to_tsc(uint64_t us) { return us * timer::tsc_per_second() / 1000000; }

Result<SchedContext*> sched_context_param(const Invocation& inv, capnp::CapIndex index) {
  const auto sc = TRY(inv.typed_param<cap::ObjectType::SchedContext>(index));
  return layout::phys_to<SchedContext>(sc->phys());
}
}  // namespace

uint64_t tsc_to_nanoseconds(uint64_t ticks) {
  const uint64_t hz = timer::tsc_per_second();
  if (hz == 0) return 0;
  // Whole seconds, then the remainder (< hz <= a few GHz, so remainder * 1e9 fits in 64 bits).
  return ticks / hz * 1000000000u + ticks % hz * 1000000000u / hz;
}

void unbind_sched_context(SchedContext* sc) {
  Tcb* t = live(sc->bound);
  if (t == nullptr) return;
  sc->bound = nullptr;
  t->sched_context = nullptr;
  if (t->throttled) {
    unthrottle(t);
    if (t->state == ThreadState::Running) this_scheduler().enqueue(t);
  }
}

Result<void> bind_sched_context(SchedContext* sc, Tcb* t) {
  if (sc->budget == 0) return Error::InvalidArgument;  // not configured yet
  if (sc->bound != nullptr && sc->bound != t) return Error::IllegalOperation;
  if (t->sched_context != nullptr && t->sched_context != sc) unbind_sched_context(t->sched_context);
  charge_current();
  sc->bound = t;
  sc->period_start = x86::rdtsc();
  sc->consumed = 0;
  t->sched_context = sc;
  return {};
}

Result<void> invoke_sched_control(Invocation& inv) {
  if (TRY(abi::SchedControl::method_of(inv.request.label)) != abi::SchedControl::Method::Configure) {
    return Error::IllegalOperation;
  }
  const auto a = TRY(abi::SchedControl::ConfigureArgs::decode(inv.request));
  SchedContext* sc = TRY(sched_context_param(inv, a.sched_context));
  if (a.budget < kMinBudgetMicroseconds || a.period < a.budget || a.period > kMaxPeriodMicroseconds) {
    return Error::RangeError;
  }
  if (a.extra_refills != 0) return Error::NotSupported;  // one refill per period (no sporadic servers)
  sc->budget = microseconds_to_tsc(a.budget);
  sc->period = microseconds_to_tsc(a.period);
  sc->badge = a.badge;
  sc->period_start = x86::rdtsc();
  sc->consumed = 0;
  return {};
}

Result<void> invoke_sched_context(Invocation& inv) {
  auto* sc = layout::phys_to<SchedContext>(inv.target->cap.phys());
  switch (TRY(abi::SchedContext::method_of(inv.request.label))) {
    case abi::SchedContext::Method::Bind: {
      const auto a = TRY(abi::SchedContext::BindArgs::decode(inv.request));
      cap::CapSlot* object = TRY(inv.cap_param(a.object));
      if (object->cap.type() != cap::ObjectType::Tcb) return Error::NotSupported;  // notifications: not yet
      return bind_sched_context(sc, tcb_at(object->cap.phys()));
    }
    case abi::SchedContext::Method::Unbind:
      TRY(abi::SchedContext::UnbindArgs::decode(inv.request));
      unbind_sched_context(sc);
      return {};
    case abi::SchedContext::Method::UnbindObject: {
      const auto a = TRY(abi::SchedContext::UnbindObjectArgs::decode(inv.request));
      cap::CapSlot* object = TRY(inv.cap_param(a.object));
      if (object->cap.type() != cap::ObjectType::Tcb || sc->bound != tcb_at(object->cap.phys())) {
        return Error::InvalidArgument;
      }
      unbind_sched_context(sc);
      return {};
    }
    case abi::SchedContext::Method::Consumed: {
      TRY(abi::SchedContext::ConsumedArgs::decode(inv.request));
      charge_current();
      const abi::SchedContext::ConsumedReturn r{tsc_to_nanoseconds(sc->total) / 1000};
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
    case abi::SchedContext::Method::YieldTo:
      return Error::NotSupported;
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
