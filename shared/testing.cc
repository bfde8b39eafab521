// The test core (tessera/testing.h): Context, the registry, running a selection, protocol lines.
#include <tessera/testing.h>

#include <stdarg.h>

#include <tessera/format.h>

namespace tessera::testing {
namespace {

// One protocol line or part of one: `prefix`, then the formatted text, then `suffix`, written at
// once so lines from several threads do not interleave.
void vreport(const char* prefix, const char* format, va_list args, const char* suffix) {
  char line[512];
  constexpr size_t kLast = sizeof(line) - 1;  // room for the NUL vformat_to writes
  size_t n = 0;
  for (const char* p = prefix; *p != '\0' && n < kLast; ++p) line[n++] = *p;
  const size_t produced = vformat_to(line + n, sizeof(line) - n, format, args);
  n += produced < kLast - n ? produced : kLast - n;
  for (const char* p = suffix; *p != '\0' && n < kLast; ++p) line[n++] = *p;
  if (n == kLast && suffix[0] == '\n') line[n - 1] = '\n';  // a cut line still ends
  write_output(line, n);
}

constexpr size_t kMaxNameLength = 63;

}  // namespace

const char* expect_name(Expect expect) {
  switch (expect) {
    case Expect::pass: return "pass";
    case Expect::panic: return "panic";
    case Expect::fault: return "fault";
  }
  return "?";
}

void report(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vreport("", format, args, "");
  va_end(args);
}

bool Context::check(bool condition, const char* format, ...) {
  if (condition) return true;
  failed_ = true;
  va_list args;
  va_start(args, format);
  vreport("# check failed: ", format, args, "\n");
  va_end(args);
  return false;
}

void Context::note(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vreport("# ", format, args, "\n");
  va_end(args);
}

void Context::expect_panic(const char* text) { report("EXPECT-PANIC %s\n", text); }

void Context::expect_fault(const char* text) {
  if (!announce_expected_fault(text)) check(false, "expect_fault: no supervisor to tell");
}

const Test* Registry::find(StringView name) const {
  for (const Test* test = begin; test < end; ++test) {
    if (name.equals(StringView(test->name))) return test;
  }
  return nullptr;
}

void Registry::list() const {
  for (const Test* test = begin; test < end; ++test) {
    report("TEST %s %s %s\n", test->name, expect_name(test->expect), test->description);
  }
}

Outcome run_test(const Registry& tests, StringView name) {
  const Test* test = tests.find(name);
  if (test == nullptr) return Outcome::missing;
  report("# running %s: %s\n", test->name, test->description);
  Context context;
  test->run(context);
  if (test->expect != Expect::pass) {
    context.check(false, "expected a %s, but the test returned", expect_name(test->expect));
  }
  return context.failed() ? Outcome::failed : Outcome::passed;
}

int run_selection(StringView selection, RunOne run, void* context) {
  int number = 0, passed = 0, failed = 0;
  for_each_in_list(selection, [&](StringView name) {
    ++number;
    char terminated[kMaxNameLength + 1] = {};
    Outcome outcome = Outcome::missing;
    if (name.size <= kMaxNameLength) {
      for (size_t i = 0; i < name.size; ++i) terminated[i] = name.data[i];
      outcome = run(terminated, context);
    }
    if (outcome == Outcome::passed) {
      ++passed;
      report("ok %d - %.*s\n", number, static_cast<int>(name.size), name.data);
    } else {
      ++failed;
      if (outcome == Outcome::missing) report("# no such test\n");
      report("not ok %d - %.*s\n", number, static_cast<int>(name.size), name.data);
    }
  });
  report("TESTS-DONE passed=%d failed=%d\n", passed, failed);
  return failed;
}

RunStatus run_from_command_line(const CommandLine& cmdline, const Registry& tests) {
  StringView selection;
  if (!cmdline.get(StringView("test"), &selection) || selection.empty()) return RunStatus::none;
  if (selection.equals(StringView("list"))) {
    tests.list();
    report("TESTS-END\n");
    return RunStatus::passed;
  }
  Registry registry = tests;
  const int failed = run_selection(
      selection, [](const char* name, void* r) { return run_test(*static_cast<const Registry*>(r), name); },
      &registry);
  return failed == 0 ? RunStatus::passed : RunStatus::failed;
}

}  // namespace tessera::testing
