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

}  // namespace tessera::kernel::x86
