// Fault delivery: a fault message goes to the thread's fault endpoint as if the thread had made a
// Call; the handler's reply restarts it (docs/ipc.md).
#include "object/fault.h"

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>

#include "arch/x86_64/percpu.h"
#include "cap/cspace.h"
#include "generic/trace.h"
#include "object/endpoint.h"
#include "object/ipc_internal.h"

namespace tessera::kernel {

namespace ipc {
void transfer_fault(Tcb* faulter, Tcb* receiver, uint64_t badge, const Endpoint* endpoint) {
  SyscallRegs to = syscall_regs(receiver);
  for (uint32_t i = 0; i < kMessageRegisters; ++i) to.set_mr(i, faulter->fault_words[i]);
  if (IpcBuffer* dst = buffer_of(receiver, true); dst != nullptr) {
    for (uint32_t i = 0; i < kMessageRegisters; ++i) dst->msg[i] = faulter->fault_words[i];
  }
  const uint64_t info = capnp::MessageInfo{faulter->fault_label, kMessageRegisters, 0, 0}.encode();
  to.set_received(info, badge);
  if (tracing::on(trace::kCategoryIpc)) {
    tracing::emit(this_cpu(), tracing::Kind::Receive, receiver->trace_id, faulter->trace_id, info, endpoint->trace_id);
  }
}
}  // namespace ipc

bool send_fault(Tcb* t, cap::CapSlot* slot, uint64_t label, const uint64_t words[4]) {
  // As a Call: Write and a right to grant the reply.
  auto checked = cap::lookup_cap<cap::ObjectType::Endpoint>(slot, cap::CapRights::write(),
                                                            cap::CapRights::grant() | cap::CapRights::grant_reply());
  if (!checked) return false;
  const cap::Capability& c = checked->cap();
  t->ipc_is_fault = true;
  t->fault_label = label;
  for (int i = 0; i < 4; ++i) t->fault_words[i] = words[i];
  t->ipc_is_call = true;
  t->ipc_can_grant = false;
  t->ipc_can_grant_reply = false;
  t->ipc_badge = c.badge();
  Endpoint* ep = Endpoint::of(c);
  if (tracing::on(trace::kCategoryIpc)) {
    tracing::emit(this_cpu(), tracing::Kind::FaultMessage, t->trace_id, ep->trace_id,
                  capnp::MessageInfo{label, kMessageRegisters, 0, 0}.encode(), 0);
  }
  if (ep->has_receivers()) {
    Tcb* receiver = ep->take();
    ipc::transfer_fault(t, receiver, c.badge(), ep);
    ipc::link_reply(receiver, t);
    ipc::wake(receiver);
  } else {
    t->ipc_state = IpcState::Sending;
    t->ipc_object = c.phys();
    ep->enqueue_sender(t);
  }
  t->state = ThreadState::Blocked;
  if (this_cpu().current == t) this_cpu().current = nullptr;
  return true;
}

}  // namespace tessera::kernel
