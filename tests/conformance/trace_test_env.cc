#include "trace_test_env.h"

#include <tessera/sys/debug.h>

namespace tracetest {

Trace::Trace(Env& env) : env_(env) {
  Context& t = env.t;
  if (!t.check(env.info.trace_rings.end > env.info.trace_rings.start, "the test process got no trace ring")) return;
  auto status = control().status(0);
  if (!expect_ok(t, status, "TraceControl.status (slot 10)")) return;
  mapped_ = env.map(tessera::kSlotRootVSpace, ring_cap(), kRingWindow, kRead, kExecuteNever,
                    tessera::sys::PageSize::k2M);
  if (!mapped_) return;
  ok_ = t.check(header().max_capacity == (2u << 20) / 32 - 4096 / 32 && header().cpu == 0,
                "ring header: max capacity %lu, cpu %u", header().max_capacity, header().cpu);
}

Trace::~Trace() {
  if (!mapped_) return;
  Context& t = env_.t;
  expect_ok(t, control().set_categories(0), "switch tracing off");
  if (header().capacity != header().max_capacity) {
    expect_ok(t, control().set_capacity(0, static_cast<uint32_t>(header().max_capacity)), "full capacity again");
  }
  (void)release();
  expect_ok(t, env_.frame(ring_cap()).unmap(), "unmap the ring");
}

bool Trace::start(uint32_t categories) {
  if (!ok_) return false;
  if (!release()) return false;
  auto r = control().set_categories(categories);
  return expect_ok(env_.t, r, "setCategories");
}

bool Trace::stop() { return expect_ok(env_.t, control().set_categories(0), "setCategories(0)"); }

uint64_t Trace::count() const { return header().written - header().consumed; }

const Record& Trace::at(uint64_t i) const {
  const uint64_t n = header().consumed + i;
  const auto* records = reinterpret_cast<const Record*>(kRingWindow + tessera::trace::kRingHeaderBytes);
  return records[(n - header().base) % header().capacity];
}

bool Trace::release() { return expect_ok(env_.t, control().consume(0, header().written), "consume"); }

uint64_t Trace::count_of(Kind kind) const {
  uint64_t n = 0;
  for (uint64_t i = 0; i < count(); ++i) n += tessera::trace::kind_of(at(i)) == kind ? 1 : 0;
  return n;
}

void Trace::dump(uint64_t from, uint64_t max) const {
  for (uint64_t i = from; i < count() && i < from + max; ++i) {
    const Record& r = at(i);
    tessera::sys::print("# [%lu] kind %u thread %u object %u arg0 0x%lx arg1 0x%lx\n", i,
                        static_cast<unsigned>(tessera::trace::kind_of(r)), tessera::trace::thread_of(r),
                        tessera::trace::object_of(r), r.word[2], r.word[3]);
  }
}

uint32_t trace_id_of(Env& env, CPtr tcb) {
  auto stats = env.tcb(tcb).get_stats();
  if (!expect_ok(env.t, stats, "getStats")) return 0;
  const uint32_t id = stats->trace_id();
  env.t.check(id != 0, "trace id 0");
  return id;
}

}  // namespace tracetest
