// Debug console output through the kernel (the serial log) and run control for tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/error.h>

namespace tessera::sys {

// Writes bytes to the kernel console.
Error debug_write(const char* text, size_t length);
// printf-style output to the kernel console (tessera/format.h conversions).
void print(const char* format, ...) __attribute__((format(printf, 1, 2)));
// Ends the QEMU run: 0 = success, 1 = tests failed (debug kernels only).
[[noreturn]] void exit_machine(int code);
// Stops the calling thread for good.
[[noreturn]] void suspend_self();

}  // namespace tessera::sys
