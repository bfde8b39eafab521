#include "arch/x86_64/cpu.h"

namespace tessera::kernel::x86 {

Features detect_features() {
  Features f{};
  const CpuidResult basic = cpuid(0);
  const CpuidResult leaf1 = cpuid(1);
  f.pcid = (leaf1.ecx & (1u << 17)) != 0;
  f.x2apic = (leaf1.ecx & (1u << 21)) != 0;
  f.tsc_deadline = (leaf1.ecx & (1u << 24)) != 0;
  f.hypervisor = (leaf1.ecx & (1u << 31)) != 0;
  f.pge = (leaf1.edx & (1u << 13)) != 0;
  if (basic.eax >= 7) {
    const CpuidResult leaf7 = cpuid(7, 0);
    f.fsgsbase = (leaf7.ebx & (1u << 0)) != 0;
    f.smep = (leaf7.ebx & (1u << 7)) != 0;
    f.invpcid = (leaf7.ebx & (1u << 10)) != 0;
    f.smap = (leaf7.ebx & (1u << 20)) != 0;
  }
  const CpuidResult ext = cpuid(0x80000001);
  f.nx = (ext.edx & (1u << 20)) != 0;
  f.huge_1g = (ext.edx & (1u << 26)) != 0;
  return f;
}

void enable_protections(const Features& features) {
  uint64_t efer_value = rdmsr(msr::kEfer);
  if (features.nx) efer_value |= efer::kNxe;
  wrmsr(msr::kEfer, efer_value);

  uint64_t cr4_value = read_cr4();
  if (features.pge) cr4_value |= cr4::kPge;
  if (features.smep) cr4_value |= cr4::kSmep;
  if (features.smap) cr4_value |= cr4::kSmap;
  write_cr4(cr4_value);
  write_cr0(read_cr0() | cr0::kWriteProtect);
}

void init_syscall(uint64_t entry) {
  wrmsr(msr::kEfer, rdmsr(msr::kEfer) | efer::kSce);
  // SYSCALL loads CS = STAR[47:32], SS = +8; SYSRET (64-bit) loads CS = STAR[63:48] + 16, SS = +8.
  const uint64_t kernel_base = 0x08, user_base = 0x18 | 3;
  wrmsr(msr::kStar, (user_base << 48) | (kernel_base << 32));
  wrmsr(msr::kLstar, entry);
  // Cleared on entry: IF (interrupts stay off in the kernel), TF, DF, AC (SMAP), NT, IOPL.
  wrmsr(msr::kFmask, (1u << 9) | (1u << 8) | (1u << 10) | (1u << 18) | (1u << 14) | (3u << 12));
}

void init_fpu() {
  uint64_t cr0_value = read_cr0();
  cr0_value &= ~(1ull << 2);  // EM: no x87 emulation
  cr0_value |= 1ull << 1;     // MP
  cr0_value &= ~(1ull << 3);  // TS: no lazy switching; state is switched eagerly with the thread
  write_cr0(cr0_value);
  write_cr4(read_cr4() | cr4::kOsfxsr | cr4::kOsxmmexcpt);
  asm volatile("fninit");
}

}  // namespace tessera::kernel::x86
