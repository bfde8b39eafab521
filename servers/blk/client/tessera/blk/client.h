// The block client library (servers/blk/client): a client of the virtio-blk driver's block
// protocol (abi/block.capnp, docs/drivers.md) that survives driver restarts.
//
//   tessera::blk::BlockClient disk;
//   TRY(disk.connect(session, slots, TRY(sys::find_grant(*block, "endpoint:blk"))));
//   memcpy(disk.data() + 0, bytes, 4096);                 // payload in the shared data area
//   const uint64_t cookie = TRY(disk.write(sector, 0, 4096));
//   const Completion done = TRY(disk.next());            // waits; done.status is the Error
//
// Payload lives in the data area the driver shares (data(), data_bytes()); requests name it by
// offset. The library keeps every request until its completion arrives. When the driver ends
// (its notifications go with it, so a wait or a signal fails) the library calls connect again,
// which waits until init has restarted the driver, copies the old data area into the new one
// (same offsets: payload of writes not yet completed, and anything the caller prepared) and
// reissues every outstanding request in the order it was first submitted. A write's completion
// comes only after the device has done it, so every acknowledged write is on the disk; data()
// may move on a reconnect (read it again after next()).
//
// Not thread-safe: one thread per client.
#pragma once

#include <stdint.h>

#include <tessera/abi/block.capnp.h>
#include <tessera/result.h>
#include <tessera/ring.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/ring.h>

namespace tessera::blk {

struct Completion {
  uint64_t cookie = 0;
  uint16_t opcode = 0;
  Error status = Error::Ok;
  uint32_t length = 0;   // bytes transferred
  uint64_t offset = 0;   // in the data area, as submitted
  uint64_t sector = 0;
};

class BlockClient {
 public:
  static constexpr uint32_t kMaxSlots = 256;

  BlockClient() = default;
  BlockClient(const BlockClient&) = delete;
  BlockClient& operator=(const BlockClient&) = delete;

  // Connects to the driver on `endpoint` (write + grant rights). Region capabilities and
  // notifications arrive in slots of `slots` (of the caller's CNode, `cnode`). `channel`: which of
  // this client's ring pairs (abi/block.capnp: a client may have several, each its own
  // BlockClient). `data_bytes` (a multiple of 4096, at most block::kMaxDataBytes): a data area of
  // that size in a region of its own (data_region(), e.g. to share it on); 0: the driver's
  // standard one after the rings.
  Result<void> connect(sys::MemorySession& session, sys::SlotAllocator& slots, sys::CPtr endpoint,
                       sys::CPtr cnode = sys::kProcessSlotCNode, uint8_t channel = 0, uint64_t data_bytes = 0);
  // Off: when the driver ends, calls answer Error::ObjectDeleted instead of reconnecting (for a
  // caller whose data area was passed on and must not move: it decides what to do instead).
  void set_reconnect(bool on) { reconnect_on_ = on; }

  // Submit a request; returns its cookie. WouldBlock when slots() requests are outstanding
  // (take completions first). RangeError/AlignmentError are the driver's to answer (in the
  // completion), not checked here.
  Result<uint64_t> read(uint64_t sector, uint64_t offset, uint32_t length) { return submit(block::kOpRead, sector, offset, length); }
  Result<uint64_t> write(uint64_t sector, uint64_t offset, uint32_t length) { return submit(block::kOpWrite, sector, offset, length); }
  Result<uint64_t> flush() { return submit(block::kOpFlush, 0, 0, 0); }
  // Any descriptor, unchecked (for tests of the driver's checks).
  Result<uint64_t> submit(uint16_t opcode, uint64_t sector, uint64_t offset, uint32_t length);
  // Publishes what was submitted and signals the driver when it asked for it (submit does it
  // after each request unless batching is on: set_batching(true), then kick() after a batch).
  Result<void> kick();
  void set_batching(bool on) { batching_ = on; }
  // Polling: next() spins on the completion ring instead of sleeping on the notification (for a
  // client that has a CPU to itself and wants the lowest latency; a restart is then noticed only
  // through a failed signal).
  void set_polling(bool on) { polling_ = on; }

  // The next completion; with `wait`, sleeps until there is one (WouldBlock without `wait`
  // when there is none). Reconnects and reissues on the way when the driver was restarted.
  Result<Completion> next(bool wait = true);
  // Submits and waits for that one request (other completions that arrive meanwhile are lost:
  // use only when nothing else is outstanding).
  Result<Completion> run(uint16_t opcode, uint64_t sector, uint64_t offset, uint32_t length);

  Result<void> disconnect();

  uint8_t* data() const { return data_.base(); }
  uint64_t data_bytes() const { return data_.bytes(); }
  uint64_t capacity() const { return capacity_; }  // sectors
  uint32_t slots() const { return slots_count_; }
  uint32_t max_transfer() const { return max_transfer_; }
  uint32_t outstanding() const { return outstanding_; }
  uint64_t reconnects() const { return reconnects_; }
  uint64_t generation() const { return generation_; }
  uint64_t signals() const { return signals_; }  // notifications sent to the driver
  uint64_t waits() const { return waits_; }      // times this client slept
  sys::CPtr endpoint() const { return endpoint_; }
  uint8_t channel() const { return channel_; }
  // The shared region as mapped here (rings included): for tests that play a hostile client.
  uint8_t* ring_base() const { return ring_.address(); }
  // The data area's own region (connect with data_bytes; invalid otherwise), attached read/write.
  sys::Region& data_region() { return data_region_; }

 private:
  struct Request {
    bool used = false;
    uint64_t sequence = 0;  // submission order, for reissuing
    RingDescriptor descriptor{};
  };
  Result<void> attach();
  Result<void> reconnect();
  Result<void> push(const RingDescriptor& d);
  Result<sys::CPtr> receive_cap(uint32_t method);

  sys::MemorySession* session_ = nullptr;
  sys::SlotAllocator* slot_allocator_ = nullptr;
  sys::CPtr cnode_ = 0;
  sys::CPtr endpoint_ = 0;
  uint8_t channel_ = 0;
  sys::Region ring_;
  sys::Region data_region_;
  uint64_t own_data_bytes_ = 0;
  bool reconnect_on_ = true;
  sys::CPtr wake_driver_ = 0;
  sys::CPtr wake_me_ = 0;
  sys::RingProducer requests_;
  sys::RingConsumer completions_;
  sys::DataArea data_;
  uint64_t capacity_ = 0;
  uint32_t slots_count_ = 0;
  uint64_t data_bytes_ = 0;
  uint32_t max_transfer_ = 0;
  uint64_t generation_ = 0;
  Request requests_table_[kMaxSlots];
  uint32_t outstanding_ = 0;
  uint64_t sequence_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t signals_ = 0, waits_ = 0;
  bool batching_ = false;
  bool polling_ = false;
  bool pending_signal_ = false;
};

}  // namespace tessera::blk
