#include "lib/frame_allocator.h"

#include <tessera/meta.h>

namespace tessera::kernel {

void FrameAllocator::init(const PhysRegions& regions, uint64_t min_address) {
  count_ = 0;
  discarded_ = 0;
  for (size_t i = 0; i < regions.count() && count_ < kCapacity; ++i) {
    const PhysRegion& region = regions[i];
    if (region.kind != RegionKind::Available || region.end <= min_address) continue;
    uint64_t base = max(region.base, min_address);
    uint64_t aligned_base = 0;
    if (add_overflows(base, kFrameSize - 1, &aligned_base)) continue;  // less than one frame left
    aligned_base = align_down(aligned_base, kFrameSize);
    uint64_t aligned_end = align_down(region.end, kFrameSize);
    if (aligned_base >= aligned_end) continue;
    free_[count_++] = Range{aligned_base, aligned_end};
  }
}

void FrameAllocator::remove_at(size_t index) {
  for (size_t i = index; i + 1 < count_; ++i) free_[i] = free_[i + 1];
  --count_;
}

Result<uint64_t> FrameAllocator::alloc() {
  if (count_ == 0) return Error::NotEnoughMemory;
  uint64_t frame = free_[0].base;
  free_[0].base += kFrameSize;
  if (free_[0].base == free_[0].end) remove_at(0);
  return frame;
}

Result<uint64_t> FrameAllocator::alloc_contiguous(size_t frames, uint64_t align) {
  if (frames == 0 || align < kFrameSize || !is_power_of_two(align)) return Error::InvalidArgument;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(frames), kFrameSize, &bytes)) return Error::NotEnoughMemory;

  for (size_t i = 0; i < count_; ++i) {
    Range& range = free_[i];
    uint64_t start = 0;
    if (add_overflows(range.base, align - 1, &start)) continue;
    start = align_down(start, align);
    uint64_t end = 0;
    if (add_overflows(start, bytes, &end) || end > range.end) continue;

    // Carve [start, end) out of the range: up to one piece below and one above remain.
    bool keep_below = start > range.base;
    bool keep_above = end < range.end;
    if (keep_below && keep_above) {
      if (count_ < kCapacity) {
        for (size_t j = count_; j > i + 1; --j) free_[j] = free_[j - 1];
        ++count_;
        free_[i + 1] = Range{end, range.end};
        range.end = start;
      } else {
        discarded_ += start - range.base;  // no slot to remember the piece below
        range.base = end;
      }
    } else if (keep_below) {
      range.end = start;
    } else if (keep_above) {
      range.base = end;
    } else {
      remove_at(i);
    }
    return start;
  }
  return Error::NotEnoughMemory;
}

uint64_t FrameAllocator::free_bytes() const {
  uint64_t sum = 0;
  for (size_t i = 0; i < count_; ++i) sum += free_[i].end - free_[i].base;
  return sum;
}

}  // namespace tessera::kernel
