#include "object/kernel_objects.h"

#include <tessera/string.h>

#include "arch/x86_64/percpu.h"
#include "cap/object_type.h"
#include "generic/kernel_layout.h"
#include "generic/panic.h"
#include "generic/scheduler.h"
#include "generic/trace.h"
#include "object/endpoint.h"
#include "object/ipc.h"
#include "object/irq.h"
#include "object/notification.h"
#include "object/vspace.h"
#include "object/sched_context.h"

namespace tessera::kernel {
namespace {
void release_object(const cap::Capability& c);

alignas(cap::CapContext) uint8_t context_storage[sizeof(cap::CapContext)];
cap::CapContext* context = nullptr;

void* phys_to_virt_hook(void*, uint64_t phys) { return layout::phys_to_virt(phys); }
void zero_hook(void*, uint64_t phys, uint64_t bytes) { memset(layout::phys_to_virt(phys), 0, bytes); }

void created_hook(void*, const cap::Capability& c) {
  switch (c.type()) {
    case cap::ObjectType::Tcb: {
      Tcb* t = new (tcb_at(c.phys())) Tcb{};
      t->state = ThreadState::Inactive;
      t->set_initial_registers(0, 0, 0);  // user selectors and flags; RIP/RSP come by WriteRegisters
      t->reset_fpu();
      memcpy(t->name, "thread", 7);
      tracing::thread_created(t);
      break;
    }
    case cap::ObjectType::Pml4:
      vspace::init_root(c.phys());
      break;
    case cap::ObjectType::Endpoint:
      layout::phys_to<Endpoint>(c.phys())->trace_id = tracing::new_id();
      break;
    case cap::ObjectType::Notification:
      layout::phys_to<Notification>(c.phys())->trace_id = tracing::new_id();
      break;
    default:
      break;  // everything else starts as zeroed memory
  }
}

cap::CapSlot* embedded_hook(void*, const cap::Capability& c, uint64_t* count) {
  if (c.type() != cap::ObjectType::Tcb) return nullptr;
  *count = kTcbSlotCount;
  return tcb_slot(tcb_at(c.phys()), kTcbCSpace);
}

// Fills a destroyed object's memory with the poison pattern (object/poison.h). Device memory is
// left alone.
void poison(const cap::Capability& c) {
  if (!kPoisonFreed || c.is_device() || c.type() == cap::ObjectType::Untyped || !cap::has_memory(c.type())) return;
  auto* words = static_cast<uint64_t*>(layout::phys_to_virt(c.phys()));
  const uint64_t count = (uint64_t{1} << c.memory_size_bits()) / sizeof(uint64_t);
  for (uint64_t i = 0; i < count; ++i) words[i] = kPoisonWord;
}

void destroyed_hook(void*, const cap::Capability& c) {
  // The TCB of the thread whose system call this is stays unpoisoned: the system call still writes
  // its result there before it schedules (nothing can retype the memory before that).
  const bool running = c.type() == cap::ObjectType::Tcb && this_cpu().current == tcb_at(c.phys());
  release_object(c);
  if (!running) poison(c);
}

void release_object(const cap::Capability& c) {
  switch (c.type()) {
    case cap::ObjectType::Tcb: {
      Tcb* t = tcb_at(c.phys());
      tracing::thread_destroyed(t);
      tcb_ipc_destroyed(t);
      unbind_notification(t);
      unthrottle(t);
      if (t->sched_context != nullptr) unbind_sched_context(t->sched_context);
      if (this_cpu().account_thread == t) this_cpu().account_thread = nullptr;
      this_scheduler().dequeue(t);
      t->state = ThreadState::Inactive;
      Cpu& cpu = this_cpu();
      if (cpu.current == t) cpu.current = nullptr;
      if (cpu.fpu_owner == t) cpu.fpu_owner = nullptr;
      break;
    }
    case cap::ObjectType::Pml4:
      vspace::destroy_root(c.phys());
      break;
    case cap::ObjectType::IoPort:
      release_io_ports(c);
      break;
    case cap::ObjectType::IrqHandler:
      irq::release(irq::line_of(c));
      break;
    case cap::ObjectType::Endpoint:
      endpoint_destroyed(c.phys());
      break;
    case cap::ObjectType::Notification:
      irq::unbind_irqs_from(c.phys());
      notification_destroyed(c.phys());
      break;
    case cap::ObjectType::SchedContext:
      unbind_sched_context(layout::phys_to<SchedContext>(c.phys()));
      break;
    default:
      break;
  }
}

void cap_deleted_hook(void*, cap::CapSlot* slot) {
  // A mapped frame or paging structure is unmapped when the cap that mapped it goes away.
  unmap_cap(slot);
}

}  // namespace

void dangling_reference(const char* what, const void* where) {
  panic("dangling reference: a %s at %p was destroyed while still referenced (kernel_poison)", what, where);
}

void init_capabilities() {
  cap::ObjectHooks hooks;
  hooks.phys_to_virt = phys_to_virt_hook;
  hooks.zero_memory = zero_hook;
  hooks.object_created = created_hook;
  hooks.embedded_slots = embedded_hook;
  hooks.object_destroyed = destroyed_hook;
  hooks.cap_deleted = cap_deleted_hook;
  context = new (context_storage) cap::CapContext(hooks);
}

cap::CapContext& capabilities() { return *context; }

Tcb* tcb_at(uint64_t phys) { return layout::phys_to<Tcb>(phys); }

Result<cap::CapSlot*> lookup_invoked(Tcb* caller, uint64_t cptr) {
  return cap::lookup_cap(*context, tcb_slot(caller, kTcbCSpace)->cap, cptr);
}

void unmap_cap(cap::CapSlot* slot) { vspace::tables().unmap_cap(slot); }

}  // namespace tessera::kernel
