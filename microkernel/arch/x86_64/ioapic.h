// The IOAPIC: routes global system interrupts (GSIs) to vectors on a CPU.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

namespace tessera::kernel::ioapic {

enum class Trigger : uint8_t { Edge, Level };
enum class Polarity : uint8_t { ActiveHigh, ActiveLow };

// Takes the IOAPIC mapped at `mmio` serving GSIs from `gsi_base`; masks every line.
void init(volatile uint32_t* mmio, uint32_t gsi_base);
uint32_t line_count();

// Routes `gsi` to `vector` on the CPU with `apic_id`, masked until unmask().
Result<void> route(uint32_t gsi, uint8_t vector, uint8_t apic_id, Trigger trigger, Polarity polarity);
Result<void> mask(uint32_t gsi);
Result<void> unmask(uint32_t gsi);

}  // namespace tessera::kernel::ioapic
