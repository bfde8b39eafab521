// What the kernel learned while booting, kept for the rest of its life (and for the self-tests).
#pragma once

#include <stdint.h>

#include <tessera/cmdline.h>
#include <tessera/result.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/cpu.h"
#include "lib/frame_allocator.h"
#include "lib/multiboot2.h"
#include "lib/phys_regions.h"

namespace tessera::kernel {

struct BootState {
  uint64_t multiboot_phys;
  mb2::BootInfo info;          // pointers reach the structure through the direct map
  PhysRegions regions;         // normalised map: RAM, firmware, kernel image, modules, boot info
  FrameAllocator frames;       // boot-time frames; what remains becomes untyped memory
  uint64_t phys_limit;         // end of the direct map
  CommandLine cmdline;         // GRUB's command line with fw_cfg's words appended
  x86::Features features;
  acpi::InterruptTopology interrupts;
  uint64_t banner_tsc;
};

BootState& boot_state();

// Parses the multiboot2 information, builds the memory map and the frame allocator, then the kernel
// page tables, and re-reads the boot information through the direct map.
Result<void> init_memory(uint64_t multiboot_phys, BootState& state);

// Finds a boot module by its command line (e.g. "symbols"); null when absent.
const mb2::Module* find_module(const BootState& state, StringView name);

}  // namespace tessera::kernel
