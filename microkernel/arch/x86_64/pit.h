// The 8254 programmable interval timer, used only as a reference clock: channel 2 runs free as a
// rate generator and is polled, so waits of any length need no reprogramming in between.
#pragma once

#include <stdint.h>

namespace tessera::kernel::pit {

constexpr uint32_t kFrequencyHz = 1193182;

// Measures elapsed PIT time. Poll elapsed_ticks() at least every 50 ms (the counter wraps every 55 ms).
class Stopwatch {
 public:
  Stopwatch();                 // (re)starts channel 2 counting down from 65536
  uint64_t elapsed_ticks();    // PIT ticks since construction
  uint64_t elapsed_microseconds() { return elapsed_ticks() * 1000000 / kFrequencyHz; }

 private:
  uint16_t read_counter();
  uint16_t last_;
  uint64_t total_ = 0;
};

// Busy-waits `microseconds` of PIT time.
void wait_microseconds(uint64_t microseconds);

}  // namespace tessera::kernel::pit
