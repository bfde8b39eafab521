// Thread control block: a thread's saved user state and scheduling state. The user registers are
// the first member so the entry paths can save into them directly (see arch/x86_64/syscall_entry.S).
#pragma once

#include <stdint.h>

#include "arch/x86_64/syscall_regs.h"
#include "arch/x86_64/trap.h"
#include "lib/user_address.h"  // kUserAddressLimit, is_user_address
#include "object/poison.h"

namespace tessera::kernel {

enum class ThreadState : uint8_t {
  Inactive,    // created or suspended: not runnable until resumed
  Running,     // runnable (queued, or current on a CPU)
  Blocked,     // waiting in IPC (see IpcState)
  Faulted,     // stopped by a fault nobody handles
};

enum class IpcState : uint8_t {
  None,
  Sending,              // queued on an endpoint with a message (Send or Call)
  Receiving,            // queued on an endpoint for a message
  WaitingReply,         // called; waits for the reply of `reply_from`
  WaitingNotification,  // queued on a notification
};

struct alignas(64) Tcb {
  TrapFrame frame;                  // user registers (must stay first and 16-aligned)
  alignas(16) uint8_t fpu[512];     // FXSAVE image of the FPU/SSE state
  uint64_t fs_base;                 // user TLS base
  uint64_t gs_base;
  uint64_t vspace_root;             // physical address of the thread's PML4
  uint64_t ipc_buffer;              // user address of the IPC buffer (0: none)
  uint64_t fault_endpoint;          // cptr of the fault endpoint in the thread's CSpace (0: none)
  ThreadState state;
  uint8_t priority;
  uint8_t max_controlled_priority;
  Tcb* queue_next;                  // run-queue links
  Tcb* queue_prev;
  bool queued;
  bool is_root_task;                // the first thread, started by the kernel
  char name[24];
  // IPC (object/ipc.cc). While Sending, the message stays in the thread's registers and IPC buffer.
  IpcState ipc_state;
  bool ipc_is_call;
  bool ipc_can_grant;
  bool ipc_can_grant_reply;
  bool ipc_receive_can_grant;       // the cap of the last endpoint receive had Grant (the reply may carry caps)
  uint64_t ipc_object;              // physical address of the endpoint or notification blocked on
  uint64_t ipc_badge;               // badge of the cap the blocked send used
  Tcb* ipc_next;                    // endpoint / notification queue links
  Tcb* ipc_prev;
  bool ipc_is_fault;                // the pending message is a fault (fault_label/fault_words)
  uint64_t fault_label;
  uint64_t fault_words[4];
  uint64_t bound_notification;      // physical address of a bound notification (0: none)
  Tcb* reply_to;                    // server side: the caller owed a reply (one-shot)
  Tcb* reply_from;                  // caller side: the server that owes us the reply
  // Accounting, readable through Tcb.getStats (a scheduling policy lives in user space).
  uint64_t times_scheduled;
  uint64_t syscalls;
  uint64_t cpu_time;                // TSC ticks spent running
  uint64_t wakeups;                 // times made runnable again after blocking
  uint64_t messages_sent;
  uint64_t messages_received;
  uint64_t faults;                  // user faults taken (delivered to a fault handler or stopping the thread)
  // Scheduling context (object/sched_context.h): null = unlimited round robin at `priority`.
  struct SchedContext* sched_context;
  bool throttled;                   // budget used up: off the run queue until its next period
  Tcb* throttle_next;
  // Tracing (generic/trace.h): the id in trace records, and the list of every live thread.
  uint32_t trace_id;
  Tcb* all_next;
  Tcb* all_prev;

  // Points the frame at `entry` with stack `stack`, user selectors and interrupts enabled.
  void set_initial_registers(uint64_t entry, uint64_t stack, uint64_t argument);
  void reset_fpu();
};

static_assert(__builtin_offsetof(Tcb, frame) == 0, "entry code saves registers at the start of the TCB");
static_assert(sizeof(TrapFrame) % 16 == 0, "the frame end (TSS.rsp0) must be 16-aligned");

// A TCB reached through a reference kept elsewhere (queue, reply link, binding): checked against
// the poison of destroyed objects (object/poison.h). Returns `t`.
inline Tcb* live(Tcb* t) {
  if (t != nullptr) check_live_word(&t->queue_next, "thread", t);
  return t;
}

// The system-call registers of `t`'s saved frame (its arguments while it is in a system call or
// blocked in one, its results once it completes).
inline SyscallRegs syscall_regs(Tcb* t) { return SyscallRegs(t->frame); }

// RFLAGS bits a user thread may control; IF is always set, IOPL is always 0.
constexpr uint64_t kUserRflagsMask = 0xCD5;  // CF PF AF ZF SF TF DF OF
constexpr uint64_t kRflagsInterruptEnable = 1u << 9;
constexpr uint64_t kRflagsReserved1 = 1u << 1;
inline uint64_t sanitize_user_rflags(uint64_t rflags) {
  return (rflags & kUserRflagsMask) | kRflagsInterruptEnable | kRflagsReserved1;
}

}  // namespace tessera::kernel
