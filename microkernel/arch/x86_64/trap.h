// Trap frames and the dispatch of exceptions and interrupts.
#pragma once

#include <stdint.h>

#include "arch/x86_64/frame_macros.h"

namespace tessera::kernel {

// Saved by arch/x86_64/vectors.S, lowest address first.
struct TrapFrame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;

  bool from_user() const { return (cs & 3) != 0; }
};
static_assert(sizeof(TrapFrame) == 22 * 8);
// The offsets vectors.S and syscall_entry.S use (frame_macros.h), and the push order of PUSH_GPRS.
static_assert(__builtin_offsetof(TrapFrame, r15) == TRAP_FRAME_R15 && __builtin_offsetof(TrapFrame, r14) == TRAP_FRAME_R14 &&
              __builtin_offsetof(TrapFrame, r13) == TRAP_FRAME_R13 && __builtin_offsetof(TrapFrame, r12) == TRAP_FRAME_R12 &&
              __builtin_offsetof(TrapFrame, r11) == TRAP_FRAME_R11 && __builtin_offsetof(TrapFrame, r10) == TRAP_FRAME_R10 &&
              __builtin_offsetof(TrapFrame, r9) == TRAP_FRAME_R9 && __builtin_offsetof(TrapFrame, r8) == TRAP_FRAME_R8 &&
              __builtin_offsetof(TrapFrame, rbp) == TRAP_FRAME_RBP && __builtin_offsetof(TrapFrame, rdi) == TRAP_FRAME_RDI &&
              __builtin_offsetof(TrapFrame, rsi) == TRAP_FRAME_RSI && __builtin_offsetof(TrapFrame, rdx) == TRAP_FRAME_RDX &&
              __builtin_offsetof(TrapFrame, rcx) == TRAP_FRAME_RCX && __builtin_offsetof(TrapFrame, rbx) == TRAP_FRAME_RBX &&
              __builtin_offsetof(TrapFrame, rax) == TRAP_FRAME_RAX);
static_assert(__builtin_offsetof(TrapFrame, vector) == TRAP_FRAME_VECTOR);
static_assert(__builtin_offsetof(TrapFrame, rip) == TRAP_FRAME_RIP);
static_assert(__builtin_offsetof(TrapFrame, cs) == TRAP_FRAME_CS);
static_assert(__builtin_offsetof(TrapFrame, rflags) == TRAP_FRAME_RFLAGS);
static_assert(__builtin_offsetof(TrapFrame, rsp) == TRAP_FRAME_RSP);
static_assert(sizeof(TrapFrame) == TRAP_FRAME_SIZE);

using InterruptHandler = void (*)(TrapFrame& frame, void* context);

// Installs a handler for an interrupt vector (32..255). Returns false if the vector is taken.
bool register_interrupt(uint8_t vector, InterruptHandler handler, void* context);
void unregister_interrupt(uint8_t vector);

// Runs the handler of an interrupt vector (>= 32) and acknowledges it at the LAPIC.
void dispatch_interrupt(TrapFrame& frame);

// Prints the full report for an unexpected exception (vector, error code, symbolised RIP, CR2, registers).
void report_exception(const TrapFrame& frame);

// Vector numbers used by the kernel.
namespace vectors {
constexpr uint8_t kPageFault = 14;
constexpr uint8_t kFirstIrq = 32;       // IOAPIC lines 0..23 -> 32..55
constexpr uint8_t kLapicTimer = 0xEF;
constexpr uint8_t kSpurious = 0xFF;
constexpr uint64_t kSyscall = TRAP_FRAME_SYSCALL;  // a frame saved by the system-call entry (SYSRET on the way out)
}  // namespace vectors

}  // namespace tessera::kernel
