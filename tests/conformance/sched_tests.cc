// Scheduling: round robin within a priority, budgets of scheduling contexts, accounting through
// Tcb.getStats. These depend on time, so they run in the `sched-icount` suite (deterministic
// virtual time: -icount shift=0, where the TSC counts guest instructions).
#include <stdint.h>

#include <tessera/sys/ipc.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/thread.h>

#include "cap_test_env.h"
#include "ipc_test_env.h"

namespace {
using namespace captest;
using tessera::abi::SchedContext;
using tessera::abi::SchedControl;

[[gnu::always_inline]] inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

uint64_t milliseconds(uint64_t ms) { return boot_info().tsc_hz / 1000 * ms; }

// A counting thread in the root task's space: increments *counter forever.
struct Counter {
  volatile uint64_t value = 0;
};
void count_forever(uint64_t address) {
  auto* c = reinterpret_cast<Counter*>(address);
  for (;;) c->value = c->value + 1;
}

Client<SchedControl> sched_control(Env& env) { return {env.kernel, tessera::kSlotSchedControl}; }
}  // namespace

TESSERA_USER_TEST(SCHED0001, pass, "threads of equal priority share the CPU round robin on the timer tick") {
  Env env(t);
  static Counter a, b;
  a.value = 0;
  b.value = 0;
  ipctest::Peer pa(env, 0, 100), pb(env, 1, 100);
  if (!pa.start(count_forever, reinterpret_cast<uint64_t>(&a)) ||
      !pb.start(count_forever, reinterpret_cast<uint64_t>(&b))) {
    return;
  }
  // The root task drops to their priority and spins for 60 ms: all three take turns.
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "lower the root task");
  const uint64_t end = rdtsc() + milliseconds(60);
  while (rdtsc() < end) {
  }
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "raise the root task again");
  (void)env.tcb(pa.tcb()).suspend();
  (void)env.tcb(pb.tcb()).suspend();
  t.note("counts: %lu and %lu", a.value, b.value);
  t.check(a.value > 0 && b.value > 0, "a thread never ran (%lu, %lu)", a.value, b.value);
  const uint64_t high = a.value > b.value ? a.value : b.value, low = a.value > b.value ? b.value : a.value;
  t.check(low * 10 >= high * 7, "unfair shares: %lu vs %lu", a.value, b.value);
}

TESSERA_USER_TEST(SCHED0002, pass, "a higher priority runs to the exclusion of a lower one; getStats accounts CPU time") {
  Env env(t);
  static Counter low;
  low.value = 0;
  ipctest::Peer peer(env, 0, 50);
  if (!peer.start(count_forever, reinterpret_cast<uint64_t>(&low))) return;
  const uint64_t end = rdtsc() + milliseconds(20);
  while (rdtsc() < end) {
  }
  t.check(low.value == 0, "a priority-50 thread ran while the root task (255) was busy: %lu", low.value);
  auto stats = env.tcb(peer.tcb()).get_stats();
  if (expect_ok(t, stats, "getStats")) t.check(stats->cpu_time_ns() == 0, "cpu time %lu ns", stats->cpu_time_ns());
  // Now share the CPU with it at equal priority for 40 ms: it gets about half.
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 50), "step down to its priority");
  const uint64_t until = rdtsc() + milliseconds(40);
  while (rdtsc() < until) {
  }
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  auto after = env.tcb(peer.tcb()).get_stats();
  if (expect_ok(t, after, "getStats")) {
    const uint64_t cpu = after->cpu_time_ns(), scheduled = after->times_scheduled();
    t.note("cpu %lu ns, scheduled %lu times", cpu, scheduled);
    t.check(cpu >= 15000000 && cpu <= 25000000, "cpu time %lu ns, expected about 20 ms", cpu);
    t.check(scheduled >= 10, "scheduled only %lu times in 40 ms of round robin", scheduled);
  }
}

TESSERA_USER_TEST(SCHED0003, pass, "getStats counts messages sent and received and wake-ups") {
  Env env(t);
  ipctest::OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  ipctest::Job job;
  ipctest::Peer peer(env, 0);
  job.op = ipctest::Job::Op::Recv;
  job.cap = ep;
  if (!peer.run(job)) return;
  // A reply reader is valid until the next call: copy what each one says at once.
  auto before = env.tcb(peer.tcb()).get_stats();
  if (!expect_ok(t, before, "stats before")) return;
  const uint64_t received_before = before->messages_received(), wakeups_before = before->wakeups();
  ipctest::expect_is(t, tessera::sys::send(ep, tessera::sys::MessageInfo{1, 0, 0, 0}), tessera::Error::Ok, "send");
  if (!t.check(ipctest::wait_done(job), "the peer did not receive")) return;
  auto after = env.tcb(peer.tcb()).get_stats();
  if (!expect_ok(t, after, "stats after")) return;
  const uint64_t received_after = after->messages_received(), wakeups_after = after->wakeups();
  auto mine = env.tcb(tessera::kSlotRootTcb).get_stats();
  if (!expect_ok(t, mine, "own stats")) return;
  t.check(received_after == received_before + 1, "received %lu -> %lu", received_before, received_after);
  t.check(wakeups_after > wakeups_before, "wakeups %lu -> %lu", wakeups_before, wakeups_after);
  t.check(mine->messages_sent() >= 1, "root sent %lu", mine->messages_sent());
  t.check(mine->syscalls() > 0, "root syscalls");
}

TESSERA_USER_TEST(SCHEDCONTEXT0001, pass, "SchedControl.configure checks budget, period and object type") {
  Env env(t);
  const CPtr sc = env.make(ObjectType::SchedContext, 8), frame = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  auto control = sched_control(env);
  expect_error(t, control.configure(CapRef{sc}, 500, 10000, 0, 0), tessera::Error::RangeError, "budget below a tick");
  expect_error(t, control.configure(CapRef{sc}, 5000, 1000, 0, 0), tessera::Error::RangeError, "budget > period");
  expect_error(t, control.configure(CapRef{sc}, 1000, 20000000, 0, 0), tessera::Error::RangeError, "period > 10 s");
  expect_error(t, control.configure(CapRef{sc}, 1000, 2000, 1, 0), tessera::Error::NotSupported, "extra refills");
  expect_error(t, control.configure(CapRef{frame}, 1000, 2000, 0, 0), tessera::Error::WrongObjectType, "not a sched context");
  expect_ok(t, control.configure(CapRef{sc}, 2000, 10000, 0, 0), "2 ms every 10 ms");
  env.drop(frame);
  env.drop(sc);
}

TESSERA_USER_TEST(SCHEDCONTEXT0002, pass, "binding needs a configured context, MCP bounds, one thread per context") {
  Env env(t);
  const CPtr sc = env.make(ObjectType::SchedContext, 8), tcb = env.make(ObjectType::Tcb), other = env.make(ObjectType::Tcb);
  if (t.failed()) return;
  expect_error(t, env.tcb(tcb).set_sched_params(kRootTcbRef, 10, 10, CapRef{sc}), tessera::Error::InvalidArgument,
               "an unconfigured context");
  expect_ok(t, sched_control(env).configure(CapRef{sc}, 1000, 10000, 0, 0), "configure");
  expect_ok(t, env.tcb(other).set_mc_priority(kRootTcbRef, 20), "the other thread's MCP is 20");
  expect_error(t, env.tcb(tcb).set_sched_params(CapRef{other}, 10, 30, CapRef{sc}), tessera::Error::RangeError,
               "priority above the authority's MCP");
  expect_ok(t, env.tcb(tcb).set_sched_params(kRootTcbRef, 10, 10, CapRef{sc}), "bind");
  expect_error(t, env.tcb(other).set_sched_params(kRootTcbRef, 10, 10, CapRef{sc}), tessera::Error::IllegalOperation,
               "a context bound elsewhere");
  Client<SchedContext> context{env.kernel, sc};
  expect_ok(t, context.unbind(), "unbind");
  expect_ok(t, context.bind(CapRef{other}), "bind to the other thread");
  auto used = context.consumed();
  if (expect_ok(t, used, "consumed")) t.check(used->consumed() == 0, "an idle thread consumed %lu us", used->consumed());
  env.drop(other);
  env.drop(tcb);
  env.drop(sc);
}

TESSERA_USER_TEST(SCHEDCONTEXT0003, pass, "a budget of 2 ms per 10 ms holds a spinning thread to about 20% of the CPU") {
  Env env(t);
  static Counter limited;
  limited.value = 0;
  const CPtr sc = env.make(ObjectType::SchedContext, 8);
  if (t.failed()) return;
  expect_ok(t, sched_control(env).configure(CapRef{sc}, 2000, 10000, 0, 0), "2 ms / 10 ms");
  ipctest::Peer peer(env, 0, 200);
  if (!peer.start(count_forever, reinterpret_cast<uint64_t>(&limited))) return;
  expect_ok(t, env.tcb(peer.tcb()).set_sched_params(kRootTcbRef, 200, 200, CapRef{sc}), "bind");
  // The root task steps below it and measures how much of 100 ms it gets: about 80%.
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "step below the limited thread");
  const uint64_t start = rdtsc(), end = start + milliseconds(100);
  uint64_t mine = 0, last = start;
  while (last < end) {
    const uint64_t now = rdtsc();
    if (now - last < milliseconds(1) / 10) mine += now - last;  // gaps are time the other thread had
    last = now;
  }
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  auto stats = env.tcb(peer.tcb()).get_stats();
  const uint64_t cpu_ns = stats.ok() ? stats->cpu_time_ns() : 0;
  Client<SchedContext> context{env.kernel, sc};
  auto used = context.consumed();
  const uint64_t consumed_us = used.ok() ? used->consumed() : 0;
  (void)env.tcb(peer.tcb()).suspend();
  const uint64_t root_percent = mine * 100 / (end - start);
  t.note("root task got %lu%% of 100 ms", root_percent);
  t.check(root_percent >= 70 && root_percent <= 90, "root task got %lu%%, expected about 80%%", root_percent);
  if (expect_ok(t, stats, "getStats") && expect_ok(t, used, "consumed")) {
    t.note("limited thread: %lu ns CPU, context consumed %lu us", cpu_ns, consumed_us);
    t.check(cpu_ns >= 15000000 && cpu_ns <= 30000000, "limited thread used %lu ns", cpu_ns);
    t.check(consumed_us * 1000 <= cpu_ns + 1000 && consumed_us * 1000 + 1000000 >= cpu_ns,
            "context consumed %lu us but the thread ran %lu ns", consumed_us, cpu_ns);
  }
  env.drop(sc);
}
