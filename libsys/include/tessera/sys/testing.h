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

enum class Expect : uint8_t { pass, panic };

class Context {
 public:
  // Records a failure with a `# ` diagnostic when `condition` is false; returns condition.
  bool check(bool condition, const char* format, ...) __attribute__((format(printf, 3, 4)));
  void note(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // For tests that end the run on purpose: the text the kernel's report must contain.
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

// Value of `key=value` in a space-separated command line, copied into `out` (NUL-terminated).
bool command_line_value(const char* cmdline, const char* key, char* out, size_t capacity);

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
