// A CNode slot: one capability plus its place in the capability derivation tree (CDT) and in
// the ring of caps that name the same object. A CNode is an array of 2^radix slots.
#pragma once

#include <stdint.h>

#include "cap/capability.h"

namespace tessera::cap {

// Layout (128 bytes = 2^kSlotSizeBits):
//   cap                      the capability (Null when the slot is empty)
//   parent / first_child /   the derivation tree: a cap's children are the caps derived from it
//   prev/next_sibling        (copies, mints, retyped objects, issued IRQ handlers / I-O ports).
//                            Roots (parent == nullptr) are siblings in CapContext's root list.
//   ring_prev / ring_next    a circular list of every slot whose cap names the same object;
//                            a cap is the last one to its object when the ring is just itself.
//                            (Untyped caps are never destroyed and always form a ring alone.)
//   arch_reserved            room for the kernel's per-cap state (e.g. a frame's mapping).
// An empty slot has every link null.
struct CapSlot {
  Capability cap;
  CapSlot* parent = nullptr;
  CapSlot* first_child = nullptr;
  CapSlot* prev_sibling = nullptr;
  CapSlot* next_sibling = nullptr;
  CapSlot* ring_prev = nullptr;
  CapSlot* ring_next = nullptr;
  uint64_t arch_reserved[7] = {};

  bool empty() const { return cap.is_null(); }
  bool has_children() const { return first_child != nullptr; }
  // True when no other slot holds a cap to the same object.
  bool is_last_cap_to_object() const { return ring_next == this; }
};

static_assert(sizeof(CapSlot) == (uint64_t{1} << kSlotSizeBits));

}  // namespace tessera::cap
