// Thin, typed wrappers around x86-64 instructions the kernel needs. Nothing here has policy.
#pragma once

#include <stdint.h>

namespace tessera::kernel::x86 {

inline void outb(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t value) { asm volatile("outw %0, %1" : : "a"(value), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t value) { asm volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
  uint8_t value;
  asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
inline uint16_t inw(uint16_t port) {
  uint16_t value;
  asm volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
inline uint32_t inl(uint16_t port) {
  uint32_t value;
  asm volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
inline void wrmsr(uint32_t msr, uint64_t value) {
  asm volatile("wrmsr" : : "c"(msr), "a"(static_cast<uint32_t>(value)), "d"(static_cast<uint32_t>(value >> 32)));
}

inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

struct CpuidResult { uint32_t eax, ebx, ecx, edx; };
inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0) {
  CpuidResult r;
  asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}

#define TESSERA_CR_ACCESSORS(n)                                                   \
  inline uint64_t read_cr##n() {                                                  \
    uint64_t value;                                                               \
    asm volatile("mov %%cr" #n ", %0" : "=r"(value));                             \
    return value;                                                                 \
  }                                                                               \
  inline void write_cr##n(uint64_t value) { asm volatile("mov %0, %%cr" #n : : "r"(value) : "memory"); }
TESSERA_CR_ACCESSORS(0)
TESSERA_CR_ACCESSORS(2)
TESSERA_CR_ACCESSORS(3)
TESSERA_CR_ACCESSORS(4)
#undef TESSERA_CR_ACCESSORS

inline void invlpg(uint64_t virt) { asm volatile("invlpg (%0)" : : "r"(virt) : "memory"); }
inline void halt() { asm volatile("hlt"); }
inline void disable_interrupts() { asm volatile("cli" : : : "memory"); }
inline void enable_interrupts() { asm volatile("sti" : : : "memory"); }
inline void pause() { asm volatile("pause"); }
inline uint64_t read_rflags() {
  uint64_t flags;
  asm volatile("pushfq; popq %0" : "=r"(flags));
  return flags;
}

// Model-specific registers and control-register bits used by the kernel.
namespace msr {
constexpr uint32_t kEfer = 0xC0000080, kStar = 0xC0000081, kLstar = 0xC0000082, kFmask = 0xC0000084;
constexpr uint32_t kFsBase = 0xC0000100, kGsBase = 0xC0000101, kKernelGsBase = 0xC0000102;
constexpr uint32_t kApicBase = 0x1B, kPat = 0x277;
}  // namespace msr
namespace cr0 { constexpr uint64_t kWriteProtect = 1u << 16; }
namespace cr4 {
constexpr uint64_t kPge = 1u << 7, kOsfxsr = 1u << 9, kOsxmmexcpt = 1u << 10, kFsgsbase = 1u << 16,
                   kPcide = 1u << 17, kSmep = 1u << 20, kSmap = 1u << 21;
}
namespace efer { constexpr uint64_t kSce = 1u << 0, kLme = 1u << 8, kNxe = 1u << 11; }

// CPU features the kernel cares about, read once at boot.
struct Features {
  bool nx, smep, smap, pcid, invpcid, pge, fsgsbase, x2apic, huge_1g, tsc_deadline, hypervisor;
};
Features detect_features();

// Enable the protections the CPU offers (NX, SMEP, SMAP, global pages). Returns what was enabled.
void enable_protections(const Features& features);

// Enables SYSCALL/SYSRET (STAR/LSTAR/FMASK) with entry at `entry`, and the FPU/SSE for user threads.
void init_syscall(uint64_t entry);
void init_fpu();

}  // namespace tessera::kernel::x86
