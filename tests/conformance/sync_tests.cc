// libsys synchronisation tests (suite `user`): Mutex, Semaphore, ConditionVariable and Barrier
// between JoinableThreads of the root task, sleeping on notifications.
#include <stdint.h>

#include <tessera/sys/sync.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/thread_runtime.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;
using sys::JoinableThread;

constexpr uint64_t kWindows = 0x38000000;  // thread i's window: kWindows + i * 0x10000

// ---- SYNC0001 ----
struct Counter {
  sys::Mutex* mutex;
  uint64_t value;  // plain: only the mutex protects it
  uint32_t rounds;
};

void count_under_lock(uint64_t argument) {
  auto* c = reinterpret_cast<Counter*>(argument);
  for (uint32_t i = 0; i < c->rounds; ++i) {
    tessera::LockGuard guard(*c->mutex);
    const uint64_t seen = c->value;
    if (i % 16 == 0) (void)sys::yield();  // hand the CPU over while holding the lock: contention
    c->value = seen + 1;
  }
}
}  // namespace

TESSERA_USER_TEST(SYNC0001, pass, "a Mutex keeps a shared counter exact under contention between four threads") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  sys::Mutex mutex(notification);
  Counter counter{&mutex, 0, 1000};
  {
    auto a = spawn_joinable(env, kWindows, 0),
         b = spawn_joinable(env, kWindows, 1), c = spawn_joinable(env, kWindows, 2);
    if (t.failed()) return;
    JoinableThread* threads[] = {&*a, &*b, &*c};
    for (JoinableThread* thread : threads) expect_ok(t, thread->start(count_under_lock, reinterpret_cast<uint64_t>(&counter)), "start");
    count_under_lock(reinterpret_cast<uint64_t>(&counter));
    for (JoinableThread* thread : threads) expect_ok(t, thread->join(), "join");
  }
  t.check(counter.value == 4000, "counter is %lu, expected 4000", counter.value);
  t.check(!mutex.is_locked() && mutex.try_lock(), "the mutex is free afterwards");
  mutex.unlock();
}

namespace {
// ---- SYNC0002 ----
struct Consumers {
  sys::Semaphore* items;
  uint64_t taken;  // atomic
  uint32_t per_thread;
};

void consume(uint64_t argument) {
  auto* c = reinterpret_cast<Consumers*>(argument);
  for (uint32_t i = 0; i < c->per_thread; ++i) {
    c->items->acquire();
    __atomic_add_fetch(&c->taken, 1, __ATOMIC_SEQ_CST);
  }
}
}  // namespace

TESSERA_USER_TEST(SYNC0002, pass, "a Semaphore hands out exactly the units released, waking sleeping consumers") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  sys::Semaphore items(notification, 0);
  t.check(!items.try_acquire(), "try_acquire on an empty semaphore succeeded");
  Consumers consumers{&items, 0, 50};
  {
    auto a = spawn_joinable(env, kWindows, 0),
         b = spawn_joinable(env, kWindows, 1), c = spawn_joinable(env, kWindows, 2);
    if (t.failed()) return;
    JoinableThread* threads[] = {&*a, &*b, &*c};
    for (JoinableThread* thread : threads) expect_ok(t, thread->start(consume, reinterpret_cast<uint64_t>(&consumers)), "start");
    let_run();  // all three asleep on the semaphore now
    t.check(items.count() == -3, "count with three sleepers is %ld", items.count());
    for (uint32_t burst = 0; burst < 30; ++burst) {
      items.release(5);  // 150 units in bursts: signals coalesce, none may be lost
      if (burst % 3 == 0) let_run(2);
    }
    for (JoinableThread* thread : threads) expect_ok(t, thread->join(), "join");
  }
  t.check(consumers.taken == 150, "%lu units taken, expected 150", consumers.taken);
  t.check(items.count() == 0 && !items.try_acquire(), "count %ld at the end", items.count());
  items.release(2);
  t.check(items.try_acquire() && items.try_acquire() && !items.try_acquire(), "two released units, two taken");
}

namespace {
// ---- SYNC0003 ----
struct Mailbox {
  sys::Mutex* mutex;
  sys::ConditionVariable* changed;
  uint32_t items = 0;       // protected by mutex
  uint32_t consumed = 0;    // protected by mutex
  bool closed = false;      // protected by mutex
  tessera::Error error = tessera::Error::Ok;
};

void take_items(uint64_t argument) {
  auto* m = reinterpret_cast<Mailbox*>(argument);
  tessera::LockGuard guard(*m->mutex);
  for (;;) {
    auto r = m->changed->wait(*m->mutex, [&] { return m->items > 0 || m->closed; });
    if (!r.ok()) {
      m->error = r.error();
      return;
    }
    if (m->items == 0) return;  // closed and drained
    --m->items;
    ++m->consumed;
  }
}
}  // namespace

TESSERA_USER_TEST(SYNC0003, pass, "a ConditionVariable wakes one waiter per notify_one and all on notify_all") {
  Env env(t);
  OwnedCap lock_notification{env, env.make(ObjectType::Notification)};
  OwnedCap cv_notification{env, env.make(ObjectType::Notification)};
  sys::Mutex mutex(lock_notification);
  sys::ConditionVariable changed(cv_notification);
  Mailbox box{&mutex, &changed};
  {
    auto a = spawn_joinable(env, kWindows, 0),
         b = spawn_joinable(env, kWindows, 1), c = spawn_joinable(env, kWindows, 2);
    if (t.failed()) return;
    JoinableThread* threads[] = {&*a, &*b, &*c};
    for (JoinableThread* thread : threads) expect_ok(t, thread->start(take_items, reinterpret_cast<uint64_t>(&box)), "start");
    let_run();
    for (uint32_t i = 0; i < 20; ++i) {
      {
        tessera::LockGuard guard(mutex);
        ++box.items;
      }
      changed.notify_one();
      let_run(3);
    }
    {
      tessera::LockGuard guard(mutex);
      t.check(box.consumed == 20, "%u of 20 items consumed one notify at a time", box.consumed);
      box.closed = true;
    }
    const uint32_t woken = changed.notify_all();
    t.check(woken == 3, "notify_all woke %u waiters, expected 3", woken);
    for (JoinableThread* thread : threads) {
      expect_ok(t, thread->join(), "join");
      t.check(thread->finished(), "a waiter did not finish");
    }
  }
  t.check(box.error == Error::Ok, "wait failed: %s", error_name(box.error));
  t.check(!changed.notify_one() && changed.notify_all() == 0, "no waiters left");
}

namespace {
// ---- SYNC0004 ----
constexpr uint32_t kParties = 4;
constexpr uint32_t kRounds = 6;
struct Race {
  sys::Barrier* barrier;
  uint32_t progress[kParties];  // rounds each party has finished (atomic)
  uint32_t ahead;               // a party saw another one still in an earlier round (atomic)
  uint32_t last_arrivers;       // arrive_and_wait() returned true (atomic)
  uint32_t errors;
};

void run_rounds(uint64_t argument) {
  auto* race = reinterpret_cast<Race*>(argument >> 8);
  const uint32_t me = static_cast<uint32_t>(argument & 0xFF);
  for (uint32_t round = 0; round < kRounds; ++round) {
    for (uint32_t i = 0; i < me + 1; ++i) (void)sys::yield();  // arrive at different times
    __atomic_store_n(&race->progress[me], round + 1, __ATOMIC_SEQ_CST);
    auto last = race->barrier->arrive_and_wait();
    if (!last.ok()) {
      __atomic_add_fetch(&race->errors, 1, __ATOMIC_SEQ_CST);
      return;
    }
    if (*last) __atomic_add_fetch(&race->last_arrivers, 1, __ATOMIC_SEQ_CST);
    for (uint32_t p = 0; p < kParties; ++p) {
      if (__atomic_load_n(&race->progress[p], __ATOMIC_SEQ_CST) < round + 1) __atomic_add_fetch(&race->ahead, 1, __ATOMIC_SEQ_CST);
    }
  }
}
}  // namespace

TESSERA_USER_TEST(SYNC0004, pass, "a Barrier releases no party before all have arrived, round after round") {
  Env env(t);
  OwnedCap lock_notification{env, env.make(ObjectType::Notification)};
  OwnedCap wake_notification{env, env.make(ObjectType::Notification)};
  sys::Barrier barrier(lock_notification, wake_notification, kParties);
  Race race{&barrier, {}, 0, 0, 0};
  const uint64_t base = reinterpret_cast<uint64_t>(&race) << 8;
  {
    auto a = spawn_joinable(env, kWindows, 0),
         b = spawn_joinable(env, kWindows, 1), c = spawn_joinable(env, kWindows, 2);
    if (t.failed()) return;
    JoinableThread* threads[] = {&*a, &*b, &*c};
    for (uint32_t i = 0; i < 3; ++i) expect_ok(t, threads[i]->start(run_rounds, base | (i + 1)), "start");
    run_rounds(base | 0);  // the root thread is the fourth party
    for (JoinableThread* thread : threads) expect_ok(t, thread->join(), "join");
  }
  t.check(race.errors == 0, "%u arrive_and_wait calls failed", race.errors);
  t.check(race.ahead == 0, "a party left a round %u times before all had arrived", race.ahead);
  t.check(race.last_arrivers == kRounds, "%u last arrivers in %u rounds", race.last_arrivers, kRounds);
}
