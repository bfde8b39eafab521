#include "lib/phys_regions.h"

#include <tessera/meta.h>

namespace tessera::kernel {
namespace {

RegionKind stronger(RegionKind a, RegionKind b) { return region_rank(b) > region_rank(a) ? b : a; }

// Appends regions in address order to a fixed array, merging with the previous one when they
// touch and have the same kind. Remembers whether anything did not fit.
class RegionWriter {
 public:
  RegionWriter(PhysRegion* slots, size_t capacity) : slots_(slots), capacity_(capacity) {}

  void emit(uint64_t base, uint64_t end, RegionKind kind) {
    if (base >= end) return;
    if (count_ > 0) {
      PhysRegion& last = slots_[count_ - 1];
      if (last.end == base && last.kind == kind) {
        last.end = end;
        return;
      }
    }
    if (count_ == capacity_) {
      overflowed_ = true;
      return;
    }
    slots_[count_++] = PhysRegion{base, end, kind};
  }

  size_t count() const { return count_; }
  bool overflowed() const { return overflowed_; }

 private:
  PhysRegion* slots_;
  size_t capacity_;
  size_t count_ = 0;
  bool overflowed_ = false;
};

RegionKind kind_from_multiboot(mb2::MemoryType type) {
  switch (type) {
    case mb2::MemoryType::Available: return RegionKind::Available;
    case mb2::MemoryType::AcpiReclaimable: return RegionKind::AcpiReclaimable;
    case mb2::MemoryType::AcpiNvs: return RegionKind::AcpiNvs;
    case mb2::MemoryType::Bad: return RegionKind::Bad;
    case mb2::MemoryType::Reserved: return RegionKind::Reserved;
  }
  return RegionKind::Reserved;
}

}  // namespace

const char* region_kind_name(RegionKind kind) {
  switch (kind) {
    case RegionKind::Available: return "available";
    case RegionKind::Reserved: return "reserved";
    case RegionKind::AcpiReclaimable: return "acpi-reclaimable";
    case RegionKind::AcpiNvs: return "acpi-nvs";
    case RegionKind::Bad: return "bad";
    case RegionKind::Kernel: return "kernel";
    case RegionKind::Module: return "module";
    case RegionKind::BootInfo: return "boot-info";
    case RegionKind::Device: return "device";
  }
  return "unknown";
}

Result<void> PhysRegions::add(uint64_t base, uint64_t length, RegionKind kind) {
  if (length == 0) return {};
  uint64_t end = 0;
  if (add_overflows(base, length, &end)) return Error::InvalidArgument;

  const PhysRegion* current = slots_[active_];
  unsigned next_slot = active_ ^ 1u;
  RegionWriter out(slots_[next_slot], kCapacity);
  uint64_t cursor = base;  // [base, cursor) of the new range has been emitted
  for (size_t i = 0; i < count_; ++i) {
    const PhysRegion& region = current[i];
    // The part of the new range in the gap before this region.
    if (cursor < end && region.base > cursor) {
      uint64_t gap_end = min(region.base, end);
      out.emit(cursor, gap_end, kind);
      cursor = gap_end;
    }
    uint64_t overlap_base = max(region.base, base);
    uint64_t overlap_end = min(region.end, end);
    if (overlap_base >= overlap_end) {
      out.emit(region.base, region.end, region.kind);
      continue;
    }
    out.emit(region.base, overlap_base, region.kind);
    out.emit(overlap_base, overlap_end, stronger(region.kind, kind));
    out.emit(overlap_end, region.end, region.kind);
    cursor = max(cursor, overlap_end);
  }
  if (cursor < end) out.emit(cursor, end, kind);

  if (out.overflowed()) return Error::RangeError;
  active_ = next_slot;
  count_ = out.count();
  return {};
}

uint64_t PhysRegions::total(RegionKind kind) const {
  uint64_t sum = 0;
  for (size_t i = 0; i < count_; ++i) {
    if ((*this)[i].kind == kind) sum += (*this)[i].size();
  }
  return sum;
}

const PhysRegion* PhysRegions::find(uint64_t address) const {
  size_t low = 0;
  size_t high = count_;
  while (low < high) {  // first region whose end is above `address`
    size_t mid = low + (high - low) / 2;
    if ((*this)[mid].end <= address) low = mid + 1; else high = mid;
  }
  if (low < count_ && (*this)[low].base <= address) return &(*this)[low];
  return nullptr;
}

Result<void> PhysRegions::add_from_multiboot(const mb2::BootInfo& info) {
  for (size_t i = 0; i < info.region_count && i < mb2::kMaxRegions; ++i) {
    const mb2::MemoryRegion& region = info.regions[i];
    TRY(add(region.base, region.length, kind_from_multiboot(region.type)));
  }
  return {};
}

}  // namespace tessera::kernel
