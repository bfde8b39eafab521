// User address spaces: a PML4 whose upper half is the kernel's, and user pages mapped below
// kUserAddressLimit. The root task's pages come from the boot frame allocator; later spaces get
// their tables and frames from untyped memory through capabilities.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "lib/frame_allocator.h"

namespace tessera::kernel::vspace {

// A new PML4 sharing the kernel half. Returns its physical address.
Result<uint64_t> create(FrameAllocator& frames);

enum Access : uint8_t { kRead = 0, kWrite = 1, kExecute = 2 };

// Maps one 4 KiB user page (never writable and executable at once).
Result<void> map_page(FrameAllocator& frames, uint64_t root, uint64_t virt, uint64_t phys, uint8_t access);

// Checks that [address, address+size) is mapped user-accessible in `root` (and writable when
// `for_write`), for copying to or from user memory.
Result<void> check_user_range(uint64_t root, uint64_t address, uint64_t size, bool for_write);

// --- Address spaces made from untyped memory (PML4 objects) ---

// Every live PML4 holds an address-space id (ASID): records of where frames and tables are mapped
// name the space by {asid, generation}, so a record outliving its space is recognised as stale
// and can never make the kernel write into memory that has been reused. At most kMaxAsids - 1
// spaces exist at once; a PML4 created beyond that cannot be used (NotEnoughMemory when mapped).
constexpr uint32_t kMaxAsids = 4096;

// Prepares a zeroed PML4 at `phys` (shares the kernel half, takes an ASID).
void init_root(uint64_t phys);
// The PML4 at `phys` is being destroyed: release its ASID; leave it if it is the current space.
void destroy_root(uint64_t phys);
// The ASID of the PML4 at `phys` and its generation; NotEnoughMemory when it has none.
struct SpaceId {
  uint32_t asid;
  uint64_t generation;
};
Result<SpaceId> space_id(uint64_t phys);
// The PML4 a still-valid SpaceId names, or 0 when the space is gone.
uint64_t root_of(SpaceId id);

// Paging levels: 4 = PML4 entry (PDPT), 3 = PDPT entry (PD or 1 GiB), 2 = PD entry (PT or 2 MiB),
// 1 = PT entry (4 KiB).
// Installs the table at `table_phys` into `root` for `vaddr` at `level` (3: a PDPT, 2: a PD, 1: a PT).
// Errors: FailedLookup (the level above is missing), DeleteFirst (already present), RangeError.
Result<void> install_table(uint64_t root, uint64_t vaddr, unsigned table_level, uint64_t table_phys);
// Maps a frame of 2^size_bits bytes (12 or 21). Errors: FailedLookup (no table at the level above),
// DeleteFirst (present), AlignmentError, RangeError.
Result<void> map_frame(uint64_t root, uint64_t vaddr, uint8_t size_bits, uint64_t phys, bool writable,
                       bool executable, bool uncached);
// Clears the entry for a frame (size_bits 12/21) or a table (level 3..1) at vaddr if it still
// points at `phys`; flushes the TLB entry when `root` is the current space.
void clear_entry(uint64_t root, uint64_t vaddr, unsigned entry_level, uint64_t phys);

// Empties the paging structure at `phys` (all 512 entries): it has just been unmapped.
void clear_table(uint64_t phys);
// The kernel address of the byte at user address `vaddr` of `root` when it is mapped user-accessible
// (and writable when `for_write`); null otherwise or when `root` is 0.
void* user_address(uint64_t root, uint64_t vaddr, bool for_write);

// Copies from / to user memory of `root` after check_user_range (SMAP-aware).
Result<void> copy_from_user(uint64_t root, void* dest, uint64_t user_src, uint64_t size);
Result<void> copy_to_user(uint64_t root, uint64_t user_dest, const void* src, uint64_t size);

}  // namespace tessera::kernel::vspace
