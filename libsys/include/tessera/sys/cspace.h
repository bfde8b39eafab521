// Capability-space bookkeeping for a task that manages its own CNode: which slots are free.
// The kernel never tells a task which of its slots are empty, so a task keeps this record itself,
// starting from what it knows at birth (for the root task: BootInfo::empty).
#pragma once

#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/result.h>

namespace tessera::sys {

// A capability pointer. In the root CNode (radix 12, 52-bit zero guard) a slot index is its cptr
// and depth 64 names the slot itself.
using CPtr = uint64_t;
constexpr uint8_t kSlotDepth = 64;

// Hands out the slots of one SlotRegion. Fixed-size bitmap, no allocation; O(region / 64) per
// call. Not thread-safe: one owner.
class SlotAllocator {
 public:
  // The most slots one allocator tracks (a whole root CNode).
  static constexpr uint64_t kMaxSlots = uint64_t{1} << kRootCNodeRadix;

  // Tracks [region.start, region.end), all free; a region longer than kMaxSlots is cut to its
  // first kMaxSlots slots, and an inverted region counts as empty.
  explicit SlotAllocator(SlotRegion region);

  // The lowest free slot, now marked used; NotEnoughMemory when every slot is used.
  Result<CPtr> alloc();
  // Returns `slot` to the pool. InvalidArgument when it is outside the region or already free
  // (a double free is a caller bug, reported instead of hidden).
  Result<void> free(CPtr slot);

  uint64_t capacity() const { return count_; }
  uint64_t available() const { return count_ - used_; }
  // One past the highest slot ever handed out (start when none was): the range a task must
  // sweep to find every capability it placed through this allocator.
  CPtr high_water() const { return start_ + high_water_; }
  CPtr first() const { return start_; }

 private:
  CPtr start_;
  uint64_t count_;
  uint64_t used_ = 0;
  uint64_t high_water_ = 0;
  uint64_t used_bits_[kMaxSlots / 64] = {};
};

}  // namespace tessera::sys
