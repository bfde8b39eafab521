// The kernel's side of the capability core (microkernel/cap): the one CapContext of the system,
// the hooks that create and destroy real kernel objects, and where objects keep embedded slots.
// Every call into cap/ happens with interrupts off on the one CPU there is today; there is no kernel
// lock yet (SMP will add one around these calls).
#pragma once

#include <stdint.h>

#include "cap/context.h"
#include "cap/cspace.h"
#include "cap/slot.h"
#include "lib/vspace_tables.h"
#include "object/tcb.h"

namespace tessera::kernel {

// Initialises the capability context; call once at boot before any cap exists.
void init_capabilities();
cap::CapContext& capabilities();

// A TCB object (2^kTcbBits bytes) holds the Tcb at offset 0 and its capability slots after it.
enum TcbSlot : uint8_t { kTcbCSpace = 0, kTcbVSpace = 1, kTcbIpcBufferFrame = 2, kTcbSlotCount = 3 };
constexpr uint64_t kTcbSlotsOffset = 1024;
static_assert(sizeof(Tcb) <= kTcbSlotsOffset, "Tcb must leave room for its capability slots");

Tcb* tcb_at(uint64_t phys);
inline cap::CapSlot* tcb_slot(Tcb* tcb, TcbSlot which) {
  return reinterpret_cast<cap::CapSlot*>(reinterpret_cast<uint8_t*>(tcb) + kTcbSlotsOffset) + which;
}

// The capability a system call of `caller` names by `cptr`, in the caller's CSpace (seL4's
// lookupCap: up to 64 bits, stopping at the first non-CNode). Errors: FailedLookup, EmptySlot.
// Its type and rights are checked where it is used, with cap::lookup_cap<T>.
Result<cap::CapSlot*> lookup_invoked(Tcb* caller, uint64_t cptr);

// MappingRecord, mapping_of, is_mapped and entry_level: lib/vspace_tables.h.

// The last IoPort cap to a port range is gone: the ports may be issued again.
void release_io_ports(const cap::Capability& cap);

// Undoes the mapping the cap in `slot` made, if any, and marks the cap unmapped; a paging structure
// is emptied (vspace::Tables::unmap_cap). Together with "a cap that is marked mapped cannot map
// again" this keeps every entry reachable by the MMU pointing at live memory: see
// docs/kernel-objects.md, "References between objects".
void unmap_cap(cap::CapSlot* slot);

// The PML4 of `t`, as long as the VSpace slot still holds the cap configure put there; 0 once that
// cap has been deleted (its space may be destroyed and its memory reused). Every kernel path that
// reaches a thread's memory (IPC buffers, debug output, invocation arguments) goes through this.
inline uint64_t vspace_of(Tcb* t) {
  return root_through_slot(tcb_slot(t, kTcbVSpace), t->vspace_root);
}

}  // namespace tessera::kernel
