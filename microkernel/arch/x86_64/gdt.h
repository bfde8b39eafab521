// Global descriptor table and task-state segment layout. The selector order is fixed by SYSCALL/SYSRET:
// kernel code, kernel data, then (user base) 32-bit user code, user data, 64-bit user code.
#pragma once

#include <stdint.h>

namespace tessera::kernel::x86 {

namespace selector {
constexpr uint16_t kKernelCode = 0x08, kKernelData = 0x10, kUserCode32 = 0x18 | 3, kUserData = 0x20 | 3,
                   kUserCode = 0x28 | 3, kTss = 0x30;
}  // namespace selector

// Interrupt stack table slots (1-based in the IDT).
enum Ist : uint8_t { kIstNone = 0, kIstDoubleFault = 1, kIstNmi = 2, kIstMachineCheck = 3 };
constexpr int kIstCount = 3;

struct __attribute__((packed)) Tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
};
static_assert(sizeof(Tss) == 104);

struct alignas(16) Gdt {
  uint64_t entries[8];
};

void load_gdt(Gdt& gdt, Tss& tss);

}  // namespace tessera::kernel::x86
