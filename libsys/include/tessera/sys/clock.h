// The clock every program can read: the TSC (rdtsc is not privileged), at the rate the kernel
// measured at boot (BootInfo.tsc_hz, handed from parent to child in the start-up block). Time in
// nanoseconds is the TSC scaled by that rate, counted from the TSC's zero (about power-on): the
// same numbers in every program, so a deadline one program computes means the same to the timer
// server (servers/timer, tessera/sys/timer.h). Under `-icount shift=0` a guest instruction is 1 ns.
#pragma once

#include <stdint.h>

namespace tessera::sys {

inline uint64_t rdtsc() {
  uint32_t low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (uint64_t{high} << 32) | low;
}

// The TSC's rate in Hz (0 when the program was not told: then the conversions below return 0).
uint64_t tsc_hz();
// Set by the start-up code (from BootInfo or the start-up block); tests may override it.
void set_tsc_hz(uint64_t hz);

// TSC ticks <-> nanoseconds at `hz`, without overflow for any tick count below 2^64 / 10^9 * hz
// (centuries) and rounding toward zero (ticks_from_ns rounds up, so a deadline converted to ticks
// is never early).
constexpr uint64_t ns_from_ticks(uint64_t ticks, uint64_t hz) {
  if (hz == 0) return 0;
  return ticks / hz * 1'000'000'000ull + ticks % hz * 1'000'000'000ull / hz;
}
constexpr uint64_t ticks_from_ns(uint64_t ns, uint64_t hz) {
  const uint64_t whole = ns / 1'000'000'000ull * hz;
  const uint64_t part = ns % 1'000'000'000ull * hz;
  return whole + part / 1'000'000'000ull + (part % 1'000'000'000ull != 0 ? 1 : 0);
}

// Nanoseconds now (the TSC scaled by tsc_hz()).
inline uint64_t now_ns() { return ns_from_ticks(rdtsc(), tsc_hz()); }

}  // namespace tessera::sys
