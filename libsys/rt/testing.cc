#include <stdarg.h>

#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/testing.h>

// The linker script collects TESSERA_USER_TEST entries between these symbols, sorted by name.
extern "C" const tessera::sys::testing::Test __tessera_tests_start[], __tessera_tests_end[];

namespace tessera::sys::testing {
namespace {

void vprint_line(const char* prefix, const char* fmt, va_list args) {
  char buffer[512];
  const size_t prefix_length = strlen(prefix);
  memcpy(buffer, prefix, prefix_length);
  size_t n = vformat_to(buffer + prefix_length, sizeof(buffer) - prefix_length - 1, fmt, args);
  n = prefix_length + (n < sizeof(buffer) - prefix_length - 2 ? n : sizeof(buffer) - prefix_length - 2);
  buffer[n++] = '\n';
  debug_write(buffer, n);
}
}  // namespace

bool Context::check(bool condition, const char* fmt, ...) {
  if (condition) return true;
  failed_ = true;
  va_list args;
  va_start(args, fmt);
  vprint_line("# check failed: ", fmt, args);
  va_end(args);
  return false;
}

void Context::note(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vprint_line("# ", fmt, args);
  va_end(args);
}

void Context::expect_panic(const char* text) { print("EXPECT-PANIC %s\n", text); }

void Context::expect_fault(const char* text) {
  // The supervisor's endpoint is where exit_process sends; a process without one cannot run
  // `fault` tests (the runner would never hear of the fault).
  IpcBuffer* buffer = ipc_buffer();
  const size_t length = min(strlen(text), kMaxExpectedFaultText);
  buffer->msg[0] = length;
  memset(&buffer->msg[1], 0, align_up(length, 8));
  memcpy(&buffer->msg[1], text, length);
  const auto words = static_cast<uint32_t>(1 + align_up(length, 8) / 8);
  if (send(supervisor_endpoint(), MessageInfo{kExpectFaultLabel, words, 0, 0}) != Error::Ok) {
    check(false, "expect_fault: no supervisor to tell");
  }
}

const Test* find_test(const char* name) {
  for (const Test* t = __tessera_tests_start; t < __tessera_tests_end; ++t) {
    if (strcmp(t->name, name) == 0) return t;
  }
  return nullptr;
}

const char* expect_name(Expect e) {
  switch (e) {
    case Expect::pass: return "pass";
    case Expect::panic: return "panic";
    case Expect::fault: return "fault";
  }
  return "?";
}

void list_tests() {
  for (const Test* t = __tessera_tests_start; t < __tessera_tests_end; ++t) {
    print("TEST %s %s %s\n", t->name, expect_name(t->expect), t->description);
  }
}

Outcome run_test(const char* name) {
  const Test* test = find_test(name);
  if (test == nullptr) return Outcome::missing;
  print("# running %s: %s\n", test->name, test->description);
  Context context;
  test->run(context);
  if (test->expect != Expect::pass) context.check(false, "expected the test to end on purpose, but it returned");
  return context.failed() ? Outcome::failed : Outcome::passed;
}

int run_selection(const char* selection, RunOne run, void* context) {
  int number = 0, passed = 0, failed = 0;
  for (const char* p = selection; *p != '\0';) {
    const char* end = p;
    while (*end != '\0' && *end != ',') ++end;
    const size_t length = static_cast<size_t>(end - p);
    if (length > 0) {
      ++number;
      char name[64] = {};  // longer than any test name: a longer one is missing
      Outcome outcome = Outcome::missing;
      if (length < sizeof(name)) {
        memcpy(name, p, length);
        outcome = run(name, context);
      }
      if (outcome == Outcome::passed) {
        ++passed;
        print("ok %d - %s\n", number, name);
      } else {
        ++failed;
        if (outcome == Outcome::missing) print("# no such test\n");
        print("not ok %d - %.*s\n", number, static_cast<int>(length), p);
      }
    }
    p = *end == ',' ? end + 1 : end;
  }
  print("TESTS-DONE passed=%d failed=%d\n", passed, failed);
  return failed;
}

bool command_line_value(const char* cmdline, const char* key, char* out, size_t capacity) {
  const size_t key_length = strlen(key);
  bool found = false;
  for (const char* p = cmdline; *p != '\0'; ++p) {
    if ((p != cmdline && p[-1] != ' ') || strncmp(p, key, key_length) != 0 || p[key_length] != '=') continue;
    const char* value = p + key_length + 1;
    size_t n = 0;
    while (value[n] != '\0' && value[n] != ' ' && n + 1 < capacity) {
      out[n] = value[n];
      ++n;
    }
    out[n] = '\0';
    found = true;  // keep scanning: the last occurrence wins, as in the kernel
  }
  return found;
}

bool run_from_command_line(const char* cmdline) {
  char selection[1024];
  if (!command_line_value(cmdline, "test", selection, sizeof(selection)) || selection[0] == '\0') return false;
  if (strcmp(selection, "list") == 0) {
    list_tests();
    print("TESTS-END\n");
    exit_machine(0);
  }
  const int failed = run_selection(
      selection, [](const char* name, void*) { return run_test(name); }, nullptr);
  exit_machine(failed == 0 ? 0 : 1);
}

}  // namespace tessera::sys::testing
