// The little of ACPI the kernel needs: the MADT's interrupt controllers and ISA overrides.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

namespace tessera::kernel::acpi {

struct IoApic { uint8_t id; uint64_t phys; uint32_t gsi_base; };
struct IsaOverride { uint8_t isa_irq; uint32_t gsi; uint16_t flags; };  // flags: MPS INTI polarity/trigger

struct InterruptTopology {
  uint64_t lapic_phys = 0xFEE00000;
  IoApic ioapics[4] = {{0, 0xFEC00000, 0}};
  size_t ioapic_count = 1;
  IsaOverride overrides[16] = {};
  size_t override_count = 0;
  uint8_t cpu_apic_ids[16] = {};
  size_t cpu_count = 1;
  bool from_firmware = false;  // false: the PC defaults above were used

  // The GSI an ISA IRQ is wired to (identity unless overridden) and its MPS flags.
  uint32_t gsi_for_isa(uint8_t irq, uint16_t* flags) const;
};

// Reads the MADT reachable from the RSDP copy the boot loader passed. Every table is checked for
// signature, length and checksum; on any problem the PC defaults are kept and an error returned.
Result<void> read_topology(const uint8_t* rsdp, size_t rsdp_size, InterruptTopology* out);

}  // namespace tessera::kernel::acpi
