// Shared by the IPC files (ipc.cc, endpoint.cc, notification.cc, fault.cc, fastpath.cc) and nothing
// else: reply links, what a send records, message transfer, waking and blocking threads.
#pragma once

#include <stdint.h>

#include <tessera/error.h>
#include <tessera/ipc_buffer.h>
#include <tessera/syscall.h>

#include "arch/x86_64/percpu.h"
#include "arch/x86_64/syscall_regs.h"
#include "cap/capability.h"
#include "cap/cspace.h"
#include "generic/scheduler.h"
#include "object/tcb.h"

namespace tessera::kernel {
class Endpoint;
}

namespace tessera::kernel::ipc {

// --- scheduling ---

// Makes `t` runnable again after it blocked, queued on the run queue.
inline void wake(Tcb* t) {
  ++t->wakeups;
  t->ipc_state = IpcState::None;
  t->state = ThreadState::Running;
  this_scheduler().enqueue(t);
}

// --- reply links: server->reply_to == caller exactly when caller->reply_from == server ---

// Unpairs the server from the caller it owes a reply (the reply is being sent, or abandoned).
[[gnu::always_inline]] inline void drop_reply(Tcb* server) {
  if (Tcb* caller = live(server->reply_to); caller != nullptr) {
    caller->reply_from = nullptr;
    server->reply_to = nullptr;
  }
}

// `caller` now waits for `server`'s reply. The reply may carry capabilities when the server's
// receiving cap had Grant (seL4), recorded in server->ipc_receive_can_grant when it received.
[[gnu::always_inline]] inline void link_reply(Tcb* server, Tcb* caller) {
  drop_reply(server);
  server->reply_to = caller;
  caller->reply_from = server;
  caller->ipc_state = IpcState::WaitingReply;
}

// The server will not send the reply it owes: it receives again, or it is being destroyed (a
// server that faulted or exited and is restarted). The caller wakes at once with NoReply instead of
// waiting forever (seL4 leaves it blocked; docs/ipc.md); a thread whose fault the server was
// handling restarts instead, faulting again (after an unknown system call: NotSupported).
inline void abandon_reply(Tcb* server) {
  Tcb* caller = live(server->reply_to);
  if (caller == nullptr) return;
  drop_reply(server);
  if (caller->ipc_state != IpcState::WaitingReply) return;
  if (caller->ipc_is_fault) {
    caller->ipc_is_fault = false;
    if (caller->fault_label == static_cast<uint64_t>(FaultKind::UnknownSyscall)) {
      syscall_regs(caller).set_result(Error::NotSupported);
    }
  } else {
    syscall_regs(caller).set_result(Error::NoReply);
  }
  wake(caller);
}

// Records what a send carries, on every path alike (blocking or not, fastpath or not).
[[gnu::always_inline]] inline void note_send(Tcb* t, const cap::TypedCap<cap::ObjectType::Endpoint>& c,
                                             bool is_call) {
  t->ipc_is_call = is_call;
  t->ipc_is_fault = false;
  t->ipc_can_grant = c.has(cap::CapRights::grant());
  t->ipc_can_grant_reply = c.has(cap::CapRights::grant_reply());
  t->ipc_badge = c->badge();
}

// Ends a wait (Wait, Poll, or a bound thread's endpoint Recv): the notification word comes back as
// the badge, with an empty message.
[[gnu::always_inline]] inline void complete_with_word(Tcb* t, uint64_t word) {
  syscall_regs(t).set_received(0, word);
}

// The IPC buffer of `t` as kernel memory, or null when it is not mapped (writable, for `write`) or
// the thread's address space is gone. A 1 KiB-aligned buffer never crosses a page, so one
// translation covers it (endpoint.cc).
IpcBuffer* buffer_of(Tcb* t, bool write);
// Moves the message `info_word` from `sender` to `receiver`: message registers, IPC-buffer words,
// caps (with `can_grant`; caps naming the endpoint at `endpoint` are unwrapped to their badges),
// and the badge (endpoint.cc).
void transfer(Tcb* sender, Tcb* receiver, uint64_t info_word, uint64_t badge, bool can_grant, uint64_t endpoint);
// Delivers the fault message `faulter` carries to `receiver` (fault.cc).
void transfer_fault(Tcb* faulter, Tcb* receiver, uint64_t badge, const Endpoint* endpoint);
// Sends the reply `info_word` from `t` to the caller it owes one, if any (endpoint.cc).
void send_reply(Tcb* t, uint64_t info_word);

// --- the notification operations behind the system calls, on caps already checked ---

[[noreturn]] void notification_signal(Tcb* t, cap::TypedCap<cap::ObjectType::Notification> n);
[[noreturn]] void notification_wait(Tcb* t, cap::TypedCap<cap::ObjectType::Notification> n, bool blocking);


// `current` goes on running unless something more urgent is runnable.
[[noreturn]] inline void continue_or_switch(Tcb* current) {
  Cpu& cpu = this_cpu();
  if (this_scheduler().has_higher(current->priority, false)) {
    this_scheduler().enqueue(current);
    cpu.current = nullptr;
    schedule();
  }
  resume(current);
}

// `t` waits (it is queued on an object already); another thread runs.
[[noreturn]] inline void block(Tcb* t) {
  t->state = ThreadState::Blocked;
  this_cpu().current = nullptr;
  schedule();
}

// The system call of `t` ends with `e`.
[[noreturn]] inline void fail(Tcb* t, Error e) {
  syscall_regs(t).set_result(e);
  resume(t);
}

}  // namespace tessera::kernel::ipc
