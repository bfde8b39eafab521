#include "generic/panic.h"

#include <stdarg.h>

#include "arch/x86_64/cpu.h"
#include "generic/log.h"
#include "generic/symbols.h"
#include "generic/kernel_layout.h"

namespace tessera::kernel {
namespace {
constexpr uint16_t kDebugExitPort = 0xF4;
bool in_panic = false;
}  // namespace

void exit_machine(ExitCode code) {
  x86::disable_interrupts();
  x86::outl(kDebugExitPort, static_cast<uint32_t>(code));
  for (;;) x86::halt();
}

void print_backtrace(uint64_t rbp, int max_frames) {
  log::print("backtrace:\n");
  for (int i = 0; i < max_frames && rbp != 0; ++i) {
    // Only follow frames that lie inside kernel memory and are aligned.
    if ((rbp & 7) != 0 || !layout::is_kernel_data_address(rbp, 16)) break;
    const auto* frame = reinterpret_cast<const uint64_t*>(rbp);
    const uint64_t return_address = frame[1];
    if (return_address == 0) break;
    char name[160];
    symbols::describe(return_address, name, sizeof(name));
    log::print("  #%d 0x%016lx %s\n", i, return_address, name);
    rbp = frame[0];
  }
}

void panic(const char* fmt, ...) {
  x86::disable_interrupts();
  log::force_unlock();
  if (in_panic) {
    log::print("\nKERNEL PANIC while panicking\nKERNEL-PANIC\n");
    exit_machine(ExitCode::Panic);
  }
  in_panic = true;
  log::print("\nKERNEL PANIC: ");
  va_list args;
  va_start(args, fmt);
  log::vprint(fmt, args);
  va_end(args);
  log::print("\n");
  print_backtrace(reinterpret_cast<uint64_t>(__builtin_frame_address(0)));
  log::print("KERNEL-PANIC\n");
  exit_machine(ExitCode::Panic);
}

}  // namespace tessera::kernel
