// Synchronous IPC through endpoints and asynchronous signals through notifications (seL4
// semantics, docs/ipc.md). Blocking never happens inside the kernel: a thread that must wait is
// queued with its registers saved and the CPU schedules another one.
#pragma once

#include <stdint.h>

#include "arch/x86_64/trap.h"
#include "cap/object_type.h"
#include "cap/slot.h"
#include <tessera/result.h>

#include "generic/kernel_layout.h"
#include "object/poison.h"
#include "object/tcb.h"

namespace tessera::kernel {

// Endpoint and notification objects as they sit in memory (64 bytes each, from untyped).
struct Endpoint {
  Tcb* head;
  Tcb* tail;
  uint8_t state;  // EndpointState
};
struct Notification {
  uint64_t word;  // ORed badges not yet collected
  // A signal arrived that nobody collected yet. Separate from `word` because a signal through an
  // unbadged cap ORs in 0 and must still end the next wait (seL4's Active state).
  bool active;
  Tcb* head;      // waiters
  Tcb* tail;
  Tcb* bound;     // the thread it is bound to (Tcb.bindNotification), or null
};
static_assert(sizeof(Notification) <= (1u << cap::kNotificationBits));

// Endpoints and notifications reached through a stored physical address (a thread's ipc_object
// or bound notification, an IRQ line), checked against poison (object/poison.h).
inline Endpoint* endpoint_at(uint64_t phys) {
  auto* ep = layout::phys_to<Endpoint>(phys);
  check_live_word(&ep->head, "endpoint", ep);
  return ep;
}
inline Notification* notification_at(uint64_t phys) {
  auto* n = layout::phys_to<Notification>(phys);
  check_live_word(&n->head, "notification", n);
  return n;
}

// Binding a notification to a thread: a signal then also ends the thread's Recv on an endpoint,
// which returns with the notification word as the badge and an empty message (seL4 semantics).
// IllegalOperation when either side is already bound.
Result<void> bind_notification(Tcb* t, uint64_t notification);
void unbind_notification(Tcb* t);

// The IPC system calls. Each leaves through resume()/schedule(); `slot` holds the endpoint or
// notification cap the caller named.
[[noreturn]] void ipc_send(Tcb* t, TrapFrame& f, cap::CapSlot* slot, bool blocking, bool is_call);
[[noreturn]] void ipc_receive(Tcb* t, TrapFrame& f, cap::CapSlot* slot, bool blocking);
[[noreturn]] void ipc_reply(Tcb* t, TrapFrame& f);
// Sends the reply (if one is owed) and then receives on `slot`.
[[noreturn]] void ipc_reply_receive(Tcb* t, TrapFrame& f, cap::CapSlot* slot);

// The fastpath (seL4's): Call and ReplyRecv with at most 4 message words, no capabilities, a
// one-level CSpace lookup, a partner already waiting and a priority that allows switching straight
// to it. On success they switch threads and never return; otherwise they change nothing and
// return false, and the general path handles the call with identical results.
bool ipc_fastpath_call(Tcb* t, TrapFrame& f);
bool ipc_fastpath_reply_recv(Tcb* t, TrapFrame& f);
// Send or Signal to a partner already waiting (short message, no caps, one-level lookup).
bool ipc_fastpath_send(Tcb* t, TrapFrame& f);
extern bool ipc_fastpath_enabled;

// Sends a fault message from `t` (which stops) to the endpoint in `slot`, as a Call. Returns false
// when the cap cannot take it (not an endpoint, or missing Write and Grant/GrantReply).
bool ipc_send_fault(Tcb* t, cap::CapSlot* slot, uint64_t label, const uint64_t words[4]);

// Takes `t` out of any IPC it is blocked in (suspend, destroy). With `restart`, the interrupted
// system call runs again when the thread resumes (seL4's Restart state).
void cancel_ipc(Tcb* t, bool restart);
// Signals the notification at `phys` with `badge` from kernel context (interrupts): wakes a waiter
// or ORs the badge into the word. Never switches threads itself.
void notification_signal(uint64_t phys, uint64_t badge);

// The object is being destroyed: every waiter wakes with ObjectDeleted (a thread whose fault
// message was queued restarts instead and faults again).
void endpoint_destroyed(uint64_t phys);
// CNode.cancelBadgedSends: senders queued on the endpoint with `badge` leave the queue and restart
// their system call (seL4).
void endpoint_cancel_badged_sends(uint64_t phys, uint64_t badge);
// The TCB is being destroyed: leave every queue, drop the reply owed to it and the reply it owes.
void tcb_ipc_destroyed(Tcb* t);
void notification_destroyed(uint64_t phys);

}  // namespace tessera::kernel
