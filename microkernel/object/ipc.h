// The IPC system calls: synchronous messages through endpoints (object/endpoint.h) and asynchronous
// signals through notifications (object/notification.h), with seL4 semantics (docs/ipc.md).
// Blocking never happens inside the kernel: a thread that must wait is queued with its registers
// saved and the CPU schedules another one. Fault messages: object/fault.h; the fastpath:
// object/fastpath.h.
#pragma once

#include <stdint.h>

#include "cap/slot.h"
#include "object/tcb.h"

namespace tessera::kernel {

// Each leaves through resume()/schedule(). `target` is the non-empty slot the caller's cptr named;
// its type and rights are checked here (WrongObjectType, InsufficientRights as the result).
// Send, NBSend and Call: an endpoint send, or a signal when `target` is a notification (not Call).
[[noreturn]] void ipc_send(Tcb* t, cap::CapSlot* target, bool blocking, bool is_call);
// Recv and NBRecv on an endpoint, Wait and Poll on a notification.
[[noreturn]] void ipc_receive(Tcb* t, cap::CapSlot* target, bool blocking);
[[noreturn]] void ipc_reply(Tcb* t);
// Sends the reply (if one is owed) and then receives on `target`.
[[noreturn]] void ipc_reply_receive(Tcb* t, cap::CapSlot* target);

// Takes `t` out of any IPC it is blocked in (suspend, destroy). With `restart`, the interrupted
// system call runs again when the thread resumes (seL4's Restart state).
void cancel_ipc(Tcb* t, bool restart);
// The TCB is being destroyed: leave every queue, drop the reply owed to it and the reply it owes.
void tcb_ipc_destroyed(Tcb* t);

}  // namespace tessera::kernel
