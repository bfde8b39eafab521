// blk: the virtio-blk driver (docs/drivers.md, protocol abi/block.capnp). Started by init with
// its disk granted as pci:disk and its endpoint as endpoint:blk (read + grant: replies carry
// capabilities).
//
// One thread does everything. Its notification is bound to its TCB, so the endpoint's Recv also
// returns when the disk interrupts or a client signals: such a wake-up has label 0, no words and
// the notification word as its badge (bits kIrqBadge and kClientBadge << i, above every endpoint
// badge init hands out). Control requests (connect, status, ...) are Cap'n Proto calls through the
// generated dispatcher; the data plane is a ring pair per client (<tessera/ring.h>) in a DMA buffer
// the driver owns and shares with that client read/write, so the device reads and writes the
// client's payload in place (its physical addresses are the driver's, known at creation).
//
// The device: virtio 1.x modern interface in BAR4 (common, notify, ISR and device configuration),
// VERSION_1 and FLUSH negotiated, one split virtqueue of up to 256 descriptors with up to
// kMaxInFlight requests on it (header, data pages, status byte each), INTx on a shared line
// (the ISR byte is read before the line is acked).
//
// Nothing a client writes is trusted: descriptors are checked copies (RingConsumer), offsets and
// lengths must lie in the data area, opcodes and sizes are checked, a ring whose index jumps is
// dropped; a client that does not consume completions only stops its own requests (its
// completions wait in a private queue that can never overflow: a client never has more
// requests taken than its ring has slots).
#include <stdint.h>

#include <tessera/abi/block.capnp.h>
#include <tessera/abi/kernel.capnp.h>
#include <tessera/ring.h>
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/device.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/ring.h>
#include <tessera/sys/server.h>

#include "virtio.h"

namespace {
namespace sys = tessera::sys;
namespace vio = blk::virtio;
namespace proto = tessera::block;
using tessera::Error;
using tessera::Result;
using tessera::RingDescriptor;
using tessera::capnp::CapRef;
using sys::CPtr;

constexpr uint64_t kPage = 4096;
// Per client: a ring pair of kSlots descriptors and a data area, one DMA buffer of kAreaPages.
constexpr uint32_t kMaxClients = proto::kMaxRingPairs;  // ring pairs, all clients' channels together
constexpr uint32_t kSlots = 64;
constexpr uint32_t kAreaPages = 64;
constexpr tessera::RingPairLayout kLayout =
    tessera::ring_pair_layout(kSlots, kAreaPages * kPage - tessera::ring_pair_layout(kSlots, 0).data_offset);
// A channel whose data area is a region of its own (connect's dataBytes): the rings alone.
constexpr tessera::RingPairLayout kRingsOnly = tessera::ring_pair_layout(kSlots, 0);
static_assert(proto::kMaxDataBytes <= uint64_t{sys::DmaBuffer::kMaxPages} * kPage);
static_assert(kAreaPages <= sys::DmaBuffer::kMaxPages);
constexpr uint32_t kMaxTransfer = 64 * 1024;
constexpr uint32_t kSector = proto::kSectorBytes;
// The virtqueue: at most kQueueSize descriptors, kMaxInFlight requests, each at most
// kMaxSegments data pieces (a 64 KiB transfer not page-aligned touches 17 pages).
constexpr uint16_t kQueueSize = vio::kMaxQueueSize;
constexpr uint32_t kMaxInFlight = 64;
constexpr uint32_t kMaxSegments = kMaxTransfer / kPage + 1;
// Badges of the bound notification: above every endpoint badge (init's are below 2^48).
constexpr uint64_t kIrqBadge = 1ull << 63;
constexpr uint64_t kClientBadge = 1ull << 48;
constexpr uint64_t kNotificationBadges = kIrqBadge | (((1ull << kMaxClients) - 1) * kClientBadge);
static_assert(kMaxClients <= 15);

// ---- Device registers ---------------------------------------------------------------------------

uint8_t r8(volatile uint8_t* p) { return *p; }
uint16_t r16(volatile uint8_t* p) { return *reinterpret_cast<volatile uint16_t*>(p); }
uint32_t r32(volatile uint8_t* p) { return *reinterpret_cast<volatile uint32_t*>(p); }
void w8(volatile uint8_t* p, uint8_t v) { *p = v; }
void w16(volatile uint8_t* p, uint16_t v) { *reinterpret_cast<volatile uint16_t*>(p) = v; }
void w32(volatile uint8_t* p, uint32_t v) { *reinterpret_cast<volatile uint32_t*>(p) = v; }
void w64(volatile uint8_t* p, uint64_t v) {
  w32(p, static_cast<uint32_t>(v));
  w32(p + 4, static_cast<uint32_t>(v >> 32));
}

struct VirtioCap {
  uint8_t bar = 0;
  uint32_t offset = 0;
  uint32_t multiplier = 0;  // notify only
  bool found = false;
};

Result<VirtioCap> find_cap(const sys::PciDevice& pci, uint8_t type) {
  VirtioCap out;
  uint16_t at = 0;
  for (int n = 0; n < 32; ++n) {
    at = TRY(sys::pci_find_capability(pci, vio::kPciCapVendor, at));
    if (at == 0) break;
    if (TRY(pci.read(static_cast<uint16_t>(at + 3), 1)) != type) continue;
    out.bar = static_cast<uint8_t>(TRY(pci.read(static_cast<uint16_t>(at + 4), 1)));
    out.offset = TRY(pci.read(static_cast<uint16_t>(at + 8), 4));
    if (type == vio::kNotifyCfg) out.multiplier = TRY(pci.read(static_cast<uint16_t>(at + 16), 4));
    out.found = true;
    return out;
  }
  return Error::NotSupported;
}

// ---- State ------------------------------------------------------------------------------------------

enum class ClientState : uint8_t { Free, Active, Closing };

struct Client {
  ClientState state = ClientState::Free;
  uint64_t badge = 0;           // the endpoint badge it connected with
  uint8_t channel = 0;          // and the channel (a client may have several ring pairs)
  sys::DmaBuffer area;          // rings + data area (the driver's; shared read/write)
  sys::Region shared;           // the client's capability to it (kept to hand out again)
  sys::DmaBuffer own_data;      // the data area when it is a region of its own (else empty)
  sys::Region own_shared;       // the client's capability to that (dataArea)
  sys::RingConsumer requests;
  sys::RingProducer completions;
  sys::DataArea data;
  sys::MemorySession::Object note{0, 0};  // the notification the client waits on
  CPtr note_read = 0;           // its read-only copy for the client
  CPtr wake = 0;                // the client's badged copy of the driver's notification
  uint32_t in_flight = 0;       // on the device
  RingDescriptor held[kSlots];  // completions the completion ring had no room for, in order
  uint32_t held_first = 0, held_count = 0;
};

struct Pending {
  bool used = false;
  uint8_t client = 0;
  uint16_t head = 0;
  uint16_t descriptors = 0;
  RingDescriptor request{};
};

struct Counters {
  uint64_t requests = 0, errors = 0, refused = 0, interrupts = 0, signals_in = 0, signals_out = 0, doorbells = 0;
  uint32_t peak_in_flight = 0;
  // The data path's cost (Block.status workTicks, systemCallTicks): TSC ticks from a wake-up to
  // the next wait, and of them those inside system calls.
  uint64_t work_ticks = 0, syscall_ticks = 0;
};

struct Driver {
  const sys::StartupBlock* block = nullptr;
  sys::SlotAllocator* slots = nullptr;
  sys::MemorySession session;
  bool test_mode = false;
  uint64_t generation = 0;
  // Device.
  volatile uint8_t* common = nullptr;
  volatile uint8_t* isr = nullptr;
  volatile uint8_t* device_cfg = nullptr;
  volatile uint8_t* doorbell = nullptr;
  uint64_t capacity = 0;  // sectors
  bool has_flush = false, read_only = false;
  sys::Interrupt irq;
  CPtr notification = 0;  // bound to this thread
  // Virtqueue: page 0 descriptors, 1 available ring, 2 used ring, 3 headers and status bytes.
  sys::DmaBuffer queue;
  vio::Descriptor* desc = nullptr;
  vio::Available* avail = nullptr;
  vio::Used* used = nullptr;
  vio::BlkHeader* headers = nullptr;  // one per Pending
  volatile uint8_t* statuses = nullptr;
  uint16_t size = 0;
  uint16_t free_head = 0, free_count = 0;
  uint16_t chain_next[kQueueSize] = {};  // private copy of each descriptor's next
  uint8_t owner[kQueueSize] = {};         // head descriptor -> Pending index + 1 (0: none)
  uint16_t avail_index = 0, used_seen = 0;
  bool kick = false;
  Pending pending[kMaxInFlight];
  uint32_t pending_count = 0;
  Client clients[kMaxClients];
  Counters counters;
};

// The driver's state (one, made on first use: its members are not constant-initialisable).
Driver& state() {
  static Driver d;
  return d;
}

// ---- The device -------------------------------------------------------------------------------------

Result<void> start_device(const sys::PciDevice& pci, sys::DeviceSpace& window) {
  const uint32_t command = TRY(pci.read(sys::kPciCommand, 2));
  TRY(pci.write(sys::kPciCommand, 2, command | sys::kPciCommandMemory | sys::kPciCommandBusMaster));
  const VirtioCap common = TRY(find_cap(pci, vio::kCommonCfg));
  const VirtioCap notify = TRY(find_cap(pci, vio::kNotifyCfg));
  const VirtioCap isr = TRY(find_cap(pci, vio::kIsrCfg));
  const VirtioCap device = TRY(find_cap(pci, vio::kDeviceCfg));
  if (common.bar != notify.bar || common.bar != isr.bar || common.bar != device.bar) return Error::NotSupported;
  const sys::DeviceMapping bar = TRY(window.map_bar(pci, common.bar));
  if (common.offset >= bar.bytes || notify.offset >= bar.bytes || isr.offset >= bar.bytes ||
      device.offset >= bar.bytes) {
    return Error::RangeError;
  }
  Driver& d = state();
  d.common = bar.address + common.offset;
  d.isr = bar.address + isr.offset;
  d.device_cfg = bar.address + device.offset;
  // Reset (a predecessor may have left requests on the device), then the start-up sequence.
  w8(d.common + vio::kDeviceStatus, 0);
  for (int i = 0; i < 1000000 && r8(d.common + vio::kDeviceStatus) != 0; ++i) {
  }
  if (r8(d.common + vio::kDeviceStatus) != 0) return Error::Busy;
  w8(d.common + vio::kDeviceStatus, vio::kStatusAcknowledge);
  w8(d.common + vio::kDeviceStatus, vio::kStatusAcknowledge | vio::kStatusDriver);
  w32(d.common + vio::kDeviceFeatureSelect, 0);
  uint64_t offered = r32(d.common + vio::kDeviceFeature);
  w32(d.common + vio::kDeviceFeatureSelect, 1);
  offered |= uint64_t{r32(d.common + vio::kDeviceFeature)} << 32;
  if ((offered & vio::kVersion1) == 0) return Error::NotSupported;
  const uint64_t wanted = offered & (vio::kVersion1 | vio::kBlkFlush | vio::kBlkReadOnly | vio::kBlkBlockSize);
  w32(d.common + vio::kDriverFeatureSelect, 0);
  w32(d.common + vio::kDriverFeature, static_cast<uint32_t>(wanted));
  w32(d.common + vio::kDriverFeatureSelect, 1);
  w32(d.common + vio::kDriverFeature, static_cast<uint32_t>(wanted >> 32));
  const uint8_t base = vio::kStatusAcknowledge | vio::kStatusDriver;
  w8(d.common + vio::kDeviceStatus, base | vio::kStatusFeaturesOk);
  if ((r8(d.common + vio::kDeviceStatus) & vio::kStatusFeaturesOk) == 0) {
    w8(d.common + vio::kDeviceStatus, vio::kStatusFailed);
    return Error::NotSupported;
  }
  d.has_flush = (wanted & vio::kBlkFlush) != 0;
  d.read_only = (wanted & vio::kBlkReadOnly) != 0;
  // Capacity: read until the configuration generation is stable across the two halves.
  for (int i = 0; i < 8; ++i) {
    const uint8_t before = r8(d.common + vio::kConfigGeneration);
    d.capacity = r32(d.device_cfg + vio::kBlkCapacity) | uint64_t{r32(d.device_cfg + vio::kBlkCapacity + 4)} << 32;
    if (r8(d.common + vio::kConfigGeneration) == before) break;
  }
  if ((wanted & vio::kBlkBlockSize) != 0 && r32(d.device_cfg + vio::kBlkBlockSizeAt) != kSector) {
    sys::print("blk: logical block size %u, only 512 is supported\n", r32(d.device_cfg + vio::kBlkBlockSizeAt));
  }
  // Queue 0.
  w16(d.common + vio::kQueueSelect, 0);
  const uint16_t offered_size = r16(d.common + vio::kQueueSize);
  if (offered_size == 0) return Error::NotSupported;
  d.size = offered_size < kQueueSize ? offered_size : kQueueSize;
  if ((d.size & (d.size - 1)) != 0) return Error::NotSupported;
  w16(d.common + vio::kQueueSize, d.size);
  d.queue = TRY(sys::DmaBuffer::create(d.session, 4 * kPage));
  uint8_t* q = d.queue.address();
  d.desc = reinterpret_cast<vio::Descriptor*>(q);
  d.avail = reinterpret_cast<vio::Available*>(q + kPage);
  d.used = reinterpret_cast<vio::Used*>(q + 2 * kPage);
  d.headers = reinterpret_cast<vio::BlkHeader*>(q + 3 * kPage);
  d.statuses = q + 3 * kPage + 2048;
  static_assert(kMaxInFlight * sizeof(vio::BlkHeader) <= 2048 && kMaxInFlight <= 2048);
  for (uint16_t i = 0; i < d.size; ++i) d.chain_next[i] = static_cast<uint16_t>(i + 1);
  d.free_head = 0;
  d.free_count = d.size;
  w64(d.common + vio::kQueueDesc, d.queue.physical(0));
  w64(d.common + vio::kQueueDriver, d.queue.physical(kPage));
  w64(d.common + vio::kQueueDevice, d.queue.physical(2 * kPage));
  const uint16_t notify_off = r16(d.common + vio::kQueueNotifyOff);
  const uint64_t doorbell = notify.offset + uint64_t{notify_off} * notify.multiplier;
  if (doorbell + 2 > bar.bytes) return Error::RangeError;
  d.doorbell = bar.address + doorbell;
  w16(d.common + vio::kQueueEnable, 1);
  w8(d.common + vio::kDeviceStatus, base | vio::kStatusFeaturesOk | vio::kStatusDriverOk);
  return {};
}

// Takes `count` descriptors off the free list, chained in order; returns the head.
uint16_t take_descriptors(uint16_t count) {
  Driver& d = state();
  const uint16_t head = d.free_head;
  uint16_t at = head;
  for (uint16_t i = 1; i < count; ++i) at = d.chain_next[at];
  d.free_head = d.chain_next[at];
  d.free_count = static_cast<uint16_t>(d.free_count - count);
  return head;
}

void give_descriptors(uint16_t head, uint16_t count) {
  Driver& d = state();
  uint16_t at = head;
  for (uint16_t i = 1; i < count; ++i) at = d.chain_next[at];
  d.chain_next[at] = d.free_head;
  d.free_head = head;
  d.free_count = static_cast<uint16_t>(d.free_count + count);
}

// ---- Clients ------------------------------------------------------------------------------------

void signal_client(Client& c) {
  if (c.note.cap == 0) return;
  const uint64_t start = sys::rdtsc();
  if (sys::signal(c.note.cap) == Error::Ok) ++state().counters.signals_out;
  state().counters.syscall_ticks += sys::rdtsc() - start;
}

Result<void> delete_slot(CPtr slot) {
  if (slot == 0) return {};
  sys::CallTransport kernel(sys::ipc_buffer());
  const Result<void> r = tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode).delete_(slot, sys::kSlotDepth);
  (void)state().slots->free(slot);
  return r;
}

// Everything of a client goes, once the device holds none of its requests.
void free_client(Client& c) {
  Driver& d = state();
  if (c.note.cap != 0) {
    (void)d.session.delete_object(c.note.id);  // every copy goes: a waiting client wakes
    (void)d.slots->free(c.note.cap);
  }
  (void)delete_slot(c.note_read);
  (void)delete_slot(c.wake);
  (void)c.shared.close();
  (void)c.area.release();
  if (c.own_data.pages() != 0) {
    // Taken back from everyone it went to (the filesystem server's client too): the driver made
    // it, and a dropped ring pair's data area is nobody's any more.
    (void)c.own_shared.close();
    (void)c.own_data.region().revoke();
    (void)c.own_data.release();
    c.own_data = sys::DmaBuffer();
  }
  c.note = {0, 0};
  c.note_read = c.wake = 0;
  c.requests = sys::RingConsumer();
  c.completions = sys::RingProducer();
  c.data = sys::DataArea();
  c.held_first = c.held_count = 0;
  c.badge = 0;
  c.channel = 0;
  c.state = ClientState::Free;
}

void drop_client(Client& c) {
  c.state = ClientState::Closing;
  if (c.in_flight == 0) free_client(c);
}

// Hands a completion to the client (or keeps it while its completion ring is full).
void complete(Client& c, const RingDescriptor& done) {
  if (c.state != ClientState::Active) return;
  if (c.held_count != 0) {
    c.held[(c.held_first + c.held_count++) % kSlots] = done;
    return;
  }
  const Result<bool> pushed = c.completions.push(done);
  if (pushed.ok()) {
    if (pushed.value()) signal_client(c);
  } else if (pushed.error() == Error::WouldBlock) {
    c.held[(c.held_first + c.held_count++) % kSlots] = done;
  } else {
    drop_client(c);
  }
}

void push_held(Client& c) {
  bool wake = false;
  while (c.state == ClientState::Active && c.held_count != 0) {
    const Result<bool> pushed = c.completions.push(c.held[c.held_first]);
    if (!pushed.ok()) {
      if (pushed.error() != Error::WouldBlock) drop_client(c);
      break;
    }
    wake = wake || pushed.value();
    c.held_first = (c.held_first + 1) % kSlots;
    --c.held_count;
  }
  if (wake) signal_client(c);
}

RingDescriptor answer(const RingDescriptor& r, Error e, uint32_t length) {
  return RingDescriptor{r.offset, length, r.opcode, static_cast<uint16_t>(e), r.cookie, r.argument};
}

// Checks one request and puts it on the virtqueue (or completes it with the error at once).
void submit(uint8_t index, const RingDescriptor& r) {
  Driver& d = state();
  Client& c = d.clients[index];
  auto refuse = [&](Error e) {
    ++d.counters.refused;
    ++d.counters.requests;
    ++d.counters.errors;
    complete(c, answer(r, e, 0));
  };
  uint32_t type = 0;
  if (r.opcode == proto::kOpRead) {
    type = vio::kBlkTypeIn;
  } else if (r.opcode == proto::kOpWrite) {
    type = vio::kBlkTypeOut;
  } else if (r.opcode == proto::kOpFlush) {
    type = vio::kBlkTypeFlush;
  } else {
    return refuse(Error::InvalidArgument);
  }
  sys::DmaSegment segments[kMaxSegments];
  uint32_t pieces = 0;
  if (type == vio::kBlkTypeFlush) {
    if (r.length != 0) return refuse(Error::InvalidArgument);
    if (!d.has_flush) {  // no volatile cache to flush: every completed write is on the disk
      ++d.counters.requests;
      return complete(c, answer(r, Error::Ok, 0));
    }
  } else {
    if (r.length == 0 || r.length % kSector != 0 || r.offset % kSector != 0) return refuse(Error::AlignmentError);
    if (r.length > kMaxTransfer) return refuse(Error::RangeError);
    // The device's own range check answers IOERR; the driver's comes first except in test mode,
    // where a test reaches the device's error path this way.
    if (!d.test_mode && (r.argument > d.capacity || r.length / kSector > d.capacity - r.argument)) {
      return refuse(Error::RangeError);
    }
    if (type == vio::kBlkTypeOut && d.read_only) return refuse(Error::NotSupported);
    pieces = c.own_data.pages() != 0 ? c.own_data.segments(r.offset, r.length, segments, kMaxSegments)
                                     : c.area.segments(kLayout.data_offset + r.offset, r.length, segments, kMaxSegments);
    if (pieces == 0 || pieces > kMaxSegments) return refuse(Error::RangeError);
  }
  uint32_t slot = 0;
  while (d.pending[slot].used) ++slot;  // the caller made sure one is free
  const uint16_t count = static_cast<uint16_t>(pieces + 2);
  const uint16_t head = take_descriptors(count);
  Pending& p = d.pending[slot];
  p = Pending{true, index, head, count, r};
  ++d.pending_count;
  if (d.pending_count > d.counters.peak_in_flight) d.counters.peak_in_flight = d.pending_count;
  ++c.in_flight;
  d.owner[head] = static_cast<uint8_t>(slot + 1);
  d.headers[slot] = vio::BlkHeader{type, 0, type == vio::kBlkTypeFlush ? 0 : r.argument};
  d.statuses[slot] = 0xFF;
  uint16_t at = head;
  d.desc[at] = vio::Descriptor{d.queue.physical(3 * kPage + slot * sizeof(vio::BlkHeader)), sizeof(vio::BlkHeader),
                               vio::kDescNext, d.chain_next[at]};
  for (uint32_t i = 0; i < pieces; ++i) {
    at = d.chain_next[at];
    const uint16_t write = type == vio::kBlkTypeIn ? vio::kDescWrite : 0;
    d.desc[at] = vio::Descriptor{segments[i].physical, static_cast<uint32_t>(segments[i].bytes),
                                 static_cast<uint16_t>(vio::kDescNext | write), d.chain_next[at]};
  }
  at = d.chain_next[at];
  d.desc[at] = vio::Descriptor{d.queue.physical(3 * kPage + 2048 + slot), 1, vio::kDescWrite, 0};
  d.avail->ring[d.avail_index % d.size] = head;
  ++d.avail_index;
  __atomic_store_n(&d.avail->index, d.avail_index, __ATOMIC_RELEASE);
  d.kick = true;
}

// Takes requests from every client while the device and the client's completion space allow.
void take_requests() {
  Driver& d = state();
  for (uint8_t i = 0; i < kMaxClients; ++i) {
    Client& c = d.clients[i];
    if (c.state != ClientState::Active) continue;
    push_held(c);
    bool popped = false;
    while (c.state == ClientState::Active && c.in_flight + c.held_count < kSlots &&
           d.pending_count < kMaxInFlight && d.free_count >= kMaxSegments + 2) {
      const Result<RingDescriptor> r = c.requests.pop();
      if (r.ok()) {
        popped = true;
        submit(i, r.value());
      } else if (r.error() == Error::RangeError) {  // outside the data area: consumed, refused
        popped = true;
        ++d.counters.refused;
        ++d.counters.requests;
        ++d.counters.errors;
        complete(c, answer(c.requests.rejected(), Error::RangeError, 0));
      } else if (r.error() == Error::WouldBlock) {
        break;
      } else {  // the index jumped: this client is not trusted any more
        sys::print("blk: client %u broke its request ring: dropped\n", i);
        drop_client(c);
      }
    }
    if (popped && c.state == ClientState::Active && c.requests.should_signal_producer()) signal_client(c);
  }
  if (d.kick) {
    d.kick = false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // the available index before the device's flag
    if ((__atomic_load_n(&d.used->flags, __ATOMIC_RELAXED) & vio::kUsedNoNotify) == 0) {
      w16(d.doorbell, 0);
      ++d.counters.doorbells;
    }
  }
}

// Completes what the device finished.
void reap() {
  Driver& d = state();
  const uint16_t end = __atomic_load_n(&d.used->index, __ATOMIC_ACQUIRE);
  while (d.used_seen != end) {
    const vio::UsedElement e = d.used->ring[d.used_seen % d.size];
    ++d.used_seen;
    if (e.id >= d.size || d.owner[e.id] == 0) continue;  // not a request of ours: ignored
    const uint32_t slot = d.owner[e.id] - 1u;
    d.owner[e.id] = 0;
    Pending& p = d.pending[slot];
    const uint8_t status = d.statuses[slot];
    const Error error = status == vio::kBlkStatusOk            ? Error::Ok
                        : status == vio::kBlkStatusUnsupported ? Error::NotSupported
                                                               : Error::IoError;
    give_descriptors(p.head, p.descriptors);
    p.used = false;
    --d.pending_count;
    Client& c = d.clients[p.client];
    --c.in_flight;
    ++d.counters.requests;
    if (error != Error::Ok) ++d.counters.errors;
    complete(c, answer(p.request, error, error == Error::Ok ? p.request.length : 0));
    if (c.state == ClientState::Closing && c.in_flight == 0) free_client(c);
  }
}

void handle_events(uint64_t word) {
  Driver& d = state();
  const uint64_t woken = sys::rdtsc();
  if ((word & kIrqBadge) != 0) {
    ++d.counters.interrupts;
    (void)r8(d.isr);  // reading clears it and deasserts the line (shared with the NIC)
    const uint64_t ack = sys::rdtsc();
    (void)d.irq.ack();
    d.counters.syscall_ticks += sys::rdtsc() - ack;
  }
  for (uint32_t i = 0; i < kMaxClients; ++i) {
    if ((word & (kClientBadge << i)) != 0) ++d.counters.signals_in;
  }
  reap();
  take_requests();
  d.counters.work_ticks += sys::rdtsc() - woken;
}

// ---- The control plane ---------------------------------------------------------------------------

Client* find_client(uint64_t badge, uint8_t channel) {
  for (Client& c : state().clients) {
    if (c.state == ClientState::Active && c.badge == badge && c.channel == channel) return &c;
  }
  return nullptr;
}

Result<CPtr> mint(CPtr source, uint8_t rights, uint64_t badge) {
  const CPtr slot = TRY(state().slots->alloc());
  sys::CallTransport kernel(sys::ipc_buffer());
  const Result<void> r = tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode)
                             .mint(slot, sys::kSlotDepth, CapRef{sys::kProcessSlotCNode}, source, sys::kSlotDepth, rights, badge);
  if (!r.ok()) {
    (void)state().slots->free(slot);
    return r.error();
  }
  return slot;
}

// `data_bytes` 0: the data area follows the rings in one buffer; otherwise it is a buffer of its own.
Result<void> make_client(Client& c, uint8_t index, uint64_t badge, uint64_t data_bytes) {
  Driver& d = state();
  c.state = ClientState::Closing;  // until every piece is there (free_client undoes what is)
  c.badge = badge;
  const tessera::RingPairLayout& layout = data_bytes == 0 ? kLayout : kRingsOnly;
  c.area = TRY(sys::DmaBuffer::create(d.session, data_bytes == 0 ? kAreaPages * kPage : layout.data_offset));
  uint8_t* base = c.area.address();
  TRY(sys::ring_format(base + layout.request_offset, layout.completion_offset, kSlots));
  TRY(sys::ring_format(base + layout.completion_offset, layout.data_offset - layout.completion_offset, kSlots));
  if (data_bytes == 0) {
    c.data = sys::DataArea(base + kLayout.data_offset, kLayout.data_bytes);
  } else {
    c.own_data = TRY(sys::DmaBuffer::create(d.session, data_bytes));
    c.own_shared = TRY(c.own_data.region().share(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    c.data = sys::DataArea(c.own_data.address(), data_bytes);
  }
  c.requests = TRY(sys::RingConsumer::attach(base + layout.request_offset, layout.completion_offset, kSlots, c.data));
  c.completions = TRY(sys::RingProducer::attach(base + layout.completion_offset,
                                                layout.data_offset - layout.completion_offset, kSlots));
  c.shared = TRY(c.area.region().share(tessera::memory::kRightRead | tessera::memory::kRightWrite));
  c.note = TRY(d.session.create_object(tessera::abi::ObjectType::Notification));
  c.note_read = TRY(mint(c.note.cap, tessera::abi::kRightRead, 0));
  c.wake = TRY(mint(d.notification, tessera::abi::kRightWrite, kClientBadge << index));
  c.in_flight = 0;
  c.held_first = c.held_count = 0;
  c.state = ClientState::Active;
  return {};
}

class BlockServer : public proto::Block::Server<BlockServer> {
 public:
  Result<void> connect(proto::Block::ConnectParams::Reader p, proto::Block::ConnectResults::Builder out) {
    Driver& d = state();
    const uint64_t badge = sys::current_request().badge();
    if (Client* old = find_client(badge, p.channel())) drop_client(*old);
    Client* c = nullptr;
    uint8_t index = 0;
    for (uint8_t i = 0; i < kMaxClients; ++i) {
      if (d.clients[i].state == ClientState::Free) {
        c = &d.clients[i];
        index = i;
        break;
      }
    }
    if (c == nullptr) return Error::NotEnoughMemory;
    const uint64_t data_bytes = p.data_bytes();
    if (data_bytes > proto::kMaxDataBytes || data_bytes % kPage != 0) return Error::RangeError;
    if (const Result<void> made = make_client(*c, index, badge, data_bytes); !made.ok()) {
      free_client(*c);
      return made.error();
    }
    c->channel = p.channel();
    out.set_ring(c->shared.ref());
    out.set_capacity(d.capacity);
    out.set_sector_bytes(kSector);
    out.set_slots(kSlots);
    out.set_data_bytes(data_bytes == 0 ? kLayout.data_bytes : data_bytes);
    out.set_max_transfer(kMaxTransfer);
    out.set_flush(d.has_flush);
    out.set_read_only(d.read_only);
    out.set_generation(d.generation);
    return {};
  }

  Result<void> wake_driver(proto::Block::WakeDriverParams::Reader p, proto::Block::WakeDriverResults::Builder out) {
    Client* c = find_client(sys::current_request().badge(), p.channel());
    if (c == nullptr) return Error::IllegalOperation;
    out.set_notification(CapRef{c->wake});
    return {};
  }

  Result<void> wake_client(proto::Block::WakeClientParams::Reader p, proto::Block::WakeClientResults::Builder out) {
    Client* c = find_client(sys::current_request().badge(), p.channel());
    if (c == nullptr) return Error::IllegalOperation;
    out.set_notification(CapRef{c->note_read});
    return {};
  }

  Result<void> data_area(proto::Block::DataAreaParams::Reader p, proto::Block::DataAreaResults::Builder out) {
    Client* c = find_client(sys::current_request().badge(), p.channel());
    if (c == nullptr || c->own_data.pages() == 0) return Error::IllegalOperation;
    out.set_region(c->own_shared.ref());
    return {};
  }

  Result<void> disconnect(proto::Block::DisconnectParams::Reader p, proto::Block::DisconnectResults::Builder) {
    Client* c = find_client(sys::current_request().badge(), p.channel());
    if (c == nullptr) return Error::IllegalOperation;
    drop_client(*c);
    return {};
  }

  Result<void> status(proto::Block::StatusParams::Reader, proto::Block::StatusResults::Builder out) {
    const Driver& d = state();
    uint32_t clients = 0;
    for (const Client& c : d.clients) clients += c.state == ClientState::Active ? 1 : 0;
    out.set_capacity(d.capacity);
    out.set_clients(clients);
    out.set_requests(d.counters.requests);
    out.set_errors(d.counters.errors);
    out.set_refused(d.counters.refused);
    out.set_interrupts(d.counters.interrupts);
    out.set_signals_in(d.counters.signals_in);
    out.set_signals_out(d.counters.signals_out);
    out.set_device_notifies(d.counters.doorbells);
    out.set_generation(d.generation);
    out.set_peak_in_flight(d.counters.peak_in_flight);
    out.set_work_ticks(d.counters.work_ticks - d.counters.syscall_ticks);
    out.set_system_call_ticks(d.counters.syscall_ticks);
    return {};
  }

  Result<void> crash(proto::Block::CrashParams::Reader, proto::Block::CrashResults::Builder) {
    if (!state().test_mode) return Error::IllegalOperation;
    sys::print("blk: crashing on request (test hook)\n");
    __builtin_trap();
  }
};

// Recv and the dispatcher, with the bound notification's wake-ups handled in between: serve()
// with one more case.
Error serve_with_events(BlockServer& server, CPtr endpoint, sys::SlotAllocator& slots) {
  const sys::ServeOptions options{&slots, sys::kProcessSlotCNode, "blk"};
  sys::EndpointServerTransport transport(endpoint, options);
  sys::detail::CurrentRequest current(transport.context());
  tessera::capnp::Request request;
  Error e = transport.receive(&request);
  while (e == Error::Ok) {
    const uint64_t badge = transport.badge();
    if (request.label == 0 && request.length_words == 0 && (badge & ~kNotificationBadges) == 0 && badge != 0) {
      handle_events(badge);
      e = transport.receive(&request);
      continue;
    }
    const tessera::capnp::Reply reply = server.dispatch(request, transport.reply_buffer());
    if (reply.error == Error::IllegalOperation) [[unlikely]] transport.note_refused(request.label);
    take_requests();  // a connect or disconnect may have changed what can be taken
    e = transport.reply_receive(reply, &request);
  }
  return e;
}

Result<void> start(const sys::StartupBlock& block, sys::SlotAllocator& slots) {
  Driver& d = state();
  d.block = &block;
  d.slots = &slots;
  d.session = sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  d.test_mode = strcmp(block.argument, "test") == 0;
  const sys::PciDevice pci(TRY(sys::find_grant(block, "pci:disk")));
  static sys::DeviceSpace window(d.session, slots, block.vspace);
  TRY(start_device(pci, window));
  // The thread's notification: the interrupt and every client signal it with their own badge.
  const sys::MemorySession::Object note = TRY(d.session.create_object(tessera::abi::ObjectType::Notification));
  d.notification = note.cap;
  d.generation = note.id ^ (uint64_t{d.avail_index} << 32) ^ 0x626c6b0000000000ull;
  {
    sys::CallTransport kernel(sys::ipc_buffer());
    TRY(tessera::abi::Tcb::Client<sys::CallTransport>(kernel, block.tcb).bind_notification(CapRef{d.notification}));
  }
  const CPtr handler = TRY(slots.alloc());
  TRY(pci.irq_handler(handler));
  d.irq = TRY(sys::Interrupt::bind(handler, TRY(mint(d.notification, tessera::abi::kRightWrite, kIrqBadge))));
  sys::print("blk: virtio-blk, %lu sectors (%lu MiB)%s%s, queue of %u\n", d.capacity, d.capacity / 2048,
             d.has_flush ? ", flush" : "", d.read_only ? ", read-only" : "", d.size);
  return {};
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  static sys::SlotAllocator slots(block->empty);
  const auto endpoint = sys::find_grant(*block, "endpoint:blk");
  if (!endpoint.ok()) {
    sys::print("blk: no endpoint:blk grant\n");
    return 1;
  }
  if (const Result<void> started = start(*block, slots); !started.ok()) {
    sys::print("blk: cannot start the device: %s\n", tessera::error_name(started.error()));
    return 2;
  }
  static BlockServer server;
  const Error why = serve_with_events(server, endpoint.value(), slots);
  sys::print("blk: endpoint failed: %s\n", tessera::error_name(why));
  return 3;
}
