// The BLK tests (docs/drivers.md): the virtio-blk driver (servers/blk) started through init's
// system library — the code init runs at boot — with its pci grant, on the test's memory server,
// and blkcheck (tests/programs/blkcheck/) as its client. blkcheck exits with 0, or the number of
// the check that failed; the driver must not have faulted unless the test crashes it on purpose.
#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
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

constinit init::System blk_system;
constinit init::SystemDescription blk_description;

// The driver is program 0, blkcheck program 1 and, with `peer_mode`, a second blkcheck program 2
// (the two meet through the notifications `ready` and `go`). Runs until the blkcheck programs
// end; returns program 1's exit status (-1 when it did not exit; a peer that fails makes the test
// fail). `driver_faults`: how many times the driver faulted.
int64_t run_blk(Context& t, const char* driver_arg, const char* mode, const char* peer_mode, uint32_t* driver_faults) {
  char conf[768];
  constexpr const char* kGrants = "endpoint:blk:wg,notification:ready:rw:1,notification:go:rw:1";  // badged: poll sees them
  char peer[160] = "";
  if (peer_mode != nullptr) {
    tessera::format_to(peer, sizeof(peer), "program peer image=blkcheck mem=8M arg=%s grants=%s\n", peer_mode, kGrants);
  }
  tessera::format_to(conf, sizeof(conf),
                     "pci disk vendor=0x1af4 device=0x1001\n"
                     "endpoint blk\n"
                     "notification ready\n"
                     "notification go\n"
                     "program blk mem=8M restart=yes %s grants=pci:disk,endpoint:blk:rg\n"
                     "program check image=blkcheck mem=8M arg=%s grants=%s\n%s",
                     driver_arg, mode, kGrants, peer);
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  init::ParseError parse_error;
  if (!t.check(init::parse_system_description(conf, strlen(conf), &blk_description, &parse_error).ok(),
               "the description: line %u: %s", parse_error.line, parse_error.reason)) {
    return -1;
  }
  blk_system.set_log(log_line, nullptr);
  // The driver is crashed on purpose many times (BLK0010): each life between crashes is a healthy
  // one (it served requests), so init's policy restarts it every time (PROC0015 tests the policy).
  blk_system.set_tsc_hz(info.tsc_hz, 1'000'000);
  blk_system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const tessera::Result<void> started = blk_system.start(memory, blk_description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return -1;
  int64_t status = -1;
  const uint32_t clients = peer_mode != nullptr ? 2 : 1;
  auto ended = [](const init::ProgramStatus& p) {
    return p.state == init::ProgramState::Exited || p.state == init::ProgramState::Failed;
  };
  for (;;) {
    const auto event = blk_system.handle_next(true);
    if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
    bool all_ended = true;
    for (uint32_t i = 1; i <= clients; ++i) {
      const init::ProgramStatus& client = blk_system.status(i);
      if (!ended(client)) {
        all_ended = false;
        continue;
      }
      t.check(client.faults == 0, "blkcheck %u faulted (kind %lu at 0x%lx, ip 0x%lx)", i, client.last_fault_kind,
              client.last_fault_detail, client.last_fault_ip);
    }
    if (all_ended || (ended(blk_system.status(1)) && blk_system.status(1).exit_status != 0)) {
      status = blk_system.status(1).faults == 0 ? blk_system.status(1).exit_status : -1;
      if (clients == 2 && ended(blk_system.status(2))) {
        t.check(blk_system.status(2).exit_status == 0, "the peer blkcheck exited with %ld (its failed check)",
                blk_system.status(2).exit_status);
      }
      break;
    }
    const init::ProgramStatus& driver = blk_system.status(0);
    if (driver.state == init::ProgramState::Failed || driver.state == init::ProgramState::Exited) {
      t.check(false, "the driver ended (exit status %ld, %u faults)", driver.exit_status, driver.faults);
      break;
    }
  }
  *driver_faults = blk_system.status(0).faults;
  t.check(blk_system.stop().ok(), "System::stop");
  return status;
}

void run_check(Context& t, const char* mode, const char* peer_mode = nullptr, const char* driver_arg = "",
               uint32_t expected_faults = 0) {
  uint32_t faults = 0;
  const int64_t status = run_blk(t, driver_arg, mode, peer_mode, &faults);
  t.check(status == 0, "blkcheck %s exited with %ld (the number of its failed check)", mode, status);
  t.check(faults == expected_faults, "the driver faulted %u times (expected %u)", faults, expected_faults);
}

}  // namespace

TESSERA_USER_TEST(BLK0001, pass, "virtio-blk driver: connect gives the 64 MiB disk's capacity, 512-byte sectors, a ring pair; status; reconnect and disconnect") {
  run_check(t, "geometry");
}

TESSERA_USER_TEST(BLK0002, pass, "virtio-blk: random data written over the whole 64 MiB disk reads back with the same checksum") {
  run_check(t, "whole");
}

TESSERA_USER_TEST(BLK0003, pass, "virtio-blk: 48 requests submitted at once, at least 32 on the device together; random 4 KiB writes read back") {
  run_check(t, "inflight");
}

TESSERA_USER_TEST(BLK0004, pass, "virtio-blk: flush (VIRTIO_BLK_F_FLUSH) completes after the writes before it; a flush with a length is refused") {
  run_check(t, "flush");
}

TESSERA_USER_TEST(BLK0005, pass, "virtio-blk: descriptors outside the data area, misaligned, oversized, bad opcodes and an index jump refused while another client keeps working") {
  run_check(t, "hostile", "hostile-bad");
}

TESSERA_USER_TEST(BLK0006, pass, "virtio-blk: a client that never consumes completions blocks neither the driver nor another client; its completions are kept") {
  run_check(t, "lazy", "lazy-idle");
}

TESSERA_USER_TEST(BLK0007, pass, "virtio-blk: 10,000 malformed control messages answered with errors; the driver still serves I/O") {
  run_check(t, "malformed");
}

TESSERA_USER_TEST(BLK0008, pass, "virtio-blk: requests past the capacity refused with RangeError; misaligned and oversized ones too") {
  run_check(t, "errors");
}

TESSERA_USER_TEST(BLK0009, pass, "virtio-blk: the device's IOERR (a read past the end, the driver's range check off) completes with IoError") {
  run_check(t, "errors-device", nullptr, "arg=test");
}

TESSERA_USER_TEST(BLK0010, pass, "virtio-blk restarts: the driver crashed 100 times in a write/read stream; the client library reissues, no acknowledged write lost") {
  run_check(t, "crash=100", nullptr, "arg=test", 100);
}

// Not a test: scripts/bench blk runs it (test=BLKBENCH); the blk suite skips it (only BLK####).
TESSERA_USER_TEST(BLKBENCH, pass, "scripts/bench blk: the driver's latency per request (BENCH lines), not run by the suites") {
  run_check(t, "bench", nullptr, "prio=110");  // the driver preempts its spinning client
}
