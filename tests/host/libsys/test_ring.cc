// Shared-memory rings (<tessera/ring.h>, libsys/rt/ring.cc, docs/rings.md) on the host:
// - the wire layout, byte by byte (a change to the layout must break this test);
// - argument checks, full and empty rings, the wake-me flags;
// - two threads moving 10^6 descriptors through a request ring and back through a completion
//   ring, payload in a data area, each side sleeping on a model notification: order, content, and
//   no lost wake-up (a sleep that times out is one);
// - an exhaustive model of the flag protocol (every interleaving of a producer and a consumer),
//   which also finds the lost wake-up of a protocol without the re-check;
// - hostile peers: index jumps and reversals, descriptors outside the data area, and random
//   corruption of the whole ring between steps and from a third thread. Rings and data areas are
//   heap blocks of exactly their size, so ASan reports any access outside them.
#include <catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include <tessera/ring.h>
#include <tessera/sys/ring.h>

namespace {
using tessera::Error;
using tessera::RingDescriptor;
using tessera::RingHeader;
using tessera::sys::DataArea;
using tessera::sys::RingConsumer;
using tessera::sys::RingProducer;

// A ring in its own heap block of exactly ring_bytes(capacity), 64-byte aligned.
class RingMemory {
 public:
  explicit RingMemory(uint32_t capacity)
      : capacity_(capacity), bytes_(tessera::ring_bytes(capacity)),
        memory_(static_cast<uint8_t*>(std::aligned_alloc(64, (bytes_ + 63) & ~uint64_t{63}))) {
    REQUIRE(tessera::sys::ring_format(memory_, bytes_, capacity).ok());
  }
  ~RingMemory() { std::free(memory_); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  uint8_t* bytes() const { return memory_; }
  uint64_t size() const { return bytes_; }
  uint32_t capacity() const { return capacity_; }
  RingHeader* header() const { return reinterpret_cast<RingHeader*>(memory_); }
  RingProducer producer() const {
    auto p = RingProducer::attach(memory_, bytes_, capacity_);
    REQUIRE(p.ok());
    return *p;
  }
  RingConsumer consumer(DataArea data) const {
    auto c = RingConsumer::attach(memory_, bytes_, capacity_, data);
    REQUIRE(c.ok());
    return *c;
  }

 private:
  uint32_t capacity_;
  uint64_t bytes_;
  uint8_t* memory_;
};

uint32_t read32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint16_t read16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
uint64_t read64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
void write32(uint8_t* p, uint32_t v) { __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELAXED); }

RingDescriptor descriptor(uint64_t offset, uint32_t length, uint64_t cookie) {
  return RingDescriptor{offset, length, 7, 0, cookie, cookie * 3};
}

// A kernel notification as the protocol sees it: signals latch until the next wait.
class Notification {
 public:
  void signal() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      active_ = true;
    }
    cv_.notify_one();
    signals_.fetch_add(1, std::memory_order_relaxed);
  }
  // False when nothing arrived within `timeout`.
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    const bool woken = cv_.wait_for(lock, timeout, [this] { return active_; });
    active_ = false;
    return woken;
  }
  uint64_t signals() const { return signals_.load(); }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool active_ = false;
  std::atomic<uint64_t> signals_{0};
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The layout pin

TEST_CASE("the ring layout is the documented wire format", "[libsys][ring][layout]") {
  CHECK(sizeof(RingDescriptor) == 32);
  CHECK(offsetof(RingDescriptor, offset) == 0);
  CHECK(offsetof(RingDescriptor, length) == 8);
  CHECK(offsetof(RingDescriptor, opcode) == 12);
  CHECK(offsetof(RingDescriptor, status) == 14);
  CHECK(offsetof(RingDescriptor, cookie) == 16);
  CHECK(offsetof(RingDescriptor, argument) == 24);
  CHECK(sizeof(tessera::RingSide) == 64);
  CHECK(offsetof(tessera::RingSide, index) == 0);
  CHECK(offsetof(tessera::RingSide, wants_signal) == 4);
  CHECK(sizeof(RingHeader) == 192);
  CHECK(offsetof(RingHeader, magic) == 0);
  CHECK(offsetof(RingHeader, version) == 4);
  CHECK(offsetof(RingHeader, descriptor_bytes) == 6);
  CHECK(offsetof(RingHeader, capacity) == 8);
  CHECK(offsetof(RingHeader, descriptors_offset) == 12);
  CHECK(offsetof(RingHeader, producer) == 64);
  CHECK(offsetof(RingHeader, consumer) == 128);
  CHECK(tessera::kRingMagic == 0x474E5254);
  CHECK(tessera::kRingVersion == 1);
  CHECK(tessera::kRingMinCapacity == 2);
  CHECK(tessera::kRingMaxCapacity == 65536);
  CHECK(tessera::ring_bytes(8) == 192 + 8 * 32);

  // The bytes a formatted ring and a pushed descriptor leave in memory.
  RingMemory ring(8);
  const uint8_t* m = ring.bytes();
  CHECK(std::memcmp(m, "TRNG", 4) == 0);
  CHECK(read16(m + 4) == 1);
  CHECK(read16(m + 6) == 32);
  CHECK(read32(m + 8) == 8);
  CHECK(read32(m + 12) == 192);
  RingProducer producer = ring.producer();
  RingConsumer consumer = ring.consumer(DataArea(nullptr, 0));
  CHECK(consumer.pop().error() == Error::WouldBlock);
  CHECK(read32(m + 128 + 4) == 1);  // the consumer asked to be woken
  const RingDescriptor d{0x1122334455667788, 0x99AABBCC, 0xDDEE, 0x0102, 0xCAFEF00DDEADBEEF, 0x0F0E0D0C0B0A0908};
  auto pushed = producer.push(d);
  REQUIRE(pushed.ok());
  CHECK(*pushed);                    // ... so the producer must signal
  CHECK(read32(m + 128 + 4) == 0);   // and the flag is cleared
  CHECK(read32(m + 64) == 1);        // producer index
  CHECK(read32(m + 128) == 0);       // consumer index
  CHECK(read64(m + 192 + 0) == 0x1122334455667788);
  CHECK(read32(m + 192 + 8) == 0x99AABBCC);
  CHECK(read16(m + 192 + 12) == 0xDDEE);
  CHECK(read16(m + 192 + 14) == 0x0102);
  CHECK(read64(m + 192 + 16) == 0xCAFEF00DDEADBEEF);
  CHECK(read64(m + 192 + 24) == 0x0F0E0D0C0B0A0908);

  // Ring pairs: request ring at 0, completion ring at the next 64 bytes, data at the next page.
  constexpr auto small = tessera::ring_pair_layout(32, 4096);
  CHECK(small.request_offset == 0);
  CHECK(small.completion_offset == 1216);
  CHECK(small.data_offset == 4096);
  CHECK(small.total_bytes == 8192);
  constexpr auto big = tessera::ring_pair_layout(1024, 1 << 20);
  CHECK(big.completion_offset == 192 + 32 * 1024);
  CHECK(big.data_offset == 69632);
  CHECK(big.total_bytes == 69632 + (1 << 20));
}

// ---------------------------------------------------------------------------------------------
// Basics

TEST_CASE("ring arguments are checked", "[libsys][ring]") {
  alignas(64) static uint8_t memory[4096];
  CHECK(tessera::sys::ring_format(memory, sizeof(memory), 0).error() == Error::InvalidArgument);
  CHECK(tessera::sys::ring_format(memory, sizeof(memory), 1).error() == Error::InvalidArgument);
  CHECK(tessera::sys::ring_format(memory, sizeof(memory), 12).error() == Error::InvalidArgument);
  CHECK(tessera::sys::ring_format(memory, sizeof(memory), 1u << 17).error() == Error::InvalidArgument);
  CHECK(tessera::sys::ring_format(nullptr, sizeof(memory), 8).error() == Error::InvalidArgument);
  CHECK(tessera::sys::ring_format(memory + 8, 4000, 8).error() == Error::AlignmentError);
  CHECK(tessera::sys::ring_format(memory, tessera::ring_bytes(8) - 1, 8).error() == Error::RangeError);
  REQUIRE(tessera::sys::ring_format(memory, sizeof(memory), 8).ok());
  // The attaching side must agree on the capacity; a wrong magic or version is refused.
  CHECK(RingProducer::attach(memory, sizeof(memory), 16).error() == Error::MalformedMessage);
  CHECK(RingConsumer::attach(memory, sizeof(memory), 4, DataArea()).error() == Error::MalformedMessage);
  CHECK(RingProducer::attach(memory, sizeof(memory), 8).ok());
  memory[4] = 2;
  CHECK(RingConsumer::attach(memory, sizeof(memory), 8, DataArea()).error() == Error::MalformedMessage);
  memory[4] = 1;
  memory[0] = 'X';
  CHECK(RingProducer::attach(memory, sizeof(memory), 8).error() == Error::MalformedMessage);
  // A default view refuses everything.
  RingProducer none;
  CHECK(none.push(descriptor(0, 0, 0)).error() == Error::MalformedMessage);
  RingConsumer nothing;
  CHECK(nothing.pop().error() == Error::MalformedMessage);
}

TEST_CASE("a ring is FIFO, full is WouldBlock with the producer's flag armed", "[libsys][ring]") {
  std::vector<uint8_t> data(4096);
  RingMemory ring(4);
  RingProducer producer = ring.producer();
  RingConsumer consumer = ring.consumer(DataArea(data.data(), data.size()));
  for (uint32_t round = 0; round < 3; ++round) {  // the indices pass the capacity several times
    for (uint64_t i = 0; i < 4; ++i) {
      auto r = producer.push(descriptor(i * 16, 16, round * 4 + i));
      REQUIRE(r.ok());
      CHECK_FALSE(*r);  // the consumer never asked to be woken
    }
    CHECK(producer.push(descriptor(0, 0, 99)).error() == Error::WouldBlock);
    CHECK(ring.header()->producer.wants_signal == 1);
    CHECK(*producer.free_slots() == 0);
    CHECK(*consumer.available() == 4);
    for (uint64_t i = 0; i < 4; ++i) {
      auto d = consumer.pop();
      REQUIRE(d.ok());
      CHECK(d->cookie == round * 4 + i);
      CHECK(d->offset == i * 16);
      CHECK(d->argument == d->cookie * 3);
      if (i == 0) {
        CHECK(consumer.should_signal_producer());  // it waits for room: signal once
        CHECK(ring.header()->producer.wants_signal == 0);
      }
    }
    CHECK_FALSE(consumer.should_signal_producer());
    CHECK(consumer.pop().error() == Error::WouldBlock);
    CHECK(ring.header()->consumer.wants_signal == 1);
    ring.header()->consumer.wants_signal = 0;  // as if the producer had signalled
  }
  CHECK(producer.produced() == 12);
  CHECK(consumer.consumed() == 12);
  // A restarted consumer continues where its predecessor stopped.
  REQUIRE(producer.push(descriptor(0, 1, 42)).ok());
  RingConsumer successor = ring.consumer(DataArea(data.data(), data.size()));
  auto d = successor.pop();
  REQUIRE(d.ok());
  CHECK(d->cookie == 42);
}

TEST_CASE("DataArea::span admits exactly the bytes of the area", "[libsys][ring]") {
  std::vector<uint8_t> data(100);
  const DataArea area(data.data(), data.size());
  CHECK(area.span(0, 100).ok());
  CHECK(area.span(100, 0).ok());
  CHECK(area.span(99, 1)->data == data.data() + 99);
  CHECK(area.span(99, 2).error() == Error::RangeError);
  CHECK(area.span(101, 0).error() == Error::RangeError);
  CHECK(area.span(~uint64_t{0}, 2).error() == Error::RangeError);  // offset + length overflows
  CHECK(area.span(1, ~uint64_t{0}).error() == Error::RangeError);
  const DataArea empty;
  CHECK(empty.span(0, 0).ok());
  CHECK(empty.span(0, 1).error() == Error::RangeError);
}

// ---------------------------------------------------------------------------------------------
// Two threads: a client sending requests with payload, a driver checking it and completing them

namespace {

constexpr uint32_t kBufferBytes = 64;

uint8_t pattern(uint64_t sequence, uint32_t i) { return static_cast<uint8_t>(sequence * 131 + i * 7 + 1); }
uint32_t length_of(uint64_t sequence) { return 1 + static_cast<uint32_t>(sequence % kBufferBytes); }

struct TransferResult {
  uint64_t completed = 0;
  uint64_t errors = 0;
  uint64_t lost_wakeups = 0;
  uint64_t client_signals = 0;
  uint64_t driver_signals = 0;
};

// `count` requests through a request ring and back through a completion ring of `capacity`, with
// `buffers` payload buffers of kBufferBytes in one data area.
TransferResult transfer(uint64_t count, uint32_t capacity, uint32_t buffers) {
  RingMemory requests(capacity);
  RingMemory completions(capacity);
  std::vector<uint8_t> data(uint64_t{buffers} * kBufferBytes);
  const DataArea area(data.data(), data.size());
  Notification wake_client, wake_driver;
  std::atomic<bool> stop{false};
  TransferResult result;
  std::atomic<uint64_t> driver_errors{0}, driver_lost{0};
  constexpr auto kTimeout = std::chrono::seconds(5);

  RingConsumer driver_in = requests.consumer(area);
  RingProducer driver_out = completions.producer();
  std::thread driver([&, in = driver_in, out = driver_out]() mutable {
    bool holding = false;  // a completion the client had no room for (back-pressure)
    RingDescriptor held{};
    while (!stop.load(std::memory_order_relaxed)) {
      bool blocked = false;
      for (;;) {
        if (holding) {
          auto r = out.push(held);
          if (!r.ok()) {
            if (r.error() != Error::WouldBlock) driver_errors++;
            blocked = true;
            break;
          }
          holding = false;
          if (*r) wake_client.signal();
        }
        auto d = in.pop();
        if (!d.ok()) {
          if (d.error() != Error::WouldBlock) driver_errors++;
          blocked = true;
          break;
        }
        auto bytes = area.span(*d);
        bool good = bytes.ok() && bytes->size == length_of(d->cookie);
        for (uint32_t i = 0; good && i < bytes->size; ++i) good = bytes->data[i] == pattern(d->cookie, i);
        if (!good) driver_errors++;
        held = RingDescriptor{d->offset, d->length, d->opcode, 0, d->cookie, d->argument};
        holding = true;
      }
      if (in.should_signal_producer()) wake_client.signal();
      if (blocked && !stop.load(std::memory_order_relaxed) && !wake_driver.wait(kTimeout)) driver_lost++;
    }
  });

  RingProducer out = requests.producer();
  RingConsumer in = completions.consumer(area);
  std::vector<uint32_t> free_buffers;
  for (uint32_t b = 0; b < buffers; ++b) free_buffers.push_back(b);
  uint64_t sent = 0;
  while (result.completed < count && result.lost_wakeups == 0 && result.errors == 0) {
    bool progress = false;
    for (;;) {
      auto c = in.pop();
      if (!c.ok()) {
        if (c.error() != Error::WouldBlock) result.errors++;
        break;
      }
      if (c->cookie != result.completed || c->status != 0 || c->offset % kBufferBytes != 0 ||
          c->argument != c->cookie * 0x9E3779B97F4A7C15ull) {
        result.errors++;
      }
      result.completed++;
      free_buffers.push_back(static_cast<uint32_t>(c->offset / kBufferBytes));
      progress = true;
    }
    if (in.should_signal_producer()) wake_driver.signal();
    while (sent < count && !free_buffers.empty()) {
      const uint32_t b = free_buffers.back();
      const uint32_t length = length_of(sent);
      for (uint32_t i = 0; i < length; ++i) data[b * kBufferBytes + i] = pattern(sent, i);
      auto r = out.push(RingDescriptor{uint64_t{b} * kBufferBytes, length, 1, 0, sent, sent * 0x9E3779B97F4A7C15ull});
      if (!r.ok()) {
        if (r.error() != Error::WouldBlock) result.errors++;
        break;
      }
      free_buffers.pop_back();
      if (*r) wake_driver.signal();
      sent++;
      progress = true;
    }
    // Nothing to do: both the completion ring (empty) and, if full, the request ring have our
    // flag armed, so the driver will signal.
    if (!progress && result.completed < count && !wake_client.wait(kTimeout)) result.lost_wakeups++;
  }
  stop = true;
  wake_driver.signal();
  driver.join();
  result.errors += driver_errors;
  result.lost_wakeups += driver_lost;
  result.client_signals = wake_driver.signals();
  result.driver_signals = wake_client.signals();
  return result;
}

}  // namespace

TEST_CASE("two threads move 10^6 requests and completions through a ring pair", "[libsys][ring][threads]") {
  const auto [capacity, buffers] = GENERATE(std::make_tuple(256u, 256u), std::make_tuple(2u, 8u), std::make_tuple(64u, 16u));
  const uint64_t count = capacity == 2 ? 200'000 : 1'000'000;
  const TransferResult r = transfer(count, capacity, buffers);
  INFO("capacity " << capacity << ", buffers " << buffers << ": signals client->driver " << r.client_signals
                   << ", driver->client " << r.driver_signals);
  CHECK(r.completed == count);
  CHECK(r.errors == 0);
  CHECK(r.lost_wakeups == 0);
  // Suppression works: far fewer signals than descriptors when the rings are large.
  if (capacity == 256) CHECK(r.client_signals + r.driver_signals < 2 * count);
}

TEST_CASE("ping-pong: every descriptor finds the other side going to sleep, no wake-up is lost", "[libsys][ring][threads]") {
  // One request in flight at a time, so each side empties its ring and sleeps every round: the
  // moments when a push races with the other side's arming of its flag, as often as possible.
  RingMemory requests(2), completions(2);
  Notification wake_client, wake_driver;
  constexpr uint64_t kRounds = 100'000;
  constexpr auto kTimeout = std::chrono::seconds(5);
  std::atomic<uint64_t> driver_lost{0}, driver_errors{0};
  RingConsumer driver_in = requests.consumer(DataArea());
  RingProducer driver_out = completions.producer();
  std::thread driver([&, in = driver_in, out = driver_out]() mutable {
    for (uint64_t served = 0; served < kRounds && driver_lost == 0;) {
      auto d = in.pop();
      if (d.ok()) {
        auto r = out.push(*d);  // never full: one in flight
        if (!r.ok()) driver_errors++;
        else if (*r) wake_client.signal();
        served++;
        continue;
      }
      if (d.error() != Error::WouldBlock) driver_errors++;
      if (!wake_driver.wait(kTimeout)) driver_lost++;
    }
  });
  RingProducer out = requests.producer();
  RingConsumer in = completions.consumer(DataArea());
  uint64_t lost = 0, errors = 0;
  for (uint64_t round = 0; round < kRounds && lost == 0 && errors == 0 && driver_lost == 0; ++round) {
    auto r = out.push(descriptor(0, 0, round));
    if (!r.ok()) { errors++; break; }
    if (*r) wake_driver.signal();
    for (;;) {
      auto c = in.pop();
      if (c.ok()) {
        if (c->cookie != round) errors++;
        break;
      }
      if (c.error() != Error::WouldBlock) { errors++; break; }
      if (!wake_client.wait(kTimeout)) { lost++; break; }
    }
  }
  if (lost != 0 || errors != 0) wake_driver.signal();
  driver.join();
  INFO("signals client->driver " << wake_driver.signals() << ", driver->client " << wake_client.signals());
  CHECK(lost == 0);
  CHECK(driver_lost == 0);
  CHECK(errors == 0);
  CHECK(driver_errors == 0);
}

// ---------------------------------------------------------------------------------------------
// A model of the wake-up protocol, every interleaving

namespace {

// One producer pushing kItems (never full), one consumer; each step below is one atomic action
// (sequential consistency: the full fences in push and pop). The real code's steps:
//   producer: store index | load consumer flag | (set) clear flag | signal
//   consumer: load index, consume if any | store flag = 1 | load index again | (empty) wait,
//             (not) clear flag
enum class Variant { Correct, NoRecheck, FlagBeforeIndex };

struct ModelState {
  uint8_t produced = 0, consumed = 0, flag = 0, note = 0, pc_p = 0, pc_c = 0;
  auto key() const { return std::make_tuple(produced, consumed, flag, note, pc_p, pc_c); }
  bool operator<(const ModelState& o) const { return key() < o.key(); }
};
constexpr uint8_t kItems = 3;

// The successors of `s` (at most one per side).
std::vector<ModelState> steps(const ModelState& s, Variant v) {
  std::vector<ModelState> next;
  ModelState p = s;  // producer step
  bool p_enabled = true;
  switch (s.pc_p) {
    case 0:
      if (s.produced == kItems) { p_enabled = false; break; }
      if (v == Variant::FlagBeforeIndex) { p.pc_p = 10; break; }
      p.produced++; p.pc_p = 1; break;
    case 1: p.pc_p = s.flag ? 2 : 0; break;             // load flag
    case 2: p.flag = 0; p.pc_p = 3; break;              // clear it
    case 3: p.note = 1; p.pc_p = 0; break;              // signal
    case 10: p.pc_p = s.flag ? 11 : 12; break;          // the broken order: flag first ...
    case 11: p.flag = 0; p.note = 1; p.pc_p = 12; break;
    case 12: p.produced++; p.pc_p = 0; break;           // ... index after
  }
  if (p_enabled) next.push_back(p);
  ModelState c = s;  // consumer step
  bool c_enabled = true;
  switch (s.pc_c) {
    case 0:
      if (s.consumed == kItems) { c_enabled = false; break; }
      if (s.produced > s.consumed) { c.consumed++; break; }
      c.pc_c = 1; break;
    case 1: c.flag = 1; c.pc_c = v == Variant::NoRecheck ? 4 : 2; break;
    case 2: c.pc_c = s.produced > s.consumed ? 3 : 4; break;  // the re-check
    case 3: c.flag = 0; c.pc_c = 0; break;
    case 4:
      if (!s.note) { c_enabled = false; break; }        // asleep
      c.note = 0; c.pc_c = 0; break;
  }
  if (c_enabled) next.push_back(c);
  return next;
}

// Explores every interleaving; returns the number of reachable states in which nothing can move
// although the consumer has not consumed everything (a lost wake-up).
size_t lost_wakeups(Variant v, size_t* states) {
  std::set<ModelState> seen;
  std::vector<ModelState> work{ModelState{}};
  seen.insert(ModelState{});
  size_t stuck = 0;
  while (!work.empty()) {
    const ModelState s = work.back();
    work.pop_back();
    const auto next = steps(s, v);
    if (next.empty() && s.consumed != kItems) stuck++;
    for (const auto& n : next) {
      if (seen.insert(n).second) work.push_back(n);
    }
  }
  *states = seen.size();
  return stuck;
}

}  // namespace

TEST_CASE("no interleaving of the flag protocol loses a wake-up", "[libsys][ring][model]") {
  size_t states = 0;
  CHECK(lost_wakeups(Variant::Correct, &states) == 0);
  CHECK(states > 50);
  // The model is strong enough to find the classic mistakes.
  CHECK(lost_wakeups(Variant::NoRecheck, &states) > 0);
  CHECK(lost_wakeups(Variant::FlagBeforeIndex, &states) > 0);
}

// ---------------------------------------------------------------------------------------------
// Hostile peers

TEST_CASE("a producer index that jumps or goes backwards ends the consumer's trust", "[libsys][ring][hostile]") {
  std::vector<uint8_t> data(256);
  const DataArea area(data.data(), data.size());
  RingMemory ring(8);
  RingProducer producer = ring.producer();
  RingConsumer consumer = ring.consumer(area);
  uint32_t* index = &ring.header()->producer.index;

  SECTION("a jump past the capacity") {
    *index = 9;
    CHECK(consumer.pop().error() == Error::MalformedMessage);
  }
  SECTION("a jump of 2^31") {
    *index = 0x80000000u;
    CHECK(consumer.available().error() == Error::MalformedMessage);
  }
  SECTION("going backwards") {
    for (int i = 0; i < 3; ++i) REQUIRE(producer.push(descriptor(0, 1, i)).ok());
    REQUIRE(consumer.pop().ok());
    CHECK(*consumer.available() == 2);
    *index = 2;  // behind what the consumer saw (3), still ahead of what it consumed (1)
    CHECK(consumer.available().error() == Error::MalformedMessage);
  }
  SECTION("behind the consumer") {
    for (int i = 0; i < 3; ++i) REQUIRE(producer.push(descriptor(0, 1, i)).ok());
    for (int i = 0; i < 3; ++i) REQUIRE(consumer.pop().ok());
    *index = 1;
    CHECK(consumer.pop().error() == Error::MalformedMessage);
  }
  // Sticky: the consumer no longer reads the ring, even once the index looks right again.
  CHECK(consumer.broken());
  *index = consumer.consumed() + 1;
  CHECK(consumer.pop().error() == Error::MalformedMessage);
  CHECK_FALSE(consumer.should_signal_producer());
}

TEST_CASE("a consumer index that jumps or goes backwards ends the producer's trust", "[libsys][ring][hostile]") {
  RingMemory ring(8);
  RingProducer producer = ring.producer();
  RingConsumer consumer = ring.consumer(DataArea());
  for (int i = 0; i < 8; ++i) REQUIRE(producer.push(descriptor(0, 0, i)).ok());
  for (int i = 0; i < 4; ++i) REQUIRE(consumer.pop().ok());
  REQUIRE(*producer.free_slots() == 4);
  uint32_t* index = &ring.header()->consumer.index;
  SECTION("past what was produced") { *index = 9; }
  SECTION("backwards") { *index = 3; }
  SECTION("far away") { *index = 0xFFFFFFF0u; }
  CHECK(producer.free_slots().error() == Error::MalformedMessage);
  CHECK(producer.push(descriptor(0, 0, 8)).error() == Error::MalformedMessage);
  CHECK(producer.broken());
  CHECK(ring.header()->producer.index == 8);  // nothing more was written
}

TEST_CASE("descriptors outside the data area are consumed and refused", "[libsys][ring][hostile]") {
  std::vector<uint8_t> data(4096);
  const DataArea area(data.data(), data.size());
  RingMemory ring(16);
  RingProducer producer = ring.producer();
  RingConsumer consumer = ring.consumer(area);
  const RingDescriptor bad[] = {
      descriptor(4096, 1, 1),                  // starts at the end
      descriptor(4000, 97, 2),                 // ends one past it
      descriptor(~uint64_t{0} - 10, 20, 3),    // offset + length wraps around
      descriptor(uint64_t{1} << 63, 0, 4),     // far away, even empty
      descriptor(0, 0xFFFFFFFFu, 5),           // longer than the area
  };
  for (const auto& d : bad) {
    REQUIRE(producer.push(d).ok());
    REQUIRE(producer.push(descriptor(4095, 1, 100 + d.cookie)).ok());  // a good one after each
  }
  for (const auto& d : bad) {
    CHECK(consumer.pop().error() == Error::RangeError);
    CHECK(consumer.rejected().cookie == d.cookie);  // the caller can complete it with an error
    auto good = consumer.pop();
    REQUIRE(good.ok());
    CHECK(good->cookie == 100 + d.cookie);
    auto bytes = area.span(*good);
    REQUIRE(bytes.ok());
    bytes->data[bytes->size - 1] = 1;  // the last byte of the area
  }
  CHECK_FALSE(consumer.broken());
  CHECK(consumer.pop().error() == Error::WouldBlock);
}

namespace {

// Writes `count` random 32-bit values at random places of the ring (header and descriptors).
void corrupt(RingMemory& ring, std::mt19937_64& random, int count) {
  for (int i = 0; i < count; ++i) {
    const uint64_t at = (random() % (ring.size() / 4)) * 4;
    uint32_t value;
    switch (random() % 4) {
      case 0: value = static_cast<uint32_t>(random()); break;
      case 1: value = static_cast<uint32_t>(random() % 64); break;                 // small
      case 2: value = 0xFFFFFFFFu - static_cast<uint32_t>(random() % 64); break;   // nearly -1
      default:  // near what is there (an index that moves a little too far)
        value = __atomic_load_n(reinterpret_cast<uint32_t*>(ring.bytes() + at), __ATOMIC_RELAXED) +
                static_cast<uint32_t>(random() % 32) - 16;
        break;
    }
    write32(ring.bytes() + at, value);
  }
}

// Touches every byte a popped descriptor names (ASan reports anything outside the area).
void touch(const DataArea& area, const RingDescriptor& d) {
  auto bytes = area.span(d);
  REQUIRE(bytes.ok());
  for (size_t i = 0; i < bytes->size; ++i) bytes->data[i] ^= 0x5A;
}

}  // namespace

TEST_CASE("random corruption between steps: the consumer stays inside, reports, never loops", "[libsys][ring][hostile]") {
  std::mt19937_64 random(GENERATE(1, 2, 3, 4, 5));
  std::vector<uint8_t> data(1000);
  const DataArea area(data.data(), data.size());
  uint64_t refused = 0, broken = 0, popped = 0;
  for (int trial = 0; trial < 200; ++trial) {
    RingMemory ring(8);
    RingProducer producer = ring.producer();
    auto attached = RingConsumer::attach(ring.bytes(), ring.size(), 8, area);
    REQUIRE(attached.ok());
    RingConsumer consumer = *attached;
    for (int step = 0; step < 200 && !consumer.broken(); ++step) {
      const uint64_t offset = random() % 1100;  // some past the area
      if (!producer.broken()) {
        auto r = producer.push(descriptor(offset, static_cast<uint32_t>(random() % 200), step));
        CHECK((r.ok() || r.error() == Error::WouldBlock || r.error() == Error::MalformedMessage));
      }
      if (random() % 3 == 0) corrupt(ring, random, 1 + static_cast<int>(random() % 4));
      // However the ring looks, a consumer pops at most `capacity` descriptors before the ring is
      // empty or abandoned: never more than the ring can hold, never forever.
      for (int pops = 0;; ++pops) {
        REQUIRE(pops <= 8);
        auto d = consumer.pop();
        if (d.ok()) {
          touch(area, *d);
          popped++;
          continue;
        }
        if (d.error() == Error::RangeError) {
          CHECK_FALSE(area.contains(consumer.rejected().offset, consumer.rejected().length));
          refused++;
          continue;
        }
        CHECK((d.error() == Error::WouldBlock || d.error() == Error::MalformedMessage));
        if (d.error() == Error::MalformedMessage) broken++;
        break;
      }
      (void)consumer.should_signal_producer();
    }
  }
  INFO("popped " << popped << ", refused " << refused << ", abandoned rings " << broken);
  CHECK(popped > 0);
  CHECK(refused > 0);
  CHECK(broken > 0);
}

TEST_CASE("a third thread scribbling over a live ring: both sides stay inside and end", "[libsys][ring][hostile][threads]") {
  std::vector<uint8_t> data(512);
  const DataArea area(data.data(), data.size());
  uint64_t popped = 0, refused = 0, abandoned = 0;
  for (int round = 0; round < 20; ++round) {
    RingMemory ring(16);
    RingProducer producer = ring.producer();
    RingConsumer consumer = ring.consumer(area);
    std::atomic<bool> done{false};
    std::thread hostile([&, seed = round] {
      std::mt19937_64 random(static_cast<uint64_t>(seed) + 1000);
      while (!done.load(std::memory_order_relaxed)) {
        corrupt(ring, random, 1);
        if (random() % 16 == 0) std::this_thread::yield();
      }
    });
    std::atomic<bool> produced{false};
    std::thread producing([&] {
      for (uint64_t i = 0; i < 20'000 && !producer.broken(); ++i) {
        (void)producer.push(descriptor(i % 600, static_cast<uint32_t>(i % 64), i));
      }
      produced = true;
    });
    // Until the producer is done (bounded all the same), then one ring's worth more.
    int after = 0;
    for (uint64_t i = 0; i < 10'000'000 && !consumer.broken() && after <= 16; ++i) {
      if (produced.load(std::memory_order_relaxed)) after++;
      auto d = consumer.pop();
      if (d.ok()) {
        touch(area, *d);
        popped++;
      } else if (d.error() == Error::RangeError) {
        refused++;
      }
      (void)consumer.should_signal_producer();
    }
    if (consumer.broken()) abandoned++;
    producing.join();
    done = true;
    hostile.join();
  }
  INFO("popped " << popped << ", refused " << refused << ", abandoned " << abandoned);
  CHECK(popped + refused + abandoned > 0);
}
