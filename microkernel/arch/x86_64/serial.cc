#include "arch/x86_64/serial.h"

#include "arch/x86_64/cpu.h"

namespace tessera::kernel::serial {
namespace {
constexpr uint16_t kCom1 = 0x3F8;
enum Register : uint16_t { kData = 0, kInterruptEnable = 1, kFifoControl = 2, kLineControl = 3,
                           kModemControl = 4, kLineStatus = 5 };
constexpr uint8_t kTransmitterEmpty = 1 << 5;

void put_byte(char c) {
  // Bounded wait: a missing UART must not hang the kernel forever.
  for (int spins = 0; spins < 100000 && (x86::inb(kCom1 + kLineStatus) & kTransmitterEmpty) == 0; ++spins) {
    x86::pause();
  }
  x86::outb(kCom1 + kData, static_cast<uint8_t>(c));
}
}  // namespace

void init() {
  x86::outb(kCom1 + kInterruptEnable, 0x00);
  x86::outb(kCom1 + kLineControl, 0x80);  // DLAB: divisor follows
  x86::outb(kCom1 + kData, 0x01);         // divisor 1 = 115200 baud
  x86::outb(kCom1 + kInterruptEnable, 0x00);
  x86::outb(kCom1 + kLineControl, 0x03);  // 8 bits, no parity, one stop bit
  x86::outb(kCom1 + kFifoControl, 0xC7);  // enable and clear FIFOs, 14-byte threshold
  x86::outb(kCom1 + kModemControl, 0x03); // DTR | RTS
}

void write(const char* text, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (text[i] == '\n') put_byte('\r');
    put_byte(text[i]);
  }
}

}  // namespace tessera::kernel::serial
