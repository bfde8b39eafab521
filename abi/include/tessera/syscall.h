// System-call numbers and the register convention, shared by the kernel and libsys.
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
  // Debug console and run control; available when the kernel is built with debug syscalls (default).
  DebugPutChar = 32,   // rdi = character
  DebugWrite = 33,     // rdi = user address, rsi = length (at most 4096 bytes)
  DebugExitMachine = 34,  // rdi = exit code for QEMU's isa-debug-exit (0 success, 1 tests failed)
  DebugSuspendSelf = 35,  // the calling thread stops forever
};

}  // namespace tessera
