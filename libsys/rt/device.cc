// Device support for drivers: port I/O, PCI configuration space, device memory, DMA buffers and
// interrupts (tessera/sys/device.h, docs/drivers.md).
#include <tessera/abi/kernel.capnp.h>
#include <tessera/meta.h>
#include <tessera/string.h>
#include <tessera/sys/device.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/untyped.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;
using capnp::CapRef;
using IoPortClient = abi::IoPort::Client<CallTransport>;

constexpr uint64_t kPage = 4096;

Result<void> delete_cap(CPtr cnode, CPtr slot) {
  CallTransport kernel(ipc_buffer());
  return abi::CNode::Client<CallTransport>(kernel, cnode).delete_(slot, kSlotDepth);
}

// Mechanism #1's address word: enable bit, bus, device, function, dword offset.
uint32_t config_address(PciAddress a, uint16_t offset) {
  return (uint32_t{1} << 31) | (uint32_t{a.bus} << 16) | (uint32_t{a.device} << 11) | (uint32_t{a.function} << 8) |
         (offset & 0xFCu);
}

Result<void> check_access(uint16_t offset, uint8_t width) {
  if (width != 1 && width != 2 && width != 4) return Error::InvalidArgument;
  if (offset >= kPciConfigBytes) return Error::RangeError;
  if ((offset & (width - 1)) != 0) return Error::AlignmentError;
  return {};
}

// One request to init's PCI service (see kPciRequestLabel): the reply's label is the error; its
// words stay in the IPC buffer. With `slot`, a capability the reply carries lands there.
Result<MessageInfo> pci_call(CPtr service, PciOp op, uint64_t a, uint64_t b, uint64_t c, CPtr cnode = 0,
                             CPtr slot = 0) {
  IpcBuffer* buffer = ipc_buffer();
  buffer->msg[0] = static_cast<uint64_t>(op);
  buffer->msg[1] = a;
  buffer->msg[2] = b;
  buffer->msg[3] = c;
  Received reply{};
  Error e = Error::Ok;
  {
    // `slot`, or none at all: a capability never lands in a slot the caller armed for another use.
    const ReceiveFieldsScope armed(buffer, slot != 0 ? ReceiveFields{cnode, slot, kSlotDepth} : ReceiveFields{});
    e = call(service, MessageInfo{kPciRequestLabel, 4, 0, 0}, &reply);
  }
  if (e != Error::Ok) return e;
  const bool received = reply.info.extra_caps > 0 && (reply.info.caps_unwrapped & 1u) == 0;
  if (reply.info.label != 0) {
    if (received) (void)delete_cap(cnode, slot);
    return static_cast<Error>(reply.info.label);
  }
  if (slot != 0 && !received) return Error::MissingCapability;
  return reply.info;
}
}  // namespace

// ---- Port I/O ---------------------------------------------------------------------------------------

Result<uint8_t> IoPorts::in8(uint16_t port) const {
  CallTransport kernel(ipc_buffer());
  return TRY(IoPortClient(kernel, cap_).in8(port)).value();
}
Result<uint16_t> IoPorts::in16(uint16_t port) const {
  CallTransport kernel(ipc_buffer());
  return TRY(IoPortClient(kernel, cap_).in16(port)).value();
}
Result<uint32_t> IoPorts::in32(uint16_t port) const {
  CallTransport kernel(ipc_buffer());
  return TRY(IoPortClient(kernel, cap_).in32(port)).value();
}
Result<void> IoPorts::out8(uint16_t port, uint8_t value) const {
  CallTransport kernel(ipc_buffer());
  return IoPortClient(kernel, cap_).out8(port, value);
}
Result<void> IoPorts::out16(uint16_t port, uint16_t value) const {
  CallTransport kernel(ipc_buffer());
  return IoPortClient(kernel, cap_).out16(port, value);
}
Result<void> IoPorts::out32(uint16_t port, uint32_t value) const {
  CallTransport kernel(ipc_buffer());
  return IoPortClient(kernel, cap_).out32(port, value);
}

// ---- PCI ----------------------------------------------------------------------------------------------

PciBar decode_pci_bar(uint32_t low, uint32_t low_mask, uint32_t high, uint32_t high_mask) {
  PciBar bar;
  if ((low & 1u) != 0) {
    // I/O: bits 1:0 are flags; the size is the lowest address bit that reads back as one.
    const uint32_t mask = low_mask & ~3u;
    if (mask == 0) return bar;
    bar.kind = PciBarKind::Io;
    bar.base = low & ~3u;
    bar.size = mask & (~mask + 1);
    return bar;
  }
  const uint32_t type = (low >> 1) & 3u;  // 0: 32-bit, 2: 64-bit (1 was "below 1 MiB", 3 reserved)
  const bool wide = type == 2;
  uint64_t mask = low_mask & ~0xFu;
  uint64_t base = low & ~0xFu;
  if (wide) {
    mask |= uint64_t{high_mask} << 32;
    base |= uint64_t{high} << 32;
  } else {
    mask |= 0xFFFFFFFF00000000ull;  // a 32-bit BAR's upper bits are fixed zeroes of the address
  }
  if ((mask & 0xFFFFFFFFull) == 0 && (!wide || mask == 0)) return bar;
  bar.kind = wide ? PciBarKind::Memory64 : PciBarKind::Memory32;
  bar.prefetchable = (low & 8u) != 0;
  bar.base = base;
  bar.size = mask & (~mask + 1);
  return bar;
}

Result<uint32_t> PciConfigPorts::read(PciAddress address, uint16_t offset, uint8_t width) const {
  TRY(check_access(offset, width));
  if (address.device > 31 || address.function > 7) return Error::RangeError;
  TRY(ports_.out32(kPciConfigAddressPort, config_address(address, offset)));
  const uint16_t data = static_cast<uint16_t>(kPciConfigDataPort + (offset & 3u));
  switch (width) {
    case 1: return uint32_t{TRY(ports_.in8(data))};
    case 2: return uint32_t{TRY(ports_.in16(data))};
    default: return TRY(ports_.in32(data));
  }
}

Result<void> PciConfigPorts::write(PciAddress address, uint16_t offset, uint8_t width, uint32_t value) const {
  TRY(check_access(offset, width));
  if (address.device > 31 || address.function > 7) return Error::RangeError;
  TRY(ports_.out32(kPciConfigAddressPort, config_address(address, offset)));
  const uint16_t data = static_cast<uint16_t>(kPciConfigDataPort + (offset & 3u));
  switch (width) {
    case 1: return ports_.out8(data, static_cast<uint8_t>(value));
    case 2: return ports_.out16(data, static_cast<uint16_t>(value));
    default: return ports_.out32(data, value);
  }
}

Result<bool> PciConfigPorts::present(PciAddress address) const {
  return TRY(read(address, kPciVendorId, 2)) != 0xFFFF;
}

Result<PciFunctionInfo> PciConfigPorts::describe(PciAddress address) const {
  PciFunctionInfo info;
  info.address = address;
  const uint32_t id = TRY(read(address, kPciVendorId, 4));
  if ((id & 0xFFFF) == 0xFFFF) return Error::EmptySlot;
  info.vendor = static_cast<uint16_t>(id);
  info.device = static_cast<uint16_t>(id >> 16);
  const uint32_t class_word = TRY(read(address, kPciRevision, 4));
  info.revision = static_cast<uint8_t>(class_word);
  info.prog_if = static_cast<uint8_t>(class_word >> 8);
  info.subclass = static_cast<uint8_t>(class_word >> 16);
  info.class_code = static_cast<uint8_t>(class_word >> 24);
  info.header_type = static_cast<uint8_t>(TRY(read(address, kPciHeaderType, 1)) & 0x7F);
  const uint32_t interrupt = TRY(read(address, kPciInterruptLine, 2));
  info.irq_line = static_cast<uint8_t>(interrupt);
  info.irq_pin = static_cast<uint8_t>(interrupt >> 8);
  const uint32_t bar_count = info.header_type == 0 ? kPciBars : info.header_type == 1 ? 2 : 0;
  if (bar_count == 0) return info;
  // Sizing: decoding off so the all-ones pattern never claims addresses on the bus meanwhile.
  const uint32_t command = TRY(read(address, kPciCommand, 2));
  TRY(write(address, kPciCommand, 2, command & ~uint32_t{kPciCommandIo | kPciCommandMemory}));
  Result<void> status;
  for (uint32_t i = 0; i < bar_count && status.ok(); ++i) {
    const uint16_t at = static_cast<uint16_t>(kPciBar0 + 4 * i);
    auto size_register = [&](uint16_t reg, uint32_t* value, uint32_t* mask) -> Result<void> {
      *value = TRY(read(address, reg, 4));
      TRY(write(address, reg, 4, 0xFFFFFFFFu));
      *mask = TRY(read(address, reg, 4));
      return write(address, reg, 4, *value);
    };
    uint32_t low = 0, low_mask = 0, high = 0, high_mask = 0;
    status = size_register(at, &low, &low_mask);
    const bool wide = status.ok() && (low & 1u) == 0 && ((low >> 1) & 3u) == 2 && i + 1 < bar_count;
    if (wide) status = size_register(static_cast<uint16_t>(at + 4), &high, &high_mask);
    if (!status.ok()) break;
    info.bars[i] = decode_pci_bar(low, low_mask, high, high_mask);
    if (wide) ++i;  // the upper half: stays None
  }
  TRY(write(address, kPciCommand, 2, command));
  if (!status.ok()) return status.error();
  return info;
}

Result<uint32_t> PciConfigPorts::enumerate(PciFunctionInfo* out, uint32_t capacity, uint8_t last_bus) const {
  uint32_t found = 0;
  for (uint32_t bus = 0; bus <= last_bus; ++bus) {
    for (uint8_t device = 0; device < 32; ++device) {
      const PciAddress first{static_cast<uint8_t>(bus), device, 0};
      if (!TRY(present(first))) continue;
      const bool multi = (TRY(read(first, kPciHeaderType, 1)) & 0x80u) != 0;
      for (uint8_t function = 0; function < (multi ? 8 : 1); ++function) {
        const PciAddress address{static_cast<uint8_t>(bus), device, function};
        if (!TRY(present(address))) continue;
        if (found < capacity) out[found] = TRY(describe(address));
        ++found;
      }
    }
  }
  return found;
}

bool pci_write_allowed(uint16_t offset, uint8_t width) {
  if (check_access(offset, width).ok() == false) return false;
  const uint16_t end = static_cast<uint16_t>(offset + width);
  auto inside = [&](uint16_t first, uint16_t last_excluded) { return offset >= first && end <= last_excluded; };
  return inside(kPciCommand, kPciRevision) ||          // command, status
         inside(0x0C, 0x0E) ||                          // cache line size, latency timer
         inside(kPciInterruptLine, kPciInterruptPin) || // interrupt line (a note for software)
         inside(0x40, kPciConfigBytes);                 // capabilities: MSI, vendor-specific
}

void pci_info_to_words(const PciFunctionInfo& info, uint64_t words[kPciInfoWords]) {
  words[0] = uint64_t{info.address.bus} | uint64_t{info.address.device} << 8 | uint64_t{info.address.function} << 16 |
             uint64_t{info.header_type} << 24 | uint64_t{info.irq_line} << 32 | uint64_t{info.irq_pin} << 40;
  words[1] = uint64_t{info.vendor} | uint64_t{info.device} << 16 | uint64_t{info.class_code} << 32 |
             uint64_t{info.subclass} << 40 | uint64_t{info.prog_if} << 48 | uint64_t{info.revision} << 56;
  for (uint32_t i = 0; i < kPciBars; ++i) {
    words[2 + 3 * i] = static_cast<uint64_t>(info.bars[i].kind) | uint64_t{info.bars[i].prefetchable} << 8;
    words[3 + 3 * i] = info.bars[i].base;
    words[4 + 3 * i] = info.bars[i].size;
  }
}

PciFunctionInfo pci_info_from_words(const uint64_t words[kPciInfoWords]) {
  PciFunctionInfo info;
  info.address = PciAddress{static_cast<uint8_t>(words[0]), static_cast<uint8_t>(words[0] >> 8),
                            static_cast<uint8_t>(words[0] >> 16)};
  info.header_type = static_cast<uint8_t>(words[0] >> 24);
  info.irq_line = static_cast<uint8_t>(words[0] >> 32);
  info.irq_pin = static_cast<uint8_t>(words[0] >> 40);
  info.vendor = static_cast<uint16_t>(words[1]);
  info.device = static_cast<uint16_t>(words[1] >> 16);
  info.class_code = static_cast<uint8_t>(words[1] >> 32);
  info.subclass = static_cast<uint8_t>(words[1] >> 40);
  info.prog_if = static_cast<uint8_t>(words[1] >> 48);
  info.revision = static_cast<uint8_t>(words[1] >> 56);
  for (uint32_t i = 0; i < kPciBars; ++i) {
    const uint64_t kind = words[2 + 3 * i] & 0xFF;
    info.bars[i].kind = kind <= 3 ? static_cast<PciBarKind>(kind) : PciBarKind::None;
    info.bars[i].prefetchable = ((words[2 + 3 * i] >> 8) & 1) != 0;
    info.bars[i].base = words[3 + 3 * i];
    info.bars[i].size = words[4 + 3 * i];
  }
  return info;
}

Result<PciFunctionInfo> PciDevice::info() const {
  const MessageInfo reply = TRY(pci_call(cap_, PciOp::Info, 0, 0, 0));
  if (reply.length_words < kPciInfoWords) return Error::TruncatedMessage;
  return pci_info_from_words(ipc_buffer()->msg);
}

Result<uint32_t> PciDevice::read(uint16_t offset, uint8_t width) const {
  TRY(check_access(offset, width));
  const MessageInfo reply = TRY(pci_call(cap_, PciOp::Read, offset, width, 0));
  if (reply.length_words < 1) return Error::TruncatedMessage;
  return static_cast<uint32_t>(ipc_buffer()->msg[0]);
}

Result<void> PciDevice::write(uint16_t offset, uint8_t width, uint32_t value) const {
  TRY(pci_call(cap_, PciOp::Write, offset, width, value));
  return {};
}

Result<void> PciDevice::bar_untyped(uint32_t index, CPtr slot, CPtr cnode) const {
  TRY(pci_call(cap_, PciOp::Bar, index, 0, 0, cnode, slot));
  return {};
}

Result<void> PciDevice::irq_handler(CPtr slot, CPtr cnode) const {
  TRY(pci_call(cap_, PciOp::Irq, 0, 0, 0, cnode, slot));
  return {};
}

Result<uint16_t> pci_find_capability(const PciDevice& device, uint8_t id, uint16_t after) {
  if ((TRY(device.read(kPciStatus, 2)) & kPciStatusCapabilities) == 0) return uint16_t{0};
  uint16_t at = static_cast<uint16_t>(
      after == 0 ? TRY(device.read(kPciCapabilities, 1)) & 0xFCu : TRY(device.read(after + 1, 1)) & 0xFCu);
  // The list lives in 0x40..0xFF, four-byte aligned: at most 48 entries, so a loop in a hostile or
  // broken list ends.
  for (uint32_t steps = 0; at >= 0x40 && steps < 48; ++steps) {
    if (TRY(device.read(at, 1)) == id) return at;
    at = static_cast<uint16_t>(TRY(device.read(static_cast<uint16_t>(at + 1), 1)) & 0xFCu);
  }
  return uint16_t{0};
}

// ---- Device memory --------------------------------------------------------------------------------------

Result<DeviceMapping> DeviceSpace::map(CPtr untyped, uint64_t offset, uint64_t bytes) {
  const uint64_t pages = (((offset & (kPage - 1)) + bytes + kPage - 1) / kPage);
  if (bytes == 0) return Error::InvalidArgument;
  if (pages > kMaxDeviceMapPages) return Error::RangeError;
  if (next_ + (pages + 1) * kPage > kDeviceWindowLimit) return Error::NotEnoughMemory;
  DeviceMapping m = TRY(map_at(untyped, offset, bytes, next_));
  next_ += (m.frame_count + 1) * kPage;  // an unmapped page after every mapping
  return m;
}

Result<DeviceMapping> DeviceSpace::map_at(CPtr untyped, uint64_t offset, uint64_t bytes, uint64_t address) {
  if (bytes == 0) return Error::InvalidArgument;
  if ((address & (kPage - 1)) != 0) return Error::AlignmentError;
  if (bytes > uint64_t{kMaxDeviceMapPages} * kPage || offset > (uint64_t{1} << 47)) return Error::RangeError;
  const uint64_t first_page = offset / kPage;
  const uint64_t end_page = (offset + bytes + kPage - 1) / kPage;
  const uint64_t pages = end_page - first_page;
  if (pages > kMaxDeviceMapPages) return Error::RangeError;
  if (address < kDeviceWindowBase || address > kDeviceWindowLimit || kDeviceWindowLimit - address < pages * kPage) {
    return Error::RangeError;
  }
  CallTransport kernel(ipc_buffer());
  abi::Untyped::Client<CallTransport> memory(kernel, untyped);
  const auto d = TRY(memory.describe());
  if (!d.is_device()) return Error::InvalidArgument;
  if (d.size_bits() < 12 || d.size_bits() > 47 || end_page > (uint64_t{1} << (d.size_bits() - 12))) {
    return Error::RangeError;
  }
  const uint64_t paddr = d.paddr();
  const uint64_t watermark_page = (d.watermark() + kPage - 1) / kPage;
  if (watermark_page > first_page) return Error::RevokeFirst;
  // Retype hands out memory from the watermark up: pages below first_page are made only to move
  // past them, and deleted once the wanted ones exist (the watermark stays while those live).
  if (first_page - watermark_page > kMaxDeviceMapPages) return Error::RangeError;
  DeviceMapping m;
  CPtr skipped[kMaxDeviceMapPages] = {};
  uint32_t skipped_count = 0;
  Result<void> status;
  auto make_frame = [&](CPtr* out) -> Result<void> {
    const CPtr slot = TRY(slots_->alloc());
    const Result<void> r = memory.retype(ObjectType::Frame4k, 0, CapRef{cnode_}, 0, 0, slot, 1);
    if (!r.ok()) {
      (void)slots_->free(slot);
      return r.error();
    }
    *out = slot;
    return {};
  };
  for (uint64_t p = watermark_page; p < first_page && status.ok(); ++p) status = make_frame(&skipped[skipped_count++]);
  if (!status.ok()) --skipped_count;
  for (uint64_t p = 0; p < pages && status.ok(); ++p) {
    status = make_frame(&m.frames[m.frame_count]);
    if (!status.ok()) break;
    ++m.frame_count;
    status = map_frame(m.frames[m.frame_count - 1], address + p * kPage);
  }
  for (uint32_t i = 0; i < skipped_count; ++i) {
    (void)delete_cap(cnode_, skipped[i]);
    (void)slots_->free(skipped[i]);
  }
  if (!status.ok()) {
    (void)unmap(m);
    return status.error();
  }
  m.address = reinterpret_cast<volatile uint8_t*>(address + (offset & (kPage - 1)));
  m.bytes = bytes;
  m.physical = paddr + offset;
  return m;
}

Result<void> DeviceSpace::map_frame(CPtr frame, uint64_t address) {
  CallTransport kernel(ipc_buffer());
  abi::Frame::Client<CallTransport> client(kernel, frame);
  constexpr uint8_t kRights = abi::kRightRead | abi::kRightWrite;
  constexpr uint8_t kAttributes = abi::kAttrCacheDisabled | abi::kAttrExecuteNever;
  Result<void> r = client.map(CapRef{vspace_}, address, kRights, kAttributes);
  if (r.ok() || r.error() != Error::FailedLookup) return r;
  // A missing page table: the memory server makes it (and what is missing above it) in this
  // program's space, charged to its session (page-table capabilities cannot be handed out).
  TRY(session_->device_tables(address));
  return client.map(CapRef{vspace_}, address, kRights, kAttributes);
}

Result<DeviceMapping> DeviceSpace::map_bar(const PciDevice& device, uint32_t index) {
  if (index >= kPciBars) return Error::RangeError;
  const PciFunctionInfo info = TRY(device.info());
  const PciBar& bar = info.bars[index];
  if (bar.kind != PciBarKind::Memory32 && bar.kind != PciBarKind::Memory64) return Error::InvalidArgument;
  const CPtr slot = TRY(slots_->alloc());
  auto give_back = [&](Error e, bool filled) -> Result<DeviceMapping> {
    if (filled) (void)delete_cap(cnode_, slot);
    (void)slots_->free(slot);
    return e;
  };
  if (Result<void> r = device.bar_untyped(index, slot, cnode_); !r.ok()) return give_back(r.error(), false);
  CallTransport kernel(ipc_buffer());
  const Result<UntypedDescriptor> d = describe_untyped(kernel, slot);
  if (!d.ok()) return give_back(d.error(), true);
  if (bar.base < d->phys) return give_back(Error::NotSupported, true);
  Result<DeviceMapping> m = map(slot, bar.base - d->phys, bar.size);
  if (!m.ok()) return give_back(m.error(), true);
  m->untyped = slot;
  return m;
}

Result<void> DeviceSpace::unmap(const DeviceMapping& mapping) {
  Result<void> first;
  for (uint32_t i = 0; i < mapping.frame_count; ++i) {
    const Result<void> r = delete_cap(cnode_, mapping.frames[i]);  // unmaps it too
    if (r.ok()) {
      (void)slots_->free(mapping.frames[i]);
    } else if (first.ok()) {
      first = r;
    }
  }
  if (mapping.untyped != 0 && delete_cap(cnode_, mapping.untyped).ok()) (void)slots_->free(mapping.untyped);
  return first;
}

// ---- DMA ---------------------------------------------------------------------------------------------------

Result<DmaBuffer> DmaBuffer::create(MemorySession& session, uint64_t bytes) {
  if (bytes == 0 || bytes > uint64_t{kMaxPages} * kPage) return Error::RangeError;
  DmaBuffer buffer;
  RegionOptions options;
  options.eager = true;  // every frame exists (and keeps its address) from now on
  buffer.region_ = TRY(Region::create(session, bytes, options));
  buffer.pages_ = static_cast<uint32_t>((bytes + kPage - 1) / kPage);
  auto fail = [&](Error e) -> Result<DmaBuffer> {
    (void)buffer.region_.release();
    return e;
  };
  CallTransport kernel(ipc_buffer());
  for (uint32_t page = 0; page < buffer.pages_; ++page) {
    const Result<CPtr> frame = buffer.region_.frame(page);
    if (!frame.ok()) return fail(frame.error());
    // The reply lives in the IPC buffer: read it before the next call.
    const auto address = abi::Frame::Client<CallTransport>(kernel, frame.value()).get_address();
    const Result<uint64_t> paddr = address.ok() ? Result<uint64_t>(address->paddr()) : Result<uint64_t>(address.error());
    (void)delete_cap(session.cnode(), frame.value());
    (void)session.slots()->free(frame.value());
    if (!paddr.ok()) return fail(paddr.error());
    buffer.physical_[page] = paddr.value();
  }
  if (Result<uint8_t*> at = buffer.region_.attach(memory::kRightRead | memory::kRightWrite); !at.ok()) {
    return fail(at.error());
  }
  return buffer;
}

DmaBuffer::DmaBuffer(DmaBuffer&& other) { *this = static_cast<DmaBuffer&&>(other); }

DmaBuffer& DmaBuffer::operator=(DmaBuffer&& other) {
  if (this == &other) return *this;
  region_ = static_cast<Region&&>(other.region_);
  pages_ = other.pages_;
  memcpy(physical_, other.physical_, sizeof(physical_));
  other.pages_ = 0;
  return *this;
}

uint64_t DmaBuffer::physical(uint64_t offset) const {
  if (offset >= uint64_t{pages_} * kPage) return 0;
  return physical_[offset / kPage] + (offset & (kPage - 1));
}

uint32_t DmaBuffer::segments(uint64_t offset, uint64_t length, DmaSegment* out, uint32_t capacity) const {
  const uint64_t end = uint64_t{pages_} * kPage;
  if (length == 0 || offset >= end || end - offset < length) return 0;
  uint32_t count = 0;
  DmaSegment current{physical(offset), 0};
  while (length > 0) {
    const uint64_t piece = min(length, kPage - (offset & (kPage - 1)));
    if (physical(offset) != current.physical + current.bytes) {
      if (count < capacity) out[count] = current;
      ++count;
      current = DmaSegment{physical(offset), 0};
    }
    current.bytes += piece;
    offset += piece;
    length -= piece;
  }
  if (count < capacity) out[count] = current;
  return count + 1;
}

Result<void> DmaBuffer::release() {
  pages_ = 0;
  return region_.release();
}

// ---- Interrupts ------------------------------------------------------------------------------------------

Result<Interrupt> Interrupt::create(MemorySession& session, CPtr handler) {
  if (session.slots() == nullptr) return Error::NotEnoughMemory;
  const MemorySession::Object notification = TRY(session.create_object(ObjectType::Notification));
  // The handler signals a badged copy, so the word says "it fired" (an unbadged signal ORs in 0,
  // which poll() could not tell from none: docs/ipc.md).
  CallTransport kernel(ipc_buffer());
  Result<CPtr> badged = session.slots()->alloc();
  Result<void> r = badged.ok() ? Result<void>() : Result<void>(badged.error());
  if (r.ok()) {
    r = abi::CNode::Client<CallTransport>(kernel, session.cnode())
            .mint(*badged, kSlotDepth, CapRef{session.cnode()}, notification.cap, kSlotDepth, abi::kRightWrite, 1);
    if (!r.ok()) (void)session.slots()->free(*badged);
  }
  Result<Interrupt> bound = r.ok() ? bind(handler, *badged) : Result<Interrupt>(r.error());
  if (!bound.ok()) {
    if (r.ok()) {
      (void)delete_cap(session.cnode(), *badged);
      (void)session.slots()->free(*badged);
    }
    (void)session.delete_object(notification.id);
    (void)session.slots()->free(notification.cap);
    return bound.error();
  }
  bound->notification_ = notification.cap;  // waited on; the handler holds the badged copy
  bound->badged_ = *badged;
  bound->session_ = &session;
  bound->object_id_ = notification.id;
  return bound;
}

Result<Interrupt> Interrupt::bind(CPtr handler, CPtr notification) {
  CallTransport kernel(ipc_buffer());
  TRY(abi::IrqHandler::Client<CallTransport>(kernel, handler).set_notification(CapRef{notification}));
  Interrupt interrupt;
  interrupt.handler_ = handler;
  interrupt.notification_ = notification;
  return interrupt;
}

Result<void> Interrupt::wait(uint64_t* word) const {
  uint64_t value = 0;
  if (const Error e = sys::wait(notification_, &value); e != Error::Ok) return e;
  if (word != nullptr) *word = value;
  return {};
}

Result<bool> Interrupt::poll() const {
  uint64_t value = 0;
  if (const Error e = sys::poll(notification_, &value); e != Error::Ok) return e;
  return value != 0;
}

Result<void> Interrupt::ack() const {
  CallTransport kernel(ipc_buffer());
  return abi::IrqHandler::Client<CallTransport>(kernel, handler_).ack();
}

Result<void> Interrupt::close() {
  CallTransport kernel(ipc_buffer());
  Result<void> r = abi::IrqHandler::Client<CallTransport>(kernel, handler_).clear();
  if (session_ != nullptr) {
    if (delete_cap(session_->cnode(), badged_).ok() && session_->slots() != nullptr) (void)session_->slots()->free(badged_);
    const Result<void> d = session_->delete_object(object_id_);
    if (d.ok() && session_->slots() != nullptr) (void)session_->slots()->free(notification_);
    if (r.ok()) r = d;
  }
  handler_ = notification_ = badged_ = 0;
  session_ = nullptr;
  return r;
}

}  // namespace tessera::sys
