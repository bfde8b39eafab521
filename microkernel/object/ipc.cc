#include "object/ipc.h"

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>
#include <tessera/string.h>
#include <tessera/syscall.h>

#include "arch/x86_64/percpu.h"
#include "cap/cnode_ops.h"
#include "cap/cspace.h"
#include "generic/invocation.h"
#include "generic/kernel_layout.h"
#include "generic/scheduler.h"
#include "object/address_space.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
namespace {

using capnp::MessageInfo;

enum EndpointState : uint8_t { kIdle = 0, kSenders = 1, kReceivers = 2 };

// --- queues (FIFO, intrusive through Tcb::ipc_next/prev) ---

template <typename Object>
[[gnu::always_inline]] inline void enqueue(Object* o, Tcb* t) {
  t->ipc_next = nullptr;
  t->ipc_prev = o->tail;
  if (o->tail != nullptr) o->tail->ipc_next = t;
  else o->head = t;
  o->tail = t;
}

template <typename Object>
[[gnu::always_inline]] inline void unlink(Object* o, Tcb* t) {
  if (t->ipc_prev != nullptr) t->ipc_prev->ipc_next = t->ipc_next;
  else o->head = t->ipc_next;
  if (t->ipc_next != nullptr) t->ipc_next->ipc_prev = t->ipc_prev;
  else o->tail = t->ipc_prev;
  t->ipc_next = t->ipc_prev = nullptr;
}

template <typename Object>
[[gnu::always_inline]] inline Tcb* pop(Object* o) {
  Tcb* t = live(o->head);
  if (t != nullptr) unlink(o, t);
  return t;
}

// An endpoint's state follows its queue: these are the only places that change either.
[[gnu::always_inline]] inline void endpoint_wait(Endpoint* ep, Tcb* t, EndpointState state) {
  enqueue(ep, t);
  ep->state = state;
}
[[gnu::always_inline]] inline void endpoint_remove(Endpoint* ep, Tcb* t) {
  unlink(ep, t);
  if (ep->head == nullptr) ep->state = kIdle;
}
[[gnu::always_inline]] inline Tcb* endpoint_take(Endpoint* ep) {
  Tcb* t = live(ep->head);
  if (t != nullptr) endpoint_remove(ep, t);
  return t;
}

// --- reply links: server->reply_to == caller exactly when caller->reply_from == server ---

// The server gives up the reply it owes (a new Recv, its destruction). The caller stays blocked
// waiting for a reply that will not come, until it is suspended or destroyed (seL4).
[[gnu::always_inline]] inline void drop_reply(Tcb* server) {
  if (Tcb* caller = live(server->reply_to); caller != nullptr) {
    caller->reply_from = nullptr;
    server->reply_to = nullptr;
  }
}

// `caller` now waits for `server`'s reply. The reply may carry capabilities when the server's
// receiving cap had Grant (seL4), recorded in server->ipc_receive_can_grant when it received.
[[gnu::always_inline]] inline void link_reply(Tcb* server, Tcb* caller) {
  drop_reply(server);
  server->reply_to = caller;
  caller->reply_from = server;
  caller->ipc_state = IpcState::WaitingReply;
}

// Records what a send carries, on every path alike (blocking or not, fastpath or not).
[[gnu::always_inline]] inline void note_send(Tcb* t, const cap::Capability& c, bool is_call) {
  const cap::CapRights rights = c.rights();
  t->ipc_is_call = is_call;
  t->ipc_is_fault = false;
  t->ipc_can_grant = rights.includes(cap::CapRights::grant());
  t->ipc_can_grant_reply = rights.includes(cap::CapRights::grant_reply());
  t->ipc_badge = c.badge();
}

// --- the caller's view of other threads' IPC buffers (through the direct map) ---

// The IPC buffer of `t` as kernel memory, or null when it is not mapped (writable, for `write`) or
// the thread's address space is gone. A 1 KiB-aligned buffer never crosses a page, so one
// translation covers it.
IpcBuffer* buffer_of(Tcb* t, bool write) {
  if (t->ipc_buffer == 0) return nullptr;
  return static_cast<IpcBuffer*>(vspace::user_address(address_space_of(t), t->ipc_buffer, write));
}

// The receiver's receive slot, if it named an empty one.
cap::CapSlot* receive_slot(Tcb* receiver, const IpcBuffer* buffer) {
  auto cnode = lookup_invoked(receiver, buffer->receive_cnode);
  if (!cnode || (*cnode)->cap.type() != cap::ObjectType::CNode) return nullptr;
  auto slot = cap::lookup_slot(capabilities(), (*cnode)->cap, buffer->receive_index, buffer->receive_depth);
  if (!slot || !(*slot)->empty()) return nullptr;
  return *slot;
}

// Moves the message `info` from `sender` to `receiver`: registers, IPC-buffer words, caps (with
// `can_grant`; caps naming `endpoint` are unwrapped to their badges), and the badge.
void transfer(Tcb* sender, Tcb* receiver, uint64_t info_word, uint64_t badge, bool can_grant, uint64_t endpoint) {
  const MessageInfo info = MessageInfo::decode(info_word);
  uint32_t length = info.length_words > kMessageWords ? kMessageWords : info.length_words;
  TrapFrame& from = sender->frame;
  TrapFrame& to = receiver->frame;
  to.r10 = from.r10;
  to.r8 = from.r8;
  to.r9 = from.r9;
  to.r15 = from.r15;
  const IpcBuffer* src = buffer_of(sender, false);
  IpcBuffer* dst = buffer_of(receiver, true);
  if (length > kMessageRegisters) {
    if (src != nullptr && dst != nullptr) {
      memcpy(&dst->msg[kMessageRegisters], &src->msg[kMessageRegisters], (length - kMessageRegisters) * 8ull);
    } else {
      length = kMessageRegisters;
    }
  }
  uint32_t delivered = 0, unwrapped = 0;
  bool moved_one = false;
  if (can_grant && src != nullptr && dst != nullptr) {
    const uint32_t count = info.extra_caps > kMaxTransferCaps ? kMaxTransferCaps : info.extra_caps;
    for (uint32_t i = 0; i < count; ++i) {
      auto slot = lookup_invoked(sender, src->caps_or_badges[i]);
      if (!slot) break;
      const cap::Capability& c = (*slot)->cap;
      if (c.type() == cap::ObjectType::Endpoint && c.phys() == endpoint && endpoint != 0) {
        dst->caps_or_badges[i] = c.badge();
        unwrapped |= 1u << i;
      } else {
        cap::CapSlot* dest = moved_one ? nullptr : receive_slot(receiver, dst);
        if (dest == nullptr || !cap::copy_cap(capabilities(), *slot, dest)) break;
        moved_one = true;
      }
      ++delivered;
    }
  }
  ++sender->messages_sent;
  ++receiver->messages_received;
  to.rsi = MessageInfo{info.label, length, delivered, unwrapped}.encode();
  to.rdi = badge;
  to.rax = static_cast<uint64_t>(Error::Ok);
}

// Delivers the fault message `faulter` carries to `receiver`.
void transfer_fault(Tcb* faulter, Tcb* receiver, uint64_t badge) {
  TrapFrame& to = receiver->frame;
  to.r10 = faulter->fault_words[0];
  to.r8 = faulter->fault_words[1];
  to.r9 = faulter->fault_words[2];
  to.r15 = faulter->fault_words[3];
  if (IpcBuffer* dst = buffer_of(receiver, true); dst != nullptr) {
    for (uint32_t i = 0; i < kMessageRegisters; ++i) dst->msg[i] = faulter->fault_words[i];
  }
  to.rsi = MessageInfo{faulter->fault_label, kMessageRegisters, 0, 0}.encode();
  to.rdi = badge;
  to.rax = static_cast<uint64_t>(Error::Ok);
}

// Makes `t` runnable; if it is more urgent than the current thread, switches to it.
void wake(Tcb* t) {
  ++t->wakeups;
  t->ipc_state = IpcState::None;
  t->state = ThreadState::Running;
  this_scheduler().enqueue(t);
}

[[noreturn]] void continue_or_switch(Tcb* current) {
  Cpu& cpu = this_cpu();
  if (this_scheduler().has_higher(current->priority, false)) {
    this_scheduler().enqueue(current);
    cpu.current = nullptr;
    schedule();
  }
  resume(current);
}

[[noreturn]] void block(Tcb* t) {
  t->state = ThreadState::Blocked;
  this_cpu().current = nullptr;
  schedule();
}

[[noreturn]] void fail(Tcb* t, Error e) {
  t->frame.rax = static_cast<uint64_t>(e);
  resume(t);
}

// --- notifications ---

// Takes what the notification holds: its word, leaving it idle.
uint64_t collect(Notification* n) {
  const uint64_t word = n->word;
  n->word = 0;
  n->active = false;
  return word;
}

// Ends a wait (Wait, Poll, or a bound thread's endpoint Recv): the word comes back as the badge,
// with an empty message.
void complete_with_word(TrapFrame& f, uint64_t word) {
  f.rdi = word;
  f.rsi = 0;
  f.rax = static_cast<uint64_t>(Error::Ok);
}

// Ends `t`'s Recv on an endpoint with the notification word as its badge.
void deliver_bound(Tcb* t, uint64_t word) {
  endpoint_remove(endpoint_at(t->ipc_object), t);
  complete_with_word(t->frame, word);
  wake(t);
}

// Signals `n` with `badge`: a waiting thread wakes with the word, otherwise the badge is ORed into
// the word, which a bound thread receiving on an endpoint then takes. Returns whether a thread woke.
bool notify(Notification* n, uint64_t badge) {
  if (Tcb* waiter = pop(n); waiter != nullptr) {
    complete_with_word(waiter->frame, badge | collect(n));
    wake(waiter);
    return true;
  }
  n->word |= badge;
  n->active = true;
  if (Tcb* bound = live(n->bound); bound != nullptr && bound->ipc_state == IpcState::Receiving) {
    deliver_bound(bound, collect(n));
    return true;
  }
  return false;
}

[[noreturn]] void signal(Tcb* t, const cap::Capability& c) {
  if (!c.rights().includes(cap::CapRights::write())) fail(t, Error::InsufficientRights);
  t->frame.rax = static_cast<uint64_t>(Error::Ok);
  if (notify(layout::phys_to<Notification>(c.phys()), c.badge())) continue_or_switch(t);
  resume(t);
}

[[noreturn]] void wait(Tcb* t, const cap::Capability& c, bool blocking) {
  if (!c.rights().includes(cap::CapRights::read())) fail(t, Error::InsufficientRights);
  auto* n = layout::phys_to<Notification>(c.phys());
  // A notification bound to a thread is that thread's alone to wait on (seL4: a cap fault).
  if (n->bound != nullptr && n->bound != t) fail(t, Error::IllegalOperation);
  if (n->active || !blocking) {
    complete_with_word(t->frame, collect(n));
    resume(t);
  }
  t->ipc_state = IpcState::WaitingNotification;
  t->ipc_object = c.phys();
  enqueue(n, t);
  block(t);
}
}  // namespace

void ipc_send(Tcb* t, TrapFrame& f, cap::CapSlot* slot, bool blocking, bool is_call) {
  const cap::Capability& c = slot->cap;
  if (c.type() == cap::ObjectType::Notification && !is_call) signal(t, c);
  if (c.type() != cap::ObjectType::Endpoint) fail(t, Error::WrongObjectType);
  const cap::CapRights rights = c.rights();
  if (!rights.includes(cap::CapRights::write())) fail(t, Error::InsufficientRights);
  if (is_call && !rights.includes(cap::CapRights::grant()) && !rights.includes(cap::CapRights::grant_reply())) {
    fail(t, Error::InsufficientRights);
  }
  auto* ep = layout::phys_to<Endpoint>(c.phys());
  ++t->syscalls;
  note_send(t, c, is_call);

  if (ep->state == kReceivers) {
    Tcb* receiver = endpoint_take(ep);
    transfer(t, receiver, f.rsi, c.badge(), t->ipc_can_grant, c.phys());
    receiver->ipc_state = IpcState::None;
    receiver->state = ThreadState::Running;
    ++receiver->wakeups;
    if (is_call) {
      // The caller waits for the reply; the receiver runs now (the caller's time goes to it).
      link_reply(receiver, t);
      t->state = ThreadState::Blocked;
      this_cpu().current = nullptr;
      // The caller's time goes to the receiver unless something more urgent is runnable.
      if (!this_scheduler().has_higher(receiver->priority, false)) resume(receiver);
      this_scheduler().enqueue(receiver);
      schedule();
    }
    f.rax = static_cast<uint64_t>(Error::Ok);
    this_scheduler().enqueue(receiver);
    continue_or_switch(t);
  }
  if (!blocking) {  // NBSend with nobody waiting: the message is dropped (seL4)
    f.rax = static_cast<uint64_t>(Error::Ok);
    resume(t);
  }
  t->ipc_state = IpcState::Sending;
  t->ipc_object = c.phys();
  endpoint_wait(ep, t, kSenders);
  block(t);
}

void ipc_receive(Tcb* t, TrapFrame& f, cap::CapSlot* slot, bool blocking) {
  const cap::Capability& c = slot->cap;
  if (c.type() == cap::ObjectType::Notification) wait(t, c, blocking);
  if (c.type() != cap::ObjectType::Endpoint) fail(t, Error::WrongObjectType);
  if (!c.rights().includes(cap::CapRights::read())) fail(t, Error::InsufficientRights);
  auto* ep = layout::phys_to<Endpoint>(c.phys());
  // A receive on an endpoint gives up the reply still owed to an earlier caller (seL4 deletes
  // the caller cap), so a second call can never leave the first caller's link pointing here.
  drop_reply(t);
  t->ipc_receive_can_grant = c.rights().includes(cap::CapRights::grant());

  if (t->bound_notification != 0) {
    auto* n = notification_at(t->bound_notification);
    if (n->active) {
      complete_with_word(t->frame, collect(n));
      resume(t);
    }
  }
  if (ep->state == kSenders) {
    Tcb* sender = endpoint_take(ep);
    if (sender->ipc_is_fault) {
      transfer_fault(sender, t, sender->ipc_badge);
    } else {
      transfer(sender, t, sender->frame.rsi, sender->ipc_badge, sender->ipc_can_grant, c.phys());
    }
    if (sender->ipc_is_call) {
      link_reply(t, sender);
    } else {
      sender->frame.rax = static_cast<uint64_t>(Error::Ok);
      wake(sender);
    }
    continue_or_switch(t);
  }
  if (!blocking) fail(t, Error::WouldBlock);
  (void)f;
  t->ipc_state = IpcState::Receiving;
  t->ipc_object = c.phys();
  endpoint_wait(ep, t, kReceivers);
  block(t);
}

namespace {
// Sends the reply `info_word` from `t` to the caller it owes one, if any.
void send_reply(Tcb* t, uint64_t info_word) {
  Tcb* caller = live(t->reply_to);
  if (caller == nullptr) return;
  drop_reply(t);
  if (caller->ipc_state != IpcState::WaitingReply) return;
  if (caller->ipc_is_fault) {
    caller->ipc_is_fault = false;  // the reply restarts the thread with its (possibly rewritten) registers
  } else {
    transfer(t, caller, info_word, 0, t->ipc_receive_can_grant, 0);
  }
  wake(caller);
}
}  // namespace

void ipc_reply(Tcb* t, TrapFrame& f) {
  send_reply(t, f.rsi);
  f.rax = static_cast<uint64_t>(Error::Ok);
  continue_or_switch(t);
}

void ipc_reply_receive(Tcb* t, TrapFrame& f, cap::CapSlot* slot) {
  send_reply(t, f.rsi);
  ipc_receive(t, f, slot, true);
}

bool ipc_fastpath_enabled = true;

namespace {
// A CSpace of one CNode whose guard and radix use all 64 bits (the root task's layout): the slot
// is an index, no walk needed. Null when the CSpace has another shape.
cap::CapSlot* fast_lookup(Tcb* t, uint64_t cptr) {
  const cap::Capability& root = tcb_slot(t, kTcbCSpace)->cap;
  if (root.type() != cap::ObjectType::CNode || root.guard_bits() + root.radix() != 64) return nullptr;
  if ((cptr >> root.radix()) != root.guard()) return nullptr;
  return layout::phys_to<cap::CapSlot>(root.phys()) + (cptr & ((uint64_t{1} << root.radix()) - 1));
}

bool short_message(uint64_t info_word) {
  const MessageInfo info = MessageInfo::decode(info_word);
  return info.length_words <= kMessageRegisters && info.extra_caps == 0;
}

void copy_registers(const TrapFrame& from, TrapFrame& to) {
  to.r10 = from.r10;
  to.r8 = from.r8;
  to.r9 = from.r9;
  to.r15 = from.r15;
}

// Hands the short message in `f` (the sender's registers) to `receiver` with `badge`, and makes the
// receiver runnable (not queued: the caller decides where it goes). Shared by the fastpaths.
[[gnu::always_inline]] inline void deliver_short(Tcb* sender, Tcb* receiver, const TrapFrame& f, uint64_t badge) {
  const MessageInfo info = MessageInfo::decode(f.rsi);
  TrapFrame& to = receiver->frame;
  copy_registers(f, to);
  to.rsi = MessageInfo{info.label, info.length_words, 0, 0}.encode();
  to.rdi = badge;
  to.rax = static_cast<uint64_t>(Error::Ok);
  receiver->ipc_state = IpcState::None;
  receiver->state = ThreadState::Running;
  ++receiver->wakeups;
  ++receiver->messages_received;
  ++sender->messages_sent;
}
}  // namespace

bool ipc_fastpath_call(Tcb* t, TrapFrame& f) {
  if (!short_message(f.rsi)) return false;
  cap::CapSlot* slot = fast_lookup(t, f.rdi);
  if (slot == nullptr || slot->cap.type() != cap::ObjectType::Endpoint) return false;
  const cap::CapRights rights = slot->cap.rights();
  if (!rights.includes(cap::CapRights::write()) ||
      (!rights.includes(cap::CapRights::grant()) && !rights.includes(cap::CapRights::grant_reply()))) {
    return false;
  }
  auto* ep = layout::phys_to<Endpoint>(slot->cap.phys());
  if (ep->state != kReceivers) return false;
  Tcb* receiver = live(ep->head);
  if (receiver->priority < t->priority) return false;

  endpoint_take(ep);
  note_send(t, slot->cap, true);
  deliver_short(t, receiver, f, slot->cap.badge());
  link_reply(receiver, t);
  t->state = ThreadState::Blocked;
  ++t->syscalls;
  this_cpu().current = nullptr;
  resume(receiver);
}

bool ipc_fastpath_reply_recv(Tcb* t, TrapFrame& f) {
  if (!short_message(f.rsi)) return false;
  Tcb* caller = live(t->reply_to);
  if (caller == nullptr || caller->ipc_state != IpcState::WaitingReply || caller->ipc_is_fault) return false;
  if (caller->priority < t->priority) return false;
  cap::CapSlot* slot = fast_lookup(t, f.rdi);
  if (slot == nullptr || slot->cap.type() != cap::ObjectType::Endpoint) return false;
  if (!slot->cap.rights().includes(cap::CapRights::read())) return false;
  auto* ep = layout::phys_to<Endpoint>(slot->cap.phys());
  if (ep->state == kSenders) return false;  // a message is waiting: the general path receives it
  if (t->bound_notification != 0 && notification_at(t->bound_notification)->active) {
    return false;  // a pending notification completes the receive at once
  }

  drop_reply(t);
  deliver_short(t, caller, f, 0);
  t->ipc_receive_can_grant = slot->cap.rights().includes(cap::CapRights::grant());
  t->ipc_state = IpcState::Receiving;
  t->ipc_object = slot->cap.phys();
  endpoint_wait(ep, t, kReceivers);
  t->state = ThreadState::Blocked;
  ++t->syscalls;
  this_cpu().current = nullptr;
  resume(caller);
}

namespace {
// After waking `woken`, continues exactly as continue_or_switch would, switching straight to
// `woken` when it is the one the scheduler would pick.
[[noreturn]] void switch_after_wake(Tcb* current, Tcb* woken) {
  Scheduler& s = this_scheduler();
  if (woken->priority > current->priority && !s.has_higher(woken->priority, true)) {
    s.enqueue(current);
    this_cpu().current = nullptr;
    resume(woken);
  }
  s.enqueue(woken);
  continue_or_switch(current);
}
}  // namespace

bool ipc_fastpath_send(Tcb* t, TrapFrame& f) {
  if (!short_message(f.rsi)) return false;
  cap::CapSlot* slot = fast_lookup(t, f.rdi);
  if (slot == nullptr || !slot->cap.rights().includes(cap::CapRights::write())) return false;
  const cap::ObjectType type = slot->cap.type();
  if (type == cap::ObjectType::Notification) {
    auto* n = layout::phys_to<Notification>(slot->cap.phys());
    Tcb* waiter = live(n->head);
    if (waiter == nullptr) return false;
    pop(n);
    complete_with_word(waiter->frame, slot->cap.badge() | collect(n));
    waiter->ipc_state = IpcState::None;
    waiter->state = ThreadState::Running;
    ++waiter->wakeups;
    f.rax = static_cast<uint64_t>(Error::Ok);
    ++t->syscalls;
    switch_after_wake(t, waiter);
  }
  if (type != cap::ObjectType::Endpoint) return false;
  auto* ep = layout::phys_to<Endpoint>(slot->cap.phys());
  if (ep->state != kReceivers) return false;
  Tcb* receiver = endpoint_take(ep);
  note_send(t, slot->cap, false);
  deliver_short(t, receiver, f, slot->cap.badge());
  f.rax = static_cast<uint64_t>(Error::Ok);
  ++t->syscalls;
  switch_after_wake(t, receiver);
}

bool ipc_send_fault(Tcb* t, cap::CapSlot* slot, uint64_t label, const uint64_t words[4]) {
  const cap::Capability& c = slot->cap;
  if (c.type() != cap::ObjectType::Endpoint) return false;
  const cap::CapRights rights = c.rights();
  const bool can_grant = rights.includes(cap::CapRights::grant());
  const bool can_grant_reply = rights.includes(cap::CapRights::grant_reply());
  if (!rights.includes(cap::CapRights::write()) || (!can_grant && !can_grant_reply)) return false;
  t->ipc_is_fault = true;
  t->fault_label = label;
  for (int i = 0; i < 4; ++i) t->fault_words[i] = words[i];
  t->ipc_is_call = true;
  t->ipc_can_grant = false;
  t->ipc_can_grant_reply = false;
  t->ipc_badge = c.badge();
  auto* ep = layout::phys_to<Endpoint>(c.phys());
  if (ep->state == kReceivers) {
    Tcb* receiver = endpoint_take(ep);
    transfer_fault(t, receiver, c.badge());
    link_reply(receiver, t);
    wake(receiver);
  } else {
    t->ipc_state = IpcState::Sending;
    t->ipc_object = c.phys();
    endpoint_wait(ep, t, kSenders);
  }
  t->state = ThreadState::Blocked;
  if (this_cpu().current == t) this_cpu().current = nullptr;
  return true;
}

void cancel_ipc(Tcb* t, bool restart) {
  const IpcState state = t->ipc_state;
  switch (state) {
    case IpcState::Sending:
    case IpcState::Receiving:
      endpoint_remove(endpoint_at(t->ipc_object), t);
      break;
    case IpcState::WaitingNotification:
      unlink(notification_at(t->ipc_object), t);
      break;
    case IpcState::WaitingReply:
      if (Tcb* server = live(t->reply_from); server != nullptr) server->reply_to = nullptr;
      t->reply_from = nullptr;
      break;
    case IpcState::None:
      break;
  }
  // A reply this thread owes as a server survives suspension (seL4): resumed, it can still reply.
  t->ipc_state = IpcState::None;
  const bool was_fault = t->ipc_is_fault;
  t->ipc_is_fault = false;
  if (state != IpcState::None && restart && !was_fault) {
    t->frame.rip -= 2;     // back onto the `syscall` instruction
    t->frame.vector = 0;   // and return with IRETQ, restoring every register
  }
}

void notification_signal(uint64_t phys, uint64_t badge) { notify(notification_at(phys), badge); }

Result<void> bind_notification(Tcb* t, uint64_t notification) {
  auto* n = notification_at(notification);
  // seL4: neither side may already be bound, and nobody may be waiting on the notification.
  if (t->bound_notification != 0 || n->bound != nullptr || n->head != nullptr) return Error::IllegalOperation;
  t->bound_notification = notification;
  n->bound = t;
  return {};
}

void unbind_notification(Tcb* t) {
  if (t->bound_notification == 0) return;
  notification_at(t->bound_notification)->bound = nullptr;
  t->bound_notification = 0;
}

void tcb_ipc_destroyed(Tcb* t) {
  cancel_ipc(t, false);
  drop_reply(t);
}

namespace {
// `t` was queued on an endpoint that will not take its message: a thread that sent a fault starts
// again at the faulting instruction (it faults anew and meets whatever fault endpoint it has then,
// as seL4 restarts it), except after an unknown system call, which then simply fails; any other
// thread's system call fails with `error`.
void abandon_send(Tcb* t, Error error) {
  if (t->ipc_is_fault) {
    t->ipc_is_fault = false;
    if (t->fault_label == static_cast<uint64_t>(FaultKind::UnknownSyscall)) {
      t->frame.rax = static_cast<uint64_t>(Error::NotSupported);
    }
  } else {
    t->frame.rax = static_cast<uint64_t>(error);
  }
  wake(t);
}
}  // namespace

void endpoint_destroyed(uint64_t phys) {
  auto* ep = layout::phys_to<Endpoint>(phys);
  while (Tcb* t = endpoint_take(ep)) abandon_send(t, Error::ObjectDeleted);
}

void endpoint_cancel_badged_sends(uint64_t phys, uint64_t badge) {
  auto* ep = layout::phys_to<Endpoint>(phys);
  if (ep->state != kSenders) return;
  for (Tcb* t = ep->head; t != nullptr;) {
    Tcb* next = t->ipc_next;
    if (t->ipc_badge == badge) {
      // Restarted as seL4 does: the system call runs again when the thread next runs, and then
      // meets whatever its cap has become (typically deleted along with the badge).
      endpoint_remove(ep, t);
      if (t->ipc_is_fault) {
        t->ipc_is_fault = false;
      } else {
        t->frame.rip -= 2;
        t->frame.vector = 0;
      }
      wake(t);
    }
    t = next;
  }
}

void notification_destroyed(uint64_t phys) {
  auto* n = layout::phys_to<Notification>(phys);
  if (n->bound != nullptr) unbind_notification(live(n->bound));
  while (Tcb* t = pop(n)) {
    t->frame.rax = static_cast<uint64_t>(Error::ObjectDeleted);
    wake(t);
  }
}

}  // namespace tessera::kernel
