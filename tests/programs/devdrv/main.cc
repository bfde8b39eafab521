// devdrv: the driver side of the DEV tests (tests/devices/, docs/drivers.md). A DEV test starts it
// through init's system library with a system description granting it hardware, on a memory server
// (every page of it a region of its session). The argument chooses what it does; it exits with 0
// when every check passed, otherwise with the number of the first that failed (and a line saying
// which):
//   virtio    pci:blk (QEMU's virtio-blk): its identity and BARs, the virtio capabilities in its
//             config space, the modern device-config BAR mapped uncached: capacity = the 64 MiB
//             disk, the common config's queue count; unmapped again, mapped a second time
//   config    pci:blk config access beyond the function refused: offsets past 255, misaligned,
//             bad widths, writes to the BARs and header, unknown operations; no port access to
//             0xCF8 (no IOPort capability); a BAR untyped lent to one holder at a time
//   irq       irq:rtc + ioports:cmos: the RTC's periodic interrupt arrives on a notification 5
//             times, each after an ack; poll says nothing is pending after the last
//   dma       a DMA buffer of 16 pages: page-aligned, distinct physical addresses in RAM, the
//             per-page segments, bytes written through the mapping read back
//   hostile   bad device-memory requests refused: BAR index 6, an I/O BAR, an empty BAR, a
//             range past the BAR's untyped, 0 bytes, too many pages, an address outside the
//             device window, an attachment in the window; a RAM-sized map of the device untyped
#include <stdint.h>

#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/device.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::error_name;

constexpr uint64_t kPage = 4096;

// The first failed check's number (0: none so far).
int failed = 0;

bool check(int number, bool ok, const char* what) {
  if (!ok && failed == 0) {
    failed = number;
    sys::print("devdrv: check %d failed: %s\n", number, what);
  }
  return ok;
}
template <typename T>
bool check_error(int number, const tessera::Result<T>& r, Error expected, const char* what) {
  if (r.ok() || r.error() != expected) {
    sys::print("devdrv: %s: got %s, expected %s\n", what, r.ok() ? "Ok" : error_name(r.error()), error_name(expected));
  }
  return check(number, !r.ok() && r.error() == expected, what);
}

struct Driver {
  const sys::StartupBlock& block;
  sys::SlotAllocator& slots;
  sys::MemorySession session;
};

uint32_t le32(volatile const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// virtio 1.x PCI capability (vendor capability 0x09): cfg_type at +3, bar at +4, offset at +8.
struct VirtioCap {
  uint8_t bar = 0;
  uint32_t offset = 0;
  bool found = false;
};
VirtioCap find_virtio_cap(const sys::PciDevice& blk, uint8_t type) {
  VirtioCap out;
  uint16_t at = 0;
  for (int n = 0; n < 16; ++n) {
    const auto next = sys::pci_find_capability(blk, 0x09, at);
    if (!next.ok() || next.value() == 0) break;
    at = next.value();
    const auto cfg_type = blk.read(static_cast<uint16_t>(at + 3), 1);
    if (cfg_type.ok() && cfg_type.value() == type) {
      out.bar = static_cast<uint8_t>(blk.read(static_cast<uint16_t>(at + 4), 1).value());
      out.offset = blk.read(static_cast<uint16_t>(at + 8), 4).value();
      out.found = true;
      break;
    }
  }
  return out;
}

int virtio(Driver& d) {
  const auto grant = sys::find_grant(d.block, "pci:blk");
  if (!check(1, grant.ok(), "a pci:blk grant")) return failed;
  const sys::PciDevice blk(grant.value());
  const auto info = blk.info();
  if (!check(2, info.ok(), "PciDevice::info")) return failed;
  const sys::PciFunctionInfo& f = info.value();
  sys::print("devdrv: pci:blk is %02x:%02x.%x %04x:%04x class %02x:%02x, irq line %u pin %u\n", f.address.bus,
             f.address.device, f.address.function, f.vendor, f.device, f.class_code, f.subclass, f.irq_line, f.irq_pin);
  check(3, f.vendor == 0x1AF4 && f.device == 0x1001, "virtio-blk's ids (1af4:1001)");
  check(4, f.address == (sys::PciAddress{0, 4, 0}), "at 00:04.0");
  check(5, f.class_code == 0x01 && f.subclass == 0x00, "a mass-storage (SCSI) class");
  check(6, f.bars[0].kind == sys::PciBarKind::Io && f.bars[0].size == 0x80, "BAR0: 128 I/O ports (legacy)");
  check(7, f.bars[1].kind == sys::PciBarKind::Memory32 && f.bars[1].size == kPage, "BAR1: 4 KiB of memory (MSI-X)");
  check(8, f.bars[4].kind == sys::PciBarKind::Memory64 && f.bars[4].prefetchable && f.bars[4].size >= 4 * kPage,
        "BAR4: 64-bit prefetchable memory (modern virtio)");
  check(9, f.bars[5].kind == sys::PciBarKind::None, "BAR5 is BAR4's upper half");
  const auto vendor = blk.read(sys::kPciVendorId, 2);
  check(10, vendor.ok() && vendor.value() == 0x1AF4, "config read of the vendor id");
  // Memory decoding on (the firmware did it; a driver makes sure), written through init.
  const auto command = blk.read(sys::kPciCommand, 2);
  if (!check(11, command.ok(), "read the command register")) return failed;
  check(12, blk.write(sys::kPciCommand, 2, command.value() | sys::kPciCommandMemory | sys::kPciCommandBusMaster).ok(),
        "write the command register");
  const auto again = blk.read(sys::kPciCommand, 2);
  check(13, again.ok() && (again.value() & sys::kPciCommandBusMaster) != 0, "bus mastering is on");
  // The virtio structures: device config (type 4) holds the capacity in 512-byte sectors.
  const VirtioCap device_cfg = find_virtio_cap(blk, 4);
  const VirtioCap common_cfg = find_virtio_cap(blk, 1);
  if (!check(14, device_cfg.found && common_cfg.found, "virtio common and device config capabilities")) return failed;
  check(15, device_cfg.bar == 4 && common_cfg.bar == 4, "both in BAR4");
  sys::DeviceSpace window(d.session, d.slots, d.block.vspace);
  const auto bar = window.map_bar(blk, device_cfg.bar);
  if (!check(16, bar.ok(), "map BAR4")) {
    sys::print("devdrv: map_bar: %s\n", error_name(bar.error()));
    return failed;
  }
  const sys::DeviceMapping& m = bar.value();
  const auto address = reinterpret_cast<uint64_t>(m.address);
  check(17, address >= sys::kDeviceWindowBase && address < sys::kDeviceWindowLimit, "mapped in the device window");
  check(18, m.physical == f.bars[4].base && m.bytes == f.bars[4].size, "the mapping covers the BAR");
  const uint64_t capacity = uint64_t{le32(m.address + device_cfg.offset)} |
                            uint64_t{le32(m.address + device_cfg.offset + 4)} << 32;
  sys::print("devdrv: capacity %lu sectors\n", capacity);
  check(19, capacity == (uint64_t{64} << 20) / 512, "capacity: the 64 MiB disk in 512-byte sectors");
  const uint16_t queues = static_cast<uint16_t>(m.address[common_cfg.offset + 0x12] |
                                                m.address[common_cfg.offset + 0x13] << 8);  // num_queues
  check(20, queues >= 1, "the common config says it has a queue");
  // Unmapped, the untyped goes back to init; mapping it again works.
  check(21, window.unmap(m).ok(), "unmap BAR4");
  const auto second = window.map_bar(blk, 4);
  check(22, second.ok() && le32(second.value().address + device_cfg.offset) == static_cast<uint32_t>(capacity),
        "map BAR4 a second time");
  if (second.ok()) check(23, window.unmap(second.value()).ok(), "unmap it again");
  // Its INTx line's handler, which init made at start (level-triggered, as QEMU routes PCI).
  const sys::CPtr slot = d.slots.alloc().value();
  check(24, f.irq_pin == 0 || blk.irq_handler(slot).ok(), "the IRQHandler of its INTx line");
  return failed;
}

int config(Driver& d) {
  const auto grant = sys::find_grant(d.block, "pci:blk");
  if (!check(1, grant.ok(), "a pci:blk grant")) return failed;
  const sys::PciDevice blk(grant.value());
  check_error(2, blk.read(256, 4), Error::RangeError, "a read past the 256 bytes of config space");
  check_error(3, blk.read(0x1002, 2), Error::RangeError, "a read far past the config space");
  check_error(4, blk.read(1, 2), Error::AlignmentError, "a misaligned read");
  check_error(5, blk.read(0, 3), Error::InvalidArgument, "a 3-byte read");
  check_error(6, blk.write(sys::kPciBar0 + 4, 4, 0xFFFFFFFFu), Error::IllegalOperation, "moving BAR1");
  check_error(7, blk.write(sys::kPciHeaderType, 1, 0x80), Error::IllegalOperation, "a write to the header type");
  check_error(8, blk.write(0x30, 4, 0), Error::IllegalOperation, "a write to the ROM BAR");
  check_error(9, blk.write(0, 2, 0x1234), Error::IllegalOperation, "a write to the vendor id");
  check_error(10, blk.write(0x3E, 2, 0), Error::IllegalOperation, "a write across the interrupt pin");
  const auto bar1 = blk.read(sys::kPciBar0 + 4, 4);
  const auto info = blk.info();
  check(11, bar1.ok() && info.ok() && (bar1.value() & ~0xFu) == info.value().bars[1].base, "BAR1 unchanged");
  // Raw requests to init's service that no libsys call makes.
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  auto raw = [&](uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint32_t words) -> uint64_t {
    buffer->msg[0] = op;
    buffer->msg[1] = a;
    buffer->msg[2] = b;
    buffer->msg[3] = c;
    sys::Received reply{};
    const Error e = sys::call(grant.value(), sys::MessageInfo{sys::kPciRequestLabel, words, 0, 0}, &reply);
    return e != Error::Ok ? 0xDEAD : reply.info.label;
  };
  check(12, raw(99, 0, 0, 0, 4) == static_cast<uint64_t>(Error::InvalidArgument), "an unknown operation");
  check(13, raw(2, 0, 4, 0, 1) == static_cast<uint64_t>(Error::MalformedMessage), "a truncated request");
  check(14, raw(3, 4, 2, uint64_t{1} << 40, 4) == static_cast<uint64_t>(Error::InvalidArgument), "a value wider than 32 bits");
  check(15, raw(2, uint64_t{1} << 20, 4, 0, 4) == static_cast<uint64_t>(Error::RangeError), "an offset beyond 16 bits");
  // The only way to config space is this function's capability, which is no IOPort: used as
  // one, init refuses the message (the program's grants hold no IOPort capability at all).
  check(16, !sys::IoPorts(grant.value()).in32(sys::kPciConfigDataPort).ok(), "the pci capability as an IOPort");
  check(24, d.block.grant_count == 1, "pci:blk is its only grant");
  // A BAR's untyped is lent to one holder at a time.
  const sys::CPtr first = d.slots.alloc().value(), second = d.slots.alloc().value();
  check(17, blk.bar_untyped(4, first).ok(), "the BAR4 untyped");
  check_error(18, blk.bar_untyped(4, second), Error::MissingCapability, "the BAR4 untyped while it is held");
  check(19, blk.bar_untyped(1, second).ok(), "the BAR1 untyped");
  return failed;
}

int irq(Driver& d) {
  const auto handler = sys::find_grant(d.block, "irq:rtc");
  const auto ports_cap = sys::find_grant(d.block, "ioports:cmos");
  if (!check(1, handler.ok() && ports_cap.ok(), "irq:rtc and ioports:cmos grants")) return failed;
  const sys::IoPorts ports(ports_cap.value());
  auto read = [&](uint8_t reg) -> uint8_t {
    (void)ports.out8(0x70, reg);
    const auto v = ports.in8(0x71);
    return v.ok() ? v.value() : 0;
  };
  auto write = [&](uint8_t reg, uint8_t value) {
    (void)ports.out8(0x70, reg);
    (void)ports.out8(0x71, value);
  };
  check_error(2, ports.in8(0x72), Error::RangeError, "a port outside the grant");
  auto interrupt = sys::Interrupt::create(d.session, handler.value());
  if (!check(3, interrupt.ok(), "Interrupt::create")) return failed;
  // Periodic interrupt at 1024 Hz (register A rate 6, register B bit 6); reading C acknowledges it.
  write(0x8A, static_cast<uint8_t>((read(0x8A) & 0xF0) | 0x06));
  (void)read(0x0C);
  write(0x8B, static_cast<uint8_t>(read(0x8B) | 0x40));
  for (int i = 0; i < 5 && failed == 0; ++i) {
    uint64_t word = 0;
    check(4, interrupt->wait(&word).ok(), "wait for the interrupt");
    check(5, word == 1, "the word carries the handler's badge");
    check(6, (read(0x0C) & 0x40) != 0, "the RTC says its periodic interrupt fired");
    check(7, interrupt->ack().ok(), "ack");
  }
  write(0x8B, static_cast<uint8_t>(read(0x8B) & ~0x40));
  (void)read(0x0C);
  (void)interrupt->ack();
  const auto pending = interrupt->poll();
  check(8, pending.ok(), "poll");
  check(9, interrupt->close().ok(), "close");
  return failed;
}

int dma(Driver& d) {
  constexpr uint32_t kPages = 16;
  auto buffer = sys::DmaBuffer::create(d.session, kPages * kPage);
  if (!check(1, buffer.ok(), "DmaBuffer::create")) return failed;
  check(2, buffer->pages() == kPages && buffer->bytes() == kPages * kPage, "its size");
  for (uint32_t i = 0; i < kPages; ++i) {
    const uint64_t p = buffer->physical(i * kPage);
    check(3, p != 0 && p % kPage == 0, "page-aligned physical addresses");
    check(4, p < (uint64_t{128} << 20), "in the machine's RAM");
    for (uint32_t j = 0; j < i; ++j) check(5, buffer->physical(j * kPage) != p, "distinct physical addresses");
    check(6, buffer->physical(i * kPage + 123) == p + 123, "offsets within a page");
  }
  check(7, buffer->physical(kPages * kPage) == 0, "no address past the end");
  sys::DmaSegment segments[kPages + 1];
  const uint32_t n = buffer->segments(100, kPages * kPage - 200, segments, kPages + 1);
  uint64_t total = 0;
  for (uint32_t i = 0; i < n && i <= kPages; ++i) total += segments[i].bytes;
  check(8, n >= 1 && n <= kPages && total == kPages * kPage - 200, "segments cover the range");
  check(9, n > 0 && segments[0].physical == buffer->physical(100), "the first segment starts at the offset");
  check(10, buffer->segments(0, kPages * kPage + 1, segments, kPages) == 0, "a range past the end has no segments");
  uint8_t* bytes = buffer->address();
  for (uint64_t i = 0; i < kPages * kPage; ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  bool same = true;
  for (uint64_t i = 0; i < kPages * kPage; ++i) same = same && bytes[i] == static_cast<uint8_t>(i * 7);
  check(11, same, "bytes written read back");
  check_error(12, sys::DmaBuffer::create(d.session, 0), Error::RangeError, "a DMA buffer of 0 bytes");
  check_error(13, sys::DmaBuffer::create(d.session, (sys::DmaBuffer::kMaxPages + 1) * kPage), Error::RangeError,
              "a DMA buffer of too many pages");
  check(14, buffer->release().ok(), "release");
  return failed;
}

int hostile(Driver& d) {
  const auto grant = sys::find_grant(d.block, "pci:blk");
  if (!check(1, grant.ok(), "a pci:blk grant")) return failed;
  const sys::PciDevice blk(grant.value());
  sys::DeviceSpace window(d.session, d.slots, d.block.vspace);
  check_error(2, window.map_bar(blk, 6), Error::RangeError, "BAR index 6");
  check_error(3, window.map_bar(blk, 0xFFFFFFFFu), Error::RangeError, "BAR index 2^32-1");
  check_error(4, window.map_bar(blk, 0), Error::InvalidArgument, "an I/O BAR");
  check_error(5, window.map_bar(blk, 2), Error::InvalidArgument, "an unimplemented BAR");
  check_error(6, window.map_bar(blk, 5), Error::InvalidArgument, "the upper half of a 64-bit BAR");
  const sys::CPtr slot = d.slots.alloc().value();
  check_error(7, blk.bar_untyped(9, slot), Error::RangeError, "the untyped of BAR 9");
  if (!check(8, blk.bar_untyped(1, slot).ok(), "the BAR1 untyped (4 KiB)")) return failed;
  check_error(9, window.map(slot, 0, 2 * kPage), Error::RangeError, "two pages of a one-page untyped");
  check_error(10, window.map(slot, kPage, 1), Error::RangeError, "a byte past the untyped");
  check_error(11, window.map(slot, uint64_t{1} << 62, kPage), Error::RangeError, "an offset of 2^62");
  check_error(12, window.map(slot, 0, 0), Error::InvalidArgument, "0 bytes");
  check_error(13, window.map(slot, 0, (sys::kMaxDeviceMapPages + 1) * kPage), Error::RangeError, "too many pages");
  check_error(14, window.map_at(slot, 0, kPage, 0x0000200000000000ull), Error::RangeError,
              "an address in the placement window");
  check_error(15, window.map_at(slot, 0, kPage, sys::kDeviceWindowLimit), Error::RangeError,
              "an address at the window's end");
  check_error(16, window.map_at(slot, 0, 2 * kPage, sys::kDeviceWindowLimit - kPage), Error::RangeError,
              "a range across the window's end");
  check_error(17, window.map_at(slot, 0, kPage, sys::kDeviceWindowBase + 0x800), Error::AlignmentError,
              "an unaligned address");
  check_error(18, window.map_at(slot, 0, kPage, sys::kProcessWindow), Error::RangeError,
              "the process window (its stack)");
  check_error(19, window.map_at(slot, 0, kPage, 0xFFFF800000000000ull), Error::RangeError, "the kernel's half");
  // A RAM untyped is not device memory: the program's own session cannot hand one out, so a
  // non-untyped capability stands in (refused by the kernel's describe).
  check(20, !window.map(sys::kProcessSlotCNode, 0, kPage).ok(), "a CNode as device memory");
  // The memory server refuses to place anything in the device window.
  auto region = sys::Region::create(d.session, kPage);
  if (check(21, region.ok(), "a region")) {
    check_error(22, region->attach(tessera::memory::kRightRead, sys::kDeviceWindowBase + 0x100000), Error::RangeError,
                "an attachment in the device window");
    (void)region->release();
  }
  // After all that, the untyped still maps.
  const auto ok = window.map(slot, 0, kPage);
  check(23, ok.ok(), "the BAR1 untyped maps");
  if (ok.ok()) check(24, window.unmap(ok.value()).ok(), "and unmaps");
  return failed;
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr || sys::process_memory() == nullptr) {
    sys::print("devdrv: not started by init on a memory server\n");
    return 100;
  }
  sys::SlotAllocator slots(block->empty);
  Driver d{*block, slots, sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode)};
  const char* mode = block->argument;
  if (strcmp(mode, "virtio") == 0) return virtio(d);
  if (strcmp(mode, "config") == 0) return config(d);
  if (strcmp(mode, "irq") == 0) return irq(d);
  if (strcmp(mode, "dma") == 0) return dma(d);
  if (strcmp(mode, "hostile") == 0) return hostile(d);
  sys::print("devdrv: unknown mode %s\n", mode);
  return 101;
}
