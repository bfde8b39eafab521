// TCB invocations: configuring a thread's spaces and IPC buffer, priorities bounded by the MCP,
// suspend/resume, and its registers.
#include <tessera/abi/kernel.capnp.h>
#include <tessera/ipc_buffer.h>
#include <tessera/string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "cap/cnode_ops.h"
#include "cap/cspace.h"
#include "cap/delete.h"
#include "generic/invocation.h"
#include "generic/trace.h"
#include "generic/scheduler.h"
#include "object/vspace.h"
#include "object/ipc.h"
#include "object/notification.h"
#include "object/kernel_objects.h"
#include "object/sched_context.h"
#include "generic/kernel_layout.h"

namespace tessera::kernel {
namespace {
using TcbApi = abi::Tcb;  // the generated interface (kernel::Tcb is the kernel object)

constexpr uint64_t kIpcBufferAlignment = 1024;
static_assert(sizeof(IpcBuffer) <= kIpcBufferAlignment);

Result<Tcb*> tcb_param(const Invocation& inv, capnp::CapIndex index) {
  const auto tcb = TRY(inv.typed_param<cap::ObjectType::Tcb>(index));
  return tcb_at(tcb->phys());
}

// Replaces the cap in one of the TCB's own slots with a child of `source` (data applied as by Mint).
Result<void> install(Tcb* t, TcbSlot which, cap::CapSlot* source, uint64_t data) {
  cap::CapContext& ctx = capabilities();
  cap::CapSlot* slot = tcb_slot(t, which);
  TRY(cap::delete_cap(ctx, slot));
  // As seL4: a data word of 0 keeps the cap as it is (a CNode keeps its guard).
  if (data == 0) return cap::copy_cap(ctx, source, slot);
  return cap::mint_cap(ctx, source, slot, cap::CapRights::all(), data);
}

// Checks the space arguments of configure/setSpace before anything changes.
Result<void> check_spaces(const Invocation& inv, capnp::CapIndex cspace, capnp::CapIndex vspace) {
  TRY(inv.typed_param<cap::ObjectType::CNode>(cspace));
  const auto v = TRY(inv.typed_param<cap::ObjectType::Pml4>(vspace));
  TRY(vspace::space_id(v->phys()));  // a space without an ASID cannot run threads
  return {};
}

Result<void> set_spaces(const Invocation& inv, Tcb* t, capnp::CapIndex cspace, uint64_t cspace_data,
                        capnp::CapIndex vspace, uint64_t vspace_data) {
  TRY(install(t, kTcbCSpace, TRY(inv.cap_param(cspace)), cspace_data));
  TRY(install(t, kTcbVSpace, TRY(inv.cap_param(vspace)), vspace_data));
  t->vspace_root = tcb_slot(t, kTcbVSpace)->cap.phys();
  return {};
}

Result<void> check_ipc_buffer(const Invocation& inv, uint64_t address, capnp::CapIndex frame) {
  if (!is_aligned(address, kIpcBufferAlignment)) return Error::AlignmentError;
  if (!is_user_address(address)) return Error::RangeError;
  cap::CapSlot* f = TRY(inv.cap_param(frame));
  if (f->cap.type() != cap::ObjectType::Frame4K && f->cap.type() != cap::ObjectType::Frame2M) {
    return Error::WrongObjectType;
  }
  return {};
}

Result<void> set_ipc_buffer(const Invocation& inv, Tcb* t, uint64_t address, capnp::CapIndex frame) {
  TRY(install(t, kTcbIpcBufferFrame, TRY(inv.cap_param(frame)), 0));
  t->ipc_buffer = address;
  return {};
}

void suspend(Tcb* t) {
  cancel_ipc(t, true);  // a blocked system call starts again when the thread is resumed
  unthrottle(t);
  this_scheduler().dequeue(t);
  t->state = ThreadState::Inactive;
  if (this_cpu().current == t) this_cpu().current = nullptr;
}

Result<void> resume_thread(Tcb* t) {
  if (vspace_of(t) == 0 || tcb_slot(t, kTcbCSpace)->empty()) return Error::IllegalOperation;
  // Only a stopped thread starts: a running one already runs, a blocked one waits in IPC.
  if (t->state == ThreadState::Running || t->state == ThreadState::Blocked) return {};
  t->state = ThreadState::Running;
  if (this_cpu().current != t) this_scheduler().enqueue(t);
  return {};
}

void set_priority(Tcb* t, uint8_t priority) {
  const bool queued = t->queued;
  if (queued) this_scheduler().dequeue(t);
  t->priority = priority;
  if (queued) this_scheduler().enqueue(t);
}

// The register file in the order of the schema's results/parameters: the general registers
// (arch/x86_64/syscall_regs.h), then the TLS bases.
uint64_t* register_slot(Tcb* t, unsigned i) {
  if (i < kUserRegisterCount) return &user_register(t->frame, i);
  return i == kUserRegisterCount ? &t->fs_base : &t->gs_base;
}
}  // namespace

Result<void> invoke_tcb(Invocation& inv) {
  Tcb* t = tcb_at(inv.target->cap.phys());
  switch (TRY(TcbApi::method_of(inv.request.label))) {
    case TcbApi::Method::Configure: {
      const auto a = TRY(TcbApi::ConfigureArgs::decode(inv.request));
      TRY(check_spaces(inv, a.cspace_root, a.vspace_root));
      TRY(check_ipc_buffer(inv, a.ipc_buffer, a.ipc_buffer_frame));
      TRY(set_spaces(inv, t, a.cspace_root, a.cspace_root_data, a.vspace_root, a.vspace_root_data));
      TRY(set_ipc_buffer(inv, t, a.ipc_buffer, a.ipc_buffer_frame));
      t->fault_endpoint = a.fault_endpoint;
      return {};
    }
    case TcbApi::Method::SetSpace: {
      const auto a = TRY(TcbApi::SetSpaceArgs::decode(inv.request));
      TRY(check_spaces(inv, a.cspace_root, a.vspace_root));
      TRY(set_spaces(inv, t, a.cspace_root, a.cspace_root_data, a.vspace_root, a.vspace_root_data));
      t->fault_endpoint = a.fault_endpoint;
      return {};
    }
    case TcbApi::Method::SetIpcBuffer: {
      const auto a = TRY(TcbApi::SetIpcBufferArgs::decode(inv.request));
      TRY(check_ipc_buffer(inv, a.ipc_buffer, a.ipc_buffer_frame));
      return set_ipc_buffer(inv, t, a.ipc_buffer, a.ipc_buffer_frame);
    }
    case TcbApi::Method::SetPriority: {
      const auto a = TRY(TcbApi::SetPriorityArgs::decode(inv.request));
      const Tcb* authority = TRY(tcb_param(inv, a.authority));
      if (a.priority > authority->max_controlled_priority) return Error::RangeError;
      set_priority(t, a.priority);
      return {};
    }
    case TcbApi::Method::SetMcPriority: {
      const auto a = TRY(TcbApi::SetMcPriorityArgs::decode(inv.request));
      const Tcb* authority = TRY(tcb_param(inv, a.authority));
      if (a.mcp > authority->max_controlled_priority) return Error::RangeError;
      t->max_controlled_priority = a.mcp;
      return {};
    }
    case TcbApi::Method::Suspend:
      TRY(TcbApi::SuspendArgs::decode(inv.request));
      suspend(t);
      return {};
    case TcbApi::Method::Resume:
      TRY(TcbApi::ResumeArgs::decode(inv.request));
      return resume_thread(t);
    case TcbApi::Method::ReadRegisters: {
      const auto a = TRY(TcbApi::ReadRegistersArgs::decode(inv.request));
      if (a.count > 20) return Error::RangeError;
      if (t == inv.caller) return Error::IllegalOperation;  // its registers are in flight
      if (a.suspend_source) suspend(t);
      TcbApi::ReadRegistersReturn r;
      uint64_t* out[20] = {&r.rip, &r.rsp, &r.rflags, &r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp,
                           &r.r8, &r.r9, &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.fs_base, &r.gs_base};
      for (unsigned i = 0; i < a.count; ++i) {
        *out[i] = i < kUserRegisterCount ? shown_user_register(t->frame, i) : *register_slot(t, i);
      }
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
    case TcbApi::Method::WriteRegisters: {
      const auto a = TRY(TcbApi::WriteRegistersArgs::decode(inv.request));
      if (a.count > 20) return Error::RangeError;
      if (t == inv.caller) return Error::IllegalOperation;
      const uint64_t in[20] = {a.rip, a.rsp, a.rflags, a.rax, a.rbx, a.rcx, a.rdx, a.rsi, a.rdi, a.rbp,
                               a.r8, a.r9, a.r10, a.r11, a.r12, a.r13, a.r14, a.r15, a.fs_base, a.gs_base};
      // TLS bases are loaded with WRMSR: a non-canonical value would fault in the kernel.
      if (a.count > 18 && !is_user_address(in[18])) return Error::RangeError;
      if (a.count > 19 && !is_user_address(in[19])) return Error::RangeError;
      for (unsigned i = 0; i < a.count; ++i) *register_slot(t, i) = in[i];
      t->frame.rflags = sanitize_user_rflags(t->frame.rflags);
      t->frame.vector = 0;  // return with IRETQ so every register (rcx, r11 too) is restored
      if (a.resume_target) return resume_thread(t);
      return {};
    }
    case TcbApi::Method::SetTlsBase: {
      const auto a = TRY(TcbApi::SetTlsBaseArgs::decode(inv.request));
      if (!is_user_address(a.tls_base)) return Error::RangeError;
      t->fs_base = a.tls_base;
      if (this_cpu().current == t) {
        x86::wrmsr(x86::msr::kFsBase, a.tls_base);
        this_cpu().loaded_fs_base = a.tls_base;
      }
      return {};
    }
    case TcbApi::Method::SetSchedParams: {
      const auto a = TRY(TcbApi::SetSchedParamsArgs::decode(inv.request));
      const Tcb* authority = TRY(tcb_param(inv, a.authority));
      if (a.mcp > authority->max_controlled_priority || a.priority > authority->max_controlled_priority) {
        return Error::RangeError;
      }
      const auto sc = TRY(inv.typed_param<cap::ObjectType::SchedContext>(a.sched_context));
      TRY(bind_sched_context(layout::phys_to<SchedContext>(sc->phys()), t));
      t->max_controlled_priority = a.mcp;
      set_priority(t, a.priority);
      return {};
    }
    case TcbApi::Method::GetStats: {
      // The state numbers abi/kernel.capnp documents for getStats.
      static_assert(static_cast<uint8_t>(ThreadState::Inactive) == 0 && static_cast<uint8_t>(ThreadState::Running) == 1 &&
                    static_cast<uint8_t>(ThreadState::Blocked) == 2 && static_cast<uint8_t>(ThreadState::Faulted) == 3);
      TRY(TcbApi::GetStatsArgs::decode(inv.request));
      charge_current();
      const TcbApi::GetStatsReturn r{tsc_to_nanoseconds(t->cpu_time), t->times_scheduled, t->wakeups,
                                     t->messages_sent, t->messages_received, t->syscalls,
                                     t->priority, t->max_controlled_priority, static_cast<uint8_t>(t->state),
                                     t->trace_id, t->faults};
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
    case TcbApi::Method::BindNotification: {
      const auto a = TRY(TcbApi::BindNotificationArgs::decode(inv.request));
      const auto n = TRY(inv.typed_param<cap::ObjectType::Notification>(a.notification, cap::CapRights::read()));
      return bind_notification(t, n->phys());
    }
    case TcbApi::Method::UnbindNotification:
      TRY(TcbApi::UnbindNotificationArgs::decode(inv.request));
      if (t->bound_notification == 0) return Error::IllegalOperation;
      unbind_notification(t);
      return {};
    case TcbApi::Method::CopyRegisters:
      return Error::NotSupported;  // readRegisters + writeRegisters do the same
    case TcbApi::Method::SetName: {
      const auto a = TRY(TcbApi::SetNameArgs::decode(inv.request));
      const uint64_t words[3] = {a.bytes0, a.bytes1, a.bytes2};
      static_assert(sizeof(words) == sizeof(t->name));
      if ((a.bytes2 >> 56) != 0) return Error::RangeError;  // no room for the NUL
      memcpy(t->name, words, sizeof(words));
      if (tracing::categories != 0) tracing::emit_thread_name(this_cpu(), t);
      return {};
    }
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
