#include "generic/invocation.h"

#include <tessera/string.h>

#include "arch/x86_64/percpu.h"
#include "cap/cspace.h"
#include "generic/scheduler.h"
#include "generic/trace.h"
#include "object/vspace.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
namespace {

constexpr uint64_t kMessageOffset = __builtin_offsetof(IpcBuffer, msg);
constexpr uint64_t kCapsOffset = __builtin_offsetof(IpcBuffer, caps_or_badges);

// Message and reply words of the invocation in progress (one per CPU once SMP arrives).
uint64_t message_words[kMessageWords];
uint64_t reply_words[kMessageWords];

Result<void> dispatch(Invocation& inv) {
  switch (inv.target->cap.type()) {
    case cap::ObjectType::Untyped: return invoke_untyped(inv);
    case cap::ObjectType::CNode: return invoke_cnode(inv);
    case cap::ObjectType::Tcb: return invoke_tcb(inv);
    case cap::ObjectType::Pdpt:
    case cap::ObjectType::PageDirectory:
    case cap::ObjectType::PageTable: return invoke_paging(inv);
    case cap::ObjectType::Frame4K:
    case cap::ObjectType::Frame2M: return invoke_frame(inv);
    case cap::ObjectType::IoPortControl: return invoke_io_port_control(inv);
    case cap::ObjectType::IoPort: return invoke_io_port(inv);
    case cap::ObjectType::IrqControl: return invoke_irq_control(inv);
    case cap::ObjectType::IrqHandler: return invoke_irq_handler(inv);
    case cap::ObjectType::SchedControl: return invoke_sched_control(inv);
    case cap::ObjectType::SchedContext: return invoke_sched_context(inv);
    case cap::ObjectType::TraceControl: return invoke_trace_control(inv);
    default: return Error::IllegalOperation;  // no invocations (Pml4, control caps not yet served)
  }
}

// Gathers the message: words 0-3 from registers, the rest from the caller's IPC buffer; then the
// extra caps named in the buffer. Errors here are the system call's own.
Result<void> gather(Tcb* t, const capnp::MessageInfo& info, Invocation* inv) {
  if (info.length_words > kMessageWords || info.extra_caps > kMaxTransferCaps) return Error::RangeError;
  const SyscallRegs regs = syscall_regs(t);
  for (uint32_t i = 0; i < kMessageRegisters; ++i) message_words[i] = regs.mr(i);
  if (info.length_words > kMessageRegisters || info.extra_caps > 0) {
    if (t->ipc_buffer == 0) return Error::InvalidArgument;
  }
  if (info.length_words > kMessageRegisters) {
    TRY(vspace::copy_from_user(vspace_of(t), &message_words[kMessageRegisters],
                               t->ipc_buffer + kMessageOffset + kMessageRegisters * 8,
                               (info.length_words - kMessageRegisters) * 8ull));
  }
  uint64_t cptrs[kMaxTransferCaps] = {};
  if (info.extra_caps > 0) {
    TRY(vspace::copy_from_user(vspace_of(t), cptrs, t->ipc_buffer + kCapsOffset, info.extra_caps * 8ull));
  }
  inv->extra_count = 0;
  for (uint32_t i = 0; i < info.extra_caps; ++i) {
    inv->extra[i] = TRY(lookup_invoked(t, cptrs[i]));
    inv->extra_count = i + 1;
  }
  inv->request = capnp::Request{info.label, reinterpret_cast<const capnp::Word*>(message_words),
                                info.length_words, inv->extra_count};
  return {};
}

// Writes the reply into the caller's registers and IPC buffer.
void deliver_reply(Tcb* t, Error error, uint32_t length) {
  if (length > kMessageRegisters && t->ipc_buffer != 0) {
    auto r = vspace::copy_to_user(vspace_of(t), t->ipc_buffer + kMessageOffset + kMessageRegisters * 8,
                                  &reply_words[kMessageRegisters], (length - kMessageRegisters) * 8ull);
    if (!r) {
      error = r.error();
      length = 0;
    }
  } else if (length > kMessageRegisters) {
    error = Error::InvalidArgument;
    length = 0;
  }
  SyscallRegs regs = syscall_regs(t);
  for (uint32_t i = 0; i < kMessageRegisters; ++i) regs.set_mr(i, reply_words[i]);
  regs.set_info(capnp::MessageInfo{static_cast<uint64_t>(error), length, 0, 0}.encode());
  regs.set_result(Error::Ok);
}
}  // namespace

Result<cap::CapSlot*> Invocation::cap_param(capnp::CapIndex index) const {
  if (index.value >= extra_count) return Error::InvalidCapability;
  return extra[index.value];
}

const cap::Capability& Invocation::cspace_root() const { return tcb_slot(caller, kTcbCSpace)->cap; }

void handle_invocation(Tcb* t, cap::CapSlot* target, bool wants_reply) {
  const capnp::MessageInfo info = capnp::MessageInfo::decode(syscall_regs(t).info());
  Invocation inv{};
  inv.caller = t;
  inv.target = target;
  const cap::ObjectType target_type = target->cap.type();  // the slot may be gone afterwards

  Error error = Error::Ok;
  uint32_t length = 0;
  memset(reply_words, 0, sizeof(reply_words));
  inv.reply_buffer = capnp::ReplyBuffer{reinterpret_cast<capnp::Word*>(reply_words), kMessageWords, nullptr, 0};
  if (auto g = gather(t, info, &inv); !g) {
    error = g.error();
  } else if (auto r = dispatch(inv); !r) {
    error = r.error();
  } else {
    length = inv.reply_length;
  }
  if (wants_reply) deliver_reply(t, error, length);
  else syscall_regs(t).set_result(Error::Ok);
  if (tracing::on(trace::kCategoryInvocations)) {
    tracing::emit(this_cpu(), tracing::Kind::Invocation, t->trace_id, static_cast<uint32_t>(target_type),
                  info.label, static_cast<uint64_t>(error));
  }

  // The invocation may have stopped the caller (suspending itself) or woken a more urgent thread.
  Cpu& cpu = this_cpu();
  if (t->state != ThreadState::Running || cpu.current != t) {
    if (cpu.current == t) cpu.current = nullptr;
    schedule();
  }
  if (this_scheduler().has_higher(t->priority, false)) {
    this_scheduler().enqueue(t);
    cpu.current = nullptr;
    schedule();
  }
  resume(t);
}

}  // namespace tessera::kernel
