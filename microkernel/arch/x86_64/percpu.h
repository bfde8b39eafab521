// Per-CPU state. Every CPU owns one `Cpu`: its GDT, TSS, interrupt stacks and scheduler state. GS
// points at it in kernel mode (the boot CPU today; application processors later), so nothing that
// belongs to one CPU lives in a global.
#pragma once

#include <stdint.h>

#include <tessera/trace.h>

#include "arch/x86_64/gdt.h"

namespace tessera::kernel {

constexpr uint32_t kMaxCpus = 8;
constexpr uint64_t kIstStackSize = 8192;

struct Tcb;

// This CPU's trace ring (generic/trace.h). The kernel's own copy of the ring's state: the header
// page the reader sees is only ever written from it, never read back.
struct TraceRing {
  trace::Record* records;      // slot 0 (kernel virtual address)
  trace::RingHeader* header;   // the published header
  uint64_t written;            // records ever written
  uint64_t limit;              // consumed + capacity: a record numbered `limit` would overwrite an unread one
  uint64_t consumed;           // records the reader released
  uint64_t dropped;            // events lost to a full ring
  uint64_t base;               // `written` when the capacity was last set: record n is in slot (n - base) % capacity
  uint32_t capacity;           // records (0: no ring)
  uint32_t slot;               // where record `written` goes
  uint64_t phys;               // the ring frame
};

struct alignas(64) Cpu {
  // Fields read by assembly (arch/x86_64/syscall_entry.S, vectors.S) at fixed %gs offsets.
  Cpu* self;                    // %gs:0 — lets code find its Cpu with one load
  uint64_t kernel_stack_top;    // %gs:8 — this CPU's kernel stack, used for every entry from user mode
  uint64_t user_rsp_scratch;    // %gs:16 — the user stack pointer during the syscall entry
  uint64_t current_frame_end;   // %gs:24 — end of the running thread's saved-register frame
  Tcb* current;                 // the thread whose registers are live (null while idle)
  Tcb* fpu_owner;               // whose FPU/SSE state is in the registers
  Tcb* account_thread;          // whose CPU time is running now (charged on every switch)
  uint64_t account_start;       // TSC when it started being charged
  Tcb* throttled;               // threads waiting for their scheduling context's next period
  uint64_t loaded_fs_base;      // the user FS base in the MSR now (skips rewriting it)
  uint64_t loaded_user_gs_base; // the user GS base in KERNEL_GS_BASE now
  uint32_t index;
  uint32_t apic_id;
  uint64_t ticks;            // timer interrupts taken on this CPU
  TraceRing trace;
  x86::Gdt gdt;
  x86::Tss tss;
  alignas(16) uint8_t ist_stacks[x86::kIstCount][kIstStackSize];
};

// The boot CPU's state (index 0). Valid from the first instruction of kernel_main.
Cpu& boot_cpu();
// The current CPU's state, through GS.
inline Cpu& this_cpu() {
  Cpu* cpu;
  asm volatile("movq %%gs:0, %0" : "=r"(cpu));
  return *cpu;
}

// Loads this CPU's GDT, TSS and GS base. Call once per CPU before enabling interrupts.
void init_cpu_state(Cpu& cpu, uint32_t index);

}  // namespace tessera::kernel
