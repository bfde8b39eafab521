// The state every capability operation works on, passed explicitly (no globals): the hooks that
// connect the pure logic to memory and to the kernel's objects, and the list of CDT roots.
// Calls on one CapContext must be serialised by the caller (today: one CPU, interrupts off).
#pragma once

#include <stdint.h>

#include "cap/slot.h"

namespace tessera::cap {

// How the capability core reaches memory and tells the kernel about object lifetimes.
// Every function pointer must be set; `cookie` is passed back to each of them.
struct ObjectHooks {
  void* cookie = nullptr;
  // The kernel-virtual address of physical address `phys` (the physmap in the kernel, an arena
  // in host tests). Used to reach CNode slots.
  void* (*phys_to_virt)(void* cookie, uint64_t phys) = nullptr;
  // Zero [phys, phys + bytes): called for every new object made from non-device memory.
  void (*zero_memory)(void* cookie, uint64_t phys, uint64_t bytes) = nullptr;
  // A new object exists; `cap` is its first capability (memory already zeroed). Not called for
  // Untyped: an untyped cap names a region of memory, not an object with a lifetime.
  void (*object_created)(void* cookie, const Capability& cap) = nullptr;
  // Optional (may be null): the capability slots embedded in an object other than a CNode, e.g. a
  // TCB's CSpace and VSpace root slots. Returns the first slot and stores the count. When the
  // object is destroyed, these slots are emptied like a CNode's before object_destroyed runs.
  CapSlot* (*embedded_slots)(void* cookie, const Capability& cap, uint64_t* count) = nullptr;
  // The last cap to an object was deleted: release what the object holds (wake waiters, unbind,
  // unmap...). For a CNode, its slots have already been emptied. Not called for Untyped.
  void (*object_destroyed)(void* cookie, const Capability& last_cap) = nullptr;
  // Optional (may be null): `slot`'s cap is about to be removed (deleted, revoked, or emptied with
  // its container), whether or not it is the last cap to its object. The kernel releases per-cap
  // state here, e.g. unmaps a frame the cap mapped (kept in CapSlot::arch_reserved).
  void (*cap_deleted)(void* cookie, CapSlot* slot) = nullptr;
};

class CapContext {
 public:
  explicit CapContext(const ObjectHooks& hooks) : hooks_(hooks) {}
  CapContext(const CapContext&) = delete;
  CapContext& operator=(const CapContext&) = delete;

  const ObjectHooks& hooks() const { return hooks_; }

  // The slots of the CNode named by `cnode` (a CNode cap).
  CapSlot* cnode_slots(const Capability& cnode) const {
    return static_cast<CapSlot*>(hooks_.phys_to_virt(hooks_.cookie, cnode.phys()));
  }
  void zero(uint64_t phys, uint64_t bytes) const { hooks_.zero_memory(hooks_.cookie, phys, bytes); }
  void created(const Capability& cap) const { hooks_.object_created(hooks_.cookie, cap); }
  void destroyed(const Capability& cap) const { hooks_.object_destroyed(hooks_.cookie, cap); }
  void cap_deleted(CapSlot* slot) const {
    if (hooks_.cap_deleted != nullptr) hooks_.cap_deleted(hooks_.cookie, slot);
  }

  // The capability slots an object contains: a CNode's 2^radix slots, or the slots the kernel
  // embeds in other objects (see ObjectHooks::embedded_slots). Sets *count to 0 if none.
  CapSlot* container_slots(const Capability& cap, uint64_t* count) const {
    *count = 0;
    if (cap.type() == ObjectType::CNode) {
      *count = uint64_t{1} << cap.radix();
      return cnode_slots(cap);
    }
    if (hooks_.embedded_slots == nullptr || cap.is_null()) return nullptr;
    return hooks_.embedded_slots(hooks_.cookie, cap, count);
  }

  // First root of the derivation forest (caps without a parent), linked through next_sibling.
  CapSlot* first_root() const { return first_root_; }
  // The head of the root list, for the derivation-tree code that links and unlinks roots.
  CapSlot** root_list_head() { return &first_root_; }

 private:
  ObjectHooks hooks_;
  CapSlot* first_root_ = nullptr;
};

}  // namespace tessera::cap
