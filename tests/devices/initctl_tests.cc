// The INITCTL tests: init's control protocol (abi/init.capnp, servers/init/control.cc) served by
// init's system library — the code init runs at boot — to ctlclient (tests/programs/ctlclient/),
// next to kv as the program it lists, kills, runs and restarts. The test plays init: it runs the
// description and handles supervision messages (control requests among them) until the client
// exits; the client exits with 0 or the number of its failed check.
#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/untyped.h>

#include "system.h"
#include "system_description.h"

namespace {
namespace sys = tessera::sys;
using tessera::error_name;
using tessera::testing::Context;

const tessera::BootInfo& boot_info() { return *reinterpret_cast<const tessera::BootInfo*>(tessera::kRootBootInfoAddress); }
void log_line(void*, const char* line) { sys::print("# %s\n", line); }

constinit init::System system;
constinit init::SystemDescription description;

void run_control_client(Context& t, const char* mode) {
  static char conf[512];
  tessera::format_to(conf, sizeof(conf),
                     "endpoint kv\n"
                     "control ctl\n"
                     "program kv mem=4M grants=endpoint:kv:r\n"
                     "program c1 image=ctlclient prio=90 mem=4M arg=%s grants=control:ctl\n",
                     mode);
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  init::ParseError parse_error;
  if (!t.check(init::parse_system_description(conf, strlen(conf), &description, &parse_error).ok(),
               "the description: line %u: %s", parse_error.line, parse_error.reason)) {
    return;
  }
  system.set_log(log_line, nullptr);
  system.set_control_handler(init::serve_control);
  const tessera::Result<void> started = system.start(memory, description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return;
  for (;;) {
    const init::ProgramState s = system.status(1).state;
    if (s == init::ProgramState::Exited || s == init::ProgramState::Failed) break;
    const auto event = system.handle_next(true);
    if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
  }
  const init::ProgramStatus& c = system.status(1);
  t.check(c.faults == 0, "the client faulted (kind %lu at 0x%lx)", c.last_fault_kind, c.last_fault_detail);
  t.check(c.state == init::ProgramState::Exited && c.exit_status == 0,
          "the client exited with %ld (the number of its failed check)", c.exit_status);
  t.check(system.status(0).faults == 0 && system.process(0).alive(), "kv runs at the end, never faulted");
  t.check(system.stop().ok(), "System::stop");
}
}  // namespace

TESSERA_USER_TEST(INITCTL0001, pass, "init control: program list, threads, memory; find/kill/run/restart; unknown names, indices out of range and killing itself refused") {
  run_control_client(t, "protocol");
}

TESSERA_USER_TEST(INITCTL0002, pass, "init control: 600 random and malformed messages (any label, garbage words) are each answered with an error or a harmless reply; init and kv go on") {
  run_control_client(t, "hostile");
}
