// devtest: the DEV tests (tests/devices/meson.build). The conformance runner starts it like the
// root task, once per test with `test=NAME`, and gives it a memory server of its own (its Control
// capability in kBootInfoServiceSlot); it runs that test and returns 0 (passed), 1 (a check
// failed) or 2 (no such test). `test=list` prints the tests instead.
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
    tessera::sys::print("devtest: not started with a BootInfo\n");
    return 3;
  }
  const tessera::CommandLine cmdline{tessera::StringView(info->cmdline)};
  tessera::StringView name;
  if (!cmdline.get("test", &name) || name.empty()) {
    tessera::sys::print("devtest: no test= on the command line\n");
    return 3;
  }
  if (name == "list") {
    testing::list_tests();
    return 0;
  }
  return static_cast<int>(testing::run_test(name));
}
