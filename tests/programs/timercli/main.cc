// timercli: the client side of the TIMER tests (tests/devices/timer_tests.cc, docs/drivers.md). A
// TIMER test starts the timer server and one or more timercli programs through init's system
// library; each timercli gets `endpoint:timer` and exits with 0 when every check passed,
// otherwise with the number of the first that failed (and a line saying which). Its argument:
//   order     4 threads, each with its own channel, arm 25 deadlines each (100 pending at once,
//             deadlines interleaved across the threads, armed out of order); every event fires
//             not before its deadline, the server's firing sequence follows the deadlines, and
//             each thread wakes not before its deadline
//   cancel    cancel before the deadline (no event), twice, after firing, unknown ids, another's
//             channel; the rest still fire
//   past      deadlines in the past (0, now - 1 ms, now) fire before arm returns; sleep_ns and
//             sleep_until do not return early; now() moves forward and agrees with the local clock
//   malformed 10,000 malformed messages (random words under real labels, unknown labels, arm cut
//             short, capabilities where none belong, random labels and lengths) all refused or
//             harmless; then attach, arm and collect work
//   hog       holds every channel it may (a 5th refused), fills three with far deadlines and
//             never-collected events (the next arm refused), sleeps on the fourth, exits holding
//             it all
//   victim    once the hog holds its share: 20 deadlines fire in order and are collected
//   ghost     attaches 2 channels, arms 30 deadlines (20 far ahead, 10 fired and never
//             collected) and exits without detaching
//   watcher   after the ghost: the server's status drops to the watcher's own channel, nothing
//             armed or uncollected, the ghost's channels reclaimed
#include <stdint.h>

#include <tessera/abi/timer.capnp.h>
#include <tessera/capnp/transport.h>
#include <tessera/string.h>
#include <tessera/syscall.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/server.h>
#include <tessera/sys/timer.h>

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::error_name;
using tessera::Result;
using tessera::timer::Timer;

int failed = 0;

bool check(int number, bool ok, const char* what) {
  if (!ok && failed == 0) {
    failed = number;
    sys::print("timercli: check %d failed: %s\n", number, what);
  }
  return ok;
}
template <typename T>
bool check_ok(int number, const Result<T>& r, const char* what) {
  if (!r.ok()) sys::print("timercli: %s: %s\n", what, error_name(r.error()));
  return check(number, r.ok(), what);
}
template <typename T>
bool check_error(int number, const Result<T>& r, Error expected, const char* what) {
  if (r.ok() || r.error() != expected) {
    sys::print("timercli: %s: got %s, expected %s\n", what, r.ok() ? "Ok" : error_name(r.error()), error_name(expected));
  }
  return check(number, !r.ok() && r.error() == expected, what);
}

constexpr uint64_t kMs = 1'000'000;

bool is(const Result<bool>& r, bool expected) { return r.ok() && r.value() == expected; }

struct Env {
  const sys::StartupBlock& block;
  sys::SlotAllocator& slots;
  sys::MemorySession& session;
  sys::CPtr endpoint;
};

uint64_t next_random(uint64_t* state) {  // xorshift64*
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 0x2545F4914F6CDD1Dull;
}

// Collects events until `count` arrived (waiting on the channel between collects).
int collect_all(sys::TimerClient& c, sys::TimerEvent* out, uint32_t count) {
  uint32_t have = 0;
  while (have < count) {
    auto n = c.collect(out + have, count - have);
    if (!n.ok()) return -1;
    have += *n;
    if (have < count && !c.wait().ok()) return -1;
  }
  return 0;
}

// ---- order ----

constexpr uint32_t kThreads = 4, kPerThread = 25, kSleeps = kThreads * kPerThread;

struct Record {
  uint64_t deadline, fired_at, sequence, woke;  // woke: the thread's clock after collecting it
  uint32_t count;                               // times it was reported (must be 1)
};
struct OrderShared {
  sys::TimerClient clients[kThreads];
  uint64_t deadlines[kSleeps];
  Record records[kSleeps];
  sys::CPtr done;            // signalled by each thread when it is finished (signals merge:
  uint32_t finished;         // the count says how many are)
  volatile int errors[kThreads];
};
constinit OrderShared* order_shared = nullptr;

void order_thread(uint64_t index) {
  OrderShared& s = *order_shared;
  sys::TimerClient& c = s.clients[index];
  // Arm in a scrambled order: j = index + kThreads * ((i * 7) % kPerThread).
  for (uint32_t i = 0; i < kPerThread; ++i) {
    const uint32_t j = static_cast<uint32_t>(index) + kThreads * ((i * 7) % kPerThread);
    if (!c.deadline(s.deadlines[j], j).ok()) s.errors[index] = 1;
  }
  uint32_t got = 0;
  while (got < kPerThread && s.errors[index] == 0) {
    if (!c.wait().ok()) {
      s.errors[index] = 2;
      break;
    }
    sys::TimerEvent events[16];
    for (;;) {
      auto n = c.collect(events, 16);
      if (!n.ok()) {
        s.errors[index] = 3;
        break;
      }
      if (*n == 0) break;
      const uint64_t woke = sys::now_ns();
      for (uint32_t k = 0; k < *n; ++k) {
        const uint64_t j = events[k].cookie;
        if (j >= kSleeps || j % kThreads != index) {
          s.errors[index] = 4;
          continue;
        }
        Record& r = s.records[j];
        r.deadline = events[k].deadline;
        r.fired_at = events[k].fired_at;
        r.sequence = events[k].sequence;
        r.woke = woke;
        ++r.count;
        ++got;
      }
    }
  }
  __atomic_fetch_add(&s.finished, 1, __ATOMIC_SEQ_CST);
  (void)sys::signal(s.done);
}

int order(Env& env) {
  static OrderShared shared;
  order_shared = &shared;
  auto done = env.session.create_object(tessera::abi::ObjectType::Notification);
  if (!check_ok(1, done, "a notification")) return failed;
  shared.done = done->cap;
  // Channels first, from this thread (the slot allocator is not shared between threads).
  for (uint32_t i = 0; i < kThreads; ++i) {
    auto c = sys::TimerClient::open(env.session, env.endpoint);
    if (!check_ok(2, c, "open a channel")) return failed;
    shared.clients[i] = *c;
  }
  sys::Connection<Timer> raw(env.endpoint);
  auto info = raw->info();
  if (!check_ok(3, info, "info")) return failed;
  sys::print("timercli: resolution %lu ns, TSC %lu Hz (ours %lu)\n", info->resolution_ns(), info->tsc_hz(), sys::tsc_hz());
  check(4, info->tsc_hz() == sys::tsc_hz() && info->resolution_ns() > 0 && info->resolution_ns() <= 1000,
        "the server's clock is ours, resolution 1 µs or finer");
  // Deadlines 30 ms from now onwards, spaced by 0.2..1.2 ms at random (a few equal pairs too).
  uint64_t state = 0x71e3;
  const uint64_t base = sys::now_ns() + 30 * kMs;
  uint64_t at = base;
  for (uint32_t j = 0; j < kSleeps; ++j) {
    shared.deadlines[j] = at;
    if (j % 17 != 16) at += 200'000 + next_random(&state) % 1'000'000;
  }
  sys::SessionThread threads[kThreads];
  for (uint32_t i = 0; i < kThreads; ++i) {
    sys::SessionThreadOptions options;
    options.priority = 100;
    auto thread = sys::SessionThread::create(env.session, options);
    if (!check_ok(5, thread, "a thread")) return failed;
    threads[i] = static_cast<sys::SessionThread&&>(*thread);
  }
  for (uint32_t i = 0; i < kThreads; ++i) {
    if (!check_ok(6, threads[i].start(order_thread, i), "start a thread")) return failed;
  }
  while (__atomic_load_n(&shared.finished, __ATOMIC_SEQ_CST) < kThreads) {
    uint64_t word = 0;
    if (!check(7, sys::wait(shared.done, &word) == Error::Ok, "wait for the threads")) return failed;
  }
  for (uint32_t i = 0; i < kThreads; ++i) {
    if (shared.errors[i] != 0) sys::print("timercli: thread %u: error %d\n", i, shared.errors[i]);
    check(8, shared.errors[i] == 0, "every thread armed, waited and collected");
    (void)threads[i].destroy();
  }
  uint32_t early = 0, woke_early = 0, missing = 0, out_of_order = 0;
  uint64_t latest = 0, total_late = 0;
  for (uint32_t j = 0; j < kSleeps; ++j) {
    const Record& r = shared.records[j];
    if (r.count != 1 || r.deadline != shared.deadlines[j]) {
      ++missing;
      continue;
    }
    if (r.fired_at < r.deadline) ++early;
    if (r.woke < r.deadline) ++woke_early;
    const uint64_t late = r.fired_at - r.deadline;
    total_late += late;
    if (late > latest) latest = late;
    // Firing order = deadline order: for every pair, the earlier deadline fired first.
    for (uint32_t k = 0; k < kSleeps; ++k) {
      const Record& o = shared.records[k];
      if (o.count == 1 && o.deadline < r.deadline && o.sequence > r.sequence) ++out_of_order;
    }
  }
  sys::print("timercli: %u deadlines: %u missing, %u fired early, %u woke early, %u pairs out of order; "
             "late by %lu ns on average, %lu at most\n",
             kSleeps, missing, early, woke_early, out_of_order, total_late / kSleeps, latest);
  check(9, missing == 0, "every deadline fired exactly once");
  check(10, early == 0, "none fired before its deadline");
  check(11, woke_early == 0, "no thread woke before its deadline");
  check(12, out_of_order == 0, "they fired in deadline order");
  for (uint32_t i = 0; i < kThreads; ++i) check_ok(13, shared.clients[i].close(), "detach");
  return failed;
}

// ---- cancel ----

int cancel(Env& env) {
  auto opened = sys::TimerClient::open(env.session, env.endpoint);
  if (!check_ok(20, opened, "open")) return failed;
  sys::TimerClient c = *opened;
  const uint64_t now = sys::now_ns();
  auto a = c.deadline(now + 5 * kMs, 1), b = c.deadline(now + 10 * kMs, 2), d = c.deadline(now + 15 * kMs, 3);
  if (!check(21, a.ok() && b.ok() && d.ok(), "arm three")) return failed;
  check(22, is(c.cancel(*b), true), "cancel the second before its deadline");
  check(23, is(c.cancel(*b), false), "cancel it again: false");
  check(24, is(c.cancel(0xFFFF'FFFF'FFFFull), false), "cancel an id never armed: false");
  check(25, is(c.cancel(*b + (1ull << 16)), false), "cancel a stale id (the entry's next generation): false");
  sys::Connection<Timer> raw(env.endpoint);
  check_error(26, raw->cancel(c.channel() + 1, *a), Error::InvalidArgument, "cancel on a channel not ours");
  check_error(27, raw->arm(c.channel() + 1, now, 0), Error::InvalidArgument, "arm on a channel not ours");
  check_error(28, raw->cancel(1000, *a), Error::InvalidArgument, "cancel on channel 1000");
  sys::TimerEvent events[4];
  if (collect_all(c, events, 2) != 0) return check(29, false, "collect two events"), failed;
  check(30, events[0].cookie == 1 && events[1].cookie == 3, "the first and third fired, in order");
  check(31, events[0].id == *a && events[1].id == *d, "with their ids");
  check(32, is(c.cancel(*a), false), "cancel after firing: false");
  // Nothing else comes: a deadline after the cancelled one's fires alone.
  auto e = c.deadline(sys::now_ns() + 12 * kMs, 4);
  check_ok(33, e, "arm a fourth");
  if (collect_all(c, events, 1) != 0) return check(34, false, "collect the fourth"), failed;
  check(35, events[0].cookie == 4, "the fourth fired, not the cancelled one");
  auto n = c.collect(events, 4);
  check(36, n.ok() && *n == 0, "nothing more");
  // Cancel a batch, then detach: the status shows nothing left of us.
  for (uint64_t i = 0; i < 20; ++i) {
    auto id = c.deadline(sys::now_ns() + 1000 * kMs, i);
    if (id.ok()) check(37, c.cancel(*id).ok(), "cancel");
  }
  check_ok(38, c.close(), "detach");
  auto status = raw->status();
  check(39, status.ok() && status->channels() == 0 && status->armed() == 0 && status->uncollected() == 0,
        "the server holds nothing of ours");
  return failed;
}

// ---- past ----

int past(Env& env) {
  auto opened = sys::TimerClient::open(env.session, env.endpoint);
  if (!check_ok(40, opened, "open")) return failed;
  sys::TimerClient c = *opened;
  const uint64_t now = sys::now_ns();
  const uint64_t deadlines[3] = {0, now - kMs, now};
  for (uint64_t i = 0; i < 3; ++i) {
    if (!check_ok(41, c.deadline(deadlines[i], i), "arm a deadline in the past")) return failed;
    // Fired before the reply: the notification is signalled already, the event there to collect.
    uint64_t word = 0;
    check(42, sys::poll(c.notification(), &word) == Error::Ok && word != 0, "signalled before arm returned");
    sys::TimerEvent e[2];
    auto n = c.collect(e, 2);
    check(43, n.ok() && *n == 1 && e[0].cookie == i && e[0].deadline == deadlines[i] && e[0].fired_at >= deadlines[i],
          "its event, at once");
  }
  // Sleeps never return early.
  const uint64_t lengths[] = {1, 100'000, 2 * kMs, 7 * kMs};
  for (const uint64_t ns : lengths) {
    const uint64_t before = sys::now_ns();
    check_ok(44, c.sleep_ns(ns), "sleep_ns");
    check(45, sys::now_ns() >= before + ns, "sleep_ns returned early");
  }
  const uint64_t until = sys::now_ns() + 3 * kMs;
  check_ok(46, c.sleep_until(until), "sleep_until");
  check(47, sys::now_ns() >= until, "sleep_until returned early");
  // now(): between two readings of the local clock, and moving forward.
  const uint64_t t0 = sys::now_ns();
  auto s1 = c.now();
  const uint64_t t1 = sys::now_ns();
  auto s2 = c.now();
  check(48, s1.ok() && s2.ok() && t0 <= *s1 && *s1 <= t1 && *s1 <= *s2, "now() agrees with the local clock");
  check_ok(49, c.close(), "detach");
  return failed;
}

// ---- malformed ----

Error raw_call(sys::CPtr endpoint, uint64_t label, const uint64_t* words, uint32_t length, uint32_t caps) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  for (uint32_t i = 0; i < length; ++i) buffer->msg[i] = words[i];
  buffer->receive_cnode = 0;
  buffer->receive_index = 0;
  buffer->receive_depth = 0;
  sys::Received reply{};
  const Error e = sys::call(endpoint, tessera::capnp::MessageInfo{label, length, caps, 0}, &reply);
  if (e != Error::Ok) return e;
  return tessera::capnp::error_from_label(reply.info.label, tessera::kErrorCount);
}

int malformed(Env& env) {
  auto note = env.session.create_object(tessera::abi::ObjectType::Notification);
  if (!check_ok(50, note, "a notification")) return failed;
  // A valid arm (channel 0: not ours, we have none) to cut short and to decorate with a capability.
  uint64_t arm_words[16] = {};
  tessera::capnp::MessageBuilder builder(arm_words, 16);
  auto params = builder.init_root_as<Timer::ArmParams>();
  params.set_channel(0);
  params.set_deadline(sys::now_ns());
  params.set_cookie(7);
  const uint32_t arm_length = builder.finish().value_or(0);
  check(51, arm_length > 1, "encode an arm");
  uint64_t state = 0x7133e;
  uint64_t words[tessera::kMessageWords];
  uint32_t errors = 0, must_fail_ok = 0, call_failures = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t kind = i % 5;
    Error e = Error::Ok;
    sys::ipc_buffer()->caps_or_badges[0] = note->cap;
    if (kind == 0) {  // random words under a real label (any method)
      const uint32_t length = 1 + static_cast<uint32_t>(next_random(&state) % 24);
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(env.endpoint, Timer::label(static_cast<Timer::Method>(next_random(&state) % Timer::kMethodCount)),
                   words, length, 0);
    } else if (kind == 1) {  // a label of no method of this interface
      uint64_t label = (next_random(&state) & 0xFFFFFFFFFF) | 0x10000;
      for (uint16_t m = 0; m < Timer::kMethodCount; ++m) {
        if (label == Timer::label(static_cast<Timer::Method>(m))) label += 0x10000;
      }
      e = raw_call(env.endpoint, label, arm_words, arm_length, 0);
    } else if (kind == 2) {  // an arm cut short, or on a channel that is not ours
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % (arm_length + 1));
      e = raw_call(env.endpoint, Timer::label(Timer::Method::Arm), arm_words, length, 0);
    } else if (kind == 3) {  // a capability where none belongs: arm, cancel, collect, detach
      const auto method = static_cast<Timer::Method>(3 + next_random(&state) % 4);
      e = raw_call(env.endpoint, Timer::label(method), arm_words, arm_length, 1);
    } else {  // random words of any length under a random label
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % (tessera::kMessageWords + 1));
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(env.endpoint, next_random(&state) & 0xFFFFFFFFFFFFull, words, length, 0);
    }
    if (e != Error::Ok) ++errors;
    if ((kind == 1 || kind == 2 || kind == 3) && e == Error::Ok) ++must_fail_ok;
    if (e == Error::FailedLookup || e == Error::EmptySlot || e == Error::ObjectDeleted ||
        e == Error::InsufficientRights) {
      ++call_failures;
    }
  }
  sys::ipc_buffer()->caps_or_badges[0] = 0;
  sys::print("timercli: %u of 10,000 malformed messages answered with an error\n", errors);
  check(52, must_fail_ok == 0, "no malformed message was accepted");
  check(53, call_failures == 0, "every call reached the server");
  check(54, errors >= 6000, "most were refused");
  // Still serving, and nothing of the storm stuck to us.
  sys::Connection<Timer> raw(env.endpoint);
  auto status = raw->status();
  check(55, status.ok() && status->channels() == 0 && status->armed() == 0, "the storm left no channel or deadline");
  auto opened = sys::TimerClient::open(env.session, env.endpoint);
  if (!check_ok(56, opened, "open after the storm")) return failed;
  sys::TimerClient c = *opened;
  check_ok(57, c.sleep_ns(2 * kMs), "sleep after the storm");
  check_ok(58, c.close(), "detach");
  return failed;
}

// ---- hog and victim ----

int hog(Env& env) {
  static sys::TimerClient channels[4];
  for (uint32_t i = 0; i < 4; ++i) {
    auto c = sys::TimerClient::open(env.session, env.endpoint);
    if (!check_ok(60, c, "open one of 4 channels")) return failed;
    channels[i] = *c;
  }
  check_error(61, sys::TimerClient::open(env.session, env.endpoint), Error::NotEnoughMemory, "a 5th channel");
  const uint64_t far = sys::now_ns() + 3600'000 * kMs;
  for (uint32_t i = 0; i < 3; ++i) {
    // Channel 2's deadlines are past: they fire and are never collected; 0 and 1 wait an hour.
    for (uint32_t k = 0; k < tessera::timer::kEntriesPerChannel; ++k) {
      if (!check_ok(62, channels[i].deadline(i == 2 ? 0 : far + k, k), "fill the share")) return failed;
    }
    check_error(63, channels[i].deadline(far, 99), Error::NotEnoughMemory, "one more on a full channel");
  }
  check(64, is(channels[2].cancel(0), false), "cancelling a fired event frees nothing");
  check_error(65, channels[2].deadline(far, 99), Error::NotEnoughMemory, "uncollected events count");
  sys::print("timercli: hog holds 4 channels, 64 deadlines and 32 uncollected events\n");
  // Keep it all while the victim works, then end without letting go.
  check_ok(66, channels[3].sleep_ns(300 * kMs), "sleep on the 4th channel");
  return failed;
}

int victim(Env& env) {
  sys::Connection<Timer> raw(env.endpoint);
  auto opened = sys::TimerClient::open(env.session, env.endpoint);
  if (!check_ok(71, opened, "open next to the hog")) return failed;
  sys::TimerClient c = *opened;
  // Wait (up to 5 s) until the hog holds its whole share and sleeps on its 4th channel.
  bool full = false;
  for (int i = 0; i < 2500 && !full; ++i) {
    auto status = raw->status();
    if (!check_ok(70, status, "status")) return failed;
    full = status->channels() == 5 && status->armed() >= 65 && status->uncollected() == 32;
    if (!full) check_ok(70, c.sleep_ns(2 * kMs), "sleep while the hog fills its share");
  }
  check(70, full, "the hog holds its share");
  const uint64_t base = sys::now_ns() + 2 * kMs;
  for (uint64_t i = 0; i < 20; ++i) {
    if (!check_ok(72, c.deadline(base + (19 - i) * 250'000, 19 - i), "arm")) return failed;
  }
  sys::TimerEvent events[20];
  if (collect_all(c, events, 20) != 0) return check(73, false, "collect 20 events"), failed;
  for (uint64_t i = 0; i < 20; ++i) {
    check(74, events[i].cookie == i && events[i].fired_at >= events[i].deadline, "in order, none early");
  }
  auto after = raw->status();
  check(75, after.ok() && after->channels() == 5, "the hog is still there");
  check_ok(76, c.close(), "detach");
  return failed;
}

// ---- ghost and watcher ----

int ghost(Env& env) {
  static sys::TimerClient channels[2];
  for (uint32_t i = 0; i < 2; ++i) {
    auto c = sys::TimerClient::open(env.session, env.endpoint);
    if (!check_ok(80, c, "open")) return failed;
    channels[i] = *c;
  }
  const uint64_t far = sys::now_ns() + 60'000 * kMs;
  for (uint64_t k = 0; k < 20; ++k) check_ok(81, channels[k % 2].deadline(far + k, k), "arm far ahead");
  for (uint64_t k = 0; k < 10; ++k) check_ok(82, channels[k % 2].deadline(0, k), "arm in the past");
  sys::Connection<Timer> raw(env.endpoint);
  auto status = raw->status();
  check(83, status.ok() && status->channels() == 2 && status->armed() == 20 && status->uncollected() == 10,
        "the server holds the ghost's");
  sys::print("timercli: ghost leaves with 2 channels, 20 deadlines armed, 10 events uncollected\n");
  return failed;  // no detach: the process ends, its notifications go with its session
}

int watcher(Env& env) {
  sys::Connection<Timer> raw(env.endpoint);
  auto opened = sys::TimerClient::open(env.session, env.endpoint);
  if (!check_ok(90, opened, "open")) return failed;
  sys::TimerClient c = *opened;
  // The ghost ended before this program started (it never blocks); its session is closed by the
  // time init has handled its exit. Give it up to 2 s.
  bool clean = false;
  uint64_t reclaimed = 0;
  for (int i = 0; i < 400 && !clean; ++i) {
    auto status = raw->status();
    if (!check_ok(91, status, "status")) return failed;
    clean = status->channels() == 1 && status->armed() == 0 && status->uncollected() == 0;
    reclaimed = status->reclaimed();
    if (!clean) check_ok(92, c.sleep_ns(5 * kMs), "sleep");
  }
  sys::print("timercli: watcher: %s, %lu channels reclaimed\n", clean ? "nothing left of the ghost" : "the ghost's remains stay",
             reclaimed);
  check(93, clean, "the ghost's channels, deadlines and events are gone");
  check(94, reclaimed >= 2, "both its channels reclaimed");
  // And the server still works for the living.
  const uint64_t until = sys::now_ns() + 3 * kMs;
  check_ok(95, c.sleep_until(until), "sleep");
  check(96, sys::now_ns() >= until, "not early");
  check_ok(97, c.close(), "detach");
  return failed;
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr || block->memory == 0) {
    sys::print("timercli: not started by init on a memory server\n");
    return 100;
  }
  auto endpoint = sys::find_grant(*block, "endpoint:timer");
  if (!endpoint.ok()) {
    sys::print("timercli: no endpoint:timer\n");
    return 101;
  }
  if (sys::tsc_hz() == 0) {
    sys::print("timercli: no TSC rate in the start-up block\n");
    return 102;
  }
  static sys::SlotAllocator slots(block->empty);
  static sys::MemorySession session;
  session = sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  Env env{*block, slots, session, *endpoint};
  const char* mode = block->argument;
  // TIMER0009: a program that fails at once, for init's restart back-off.
  if (strcmp(mode, "fail") == 0) {
    sys::print("timercli: fail: failing at tsc %lu\n", sys::rdtsc());
    return 1;
  }
  struct Mode {
    const char* name;
    int (*run)(Env&);
  };
  const Mode modes[] = {{"order", order},   {"cancel", cancel}, {"past", past},   {"malformed", malformed},
                        {"hog", hog},       {"victim", victim}, {"ghost", ghost}, {"watcher", watcher}};
  for (const Mode& m : modes) {
    if (strcmp(mode, m.name) == 0) {
      const int status = m.run(env);
      sys::print("timercli: %s: %s\n", mode, status == 0 ? "passed" : "failed");
      return status;
    }
  }
  sys::print("timercli: unknown mode %s\n", mode);
  return 103;
}
