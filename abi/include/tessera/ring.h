// The shared-memory ring: the fixed layout of the data plane between a driver (or any server that
// moves bulk data) and a client (docs/rings.md). Both sides map the same region; everything here is
// wire format, pinned by the static_asserts below and by tests/host/libsys/test_ring.cc.
//
// A *ring* is one single-producer, single-consumer queue of 32-byte descriptors:
//
//   offset   0  RingHeader (192 bytes)
//                 0  setup line (written once, by the side that formats the ring)
//                64  producer line: producer index, producer's wake-me flag
//               128  consumer line: consumer index, consumer's wake-me flag
//   offset 192  RingDescriptor[capacity]   (capacity a power of two)
//
// A *ring pair* is what a client and a driver share: a request ring (client → driver), a
// completion ring (driver → client) and a data area for payload, laid out by ring_pair_layout().
// Descriptors name payload by offset and length in the data area; payload never travels in IPC.
//
// Indices are free-running 32-bit counters: the producer index counts descriptors ever produced,
// the consumer index descriptors ever consumed; slot = index & (capacity - 1) and
// 0 <= producer - consumer <= capacity (mod 2^32). Only the producer writes the producer index
// (release), only the consumer the consumer index; the other side reads it with acquire. The
// wake-me flag of a side is set by that side before it sleeps and cleared by the other side when it
// signals it (sDDF: signalling is suppressed while the flag is clear, i.e. while the side is known
// to be awake). Neither side trusts anything the other can write: tessera::sys::RingProducer and
// RingConsumer (libsys) keep their own copies of capacity and indices and check every value read.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace tessera {

constexpr uint32_t kRingMagic = 0x474E5254;  // "TRNG" in memory order
constexpr uint16_t kRingVersion = 1;
constexpr uint32_t kRingMinCapacity = 2;
constexpr uint32_t kRingMaxCapacity = 1u << 16;  // far below 2^31, so index differences never wrap

// One descriptor: a piece of the data area and what to do with it. The meaning of `opcode` and
// `argument` is the protocol's (block: read/write/flush and the sector); `cookie` is the
// requester's and comes back unchanged in the completion; `status` is a tessera::Error value in a
// completion (0 = Ok) and 0 in a request.
struct RingDescriptor {
  uint64_t offset;    // byte offset of the payload in the data area
  uint32_t length;    // payload bytes
  uint16_t opcode;    // protocol-defined operation
  uint16_t status;    // completion: tessera::Error (0 = Ok)
  uint64_t cookie;    // requester's identifier, echoed in the completion
  uint64_t argument;  // protocol-defined (block number, flags, ...)
};

// The state one side writes: its index and its wake-me flag, alone in a cache line.
struct RingSide {
  uint32_t index;         // free-running count of descriptors this side has handed over
  uint32_t wants_signal;  // 1: this side is about to sleep; the other side signals it and clears this
  uint8_t reserved[56];
};

struct RingHeader {
  // Setup line: written once when the ring is formatted, never changed afterwards.
  uint32_t magic;              // kRingMagic
  uint16_t version;            // kRingVersion
  uint16_t descriptor_bytes;   // sizeof(RingDescriptor)
  uint32_t capacity;           // descriptors; a power of two in [kRingMinCapacity, kRingMaxCapacity]
  uint32_t descriptors_offset; // bytes from the header to descriptor 0 (sizeof(RingHeader))
  uint8_t reserved[48];
  RingSide producer;           // written by the producer (its flag also cleared by the consumer)
  RingSide consumer;           // written by the consumer (its flag also cleared by the producer)
};

static_assert(sizeof(RingDescriptor) == 32);
static_assert(alignof(RingDescriptor) == 8);
static_assert(__builtin_offsetof(RingDescriptor, offset) == 0);
static_assert(__builtin_offsetof(RingDescriptor, length) == 8);
static_assert(__builtin_offsetof(RingDescriptor, opcode) == 12);
static_assert(__builtin_offsetof(RingDescriptor, status) == 14);
static_assert(__builtin_offsetof(RingDescriptor, cookie) == 16);
static_assert(__builtin_offsetof(RingDescriptor, argument) == 24);
static_assert(sizeof(RingSide) == 64);
static_assert(__builtin_offsetof(RingSide, index) == 0);
static_assert(__builtin_offsetof(RingSide, wants_signal) == 4);
static_assert(sizeof(RingHeader) == 192);
static_assert(__builtin_offsetof(RingHeader, magic) == 0);
static_assert(__builtin_offsetof(RingHeader, version) == 4);
static_assert(__builtin_offsetof(RingHeader, descriptor_bytes) == 6);
static_assert(__builtin_offsetof(RingHeader, capacity) == 8);
static_assert(__builtin_offsetof(RingHeader, descriptors_offset) == 12);
static_assert(__builtin_offsetof(RingHeader, producer) == 64);
static_assert(__builtin_offsetof(RingHeader, consumer) == 128);

constexpr bool ring_capacity_valid(uint32_t capacity) {
  return capacity >= kRingMinCapacity && capacity <= kRingMaxCapacity && (capacity & (capacity - 1)) == 0;
}

// Bytes one ring of `capacity` descriptors occupies (header + descriptors).
constexpr uint64_t ring_bytes(uint32_t capacity) {
  return sizeof(RingHeader) + uint64_t{capacity} * sizeof(RingDescriptor);
}

// Where the parts of a ring pair lie in one shared region: the request ring at 0, the completion
// ring at the next 64-byte boundary, the data area at the next 4 KiB boundary (so it can also be a
// region of its own, attached separately, with the same offsets). Both sides compute it from the
// capacity and data size they agreed on over the control plane, never from the shared header.
struct RingPairLayout {
  uint64_t request_offset;
  uint64_t completion_offset;
  uint64_t data_offset;
  uint64_t data_bytes;
  uint64_t total_bytes;
};

constexpr uint64_t kRingDataAlignment = 4096;

constexpr RingPairLayout ring_pair_layout(uint32_t capacity, uint64_t data_bytes) {
  RingPairLayout layout{};
  layout.request_offset = 0;
  layout.completion_offset = (ring_bytes(capacity) + 63) & ~uint64_t{63};
  const uint64_t rings_end = layout.completion_offset + ring_bytes(capacity);
  layout.data_offset = (rings_end + kRingDataAlignment - 1) & ~(kRingDataAlignment - 1);
  layout.data_bytes = data_bytes;
  layout.total_bytes = layout.data_offset + data_bytes;
  return layout;
}

static_assert(ring_pair_layout(64, 65536).completion_offset == 2240);
static_assert(ring_pair_layout(64, 65536).data_offset == 8192);
static_assert(ring_pair_layout(64, 65536).total_bytes == 8192 + 65536);
static_assert(ring_pair_layout(32, 4096).data_offset == 4096);

}  // namespace tessera
