#include "arch/x86_64/ioapic.h"

namespace tessera::kernel::ioapic {
namespace {
volatile uint32_t* registers = nullptr;
uint32_t base_gsi = 0;
uint32_t lines = 0;

constexpr uint32_t kVersion = 0x01;
constexpr uint32_t kRedirectionBase = 0x10;
constexpr uint64_t kMasked = 1ull << 16;

uint32_t read(uint32_t reg) {
  registers[0] = reg;
  return registers[4];
}
void write(uint32_t reg, uint32_t value) {
  registers[0] = reg;
  registers[4] = value;
}
uint64_t read_entry(uint32_t pin) {
  const uint32_t low = read(kRedirectionBase + 2 * pin);
  const uint32_t high = read(kRedirectionBase + 2 * pin + 1);
  return (static_cast<uint64_t>(high) << 32) | low;
}
void write_entry(uint32_t pin, uint64_t entry) {
  write(kRedirectionBase + 2 * pin, static_cast<uint32_t>(kMasked));  // mask while changing
  write(kRedirectionBase + 2 * pin + 1, static_cast<uint32_t>(entry >> 32));
  write(kRedirectionBase + 2 * pin, static_cast<uint32_t>(entry));
}
Result<uint32_t> pin_for(uint32_t gsi) {
  if (registers == nullptr || gsi < base_gsi || gsi - base_gsi >= lines) return Error::RangeError;
  return gsi - base_gsi;
}
}  // namespace

void init(volatile uint32_t* mmio, uint32_t gsi_base) {
  registers = mmio;
  base_gsi = gsi_base;
  lines = ((read(kVersion) >> 16) & 0xFF) + 1;
  for (uint32_t pin = 0; pin < lines; ++pin) write_entry(pin, kMasked);
}

uint32_t line_count() { return lines; }

Result<void> route(uint32_t gsi, uint8_t vector, uint8_t apic_id, Trigger trigger, Polarity polarity) {
  if (vector < 32) return Error::RangeError;
  const uint32_t pin = TRY(pin_for(gsi));
  uint64_t entry = vector | kMasked;  // fixed delivery, physical destination
  if (polarity == Polarity::ActiveLow) entry |= 1ull << 13;
  if (trigger == Trigger::Level) entry |= 1ull << 15;
  entry |= static_cast<uint64_t>(apic_id) << 56;
  write_entry(pin, entry);
  return {};
}

Result<void> mask(uint32_t gsi) {
  const uint32_t pin = TRY(pin_for(gsi));
  write_entry(pin, read_entry(pin) | kMasked);
  return {};
}

Result<void> unmask(uint32_t gsi) {
  const uint32_t pin = TRY(pin_for(gsi));
  const uint64_t entry = read_entry(pin) & ~kMasked;
  write(kRedirectionBase + 2 * pin + 1, static_cast<uint32_t>(entry >> 32));
  write(kRedirectionBase + 2 * pin, static_cast<uint32_t>(entry));
  return {};
}

}  // namespace tessera::kernel::ioapic
