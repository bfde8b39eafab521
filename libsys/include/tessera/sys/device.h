// Device support for user-space drivers (docs/drivers.md): port I/O over IOPort capabilities, PCI
// configuration space, device memory mapped uncached into a window of the driver's own address
// space, DMA buffers with known physical addresses, and interrupts delivered to notifications.
//
// A driver is a program init starts like any other; boot/system.conf grants it its hardware:
//
//   irq:NAME      an IRQHandler capability for one IOAPIC line             -> Interrupt
//   ioports:NAME  an IOPort capability for a range of ports                -> IoPorts
//   pci:NAME      its PCI function: a capability to init's PCI service for  -> PciDevice
//                 that function only (configuration space, the device
//                 untyped of each memory BAR, the IRQHandler of its INTx line)
//
//   auto grant = TRY(sys::find_grant(*block, "pci:blk"));
//   sys::PciDevice blk(grant);
//   const sys::PciFunctionInfo info = TRY(blk.info());
//   sys::DeviceSpace window(*sys::process_memory(), slots, block->vspace);
//   volatile uint8_t* regs = TRY(window.map_bar(blk, 4, slots));   // uncached, in the device window
//
// Only init holds IRQControl, IOPortControl, the PCI configuration ports (0xCF8-0xCFF) and the
// device untypeds; the memory server never gets device memory. Every call uses the calling
// thread's IPC buffer.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace tessera::sys {

// ---- Port I/O ---------------------------------------------------------------------------------

// An IOPort capability (IOPortControl.issue made it for ports first..last; the kernel refuses any
// port outside that range with RangeError).
class IoPorts {
 public:
  constexpr IoPorts() = default;
  explicit constexpr IoPorts(CPtr cap) : cap_(cap) {}

  Result<uint8_t> in8(uint16_t port) const;
  Result<uint16_t> in16(uint16_t port) const;
  Result<uint32_t> in32(uint16_t port) const;
  Result<void> out8(uint16_t port, uint8_t value) const;
  Result<void> out16(uint16_t port, uint16_t value) const;
  Result<void> out32(uint16_t port, uint32_t value) const;
  CPtr cap() const { return cap_; }

 private:
  CPtr cap_ = 0;
};

// ---- PCI ----------------------------------------------------------------------------------------

struct PciAddress {
  uint8_t bus = 0;
  uint8_t device = 0;    // 0..31
  uint8_t function = 0;  // 0..7
  bool operator==(const PciAddress& o) const { return bus == o.bus && device == o.device && function == o.function; }
};

enum class PciBarKind : uint8_t { None = 0, Io = 1, Memory32 = 2, Memory64 = 3 };

// One base address register, decoded and sized. A 64-bit BAR takes two registers: it is described
// at its first index, and the next index reads as None.
struct PciBar {
  PciBarKind kind = PciBarKind::None;
  bool prefetchable = false;
  uint64_t base = 0;  // physical address (memory) or first port (I/O)
  uint64_t size = 0;  // bytes (a power of two), 0 when unimplemented
};

constexpr uint32_t kPciBars = 6;
constexpr uint16_t kPciConfigBytes = 256;  // the conventional space (mechanism #1 reaches no more)
constexpr uint16_t kPciConfigAddressPort = 0xCF8;
constexpr uint16_t kPciConfigDataPort = 0xCFC;
constexpr uint16_t kPciConfigLastPort = 0xCFF;

// Configuration-space offsets drivers use.
enum PciConfigOffset : uint16_t {
  kPciVendorId = 0x00, kPciDeviceId = 0x02, kPciCommand = 0x04, kPciStatus = 0x06, kPciRevision = 0x08,
  kPciProgIf = 0x09, kPciSubclass = 0x0A, kPciClass = 0x0B, kPciHeaderType = 0x0E, kPciBar0 = 0x10,
  kPciCapabilities = 0x34, kPciInterruptLine = 0x3C, kPciInterruptPin = 0x3D,
};
constexpr uint16_t kPciCommandIo = 1 << 0, kPciCommandMemory = 1 << 1, kPciCommandBusMaster = 1 << 2,
                   kPciCommandIntxDisable = 1 << 10;
constexpr uint16_t kPciStatusCapabilities = 1 << 4;

struct PciFunctionInfo {
  PciAddress address;
  uint16_t vendor = 0, device = 0;
  uint8_t class_code = 0, subclass = 0, prog_if = 0, revision = 0;
  uint8_t header_type = 0;  // without the multi-function bit
  uint8_t irq_line = 0xFF;  // as the firmware routed it (0xFF: none)
  uint8_t irq_pin = 0;      // 0: no INTx pin, 1..4: INTA..INTD
  PciBar bars[kPciBars];    // type 0 headers only (bridges: the first two)
};

// Decodes BAR `index` of a type-0 header from its register values (`low`, and `high` for the upper
// half of a 64-bit BAR) and what reads back after writing all ones (`low_mask`, `high_mask`).
// Pure logic; PciConfigPorts::describe feeds it.
PciBar decode_pci_bar(uint32_t low, uint32_t low_mask, uint32_t high, uint32_t high_mask);

// Configuration mechanism #1 through an IOPort capability for 0xCF8-0xCFF: every function of
// every bus. That is all of PCI, so only init holds it; a driver gets one function (PciDevice).
class PciConfigPorts {
 public:
  constexpr PciConfigPorts() = default;
  explicit constexpr PciConfigPorts(CPtr io_port) : ports_(io_port) {}

  // `width` 1, 2 or 4 bytes at `offset` (aligned to the width, below kPciConfigBytes):
  // InvalidArgument for another width, AlignmentError, RangeError; device 0..31, function 0..7.
  Result<uint32_t> read(PciAddress address, uint16_t offset, uint8_t width) const;
  Result<void> write(PciAddress address, uint16_t offset, uint8_t width, uint32_t value) const;
  // Whether a function answers there (vendor id not 0xFFFF).
  Result<bool> present(PciAddress address) const;
  // The function's identity, interrupt routing and BARs. Sizing a BAR writes all ones to it and
  // restores it, with I/O and memory decoding off meanwhile (then restored too).
  Result<PciFunctionInfo> describe(PciAddress address) const;
  // Every function on buses 0..last_bus (multi-function devices: all eight functions), described,
  // into out[0..capacity); returns how many there are (may exceed capacity: the rest are counted,
  // not stored).
  Result<uint32_t> enumerate(PciFunctionInfo* out, uint32_t capacity, uint8_t last_bus = 0) const;

 private:
  IoPorts ports_;
};

// The protocol of init's PCI service (a `pci:NAME` grant is an endpoint capability to it, badged
// with the function it names). A request is a Call with label kPciRequestLabel and words
// {op, offset or index, width, value}; the reply's label is the Error (0: Ok) and its words the
// result. Raw words like the EXIT message, so init serves it without a protocol stack.
constexpr uint64_t kPciRequestLabel = 0x50434921;  // "PCI!"
enum class PciOp : uint64_t {
  Info = 1,       // -> PciFunctionInfo, packed (see rt/device.cc)
  Read = 2,       // {offset, width} -> {value}
  Write = 3,      // {offset, width, value}
  Bar = 4,        // {index} -> the device untyped covering the BAR, in the receive slot
  Irq = 5,        // -> the IRQHandler of the function's INTx line, in the receive slot
};
// Writes a driver may make: the command and status registers, cache line size, latency timer,
// the interrupt line byte, and the capability area (0x40-0xFF: MSI, vendor capabilities such as
// virtio's). Base address registers, the header type, the ROM BAR and the rest are init's
// (IllegalOperation): a driver that could move its BARs could cover another device's memory.
bool pci_write_allowed(uint16_t offset, uint8_t width);
// The Info reply's words: a PciFunctionInfo packed (init) and unpacked (PciDevice::info).
constexpr uint32_t kPciInfoWords = 2 + 3 * kPciBars;
void pci_info_to_words(const PciFunctionInfo& info, uint64_t words[kPciInfoWords]);
PciFunctionInfo pci_info_from_words(const uint64_t words[kPciInfoWords]);

// A PCI function init granted (pci:NAME): its configuration space and its BARs, nothing else.
class PciDevice {
 public:
  constexpr PciDevice() = default;
  explicit constexpr PciDevice(CPtr grant) : cap_(grant) {}

  Result<PciFunctionInfo> info() const;
  // As PciConfigPorts::read/write, for this function only; writes outside pci_write_allowed are
  // IllegalOperation.
  Result<uint32_t> read(uint16_t offset, uint8_t width) const;
  Result<void> write(uint16_t offset, uint8_t width, uint32_t value) const;
  // The device untyped covering memory BAR `index` (at least one page: a smaller BAR comes with
  // the rest of its page) into `slot`, an empty slot of `cnode` (this program's CNode). RangeError
  // for an index past 5, InvalidArgument for an I/O or unimplemented BAR, NotSupported for a BAR
  // init could not cover (outside the device memory it holds), MissingCapability while another
  // holder has it (an untyped is lent to one holder at a time: a copy of it, gone with the holder).
  Result<void> bar_untyped(uint32_t index, CPtr slot, CPtr cnode = kProcessSlotCNode) const;
  // The IRQHandler of its INTx line (level-triggered, as QEMU's PCI links are) into `slot`.
  // EmptySlot when the function has no interrupt pin or no routed line.
  Result<void> irq_handler(CPtr slot, CPtr cnode = kProcessSlotCNode) const;
  CPtr cap() const { return cap_; }

 private:
  CPtr cap_ = 0;
};

// Finds the capability of PCI capability `id` in the list of `device` (0: none), starting after
// `after` (0: from the start) — e.g. virtio's vendor capabilities (id 0x09), one after another.
Result<uint16_t> pci_find_capability(const PciDevice& device, uint8_t id, uint16_t after = 0);

// ---- Device memory ------------------------------------------------------------------------------

// Where a driver maps device memory in its own address space: apart from everything the memory
// server places (memory::placementBase..placementLimit, the heap, the process window); the server
// refuses attachments here (docs/memory.md), so the two never share a page table.
constexpr uint64_t kDeviceWindowBase = memory::kDeviceWindowBase;
constexpr uint64_t kDeviceWindowLimit = memory::kDeviceWindowLimit;
// The most 4 KiB pages one map() makes (each frame takes a slot of the program's CNode).
constexpr uint32_t kMaxDeviceMapPages = 32;

// One mapping of device memory: uncached, read/write, never executable. `address` points at the
// first byte asked for (page offset included); the frames' slots are the caller's until unmap().
struct DeviceMapping {
  volatile uint8_t* address = nullptr;
  uint64_t bytes = 0;     // as asked for
  uint64_t physical = 0;  // of address
  CPtr frames[kMaxDeviceMapPages] = {};
  uint32_t frame_count = 0;
  CPtr untyped = 0;       // map_bar: the BAR's untyped (deleted by unmap); 0: the caller's
};

// The device window of this program: frames retyped from device untypeds the program holds, mapped
// by the program itself; the page tables they need are made by its memory session
// (Session.deviceTables: charged to its quota like every page table, gone with the session).
class DeviceSpace {
 public:
  // `vspace`: the program's PML4 (StartupBlock::vspace); frame slots come from `slots` (of
  // `cnode`, the program's CNode).
  DeviceSpace(MemorySession& session, SlotAllocator& slots, CPtr vspace, CPtr cnode = kProcessSlotCNode)
      : session_(&session), slots_(&slots), vspace_(vspace), cnode_(cnode) {}

  // Retypes the device untyped `untyped` into 4 KiB frames covering [offset, offset + bytes)
  // of it (page-rounded; retype allocates from the untyped's watermark, so pages below `offset`
  // not yet used are made and deleted again, and a range below the watermark is RevokeFirst),
  // and maps them
  // at the next free place of the window (with an unmapped page after). InvalidArgument for an
  // untyped that is not device memory or bytes 0, RangeError for a range past the untyped's end
  // or more than kMaxDeviceMapPages pages, NotEnoughMemory when the window or slots run out.
  Result<DeviceMapping> map(CPtr untyped, uint64_t offset, uint64_t bytes);
  // The same at `address` (page-aligned; RangeError unless the whole range lies in the window).
  Result<DeviceMapping> map_at(CPtr untyped, uint64_t offset, uint64_t bytes, uint64_t address);
  // BAR `index` of `device`, whole: its untyped into a fresh slot, mapped; the returned address
  // points at the BAR's first byte.
  Result<DeviceMapping> map_bar(const PciDevice& device, uint32_t index);
  // Unmaps and deletes the frames of `mapping` (its untyped can be retyped again once every
  // frame made from it is gone) and, after map_bar, the BAR's untyped.
  Result<void> unmap(const DeviceMapping& mapping);

 private:
  Result<void> map_frame(CPtr frame, uint64_t address);

  MemorySession* session_;
  SlotAllocator* slots_;
  CPtr vspace_;
  CPtr cnode_;
  uint64_t next_ = kDeviceWindowBase;
};

// ---- DMA ------------------------------------------------------------------------------------------

// Memory a device reads and writes by physical address: an eager region of 4 KiB pages of the
// program's session (the server never moves or swaps a backed page), attached read/write, with
// the physical address of every page (Session.frame + Frame.getAddress). Pages are contiguous in
// the program's view, not necessarily in physical memory: give the device one descriptor per page
// (segments()), or use buffers of one page.
struct DmaSegment {
  uint64_t physical;
  uint64_t bytes;
};
class DmaBuffer {
 public:
  static constexpr uint32_t kMaxPages = 256;

  // OutOfMemory beyond the quota, RangeError for 0 or more than kMaxPages pages.
  static Result<DmaBuffer> create(MemorySession& session, uint64_t bytes);
  DmaBuffer() = default;
  DmaBuffer(DmaBuffer&& other);
  DmaBuffer& operator=(DmaBuffer&& other);
  DmaBuffer(const DmaBuffer&) = delete;
  DmaBuffer& operator=(const DmaBuffer&) = delete;
  ~DmaBuffer() = default;  // never lets go implicitly (static tables): release()

  uint8_t* address() const { return region_.address(); }
  uint64_t bytes() const { return region_.bytes(); }
  uint32_t pages() const { return pages_; }
  // The physical address of byte `offset` (0 past the end).
  uint64_t physical(uint64_t offset) const;
  // [offset, offset + length) as physically contiguous pieces, at most one per page boundary
  // crossed (neighbouring pages that happen to be adjacent are merged); returns how many pieces
  // there are (only the first `capacity` stored). 0 for a range past the end.
  uint32_t segments(uint64_t offset, uint64_t length, DmaSegment* out, uint32_t capacity) const;
  // The region, e.g. to share it with a client (Region::share).
  Region& region() { return region_; }
  // Ends this program's hold on the memory (the device must be done with it).
  Result<void> release();

 private:
  Region region_;
  uint32_t pages_ = 0;
  uint64_t physical_[kMaxPages] = {};
};

// ---- Interrupts ------------------------------------------------------------------------------------

// An IRQHandler capability bound to a notification: the kernel masks the line when it fires and
// signals the notification; the driver waits, handles the device, then acks (unmasking it).
class Interrupt {
 public:
  // Binds `handler` to a new notification from `session` (Session.createObject; its slot and a
  // badged copy's, which the handler signals, come from the session's allocator) and unmasks the
  // line.
  static Result<Interrupt> create(MemorySession& session, CPtr handler);
  // Binds `handler` to the notification `notification` the caller owns (e.g. one its thread waits
  // on for several sources: give each handler a badged copy).
  static Result<Interrupt> bind(CPtr handler, CPtr notification);
  Interrupt() = default;

  // Waits for the interrupt (the notification's word, or'd badges, in *word when not null).
  Result<void> wait(uint64_t* word = nullptr) const;
  // Whether it fired since the last wait/poll, without blocking.
  Result<bool> poll() const;
  // Unmasks the line again: call once the device no longer asserts it (level) or after handling.
  Result<void> ack() const;
  // Unbinds (masking the line) and deletes the notification if create() made it.
  Result<void> close();
  CPtr handler() const { return handler_; }
  CPtr notification() const { return notification_; }

 private:
  CPtr handler_ = 0;
  CPtr notification_ = 0;
  CPtr badged_ = 0;                   // create(): the badged copy the handler signals
  MemorySession* session_ = nullptr;  // set when create() made the notification
  uint64_t object_id_ = 0;
};

}  // namespace tessera::sys
