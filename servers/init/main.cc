// init, the root task: starts the system boot/system.conf describes and supervises it. Under
// `suite=user test=...` it runs its own tests; under `suite=conformance test=...` it runs the
// conformance suite, each test in a process of its own; under `bench=...` the benchmarks.
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/cmdline.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/testing.h>

#include "bench.h"
#include "conformance_runner.h"
#include "system.h"

namespace {
using tessera::sys::print;
}  // namespace

int main(uint64_t argument) {
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(argument);
  if (info->magic != tessera::kBootInfoMagic || info->version != tessera::kBootInfoVersion) {
    print("init: bad boot information (magic %lx)\n", info->magic);
    return 1;
  }
  print("init: running in user space; %lu KiB free for untyped memory\n", info->free_memory_bytes / 1024);
  const tessera::CommandLine cmdline{tessera::StringView(info->cmdline)};
  tessera::StringView value;
  if (cmdline.get("suite", &value)) {
    // init's own tests run in init; the conformance suite runs each test in a process of its own.
    if (value == "user") tessera::sys::testing::run_from_command_line(info->cmdline);
    if (value == "conformance") init::run_conformance(*info);
  }
  if (cmdline.get("bench", &value)) {
    if (value == "ipc") {
      run_benchmarks("syscall");
      run_ipc_benchmarks(*info);
    } else {
      run_benchmarks(value);
    }
    tessera::sys::print("BENCH-DONE\n");
    tessera::sys::exit_machine(0);
  }
  if (cmdline.get("exit", &value) && value == "init") tessera::sys::exit_machine(0);
  // No test or bench option: start the system boot/system.conf describes and supervise it.
  return init::run_system(*info);
}
