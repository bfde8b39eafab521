// Raw system calls (the register convention is in abi/include/tessera/syscall.h). Most code uses
// the typed wrappers in libsys instead.
#pragma once

#include <stdint.h>

#include <tessera/error.h>
#include <tessera/syscall.h>

namespace tessera::sys {

// Registers in and out of one system call.
struct SyscallRegisters {
  uint64_t cap;           // rdi: capability pointer in, badge out
  uint64_t info;          // rsi: message info
  uint64_t mr[4];         // r10, r8, r9, r15: message registers 0-3
};

inline Error raw_syscall(Syscall number, SyscallRegisters& regs) {
  uint64_t result;
  register uint64_t r10 asm("r10") = regs.mr[0];
  register uint64_t r8 asm("r8") = regs.mr[1];
  register uint64_t r9 asm("r9") = regs.mr[2];
  register uint64_t r15 asm("r15") = regs.mr[3];
  asm volatile("syscall"
               : "=a"(result), "+D"(regs.cap), "+S"(regs.info), "+r"(r10), "+r"(r8), "+r"(r9), "+r"(r15)
               : "d"(static_cast<uint64_t>(number))
               : "rcx", "r11", "memory");
  regs.mr[0] = r10;
  regs.mr[1] = r8;
  regs.mr[2] = r9;
  regs.mr[3] = r15;
  return static_cast<Error>(result);
}

inline Error syscall2(Syscall number, uint64_t a, uint64_t b) {
  SyscallRegisters regs{a, b, {0, 0, 0, 0}};
  return raw_syscall(number, regs);
}

// The cheapest possible kernel entry and exit (for measurements).
inline Error null_syscall() { return syscall2(Syscall::Null, 0, 0); }
// Gives up the CPU to another runnable thread of the same or higher priority.
inline Error yield() { return syscall2(Syscall::Yield, 0, 0); }

}  // namespace tessera::sys
