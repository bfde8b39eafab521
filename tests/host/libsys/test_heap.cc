// The process heap's boundary-tag allocator (libsys/rt/heap.cc) on the host, in particular growing
// its window at the end (Heap::extend, how the heap of a process with a memory session grows):
// extending a free or a used tail, coalescing across the old end, refused arguments, and random
// allocate/free/extend sequences whose payloads must stay disjoint, intact and inside the window.
#include <catch.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include <tessera/sys/heap.h>

namespace {
using tessera::sys::Heap;

// A window the heap may grow into, 16-byte aligned, large enough for every test.
constexpr size_t kArenaBytes = 1 << 20;
alignas(64) uint8_t arena[kArenaBytes];

bool inside(const Heap& heap, const void* p, size_t bytes) {
  const auto* b = static_cast<const uint8_t*>(p);
  return b >= arena && b + bytes <= arena + heap.capacity();
}
}  // namespace

TEST_CASE("extending a heap whose last block is free grows that block", "[libsys][heap]") {
  Heap heap;
  REQUIRE(heap.init(arena, 4096).ok());
  CHECK(heap.allocate(8192) == nullptr);
  REQUIRE(heap.extend(8192).ok());
  CHECK(heap.capacity() == 4096 + 8192);
  CHECK(heap.check_consistency());
  CHECK(heap.largest_free() == 4096 + 8192 - Heap::kHeaderBytes);
  void* big = heap.allocate(8192);
  REQUIRE(big != nullptr);
  CHECK(inside(heap, big, 8192));
  std::memset(big, 0xA5, 8192);
  CHECK(heap.check_consistency());
  heap.free(big);
  CHECK(heap.live_allocations() == 0);
  CHECK(heap.largest_free() == heap.capacity() - Heap::kHeaderBytes);
  CHECK(heap.check_consistency());
}

TEST_CASE("extending a heap whose last block is used adds a free block that coalesces", "[libsys][heap]") {
  Heap heap;
  REQUIRE(heap.init(arena, 1024).ok());
  // Fill the heap exactly, so the last block is in use.
  void* all = heap.allocate(1024 - Heap::kHeaderBytes);
  REQUIRE(all != nullptr);
  CHECK(heap.largest_free() == 0);
  REQUIRE(heap.extend(2048).ok());
  CHECK(heap.check_consistency());
  CHECK(heap.largest_free() == 2048 - Heap::kHeaderBytes);
  void* more = heap.allocate(1000);
  REQUIRE(more != nullptr);
  CHECK(static_cast<uint8_t*>(more) >= arena + 1024);
  CHECK(inside(heap, more, 1000));
  // Freeing the old block and the new one merges everything into one block again.
  heap.free(all);
  heap.free(more);
  CHECK(heap.check_consistency());
  CHECK(heap.largest_free() == 3072 - Heap::kHeaderBytes);
  CHECK(heap.bad_frees() == 0);
}

TEST_CASE("a free at the old end coalesces with the block extend added", "[libsys][heap]") {
  Heap heap;
  REQUIRE(heap.init(arena, 512).ok());
  void* first = heap.allocate(208);                         // a block of 224 bytes
  void* last = heap.allocate(512 - 224 - Heap::kHeaderBytes);  // takes the rest (288)
  REQUIRE(first != nullptr);
  REQUIRE(last != nullptr);
  CHECK(heap.largest_free() == 0);
  REQUIRE(heap.extend(512).ok());
  heap.free(last);  // its next neighbour is the new free block
  CHECK(heap.check_consistency());
  CHECK(heap.largest_free() == 1024 - 224 - Heap::kHeaderBytes);
  heap.free(first);
  CHECK(heap.largest_free() == 1024 - Heap::kHeaderBytes);
  CHECK(heap.check_consistency());
}

TEST_CASE("extend refuses what it cannot add", "[libsys][heap]") {
  Heap empty;
  CHECK(empty.extend(4096).error() == tessera::Error::InvalidArgument);  // no window yet
  Heap heap;
  REQUIRE(heap.init(arena, 4096).ok());
  CHECK(heap.extend(0).error() == tessera::Error::InvalidArgument);
  CHECK(heap.extend(Heap::kMinBlockBytes - Heap::kAlignment).error() == tessera::Error::InvalidArgument);
  CHECK(heap.extend(4096 + 8).error() == tessera::Error::InvalidArgument);  // not a multiple of 16
  CHECK(heap.extend(SIZE_MAX - 15).error() == tessera::Error::InvalidArgument);  // wraps around
  CHECK(heap.capacity() == 4096);
  CHECK(heap.check_consistency());
  REQUIRE(heap.extend(Heap::kMinBlockBytes).ok());
  CHECK(heap.capacity() == 4096 + Heap::kMinBlockBytes);
  CHECK(heap.check_consistency());
}

TEST_CASE("random allocations, frees and extensions keep the heap consistent", "[libsys][heap]") {
  std::mt19937_64 rng(0x5EED0014);
  for (int round = 0; round < 40; ++round) {
    Heap heap;
    size_t window = 4096;
    REQUIRE(heap.init(arena, window).ok());
    std::map<uint8_t*, std::pair<size_t, uint8_t>> live;  // payload -> size, fill byte
    for (int step = 0; step < 2000; ++step) {
      const unsigned op = static_cast<unsigned>(rng() % 10);
      if (op < 5) {
        const size_t bytes = 1 + rng() % 700;
        const size_t alignment = size_t{1} << (rng() % 8);  // 1 .. 128
        auto* p = static_cast<uint8_t*>(heap.allocate(bytes, alignment));
        if (p == nullptr) {
          // As the process heap does: grow by what the allocation needs, then it must fit.
          const size_t need = (bytes + std::max<size_t>(alignment, 16) + 2 * Heap::kHeaderBytes +
                               Heap::kMinBlockBytes + 15) & ~size_t{15};
          if (window + need > kArenaBytes) continue;
          REQUIRE(heap.extend(need).ok());
          window += need;
          p = static_cast<uint8_t*>(heap.allocate(bytes, alignment));
          REQUIRE(p != nullptr);
        }
        REQUIRE(reinterpret_cast<uintptr_t>(p) % std::max<size_t>(alignment, 16) == 0);
        REQUIRE(inside(heap, p, bytes));
        const auto fill = static_cast<uint8_t>(rng());
        std::memset(p, fill, bytes);
        live[p] = {bytes, fill};
      } else if (op < 9 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        for (size_t i = 0; i < it->second.first; ++i) REQUIRE(it->first[i] == it->second.second);
        heap.free(it->first);
        live.erase(it);
      } else if (window + 1024 <= kArenaBytes) {
        const size_t more = Heap::kMinBlockBytes + 16 * (rng() % 60);
        REQUIRE(heap.extend(more).ok());
        window += more;
      }
      REQUIRE(heap.capacity() == window);
      REQUIRE(heap.live_allocations() == live.size());
    }
    REQUIRE(heap.check_consistency());
    for (auto& [p, what] : live) {
      for (size_t i = 0; i < what.first; ++i) REQUIRE(p[i] == what.second);
      heap.free(p);
    }
    CHECK(heap.check_consistency());
    CHECK(heap.bad_frees() == 0);
    CHECK(heap.largest_free() == window - Heap::kHeaderBytes);
  }
}
