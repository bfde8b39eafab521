#include "selftest/selftest.h"

#include <stdarg.h>

#include "generic/log.h"
#include "generic/panic.h"

extern "C" const tessera::kernel::selftest::Test __selftests_start[], __selftests_end[];

namespace tessera::kernel::selftest {
namespace {

size_t test_count() { return static_cast<size_t>(__selftests_end - __selftests_start); }

const Test* find(StringView name) {
  for (const Test* test = __selftests_start; test < __selftests_end; ++test) {
    if (name.equals(StringView(test->name))) return test;
  }
  return nullptr;
}

[[noreturn]] void list() {
  for (size_t i = 0; i < test_count(); ++i) {
    const Test& test = __selftests_start[i];
    log::print("TEST %s %s %s\n", test.name, test.expect == Expect::panic ? "panic" : "pass", test.description);
  }
  log::print("TESTS-END\n");
  exit_machine(ExitCode::Success);
}
}  // namespace

bool Context::check(bool condition, const char* fmt, ...) {
  if (condition) return true;
  failed_ = true;
  log::print("# check failed: ");
  va_list args;
  va_start(args, fmt);
  log::vprint(fmt, args);
  va_end(args);
  log::print("\n");
  return false;
}

void Context::note(const char* fmt, ...) {
  log::print("# ");
  va_list args;
  va_start(args, fmt);
  log::vprint(fmt, args);
  va_end(args);
  log::print("\n");
}

void Context::expect_panic(const char* text) { log::print("EXPECT-PANIC %s\n", text); }

bool run_from_command_line(const CommandLine& cmdline) {
  StringView selection, suite;
  // `suite=NAME` hands `test=` to a user-space suite (init reads the command line from BootInfo).
  if (cmdline.get(StringView("suite"), &suite) && !suite.equals(StringView("kernel"))) return false;
  if (!cmdline.get(StringView("test"), &selection) || selection.size == 0) return false;
  if (selection.equals(StringView("list"))) list();

  int number = 0, passed = 0, failed = 0;
  for_each_in_list(selection, [&](StringView name) {
    ++number;
    const Test* test = find(name);
    if (test == nullptr) {
      log::print("# no such test\nnot ok %d - %.*s\n", number, static_cast<int>(name.size), name.data);
      ++failed;
      return;
    }
    log::print("# running %s: %s\n", test->name, test->description);
    Context context;
    test->run(context);
    if (test->expect == Expect::panic) {
      context.check(false, "expected a panic, but the test returned");
    }
    if (context.failed()) {
      ++failed;
      log::print("not ok %d - %s\n", number, test->name);
    } else {
      ++passed;
      log::print("ok %d - %s\n", number, test->name);
    }
  });
  log::print("TESTS-DONE passed=%d failed=%d\n", passed, failed);
  exit_machine(failed == 0 ? ExitCode::Success : ExitCode::TestsFailed);
}

}  // namespace tessera::kernel::selftest
