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

// A counting thread that stops by itself at a deadline (TSC), so a test whose scheduling goes
// wrong fails instead of starving the root task for ever.
struct Bounded {
  volatile uint64_t value = 0;
  uint64_t deadline = 0;
  volatile uint64_t finished = 0;
};
void count_until(uint64_t address) {
  auto* c = reinterpret_cast<Bounded*>(address);
  while (rdtsc() < c->deadline) c->value = c->value + 1;
  c->finished = 1;  // returning stops the thread
}

// Counts and yields, forever.
void count_and_yield(uint64_t address) {
  auto* c = reinterpret_cast<Counter*>(address);
  for (;;) {
    c->value = c->value + 1;
    (void)tessera::sys::yield();
  }
}

void spin_until(uint64_t tsc) {
  while (rdtsc() < tsc) {
  }
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

TESSERA_USER_TEST(SCHED0004, pass, "a Signal waking a higher-priority thread switches to it at once; a lower one waits") {
  Env env(t);
  ipctest::OwnedCap notification{env, env.make(ObjectType::Notification)};
  ipctest::Job first, second;
  first.op = second.op = ipctest::Job::Op::Wait;
  first.cap = second.cap = notification;
  first.next = &second;
  ipctest::Peer waiter(env, 0, 200);
  if (t.failed() || !waiter.start(ipctest::run_jobs, reinterpret_cast<uint64_t>(&first))) return;
  auto self = env.tcb(tessera::kSlotRootTcb);
  // Below the waiter for a moment: it runs and blocks in its first Wait.
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "step below the waiter");
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back above it");
  t.check(!first.is_done(), "the first Wait returned without a signal");
  // Signalled by a more urgent thread (255), the waiter (200) becomes ready but does not run.
  ipctest::expect_is(t, tessera::sys::signal(notification), Error::Ok, "signal at 255");
  t.check(!first.is_done(), "a priority-200 thread ran before the priority-255 signaller went on");
  // Signalled by a less urgent thread (100), it runs before the Signal returns.
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "step below the waiter again");
  t.check(first.is_done() && !second.is_done(), "after stepping down: first %d, second %d", first.is_done(),
          second.is_done());
  ipctest::expect_is(t, tessera::sys::signal(notification), Error::Ok, "signal at 100");
  t.check(second.is_done(), "the woken priority-200 thread had not run when Signal returned to the priority-100 caller");
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
}

TESSERA_USER_TEST(SCHED0005, pass, "lowering one's own priority below a ready thread, or raising one above oneself, runs it at once") {
  Env env(t);
  // Each peer's Wait finds a pending signal, so its job completes the moment the peer runs.
  ipctest::OwnedCap na{env, env.make(ObjectType::Notification)}, nb{env, env.make(ObjectType::Notification)};
  ipctest::Job ja, jb;
  ja.op = jb.op = ipctest::Job::Op::Wait;
  ja.cap = na;
  jb.cap = nb;
  // Signals need a badge to leave a pending word.
  ipctest::OwnedCap sa{env, ipctest::mint(env, na, kWrite, 1)}, sb{env, ipctest::mint(env, nb, kWrite, 1)};
  ipctest::Peer pa(env, 0, 150), pb(env, 1, 50);
  if (t.failed()) return;
  ipctest::expect_is(t, tessera::sys::signal(sa), Error::Ok, "signal a");
  ipctest::expect_is(t, tessera::sys::signal(sb), Error::Ok, "signal b");
  if (!pa.start(ipctest::run_jobs, reinterpret_cast<uint64_t>(&ja)) ||
      !pb.start(ipctest::run_jobs, reinterpret_cast<uint64_t>(&jb))) {
    return;
  }
  auto self = env.tcb(tessera::kSlotRootTcb);
  for (int i = 0; i < 20; ++i) (void)tessera::sys::yield();
  t.check(!ja.is_done() && !jb.is_done(), "Yield at 255 ran a lower priority (a %d, b %d)", ja.is_done(), jb.is_done());
  expect_ok(t, self.set_priority(kRootTcbRef, 200), "root to 200");
  t.check(!ja.is_done(), "the priority-150 thread ran under a priority-200 root task");
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "root to 100");
  t.check(ja.is_done(), "the priority-150 thread had not run when setPriority(100) returned");
  t.check(!jb.is_done(), "the priority-50 thread ran under a priority-100 root task");
  expect_ok(t, env.tcb(pb.tcb()).set_priority(kRootTcbRef, 150), "raise b to 150");
  t.check(jb.is_done(), "the thread raised above the caller had not run when setPriority returned");
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
}

TESSERA_USER_TEST(SCHED0006, pass, "three threads of one priority share the CPU round robin; a lower one waits for all three") {
  Env env(t);
  static Bounded counters[3];
  ipctest::Peer p0(env, 0, 100), p1(env, 1, 100), p2(env, 2, 100);
  ipctest::Peer* peers[3] = {&p0, &p1, &p2};
  const uint64_t deadline = rdtsc() + milliseconds(45);
  for (int i = 0; i < 3; ++i) {
    counters[i].value = 0;
    counters[i].finished = 0;
    counters[i].deadline = deadline;
    if (!peers[i]->start(count_until, reinterpret_cast<uint64_t>(&counters[i]))) return;
  }
  // Below them, the root task gets the CPU back only when all three have stopped.
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 99), "step below the three");
  const uint64_t resumed = rdtsc();
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  t.check(resumed >= deadline, "the priority-99 root task ran %lu us before the deadline",
          resumed >= deadline ? 0 : (deadline - resumed) * 1000 / milliseconds(1));
  uint64_t cpu[3] = {}, scheduled[3] = {};
  for (int i = 0; i < 3; ++i) {
    t.check(counters[i].finished == 1 && counters[i].value > 0, "thread %d: finished %lu, count %lu", i,
            counters[i].finished, counters[i].value);
    auto stats = env.tcb(peers[i]->tcb()).get_stats();
    if (!expect_ok(t, stats, "getStats")) return;
    cpu[i] = stats->cpu_time_ns();
    scheduled[i] = stats->times_scheduled();
  }
  t.note("cpu %lu, %lu, %lu ns; scheduled %lu, %lu, %lu times", cpu[0], cpu[1], cpu[2], scheduled[0], scheduled[1],
         scheduled[2]);
  uint64_t low = cpu[0], high = cpu[0];
  for (uint64_t c : cpu) {
    low = c < low ? c : low;
    high = c > high ? c : high;
  }
  t.check(low * 10 >= high * 7, "unfair shares: %lu..%lu ns", low, high);
  // Round robin, not one after another: each ran in many slices.
  for (int i = 0; i < 3; ++i) t.check(scheduled[i] >= 5, "thread %d was scheduled %lu times in 45 ms", i, scheduled[i]);
}

TESSERA_USER_TEST(SCHED0007, pass, "Yield hands the CPU to the ready thread of equal priority each time, never to a lower one") {
  Env env(t);
  static Counter equal, lower;
  equal.value = 0;
  lower.value = 0;
  ipctest::Peer pe(env, 0, 255), pl(env, 1, 254);
  if (!pe.start(count_and_yield, reinterpret_cast<uint64_t>(&equal)) ||
      !pl.start(count_forever, reinterpret_cast<uint64_t>(&lower))) {
    return;
  }
  auto before_stats = env.tcb(pe.tcb()).get_stats();
  if (!expect_ok(t, before_stats, "getStats")) return;
  const uint64_t scheduled_before = before_stats->times_scheduled();
  // Each Yield must run the peer: its times_scheduled grows across every Yield. (Its counter is no
  // proof: a tick may preempt the peer after it is scheduled and before it counts, which depends only
  // on where the deterministic tick falls.)
  int missed = 0;
  constexpr int kRounds = 50;
  for (int i = 0; i < kRounds; ++i) {
    // A stats reader points into the reply: take the number out before the next call.
    auto scheduled_now = [&]() -> uint64_t {
      auto stats = env.tcb(pe.tcb()).get_stats();
      return stats.ok() ? stats->times_scheduled() : 0;
    };
    const uint64_t before = scheduled_now();
    (void)tessera::sys::yield();
    if (scheduled_now() == before) ++missed;
  }
  t.check(equal.value > 0, "the equal-priority thread never counted");
  auto after_stats = env.tcb(pe.tcb()).get_stats();
  // The reader points into the reply words, which the next call overwrites: read it first.
  const bool have_after = expect_ok(t, after_stats, "getStats");
  const uint64_t scheduled_after = have_after ? after_stats->times_scheduled() : 0;
  (void)env.tcb(pe.tcb()).suspend();
  (void)env.tcb(pl.tcb()).suspend();
  t.check(missed == 0, "%d of %d yields returned without the equal-priority thread running", missed, kRounds);
  t.check(lower.value == 0, "the priority-254 thread ran %lu times", lower.value);
  if (have_after) {
    const uint64_t scheduled = scheduled_after - scheduled_before;
    t.check(scheduled >= kRounds, "the yielding peer was scheduled %lu times for %d yields", scheduled, kRounds);
  }
}

TESSERA_USER_TEST(SCHED0008, pass, "a suspended thread is not scheduled and accumulates no CPU time; resumed, it runs") {
  Env env(t);
  static Counter c;
  c.value = 0;
  ipctest::Peer peer(env, 0, 100);
  if (!peer.start(count_forever, reinterpret_cast<uint64_t>(&c))) return;
  auto self = env.tcb(tessera::kSlotRootTcb);
  auto thread = env.tcb(peer.tcb());
  // Share the CPU with it for 10 ms at its priority, three times: running, suspended, resumed.
  auto share = [&] {
    expect_ok(t, self.set_priority(kRootTcbRef, 100), "step down");
    spin_until(rdtsc() + milliseconds(10));
    expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  };
  struct Sample {
    uint64_t count, cpu, scheduled;
  };
  auto sample = [&](Sample* s) {
    auto stats = thread.get_stats();
    s->count = c.value;
    s->cpu = stats.ok() ? stats->cpu_time_ns() : 0;
    s->scheduled = stats.ok() ? stats->times_scheduled() : 0;
    return expect_ok(t, stats, "getStats");
  };
  Sample running{}, suspended{}, resumed{};
  share();
  expect_ok(t, thread.suspend(), "suspend");
  if (!sample(&running)) return;
  share();
  if (!sample(&suspended)) return;
  expect_ok(t, thread.resume(), "resume");
  share();
  if (!sample(&resumed)) return;
  expect_ok(t, thread.suspend(), "suspend again");
  t.note("running: %lu ns, suspended: %lu ns, resumed: %lu ns", running.cpu, suspended.cpu, resumed.cpu);
  t.check(running.count > 0 && running.cpu > 0, "the thread never ran (count %lu, cpu %lu)", running.count, running.cpu);
  t.check(suspended.count == running.count, "a suspended thread counted from %lu to %lu", running.count,
          suspended.count);
  t.check(suspended.cpu == running.cpu, "a suspended thread's CPU time grew from %lu to %lu ns", running.cpu,
          suspended.cpu);
  t.check(suspended.scheduled == running.scheduled, "a suspended thread was scheduled (%lu -> %lu)", running.scheduled,
          suspended.scheduled);
  t.check(resumed.count > suspended.count && resumed.cpu > suspended.cpu, "the resumed thread did not run (%lu ns)",
          resumed.cpu);
}

TESSERA_USER_TEST(SCHED0009, pass, "setPriority and setMcPriority above the authority's MCP are refused and change nothing") {
  Env env(t);
  ipctest::OwnedCap notification{env, env.make(ObjectType::Notification)};
  ipctest::OwnedCap authority{env, env.make(ObjectType::Tcb)}, other{env, env.make(ObjectType::Tcb)};
  ipctest::Job job;
  job.op = ipctest::Job::Op::Wait;
  job.cap = notification;
  ipctest::OwnedCap badged{env, ipctest::mint(env, notification, kWrite, 1)};
  ipctest::Peer peer(env, 0, 50);
  if (t.failed()) return;
  ipctest::expect_is(t, tessera::sys::signal(badged), Error::Ok, "signal");  // the Wait returns when it runs
  if (!peer.start(ipctest::run_jobs, reinterpret_cast<uint64_t>(&job))) return;
  expect_ok(t, env.tcb(authority).set_mc_priority(kRootTcbRef, 150), "the authority's MCP is 150");
  auto target = env.tcb(peer.tcb());
  expect_error(t, target.set_priority(CapRef{authority}, 200), Error::RangeError, "priority 200 with MCP 150");
  // Had the refused call raised it to 200, the peer would run as soon as the root task is at 100.
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "root to 100");
  t.check(!job.is_done(), "the peer runs above priority 100 after a refused setPriority");
  expect_ok(t, target.set_priority(CapRef{authority}, 150), "priority 150 with MCP 150");
  t.check(job.is_done(), "the peer did not run at 150 over a priority-100 caller");
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  // The MCP: 60 is granted, 151 refused; the peer as an authority still grants exactly up to 60.
  expect_ok(t, target.set_mc_priority(CapRef{authority}, 60), "MCP 60");
  expect_error(t, target.set_mc_priority(CapRef{authority}, 151), Error::RangeError, "MCP 151 with MCP 150");
  expect_error(t, env.tcb(other).set_priority(CapRef{peer.tcb()}, 61), Error::RangeError,
               "the peer's MCP grew after a refused setMcPriority");
  expect_ok(t, env.tcb(other).set_priority(CapRef{peer.tcb()}, 60), "the peer's MCP is still 60");
}

namespace {
// Starts `peer` counting into `c` until `deadline` with the scheduling context `sc` (configured to
// budget/period µs) bound at priority 200; checked.
bool start_limited(Env& env, ipctest::Peer& peer, Bounded& c, CPtr sc, uint64_t budget_us, uint64_t period_us,
                   uint64_t deadline) {
  Context& t = env.t;
  c.value = 0;
  c.finished = 0;
  c.deadline = deadline;
  return expect_ok(t, sched_control(env).configure(CapRef{sc}, budget_us, period_us, 0, 0), "configure") &&
         peer.start(count_until, reinterpret_cast<uint64_t>(&c)) &&
         expect_ok(t, env.tcb(peer.tcb()).set_sched_params(kRootTcbRef, 200, 200, CapRef{sc}), "bind");
}

// With the root task at 100 below a limited thread at 200 that has used its budget of a long
// period: the thread stays throttled while the root task spins; `release` (unbind, delete) must
// let it run before the call returns, until its deadline.
template <typename Release>
void check_release(Env& env, Release release) {
  Context& t = env.t;
  static Bounded c;
  const CPtr sc = env.make(ObjectType::SchedContext, 8);
  ipctest::Peer peer(env, 0, 255);
  if (t.failed()) return;
  const uint64_t start = rdtsc();
  if (!start_limited(env, peer, c, sc, 1000, 1000000, start + milliseconds(40))) {
    env.drop(sc);
    return;
  }
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "step below the limited thread");
  spin_until(start + milliseconds(10));
  const uint64_t throttled_at = c.value;
  spin_until(start + milliseconds(15));
  const uint64_t still = c.value;
  release(sc);
  const uint64_t released = c.value, finished = c.finished;
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  t.note("count %lu at 10 ms, %lu at 15 ms, %lu after the release", throttled_at, still, released);
  t.check(throttled_at > 0, "the limited thread never ran");
  t.check(still == throttled_at, "a throttled thread counted from %lu to %lu", throttled_at, still);
  t.check(released > still && finished == 1, "the released thread had not run to its deadline (count %lu, finished %lu)",
          released, finished);
  if (!env.is_empty(sc)) env.drop(sc);
}
}  // namespace

TESSERA_USER_TEST(SCHEDCONTEXT0004, pass, "a thread out of budget is throttled for the rest of its period and runs again in each new one") {
  Env env(t);
  static Bounded c;
  const CPtr sc = env.make(ObjectType::SchedContext, 8);
  ipctest::Peer peer(env, 0, 255);
  if (t.failed()) return;
  constexpr int kPeriods = 5;
  const uint64_t period = milliseconds(20);
  // Far past the test: a thread the budget fails to stop still stops in time.
  if (!start_limited(env, peer, c, sc, 2000, 20000, rdtsc() + milliseconds(300))) {
    env.drop(sc);
    return;
  }
  const uint64_t start = rdtsc();  // within microseconds of the period's start (the bind)
  auto self = env.tcb(tessera::kSlotRootTcb);
  expect_ok(t, self.set_priority(kRootTcbRef, 100), "step below the limited thread");
  // In every period it runs first (2 ms, from the tick that releases it), then is throttled: the
  // count is the same a quarter and three quarters into the period, and higher than last period's.
  uint64_t early[kPeriods], late[kPeriods];
  for (int i = 0; i < kPeriods; ++i) {
    spin_until(start + static_cast<uint64_t>(i) * period + period / 4);
    early[i] = c.value;
    spin_until(start + static_cast<uint64_t>(i) * period + period * 3 / 4);
    late[i] = c.value;
  }
  expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
  auto stats = env.tcb(peer.tcb()).get_stats();
  // The reader points into the reply words, which the next call overwrites: read it first.
  const bool have_stats = expect_ok(t, stats, "getStats");
  const uint64_t cpu_ns = have_stats ? stats->cpu_time_ns() : 0;
  (void)env.tcb(peer.tcb()).suspend();
  for (int i = 0; i < kPeriods; ++i) {
    t.note("period %d: %lu, %lu", i, early[i], late[i]);
    t.check(early[i] > (i == 0 ? 0 : late[i - 1]), "period %d: the thread did not run again (%lu)", i, early[i]);
    t.check(late[i] == early[i], "period %d: the thread ran after its budget (%lu -> %lu)", i, early[i], late[i]);
  }
  if (have_stats) {
    const uint64_t cpu = cpu_ns;
    t.note("cpu %lu ns in %d periods", cpu, kPeriods);
    t.check(cpu >= 8000000 && cpu <= 13000000, "cpu %lu ns, expected about 5 x 2 ms", cpu);
  }
  env.drop(sc);
}

TESSERA_USER_TEST(SCHEDCONTEXT0005, pass, "unbinding the context of a throttled thread lets it run at once") {
  Env env(t);
  check_release(env, [&](CPtr sc) { expect_ok(t, Client<SchedContext>{env.kernel, sc}.unbind(), "unbind"); });
}

TESSERA_USER_TEST(SCHEDCONTEXT0006, pass, "deleting the context of a throttled thread unbinds it and lets it run at once") {
  Env env(t);
  check_release(env, [&](CPtr sc) { env.drop(sc); });
}

TESSERA_USER_TEST(SCHEDCONTEXT0007, pass, "two threads with budgets of 2 and 6 ms per 20 ms get CPU time in the ratio 1:3") {
  Env env(t);
  static Bounded small, large;
  const CPtr sa = env.make(ObjectType::SchedContext, 8), sb = env.make(ObjectType::SchedContext, 8);
  ipctest::Peer pa(env, 0, 255), pb(env, 1, 255);
  if (t.failed()) return;
  const uint64_t start = rdtsc(), deadline = start + milliseconds(300);
  if (start_limited(env, pa, small, sa, 2000, 20000, deadline) &&
      start_limited(env, pb, large, sb, 6000, 20000, deadline)) {
    auto self = env.tcb(tessera::kSlotRootTcb);
    expect_ok(t, self.set_priority(kRootTcbRef, 100), "step below both");
    spin_until(start + milliseconds(90));  // into the fifth period, after both budgets (8 ms of 20)
    expect_ok(t, self.set_priority(kRootTcbRef, 255), "back");
    auto a = env.tcb(pa.tcb()).get_stats();
    const uint64_t cpu_a = a.ok() ? a->cpu_time_ns() : 0;
    auto b = env.tcb(pb.tcb()).get_stats();
    const uint64_t cpu_b = b.ok() ? b->cpu_time_ns() : 0;
    (void)env.tcb(pa.tcb()).suspend();
    (void)env.tcb(pb.tcb()).suspend();
    t.note("cpu %lu and %lu ns", cpu_a, cpu_b);
    if (expect_ok(t, a, "getStats a") && expect_ok(t, b, "getStats b")) {
      t.check(cpu_a >= 8000000 && cpu_a <= 12500000, "2 ms / 20 ms thread used %lu ns in 5 periods", cpu_a);
      t.check(cpu_b * 10 >= cpu_a * 25 && cpu_b * 10 <= cpu_a * 35, "shares %lu : %lu ns, expected 1 : 3", cpu_a,
              cpu_b);
    }
  }
  env.drop(sb);
  env.drop(sa);
}
