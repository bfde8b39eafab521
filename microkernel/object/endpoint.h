// An endpoint: a rendezvous point for synchronous IPC (docs/ipc.md). It holds one queue of threads
// that all wait the same way, senders or receivers, and its state says which. The queue and the
// state change only through the operations below, so "state is Idle exactly when the queue is
// empty" always holds.
#pragma once

#include <stdint.h>

#include "cap/capability.h"
#include "cap/object_type.h"
#include "generic/kernel_layout.h"
#include "object/poison.h"
#include "object/thread_queue.h"

namespace tessera::kernel {

class Endpoint {
 public:
  enum class State : uint8_t { Idle = 0, Senders = 1, Receivers = 2 };

  // The endpoint a capability names (live as long as the cap is).
  static Endpoint* of(const cap::Capability& c) { return layout::phys_to<Endpoint>(c.phys()); }
  // An endpoint reached through a stored physical address (a thread's ipc_object), checked against
  // poison (object/poison.h).
  static Endpoint* at(uint64_t phys) {
    auto* ep = layout::phys_to<Endpoint>(phys);
    check_live_word(&ep->queue_.head, "endpoint", ep);
    return ep;
  }

  State state() const { return state_; }
  bool has_senders() const { return state_ == State::Senders; }
  bool has_receivers() const { return state_ == State::Receivers; }
  // The thread at the head of the queue (checked against poison), or null.
  Tcb* first() const { return queue_.first(); }
  // For walking the queue in order (through Tcb::ipc_next) without changing it.
  Tcb* head_unchecked() const { return queue_.head; }

  // `t` waits to send / to receive. The queue must be idle or already hold threads waiting the
  // same way.
  [[gnu::always_inline]] void enqueue_sender(Tcb* t) { enqueue(t, State::Senders); }
  [[gnu::always_inline]] void enqueue_receiver(Tcb* t) { enqueue(t, State::Receivers); }
  // Takes `t` (which must be queued here) off the queue; the last one leaves the endpoint idle.
  [[gnu::always_inline]] void remove(Tcb* t) {
    queue_.remove(t);
    if (queue_.empty()) state_ = State::Idle;
  }
  // Takes `t`, the thread first() returned, off the queue.
  [[gnu::always_inline]] void remove_first(Tcb* t) {
    queue_.remove_first(t);
    if (queue_.empty()) state_ = State::Idle;
  }
  // Takes the first thread off the queue; null when idle.
  [[gnu::always_inline]] Tcb* take() {
    Tcb* t = first();
    if (t != nullptr) remove_first(t);
    return t;
  }

 private:
  [[gnu::always_inline]] void enqueue(Tcb* t, State waiting) {
    queue_.push(t);
    state_ = waiting;
  }

  ThreadQueue queue_;
  State state_;

 public:
  uint32_t trace_id;  // names the endpoint in trace records (generic/trace.h)
};
static_assert(sizeof(Endpoint) <= (1u << cap::kEndpointBits));

// CNode.cancelBadgedSends: senders queued on the endpoint with `badge` leave the queue and restart
// their system call (seL4).
void endpoint_cancel_badged_sends(uint64_t phys, uint64_t badge);
// The endpoint is being destroyed: every waiter wakes with ObjectDeleted (a thread whose fault
// message was queued restarts instead and faults again).
void endpoint_destroyed(uint64_t phys);

}  // namespace tessera::kernel
