// The DEV tests (docs/drivers.md): PCI enumeration from the test (which holds IOPortControl, as init
// does), and drivers started through init's system library — the code init runs at boot — with
// irq, ioports and pci declarations, on the test's memory server. The driver side is devdrv
// (tests/programs/devdrv/): it exits with 0, or the number of the check that failed.
#include <tessera/abi/kernel.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/device.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/untyped.h>

#include "system.h"
#include "system_description.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::error_name;
using tessera::testing::Context;

const tessera::BootInfo& boot_info() { return *reinterpret_cast<const tessera::BootInfo*>(tessera::kRootBootInfoAddress); }

// init's log lines, as comments of the test protocol.
void log_line(void*, const char* line) { sys::print("# %s\n", line); }

// One system, as init runs it: fresh in every test's process.
constinit init::System system;
constinit init::SystemDescription description;

// Starts the system `conf` describes (its first program is the driver) on the test's memory
// server, serves it (faults, exits, PCI requests) until the driver ends, stops it, and returns the
// driver's exit status (-1 when it did not exit).
int64_t run_system(Context& t, const char* conf) {
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  init::ParseError parse_error;
  if (!t.check(init::parse_system_description(conf, strlen(conf), &description, &parse_error).ok(),
               "the description: line %u: %s", parse_error.line, parse_error.reason)) {
    return -1;
  }
  system.set_log(log_line, nullptr);
  system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const tessera::Result<void> started = system.start(memory, description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return -1;
  int64_t status = -1;
  for (;;) {
    const auto event = system.handle_next(true);
    if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
    const init::ProgramStatus& driver = system.status(0);
    if (driver.state == init::ProgramState::Exited || driver.state == init::ProgramState::Failed) {
      if (driver.faults != 0) {
        t.check(false, "the driver faulted (kind %lu at 0x%lx, ip 0x%lx)", driver.last_fault_kind,
                driver.last_fault_detail, driver.last_fault_ip);
      } else {
        status = driver.exit_status;
      }
      break;
    }
  }
  t.check(system.stop().ok(), "System::stop");
  return status;
}

void run_driver(Context& t, const char* conf) {
  const int64_t status = run_system(t, conf);
  t.check(status == 0, "devdrv exited with %ld (the number of its failed check)", status);
}

constexpr const char* kBlk = "pci blk vendor=0x1af4 device=0x1001\n";

// One row of what QEMU's pc machine must show on bus 0.
struct Expected {
  sys::PciAddress address;
  uint16_t vendor, device;
  uint8_t class_code, subclass;
  const char* what;
};
}  // namespace

TESSERA_USER_TEST(DEV0001, pass, "PCI enumeration over 0xCF8-0xCFF finds the host bridge, ISA bridge, IDE and virtio-blk with their classes and BARs; sizing restores every register") {
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(boot_info()));
  const sys::CPtr slot = slots.alloc().value();
  const auto issued = tessera::abi::IoPortControl::Client<sys::CallTransport>(kernel, tessera::kSlotIoPortControl)
                          .issue(sys::kPciConfigAddressPort, sys::kPciConfigLastPort,
                                 tessera::capnp::CapRef{tessera::kSlotRootCNode}, slot, sys::kSlotDepth);
  if (!t.check(issued.ok(), "IOPortControl.issue(0xcf8, 0xcff): %s", error_name(issued.error()))) return;
  const sys::PciConfigPorts config(slot);
  const sys::PciAddress blk{0, 4, 0};
  // The registers sizing touches, before.
  uint32_t before[8] = {};
  for (uint16_t i = 0; i < 6; ++i) before[i] = config.read(blk, static_cast<uint16_t>(sys::kPciBar0 + 4 * i), 4).value();
  before[6] = config.read(blk, sys::kPciCommand, 2).value();
  sys::PciFunctionInfo found[32];
  const auto count = config.enumerate(found, 32);
  if (!t.check(count.ok(), "enumerate: %s", error_name(count.error()))) return;
  for (uint32_t i = 0; i < count.value() && i < 32; ++i) {
    const sys::PciFunctionInfo& f = found[i];
    sys::print("# %02x:%02x.%x %04x:%04x class %02x:%02x:%02x irq %u/%u", f.address.bus, f.address.device,
               f.address.function, f.vendor, f.device, f.class_code, f.subclass, f.prog_if, f.irq_line, f.irq_pin);
    for (uint32_t b = 0; b < sys::kPciBars; ++b) {
      if (f.bars[b].kind != sys::PciBarKind::None) {
        sys::print(" bar%u=%s:0x%lx+0x%lx", b,
                   f.bars[b].kind == sys::PciBarKind::Io ? "io" : f.bars[b].kind == sys::PciBarKind::Memory32 ? "m32" : "m64",
                   f.bars[b].base, f.bars[b].size);
      }
    }
    sys::print("\n");
  }
  const Expected expected[] = {
      {{0, 0, 0}, 0x8086, 0x1237, 0x06, 0x00, "the i440FX host bridge"},
      {{0, 1, 0}, 0x8086, 0x7000, 0x06, 0x01, "the PIIX3 ISA bridge"},
      {{0, 1, 1}, 0x8086, 0x7010, 0x01, 0x01, "the PIIX3 IDE controller"},
      {{0, 4, 0}, 0x1AF4, 0x1001, 0x01, 0x00, "the virtio-blk disk"},
  };
  for (const Expected& e : expected) {
    const sys::PciFunctionInfo* f = nullptr;
    for (uint32_t i = 0; i < count.value() && i < 32; ++i) {
      if (found[i].address == e.address) f = &found[i];
    }
    if (!t.check(f != nullptr, "%s at %02x:%02x.%x", e.what, e.address.bus, e.address.device, e.address.function)) continue;
    t.check(f->vendor == e.vendor && f->device == e.device && f->class_code == e.class_code && f->subclass == e.subclass,
            "%s: %04x:%04x class %02x:%02x", e.what, f->vendor, f->device, f->class_code, f->subclass);
  }
  for (uint32_t i = 0; i < count.value() && i < 32; ++i) {
    if (!(found[i].address == blk)) continue;
    const sys::PciFunctionInfo& f = found[i];
    t.check(f.bars[0].kind == sys::PciBarKind::Io && f.bars[0].size == 0x80, "virtio BAR0: 128 I/O ports");
    t.check(f.bars[1].kind == sys::PciBarKind::Memory32 && f.bars[1].size == 0x1000 && f.bars[1].base % 0x1000 == 0,
            "virtio BAR1: a 4 KiB page of memory");
    t.check(f.bars[4].kind == sys::PciBarKind::Memory64 && f.bars[4].prefetchable && f.bars[4].size >= 0x4000 &&
                f.bars[4].base % f.bars[4].size == 0,
            "virtio BAR4: 64-bit prefetchable memory, aligned to its size");
    t.check(f.irq_pin == 1 && f.irq_line <= 23, "virtio's INTA# routed to an IOAPIC line");
  }
  uint32_t after[8] = {};
  for (uint16_t i = 0; i < 6; ++i) after[i] = config.read(blk, static_cast<uint16_t>(sys::kPciBar0 + 4 * i), 4).value();
  after[6] = config.read(blk, sys::kPciCommand, 2).value();
  for (uint32_t i = 0; i < 7; ++i) t.check(before[i] == after[i], "register %u restored after sizing (0x%x, now 0x%x)", i, before[i], after[i]);
  // Pure decoding: a 64-bit BAR's size comes from both halves; an I/O BAR ignores its top half.
  const sys::PciBar wide = sys::decode_pci_bar(0xC, 0xFFFFC00C, 0x1, 0xFFFFFFFF);
  t.check(wide.kind == sys::PciBarKind::Memory64 && wide.prefetchable && wide.base == 0x100000000ull && wide.size == 0x4000,
          "decode a 64-bit BAR");
  const sys::PciBar io = sys::decode_pci_bar(0xC041, 0xFFC1, 0, 0);
  t.check(io.kind == sys::PciBarKind::Io && io.base == 0xC040 && io.size == 0x40, "decode an I/O BAR with 16 address bits");
  t.check(sys::decode_pci_bar(0, 0, 0, 0).kind == sys::PciBarKind::None, "an unimplemented BAR");
  t.check(!config.read(blk, 256, 4).ok() && !config.read(sys::PciAddress{0, 32, 0}, 0, 4).ok() &&
              !config.read(blk, 2, 4).ok(),
          "config reads past 255, past device 31 and misaligned are refused");
}

TESSERA_USER_TEST(DEV0002, pass, "a pci grant: the driver maps virtio-blk's BAR4 uncached in its device window and reads the disk's capacity") {
  char conf[256];
  tessera::format_to(conf, sizeof(conf), "%sprogram drv image=devdrv arg=virtio grants=pci:blk\n", kBlk);
  run_driver(t, conf);
}

TESSERA_USER_TEST(DEV0003, pass, "a pci grant reaches its function only: offsets, widths, BAR and header writes, other ports refused") {
  char conf[256];
  tessera::format_to(conf, sizeof(conf), "%sprogram drv image=devdrv arg=config grants=pci:blk\n", kBlk);
  run_driver(t, conf);
}

TESSERA_USER_TEST(DEV0004, pass, "irq and ioports grants: the RTC's periodic interrupt arrives on a notification, once per ack") {
  run_driver(t, "irq rtc line=8\nioports cmos first=0x70 last=0x71\n"
                "program drv image=devdrv arg=irq grants=irq:rtc,ioports:cmos\n");
}

TESSERA_USER_TEST(DEV0005, pass, "a DMA buffer: page-aligned, distinct physical addresses in RAM, per-page segments, bytes read back") {
  run_driver(t, "program drv image=devdrv arg=dma\n");
}

TESSERA_USER_TEST(DEV0006, pass, "hostile device-memory requests refused: BAR index, I/O BAR, untyped too small, outside the device window") {
  char conf[256];
  tessera::format_to(conf, sizeof(conf), "%sprogram drv image=devdrv arg=hostile grants=pci:blk\n", kBlk);
  run_driver(t, conf);
}

TESSERA_USER_TEST(DEV0007, pass, "a pci declaration naming no function stops the start and leaves nothing behind; by slot it finds the same device") {
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  init::ParseError e;
  const char* missing = "pci none vendor=0x1af4 device=0x1001 index=3\nprogram drv image=devdrv arg=dma\n";
  if (!t.check(init::parse_system_description(missing, strlen(missing), &description, &e).ok(), "parse")) return;
  system.set_log(log_line, nullptr);
  system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const uint64_t free_slots = slots.available();
  const auto r = system.start(memory, description, sys::kBootInfoServiceSlot);
  t.check(!r.ok() && r.error() == Error::EmptySlot, "start with a missing function: %s", error_name(r.error()));
  t.check(slots.available() == free_slots, "every slot back (%lu of %lu)", slots.available(), free_slots);
  const char* by_slot = "pci blk slot=00:04.0\n";
  if (!t.check(init::parse_system_description(by_slot, strlen(by_slot), &description, &e).ok(), "parse")) return;
  const auto started = system.start(memory, description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "start with slot=00:04.0: %s", error_name(started.error()))) return;
  const init::PciRecord& record = system.pci(0);
  t.check(record.info.vendor == 0x1AF4 && record.info.device == 0x1001, "slot=00:04.0 is virtio-blk");
  t.check(record.bar_untyped[1] != 0 && record.bar_untyped[4] != 0 && record.bar_untyped[0] == 0,
          "untypeds for its memory BARs only");
  constexpr uint32_t kMemoryBars[] = {1, 4};
  for (const uint32_t b : kMemoryBars) {
    const auto d = sys::describe_untyped(kernel, record.bar_untyped[b]);
    t.check(d.ok() && d->is_device != 0 && d->phys == record.info.bars[b].base &&
                (uint64_t{1} << d->size_bits) == (record.info.bars[b].size < 4096 ? 4096 : record.info.bars[b].size),
            "BAR%u's untyped covers exactly the BAR", b);
  }
  t.check(record.irq_handler != 0, "an IRQHandler for its INTx line %u", record.info.irq_line);
  t.check(system.stop().ok(), "stop");
  t.check(slots.available() == free_slots, "every slot back after stop (%lu of %lu)", slots.available(), free_slots);
}
