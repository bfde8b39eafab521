// PhysRegions: sorting, merging, overlap precedence, wrap-around, capacity, order independence.
#include <catch.hpp>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "lib/phys_regions.h"

using tessera::Error;
using tessera::kernel::PhysRegion;
using tessera::kernel::PhysRegions;
using tessera::kernel::RegionKind;
using Kind = RegionKind;
namespace mb2 = tessera::kernel::mb2;

namespace {

struct Expected {
  uint64_t base, end;
  RegionKind kind;
};

std::vector<Expected> regions_of(const PhysRegions& map) {
  std::vector<Expected> out;
  for (size_t i = 0; i < map.count(); ++i) out.push_back({map[i].base, map[i].end, map[i].kind});
  return out;
}

bool operator==(const Expected& a, const Expected& b) { return a.base == b.base && a.end == b.end && a.kind == b.kind; }

std::ostream& operator<<(std::ostream& os, const Expected& e) {
  return os << "[" << std::hex << e.base << "," << e.end << ")" << tessera::kernel::region_kind_name(e.kind);
}

// The documented invariants: sorted, non-empty, non-overlapping, no mergeable neighbours.
void check_invariants(const PhysRegions& map) {
  for (size_t i = 0; i < map.count(); ++i) {
    REQUIRE(map[i].base < map[i].end);
    if (i > 0) {
      REQUIRE(map[i - 1].end <= map[i].base);
      REQUIRE_FALSE((map[i - 1].end == map[i].base && map[i - 1].kind == map[i].kind));
    }
  }
}

std::unique_ptr<PhysRegions> make_map() { return std::make_unique<PhysRegions>(); }

}  // namespace

TEST_CASE("phys_regions: sorted insertion and merging", "[phys_regions]") {
  auto map = make_map();
  REQUIRE(map->add(0x3000, 0x1000, Kind::Available).ok());
  REQUIRE(map->add(0x1000, 0x1000, Kind::Available).ok());
  CHECK(regions_of(*map) == std::vector<Expected>{{0x1000, 0x2000, Kind::Available}, {0x3000, 0x4000, Kind::Available}});
  REQUIRE(map->add(0x2000, 0x1000, Kind::Available).ok());  // fills the gap: one region
  CHECK(regions_of(*map) == std::vector<Expected>{{0x1000, 0x4000, Kind::Available}});
  REQUIRE(map->add(0x4000, 0x1000, Kind::Reserved).ok());  // adjacent, other kind: not merged
  CHECK(map->count() == 2);
  REQUIRE(map->add(0x1000, 0, Kind::Bad).ok());  // zero length: no-op
  CHECK(map->count() == 2);
  CHECK(map->total(Kind::Available) == 0x3000);
  CHECK(map->total(Kind::Reserved) == 0x1000);
  CHECK(map->total(Kind::Bad) == 0);
  check_invariants(*map);
}

TEST_CASE("phys_regions: a restrictive range punches a hole and splits", "[phys_regions]") {
  auto map = make_map();
  REQUIRE(map->add(0, 0x100000, Kind::Available).ok());
  REQUIRE(map->add(0x20000, 0x10000, Kind::Kernel).ok());
  CHECK(regions_of(*map) == std::vector<Expected>{
      {0, 0x20000, Kind::Available}, {0x20000, 0x30000, Kind::Kernel}, {0x30000, 0x100000, Kind::Available}});
  // Available never overrides anything, but fills gaps around it.
  REQUIRE(map->add(0, 0x200000, Kind::Available).ok());
  CHECK(regions_of(*map) == std::vector<Expected>{
      {0, 0x20000, Kind::Available}, {0x20000, 0x30000, Kind::Kernel}, {0x30000, 0x200000, Kind::Available}});
  check_invariants(*map);
}

TEST_CASE("phys_regions: documented precedence", "[phys_regions]") {
  // Each kind, from weakest to strongest.
  const Kind order[] = {Kind::Available, Kind::AcpiReclaimable, Kind::Reserved, Kind::Device, Kind::AcpiNvs,
                        Kind::BootInfo, Kind::Module, Kind::Kernel, Kind::Bad};
  for (size_t weak = 0; weak < std::size(order); ++weak) {
    for (size_t strong = weak; strong < std::size(order); ++strong) {
      for (bool strong_first : {false, true}) {
        auto map = make_map();
        Kind first = strong_first ? order[strong] : order[weak];
        Kind second = strong_first ? order[weak] : order[strong];
        REQUIRE(map->add(0x1000, 0x3000, first).ok());
        REQUIRE(map->add(0x2000, 0x1000, second).ok());
        INFO("weak " << weak << " strong " << strong << " strong_first " << strong_first);
        // Whatever the order, the overlapped middle is the stronger kind.
        REQUIRE(map->find(0x2000) != nullptr);
        CHECK(map->find(0x2000)->kind == order[strong]);
        CHECK(map->find(0x2fff)->kind == order[strong]);
        CHECK(map->find(0x1000)->kind == first);
        check_invariants(*map);
      }
    }
  }
}

TEST_CASE("phys_regions: one range across several regions and gaps", "[phys_regions]") {
  auto map = make_map();
  REQUIRE(map->add(0x1000, 0x1000, Kind::Available).ok());
  REQUIRE(map->add(0x3000, 0x1000, Kind::Bad).ok());
  REQUIRE(map->add(0x5000, 0x1000, Kind::AcpiReclaimable).ok());
  REQUIRE(map->add(0x800, 0x6000, Kind::Reserved).ok());
  CHECK(regions_of(*map) == std::vector<Expected>{{0x800, 0x3000, Kind::Reserved},
                                                  {0x3000, 0x4000, Kind::Bad},
                                                  {0x4000, 0x6800, Kind::Reserved}});
  check_invariants(*map);
}

TEST_CASE("phys_regions: ranges past 2^64 are InvalidArgument", "[phys_regions]") {
  auto map = make_map();
  CHECK(map->add(~0ull - 0xfff, 0x1000, Kind::Available).error() == Error::InvalidArgument);
  CHECK(map->add(~0ull, ~0ull, Kind::Available).error() == Error::InvalidArgument);
  CHECK(map->count() == 0);
  CHECK(map->add(~0ull - 0xfff, 0xfff, Kind::Reserved).ok());
  CHECK(map->count() == 1);
  CHECK(map->find(~0ull - 1) != nullptr);
  CHECK(map->find(~0ull) == nullptr);
}

TEST_CASE("phys_regions: capacity exhaustion leaves the map unchanged", "[phys_regions]") {
  auto map = make_map();
  for (uint64_t i = 0; i < PhysRegions::kCapacity; ++i) {
    REQUIRE(map->add(i * 0x2000, 0x1000, i % 2 ? Kind::Available : Kind::Reserved).ok());
  }
  REQUIRE(map->count() == PhysRegions::kCapacity);
  std::vector<Expected> before = regions_of(*map);
  CHECK(map->add(0x10000000, 0x1000, Kind::Available).error() == Error::RangeError);
  // Splitting an existing region also needs room.
  CHECK(map->add(0x2400, 0x100, Kind::Bad).error() == Error::RangeError);
  CHECK(regions_of(*map) == before);
  // Adds that do not need a new region still work at capacity: merging into a neighbour...
  CHECK(map->add(0x1000, 0x800, Kind::Reserved).ok());
  // ...or covering [Reserved][gap][Available][gap][Reserved] with Reserved, which frees two slots.
  CHECK(map->add(0x1000, 0x4000, Kind::Reserved).ok());
  CHECK(map->count() == PhysRegions::kCapacity - 2);
  CHECK(map->find(0x2800)->kind == Kind::Reserved);
  CHECK(map->add(0x10000000, 0x1000, Kind::Available).ok());
  check_invariants(*map);
}

TEST_CASE("phys_regions: find", "[phys_regions]") {
  auto map = make_map();
  CHECK(map->find(0) == nullptr);
  REQUIRE(map->add(0x1000, 0x1000, Kind::Available).ok());
  REQUIRE(map->add(0x4000, 0x1000, Kind::Kernel).ok());
  CHECK(map->find(0xfff) == nullptr);
  CHECK(map->find(0x1000)->kind == Kind::Available);
  CHECK(map->find(0x1fff)->kind == Kind::Available);
  CHECK(map->find(0x2000) == nullptr);
  CHECK(map->find(0x4800)->kind == Kind::Kernel);
  CHECK(map->find(0x5000) == nullptr);
}

TEST_CASE("phys_regions: from a multiboot2 memory map", "[phys_regions]") {
  auto info = std::make_unique<mb2::BootInfo>();
  info->region_count = 5;
  info->regions[0] = {0, 0x9fc00, mb2::MemoryType::Available};
  info->regions[1] = {0x9f000, 0x61000, mb2::MemoryType::Reserved};  // overlaps the first
  info->regions[2] = {0x100000, 0x7ee0000, mb2::MemoryType::Available};
  info->regions[3] = {0x7fe0000, 0x20000, mb2::MemoryType::AcpiReclaimable};
  info->regions[4] = {0xfee00000, 0x1000, mb2::MemoryType::AcpiNvs};
  auto map = make_map();
  REQUIRE(map->add_from_multiboot(*info).ok());
  CHECK(regions_of(*map) == std::vector<Expected>{{0, 0x9f000, Kind::Available},
                                                  {0x9f000, 0x100000, Kind::Reserved},
                                                  {0x100000, 0x7fe0000, Kind::Available},
                                                  {0x7fe0000, 0x8000000, Kind::AcpiReclaimable},
                                                  {0xfee00000, 0xfee01000, Kind::AcpiNvs}});
  info->region_count = 1;
  info->regions[0] = {0x5000, 0x1000, mb2::MemoryType::Bad};
  REQUIRE(map->add_from_multiboot(*info).ok());
  CHECK(map->find(0x5000)->kind == Kind::Bad);
}

TEST_CASE("phys_regions: random adds keep invariants and do not depend on order", "[phys_regions][fuzz]") {
  std::mt19937_64 random(42);
  for (int round = 0; round < 200; ++round) {
    struct Add {
      uint64_t base, length;
      Kind kind;
    };
    std::vector<Add> adds;
    for (int i = 0; i < 40; ++i) {
      adds.push_back({(random() % 64) * 0x1000, (random() % 16) * 0x1000, static_cast<Kind>(random() % 9)});
    }
    auto forward = make_map();
    for (const Add& add : adds) {
      REQUIRE(forward->add(add.base, add.length, add.kind).ok());
      check_invariants(*forward);
    }
    std::shuffle(adds.begin(), adds.end(), random);
    auto shuffled = make_map();
    for (const Add& add : adds) REQUIRE(shuffled->add(add.base, add.length, add.kind).ok());
    REQUIRE(regions_of(*forward) == regions_of(*shuffled));
    // Every page takes the strongest kind added over it.
    for (uint64_t page = 0; page < 80; ++page) {
      uint64_t address = page * 0x1000;
      int best = -1;
      Kind best_kind = Kind::Available;
      for (const Add& add : adds) {
        if (address >= add.base && address < add.base + add.length &&
            static_cast<int>(tessera::kernel::region_rank(add.kind)) > best) {
          best = static_cast<int>(tessera::kernel::region_rank(add.kind));
          best_kind = add.kind;
        }
      }
      const PhysRegion* found = forward->find(address);
      if (best < 0) {
        REQUIRE(found == nullptr);
      } else {
        REQUIRE(found != nullptr);
        REQUIRE(found->kind == best_kind);
      }
    }
  }
}
