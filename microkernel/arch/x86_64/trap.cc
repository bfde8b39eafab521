#include "arch/x86_64/trap.h"

#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "generic/log.h"
#include "generic/panic.h"
#include "generic/symbols.h"

namespace tessera::kernel {
namespace {

struct HandlerSlot {
  InterruptHandler handler;
  void* context;
};
HandlerSlot handlers[256];

const char* const kExceptionNames[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved (15)", "#MF x87 floating point", "#AC alignment check",
    "#MC machine check", "#XM SIMD floating point", "#VE virtualization", "#CP control protection",
    "reserved (22)", "reserved (23)", "reserved (24)", "reserved (25)", "reserved (26)", "reserved (27)",
    "#HV hypervisor injection", "#VC VMM communication", "#SX security", "reserved (31)"};

void describe_page_fault(uint64_t error_code) {
  log::print("page fault: %s, %s access, %s mode%s%s\n",
             (error_code & 1) ? "protection violation" : "page not present",
             (error_code & 16) ? "instruction fetch" : ((error_code & 2) ? "write" : "read"),
             (error_code & 4) ? "user" : "kernel", (error_code & 8) ? ", reserved bit set" : "",
             (error_code & 32) ? ", protection key" : "");
}
}  // namespace

bool register_interrupt(uint8_t vector, InterruptHandler handler, void* context) {
  if (vector < vectors::kFirstIrq || handlers[vector].handler != nullptr) return false;
  handlers[vector] = HandlerSlot{handler, context};
  return true;
}

void unregister_interrupt(uint8_t vector) { handlers[vector] = HandlerSlot{nullptr, nullptr}; }

void report_exception(const TrapFrame& f) {
  char where[160];
  symbols::describe(f.rip, where, sizeof(where));
  const char* name = f.vector < 32 ? kExceptionNames[f.vector] : "interrupt";
  log::print("\nKERNEL PANIC: unexpected exception %lu (%s) in %s mode\n", f.vector, name,
             f.from_user() ? "user" : "kernel");
  log::print("  error code: 0x%lx\n", f.error_code);
  log::print("  RIP: 0x%016lx <%s>\n", f.rip, where);
  log::print("  CR2: 0x%016lx  CR3: 0x%016lx\n", x86::read_cr2(), x86::read_cr3());
  if (f.vector == vectors::kPageFault) describe_page_fault(f.error_code);
  log::print("  RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", f.rax, f.rbx, f.rcx, f.rdx);
  log::print("  RSI=%016lx RDI=%016lx RBP=%016lx RSP=%016lx\n", f.rsi, f.rdi, f.rbp, f.rsp);
  log::print("  R8 =%016lx R9 =%016lx R10=%016lx R11=%016lx\n", f.r8, f.r9, f.r10, f.r11);
  log::print("  R12=%016lx R13=%016lx R14=%016lx R15=%016lx\n", f.r12, f.r13, f.r14, f.r15);
  log::print("  CS=%04lx SS=%04lx RFLAGS=%016lx\n", f.cs, f.ss, f.rflags);
  print_backtrace(f.rbp);
}

extern "C" void trap_dispatch(TrapFrame* frame) {
  const uint64_t vector = frame->vector;
  if (vector < 32) {
    // User-mode faults are routed to the faulting thread's handler once user space exists; any
    // exception taken in kernel mode is a kernel bug.
    log::force_unlock();
    report_exception(*frame);
    log::print("KERNEL-PANIC\n");
    exit_machine(ExitCode::Panic);
  }
  dispatch_interrupt(*frame);
}

void dispatch_interrupt(TrapFrame& frame) {
  const uint64_t vector = frame.vector;
  if (vector == vectors::kSpurious) return;
  const HandlerSlot slot = handlers[vector];
  if (slot.handler != nullptr) {
    slot.handler(frame, slot.context);
  } else {
    log::warn("unhandled interrupt vector %lu", vector);
  }
  apic::end_of_interrupt();
}

}  // namespace tessera::kernel
