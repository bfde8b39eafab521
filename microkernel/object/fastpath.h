// The IPC fastpath (seL4's): the common cases of Call, ReplyRecv and Send, handled in a few hundred
// instructions. Each try_* function either completes the system call, switching threads, and never
// returns, or changes nothing and returns (a miss): the general path then handles the call with
// identical results. Conditions: at most 4 message words, no capabilities, a one-level CSpace, a
// partner already waiting and a priority that allows switching straight to it.
#pragma once

#include "arch/x86_64/syscall_regs.h"
#include "object/tcb.h"

namespace tessera::kernel {

// kTraced: the variant that also writes the trace records the general path would (Syscall, Call,
// Receive, Reply, Signal, WaitDone, Switch, payload), used while any of those categories is on.
template <bool kTraced> void try_fastpath_call(Tcb* t, SyscallRegs regs);
template <bool kTraced> void try_fastpath_reply_recv(Tcb* t, SyscallRegs regs);
// Send or Signal to a partner already waiting.
template <bool kTraced> void try_fastpath_send(Tcb* t, SyscallRegs regs);

// The plain fastpath's entries from syscall_entry.S (taken while fastpath_mode is Plain): each
// counts the system call, tries its fastpath and on a miss continues in the general path.
extern "C" [[noreturn]] void fastpath_call(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_reply_recv(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_send(TrapFrame* frame);
// What syscall_entry.S calls for system call numbers 0 to SYSCALL_SEND: the entries above while
// fastpath_mode is Plain, syscall_dispatch otherwise (and for 0, no system call).
extern "C" void (*tessera_syscall_entries[4])(TrapFrame* frame);
// The general path of system call `t` (generic/syscall.cc), already counted and past the fastpath.
[[noreturn]] void syscall_general(Tcb* t, TrapFrame* frame);

// Which fastpath system calls try: none, the plain one, or the traced one. The entry reaches the
// plain one through tessera_syscall_entries (the null system call by one compare of this), so
// tracing switched off costs the plain fastpath nothing.
enum class FastpathMode : uint8_t { Off, Plain, Traced };
extern FastpathMode fastpath_mode asm("tessera_fastpath_mode");  // syscall_entry.S reads it
// `fastpath=off` on the command line turns it off (everything takes the general path).
extern bool fastpath_enabled;
// Chooses fastpath_mode from fastpath_enabled and the trace categories (after either changes).
void update_fastpath_mode();

}  // namespace tessera::kernel
