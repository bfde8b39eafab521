// Synchronisation between threads of one address space, built on notifications: the uncontended
// paths are one atomic instruction; a thread that must wait sleeps in the kernel (Wait on a
// notification) instead of spinning.
//
// Each object is given the notification(s) it sleeps on (capabilities the caller made and
// deletes after the object is no longer used; one notification per object, never shared).
// ConditionVariable and Barrier park each waiting thread on its own notification (its
// ThreadRuntime's `park`), so they work in threads that have a runtime record: the root thread
// and JoinableThreads (tessera/sys/thread_runtime.h). None of these objects is copyable or
// movable: threads refer to them by address.
#pragma once

#include <stdint.h>

#include <tessera/lock_guard.h>  // tessera::LockGuard, for Mutex too
#include <tessera/result.h>
#include <tessera/sys/cspace.h>

namespace tessera::sys {

// Mutual exclusion (Drepper's three-state futex mutex with a notification as the futex): state
// 0 = free, 1 = held, 2 = held and someone may be asleep; unlock signals only in state 2.
class Mutex {
 public:
  explicit constexpr Mutex(CPtr notification) : notification_(notification) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Returns once the calling thread holds the mutex. Not recursive: locking a held mutex from
  // its holder deadlocks. If the notification cannot be waited on, waits by yielding instead.
  void lock();
  // Takes the mutex if it is free; never blocks.
  bool try_lock();
  // Releases the mutex (the caller must hold it) and wakes one sleeper if any may be asleep.
  void unlock();
  // Whether some thread holds the mutex (a snapshot, for assertions and tests).
  bool is_locked() const { return __atomic_load_n(&state_, __ATOMIC_RELAXED) != 0; }

 private:
  uint32_t state_ = 0;
  CPtr notification_;
};

// A counting semaphore. The count may go negative: -n means n threads are waiting. Wake-ups are
// handed over as tokens, so signals that coalesce in the notification word are never lost.
class Semaphore {
 public:
  Semaphore(CPtr notification, int64_t initial) : count_(initial), notification_(notification) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Takes one unit, sleeping until one is available.
  void acquire();
  // Takes one unit if one is available now; never blocks.
  bool try_acquire();
  // Adds `units` (> 0) units, waking as many waiters.
  void release(uint32_t units = 1);
  // The current count (negative: number of waiters); a snapshot.
  int64_t count() const { return __atomic_load_n(&count_, __ATOMIC_RELAXED); }

 private:
  void wait_for_token();

  int64_t count_;
  uint64_t tokens_ = 0;  // wake-ups granted and not yet taken
  CPtr notification_;
};

// A condition variable: wait() atomically releases the mutex and parks the calling thread in a
// FIFO queue until notified; the queue is protected by an internal Mutex on `notification`.
// notify_* may be called with or without the user's mutex held. Spurious wake-ups do not happen
// (a waiter returns only when notified), but callers still re-check their predicate as usual.
class ConditionVariable {
 public:
  explicit ConditionVariable(CPtr notification) : queue_lock_(notification) {}
  ConditionVariable(const ConditionVariable&) = delete;
  ConditionVariable& operator=(const ConditionVariable&) = delete;

  // Called with `mutex` held; returns with it held again after a notify. IllegalOperation
  // (without waiting or releasing the mutex) when the calling thread has no park notification.
  Result<void> wait(Mutex& mutex);
  // Waits until `ready()` is true (checked with the mutex held).
  template <typename Predicate>
  Result<void> wait(Mutex& mutex, Predicate ready) {
    while (!ready()) TRY(wait(mutex));
    return {};
  }
  // Wakes the longest waiting thread, if any. Returns whether one was woken.
  bool notify_one();
  // Wakes every thread waiting now. Returns how many.
  uint32_t notify_all();

  struct Waiter;  // lives on the waiting thread's stack

 private:
  Mutex queue_lock_;
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

// A reusable barrier for `parties` threads: each arrive_and_wait() returns once all of them
// have arrived in the current round; then the next round starts.
class Barrier {
 public:
  // `lock_notification` and `wake_notification` must be distinct. parties >= 1.
  Barrier(CPtr lock_notification, CPtr wake_notification, uint32_t parties)
      : lock_(lock_notification), all_arrived_(wake_notification), parties_(parties == 0 ? 1 : parties) {}

  // Blocks until every party has arrived. Returns true in exactly one thread per round (the last
  // to arrive), false in the others; the errors of ConditionVariable::wait.
  Result<bool> arrive_and_wait();
  uint32_t parties() const { return parties_; }

 private:
  Mutex lock_;
  ConditionVariable all_arrived_;
  uint32_t parties_;
  uint32_t arrived_ = 0;
  uint64_t round_ = 0;
};

}  // namespace tessera::sys
