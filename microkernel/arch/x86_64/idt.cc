#include "arch/x86_64/idt.h"

#include <stdint.h>

#include "arch/x86_64/gdt.h"

extern "C" const char trap_vectors_start[], trap_vectors_end[];

namespace tessera::kernel::x86 {
namespace {

struct __attribute__((packed)) Gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attributes;
  uint16_t offset_middle;
  uint32_t offset_high;
  uint32_t reserved;
};
static_assert(sizeof(Gate) == 16);

struct __attribute__((packed)) IdtPointer {
  uint16_t limit;
  uint64_t base;
};

alignas(16) Gate idt[256];

Gate make_gate(uint64_t handler, uint8_t ist, uint8_t dpl) {
  Gate g{};
  g.offset_low = static_cast<uint16_t>(handler);
  g.selector = selector::kKernelCode;
  g.ist = ist;
  g.type_attributes = static_cast<uint8_t>(0x80 | (dpl << 5) | 0x0E);  // present, interrupt gate
  g.offset_middle = static_cast<uint16_t>(handler >> 16);
  g.offset_high = static_cast<uint32_t>(handler >> 32);
  return g;
}
}  // namespace

void init_idt() {
  // Stubs are 16 bytes apart (asserted in linker.ld).
  for (int v = 0; v < 256; ++v) {
    uint8_t ist = kIstNone;
    if (v == 8) ist = kIstDoubleFault;
    if (v == 2) ist = kIstNmi;
    if (v == 18) ist = kIstMachineCheck;
    // Breakpoint (3) may be raised from user mode with int3; everything else is kernel-only.
    const auto stub = reinterpret_cast<uint64_t>(trap_vectors_start) + 16 * static_cast<uint64_t>(v);
    idt[v] = make_gate(stub, ist, v == 3 ? 3 : 0);
  }
  load_idt();
}

void load_idt() {
  const IdtPointer pointer{sizeof(idt) - 1, reinterpret_cast<uint64_t>(&idt[0])};
  asm volatile("lidt %0" : : "m"(pointer));
}

}  // namespace tessera::kernel::x86
