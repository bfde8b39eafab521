// Shared-memory rings (tessera/sys/ring.h, docs/rings.md). Every access to the shared memory is an
// atomic one of 4 or 8 bytes: the peer may write it at any time, so each value is fetched exactly
// once into private memory (the compiler may not re-read an atomic) and only that copy is checked
// and used.
#include <tessera/string.h>
#include <tessera/sys/ring.h>

namespace tessera::sys {
namespace {

uint32_t load_acquire(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
uint32_t load_relaxed(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void store_release(uint32_t* p, uint32_t value) { __atomic_store_n(p, value, __ATOMIC_RELEASE); }
void store_relaxed(uint32_t* p, uint32_t value) { __atomic_store_n(p, value, __ATOMIC_RELAXED); }
// Orders this side's store (an index or a wake-me flag) before its following load of the other
// side's (flag or index): the store-load ordering the wake-up protocol rests on.
void full_fence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

constexpr size_t kDescriptorWords = sizeof(RingDescriptor) / sizeof(uint64_t);
static_assert(kDescriptorWords * sizeof(uint64_t) == sizeof(RingDescriptor));

RingDescriptor copy_in(const RingDescriptor* slot) {
  const auto* words = reinterpret_cast<const uint64_t*>(slot);
  uint64_t copy[kDescriptorWords];
  for (size_t i = 0; i < kDescriptorWords; ++i) copy[i] = __atomic_load_n(&words[i], __ATOMIC_RELAXED);
  RingDescriptor d;
  memcpy(&d, copy, sizeof(d));
  return d;
}

void copy_out(RingDescriptor* slot, const RingDescriptor& d) {
  uint64_t copy[kDescriptorWords];
  memcpy(copy, &d, sizeof(d));
  auto* words = reinterpret_cast<uint64_t*>(slot);
  for (size_t i = 0; i < kDescriptorWords; ++i) __atomic_store_n(&words[i], copy[i], __ATOMIC_RELAXED);
}

Result<void> check_memory(const void* memory, uint64_t bytes, uint32_t capacity) {
  if (memory == nullptr || !ring_capacity_valid(capacity)) return Error::InvalidArgument;
  if (reinterpret_cast<uintptr_t>(memory) % 64 != 0) return Error::AlignmentError;
  if (bytes < ring_bytes(capacity)) return Error::RangeError;
  return {};
}

// Checks the setup line against what this side agreed to (each field read once).
Result<void> check_setup(const RingHeader* header, uint32_t capacity) {
  uint32_t setup[4];
  const auto* words = reinterpret_cast<const uint32_t*>(header);
  for (size_t i = 0; i < 4; ++i) setup[i] = load_relaxed(&words[i]);
  RingHeader expected{};
  expected.magic = kRingMagic;
  expected.version = kRingVersion;
  expected.descriptor_bytes = sizeof(RingDescriptor);
  expected.capacity = capacity;
  expected.descriptors_offset = sizeof(RingHeader);
  if (memcmp(setup, &expected, sizeof(setup)) != 0) return Error::MalformedMessage;
  return {};
}

RingDescriptor* slots_of(RingHeader* header) {
  return reinterpret_cast<RingDescriptor*>(reinterpret_cast<uint8_t*>(header) + sizeof(RingHeader));
}

}  // namespace

Result<void> ring_format(void* memory, uint64_t bytes, uint32_t capacity) {
  TRY(check_memory(memory, bytes, capacity));
  auto* header = static_cast<RingHeader*>(memory);
  memset(memory, 0, static_cast<size_t>(ring_bytes(capacity)));
  header->magic = kRingMagic;
  header->version = kRingVersion;
  header->descriptor_bytes = sizeof(RingDescriptor);
  header->capacity = capacity;
  header->descriptors_offset = sizeof(RingHeader);
  full_fence();
  return {};
}

// ---------------------------------------------------------------------------------------------
// Producer

Result<RingProducer> RingProducer::attach(void* memory, uint64_t bytes, uint32_t capacity) {
  TRY(check_memory(memory, bytes, capacity));
  auto* header = static_cast<RingHeader*>(memory);
  TRY(check_setup(header, capacity));
  RingProducer p;
  p.header_ = header;
  p.slots_ = slots_of(header);
  p.capacity_ = capacity;
  p.produced_ = load_relaxed(&header->producer.index);
  p.consumed_seen_ = load_acquire(&header->consumer.index);
  if (p.produced_ - p.consumed_seen_ > capacity) return Error::MalformedMessage;
  return p;
}

Result<void> RingProducer::refresh() {
  const uint32_t consumed = load_acquire(&header_->consumer.index);
  // The consumer's index may only move forward, up to what has been produced.
  if (consumed - consumed_seen_ > produced_ - consumed_seen_) {
    broken_ = true;
    return Error::MalformedMessage;
  }
  consumed_seen_ = consumed;
  return {};
}

Result<uint32_t> RingProducer::free_slots() {
  if (broken_ || header_ == nullptr) return Error::MalformedMessage;
  TRY(refresh());
  return capacity_ - (produced_ - consumed_seen_);
}

Result<bool> RingProducer::push(const RingDescriptor& d) {
  if (broken_ || header_ == nullptr) return Error::MalformedMessage;
  if (produced_ - consumed_seen_ == capacity_) {
    TRY(refresh());
    if (produced_ - consumed_seen_ == capacity_) {
      // Full: ask to be woken, then look again (the consumer may have made room before it could
      // see the flag).
      store_relaxed(&header_->producer.wants_signal, 1);
      full_fence();
      TRY(refresh());
      if (produced_ - consumed_seen_ == capacity_) return Error::WouldBlock;
      store_relaxed(&header_->producer.wants_signal, 0);
    }
  }
  copy_out(&slots_[produced_ & (capacity_ - 1)], d);
  ++produced_;
  store_release(&header_->producer.index, produced_);
  full_fence();
  if (load_relaxed(&header_->consumer.wants_signal) == 0) return false;
  store_relaxed(&header_->consumer.wants_signal, 0);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Consumer

Result<RingConsumer> RingConsumer::attach(void* memory, uint64_t bytes, uint32_t capacity, DataArea data) {
  TRY(check_memory(memory, bytes, capacity));
  auto* header = static_cast<RingHeader*>(memory);
  TRY(check_setup(header, capacity));
  RingConsumer c;
  c.header_ = header;
  c.slots_ = slots_of(header);
  c.data_ = data;
  c.capacity_ = capacity;
  c.consumed_ = load_relaxed(&header->consumer.index);
  c.produced_seen_ = c.consumed_;
  TRY(c.refresh());
  return c;
}

Result<void> RingConsumer::refresh() {
  const uint32_t produced = load_acquire(&header_->producer.index);
  // At most a ring's worth ahead of us, and never behind what we saw before.
  const uint32_t ahead = produced - consumed_;
  if (ahead > capacity_ || ahead < produced_seen_ - consumed_) {
    broken_ = true;
    return Error::MalformedMessage;
  }
  produced_seen_ = produced;
  return {};
}

Result<uint32_t> RingConsumer::available() {
  if (broken_ || header_ == nullptr) return Error::MalformedMessage;
  TRY(refresh());
  return produced_seen_ - consumed_;
}

Result<RingDescriptor> RingConsumer::pop() {
  if (broken_ || header_ == nullptr) return Error::MalformedMessage;
  if (produced_seen_ == consumed_) {
    TRY(refresh());
    if (produced_seen_ == consumed_) {
      // Empty: ask to be woken, then look again (the producer may have pushed before it could
      // see the flag).
      store_relaxed(&header_->consumer.wants_signal, 1);
      full_fence();
      TRY(refresh());
      if (produced_seen_ == consumed_) return Error::WouldBlock;
      store_relaxed(&header_->consumer.wants_signal, 0);
    }
  }
  const RingDescriptor d = copy_in(&slots_[consumed_ & (capacity_ - 1)]);
  ++consumed_;
  store_release(&header_->consumer.index, consumed_);  // the slot is the producer's again
  popped_since_check_ = true;
  if (!data_.contains(d.offset, d.length)) {
    rejected_ = d;
    return Error::RangeError;
  }
  return d;
}

bool RingConsumer::should_signal_producer() {
  if (broken_ || header_ == nullptr || !popped_since_check_) return false;
  popped_since_check_ = false;
  full_fence();
  if (load_relaxed(&header_->producer.wants_signal) == 0) return false;
  store_relaxed(&header_->producer.wants_signal, 0);
  return true;
}

}  // namespace tessera::sys
