// A notification: a word of signal bits for asynchronous signals (docs/ipc.md). Signals OR their
// badge into the word and wake one waiter; a Wait takes the whole word. A notification may be bound
// to one thread, whose endpoint Recv a signal then also ends.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "cap/capability.h"
#include "cap/object_type.h"
#include "generic/kernel_layout.h"
#include "object/poison.h"
#include "object/thread_queue.h"

namespace tessera::kernel {

class Notification {
 public:
  // The notification a capability names (live as long as the cap is).
  static Notification* of(const cap::Capability& c) { return layout::phys_to<Notification>(c.phys()); }
  // A notification reached through a stored physical address (a thread's ipc_object or bound
  // notification, an IRQ line), checked against poison (object/poison.h).
  static Notification* at(uint64_t phys) {
    auto* n = layout::phys_to<Notification>(phys);
    check_live_word(&n->waiters_.head, "notification", n);
    return n;
  }

  // A signal arrived that nobody collected yet (seL4's Active state). Separate from the word
  // because a signal through an unbadged cap ORs in 0 and must still end the next wait.
  bool active() const { return active_; }
  // Records a signal nobody was waiting for.
  void add_signal(uint64_t badge) {
    word_ |= badge;
    active_ = true;
  }
  // Takes what the notification holds: its word, leaving it idle.
  uint64_t take_word() {
    const uint64_t word = word_;
    word_ = 0;
    active_ = false;
    return word;
  }

  bool has_waiters() const { return !waiters_.empty(); }
  Tcb* first_waiter() const { return waiters_.first(); }
  [[gnu::always_inline]] void add_waiter(Tcb* t) { waiters_.push(t); }
  [[gnu::always_inline]] void remove_waiter(Tcb* t) { waiters_.remove(t); }
  [[gnu::always_inline]] Tcb* take_waiter() { return waiters_.pop(); }

  // The thread it is bound to (Tcb.bindNotification), not yet checked against poison; or null.
  Tcb* bound() const { return bound_; }

  friend Result<void> bind_notification(Tcb* t, uint64_t notification);
  friend void unbind_notification(Tcb* t);

 private:
  uint64_t word_;  // ORed badges not yet collected
  bool active_;
  ThreadQueue waiters_;
  Tcb* bound_;

 public:
  uint32_t trace_id;  // names the notification in trace records (generic/trace.h)
};
static_assert(sizeof(Notification) <= (1u << cap::kNotificationBits));

// Binding a notification to a thread: a signal then also ends the thread's Recv on an endpoint,
// which returns with the notification word as the badge and an empty message (seL4 semantics).
// IllegalOperation when either side is already bound or a thread waits on the notification.
Result<void> bind_notification(Tcb* t, uint64_t notification);
void unbind_notification(Tcb* t);

// Signals the notification at `phys` with `badge` from kernel context (interrupts): wakes a waiter
// or ORs the badge into the word. Never switches threads itself.
void notification_signal(uint64_t phys, uint64_t badge);

// The notification is being destroyed: it is unbound and every waiter wakes with ObjectDeleted.
void notification_destroyed(uint64_t phys);

}  // namespace tessera::kernel
