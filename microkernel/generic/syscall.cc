// System-call dispatch and the handling of traps taken in user mode. Both run on the CPU's kernel
// stack with the thread's registers saved in its TCB, and leave through resume()/schedule().
#include <tessera/error.h>
#include <tessera/syscall.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trap.h"
#include "generic/boot.h"
#include "generic/invocation.h"
#include "object/ipc.h"
#include "generic/log.h"
#include "generic/panic.h"
#include "generic/scheduler.h"
#include "generic/symbols.h"
#include "object/address_space.h"
#include "object/kernel_objects.h"
#include "object/tcb.h"

namespace tessera::kernel {
namespace {

constexpr uint64_t kMaxDebugWrite = 4096;

void set_result(TrapFrame& f, Error e) { f.rax = static_cast<uint64_t>(e); }

Error debug_write(Tcb* t, uint64_t address, uint64_t length) {
  if (length > kMaxDebugWrite) return Error::RangeError;
  static char buffer[kMaxDebugWrite];
  if (auto r = vspace::copy_from_user(address_space_of(t), buffer, address, length); !r) return r.error();
  log::write(buffer, length);
  return Error::Ok;
}

// A user fault: delivered as a fault message to the thread's fault endpoint when it has a usable
// one (the thread then waits for the handler's reply); otherwise the thread is stopped and the
// console says so.
void handle_user_fault(Tcb* t, const TrapFrame& f, const char* what, uint64_t label, const uint64_t words[4]) {
  if (t->fault_endpoint != 0) {
    auto slot = lookup_invoked(t, t->fault_endpoint);
    if (slot && ipc_send_fault(t, *slot, label, words)) return;
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
}  // namespace

extern "C" [[noreturn]] void syscall_dispatch(TrapFrame* frame) {
  Cpu& cpu = this_cpu();
  Tcb* t = cpu.current;
  TrapFrame& f = *frame;
  if (ipc_fastpath_enabled) {
    if (f.rdx == static_cast<uint64_t>(Syscall::Call)) ipc_fastpath_call(t, f);
    if (f.rdx == static_cast<uint64_t>(Syscall::ReplyRecv)) ipc_fastpath_reply_recv(t, f);
    if (f.rdx == static_cast<uint64_t>(Syscall::Send)) ipc_fastpath_send(t, f);
  }
  ++t->syscalls;
  switch (static_cast<Syscall>(f.rdx)) {
    case Syscall::Call:
    case Syscall::Send:
    case Syscall::NBSend: {
      const auto number = static_cast<Syscall>(f.rdx);
      auto slot = lookup_invoked(t, f.rdi);
      if (!slot) {
        set_result(f, slot.error());
        break;
      }
      const cap::ObjectType type = (*slot)->cap.type();
      if (type == cap::ObjectType::Endpoint || type == cap::ObjectType::Notification) {
        ipc_send(t, f, *slot, number != Syscall::NBSend, number == Syscall::Call);
      }
      handle_invocation(t, f, *slot, number == Syscall::Call);
    }
    case Syscall::Recv:
    case Syscall::NBRecv:
    case Syscall::ReplyRecv: {
      const auto number = static_cast<Syscall>(f.rdx);
      auto slot = lookup_invoked(t, f.rdi);
      if (!slot) {
        set_result(f, slot.error());
        break;
      }
      if (number == Syscall::ReplyRecv) ipc_reply_receive(t, f, *slot);
      ipc_receive(t, f, *slot, number == Syscall::Recv);
    }
    case Syscall::Reply:
      ipc_reply(t, f);
    case Syscall::Null:
      set_result(f, Error::Ok);
      break;
    case Syscall::Yield:
      set_result(f, Error::Ok);
      this_scheduler().enqueue(t);
      cpu.current = nullptr;
      schedule();
    case Syscall::DebugPutChar: {
      const char c = static_cast<char>(f.rdi);
      log::write(&c, 1);
      set_result(f, Error::Ok);
      break;
    }
    case Syscall::DebugWrite:
      set_result(f, debug_write(t, f.rdi, f.rsi));
      break;
    case Syscall::DebugExitMachine:
      if (f.rdi > 1) {
        set_result(f, Error::InvalidArgument);
        break;
      }
      exit_machine(f.rdi == 0 ? ExitCode::Success : ExitCode::TestsFailed);
    case Syscall::DebugSuspendSelf:
      t->state = ThreadState::Inactive;
      cpu.current = nullptr;
      schedule();
    default: {
      // An unknown system call is a fault for the thread's fault handler; without one the caller
      // simply gets NotSupported.
      if (t->fault_endpoint != 0) {
        const uint64_t words[4] = {f.rip, f.rdx, 0, 0};
        auto slot = lookup_invoked(t, t->fault_endpoint);
        if (slot && ipc_send_fault(t, *slot, static_cast<uint64_t>(FaultKind::UnknownSyscall), words)) schedule();
      }
      set_result(f, Error::NotSupported);
      break;
    }
  }
  resume(t);
}

extern "C" [[noreturn]] void trap_dispatch_user(TrapFrame* frame) {
  Cpu& cpu = this_cpu();
  Tcb* t = cpu.current;
  const uint64_t vector = frame->vector;
  if (vector < 32) {
    const bool page_fault = vector == vectors::kPageFault;
    const uint64_t words[4] = {frame->rip, page_fault ? x86::read_cr2() : vector, frame->error_code, 0};
    const FaultKind kind = page_fault ? FaultKind::PageFault : FaultKind::Exception;
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
