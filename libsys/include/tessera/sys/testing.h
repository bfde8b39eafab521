// User-space tests in the harness protocol (docs/testing.md): the same lines the kernel's self-tests
// print, so one harness runs kernel, root-task and (later) conformance suites alike.
//
//   TESSERA_USER_TEST(SYSCALL0001, pass, "the null system call returns Ok") {
//     t.check(tessera::sys::null_syscall() == tessera::Error::Ok, "null syscall failed");
//   }
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace tessera::sys::testing {

// pass: the test returns without a failed check. panic: it ends the run on purpose (the root
// task's fault under `fault=exit`). fault: it runs in a supervised process (the conformance
// runner) and must end with a fault whose description contains the text given to expect_fault.
enum class Expect : uint8_t { pass, panic, fault };

// The label of the message expect_fault sends to the supervisor: word 0 is the text's length,
// the text follows from word 1 (at most kMaxExpectedFaultText bytes).
constexpr uint64_t kExpectFaultLabel = 0x58464c54;  // "XFLT"
constexpr size_t kMaxExpectedFaultText = 200;

class Context {
 public:
  // Records a failure with a `# ` diagnostic when `condition` is false; returns condition.
  bool check(bool condition, const char* format, ...) __attribute__((format(printf, 3, 4)));
  void note(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // For tests that end the run on purpose: the text the kernel's report must contain.
  void expect_panic(const char* text);
  // For `fault` tests: tells the supervisor the text its description of the coming fault must
  // contain (e.g. "page fault at 0x10000000 error 0x4").
  void expect_fault(const char* text);
  bool failed() const { return failed_; }

 private:
  bool failed_ = false;
};

struct Test {
  const char* name;
  const char* description;
  Expect expect;
  void (*run)(Context& t);
};

// Value of `key=value` in a space-separated command line, copied into `out` (NUL-terminated).
bool command_line_value(const char* cmdline, const char* key, char* out, size_t capacity);

// The test called `name` in this program, or nullptr.
const Test* find_test(const char* name);
// Prints `TEST <name> <pass|panic|fault> <description>` for every test, in name order.
void list_tests();

enum class Outcome : uint8_t { passed = 0, failed = 1, missing = 2 };
// Runs one test in this process: `# running ...`, its checks' diagnostics, and how it went (as
// an int, the conformance program's exit status). The caller prints the result line.
Outcome run_test(const char* name);

// Runs the comma-separated test names of `selection` one after another with `run` (`context` is
// passed along), printing `ok N - NAME` or `not ok N - NAME` (after `# no such test` for a missing
// one) for each and `TESTS-DONE passed=P failed=F` at the end; returns F. Shared by the in-process
// runner (run_from_command_line) and init's conformance runner, which runs each test in a process.
using RunOne = Outcome (*)(const char* name, void* context);
int run_selection(const char* selection, RunOne run, void* context);

// Runs `test=list` or `test=A,B,...` from the command line over the tests in this program, then
// ends the QEMU run. Returns false (and does nothing) when there is no `test=` word.
bool run_from_command_line(const char* cmdline);

}  // namespace tessera::sys::testing

#define TESSERA_USER_TEST(NAME, EXPECT, DESCRIPTION)                                                  \
  static void user_test_body_##NAME(::tessera::sys::testing::Context& t);                             \
  [[gnu::used, gnu::section(".tessera_tests." #NAME)]] static const ::tessera::sys::testing::Test     \
      user_test_entry_##NAME = {#NAME, DESCRIPTION, ::tessera::sys::testing::Expect::EXPECT,          \
                                user_test_body_##NAME};                                               \
  static void user_test_body_##NAME(::tessera::sys::testing::Context& t)
