// The local APIC (xAPIC, memory-mapped): interrupt acknowledgement and the per-CPU timer.
#pragma once

#include <stdint.h>

namespace tessera::kernel::apic {

// Enables this CPU's LAPIC at `mmio` (its mapped register page) and masks the legacy 8259 PICs.
void init(volatile uint32_t* mmio);
bool ready();
uint32_t id();
void end_of_interrupt();

// Timer: counts down at the bus clock divided by 16.
void timer_stop();
void timer_start_periodic(uint8_t vector, uint32_t initial_count);
void timer_start_one_shot_masked(uint32_t initial_count);
uint32_t timer_current_count();

}  // namespace tessera::kernel::apic
