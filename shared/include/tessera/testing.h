// The test core, written once for the kernel's self-tests (TESSERA_SELFTEST,
// microkernel/selftest/selftest.h) and for user-space tests (TESSERA_USER_TEST,
// tessera/sys/testing.h): a test's Context (check, note, the end it expects), tests registered in a
// linker section, running a selection, and the lines of the serial protocol (docs/testing.md).
//
// Each side adds only its glue: the two functions at the end of this header (where the lines go,
// how to announce an expected fault), the symbols its linker script puts around the section, and
// how a run ends (the kernel's exit_machine, libsys's exit_machine).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/cmdline.h>
#include <tessera/string_view.h>

namespace tessera::testing {

// pass: the test returns without a failed check. panic: it ends the run on purpose and the report
// (a kernel panic; the root task's fault under `fault=exit`) must contain the text given to
// expect_panic. fault: it runs in a supervised process (init's conformance runner) and must end
// with a fault whose description contains the text given to expect_fault.
enum class Expect : uint8_t { pass, panic, fault };
// "pass", "panic" or "fault", as in the `TEST` lines.
const char* expect_name(Expect expect);

// The label of the message expect_fault sends to the supervisor: word 0 is the text's length, the
// text follows from word 1 (at most kMaxExpectedFaultText bytes).
constexpr uint64_t kExpectFaultLabel = 0x58464c54;  // "XFLT"
constexpr size_t kMaxExpectedFaultText = 200;

class Context {
 public:
  // Records a failure with a `# check failed: ` line when `condition` is false; returns condition.
  bool check(bool condition, const char* format, ...) __attribute__((format(printf, 3, 4)));
  // Prints a `# ` diagnostic line.
  void note(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // For `panic` tests: announces (EXPECT-PANIC) the text the report must contain.
  void expect_panic(const char* text);
  // For `fault` tests: tells the supervisor the text its description of the coming fault must
  // contain (e.g. "page fault at 0x10000000 error 0x4"). A failed check where there is none.
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

// The tests of one program: the entries its linker script collects, sorted by name, between two
// symbols.
struct Registry {
  const Test* begin;
  const Test* end;

  // The test called `name`, or nullptr.
  const Test* find(StringView name) const;
  // Prints `TEST <name> <pass|panic|fault> <description>` for every test, in name order.
  void list() const;
};

enum class Outcome : uint8_t { passed = 0, failed = 1, missing = 2 };
// Runs one test in the calling context: `# running ...`, its checks' diagnostics, and how it went
// (a `panic` or `fault` test that returns has failed). The caller prints the result line.
Outcome run_test(const Registry& tests, StringView name);

// Runs the comma-separated test names of `selection` one after another with `run` (`context` is
// passed along), printing `ok N - NAME` or `not ok N - NAME` (after `# no such test` for a missing
// one) for each and `TESTS-DONE passed=P failed=F` at the end; returns F. `run` gets the name
// NUL-terminated; a name of 64 characters or more is missing. Used by the in-process runners and
// by init's conformance runner, which runs each test in a process of its own.
using RunOne = Outcome (*)(const char* name, void* context);
int run_selection(StringView selection, RunOne run, void* context);

// What `test=` on the command line asked for and how it went.
enum class RunStatus : uint8_t {
  none,    // no `test=` word (or an empty one): nothing ran
  passed,  // `test=list` printed the list (and TESTS-END), or every selected test passed
  failed,  // some selected test failed or does not exist
};
// Runs `test=list` or `test=A,B,...` over `tests`, each test in the calling context. The caller
// ends the run according to the status.
RunStatus run_from_command_line(const CommandLine& cmdline, const Registry& tests);

// printf-style output of protocol lines through write_output, one write per call (at most 511
// characters; longer output is cut).
void report(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Glue, defined once by each side (kernel: microkernel/selftest/selftest.cc; user space:
// libsys/rt/testing.cc).
// Writes protocol text to the console the harness reads (COM1).
void write_output(const char* text, size_t length);
// Tells the supervisor which fault the test is about to cause; false when nobody supervises.
bool announce_expected_fault(const char* text);

}  // namespace tessera::testing

// Registers a test in the linker section SECTION (each side's macro names the section, the body
// function BODY and the entry ENTRY); the function body follows the macro.
#define TESSERA_TEST_REGISTER(SECTION, BODY, ENTRY, NAME, EXPECT, DESCRIPTION)                         \
  static void BODY(::tessera::testing::Context& t);                                                 \
  [[gnu::used, gnu::section(SECTION)]] static const ::tessera::testing::Test ENTRY = {              \
      #NAME, DESCRIPTION, ::tessera::testing::Expect::EXPECT, BODY};                                 \
  static void BODY(::tessera::testing::Context& t)
