// Untyped memory: Retype turns part of an untyped region into new objects, each with one
// original cap that is a child of the untyped cap in the derivation tree.
#pragma once

#include <stdint.h>
#include <tessera/result.h>

#include "cap/context.h"

namespace tessera::cap {

struct RetypeRequest {
  ObjectType type;
  uint64_t size_bits;     // Untyped: log2 bytes; CNode: radix; SchedContext: log2 bytes
  CapSlot* dest_cnode;    // slot holding a cap to the CNode that receives the new caps
  uint64_t dest_offset;   // first slot index in that CNode
  uint64_t count;         // number of objects, 1..kMaxRetypeCount
};

// Creates `count` objects from the untyped cap in `untyped_slot`. Objects are placed at the
// untyped's watermark rounded up to their size (objects are aligned to their size), the
// watermark moves past them (it resets to 0 only when the untyped has no children), their memory
// is zeroed through ObjectHooks::zero_memory (not for device memory, and not for new Untyped:
// objects made from those are zeroed then), ObjectHooks::object_created runs for each (except
// Untyped), and their caps (all rights) go to consecutive slots of the destination CNode.
// Errors, checked in this order, with nothing changed on error:
//   EmptySlot / WrongObjectType  untyped_slot does not hold an Untyped cap
//   InvalidArgument    type cannot be retyped (control caps, IRQ handlers, I/O ports, Null)
//   RangeError         size_bits out of range for the type, or count not in 1..256
//   EmptySlot / WrongObjectType  dest_cnode does not hold a CNode cap
//   RangeError         dest_offset + count beyond the destination CNode
//   DeleteFirst        a destination slot is occupied
//   InvalidArgument    a device untyped asked for something other than frames or untyped
//   NotEnoughMemory    the objects do not fit between the aligned watermark and the end
Result<void> retype(CapContext& ctx, CapSlot* untyped_slot, const RetypeRequest& request);

}  // namespace tessera::cap
