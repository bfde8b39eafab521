// Making kernel objects from untyped memory: picks a boot untyped with room and retypes one object
// into a fresh slot of the root CNode. The kernel stays the authority on free memory: the
// allocator asks it (Untyped.retype) and moves on to the next untyped when one is full, so it
// never disagrees with other users of the same untyped.
#pragma once

#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>

namespace tessera::sys {

// log2 of the memory one object of `type` takes (`size_bits` is the size of Untyped and
// SchedContext and the radix of a CNode); 0 for types Retype cannot make.
uint8_t object_size_bits(abi::ObjectType type, uint8_t size_bits);

// What the untyped cap `untyped` covers (Untyped.describe), as a BootInfo descriptor; the
// kernel's errors for a cap that is not an untyped.
Result<UntypedDescriptor> describe_untyped(CallTransport& kernel, CPtr untyped);

class UntypedAllocator {
 public:
  // Uses the non-device untyped caps `info` lists (slots info.untyped) and puts new caps into
  // slots taken from `slots`, in the CNode `root_cnode` (which must be the CNode the slot numbers
  // belong to; the root task's is kSlotRootCNode). Keeps references: all three must outlive it.
  UntypedAllocator(const BootInfo& info, CallTransport& kernel, SlotAllocator& slots,
                   CPtr root_cnode = kSlotRootCNode);

  // Creates one object of `type` (size_bits as for Untyped.retype; ignored for fixed-size types)
  // in a fresh slot and returns the slot. First fit over the untypeds in BootInfo order. Errors:
  // NotEnoughMemory (no untyped has room, or no free slot), and the kernel's retype errors
  // (InvalidArgument, RangeError, ...), with the slot given back.
  Result<CPtr> allocate(abi::ObjectType type, uint8_t size_bits = 0);

  // Deletes the capability in `slot` (destroying the object if it was the last cap) and returns
  // the slot to the slot allocator. The memory becomes reusable once every object made from its
  // untyped is gone (the kernel resets an untyped when its last child goes).
  Result<void> free(CPtr slot);

  CallTransport& kernel() { return kernel_; }
  SlotAllocator& slots() { return slots_; }

 private:
  const BootInfo& info_;
  CallTransport& kernel_;
  SlotAllocator& slots_;
  CPtr root_cnode_;
};

}  // namespace tessera::sys
