// FUZZ: the in-guest kernel fuzzer (fuzz_env.h, docs/testing.md "The kernel fuzzer"). Each test
// runs the fuzzer with a fixed seed; `fuzz_seed=N fuzz_iterations=M fuzz_verbose=1` on the kernel
// command line override the seed, the number of operations and print every operation
// (scripts/fuzz). A kernel panic or hang ends the boot; a fault of the fuzzer's worker, a failed
// accounting check or a leak fails the test with the seed and the last operations.
#include <tessera/sys/testing.h>

#include "fuzz_env.h"

namespace {
constexpr uint64_t kOperations = 35000;
}  // namespace

TESSERA_USER_TEST(FUZZ0001, pass, "35,000 seeded random invocations and system calls (seed 1); the untyped is whole after") {
  fuzz::run(t, fuzz::options_from_command_line(1, kOperations));
}

TESSERA_USER_TEST(FUZZ0002, pass, "35,000 seeded random invocations and system calls (seed 2); the untyped is whole after") {
  fuzz::run(t, fuzz::options_from_command_line(2, kOperations));
}

TESSERA_USER_TEST(FUZZ0003, pass, "35,000 seeded random invocations and system calls (seed 3); the untyped is whole after") {
  fuzz::run(t, fuzz::options_from_command_line(3, kOperations));
}
