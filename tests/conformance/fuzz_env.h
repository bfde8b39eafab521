// The in-guest kernel fuzzer (FUZZ tests, docs/testing.md "The kernel fuzzer"): seeded random
// invocations and system calls from an unprivileged test process on every object type it can
// make, while helper threads block in IPC on the objects being deleted, revoked and retyped.
#pragma once

#include <stdint.h>

#include <tessera/sys/testing.h>

namespace fuzz {

struct Options {
  uint64_t seed = 0;
  uint64_t iterations = 0;  // worker operations
  bool verbose = false;     // print every operation before doing it
};

// The options from the process's command line (fuzz_seed=, fuzz_iterations=, fuzz_verbose=), with
// `seed` and `iterations` as defaults.
Options options_from_command_line(uint64_t seed, uint64_t iterations);

// Runs the fuzzer in the calling (root) thread of a conformance test process; failures are
// checks on `t` with the seed and the last operations.
void run(tessera::sys::testing::Context& t, const Options& options);

}  // namespace fuzz
