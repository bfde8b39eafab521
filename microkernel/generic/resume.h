// The body of resume_thread (generic/scheduler.h), inline so that the IPC fastpath switches with
// it in place rather than through a call: one definition, two ways to reach it.
#pragma once

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "generic/trace.h"
#include "object/kernel_objects.h"
#include "object/sched_context.h"

extern "C" [[noreturn]] void resume_user_frame(tessera::kernel::TrapFrame* frame);

namespace tessera::kernel {

// `t` cannot be resumed (its return address is not a user address, or its address space is gone):
// says so on the console, stops it and schedules another thread.
[[noreturn, gnu::cold, gnu::noinline]] void refuse_resume(Tcb* t, bool bad_return_address);

template <bool kTraceable>
[[noreturn, gnu::always_inline]] inline void resume_thread_in_place(Cpu& cpu, Tcb* t) {
  // Never return to a non-canonical or kernel RIP: SYSRET would fault in kernel mode (the
  // well-known SYSRET hazard) and IRETQ would fault on the kernel stack.
  if (!is_user_address(t->frame.rip)) [[unlikely]] refuse_resume(t, true);
  // The thread's address space must still exist: revoking its VSpace cap empties the TCB's slot
  // (an empty slot's object word is 0, never a PML4's address; only configure/setSpace refill it).
  if (tcb_slot(t, kTcbVSpace)->cap.object_word() != t->vspace_root) [[unlikely]] refuse_resume(t, false);
  // RFLAGS need no sanitising here: a frame saved by the CPU or by SYSCALL holds flags user mode
  // could set, and writeRegisters sanitises what it writes.
  if (cpu.current != t) ++t->times_scheduled;
  cpu.current = t;
  account_switch<kTraceable>(cpu, t);
  const auto frame_end = reinterpret_cast<uint64_t>(&t->frame + 1);
  cpu.current_frame_end = frame_end;
  cpu.tss.rsp[0] = frame_end;
  if (x86::read_cr3() != t->vspace_root) x86::write_cr3(t->vspace_root);
  if (cpu.fpu_owner != t) {
    if (cpu.fpu_owner != nullptr) asm volatile("fxsave64 (%0)" : : "r"(cpu.fpu_owner->fpu) : "memory");
    asm volatile("fxrstor64 (%0)" : : "r"(t->fpu) : "memory");
    cpu.fpu_owner = t;
  }
  if (cpu.loaded_fs_base != t->fs_base) [[unlikely]] {
    x86::wrmsr(x86::msr::kFsBase, t->fs_base);
    cpu.loaded_fs_base = t->fs_base;
  }
  if (cpu.loaded_user_gs_base != t->gs_base) [[unlikely]] {
    x86::wrmsr(x86::msr::kKernelGsBase, t->gs_base);  // becomes GS at swapgs
    cpu.loaded_user_gs_base = t->gs_base;
  }
  resume_user_frame(&t->frame);
}

}  // namespace tessera::kernel
