// The IPC fastpath (seL4's): the common cases of Call, ReplyRecv and Send, handled in a few hundred
// instructions. Each try_* function either completes the system call, switching threads, and never
// returns, or changes nothing and returns (a miss): the general path then handles the call with
// identical results. Conditions: at most 4 message words, no capabilities, a one-level CSpace, a
// partner already waiting and a priority that allows switching straight to it.
#pragma once

#include "arch/x86_64/syscall_regs.h"
#include "object/tcb.h"

namespace tessera::kernel {

void try_fastpath_call(Tcb* t, SyscallRegs regs);
void try_fastpath_reply_recv(Tcb* t, SyscallRegs regs);
// Send or Signal to a partner already waiting.
void try_fastpath_send(Tcb* t, SyscallRegs regs);

// `fastpath=off` on the command line turns it off (everything takes the general path).
extern bool fastpath_enabled;

}  // namespace tessera::kernel
