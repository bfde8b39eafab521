// The system-call register assignment, written once for both sides: libsys's `syscall` wrapper
// (libsys/include/tessera/sys/syscall.h) binds its operands to these registers, and the kernel's
// register view (microkernel/arch/x86_64/syscall_regs.h) reads and writes the same names in the saved
// TrapFrame. Each macro is the bare x86-64 register name; TESSERA_SYSCALL_REG_STR turns it into the
// string an `asm("...")` register variable needs. The meaning of each role is in syscall.h.
#pragma once

// In:  the system-call number.
#define TESSERA_SYSCALL_REG_NUMBER rdx
// In:  the capability pointer.   Out: the badge.
#define TESSERA_SYSCALL_REG_CPTR rdi
#define TESSERA_SYSCALL_REG_BADGE rdi
// In and out: the message info.
#define TESSERA_SYSCALL_REG_INFO rsi
// In and out: message registers 0-3 (the rest of the message is in the IPC buffer).
#define TESSERA_SYSCALL_REG_MR0 r10
#define TESSERA_SYSCALL_REG_MR1 r8
#define TESSERA_SYSCALL_REG_MR2 r9
#define TESSERA_SYSCALL_REG_MR3 r15
// Out: the Error of the system call itself.
#define TESSERA_SYSCALL_REG_RESULT rax

#define TESSERA_SYSCALL_REG_STR_(reg) #reg
#define TESSERA_SYSCALL_REG_STR(reg) TESSERA_SYSCALL_REG_STR_(reg)
