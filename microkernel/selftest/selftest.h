// In-kernel self-tests (tier 2): tests that need real hardware state, selected by the `test=` boot
// option and reported over serial in the harness protocol (docs/testing.md).
//
//   TESSERA_SELFTEST(TIMER0001, pass, "LAPIC timer ticks at the calibrated rate") {
//     t.check(rate > 0, "rate %lu", rate);
//   }
//
// Tests live in a linker section (no constructors), sorted by name.
#pragma once

#include <stdint.h>

#include "lib/cmdline.h"

namespace tessera::kernel::selftest {

enum class Expect : uint8_t { pass, panic };

class Context {
 public:
  // Records a failure (with a `# ` diagnostic line) when `condition` is false; returns condition.
  bool check(bool condition, const char* format, ...) __attribute__((format(printf, 3, 4)));
  // Prints a `# ` diagnostic line.
  void note(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // For panic tests: announces the text the panic report must contain.
  void expect_panic(const char* text);
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

// Runs the tests the command line asks for (`test=list` or `test=NAME[,NAME...]`); never returns
// when a test option is present. Returns false when the command line selects no tests.
bool run_from_command_line(const CommandLine& cmdline);

}  // namespace tessera::kernel::selftest

#define TESSERA_SELFTEST(NAME, EXPECT, DESCRIPTION)                                                   \
  static void selftest_body_##NAME(::tessera::kernel::selftest::Context& t);                          \
  [[gnu::used, gnu::section(".selftests." #NAME)]] static const ::tessera::kernel::selftest::Test     \
      selftest_entry_##NAME = {#NAME, DESCRIPTION, ::tessera::kernel::selftest::Expect::EXPECT,       \
                               selftest_body_##NAME};                                                 \
  static void selftest_body_##NAME(::tessera::kernel::selftest::Context& t)
