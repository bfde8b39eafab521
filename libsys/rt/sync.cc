// Mutex, Semaphore, ConditionVariable and Barrier over notifications (tessera/sys/sync.h).
#include <tessera/sys/ipc.h>
#include <tessera/sys/sync.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/thread_runtime.h>

namespace tessera::sys {
namespace {
// Sleeps on `notification` until it is signalled. When it cannot be waited on (a bad cap), the
// caller falls back to yielding: it still makes progress, it just spins politely.
void sleep_on(CPtr notification) {
  uint64_t word = 0;
  if (notification == 0 || wait(notification, &word) != Error::Ok) (void)yield();
}
}  // namespace

// ---- Mutex ----

bool Mutex::try_lock() {
  uint32_t expected = 0;
  return __atomic_compare_exchange_n(&state_, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void Mutex::lock() {
  if (try_lock()) return;
  // Announce a possible sleeper (state 2) and sleep until the holder's unlock signals; whoever
  // swaps in 2 and finds 0 owns the mutex.
  while (__atomic_exchange_n(&state_, 2, __ATOMIC_ACQUIRE) != 0) sleep_on(notification_);
}

void Mutex::unlock() {
  if (__atomic_exchange_n(&state_, 0, __ATOMIC_RELEASE) == 2) (void)signal(notification_);
}

// ---- Semaphore ----

bool Semaphore::try_acquire() {
  int64_t c = __atomic_load_n(&count_, __ATOMIC_RELAXED);
  while (c > 0) {
    if (__atomic_compare_exchange_n(&count_, &c, c - 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return true;
  }
  return false;
}

void Semaphore::acquire() {
  if (__atomic_fetch_sub(&count_, 1, __ATOMIC_ACQUIRE) > 0) return;
  wait_for_token();
}

void Semaphore::wait_for_token() {
  for (;;) {
    uint64_t t = __atomic_load_n(&tokens_, __ATOMIC_ACQUIRE);
    while (t > 0) {
      if (__atomic_compare_exchange_n(&tokens_, &t, t - 1, false, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
        // Signals coalesce in the notification word: pass the wake-up on while tokens remain.
        if (t - 1 > 0) (void)signal(notification_);
        return;
      }
    }
    sleep_on(notification_);
  }
}

void Semaphore::release(uint32_t units) {
  for (uint32_t i = 0; i < units; ++i) {
    if (__atomic_fetch_add(&count_, 1, __ATOMIC_RELEASE) < 0) {
      __atomic_fetch_add(&tokens_, 1, __ATOMIC_RELEASE);
      (void)signal(notification_);
    }
  }
}

// ---- ConditionVariable ----

struct ConditionVariable::Waiter {
  CPtr park;
  Waiter* next;
  bool notified;
};

Result<void> ConditionVariable::wait(Mutex& mutex) {
  ThreadRuntime* self = current_runtime();
  if (self == nullptr || self->park == 0) return Error::IllegalOperation;
  Waiter me{self->park, nullptr, false};
  queue_lock_.lock();
  if (tail_ != nullptr) tail_->next = &me; else head_ = &me;
  tail_ = &me;
  queue_lock_.unlock();
  mutex.unlock();
  // A stale signal left in the park word (from an earlier wait) only costs one extra loop.
  while (!__atomic_load_n(&me.notified, __ATOMIC_ACQUIRE)) sleep_on(me.park);
  mutex.lock();
  return {};
}

bool ConditionVariable::notify_one() {
  queue_lock_.lock();
  Waiter* w = head_;
  if (w != nullptr) {
    head_ = w->next;
    if (head_ == nullptr) tail_ = nullptr;
  }
  queue_lock_.unlock();
  if (w == nullptr) return false;
  // Read the park cap before publishing `notified`: after that the waiter may return and its
  // Waiter (on its stack) disappears.
  const CPtr park = w->park;
  __atomic_store_n(&w->notified, true, __ATOMIC_RELEASE);
  (void)signal(park);
  return true;
}

uint32_t ConditionVariable::notify_all() {
  queue_lock_.lock();
  Waiter* w = head_;
  head_ = tail_ = nullptr;
  queue_lock_.unlock();
  uint32_t woken = 0;
  while (w != nullptr) {
    Waiter* next = w->next;
    const CPtr park = w->park;
    __atomic_store_n(&w->notified, true, __ATOMIC_RELEASE);
    (void)signal(park);
    w = next;
    ++woken;
  }
  return woken;
}

// ---- Barrier ----

Result<bool> Barrier::arrive_and_wait() {
  LockGuard guard(lock_);
  const uint64_t round = round_;
  if (++arrived_ == parties_) {
    arrived_ = 0;
    ++round_;
    (void)all_arrived_.notify_all();
    return true;
  }
  const Result<void> r = all_arrived_.wait(lock_, [&] { return round_ != round; });
  if (!r.ok()) {
    --arrived_;  // this thread never waited: it does not count for the round
    return r.error();
  }
  return false;
}

}  // namespace tessera::sys
