#include "arch/x86_64/pit.h"

#include "arch/x86_64/cpu.h"

namespace tessera::kernel::pit {
namespace {
constexpr uint16_t kChannel2 = 0x42, kCommand = 0x43, kGatePort = 0x61;
constexpr uint8_t kChannel2RateGenerator = 0xB4;  // channel 2, lobyte/hibyte, mode 2, binary
constexpr uint8_t kLatchChannel2 = 0x80;
}  // namespace

Stopwatch::Stopwatch() {
  // Gate on, speaker off; reload value 0 means 65536.
  x86::outb(kGatePort, static_cast<uint8_t>((x86::inb(kGatePort) & 0xFC) | 0x01));
  x86::outb(kCommand, kChannel2RateGenerator);
  x86::outb(kChannel2, 0);
  x86::outb(kChannel2, 0);
  last_ = read_counter();
}

uint16_t Stopwatch::read_counter() {
  x86::outb(kCommand, kLatchChannel2);
  const uint8_t low = x86::inb(kChannel2);
  const uint8_t high = x86::inb(kChannel2);
  return static_cast<uint16_t>(low | (high << 8));
}

uint64_t Stopwatch::elapsed_ticks() {
  const uint16_t now = read_counter();
  total_ += static_cast<uint16_t>(last_ - now);  // counts down, wraps at 2^16
  last_ = now;
  return total_;
}

void wait_microseconds(uint64_t microseconds) {
  const uint64_t target = microseconds * kFrequencyHz / 1000000;
  Stopwatch watch;
  while (watch.elapsed_ticks() < target) x86::pause();
}

}  // namespace tessera::kernel::pit
