// The first-fit boundary-tag heap (tessera/sys/heap.h).
#include <tessera/meta.h>
#include <tessera/sys/heap.h>

namespace tessera::sys {

// The header in front of every block. `size_flags` is the block's size (header included, a
// multiple of 16) with bit 0 = used and bit 1 = "this is an alignment header", whose
// `prev_size` then holds the real payload's address.
struct Heap::Block {
  uint64_t size_flags;
  uint64_t prev_size;  // 0 for the first block

  static constexpr uint64_t kUsed = 1;
  static constexpr uint64_t kAlignedMark = 2;
  static constexpr uint64_t kFlagMask = 15;

  uint64_t size() const { return size_flags & ~kFlagMask; }
  bool used() const { return (size_flags & kUsed) != 0; }
  void set(uint64_t size, bool in_use) { size_flags = size | (in_use ? kUsed : 0); }
  uint8_t* payload() { return reinterpret_cast<uint8_t*>(this) + kHeaderBytes; }
};
static_assert(sizeof(uint64_t) * 2 == Heap::kHeaderBytes);

Result<void> Heap::init(void* base, size_t bytes) {
  const uint64_t address = reinterpret_cast<uint64_t>(base);
  if (base == nullptr || !is_aligned(address, kAlignment) || bytes < kMinBlockBytes) return Error::InvalidArgument;
  base_ = static_cast<uint8_t*>(base);
  size_ = align_down(bytes, kAlignment);
  in_use_ = live_ = 0;
  bad_frees_ = 0;
  first()->set(size_, false);
  first()->prev_size = 0;
  return {};
}

Result<void> Heap::extend(size_t bytes) {
  uint64_t new_size = 0, end = 0;
  if (size_ == 0 || bytes < kMinBlockBytes || !is_aligned(bytes, kAlignment) ||
      add_overflows(size_, bytes, &new_size) || add_overflows(reinterpret_cast<uint64_t>(base_), new_size, &end)) {
    return Error::InvalidArgument;
  }
  Block* last = first();
  for (Block* b = next(last); b != nullptr; b = next(b)) last = b;
  size_ = new_size;
  if (!last->used()) {
    last->set(last->size() + bytes, false);
    return {};
  }
  auto* tail = reinterpret_cast<Block*>(reinterpret_cast<uint8_t*>(last) + last->size());
  tail->set(bytes, false);
  tail->prev_size = last->size();
  return {};
}

Heap::Block* Heap::first() const { return size_ == 0 ? nullptr : reinterpret_cast<Block*>(base_); }

Heap::Block* Heap::next(const Block* b) const {
  const uint8_t* end = reinterpret_cast<const uint8_t*>(b) + b->size();
  return end < base_ + size_ ? reinterpret_cast<Block*>(const_cast<uint8_t*>(end)) : nullptr;
}

bool Heap::contains(const void* payload) const {
  const auto* p = static_cast<const uint8_t*>(payload);
  return size_ != 0 && p >= base_ && p < base_ + size_;
}

void* Heap::allocate_aligned16(size_t bytes) {
  if (bytes == 0 || bytes > size_) return nullptr;
  const uint64_t need = max<uint64_t>(align_up(bytes + kHeaderBytes, kAlignment), kMinBlockBytes);
  for (Block* b = first(); b != nullptr; b = next(b)) {
    if (b->used() || b->size() < need) continue;
    const uint64_t rest = b->size() - need;
    if (rest >= kMinBlockBytes) {
      auto* tail = reinterpret_cast<Block*>(reinterpret_cast<uint8_t*>(b) + need);
      tail->set(rest, false);
      tail->prev_size = need;
      if (Block* after = next(tail)) after->prev_size = rest;
      b->set(need, true);
    } else {
      b->set(b->size(), true);
    }
    in_use_ += b->size();
    ++live_;
    return b->payload();
  }
  return nullptr;
}

void* Heap::allocate(size_t bytes, size_t alignment) {
  if (!is_power_of_two(alignment)) return nullptr;
  if (alignment <= kAlignment) return allocate_aligned16(bytes);
  if (bytes > size_ || alignment > size_) return nullptr;
  // Over-allocate, then put an alignment header right before the aligned payload that points
  // back at the real one, so free() finds it.
  uint8_t* raw = static_cast<uint8_t*>(allocate_aligned16(bytes + alignment));
  if (raw == nullptr) return nullptr;
  const uint64_t aligned = align_up(reinterpret_cast<uint64_t>(raw) + kHeaderBytes, alignment);
  // aligned >= raw + 16, so the alignment header lies inside the real payload.
  auto* mark = reinterpret_cast<Block*>(aligned - kHeaderBytes);
  mark->size_flags = Block::kAlignedMark | Block::kUsed;
  mark->prev_size = reinterpret_cast<uint64_t>(raw);
  return reinterpret_cast<void*>(aligned);
}

void Heap::free(void* payload) {
  if (payload == nullptr) return;
  auto* p = static_cast<uint8_t*>(payload);
  if (!contains(p) || p < base_ + kHeaderBytes || !is_aligned(reinterpret_cast<uint64_t>(p), kAlignment)) {
    ++bad_frees_;
    return;
  }
  auto* b = reinterpret_cast<Block*>(p - kHeaderBytes);
  if ((b->size_flags & Block::kAlignedMark) != 0) {
    // An over-aligned payload: free the real one it points back to.
    auto* real = reinterpret_cast<uint8_t*>(b->prev_size);
    if (!contains(real) || real >= p) {
      ++bad_frees_;
      return;
    }
    b->size_flags = 0;  // a second free of the aligned pointer is then a detected bad free
    p = real;
    b = reinterpret_cast<Block*>(p - kHeaderBytes);
  }
  const uint64_t size = b->size();
  if (!b->used() || (b->size_flags & Block::kAlignedMark) != 0 || size < kMinBlockBytes ||
      size > static_cast<uint64_t>(base_ + size_ - reinterpret_cast<uint8_t*>(b))) {
    ++bad_frees_;
    return;
  }
  in_use_ -= size;
  --live_;
  b->set(size, false);
  // Coalesce with the next block, then with the previous one.
  if (Block* after = next(b); after != nullptr && !after->used()) {
    b->set(b->size() + after->size(), false);
    if (Block* beyond = next(b)) beyond->prev_size = b->size();
  }
  if (b->prev_size != 0) {
    auto* before = reinterpret_cast<Block*>(reinterpret_cast<uint8_t*>(b) - b->prev_size);
    if (!before->used()) {
      before->set(before->size() + b->size(), false);
      if (Block* beyond = next(before)) beyond->prev_size = before->size();
    }
  }
}

size_t Heap::largest_free() const {
  uint64_t largest = 0;
  for (Block* b = first(); b != nullptr; b = next(b)) {
    if (!b->used()) largest = max(largest, b->size() - kHeaderBytes);
  }
  return largest;
}

bool Heap::check_consistency() const {
  uint64_t total = 0, used = 0, prev = 0;
  bool prev_free = false;
  for (Block* b = first(); b != nullptr; b = next(b)) {
    const uint64_t size = b->size();
    if (size < kMinBlockBytes || (b->size_flags & Block::kAlignedMark) != 0 || b->prev_size != prev) return false;
    if (!b->used() && prev_free) return false;  // two free neighbours should have merged
    if (b->used()) used += size;
    total += size;
    if (total > size_) return false;
    prev = size;
    prev_free = !b->used();
  }
  return total == size_ && used == in_use_;
}

}  // namespace tessera::sys
