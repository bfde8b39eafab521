// init, the root task of the system image: starts the system boot/system.conf describes and
// supervises it (system.h). Tests and benchmarks boot another root task (tests/runner/).
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/sys/debug.h>

#include "system.h"

int main(uint64_t argument) {
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(argument);
  if (info->magic != tessera::kBootInfoMagic || info->version != tessera::kBootInfoVersion) {
    tessera::sys::print("init: bad boot information (magic %lx)\n", info->magic);
    return 1;
  }
  tessera::sys::print("init: running in user space; %lu KiB free for untyped memory\n", info->free_memory_bytes / 1024);
  return init::run_system(*info, init::serve_control);
}
