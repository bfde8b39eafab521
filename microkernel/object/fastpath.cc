// The IPC fastpath (object/fastpath.h). Every check comes before the first change, so a miss
// leaves nothing behind; a hit does exactly what the general path (endpoint.cc, notification.cc)
// would do for the same call, minus the generality.
#include "object/fastpath.h"

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>
#include <tessera/syscall.h>

#include "arch/x86_64/percpu.h"
#include "arch/x86_64/syscall_entry_constants.h"
#include "cap/cspace.h"
#include "generic/resume.h"
#include "generic/scheduler.h"
#include "generic/trace.h"
#include "object/endpoint.h"
#include "object/ipc_internal.h"
#include "object/kernel_objects.h"
#include "object/notification.h"

namespace tessera::kernel {

bool fastpath_enabled = true;
FastpathMode fastpath_mode = FastpathMode::Plain;

extern "C" [[noreturn]] void syscall_dispatch(TrapFrame* frame);  // generic/syscall.cc
constinit void (*tessera_syscall_entries[4])(TrapFrame*) = {syscall_dispatch, fastpath_call, fastpath_reply_recv,
                                                             fastpath_send};

void update_fastpath_mode() {
  constexpr uint32_t kRecordedHere = trace::kCategoryScheduling | trace::kCategoryIpc |
                                     trace::kCategoryNotifications | trace::kCategorySyscalls;
  if (!fastpath_enabled) fastpath_mode = FastpathMode::Off;
  else if (tracing::on(kRecordedHere)) fastpath_mode = FastpathMode::Traced;
  else fastpath_mode = FastpathMode::Plain;
  using Entry = void (*)(TrapFrame*);
  const auto pick = [](Entry plain, Entry traced) -> Entry {
    return fastpath_mode == FastpathMode::Plain ? plain : fastpath_mode == FastpathMode::Traced ? traced : syscall_dispatch;
  };
  tessera_syscall_entries[static_cast<uint64_t>(Syscall::Call)] = pick(fastpath_call, fastpath_call_traced);
  tessera_syscall_entries[static_cast<uint64_t>(Syscall::ReplyRecv)] = pick(fastpath_reply_recv, fastpath_reply_recv_traced);
  tessera_syscall_entries[static_cast<uint64_t>(Syscall::Send)] = pick(fastpath_send, fastpath_send_traced);
}

namespace {

using capnp::MessageInfo;
using tracing::Kind;
using cap::CapRights;
using cap::ObjectType;

// A CSpace of one CNode whose guard and radix use all 64 bits (the root task's layout): the slot
// is an index, no walk needed. Null when the CSpace has another shape.
[[gnu::always_inline]] inline cap::CapSlot* fast_lookup(Tcb* t, uint64_t cptr) {
  const cap::Capability& root = tcb_slot(t, kTcbCSpace)->cap;
  if (root.type() != ObjectType::CNode || root.guard_bits() + root.radix() != 64) return nullptr;
  if ((cptr >> root.radix()) != root.guard()) return nullptr;
  return layout::phys_to<cap::CapSlot>(root.phys()) + (cptr & ((uint64_t{1} << root.radix()) - 1));
}

// At most kMessageRegisters words and no capabilities: one mask and one compare.
[[gnu::always_inline]] inline bool short_message(uint64_t info_word) {
  constexpr uint64_t kLengthAndCaps = MessageInfo{0, 0x7F, 3, 0}.encode();
  return (info_word & kLengthAndCaps) <= MessageInfo{0, kMessageRegisters, 0, 0}.encode();
}

// Hands the short message in `from` (the sender's registers) to `receiver` with `badge`, and makes
// the receiver runnable (not queued: the caller decides where it goes).
[[gnu::always_inline]] inline void deliver_short(Tcb* sender, Tcb* receiver, SyscallRegs from, uint64_t badge) {
  const MessageInfo info = MessageInfo::decode(from.info());
  SyscallRegs to = syscall_regs(receiver);
  to.copy_mrs(from);
  to.set_received(MessageInfo{info.label, info.length_words, 0, 0}.encode(), badge);
  receiver->ipc_state = IpcState::None;
  receiver->state = ThreadState::Running;
  ++receiver->wakeups;
  ++receiver->messages_received;
  ++sender->messages_sent;
}

// After waking `woken`, continues exactly as continue_or_switch would, switching straight to
// `woken` when it is the one the scheduler would pick.
template <bool kTraced>
[[noreturn]] void switch_after_wake(Cpu& cpu, Tcb* current, Tcb* woken) {
  Scheduler& s = this_scheduler();
  if (woken->priority > current->priority && !s.has_higher(woken->priority, true)) {
    s.enqueue(current);
    cpu.current = nullptr;
    resume_thread_in_place<kTraced>(cpu, woken);
  }
  s.enqueue(woken);
  ipc::continue_or_switch(current);
}
// The records of a message the fastpath delivered straight to a waiting receiver (only the
// traced variant calls it).
[[gnu::always_inline]] inline void trace_delivery(Kind kind, Tcb* sender, Tcb* receiver, const SyscallRegs& regs,
                                                 const Endpoint* ep, uint64_t badge) {
  if (!tracing::on(trace::kCategoryIpc)) return;
  Cpu& cpu = this_cpu();
  const uint64_t tsc = x86::rdtsc();
  tracing::emit(cpu, kind, tsc, sender->trace_id, ep->trace_id, regs.info(), badge);
  if (tracing::on(trace::kCategoryPayload)) tracing::emit_message_payload(cpu, regs, nullptr, regs.info());
  const MessageInfo info = MessageInfo::decode(regs.info());
  tracing::emit(cpu, Kind::Receive, tsc, receiver->trace_id, sender->trace_id,
                MessageInfo{info.label, info.length_words, 0, 0}.encode(), ep->trace_id);
}

[[gnu::always_inline]] inline void trace_reply(Tcb* server, Tcb* caller, const SyscallRegs& regs) {
  if (!tracing::on(trace::kCategoryIpc)) return;
  Cpu& cpu = this_cpu();
  tracing::emit(cpu, Kind::Reply, server->trace_id, caller->trace_id, regs.info(), 0);
  if (tracing::on(trace::kCategoryPayload)) tracing::emit_message_payload(cpu, regs, nullptr, regs.info());
}

[[gnu::noinline, gnu::cold]] void trace_signal(Tcb* signaller, Tcb* waiter, const Notification* n, uint64_t badge,
                                               uint64_t word) {
  if (!tracing::on(trace::kCategoryNotifications)) return;
  Cpu& cpu = this_cpu();
  const uint64_t tsc = x86::rdtsc();
  tracing::emit(cpu, Kind::Signal, tsc, signaller->trace_id, n->trace_id, badge, waiter->trace_id);
  tracing::emit(cpu, Kind::WaitDone, tsc, waiter->trace_id, n->trace_id, word, 0);
}
}  // namespace

template <bool kTraced>
[[gnu::always_inline]] inline void call_fastpath(Cpu& cpu, Tcb* t, SyscallRegs regs) {
  if (!short_message(regs.info())) return;
  cap::CapSlot* slot = fast_lookup(t, regs.cptr());
  if (slot == nullptr) return;
  auto checked = cap::lookup_cap<ObjectType::Endpoint>(slot, CapRights::write(),
                                                             CapRights::grant() | CapRights::grant_reply());
  if (!checked) return;
  Endpoint* ep = Endpoint::of(checked->cap());
  if (!ep->has_receivers()) return;
  Tcb* receiver = ep->first();
  if (receiver->priority < t->priority) return;

  ep->remove_first(receiver);
  ipc::note_send(t, *checked, true);
  deliver_short(t, receiver, regs, checked->cap().badge());
  if constexpr (kTraced) trace_delivery(Kind::Call, t, receiver, regs, ep, checked->cap().badge());
  ipc::link_reply(receiver, t);
  t->state = ThreadState::Blocked;
  cpu.current = nullptr;
  resume_thread_in_place<kTraced>(cpu, receiver);
}

template <bool kTraced>
[[gnu::always_inline]] inline void reply_recv_fastpath(Cpu& cpu, Tcb* t, SyscallRegs regs) {
  if (!short_message(regs.info())) return;
  Tcb* caller = live(t->reply_to);
  if (caller == nullptr || caller->ipc_state != IpcState::WaitingReply || caller->ipc_is_fault) return;
  if (caller->priority < t->priority) return;
  cap::CapSlot* slot = fast_lookup(t, regs.cptr());
  if (slot == nullptr) return;
  auto checked = cap::lookup_cap<ObjectType::Endpoint>(slot, CapRights::read());
  if (!checked) return;
  // Read once: the stores below could alias the slot as far as the compiler knows.
  const uint64_t ep_phys = checked->cap().phys();
  const bool can_grant = checked->has(CapRights::grant());
  Endpoint* ep = layout::phys_to<Endpoint>(ep_phys);
  if (ep->has_senders()) return;  // a message is waiting: the general path receives it
  if (t->bound_notification != 0 && Notification::at(t->bound_notification)->active()) {
    return;  // a pending notification completes the receive at once
  }

  ipc::drop_reply(t);
  deliver_short(t, caller, regs, 0);
  if constexpr (kTraced) trace_reply(t, caller, regs);
  t->ipc_receive_can_grant = can_grant;
  t->ipc_state = IpcState::Receiving;
  t->ipc_object = ep_phys;
  ep->enqueue_receiver(t);
  t->state = ThreadState::Blocked;
  cpu.current = nullptr;
  resume_thread_in_place<kTraced>(cpu, caller);
}

template <bool kTraced>
[[gnu::always_inline]] inline void send_fastpath(Cpu& cpu, Tcb* t, SyscallRegs regs) {
  if (!short_message(regs.info())) return;
  cap::CapSlot* slot = fast_lookup(t, regs.cptr());
  if (slot == nullptr) return;
  if (slot->cap.type() == ObjectType::Notification) {
    auto checked = cap::lookup_cap<ObjectType::Notification>(slot, CapRights::write());
    if (!checked) return;
    Notification* n = Notification::of(checked->cap());
    Tcb* waiter = n->take_waiter();
    if (waiter == nullptr) return;
    const uint64_t word = checked->cap().badge() | n->take_word();
    ipc::complete_with_word(waiter, word);
    if constexpr (kTraced) trace_signal(t, waiter, n, checked->cap().badge(), word);
    waiter->ipc_state = IpcState::None;
    waiter->state = ThreadState::Running;
    ++waiter->wakeups;
    regs.set_result(Error::Ok);
    switch_after_wake<kTraced>(cpu, t, waiter);
  }
  auto checked = cap::lookup_cap<ObjectType::Endpoint>(slot, CapRights::write());
  if (!checked) return;
  Endpoint* ep = Endpoint::of(checked->cap());
  if (!ep->has_receivers()) return;
  Tcb* receiver = ep->take();
  ipc::note_send(t, *checked, false);
  deliver_short(t, receiver, regs, checked->cap().badge());
  if constexpr (kTraced) trace_delivery(Kind::Send, t, receiver, regs, ep, checked->cap().badge());
  regs.set_result(Error::Ok);
  switch_after_wake<kTraced>(cpu, t, receiver);
}

static_assert(__builtin_offsetof(Cpu, current) == GS_CURRENT);
static_assert(__builtin_offsetof(Tcb, syscalls) == TCB_SYSCALLS);
static_assert(static_cast<uint64_t>(Syscall::Call) == 1 && static_cast<uint64_t>(Syscall::ReplyRecv) == 2 &&
              static_cast<uint64_t>(Syscall::Send) == SYSCALL_SEND, "tessera_syscall_entries' order");
static_assert(static_cast<uint64_t>(Syscall::Null) == SYSCALL_NULL);
static_assert(static_cast<uint8_t>(FastpathMode::Plain) == FASTPATH_PLAIN);
static_assert(kUserAddressLimit == USER_ADDRESS_LIMIT);
static_assert(static_cast<uint64_t>(Error::Ok) == 0, "the null system call's exit clears rax");

// A fastpath entry: counts the system call, writes its Syscall record when traced, tries `kTry`,
// and on a miss continues in the general path.
template <bool kTraced, void (*kTry)(Cpu&, Tcb*, SyscallRegs)>
[[noreturn, gnu::always_inline]] inline void enter_fastpath(TrapFrame* frame) {
  Cpu& cpu = this_cpu();
  Tcb* t = cpu.current;
  ++t->syscalls;  // once per system call, whichever path completes it
  const SyscallRegs regs(*frame);
  if constexpr (kTraced) record_syscall(cpu, t, regs);
  kTry(cpu, t, regs);
  syscall_general(t, frame);
}

extern "C" void fastpath_call(TrapFrame* frame) { enter_fastpath<false, call_fastpath<false>>(frame); }
extern "C" void fastpath_reply_recv(TrapFrame* frame) { enter_fastpath<false, reply_recv_fastpath<false>>(frame); }
extern "C" void fastpath_send(TrapFrame* frame) { enter_fastpath<false, send_fastpath<false>>(frame); }
extern "C" void fastpath_call_traced(TrapFrame* frame) { enter_fastpath<true, call_fastpath<true>>(frame); }
extern "C" void fastpath_reply_recv_traced(TrapFrame* frame) { enter_fastpath<true, reply_recv_fastpath<true>>(frame); }
extern "C" void fastpath_send_traced(TrapFrame* frame) { enter_fastpath<true, send_fastpath<true>>(frame); }

}  // namespace tessera::kernel
