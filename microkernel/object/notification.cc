// Asynchronous signals through notifications: Signal, Wait and Poll, binding to a thread, signals
// from interrupts, and destruction.
#include "object/notification.h"

#include "generic/scheduler.h"
#include "generic/trace.h"
#include "object/endpoint.h"
#include "object/ipc_internal.h"

namespace tessera::kernel {
namespace {

void trace_wait_done(Tcb* t, const Notification* n, uint64_t word) {
  if (tracing::on(trace::kCategoryNotifications)) {
    tracing::emit(this_cpu(), tracing::Kind::WaitDone, t->trace_id, n->trace_id, word, 0);
  }
}

// Ends `t`'s Recv on an endpoint with the notification word as its badge.
void deliver_bound(Tcb* t, uint64_t word) {
  Endpoint::at(t->ipc_object)->remove(t);
  ipc::complete_with_word(t, word);
  ipc::wake(t);
}

// Signals `n` with `badge`: a waiting thread wakes with the word, otherwise the badge is ORed into
// the word, which a bound thread receiving on an endpoint then takes. Returns whether a thread woke.
// `signaller` is the signalling thread's trace id (0: an interrupt).
bool notify(Notification* n, uint64_t badge, uint32_t signaller) {
  Tcb* woken = nullptr;
  uint64_t word = 0;
  if (Tcb* waiter = n->take_waiter(); waiter != nullptr) {
    word = badge | n->take_word();
    ipc::complete_with_word(waiter, word);
    ipc::wake(waiter);
    woken = waiter;
  } else {
    n->add_signal(badge);
    if (Tcb* bound = live(n->bound()); bound != nullptr && bound->ipc_state == IpcState::Receiving) {
      word = n->take_word();
      deliver_bound(bound, word);
      woken = bound;
    }
  }
  if (tracing::on(trace::kCategoryNotifications)) {
    tracing::emit(this_cpu(), tracing::Kind::Signal, signaller, n->trace_id, badge, woken != nullptr ? woken->trace_id : 0);
    if (woken != nullptr) trace_wait_done(woken, n, word);
  }
  return woken != nullptr;
}
}  // namespace

namespace ipc {

void notification_signal(Tcb* t, cap::TypedCap<cap::ObjectType::Notification> c) {
  syscall_regs(t).set_result(Error::Ok);
  if (notify(Notification::of(c.cap()), c->badge(), t->trace_id)) continue_or_switch(t);
  resume(t);
}

void notification_wait(Tcb* t, cap::TypedCap<cap::ObjectType::Notification> c, bool blocking) {
  Notification* n = Notification::of(c.cap());
  // A notification bound to a thread is that thread's alone to wait on (seL4: a cap fault).
  if (n->bound() != nullptr && n->bound() != t) fail(t, Error::IllegalOperation);
  if (n->active() || !blocking) {
    const uint64_t word = n->take_word();
    complete_with_word(t, word);
    trace_wait_done(t, n, word);
    resume(t);
  }
  t->ipc_state = IpcState::WaitingNotification;
  t->ipc_object = c->phys();
  n->add_waiter(t);
  block(t);
}

}  // namespace ipc

void notification_signal(uint64_t phys, uint64_t badge) { notify(Notification::at(phys), badge, 0); }

Result<void> bind_notification(Tcb* t, uint64_t notification) {
  Notification* n = Notification::at(notification);
  // seL4: neither side may already be bound, and nobody may be waiting on the notification.
  if (t->bound_notification != 0 || n->bound_ != nullptr || n->has_waiters()) return Error::IllegalOperation;
  t->bound_notification = notification;
  n->bound_ = t;
  return {};
}

void unbind_notification(Tcb* t) {
  if (t->bound_notification == 0) return;
  Notification::at(t->bound_notification)->bound_ = nullptr;
  t->bound_notification = 0;
}

void notification_destroyed(uint64_t phys) {
  auto* n = layout::phys_to<Notification>(phys);
  if (n->bound() != nullptr) unbind_notification(live(n->bound()));
  while (Tcb* t = n->take_waiter()) {
    syscall_regs(t).set_result(Error::ObjectDeleted);
    ipc::wake(t);
  }
}

}  // namespace tessera::kernel
