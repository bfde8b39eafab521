// The test core (shared/testing.cc) as both runners use it: the serial-protocol lines of a run, a
// selection with missing and failing tests, `test=list`, and a Context's diagnostics.
#include <catch.hpp>

#include <string>

#include <tessera/testing.h>

using tessera::CommandLine;
using tessera::StringView;
namespace testing = tessera::testing;

namespace {
std::string output;
}  // namespace

// The glue a side provides: here the lines are collected, and nobody supervises.
namespace tessera::testing {
void write_output(const char* text, size_t length) { output.append(text, length); }
bool announce_expected_fault(const char*) { return false; }
}  // namespace tessera::testing

namespace {

void passes(testing::Context& t) {
  t.note("value %d", 42);
  t.check(true, "never printed");
}
void fails(testing::Context& t) { t.check(1 + 1 == 3, "1 + 1 = %d", 1 + 1); }
void returns_instead_of_panicking(testing::Context& t) { t.expect_panic("boom"); }
void expects_fault(testing::Context& t) { t.expect_fault("page fault"); }

// Sorted by name, as the linker scripts sort the sections.
const testing::Test kTests[] = {
    {"A0001", "passes", testing::Expect::pass, passes},
    {"B0001", "fails", testing::Expect::pass, fails},
    {"C0001", "panics", testing::Expect::panic, returns_instead_of_panicking},
    {"D0001", "faults", testing::Expect::fault, expects_fault},
};
const testing::Registry kRegistry{kTests, kTests + 4};

}  // namespace

TEST_CASE("test=list prints a TEST line per test, then TESTS-END", "[testing]") {
  output.clear();
  CHECK(testing::run_from_command_line(CommandLine("log=info test=list"), kRegistry) == testing::RunStatus::passed);
  CHECK(output ==
        "TEST A0001 pass passes\nTEST B0001 pass fails\nTEST C0001 panic panics\nTEST D0001 fault faults\n"
        "TESTS-END\n");
}

TEST_CASE("a selection prints running, diagnostics, results and TESTS-DONE", "[testing]") {
  output.clear();
  CHECK(testing::run_from_command_line(CommandLine("test=A0001,B0001,,NOPE,C0001,D0001"), kRegistry) ==
        testing::RunStatus::failed);
  CHECK(output ==
        "# running A0001: passes\n# value 42\nok 1 - A0001\n"
        "# running B0001: fails\n# check failed: 1 + 1 = 2\nnot ok 2 - B0001\n"
        "# no such test\nnot ok 3 - NOPE\n"
        "# running C0001: panics\nEXPECT-PANIC boom\n# check failed: expected a panic, but the test returned\n"
        "not ok 4 - C0001\n"
        "# running D0001: faults\n# check failed: expect_fault: no supervisor to tell\n"
        "# check failed: expected a fault, but the test returned\nnot ok 5 - D0001\n"
        "TESTS-DONE passed=1 failed=4\n");
}

TEST_CASE("no test= word runs nothing; all passing is passed", "[testing]") {
  output.clear();
  CHECK(testing::run_from_command_line(CommandLine("suite=user"), kRegistry) == testing::RunStatus::none);
  CHECK(testing::run_from_command_line(CommandLine("test="), kRegistry) == testing::RunStatus::none);
  CHECK(output.empty());
  CHECK(testing::run_from_command_line(CommandLine("test=A0001"), kRegistry) == testing::RunStatus::passed);
  CHECK(output == "# running A0001: passes\n# value 42\nok 1 - A0001\nTESTS-DONE passed=1 failed=0\n");
}

TEST_CASE("a name of 64 characters or more is missing; long diagnostics are cut but end the line", "[testing]") {
  output.clear();
  const std::string long_name(64, 'X');
  CHECK(testing::run_selection(StringView(long_name.data(), long_name.size()),
                               [](const char*, void*) { return testing::Outcome::passed; }, nullptr) == 1);
  CHECK(output == "# no such test\nnot ok 1 - " + long_name + "\nTESTS-DONE passed=0 failed=1\n");
  output.clear();
  testing::Context t;
  const std::string long_text(1000, 'y');
  t.note("%s", long_text.c_str());
  REQUIRE(output.size() == 511);
  CHECK(output.substr(0, 2) == "# ");
  CHECK(output.back() == '\n');
  CHECK(!t.failed());
}
