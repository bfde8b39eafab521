// libsys's glue to the test core (tessera/testing.h): protocol lines go to the debug console,
// expect_fault tells the supervisor, the tests are this program's `.tessera_tests.*` section.
#include <tessera/cmdline.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/testing.h>

// The linker script collects TESSERA_USER_TEST entries between these symbols, sorted by name.
extern "C" const tessera::testing::Test __tessera_tests_start[], __tessera_tests_end[];

namespace tessera::testing {

void write_output(const char* text, size_t length) { sys::debug_write(text, length); }

bool announce_expected_fault(const char* text) {
  // The supervisor's endpoint is where exit_process sends; a process without one cannot run
  // `fault` tests (the runner would never hear of the fault).
  IpcBuffer* buffer = sys::ipc_buffer();
  const size_t length = min(strlen(text), kMaxExpectedFaultText);
  buffer->msg[0] = length;
  memset(&buffer->msg[1], 0, align_up(length, 8));
  memcpy(&buffer->msg[1], text, length);
  const auto words = static_cast<uint32_t>(1 + align_up(length, 8) / 8);
  return sys::send(sys::supervisor_endpoint(), sys::MessageInfo{kExpectFaultLabel, words, 0, 0}) == Error::Ok;
}

}  // namespace tessera::testing

namespace tessera::sys::testing {

tessera::testing::Registry tests() { return {__tessera_tests_start, __tessera_tests_end}; }

void list_tests() { tests().list(); }

Outcome run_test(StringView name) { return tessera::testing::run_test(tests(), name); }

bool run_from_command_line(const char* cmdline) {
  const CommandLine words{StringView(cmdline)};
  switch (tessera::testing::run_from_command_line(words, tests())) {
    case tessera::testing::RunStatus::none: return false;
    case tessera::testing::RunStatus::passed: exit_machine(0);
    case tessera::testing::RunStatus::failed: exit_machine(1);
  }
  return false;
}

}  // namespace tessera::sys::testing
