// The kernel's virtual address map, and the symbols the linker script defines.
#pragma once

#include <stdint.h>

extern "C" {
extern char __kernel_phys_start[], __kernel_phys_end[];
extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __data_end[], __kernel_end[];
}

namespace tessera::kernel::layout {

// Kernel image: linked at -2 GiB (mcmodel=kernel), loaded at __kernel_phys_start (2 MiB).
constexpr uint64_t kKernelVirtualBase = 0xFFFFFFFF80000000ull;
// Direct map of all physical memory (NX, kernel only), PML4 slots 256..319 (32 TiB).
constexpr uint64_t kPhysmapBase = 0xFFFF800000000000ull;
constexpr uint64_t kPhysmapSize = 32ull << 40;
// MMIO windows (LAPIC, IOAPIC, ...) mapped uncached.
constexpr uint64_t kMmioBase = 0xFFFFA00000000000ull;
// User space: the lower canonical half, minus page 0.
constexpr uint64_t kUserTop = 0x0000800000000000ull;

inline uint64_t kernel_phys_start() { return reinterpret_cast<uint64_t>(__kernel_phys_start); }
inline uint64_t kernel_phys_end() { return reinterpret_cast<uint64_t>(__kernel_phys_end); }

// Physical address -> its direct-map address, and back.
inline void* phys_to_virt(uint64_t phys) { return reinterpret_cast<void*>(kPhysmapBase + phys); }
template <typename T> inline T* phys_to(uint64_t phys) { return static_cast<T*>(phys_to_virt(phys)); }
inline uint64_t virt_to_phys(const void* virt) {
  const auto v = reinterpret_cast<uint64_t>(virt);
  if (v >= kKernelVirtualBase) return v - kKernelVirtualBase;
  return v - kPhysmapBase;
}

// Whether [address, address+size) lies in kernel memory that may be read (image or direct map).
bool is_kernel_data_address(uint64_t address, uint64_t size);

}  // namespace tessera::kernel::layout
