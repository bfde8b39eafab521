// Producer and consumer views over a shared-memory ring (layout: <tessera/ring.h>; protocol and
// usage: docs/rings.md), written for a peer that may corrupt the shared memory at any time:
//
// - Each view keeps its own capacity and its own index in private memory and only ever writes its
//   index out; it never reads back anything it wrote to shared memory.
// - The peer's index is read once per refresh (acquire) and checked: it may only move forward, by
//   no more than the ring allows. An index that jumps or goes backwards is a protocol error
//   (MalformedMessage); the view then stops trusting the peer for good (broken(): every later
//   operation answers MalformedMessage without touching the ring).
// - A descriptor is copied out of shared memory once, word by word, and only the copy is checked
//   and returned (no double fetch). A consumer checks it against the data area's bounds.
// - Payload is reached only through DataArea::span, which checks offset and length against the
//   area without overflow. The bytes themselves stay shared: copy what must not change under you
//   (a header to parse) before you check it.
// - Nothing blocks or spins: a full ring (producer) or an empty one (consumer) is WouldBlock, with
//   the side's wake-me flag armed, and the caller decides (sleep on its notification, back off,
//   serve someone else).
//
// Signalling (sDDF): `push` answers whether the consumer asked to be woken; the producer then
// signals it (once per batch: push clears the flag). `pop` on an empty ring arms the consumer's
// flag, re-checks the ring (after a full fence) and only then answers WouldBlock, so a descriptor
// pushed meanwhile is either seen by that re-check or makes the producer's push answer true: no
// wake-up is lost. The same holds the other way round for a producer that found the ring full:
// after a batch of pops, and always before sleeping, the consumer calls should_signal_producer().
//
// Not thread-safe: one thread per view (single producer, single consumer).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>
#include <tessera/ring.h>

namespace tessera::sys {

// A piece of shared memory that has been bounds-checked: `data[0 .. size)` lies in the data area.
struct SharedBytes {
  uint8_t* data = nullptr;
  size_t size = 0;
};

// The data area of a ring pair as this side mapped it: every payload access goes through span().
class DataArea {
 public:
  constexpr DataArea() = default;
  constexpr DataArea(uint8_t* base, uint64_t bytes) : base_(base), bytes_(base != nullptr ? bytes : 0) {}

  uint8_t* base() const { return base_; }
  uint64_t bytes() const { return bytes_; }
  // Whether [offset, offset + length) lies inside the area (no overflow for any inputs).
  constexpr bool contains(uint64_t offset, uint64_t length) const {
    return offset <= bytes_ && length <= bytes_ - offset;
  }
  // The bytes [offset, offset + length); RangeError when they are not all inside the area.
  Result<SharedBytes> span(uint64_t offset, uint64_t length) const {
    if (!contains(offset, length)) return Error::RangeError;
    return SharedBytes{base_ + offset, static_cast<size_t>(length)};
  }
  Result<SharedBytes> span(const RingDescriptor& d) const { return span(d.offset, d.length); }

 private:
  uint8_t* base_ = nullptr;
  uint64_t bytes_ = 0;
};

// Writes a fresh ring of `capacity` descriptors into `memory` (`bytes` long, 64-byte aligned):
// the setup line, both indices and flags 0, descriptors zeroed. The side that creates the shared
// region does this once, before the other side attaches. InvalidArgument for a capacity that is not
// a power of two in [kRingMinCapacity, kRingMaxCapacity] or a null pointer, RangeError when
// `bytes` < ring_bytes(capacity), AlignmentError for misaligned memory.
Result<void> ring_format(void* memory, uint64_t bytes, uint32_t capacity);

// The producing side of one ring.
class RingProducer {
 public:
  constexpr RingProducer() = default;

  // A view of the ring at `memory` (`bytes` long) that must have `capacity` descriptors: the
  // arguments are checked as in ring_format, then the setup line (MalformedMessage when it does not
  // describe this ring). Starts at the producer index found there (a restarted producer continues
  // where its predecessor stopped), which must be within `capacity` of the consumer's.
  static Result<RingProducer> attach(void* memory, uint64_t bytes, uint32_t capacity);

  // Publishes `d` (copied into the next slot, then the index with release). Returns true when the
  // consumer had asked to be woken: signal it (the flag is cleared, so a batch signals once).
  // WouldBlock when the ring is full (the producer's flag is then armed: the consumer will signal
  // when it makes room); MalformedMessage when the consumer broke the protocol (sticky).
  Result<bool> push(const RingDescriptor& d);

  // Slots free now (reads the consumer's index); MalformedMessage as push.
  Result<uint32_t> free_slots();

  uint32_t capacity() const { return capacity_; }
  uint32_t produced() const { return produced_; }
  bool attached() const { return header_ != nullptr; }
  bool broken() const { return broken_; }

 private:
  Result<void> refresh();  // reads and checks the consumer's index

  RingHeader* header_ = nullptr;
  RingDescriptor* slots_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t produced_ = 0;       // our index (authoritative; only written out)
  uint32_t consumed_seen_ = 0;  // the consumer's index as last read and accepted
  bool broken_ = false;
};

// The consuming side of one ring, checking every descriptor against `data`.
class RingConsumer {
 public:
  constexpr RingConsumer() = default;

  // As RingProducer::attach; starts at the consumer index found there. `data` is the area the
  // descriptors' offsets refer to (an empty area admits only empty payloads at offset 0).
  static Result<RingConsumer> attach(void* memory, uint64_t bytes, uint32_t capacity, DataArea data);

  // Takes the next descriptor (consumed: its slot goes back to the producer) and returns its copy
  // once it is checked. Errors:
  //   WouldBlock        empty: the consumer's flag is armed and the ring re-checked, so the caller
  //                     may sleep on its notification (after should_signal_producer());
  //   RangeError        the descriptor's payload is not inside the data area: it is consumed, and
  //                     rejected() holds its copy (so the caller can complete it with an error);
  //   MalformedMessage  the producer's index jumped or went backwards: the ring is abandoned (sticky).
  Result<RingDescriptor> pop();

  // The last descriptor pop() refused with RangeError.
  const RingDescriptor& rejected() const { return rejected_; }

  // Whether the producer is waiting for room (it found the ring full) after the pops since the
  // last call: if so the flag is cleared and the caller signals the producer. Call it after a batch
  // of pops and before sleeping.
  bool should_signal_producer();

  // Descriptors ready now (reads the producer's index); MalformedMessage as pop.
  Result<uint32_t> available();

  uint32_t capacity() const { return capacity_; }
  uint32_t consumed() const { return consumed_; }
  const DataArea& data() const { return data_; }
  bool attached() const { return header_ != nullptr; }
  bool broken() const { return broken_; }

 private:
  Result<void> refresh();  // reads and checks the producer's index

  RingHeader* header_ = nullptr;
  const RingDescriptor* slots_ = nullptr;
  DataArea data_;
  uint32_t capacity_ = 0;
  uint32_t consumed_ = 0;       // our index (authoritative; only written out)
  uint32_t produced_seen_ = 0;  // the producer's index as last read and accepted
  bool popped_since_check_ = false;
  bool broken_ = false;
  RingDescriptor rejected_{};
};

}  // namespace tessera::sys
