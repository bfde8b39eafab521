// In-kernel self-tests (tier 2): tests that need real hardware state, selected by the `test=` boot
// option and reported over serial in the harness protocol (docs/testing.md).
//
//   TESSERA_SELFTEST(TIMER0001, pass, "LAPIC timer ticks at the calibrated rate") {
//     t.check(rate > 0, "rate %lu", rate);
//   }
//
// Tests live in a linker section (no constructors), sorted by name. Context, the registry and the
// protocol are the system's one test core (shared/include/tessera/testing.h); this is the kernel's
// glue: its section and how a run ends.
#pragma once

#include <tessera/cmdline.h>
#include <tessera/testing.h>

namespace tessera::kernel::selftest {

using testing::Context;
using testing::Expect;
using testing::Test;

// Runs the tests the command line asks for (`test=list` or `test=NAME[,NAME...]`); never returns
// when a test option is present. Returns false when the command line selects no tests (or hands
// them to a user-space suite with `suite=`).
bool run_from_command_line(const CommandLine& cmdline);

}  // namespace tessera::kernel::selftest

#define TESSERA_SELFTEST(NAME, EXPECT, DESCRIPTION) \
  TESSERA_TEST_REGISTER(".selftests." #NAME, selftest_body_##NAME, selftest_entry_##NAME, NAME, EXPECT, DESCRIPTION)
