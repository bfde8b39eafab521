// The CONSOLE and KBD tests (docs/drivers.md, docs/testing.md): the console driver (servers/console)
// and the PS/2 keyboard driver (servers/kbd) started through init's system library with their
// hardware, and drvclient programs (tests/programs/drvclient/) as their clients. The clients drive
// the test harness with HARNESS-* lines (serial input, awaited output, QEMU's sendkey) and exit
// with 0 or the number of the check that failed; a test passes when every client exited with 0.
#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/testing.h>
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

// The drivers: programs 0 (and 1) of every description; clients follow.
constexpr const char* kConsole =
    "irq com1-irq line=4\n"
    "ioports com1 first=0x3f8 last=0x3ff\n"
    "endpoint console\n"
    "notification ready\n"
    "notification done\n"
    "program console prio=100 mcp=100 mem=4M grants=endpoint:console,ioports:com1,irq:com1-irq\n";
constexpr const char* kKeyboard =
    "irq kbd-irq line=1\n"
    "ioports i8042-data first=0x60 last=0x60\n"
    "ioports i8042-cmd first=0x64 last=0x64\n"
    "endpoint kbd\n"
    "notification ready\n"
    "notification done\n"
    "program kbd prio=100 mcp=100 mem=4M grants=endpoint:kbd,ioports:i8042-data,ioports:i8042-cmd,irq:kbd-irq\n";

// Runs `drivers` + `clients` until every client (the programs after the first `driver_count`)
// has exited; checks each exited with 0 and no driver faulted or exited — except
// `driver_restarts` faults in all (the drivers' crash hooks), each followed by init's restart.
void run_clients(Context& t, const char* drivers, uint32_t driver_count, const char* clients,
                 uint32_t driver_restarts = 0) {
  static char conf[2048];
  tessera::format_to(conf, sizeof(conf), "%s%s", drivers, clients);
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
  system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const tessera::Result<void> started = system.start(memory, description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return;
  const uint32_t programs = description.program_count;
  for (;;) {
    bool all_done = true;
    for (uint32_t i = driver_count; i < programs; ++i) {
      const init::ProgramState s = system.status(i).state;
      if (s != init::ProgramState::Exited && s != init::ProgramState::Failed) all_done = false;
    }
    bool driver_down = false;
    uint32_t faults = 0;
    for (uint32_t i = 0; i < driver_count; ++i) {
      const init::ProgramStatus& d = system.status(i);
      faults += d.faults;
      if (d.state != init::ProgramState::Running || d.restarts != d.faults) driver_down = true;
    }
    if (faults > driver_restarts) driver_down = true;
    if (!t.check(!driver_down, "a driver stopped")) break;
    if (all_done) break;
    const auto event = system.handle_next(true);
    if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
  }
  uint32_t restarts = 0;
  for (uint32_t i = 0; i < driver_count; ++i) restarts += system.status(i).restarts;
  t.check(restarts == driver_restarts, "the drivers were restarted %u times (expected %u)", restarts, driver_restarts);
  for (uint32_t i = driver_count; i < programs; ++i) {
    const init::ProgramStatus& c = system.status(i);
    if (c.faults != 0) {
      t.check(false, "client %u faulted (kind %lu at 0x%lx, ip 0x%lx)", i, c.last_fault_kind, c.last_fault_detail,
              c.last_fault_ip);
    } else {
      t.check(c.state == init::ProgramState::Exited && c.exit_status == 0,
              "client %u exited with %ld (the number of its failed check)", i, c.exit_status);
    }
  }
  t.check(system.stop().ok(), "System::stop");
}

constexpr const char* kClient = "image=drvclient prio=90 mem=4M";
}  // namespace

TESSERA_USER_TEST(CONSOLE0001, pass, "console: a client's line goes out through the driver's ring and the UART (the harness sees it and answers); flush, status, close") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program c1 %s arg=output grants=endpoint:console:wg\n", kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(CONSOLE0002, pass, "console: a line typed on the serial port is echoed and read as one line; CR LF, two lines at once, a short buffer") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program c1 %s arg=echo grants=endpoint:console:wg\n", kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(CONSOLE0003, pass, "console: backspace and DEL erase with \\b \\b echoed, nothing to erase is ignored; raw mode delivers bytes unedited") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program c1 %s arg=edit grants=endpoint:console:wg\n", kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(CONSOLE0004, pass, "console: three clients write 20 lines each at once; every line arrives whole; each reads one answer") {
  char clients[512];
  tessera::format_to(clients, sizeof(clients),
                     "program c1 %s arg=writer1 grants=endpoint:console:wg\n"
                     "program c2 %s arg=writer2 grants=endpoint:console:wg\n"
                     "program c3 %s arg=writer3 grants=endpoint:console:wg\n",
                     kClient, kClient, kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(CONSOLE0005, pass, "console: 10,000 malformed control messages are refused, then the same client opens, writes and reads") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program c1 %s arg=malformed grants=endpoint:console:wg\n", kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(CONSOLE0006, pass, "console: a hostile client's descriptors outside its data area and unknown opcodes are refused, its index jump ends its session; another client keeps working") {
  char clients[512];
  tessera::format_to(clients, sizeof(clients),
                     "program bad %s arg=hostile grants=endpoint:console:wg,notification:ready\n"
                     "program good %s arg=good grants=endpoint:console:wg,notification:ready,notification:done\n",
                     kClient, kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(CONSOLE0007, pass, "console: a client that never consumes its completions is held (its requests wait in its ring) while another writes and reads") {
  char clients[512];
  tessera::format_to(clients, sizeof(clients),
                     "program slow %s arg=slow grants=endpoint:console:wg,notification:ready,notification:done\n"
                     "program good %s arg=good grants=endpoint:console:wg,notification:ready,notification:done\n",
                     kClient, kClient);
  run_clients(t, kConsole, 1, clients);
}

TESSERA_USER_TEST(KBD0001, pass, "kbd: keys injected with sendkey arrive as press/release events with shift, ctrl and alt and the characters they type") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program k1 %s arg=keys grants=endpoint:kbd:wg\n", kClient);
  run_clients(t, kKeyboard, 1, clients);
}

TESSERA_USER_TEST(KBD0002, pass, "kbd: caps lock toggles on press (not on release), inverts shift for letters only, and its LED follows") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program k1 %s arg=caps grants=endpoint:kbd:wg\n", kClient);
  run_clients(t, kKeyboard, 1, clients);
}

TESSERA_USER_TEST(KBD0003, pass, "kbd: a hostile subscriber (consumer index jump, 10,000 malformed messages) is dropped; another subscriber still gets its keys") {
  char clients[512];
  tessera::format_to(clients, sizeof(clients),
                     "program bad %s arg=kbdhostile grants=endpoint:kbd:wg,notification:ready,notification:done\n"
                     "program good %s arg=kbdgood grants=endpoint:kbd:wg,notification:ready,notification:done\n",
                     kClient, kClient);
  run_clients(t, kKeyboard, 1, clients);
}

TESSERA_USER_TEST(KBD0004, pass, "console + kbd: keys typed on the keyboard reach a console client as an edited line, merged with serial input") {
  char drivers[1024];
  tessera::format_to(drivers, sizeof(drivers),
                     "irq kbd-irq line=1\nioports i8042-data first=0x60 last=0x60\nioports i8042-cmd first=0x64 last=0x64\nendpoint kbd\n"
                     "irq com1-irq line=4\nioports com1 first=0x3f8 last=0x3ff\nendpoint console\n"
                     "program kbd prio=100 mcp=100 mem=4M grants=endpoint:kbd,ioports:i8042-data,ioports:i8042-cmd,irq:kbd-irq\n"
                     "program console prio=100 mcp=100 mem=4M grants=endpoint:console,ioports:com1,irq:com1-irq,endpoint:kbd:wg\n");
  char clients[256];
  tessera::format_to(clients, sizeof(clients), "program c1 %s arg=typed grants=endpoint:console:wg\n", kClient);
  run_clients(t, drivers, 2, clients);
}

namespace {
// kbd and console as boot/system.conf declares them, restarted by init, with their test hooks.
constexpr const char* kBothRestarting =
    "irq kbd-irq line=1\nioports i8042-data first=0x60 last=0x60\nioports i8042-cmd first=0x64 last=0x64\nendpoint kbd\n"
    "irq com1-irq line=4\nioports com1 first=0x3f8 last=0x3ff\nendpoint console\n"
    "program kbd prio=100 mcp=100 mem=4M restart=yes arg=test grants=endpoint:kbd,ioports:i8042-data,ioports:i8042-cmd,irq:kbd-irq\n"
    "program console prio=100 mcp=100 mem=4M restart=yes arg=test grants=endpoint:console,ioports:com1,irq:com1-irq,endpoint:kbd:wg\n";
}  // namespace

TESSERA_USER_TEST(KBD0005, pass, "kbd restarted: the keyboard driver crashes (its test hook), init restarts it, the console notices (Keyboard.watch) and subscribes again; keys typed afterwards reach the console's reader") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients),
                     "program c1 %s arg=kbdcrash grants=endpoint:console:wg,endpoint:kbd:wg\n", kClient);
  run_clients(t, kBothRestarting, 2, clients, 1);
}

TESSERA_USER_TEST(CONSOLE0008, pass, "console restarted: the console crashes (its test hook) under a client; the client notices (Console.watch), opens again on the restarted console, writes and reads a typed line; keys still arrive") {
  char clients[256];
  tessera::format_to(clients, sizeof(clients),
                     "program c1 %s arg=consolecrash grants=endpoint:console:wg\n", kClient);
  run_clients(t, kBothRestarting, 2, clients, 1);
}
