#include "arch/x86_64/apic.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/trap.h"

namespace tessera::kernel::apic {
namespace {
enum Register : uint32_t {
  kId = 0x20, kVersion = 0x30, kTaskPriority = 0x80, kEoi = 0xB0, kSpuriousVector = 0xF0,
  kLvtTimer = 0x320, kLvtLint0 = 0x350, kLvtLint1 = 0x360, kLvtError = 0x370,
  kTimerInitialCount = 0x380, kTimerCurrentCount = 0x390, kTimerDivide = 0x3E0,
};
constexpr uint32_t kMasked = 1u << 16;
constexpr uint32_t kPeriodic = 1u << 17;

volatile uint32_t* registers = nullptr;

uint32_t read(Register r) { return registers[r / 4]; }
void write(Register r, uint32_t value) { registers[r / 4] = value; }

void mask_legacy_pics() {
  // Remap the 8259s to vectors 0x20-0x2F first so a stray interrupt cannot look like an exception,
  // then mask every line: all device interrupts go through the IOAPIC.
  x86::outb(0x20, 0x11);
  x86::outb(0xA0, 0x11);
  x86::outb(0x21, 0x20);
  x86::outb(0xA1, 0x28);
  x86::outb(0x21, 0x04);
  x86::outb(0xA1, 0x02);
  x86::outb(0x21, 0x01);
  x86::outb(0xA1, 0x01);
  x86::outb(0x21, 0xFF);
  x86::outb(0xA1, 0xFF);
}
}  // namespace

void init(volatile uint32_t* mmio) {
  mask_legacy_pics();
  registers = mmio;
  x86::wrmsr(x86::msr::kApicBase, x86::rdmsr(x86::msr::kApicBase) | (1u << 11));
  write(kTaskPriority, 0);
  write(kLvtLint0, kMasked);
  write(kLvtLint1, kMasked);
  write(kLvtError, kMasked);
  write(kLvtTimer, kMasked);
  write(kSpuriousVector, 0x100 | vectors::kSpurious);
  write(kTimerDivide, 0x3);  // divide by 16
}

bool ready() { return registers != nullptr; }
uint32_t id() { return read(kId) >> 24; }
void end_of_interrupt() {
  if (registers != nullptr) write(kEoi, 0);
}

void timer_stop() {
  write(kLvtTimer, kMasked);
  write(kTimerInitialCount, 0);
}

void timer_start_periodic(uint8_t vector, uint32_t initial_count) {
  write(kTimerDivide, 0x3);
  write(kLvtTimer, kPeriodic | vector);
  write(kTimerInitialCount, initial_count);
}

void timer_start_one_shot_masked(uint32_t initial_count) {
  write(kTimerDivide, 0x3);
  write(kLvtTimer, kMasked | vectors::kLapicTimer);
  write(kTimerInitialCount, initial_count);
}

uint32_t timer_current_count() { return read(kTimerCurrentCount); }

}  // namespace tessera::kernel::apic
