// System-call dispatch and the handling of traps taken in user mode. Both run on the CPU's kernel
// stack with the thread's registers saved in its TCB, and leave through resume()/schedule().
#include <tessera/error.h>
#include <tessera/syscall.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/syscall_regs.h"
#include "arch/x86_64/trap.h"
#include "generic/boot.h"
#include "generic/invocation.h"
#include "generic/log.h"
#include "generic/panic.h"
#include "generic/scheduler.h"
#include "generic/symbols.h"
#include "generic/trace.h"
#include "object/fastpath.h"
#include "object/fault.h"
#include "object/ipc.h"
#include "object/kernel_objects.h"
#include "object/tcb.h"
#include "object/vspace.h"

namespace tessera::kernel {
namespace {

constexpr uint64_t kMaxDebugWrite = 4096;

Error debug_write(Tcb* t, uint64_t address, uint64_t length) {
  if (length > kMaxDebugWrite) return Error::RangeError;
  static char buffer[kMaxDebugWrite];
  if (auto r = vspace::copy_from_user(vspace_of(t), buffer, address, length); !r) return r.error();
  log::write(buffer, length);
  return Error::Ok;
}

// A user fault: delivered as a fault message to the thread's fault endpoint when it has a usable
// one (the thread then waits for the handler's reply); otherwise the thread is stopped and the
// console says so.
void handle_user_fault(Tcb* t, const TrapFrame& f, const char* what, uint64_t label, const uint64_t words[4]) {
  ++t->faults;  // delivered or stopping the thread: a fault taken either way (Tcb.getStats)
  if (t->fault_endpoint != 0) {
    auto slot = lookup_invoked(t, t->fault_endpoint);
    if (slot && send_fault(t, *slot, label, words)) return;
  }
  const uint64_t address = f.vector == vectors::kPageFault ? words[1] : 0;
  log::print("thread-fault thread=%s vector=%lu (%s) rip=0x%lx address=0x%lx error=0x%lx: thread stopped\n",
             t->name, f.vector, what, f.rip, address, f.error_code);
  t->state = ThreadState::Faulted;
  this_scheduler().dequeue(t);
  this_cpu().current = nullptr;
  // Test runs (`fault=exit`) end here when the root task itself faults, so the harness sees it at
  // once; any other thread just stops, and the root task can observe that the system goes on.
  StringView policy;
  if (t->is_root_task && boot_state().cmdline.get(StringView("fault"), &policy) &&
      policy.equals(StringView("exit"))) {
    log::print("fault=exit: unhandled user fault ends the run\nKERNEL-PANIC\n");
    exit_machine(ExitCode::Panic);
  }
}

const char* fault_name(uint64_t vector) {
  switch (vector) {
    case 0: return "divide error";
    case 3: return "breakpoint";
    case 6: return "invalid opcode";
    case 13: return "general protection";
    case 14: return "page fault";
    case 16: case 19: return "floating point";
    case 17: return "alignment check";
    default: return "exception";
  }
}

// The system calls that name a capability (in the cptr register): the capability is looked up
// once, here, and then each call checks its type and rights (cap::lookup_cap) where it acts.
[[gnu::always_inline]] inline void run_capability_syscall(Tcb* t, SyscallRegs regs, Syscall number) {
  auto looked_up = lookup_invoked(t, regs.cptr());
  if (!looked_up) {
    regs.set_result(looked_up.error());
    return;
  }
  cap::CapSlot* target = *looked_up;
  switch (number) {
    case Syscall::Recv:
    case Syscall::NBRecv:
      return ipc_receive(t, target, number == Syscall::Recv);
    case Syscall::ReplyRecv:
      return ipc_reply_receive(t, target);
    default: {  // Call, Send, NBSend
      const cap::ObjectType type = target->cap.type();
      const bool is_call = number == Syscall::Call;
      if (type == cap::ObjectType::Endpoint || type == cap::ObjectType::Notification) {
        return ipc_send(t, target, number != Syscall::NBSend, is_call);
      }
      return handle_invocation(t, target, is_call);
    }
  }
}

#ifdef TESSERA_DEBUG_SYSCALLS
constexpr bool kDebugSyscalls = true;
#else
constexpr bool kDebugSyscalls = false;
#endif

// The debug console and self-suspension (build option debug_syscalls).
void run_debug_syscall(Tcb* t, SyscallRegs regs, Syscall number) {
  switch (number) {
    case Syscall::DebugPutChar: {
      const char c = static_cast<char>(regs.cptr());
      log::write(&c, 1);
      regs.set_result(Error::Ok);
      return;
    }
    case Syscall::DebugWrite:
      regs.set_result(debug_write(t, regs.cptr(), regs.info()));
      return;
    case Syscall::DebugSuspendSelf:
      t->state = ThreadState::Inactive;
      this_cpu().current = nullptr;
      return schedule();
    default:
      regs.set_result(Error::NotSupported);
      return;
  }
}

// Runs system call `number` of `t`. Every case ends in `return`: the IPC calls, Yield, invocations
// and the calls that stop the thread never come back (they leave through resume()/schedule()); the
// others set the result and return, and the caller resumes the thread. (The null system call gets
// here only while the fastpath is traced or off: otherwise syscall_entry.S answers it.)
[[gnu::always_inline]] inline void run_syscall(Tcb* t, SyscallRegs regs, Syscall number) {
  switch (number) {
    case Syscall::Call:
    case Syscall::Send:
    case Syscall::NBSend:
    case Syscall::Recv:
    case Syscall::NBRecv:
    case Syscall::ReplyRecv:
      return run_capability_syscall(t, regs, number);
    case Syscall::Reply:
      return ipc_reply(t);
    case Syscall::Null:
      regs.set_result(Error::Ok);
      return;
    case Syscall::Yield:
      regs.set_result(Error::Ok);
      this_scheduler().enqueue(t);
      this_cpu().current = nullptr;
      return schedule();
    case Syscall::DebugPutChar:
    case Syscall::DebugWrite:
    case Syscall::DebugSuspendSelf:
      if (!kDebugSyscalls) {
        regs.set_result(Error::NotSupported);
        return;
      }
      return run_debug_syscall(t, regs, number);
    case Syscall::DebugExitMachine: {
      // Powering the machine off is an authority: it needs the DebugControl cap (rdi), which only
      // the root task gets; the exit code comes in rsi.
      auto slot = lookup_invoked(t, regs.cptr());
      if (!slot) {
        regs.set_result(slot.error());
        return;
      }
      if (auto control = cap::lookup_cap<cap::ObjectType::DebugControl>(*slot, cap::CapRights::none()); !control) {
        regs.set_result(control.error());
        return;
      }
      if (regs.info() > 1) {
        regs.set_result(Error::InvalidArgument);
        return;
      }
      return exit_machine(regs.info() == 0 ? ExitCode::Success : ExitCode::TestsFailed);
    }
  }
  // An unknown system call is a fault for the thread's fault handler; without one the caller
  // simply gets NotSupported.
  if (t->fault_endpoint != 0) {
    const uint64_t words[4] = {regs.frame().rip, regs.number(), 0, 0};
    auto slot = lookup_invoked(t, t->fault_endpoint);
    if (slot && send_fault(t, *slot, static_cast<uint64_t>(FaultKind::UnknownSyscall), words)) {
      ++t->faults;
      return schedule();
    }
  }
  regs.set_result(Error::NotSupported);
}

// The general path of a system call that is counted and past the fastpath.
[[noreturn, gnu::always_inline]] inline void run_general(Tcb* t, TrapFrame* frame) {
  const SyscallRegs regs(*frame);
  run_syscall(t, regs, static_cast<Syscall>(regs.number()));
  resume(t);
}
}  // namespace

void syscall_general(Tcb* t, TrapFrame* frame) { run_general(t, frame); }

// Every system call but those syscall_entry.S completes itself (Null) or hands to the plain
// fastpath's entries (Call, ReplyRecv, Send while fastpath_mode is Plain).
extern "C" [[noreturn]] void syscall_dispatch(TrapFrame* frame) {
  Tcb* t = this_cpu().current;
  ++t->syscalls;  // once per system call, whichever path completes it
  // Outside the Plain mode the Syscall record is written here (and by the traced fastpath entries).
  if (fastpath_mode != FastpathMode::Plain) record_syscall(this_cpu(), t, SyscallRegs(*frame));
  run_general(t, frame);
}

extern "C" [[noreturn]] void trap_dispatch_user(TrapFrame* frame) {
  Cpu& cpu = this_cpu();
  Tcb* t = cpu.current;
  const uint64_t vector = frame->vector;
  if (vector < 32) {
    const bool page_fault = vector == vectors::kPageFault;
    const uint64_t words[4] = {frame->rip, page_fault ? x86::read_cr2() : vector, frame->error_code, 0};
    const FaultKind kind = page_fault ? FaultKind::PageFault : FaultKind::Exception;
    if (tracing::on(trace::kCategoryFaults)) {
      tracing::emit(cpu, tracing::Kind::Fault, t->trace_id, static_cast<uint32_t>(vector), frame->rip,
                    page_fault ? words[1] : frame->error_code);
    }
    handle_user_fault(t, *frame, fault_name(vector), static_cast<uint64_t>(kind), words);
    schedule();
  }
  dispatch_interrupt(*frame);
  if (vector == vectors::kLapicTimer) preempt_on_tick();
  // An interrupt may have woken a more urgent thread (a driver waiting on its notification).
  if (cpu.current != nullptr && this_scheduler().has_higher(cpu.current->priority, false)) {
    this_scheduler().enqueue(cpu.current);
    cpu.current = nullptr;
  }
  if (cpu.current != nullptr) resume(cpu.current);
  schedule();
}

}  // namespace tessera::kernel
