// The kernel's own address space: the image mapped W^X, all RAM in the direct map (NX), and an MMIO
// window mapped uncached. Every user address space shares the upper half built here.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "arch/x86_64/cpu.h"
#include "lib/frame_allocator.h"

namespace tessera::kernel::paging {

// Builds the kernel page tables with frames from `frames` and switches to them. `phys_limit` is the
// end of the highest RAM range to cover in the direct map. Must run while the boot tables (first GiB
// identity-mapped and at -2 GiB) are active; page tables must come from the first GiB.
Result<void> init_kernel_space(FrameAllocator& frames, uint64_t phys_limit, const x86::Features& features);

// Maps [phys, phys+size) uncached in the MMIO window; returns the virtual address of `phys`.
Result<volatile void*> map_mmio(uint64_t phys, uint64_t size);

// Read-only, cached access to firmware data (ACPI tables) at [phys, phys+size): through the direct
// map when it covers the range, otherwise mapped into the MMIO window.
Result<const void*> map_firmware(uint64_t phys, uint64_t size);

// End of the direct map: physical addresses below it are reachable through layout::phys_to_virt.
uint64_t direct_map_limit();

// Physical address of the kernel PML4 (for CR3 and for copying the upper half into new spaces).
uint64_t kernel_root();

// Whether the current kernel tables map `virt` (any size), and with which leaf flags.
Result<uint64_t> leaf_flags(uint64_t virt);

}  // namespace tessera::kernel::paging
