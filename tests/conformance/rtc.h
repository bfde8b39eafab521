// The CMOS RTC's periodic interrupt (1024 Hz, IOAPIC line 8), programmed through an IoPort cap for
// ports 0x70-0x71: the interrupt source the INTERRUPT and lifetime tests use.
#pragma once

#include <stdint.h>

#include "cap_test_env.h"

namespace captest {

constexpr uint8_t kRtcLine = 8;

// The RTC; the destructor stops its interrupt and acknowledges it.
class Rtc {
 public:
  explicit Rtc(Env& env) : env_(env), ports_(env.slot()) {}
  ~Rtc() {
    if (ok_) {
      set_periodic(false);
      acknowledge();
    }
    env_.drop(ports_);
  }
  bool open() {
    ok_ = expect_ok(env_.t, env_.io_port_control().issue(0x70, 0x71, kRootCNodeRef, ports_, kSlotDepth), "issue RTC ports");
    return ok_;
  }
  // Periodic interrupt at 1024 Hz (rate 6) on or off (register B bit 6).
  void set_periodic(bool on) {
    write(0x8A, static_cast<uint8_t>((read(0x8A) & 0xF0) | 0x06));
    const uint8_t b = read(0x8B);
    write(0x8B, static_cast<uint8_t>(on ? (b | 0x40) : (b & ~0x40)));
  }
  // Reading register C acknowledges the RTC; without it the RTC raises no further interrupt.
  uint8_t acknowledge() { return read(0x0C); }

 private:
  uint8_t read(uint8_t reg) {
    auto port = env_.io_port(ports_);
    (void)port.out8(0x70, reg);
    auto v = port.in8(0x71);
    return v.ok() ? v->value() : 0;
  }
  void write(uint8_t reg, uint8_t value) {
    auto port = env_.io_port(ports_);
    (void)port.out8(0x70, reg);
    (void)port.out8(0x71, value);
  }
  Env& env_;
  CPtr ports_;
  bool ok_ = false;
};

}  // namespace captest
