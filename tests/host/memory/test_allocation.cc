// The memory server's allocation model (servers/memory/allocation.h) against brute force: on random
// small instances, every integer split of the spare pages within the requests is tried and the
// greedy answer must reach the minimal cost, use exactly the spare pages and respect every bound.
#include <catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "allocation.h"

namespace {
using memory::Claim;

// The least cost of any x with sum(x) == spare and 0 <= x_i <= request_i; UINT64_MAX when none.
uint64_t brute_force(uint64_t spare, const std::vector<Claim>& claims, size_t i = 0) {
  if (i == claims.size()) return spare == 0 ? 0 : UINT64_MAX;
  uint64_t best = UINT64_MAX;
  for (uint64_t x = 0; x <= claims[i].request && x <= spare; ++x) {
    const uint64_t rest = brute_force(spare - x, claims, i + 1);
    if (rest != UINT64_MAX && rest + x * claims[i].cost < best) best = rest + x * claims[i].cost;
  }
  return best;
}
}  // namespace

TEST_CASE("the greedy split is optimal on random instances", "[memory][allocation]") {
  std::mt19937_64 rng(0x5EED0002);
  for (int instance = 0; instance < 3000; ++instance) {
    const size_t n = 1 + rng() % 5;
    std::vector<Claim> claims(n);
    uint64_t requested = 0;
    for (Claim& c : claims) {
      c.request = rng() % 7;
      c.cost = rng() % 5;
      requested += c.request;
    }
    const uint64_t spare = rng() % 12;
    uint64_t grants[memory::kMaxClaims] = {};
    auto cost = memory::share_spare_pages(spare, claims.data(), n, grants);
    uint64_t granted = 0;
    for (size_t i = 0; i < n; ++i) {
      CHECK(grants[i] <= claims[i].request);
      granted += grants[i];
    }
    INFO("instance " << instance << " spare " << spare << " requested " << requested);
    if (requested < spare) {
      CHECK(cost.error() == tessera::Error::RangeError);
      CHECK(granted == requested);  // everything asked for, and no more
      continue;
    }
    REQUIRE(cost.ok());
    CHECK(granted == spare);
    CHECK(*cost == brute_force(spare, claims));
  }
}

TEST_CASE("ties go to the lower index; too many claims are refused", "[memory][allocation]") {
  const Claim claims[] = {{4, 1}, {4, 1}, {4, 0}};
  uint64_t grants[3] = {};
  auto cost = memory::share_spare_pages(6, claims, 3, grants);
  REQUIRE(cost.ok());
  CHECK(grants[2] == 4);  // cheapest first
  CHECK(grants[0] == 2);  // then the lower index of the tie
  CHECK(grants[1] == 0);
  CHECK(*cost == 2);
  std::vector<Claim> many(memory::kMaxClaims + 1);
  std::vector<uint64_t> out(many.size());
  CHECK(memory::share_spare_pages(1, many.data(), many.size(), out.data()).error() == tessera::Error::InvalidArgument);
}
