#include "arch/x86_64/gdt.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include <tessera/string.h>

namespace tessera::kernel {
namespace x86 {
namespace {
struct __attribute__((packed)) DescriptorPointer {
  uint16_t limit;
  uint64_t base;
};
}  // namespace

void load_gdt(Gdt& gdt, Tss& tss) {
  gdt.entries[0] = 0;
  gdt.entries[1] = 0x00AF9A000000FFFFull;  // kernel code, 64-bit
  gdt.entries[2] = 0x00CF92000000FFFFull;  // kernel data
  gdt.entries[3] = 0x00CFFA000000FFFFull;  // user code, 32-bit (unused; keeps the SYSRET layout)
  gdt.entries[4] = 0x00CFF2000000FFFFull;  // user data
  gdt.entries[5] = 0x00AFFA000000FFFFull;  // user code, 64-bit
  const auto base = reinterpret_cast<uint64_t>(&tss);
  const uint64_t limit = sizeof(Tss) - 1;
  gdt.entries[6] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
                   (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
  gdt.entries[7] = base >> 32;

  const DescriptorPointer pointer{sizeof(gdt.entries) - 1, reinterpret_cast<uint64_t>(&gdt)};
  asm volatile(
      "lgdt %0\n\t"
      "pushq %1\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "lretq\n\t"
      "1:\n\t"
      "movw %2, %%ax\n\t"
      "movw %%ax, %%ds\n\t"
      "movw %%ax, %%es\n\t"
      "movw %%ax, %%ss\n\t"
      "xorl %%eax, %%eax\n\t"
      "movw %%ax, %%fs\n\t"
      "movw %%ax, %%gs\n\t"
      :
      : "m"(pointer), "i"(static_cast<uint64_t>(selector::kKernelCode)), "i"(selector::kKernelData)
      : "rax", "memory");
  asm volatile("ltr %w0" : : "r"(selector::kTss));
}
}  // namespace x86

namespace {
Cpu cpus[kMaxCpus];
}  // namespace

Cpu& boot_cpu() { return cpus[0]; }

void init_cpu_state(Cpu& cpu, uint32_t index) {
  cpu.self = &cpu;
  cpu.index = index;
  memset(&cpu.tss, 0, sizeof(cpu.tss));
  cpu.tss.iomap_base = sizeof(x86::Tss);  // no I/O bitmap: user port access needs an IOPort capability
  for (int i = 0; i < x86::kIstCount; ++i) {
    cpu.tss.ist[i] = reinterpret_cast<uint64_t>(&cpu.ist_stacks[i][kIstStackSize]);
  }
  x86::load_gdt(cpu.gdt, cpu.tss);
  // GS is the kernel's per-CPU pointer; KERNEL_GS_BASE holds the user value across swapgs.
  x86::wrmsr(x86::msr::kGsBase, reinterpret_cast<uint64_t>(&cpu));
  x86::wrmsr(x86::msr::kKernelGsBase, 0);
}

}  // namespace tessera::kernel
