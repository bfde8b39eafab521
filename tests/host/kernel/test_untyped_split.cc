// Splitting free memory into untyped blocks: exact cover, alignment, limits.
#include <catch.hpp>

#include <random>
#include <vector>

#include "lib/untyped_split.h"

using tessera::kernel::split_into_untyped;
using tessera::kernel::UntypedBlock;

namespace {
std::vector<UntypedBlock> split(uint64_t base, uint64_t end, uint8_t min_bits = 12, uint8_t max_bits = 47) {
  std::vector<UntypedBlock> out(256);
  const size_t n = split_into_untyped(base, end, min_bits, max_bits, out.data(), out.size());
  REQUIRE(n <= out.size());
  out.resize(n);
  return out;
}
}  // namespace

TEST_CASE("an aligned power-of-two range is one block", "[untyped]") {
  const auto blocks = split(0x100000, 0x200000);
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0].base == 0x100000);
  CHECK(blocks[0].size_bits == 20);
}

TEST_CASE("a typical free range is covered exactly by aligned blocks", "[untyped]") {
  const uint64_t base = 0x250000, end = 0x7fe0000;
  const auto blocks = split(base, end);
  uint64_t at = base;
  for (const auto& b : blocks) {
    CHECK(b.base == at);
    CHECK((b.base & ((1ull << b.size_bits) - 1)) == 0);
    at += 1ull << b.size_bits;
  }
  CHECK(at == end);
  CHECK(blocks.size() < 24);
}

TEST_CASE("unaligned ends and tiny ranges skip what fits no block", "[untyped]") {
  CHECK(split(0x1001, 0x2000).empty());
  CHECK(split(0x1000, 0x1fff).empty());
  const auto blocks = split(0x1800, 0x4800);
  REQUIRE(blocks.size() == 1);  // [0x2000, 0x4000) is one 8 KiB block aligned to 8 KiB
  CHECK(blocks[0].base == 0x2000);
  CHECK(blocks[0].size_bits == 13);
  CHECK(split(0x5000, 0x1000).empty());
}

TEST_CASE("max_bits caps block size and capacity overflow is reported", "[untyped]") {
  const auto blocks = split(0, 1ull << 24, 12, 20);
  CHECK(blocks.size() == 16);
  for (const auto& b : blocks) CHECK(b.size_bits == 20);
  UntypedBlock few[2];
  CHECK(split_into_untyped(0, 1ull << 24, 12, 20, few, 2) == 16);
  CHECK(split_into_untyped(0, ~0ull, 12, 63, few, 2) >= 1);
}

TEST_CASE("random ranges: blocks aligned, inside, non-overlapping, cover all whole pages", "[untyped]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t base = rng() % (1ull << 36);
    const uint64_t end = base + rng() % (1ull << 30);
    const auto blocks = split(base, end);
    uint64_t covered = 0, last_end = 0;
    for (const auto& b : blocks) {
      REQUIRE((b.base & ((1ull << b.size_bits) - 1)) == 0);
      REQUIRE(b.base >= base);
      REQUIRE(b.base + (1ull << b.size_bits) <= end);
      REQUIRE(b.base >= last_end);
      last_end = b.base + (1ull << b.size_bits);
      covered += 1ull << b.size_bits;
    }
    const uint64_t first_page = (base + 0xfff) & ~0xfffull, last_page = end & ~0xfffull;
    REQUIRE(covered == (last_page > first_page ? last_page - first_page : 0));
  }
}
