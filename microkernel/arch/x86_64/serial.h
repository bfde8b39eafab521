// The COM1 UART (16550): the kernel's console and the test harness's only channel.
#pragma once
#include <stddef.h>

namespace tessera::kernel::serial {

// Programs COM1 for 115200 8N1 with FIFOs. Safe to call more than once.
void init();
// Writes bytes, translating '\n' to "\r\n". Busy-waits on the transmitter; never fails.
void write(const char* text, size_t length);

}  // namespace tessera::kernel::serial
