#include <tessera/sys/cspace.h>

namespace tessera::sys {

SlotAllocator::SlotAllocator(SlotRegion region)
    : start_(region.start), count_(region.end > region.start ? min(region.end - region.start, kMaxSlots) : 0) {}

Result<CPtr> SlotAllocator::alloc() {
  for (uint64_t word = 0; word * 64 < count_; ++word) {
    const uint64_t bits = used_bits_[word];
    if (bits == ~uint64_t{0}) continue;
    const uint64_t bit = static_cast<uint64_t>(__builtin_ctzll(~bits));
    const uint64_t index = word * 64 + bit;
    if (index >= count_) break;
    used_bits_[word] |= uint64_t{1} << bit;
    ++used_;
    high_water_ = max(high_water_, index + 1);
    return start_ + index;
  }
  return Error::NotEnoughMemory;
}

Result<void> SlotAllocator::free(CPtr slot) {
  if (slot < start_ || slot - start_ >= count_) return Error::InvalidArgument;
  const uint64_t index = slot - start_;
  const uint64_t mask = uint64_t{1} << (index % 64);
  if ((used_bits_[index / 64] & mask) == 0) return Error::InvalidArgument;
  used_bits_[index / 64] &= ~mask;
  --used_;
  return {};
}

}  // namespace tessera::sys
