// TraceControl invocations (abi/kernel.capnp, docs/tracing.md): Write switches categories and sizes
// rings, Read drains them. Every value from the caller is checked against the kernel's own copy
// of the ring's state (percpu.h TraceRing); the header page is only ever written from it.
#include <tessera/abi/kernel.capnp.h>

#include "arch/x86_64/percpu.h"
#include "cap/cspace.h"
#include "generic/invocation.h"
#include "generic/trace.h"
#include "object/fastpath.h"

namespace tessera::kernel {
namespace {
using Api = abi::TraceControl;

// The ring of CPU `index`. Only the CPU making the call for now (one CPU); other CPUs' rings will
// be reached by asking them (SMP).
Result<Cpu*> cpu_param(uint32_t index) {
  Cpu& cpu = this_cpu();
  if (index != cpu.index) return Error::RangeError;
  return &cpu;
}

Result<void> need(const Invocation& inv, cap::CapRights rights) {
  if (!inv.target->cap.rights().includes(rights)) return Error::InsufficientRights;
  return {};
}
}  // namespace

Result<void> invoke_trace_control(Invocation& inv) {
  switch (TRY(Api::method_of(inv.request.label))) {
    case Api::Method::SetCategories: {
      const auto a = TRY(Api::SetCategoriesArgs::decode(inv.request));
      TRY(need(inv, cap::CapRights::write()));
      if ((a.categories & ~static_cast<uint32_t>(trace::kCategoryAll)) != 0) return Error::RangeError;
      const uint32_t previous = tracing::categories;
      tracing::categories = a.categories;
      update_fastpath_mode();
      Cpu& cpu = this_cpu();
      tracing::publish(cpu);
      if (previous == 0 && a.categories != 0) tracing::name_all_threads(cpu);
      inv.reply_length = TRY(Api::SetCategoriesReturn{previous}.encode(inv.reply_buffer));
      return {};
    }
    case Api::Method::SetCapacity: {
      const auto a = TRY(Api::SetCapacityArgs::decode(inv.request));
      TRY(need(inv, cap::CapRights::write()));
      Cpu* cpu = TRY(cpu_param(a.cpu));
      TraceRing& r = cpu->trace;
      if (r.phys == 0) return Error::NotSupported;
      if (a.records < tracing::kMinRecords || a.records > tracing::kMaxRecords) return Error::RangeError;
      // Unread records are discarded, and counted: nothing is dropped silently.
      const uint64_t discarded = r.written - r.consumed;
      r.dropped += discarded;
      r.consumed = r.written;
      r.base = r.written;
      r.slot = 0;
      r.capacity = a.records;
      r.limit = r.consumed + r.capacity;
      tracing::publish(*cpu);
      inv.reply_length = TRY(Api::SetCapacityReturn{discarded}.encode(inv.reply_buffer));
      return {};
    }
    case Api::Method::Consume: {
      const auto a = TRY(Api::ConsumeArgs::decode(inv.request));
      TRY(need(inv, cap::CapRights::read()));
      Cpu* cpu = TRY(cpu_param(a.cpu));
      TraceRing& r = cpu->trace;
      if (a.up_to < r.consumed || a.up_to > r.written) return Error::RangeError;
      r.consumed = a.up_to;
      r.limit = r.consumed + r.capacity;
      tracing::publish(*cpu);
      return {};
    }
    case Api::Method::Status: {
      const auto a = TRY(Api::StatusArgs::decode(inv.request));
      TRY(need(inv, cap::CapRights::read()));
      Cpu* cpu = TRY(cpu_param(a.cpu));
      const TraceRing& r = cpu->trace;
      const Api::StatusReturn s{r.written, r.consumed, r.dropped, r.capacity, r.base, tracing::categories, 1};
      inv.reply_length = TRY(s.encode(inv.reply_buffer));
      return {};
    }
    case Api::Method::NameThreads: {
      TRY(Api::NameThreadsArgs::decode(inv.request));
      TRY(need(inv, cap::CapRights::read()));
      const uint32_t count = tracing::name_all_threads(this_cpu());
      inv.reply_length = TRY(Api::NameThreadsReturn{count}.encode(inv.reply_buffer));
      return {};
    }
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
