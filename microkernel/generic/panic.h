// Ending the run: panics for broken kernel invariants, and the exit codes the test harness reads.
#pragma once

#include <stdint.h>

namespace tessera::kernel {

// Exit codes written to QEMU's isa-debug-exit device (QEMU exits with (code << 1) | 1).
enum class ExitCode : uint32_t { Success = 0, TestsFailed = 1, Panic = 2 };

// Leaves QEMU with `code`; on hardware (no debug-exit device) halts the CPU forever.
[[noreturn]] void exit_machine(ExitCode code);

// Reports a broken kernel invariant with a backtrace and ends the run with ExitCode::Panic.
// Never used for bad user input: that is an Error returned to the caller.
[[noreturn]] void panic(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Prints "  #n 0x... symbol+off" lines by walking frame pointers from `rbp`.
void print_backtrace(uint64_t rbp, int max_frames = 16);

}  // namespace tessera::kernel

#define TESSERA_ASSERT(cond)                                                          \
  do {                                                                                \
    if (!(cond)) ::tessera::kernel::panic("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
  } while (0)
