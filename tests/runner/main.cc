// The test runner: the root task of the test image (boot/tessera-test.iso), as sel4test-driver is
// for seL4. Under `suite=user test=...` it runs its own tests (the process and supervision tests of
// proc_tests.cc and each server's test, tests/servers/); under `suite=conformance test=...` the
// conformance suite, each test in a process of its own; under `bench=...` the benchmarks. The
// system image's root task, servers/init, contains none of this.
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/cmdline.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/testing.h>

#include "bench.h"
#include "conformance_runner.h"

int main(uint64_t argument) {
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(argument);
  if (info->magic != tessera::kBootInfoMagic || info->version != tessera::kBootInfoVersion) {
    tessera::sys::print("testrunner: bad boot information (magic %lx)\n", info->magic);
    return 1;
  }
  tessera::sys::print("testrunner: running in user space; %lu KiB free for untyped memory\n",
                      info->free_memory_bytes / 1024);
  const tessera::CommandLine cmdline{tessera::StringView(info->cmdline)};
  tessera::StringView value;
  if (cmdline.get("suite", &value)) {
    // The runner's own tests run in the runner; the conformance suite runs each test in a process.
    if (value == "user") tessera::sys::testing::run_from_command_line(info->cmdline);
    if (value == "conformance") init::run_conformance(*info);
  }
  if (cmdline.get("bench", &value)) {
    if (value == "ipc") {
      run_benchmarks("syscall");
      run_ipc_benchmarks(*info);
    } else if (value == "trace") {
      run_trace_benchmarks(*info);
    } else if (value == "memory") {
      run_memory_benchmarks(*info);
    } else {
      run_benchmarks(value);
    }
    tessera::sys::print("BENCH-DONE\n");
    tessera::sys::exit_machine(0);
  }
  if (cmdline.get("exit", &value) && value == "init") tessera::sys::exit_machine(0);
  tessera::sys::print("testrunner: nothing to do (give suite=, bench= or exit=init)\n");
  tessera::sys::exit_machine(1);
}
