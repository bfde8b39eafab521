// Raw system calls (the register convention is in abi/include/tessera/syscall.h, the assignment of
// registers in syscall_regs.h). Most code uses the typed wrappers in libsys instead.
#pragma once

#include <stdint.h>

#include <tessera/error.h>
#include <tessera/syscall.h>
#include <tessera/syscall_regs.h>

namespace tessera::sys {

// Registers in and out of one system call.
struct SyscallRegisters {
  uint64_t cap;           // capability pointer in, badge out
  uint64_t info;          // message info
  uint64_t mr[4];         // message registers 0-3
};

inline Error raw_syscall(Syscall number, SyscallRegisters& regs) {
  register uint64_t result asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_RESULT));
  register uint64_t num asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_NUMBER)) = static_cast<uint64_t>(number);
  register uint64_t cap asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_CPTR)) = regs.cap;
  register uint64_t info asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_INFO)) = regs.info;
  register uint64_t mr0 asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_MR0)) = regs.mr[0];
  register uint64_t mr1 asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_MR1)) = regs.mr[1];
  register uint64_t mr2 asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_MR2)) = regs.mr[2];
  register uint64_t mr3 asm(TESSERA_SYSCALL_REG_STR(TESSERA_SYSCALL_REG_MR3)) = regs.mr[3];
  asm volatile("syscall"
               : "=r"(result), "+r"(cap), "+r"(info), "+r"(mr0), "+r"(mr1), "+r"(mr2), "+r"(mr3)
               : "r"(num)
               : "rcx", "r11", "memory");
  regs.cap = cap;
  regs.info = info;
  regs.mr[0] = mr0;
  regs.mr[1] = mr1;
  regs.mr[2] = mr2;
  regs.mr[3] = mr3;
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
