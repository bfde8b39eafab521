// The kernel's glue to the test core (tessera/testing.h): protocol lines go to the serial console,
// the tests are the `.selftests.*` section, and a run ends by leaving QEMU.
#include "selftest/selftest.h"

#include "generic/log.h"
#include "generic/panic.h"

extern "C" const tessera::testing::Test __selftests_start[], __selftests_end[];

namespace tessera::testing {

void write_output(const char* text, size_t length) { kernel::log::write(text, length); }

// No supervisor watches the kernel: `fault` tests are user-space tests.
bool announce_expected_fault(const char*) { return false; }

}  // namespace tessera::testing

namespace tessera::kernel::selftest {

bool run_from_command_line(const CommandLine& cmdline) {
  // `suite=NAME` hands `test=` to a user-space suite (init reads the command line from BootInfo).
  StringView suite;
  if (cmdline.get(StringView("suite"), &suite) && !suite.equals(StringView("kernel"))) return false;
  switch (testing::run_from_command_line(cmdline, testing::Registry{__selftests_start, __selftests_end})) {
    case testing::RunStatus::none: return false;
    case testing::RunStatus::passed: exit_machine(ExitCode::Success);
    case testing::RunStatus::failed: exit_machine(ExitCode::TestsFailed);
  }
  return false;
}

}  // namespace tessera::kernel::selftest
