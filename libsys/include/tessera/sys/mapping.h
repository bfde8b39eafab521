// Mapping frames into an address space, creating the paging structures on the way (seL4 style:
// try the map, and on FailedLookup make and map the missing table, from the top down).
#pragma once

#include <stdint.h>

#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/untyped.h>

namespace tessera::sys {

// The page-table caps map_frame calls created (each call adds at most a PDPT, a page directory
// and a page table), so the caller can delete them when the address space is torn down.
struct CreatedTables {
  static constexpr uint32_t kCapacity = 12;
  CPtr slots[kCapacity] = {};
  uint32_t count = 0;
};

enum class PageSize : uint8_t { k4K = 12, k2M = 21 };

struct MapRequest {
  CPtr vspace;          // PML4 cap
  CPtr frame;           // Frame cap (not mapped yet)
  uint64_t vaddr;       // aligned to the frame size, below the user limit
  PageSize size = PageSize::k4K;
  uint8_t rights = abi::kRightRead | abi::kRightWrite;
  uint8_t attributes = abi::kAttrExecuteNever;
};

// Maps `request.frame` at `request.vaddr` in `request.vspace`. Missing tables are retyped from
// `memory` and mapped; their slots are appended to `created` (RangeError, before anything is
// made, when it has room for fewer than 3 more). On failure every table this call created is deleted again and the
// frame's error is returned (AlignmentError, RangeError, DeleteFirst, InvalidCapability, ...).
Result<void> map_frame(UntypedAllocator& memory, const MapRequest& request, CreatedTables* created);

// Deletes the tables `created` lists (which unmaps them) and returns their slots.
// Returns the first error met; keeps going past errors so nothing is left behind needlessly.
Result<void> free_tables(UntypedAllocator& memory, CreatedTables* created);

}  // namespace tessera::sys
