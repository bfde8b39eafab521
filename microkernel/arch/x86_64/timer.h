// The kernel's tick: the LAPIC timer, calibrated against the PIT at boot.
#pragma once

#include <stdint.h>

namespace tessera::kernel::timer {

// Measures the LAPIC timer rate (ticks per second at divide-by-16) over `window_ms` of PIT time.
uint64_t calibrate(uint32_t window_ms = 50);
uint64_t lapic_ticks_per_second();
// The TSC rate, measured in the same window as the LAPIC timer (under QEMU -icount shift=0 it
// counts guest instructions: 1 GHz of virtual time).
uint64_t tsc_per_second();

// Starts the periodic tick at `hz` on this CPU (vector vectors::kLapicTimer); counts in Cpu::ticks.
void start_periodic(uint32_t hz);
void stop();
uint64_t ticks();

}  // namespace tessera::kernel::timer
