// The IPC fastpath (seL4's): the common cases of Call, ReplyRecv and Send, handled in a few hundred
// instructions. Each try_* function either completes the system call, switching threads, and never
// returns, or changes nothing and returns (a miss): the general path then handles the call with
// identical results. Conditions: at most 4 message words, no capabilities, a one-level CSpace, a
// partner already waiting and a priority that allows switching straight to it.
#pragma once

#include "arch/x86_64/percpu.h"
#include "arch/x86_64/syscall_regs.h"
#include "generic/trace.h"
#include "object/tcb.h"

namespace tessera::kernel {

// The fastpath's entries from syscall_entry.S: each counts the system call, tries its fastpath and
// on a miss continues in the general path. The plain ones are taken while fastpath_mode is Plain;
// the traced ones while it is Traced: they also write the trace records the general path would
// (Syscall, Call, Receive, Reply, Signal, WaitDone, Switch, payload).
extern "C" [[noreturn]] void fastpath_call(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_reply_recv(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_send(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_call_traced(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_reply_recv_traced(TrapFrame* frame);
extern "C" [[noreturn]] void fastpath_send_traced(TrapFrame* frame);
// What syscall_entry.S calls for system call numbers 0 to SYSCALL_SEND: the plain or traced
// entries above by fastpath_mode, syscall_dispatch when it is Off (and for 0, no system call).
extern "C" void (*tessera_syscall_entries[4])(TrapFrame* frame);
// The general path of system call `t` (generic/syscall.cc), already counted and past the fastpath.
[[noreturn]] void syscall_general(Tcb* t, TrapFrame* frame);

// Which fastpath system calls try: none, the plain one, or the traced one. The entry reaches
// either through tessera_syscall_entries (the null system call by one compare of this), so
// tracing switched off costs the plain fastpath nothing.
enum class FastpathMode : uint8_t { Off, Plain, Traced };
extern FastpathMode fastpath_mode asm("tessera_fastpath_mode");  // syscall_entry.S reads it
// `fastpath=off` on the command line turns it off (everything takes the general path).
extern bool fastpath_enabled;
// Chooses fastpath_mode from fastpath_enabled and the trace categories (after either changes).
void update_fastpath_mode();

// The Syscall record of `t`'s system call, when that category is on (the traced entries and
// syscall_dispatch outside the Plain mode).
[[gnu::always_inline]] inline void record_syscall(Cpu& cpu, Tcb* t, const SyscallRegs& regs) {
  if (tracing::on(trace::kCategorySyscalls)) {
    tracing::emit(cpu, tracing::Kind::Syscall, t->trace_id, static_cast<uint32_t>(regs.number()), regs.cptr(),
                  regs.info());
  }
}

}  // namespace tessera::kernel
