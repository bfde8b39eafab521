// FrameAllocator: low-first order, exhaustion, uniqueness, alignment, never outside Available.
#include <catch.hpp>

#include <memory>
#include <random>
#include <set>

#include "lib/frame_allocator.h"
#include "lib/multiboot2.h"
#include "mb2_builder.h"

using tessera::Error;
using tessera::kernel::FrameAllocator;
using tessera::kernel::PhysRegions;
using tessera::kernel::RegionKind;
namespace mb2 = tessera::kernel::mb2;

namespace {
constexpr uint64_t kFrame = FrameAllocator::kFrameSize;

bool inside_kind(const PhysRegions& map, uint64_t base, uint64_t bytes, RegionKind kind) {
  const tessera::kernel::PhysRegion* region = map.find(base);
  return region != nullptr && region->kind == kind && base + bytes <= region->end;
}
}  // namespace

TEST_CASE("frame_allocator: regions are clipped to min_address and shrunk to frames", "[frame_allocator]") {
  auto map = std::make_unique<PhysRegions>();
  REQUIRE(map->add(0x0, 0x9f800, RegionKind::Available).ok());
  REQUIRE(map->add(0xf0800, 0x20000, RegionKind::Available).ok());     // straddles 1 MiB
  REQUIRE(map->add(0x200123, 0x3000, RegionKind::Available).ok());    // unaligned both ends
  REQUIRE(map->add(0x300800, 0x800, RegionKind::Available).ok());      // less than a frame
  REQUIRE(map->add(0x400000, 0x4000, RegionKind::Reserved).ok());
  auto frames = std::make_unique<FrameAllocator>();
  frames->init(*map);
  REQUIRE(frames->remaining_count() == 2);
  CHECK(frames->remaining(0).base == 0x100000);
  CHECK(frames->remaining(0).end == 0x110000);
  CHECK(frames->remaining(1).base == 0x201000);
  CHECK(frames->remaining(1).end == 0x203000);
  CHECK(frames->remaining(1).kind == RegionKind::Available);
  CHECK(frames->free_bytes() == 0x10000 + 0x2000);

  frames->init(*map, 0);
  CHECK(frames->remaining(0).base == 0);
  CHECK(frames->remaining(0).end == 0x9f000);
  CHECK(frames->remaining_count() == 3);
}

TEST_CASE("frame_allocator: allocates low first, each frame once, then NotEnoughMemory", "[frame_allocator]") {
  auto map = std::make_unique<PhysRegions>();
  REQUIRE(map->add(0x100000, 0x10000, RegionKind::Available).ok());
  REQUIRE(map->add(0x104000, 0x2000, RegionKind::Kernel).ok());
  REQUIRE(map->add(0x800000, 0x3000, RegionKind::Available).ok());
  auto frames = std::make_unique<FrameAllocator>();
  frames->init(*map);
  uint64_t total = frames->free_bytes();
  CHECK(total == 0xe000 + 0x3000);

  std::set<uint64_t> seen;
  uint64_t previous = 0;
  for (uint64_t i = 0; i < total / kFrame; ++i) {
    uint64_t frame = frames->alloc().value();
    CHECK(frame > previous);  // ascending: lowest free frame first
    previous = frame;
    CHECK(frame % kFrame == 0);
    CHECK(seen.insert(frame).second);
    CHECK(inside_kind(*map, frame, kFrame, RegionKind::Available));
  }
  CHECK(frames->free_bytes() == 0);
  CHECK(frames->remaining_count() == 0);
  CHECK(frames->alloc().error() == Error::NotEnoughMemory);
  CHECK(frames->alloc_contiguous(1, kFrame).error() == Error::NotEnoughMemory);
}

TEST_CASE("frame_allocator: contiguous runs are aligned and carved correctly", "[frame_allocator]") {
  auto map = std::make_unique<PhysRegions>();
  REQUIRE(map->add(0x101000, 0x5ff000, RegionKind::Available).ok());  // [0x101000, 0x700000)
  auto frames = std::make_unique<FrameAllocator>();
  frames->init(*map);
  uint64_t before = frames->free_bytes();

  uint64_t big = frames->alloc_contiguous(512, 0x200000).value();
  CHECK(big == 0x200000);
  CHECK(frames->free_bytes() == before - 0x200000);
  REQUIRE(frames->remaining_count() == 2);  // split around the run
  CHECK(frames->remaining(0).base == 0x101000);
  CHECK(frames->remaining(0).end == 0x200000);
  CHECK(frames->remaining(1).base == 0x400000);

  CHECK(frames->alloc_contiguous(4, kFrame).value() == 0x101000);  // lowest fit, from the front
  CHECK(frames->remaining(0).base == 0x105000);
  uint64_t run = frames->alloc_contiguous(3, 0x10000).value();
  CHECK(run == 0x110000);
  CHECK(frames->alloc_contiguous(0x300, 0x200000).value() == 0x400000);  // the rest of the top region
  CHECK(frames->alloc_contiguous(1, 0x200000).error() == Error::NotEnoughMemory);
  CHECK(frames->alloc_contiguous(1, 1ull << 63).error() == Error::NotEnoughMemory);
  CHECK(frames->alloc_contiguous(~size_t{0}, kFrame).error() == Error::NotEnoughMemory);
  CHECK(frames->alloc_contiguous(size_t{1} << 60, kFrame).error() == Error::NotEnoughMemory);
  CHECK(frames->discarded_bytes() == 0);
}

TEST_CASE("frame_allocator: bad arguments are InvalidArgument", "[frame_allocator]") {
  auto map = std::make_unique<PhysRegions>();
  REQUIRE(map->add(0x100000, 0x100000, RegionKind::Available).ok());
  auto frames = std::make_unique<FrameAllocator>();
  frames->init(*map);
  CHECK(frames->alloc_contiguous(0, kFrame).error() == Error::InvalidArgument);
  CHECK(frames->alloc_contiguous(1, 0).error() == Error::InvalidArgument);
  CHECK(frames->alloc_contiguous(1, 2048).error() == Error::InvalidArgument);
  CHECK(frames->alloc_contiguous(1, 3 * kFrame).error() == Error::InvalidArgument);
  CHECK(frames->free_bytes() == 0x100000);
}

TEST_CASE("frame_allocator: a full free list discards the piece below an aligned run", "[frame_allocator]") {
  auto map = std::make_unique<PhysRegions>();
  // kCapacity Available regions of 3 frames at odd frame offsets, separated by reserved gaps.
  for (uint64_t i = 0; i < FrameAllocator::kCapacity; ++i) {
    REQUIRE(map->add(0x100000 + i * 0x10000 + kFrame, 3 * kFrame, RegionKind::Available).ok());
  }
  auto frames = std::make_unique<FrameAllocator>();
  frames->init(*map);
  REQUIRE(frames->remaining_count() == FrameAllocator::kCapacity);
  uint64_t before = frames->free_bytes();
  // [base+0x1000, base+0x4000): an 8 KiB-aligned frame at base+0x2000 leaves one frame on each side.
  uint64_t frame = frames->alloc_contiguous(1, 2 * kFrame).value();
  CHECK(frame == 0x102000);
  CHECK(frames->discarded_bytes() == kFrame);
  CHECK(frames->free_bytes() == before - 2 * kFrame);
  CHECK(frames->remaining(0).base == 0x103000);
  CHECK(frames->remaining_count() == FrameAllocator::kCapacity);
  // The discarded frame is never handed out.
  while (true) {
    auto next = frames->alloc();
    if (!next.ok()) break;
    CHECK(next.value() != 0x101000);
  }
}

TEST_CASE("frame_allocator: random mix never repeats or leaves Available memory", "[frame_allocator][fuzz]") {
  std::mt19937_64 random(7);
  for (int round = 0; round < 20; ++round) {
    auto map = std::make_unique<PhysRegions>();
    for (int i = 0; i < 30; ++i) {
      auto kind = random() % 3 == 0 ? RegionKind::Reserved : RegionKind::Available;
      REQUIRE(map->add(random() % 0x2000000, random() % 0x80000, kind).ok());
    }
    auto frames = std::make_unique<FrameAllocator>();
    frames->init(*map);
    std::set<uint64_t> used;
    for (;;) {
      bool contiguous = random() % 2 == 0;
      uint64_t count = contiguous ? 1 + random() % 8 : 1;
      uint64_t align = kFrame << (random() % 6);
      uint64_t free_before = frames->free_bytes();
      auto result = contiguous ? frames->alloc_contiguous(count, align) : frames->alloc();
      if (!result.ok()) {
        REQUIRE(result.error() == Error::NotEnoughMemory);
        REQUIRE(frames->free_bytes() == free_before);
        if (free_before == 0) break;
        continue;
      }
      uint64_t base = result.value();
      REQUIRE(base % (contiguous ? align : kFrame) == 0);
      REQUIRE(base >= 0x100000);
      REQUIRE(inside_kind(*map, base, count * kFrame, RegionKind::Available));
      REQUIRE(frames->free_bytes() <= free_before - count * kFrame);
      for (uint64_t f = base; f < base + count * kFrame; f += kFrame) REQUIRE(used.insert(f).second);
    }
    CHECK(frames->alloc().error() == Error::NotEnoughMemory);
  }
}

TEST_CASE("frame_allocator: from a multiboot2 map through PhysRegions", "[frame_allocator]") {
  std::vector<uint8_t> bytes = Mb2Builder()
      .mmap({{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0x100000, 0x7ee0000, 1}, {0x7fe0000, 0x20000, 2}})
      .module(0x400000, 0x423456, "init")
      .finish();
  auto info = std::make_unique<mb2::BootInfo>();
  REQUIRE(mb2::parse(bytes.data(), bytes.size(), info.get()).ok());
  auto map = std::make_unique<PhysRegions>();
  REQUIRE(map->add_from_multiboot(*info).ok());
  REQUIRE(map->add(0x100000, 0x200000, RegionKind::Kernel).ok());
  for (size_t i = 0; i < info->module_count; ++i) {
    REQUIRE(map->add(info->modules[i].start, info->modules[i].end - info->modules[i].start, RegionKind::Module).ok());
  }
  auto frames = std::make_unique<FrameAllocator>();
  frames->init(*map);
  CHECK(frames->alloc().value() == 0x300000);  // first free frame above the kernel
  CHECK(frames->alloc_contiguous(1, 0x200000).value() == 0x600000);  // above the module's rounded end
  CHECK(frames->remaining(1).base == 0x424000);
}
