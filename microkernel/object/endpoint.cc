// Synchronous IPC through endpoints: the IPC system calls (object/ipc.h; a notification cap goes on
// to notification.cc) on the general path — the common short cases also have a fastpath,
// object/fastpath.cc —, message transfer, and what happens to the queued threads when an endpoint
// is destroyed or badged sends are cancelled.
#include "object/endpoint.h"

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>
#include <tessera/string.h>
#include <tessera/syscall.h>

#include "arch/x86_64/percpu.h"
#include "cap/cnode_ops.h"
#include "generic/scheduler.h"
#include "generic/trace.h"
#include "object/ipc.h"
#include "object/ipc_internal.h"
#include "object/kernel_objects.h"
#include "object/notification.h"
#include "object/vspace.h"

namespace tessera::kernel {
namespace {

using capnp::MessageInfo;
using EndpointCap = cap::TypedCap<cap::ObjectType::Endpoint>;
using cap::CapRights;
using cap::ObjectType;

// The receiver's receive slot, if it named an empty one.
cap::CapSlot* receive_slot(Tcb* receiver, const IpcBuffer* buffer) {
  auto cnode = lookup_invoked(receiver, buffer->receive_cnode);
  if (!cnode || !cap::lookup_cap<cap::ObjectType::CNode>(*cnode, cap::CapRights::none())) return nullptr;
  auto slot = cap::lookup_slot(capabilities(), (*cnode)->cap, buffer->receive_index, buffer->receive_depth);
  if (!slot || !(*slot)->empty()) return nullptr;
  return *slot;
}

// `t` was queued on an endpoint that will not take its message: a thread that sent a fault starts
// again at the faulting instruction (it faults anew and meets whatever fault endpoint it has then,
// as seL4 restarts it), except after an unknown system call, which then simply fails; any other
// thread's system call fails with `error`.
void abandon_send(Tcb* t, Error error) {
  if (t->ipc_is_fault) {
    t->ipc_is_fault = false;
    if (t->fault_label == static_cast<uint64_t>(FaultKind::UnknownSyscall)) {
      syscall_regs(t).set_result(Error::NotSupported);
    }
  } else {
    syscall_regs(t).set_result(error);
  }
  ipc::wake(t);
}

// The record of a message `t` sends (Call, Send) or answers with (Reply: `object` is the caller's
// id), with its payload.
void trace_message(Tcb* t, tracing::Kind kind, uint32_t object, uint64_t info_word, uint64_t badge) {
  if (!tracing::on(trace::kCategoryIpc)) return;
  Cpu& cpu = this_cpu();
  tracing::emit(cpu, kind, t->trace_id, object, info_word, badge);
  if (tracing::on(trace::kCategoryPayload)) {
    tracing::emit_message_payload(cpu, syscall_regs(t), ipc::buffer_of(t, false), info_word);
  }
}
}  // namespace

namespace ipc {

IpcBuffer* buffer_of(Tcb* t, bool write) {
  if (t->ipc_buffer == 0) return nullptr;
  return static_cast<IpcBuffer*>(vspace::user_address(vspace_of(t), t->ipc_buffer, write));
}

void transfer(Tcb* sender, Tcb* receiver, uint64_t info_word, uint64_t badge, bool can_grant, uint64_t endpoint) {
  const MessageInfo info = MessageInfo::decode(info_word);
  uint32_t length = info.length_words > kMessageWords ? kMessageWords : info.length_words;
  SyscallRegs to = syscall_regs(receiver);
  to.copy_mrs(syscall_regs(sender));
  const IpcBuffer* src = buffer_of(sender, false);
  IpcBuffer* dst = buffer_of(receiver, true);
  if (length > kMessageRegisters) {
    if (src != nullptr && dst != nullptr) {
      memcpy(&dst->msg[kMessageRegisters], &src->msg[kMessageRegisters], (length - kMessageRegisters) * 8ull);
    } else {
      length = kMessageRegisters;
    }
  }
  uint32_t delivered = 0, unwrapped = 0;
  bool moved_one = false;
  if (can_grant && src != nullptr && dst != nullptr) {
    const uint32_t count = info.extra_caps > kMaxTransferCaps ? kMaxTransferCaps : info.extra_caps;
    for (uint32_t i = 0; i < count; ++i) {
      auto slot = lookup_invoked(sender, src->caps_or_badges[i]);
      if (!slot) break;
      const cap::Capability& c = (*slot)->cap;
      if (c.type() == cap::ObjectType::Endpoint && c.phys() == endpoint && endpoint != 0) {
        dst->caps_or_badges[i] = c.badge();
        unwrapped |= 1u << i;
      } else {
        cap::CapSlot* dest = moved_one ? nullptr : receive_slot(receiver, dst);
        if (dest == nullptr || !cap::copy_cap(capabilities(), *slot, dest)) break;
        moved_one = true;
      }
      ++delivered;
    }
  }
  ++sender->messages_sent;
  ++receiver->messages_received;
  const uint64_t delivered_info = MessageInfo{info.label, length, delivered, unwrapped}.encode();
  to.set_received(delivered_info, badge);
  if (endpoint != 0 && tracing::on(trace::kCategoryIpc)) {
    tracing::emit(this_cpu(), tracing::Kind::Receive, receiver->trace_id, sender->trace_id, delivered_info,
                  layout::phys_to<Endpoint>(endpoint)->trace_id);
  }
}

void send_reply(Tcb* t, uint64_t info_word) {
  Tcb* caller = live(t->reply_to);
  if (caller == nullptr) return;
  drop_reply(t);
  if (caller->ipc_state != IpcState::WaitingReply) return;
  trace_message(t, tracing::Kind::Reply, caller->trace_id, info_word, 0);
  if (caller->ipc_is_fault) {
    caller->ipc_is_fault = false;  // the reply restarts the thread with its (possibly rewritten) registers
  } else {
    transfer(t, caller, info_word, 0, t->ipc_receive_can_grant, 0);
  }
  wake(caller);
}

}  // namespace ipc

namespace {
using namespace ipc;

[[noreturn]] void endpoint_send(Tcb* t, EndpointCap c, bool blocking, bool is_call) {
  Endpoint* ep = Endpoint::of(c.cap());
  SyscallRegs regs = syscall_regs(t);
  note_send(t, c, is_call);
  // Recorded when the message is delivered or queued (an NBSend nobody takes is not).
  if (blocking || ep->has_receivers()) {
    trace_message(t, is_call ? tracing::Kind::Call : tracing::Kind::Send, ep->trace_id, regs.info(), c->badge());
  }

  if (ep->has_receivers()) {
    Tcb* receiver = ep->take();
    transfer(t, receiver, regs.info(), c->badge(), t->ipc_can_grant, c->phys());
    receiver->ipc_state = IpcState::None;
    receiver->state = ThreadState::Running;
    ++receiver->wakeups;
    if (is_call) {
      // The caller waits for the reply; the receiver runs now (the caller's time goes to it)
      // unless something more urgent is runnable.
      link_reply(receiver, t);
      t->state = ThreadState::Blocked;
      this_cpu().current = nullptr;
      if (!this_scheduler().has_higher(receiver->priority, false)) resume(receiver);
      this_scheduler().enqueue(receiver);
      schedule();
    }
    regs.set_result(Error::Ok);
    this_scheduler().enqueue(receiver);
    continue_or_switch(t);
  }
  if (!blocking) {  // NBSend with nobody waiting: the message is dropped (seL4)
    regs.set_result(Error::Ok);
    resume(t);
  }
  t->ipc_state = IpcState::Sending;
  t->ipc_object = c->phys();
  ep->enqueue_sender(t);
  block(t);
}

[[noreturn]] void endpoint_receive(Tcb* t, EndpointCap c, bool blocking) {
  Endpoint* ep = Endpoint::of(c.cap());
  // A receive on an endpoint gives up the reply still owed to an earlier caller (seL4 deletes
  // the caller cap), so a second call can never leave the first caller's link pointing here; that
  // caller learns at once that no reply will come.
  abandon_reply(t);
  t->ipc_receive_can_grant = c.has(cap::CapRights::grant());

  if (t->bound_notification != 0) {
    Notification* n = Notification::at(t->bound_notification);
    if (n->active()) {
      complete_with_word(t, n->take_word());
      resume(t);
    }
  }
  if (ep->has_senders()) {
    Tcb* sender = ep->take();
    if (sender->ipc_is_fault) {
      transfer_fault(sender, t, sender->ipc_badge, ep);
    } else {
      transfer(sender, t, syscall_regs(sender).info(), sender->ipc_badge, sender->ipc_can_grant, c->phys());
    }
    if (sender->ipc_is_call) {
      link_reply(t, sender);
    } else {
      syscall_regs(sender).set_result(Error::Ok);
      wake(sender);
    }
    continue_or_switch(t);
  }
  if (!blocking) fail(t, Error::WouldBlock);
  t->ipc_state = IpcState::Receiving;
  t->ipc_object = c->phys();
  ep->enqueue_receiver(t);
  block(t);
}

}  // namespace

// The IPC system calls: the one type and rights check of each (cap::lookup_cap), then the object's
// operation.
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
  endpoint_send(t, *ep, blocking, is_call);
}

void ipc_receive(Tcb* t, cap::CapSlot* target, bool blocking) {
  if (target->cap.type() == ObjectType::Notification) {
    auto n = cap::lookup_cap<ObjectType::Notification>(target, CapRights::read());
    if (!n) ipc::fail(t, n.error());
    ipc::notification_wait(t, *n, blocking);
  }
  auto ep = cap::lookup_cap<ObjectType::Endpoint>(target, CapRights::read());
  if (!ep) ipc::fail(t, ep.error());
  endpoint_receive(t, *ep, blocking);
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


void endpoint_destroyed(uint64_t phys) {
  auto* ep = layout::phys_to<Endpoint>(phys);
  while (Tcb* t = ep->take()) abandon_send(t, Error::ObjectDeleted);
}

void endpoint_cancel_badged_sends(uint64_t phys, uint64_t badge) {
  auto* ep = layout::phys_to<Endpoint>(phys);
  if (!ep->has_senders()) return;
  for (Tcb* t = ep->head_unchecked(); t != nullptr;) {
    Tcb* next = t->ipc_next;
    if (t->ipc_badge == badge) {
      // Restarted as seL4 does: the system call runs again when the thread next runs, and then
      // meets whatever its cap has become (typically deleted along with the badge).
      ep->remove(t);
      if (t->ipc_is_fault) {
        t->ipc_is_fault = false;
      } else {
        syscall_regs(t).restart();
      }
      ipc::wake(t);
    }
    t = next;
  }
}

}  // namespace tessera::kernel
