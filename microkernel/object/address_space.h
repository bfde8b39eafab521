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

// Copies from user memory of the current address space after check_user_range (SMAP-aware).
Result<void> copy_from_user(uint64_t root, void* dest, uint64_t user_src, uint64_t size);

}  // namespace tessera::kernel::vspace
