// The IPC system calls: the one rights check per operation, then the object's own code
// (endpoint.cc, notification.cc); and what every IPC path shares: waking, blocking, cancelling.
#include "object/ipc.h"

#include "arch/x86_64/percpu.h"
#include "cap/cspace.h"
#include "generic/scheduler.h"
#include "object/endpoint.h"
#include "object/ipc_internal.h"
#include "object/notification.h"

namespace tessera::kernel {

using cap::CapRights;
using cap::ObjectType;

void ipc_send(Tcb* t, cap::CapSlot* target, bool blocking, bool is_call) {
  if (target->cap.type() == ObjectType::Notification && !is_call) {
    auto n = cap::lookup_cap<ObjectType::Notification>(target, CapRights::write());
    if (!n) ipc::fail(t, n.error());
    ipc::notification_signal(t, *n);
  }
  // Send needs Write; a Call also needs a right to grant the reply (Grant or GrantReply).
  const CapRights reply_rights = is_call ? CapRights::grant() | CapRights::grant_reply() : CapRights::none();
  auto ep = cap::lookup_cap<ObjectType::Endpoint>(target, CapRights::write(), reply_rights);
  if (!ep) ipc::fail(t, ep.error());
  ipc::endpoint_send(t, *ep, blocking, is_call);
}

void ipc_receive(Tcb* t, cap::CapSlot* target, bool blocking) {
  if (target->cap.type() == ObjectType::Notification) {
    auto n = cap::lookup_cap<ObjectType::Notification>(target, CapRights::read());
    if (!n) ipc::fail(t, n.error());
    ipc::notification_wait(t, *n, blocking);
  }
  auto ep = cap::lookup_cap<ObjectType::Endpoint>(target, CapRights::read());
  if (!ep) ipc::fail(t, ep.error());
  ipc::endpoint_receive(t, *ep, blocking);
}

void ipc_reply(Tcb* t) {
  SyscallRegs regs = syscall_regs(t);
  ipc::send_reply(t, regs.info());
  regs.set_result(Error::Ok);
  ipc::continue_or_switch(t);
}

void ipc_reply_receive(Tcb* t, cap::CapSlot* target) {
  ipc::send_reply(t, syscall_regs(t).info());
  ipc_receive(t, target, true);
}

void cancel_ipc(Tcb* t, bool restart) {
  const IpcState state = t->ipc_state;
  switch (state) {
    case IpcState::Sending:
    case IpcState::Receiving:
      Endpoint::at(t->ipc_object)->remove(t);
      break;
    case IpcState::WaitingNotification:
      Notification::at(t->ipc_object)->remove_waiter(t);
      break;
    case IpcState::WaitingReply:
      if (Tcb* server = live(t->reply_from); server != nullptr) server->reply_to = nullptr;
      t->reply_from = nullptr;
      break;
    case IpcState::None:
      break;
  }
  // A reply this thread owes as a server survives suspension (seL4): resumed, it can still reply.
  t->ipc_state = IpcState::None;
  const bool was_fault = t->ipc_is_fault;
  t->ipc_is_fault = false;
  if (state != IpcState::None && restart && !was_fault) syscall_regs(t).restart();
}

void tcb_ipc_destroyed(Tcb* t) {
  cancel_ipc(t, false);
  ipc::drop_reply(t);
}

namespace ipc {

void wake(Tcb* t) {
  ++t->wakeups;
  t->ipc_state = IpcState::None;
  t->state = ThreadState::Running;
  this_scheduler().enqueue(t);
}

void continue_or_switch(Tcb* current) {
  Cpu& cpu = this_cpu();
  if (this_scheduler().has_higher(current->priority, false)) {
    this_scheduler().enqueue(current);
    cpu.current = nullptr;
    schedule();
  }
  resume(current);
}

void block(Tcb* t) {
  t->state = ThreadState::Blocked;
  this_cpu().current = nullptr;
  schedule();
}

void fail(Tcb* t, Error e) {
  syscall_regs(t).set_result(e);
  resume(t);
}

}  // namespace ipc
}  // namespace tessera::kernel
