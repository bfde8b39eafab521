// System-call numbers and the register convention, shared by the kernel and libsys. The register
// assignment below is defined once, as code, in syscall_regs.h.
//
// `syscall` with:  rdx = number, rdi = capability pointer (destination/source; the badge comes back
// here), rsi = message info, message registers 0-3 in r10, r8, r9, r15 (the rest in the IPC buffer).
// Returns:         rax = Error (0 = Ok) of the system call itself, rsi = message info, rdi = badge,
//                  r10, r8, r9, r15 = message registers. rcx and r11 are clobbered (SYSCALL/SYSRET);
//                  every other register is preserved. See docs/abi.md.
#pragma once

#include <stdint.h>

namespace tessera {

enum class Syscall : uint64_t {
  // IPC (seL4's set; numbering ours: positive and stable).
  Call = 1,
  ReplyRecv = 2,
  Send = 3,
  NBSend = 4,
  Recv = 5,
  Reply = 6,
  Yield = 7,
  NBRecv = 8,
  // Measurement: enters and leaves the kernel doing nothing else (scripts/bench syscall).
  Null = 16,
  // The debug console and self-suspension: any thread may use them in a kernel built with the
  // meson option debug_syscalls (on by default); without it they answer NotSupported.
  DebugPutChar = 32,   // rdi = character
  DebugWrite = 33,     // rdi = user address, rsi = length (at most 4096 bytes)
  DebugSuspendSelf = 35,  // the calling thread stops forever
  // Powering the machine off is an authority, not ambient: rdi = the DebugControl capability
  // (slot 9 of the root task), rsi = exit code for QEMU's isa-debug-exit (0 success, 1 tests failed).
  DebugExitMachine = 34,
};

// Faults a thread's fault endpoint receives (docs/ipc.md): the label of the message, which the
// kernel sends as if the faulting thread had made a Call. Replying restarts the thread (at its
// faulting instruction, or after the unknown system call); registers may be changed first with
// Tcb.writeRegisters.
enum class FaultKind : uint64_t {
  PageFault = 1,       // words: faulting IP, address, error code
  Exception = 2,       // words: faulting IP, vector, error code (GP, UD, DE, breakpoint, ...)
  UnknownSyscall = 3,  // words: IP after the syscall, the system-call number
};

}  // namespace tessera
