// The conformance program: one test per process. init's runner (servers/init/conformance_runner.cc)
// starts it like the root task — its own CSpace and VSpace, a BootInfo, untyped memory and the
// control caps — with `test=NAME` at the end of its command line; it runs that test and returns
// 0 (passed), 1 (a check failed) or 2 (no such test), which the start-up code reports to init.
// `test=list` prints the tests instead.
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/cmdline.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/testing.h>

namespace testing = tessera::sys::testing;

int main(uint64_t argument) {
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(argument);
  if (argument != tessera::kRootBootInfoAddress || info->magic != tessera::kBootInfoMagic ||
      info->version != tessera::kBootInfoVersion) {
    tessera::sys::print("conformance: not started with a BootInfo\n");
    return 3;
  }
  const tessera::CommandLine cmdline{tessera::StringView(info->cmdline)};
  tessera::StringView name;
  if (!cmdline.get("test", &name) || name.empty()) {
    tessera::sys::print("conformance: no test= on the command line\n");
    return 3;
  }
  if (name == "list") {
    testing::list_tests();
    return 0;
  }
  return static_cast<int>(testing::run_test(name));
}
