// VSpaces (address spaces; the cap type is Pml4, an ABI name): a PML4 whose upper half is the
// kernel's, and user pages mapped below kUserAddressLimit. The root task's pages come from the boot
// frame allocator; later spaces get their tables and frames from untyped memory through
// capabilities. The kernel's object code calls them "vspace" throughout (namespace vspace,
// object/vspace*.cc, lib/vspace_tables), as the ABI's parameters and seL4 do.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "lib/frame_allocator.h"
#include "lib/vspace_tables.h"

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
// The ASID table, the paging structures caps install and the mapping records are pure logic in
// lib/vspace_tables.h; the kernel has one Tables, reaching memory through the physmap. The free
// functions below forward to it.
Tables& tables();

inline void init_root(uint64_t phys) { tables().init_root(phys); }
inline void destroy_root(uint64_t phys) { tables().destroy_root(phys); }
inline Result<SpaceId> space_id(uint64_t phys) { return tables().space_id(phys); }
inline uint64_t root_of(SpaceId id) { return tables().root_of(id); }

// The kernel address of the byte at user address `vaddr` of `root` when it is mapped user-accessible
// (and writable when `for_write`); null otherwise or when `root` is 0.
void* user_address(uint64_t root, uint64_t vaddr, bool for_write);

// Copies from / to user memory of `root` after check_user_range (SMAP-aware).
Result<void> copy_from_user(uint64_t root, void* dest, uint64_t user_src, uint64_t size);
Result<void> copy_to_user(uint64_t root, uint64_t user_dest, const void* src, uint64_t size);

}  // namespace tessera::kernel::vspace
