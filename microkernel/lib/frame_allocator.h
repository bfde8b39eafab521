// FrameAllocator: the boot-time physical frame allocator. It owns a private copy of the free
// (Available) memory, cut to whole 4 KiB frames, and hands frames out from the lowest address
// upwards, so kernel boot structures sit low and the large high regions stay whole for the
// untyped capabilities built later from remaining(). It never hands out a frame twice and never a
// frame outside an Available region. Frames are not zeroed (physical memory may not be mapped).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/result.h>

#include "lib/phys_regions.h"

namespace tessera::kernel {

class FrameAllocator {
 public:
  static constexpr uint64_t kFrameSize = 4096;
  static constexpr size_t kCapacity = PhysRegions::kCapacity;

  // An allocator with no memory until init (constant-initialised: usable as a global).
  constexpr FrameAllocator() : free_{} {}

  // Takes every Available region at or above `min_address`, shrunk inwards to 4 KiB boundaries;
  // forgets anything from an earlier init.
  void init(const PhysRegions& regions, uint64_t min_address = 0x100000);

  // One 4 KiB frame: the lowest free one. NotEnoughMemory when none is left.
  Result<uint64_t> alloc();

  // `frames` contiguous frames starting at a multiple of `align`: the lowest such run.
  // InvalidArgument when frames == 0 or align is not a power of two >= kFrameSize;
  // NotEnoughMemory when no free region holds such a run.
  Result<uint64_t> alloc_contiguous(size_t frames, uint64_t align);

  // Bytes still free.
  uint64_t free_bytes() const;

  // The free ranges, in address order (kind Available, 4 KiB aligned, never empty).
  size_t remaining_count() const { return count_; }
  PhysRegion remaining(size_t i) const { return PhysRegion{free_[i].base, free_[i].end, RegionKind::Available}; }

  // Bytes given up because an aligned allocation split a region while the free list was full
  // (the skipped frames below the allocation could not be recorded). Normally 0.
  uint64_t discarded_bytes() const { return discarded_; }

 private:
  struct Range {
    uint64_t base;
    uint64_t end;
  };

  void remove_at(size_t index);

  Range free_[kCapacity];
  size_t count_ = 0;
  uint64_t discarded_ = 0;
};

}  // namespace tessera::kernel
