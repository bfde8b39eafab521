// PhysRegions: the kernel's normalised physical memory map, built at boot from the firmware's map
// plus what the kernel knows (its own image, modules, the boot information, device windows).
//
// Invariants, true after every call: regions are sorted by base, do not overlap, are never empty,
// and no two adjacent regions (one's end == the next's base) have the same kind. Where an added
// range overlaps existing regions, each byte takes the more restrictive kind by this precedence:
//
//   Bad > Kernel > Module > BootInfo > AcpiNvs > Device > Reserved > AcpiReclaimable > Available
//
// (memory that must never be handed out beats memory the kernel occupies, which beats firmware
// memory, which beats free memory). The order is total, so the map does not depend on the order in
// which ranges are added. Fixed capacity, no allocation: an add that would need more than
// kCapacity regions fails with RangeError and leaves the map unchanged.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/result.h>

#include "lib/multiboot2.h"

namespace tessera::kernel {

enum class RegionKind : uint8_t { Available, Reserved, AcpiReclaimable, AcpiNvs, Bad, Kernel, Module, BootInfo, Device };

// Physical range [base, end).
struct PhysRegion {
  uint64_t base;
  uint64_t end;
  RegionKind kind;

  uint64_t size() const { return end - base; }
};

// Precedence rank: a larger rank wins where ranges overlap.
constexpr unsigned region_rank(RegionKind kind) {
  switch (kind) {
    case RegionKind::Available: return 0;
    case RegionKind::AcpiReclaimable: return 1;
    case RegionKind::Reserved: return 2;
    case RegionKind::Device: return 3;
    case RegionKind::AcpiNvs: return 4;
    case RegionKind::BootInfo: return 5;
    case RegionKind::Module: return 6;
    case RegionKind::Kernel: return 7;
    case RegionKind::Bad: return 8;
  }
  return 8;  // unreachable for valid enumerators; an invalid value is treated as Bad
}

// A short name for logs ("available", "acpi-nvs", ...).
const char* region_kind_name(RegionKind kind);

class PhysRegions {
 public:
  static constexpr size_t kCapacity = 256;

  // An empty map (constant-initialised, so it can be a global without a constructor).
  constexpr PhysRegions() : slots_{} {}

  // Marks [base, base + length) as `kind`, resolving overlaps by precedence (see above).
  // Zero length: no-op. InvalidArgument if the range passes 2^64; RangeError (map unchanged) if
  // the result would need more than kCapacity regions.
  Result<void> add(uint64_t base, uint64_t length, RegionKind kind);

  size_t count() const { return count_; }
  // The i-th region in address order; `i` must be < count().
  const PhysRegion& operator[](size_t i) const { return slots_[active_][i]; }

  // Sum of the sizes of all regions of `kind`.
  uint64_t total(RegionKind kind) const;

  // The region containing `address`, or null when no region covers it.
  const PhysRegion* find(uint64_t address) const;

  // Adds every region of the multiboot2 memory map (Available, Reserved, AcpiReclaimable,
  // AcpiNvs and Bad map to the same-named kinds). On error the regions before the failing one
  // stay added.
  Result<void> add_from_multiboot(const mb2::BootInfo& info);

 private:
  // Double buffer: add() builds the new map in the inactive slot and flips on success, so a
  // failed add leaves the map untouched without any allocation.
  PhysRegion slots_[2][kCapacity];
  size_t count_ = 0;
  unsigned active_ = 0;
};

}  // namespace tessera::kernel
