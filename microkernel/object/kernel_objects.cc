#include "object/kernel_objects.h"

#include <tessera/string.h>

#include "arch/x86_64/percpu.h"
#include "cap/object_type.h"
#include "generic/kernel_layout.h"
#include "generic/scheduler.h"
#include "object/address_space.h"
#include "object/ipc.h"
#include "object/sched_context.h"

namespace tessera::kernel {
namespace {

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
      break;
    }
    case cap::ObjectType::Pml4:
      vspace::init_root(c.phys());
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

void destroyed_hook(void*, const cap::Capability& c) {
  switch (c.type()) {
    case cap::ObjectType::Tcb: {
      Tcb* t = tcb_at(c.phys());
      cancel_ipc(t, false);
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
      release_irq(c);
      break;
    case cap::ObjectType::Endpoint:
      endpoint_destroyed(c.phys());
      break;
    case cap::ObjectType::Notification:
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
  MappingRecord& m = mapping_of(slot);
  if (m.asid != 0) {
    unmap_recorded(slot->cap, m);
    m = MappingRecord{};
  }
}

}  // namespace

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

unsigned entry_level(cap::ObjectType type) {
  switch (type) {
    case cap::ObjectType::Frame4K: return 1;
    case cap::ObjectType::Frame2M: return 2;
    case cap::ObjectType::PageTable: return 2;
    case cap::ObjectType::PageDirectory: return 3;
    case cap::ObjectType::Pdpt: return 4;
    default: return 0;
  }
}

void unmap_recorded(const cap::Capability& c, const MappingRecord& m) {
  const unsigned level = entry_level(c.type());
  const uint64_t root = vspace::root_of(vspace::SpaceId{m.asid, m.generation});
  if (level == 0 || root == 0) return;  // the space is gone: nothing is mapped any more
  vspace::clear_entry(root, m.vaddr, level, c.phys());
}

MappingRecord& mapping_of(cap::CapSlot* slot) {
  static_assert(sizeof(MappingRecord) <= sizeof(slot->arch_reserved));
  return *reinterpret_cast<MappingRecord*>(slot->arch_reserved);
}

}  // namespace tessera::kernel
