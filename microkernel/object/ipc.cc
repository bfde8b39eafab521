// Taking a thread out of IPC: cancelling what it is blocked in (suspend, destroy). The IPC system
// calls themselves are in endpoint.cc (and notification.cc), the fastpath in fastpath.cc.
#include "object/ipc.h"

#include "object/endpoint.h"
#include "object/ipc_internal.h"
#include "object/notification.h"

namespace tessera::kernel {

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

}  // namespace tessera::kernel
