// User-space tests in the harness protocol (docs/testing.md): the same lines the kernel's self-tests
// print, so one harness runs kernel, root-task and conformance suites alike.
//
//   TESSERA_USER_TEST(SYSCALL0001, pass, "the null system call returns Ok") {
//     t.check(tessera::sys::null_syscall() == tessera::Error::Ok, "null syscall failed");
//   }
//
// Context, the registry, running a selection and the protocol are the system's one test core
// (shared/include/tessera/testing.h); libsys adds its glue (rt/testing.cc): output to the debug
// console, expect_fault as a message to the supervisor, the `.tessera_tests.*` section of this
// program and exit_machine.
#pragma once

#include <tessera/string_view.h>
#include <tessera/testing.h>

namespace tessera::sys::testing {

using tessera::testing::Context;
using tessera::testing::Expect;
using tessera::testing::kExpectFaultLabel;
using tessera::testing::kMaxExpectedFaultText;
using tessera::testing::Outcome;
using tessera::testing::run_selection;
using tessera::testing::RunOne;
using tessera::testing::Test;

// The tests of this program (TESSERA_USER_TEST entries).
tessera::testing::Registry tests();
// Prints `TEST <name> <pass|panic|fault> <description>` for every test of this program.
void list_tests();
// Runs one test of this program in this process (tessera::testing::run_test).
Outcome run_test(StringView name);

// Runs `test=list` or `test=A,B,...` from the command line over the tests in this program, then
// ends the QEMU run. Returns false (and does nothing) when there is no `test=` word.
bool run_from_command_line(const char* cmdline);

}  // namespace tessera::sys::testing

#define TESSERA_USER_TEST(NAME, EXPECT, DESCRIPTION) \
  TESSERA_TEST_REGISTER(".tessera_tests." #NAME, user_test_body_##NAME, user_test_entry_##NAME, NAME, EXPECT, DESCRIPTION)
