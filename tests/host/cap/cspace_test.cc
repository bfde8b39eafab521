// CSpace addressing: guarded, radix-indexed resolution of capability pointers.
#include <catch.hpp>

#include "cap_test_env.h"

using namespace captest;

namespace {

// Root (radix 8, no guard): slot 10 = CNode C (radix 4, no guard), slot 11 = the same CNode
// minted with the 3-bit guard 0b101, slot 12 = an endpoint.
struct TwoLevel {
  TestKernel k;
  TwoLevel() {
    REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 4, 10) == Error::Ok);
    REQUIRE(mint_cap(k.ctx(), k.slot(10), k.slot(11), CapRights::all(), cnode_guard_data(5, 3))
                .ok());
    REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 12) == Error::Ok);
  }
  Result<CapSlot*> lookup(uint64_t cptr, uint64_t depth, LookupFailure* why = nullptr) {
    return lookup_slot(k.ctx(), k.root_cap(), cptr, depth, why);
  }
};

}  // namespace

TEST_CASE("a one-level lookup indexes the root CNode", "[cap][cspace]") {
  TwoLevel t;
  auto slot = t.lookup(12, 8);
  REQUIRE(slot.ok());
  CHECK(*slot == t.k.slot(12));
  // A lookup that ends exactly at a CNode cap returns that slot (it does not descend).
  CHECK(*t.lookup(10, 8) == t.k.slot(10));
  // Only the low `depth` bits count.
  CHECK(*t.lookup((uint64_t{0xFFFF} << 8) | 12, 8) == t.k.slot(12));
}

TEST_CASE("a two-level lookup goes through the guard", "[cap][cspace]") {
  TwoLevel t;
  CapSlot* inner = t.k.slot_in(t.k.slot(10), 3);
  auto unguarded = t.lookup((10 << 4) | 3, 12);
  REQUIRE(unguarded.ok());
  CHECK(*unguarded == inner);
  auto guarded = t.lookup((11 << 7) | (0b101 << 4) | 3, 15);
  REQUIRE(guarded.ok());
  CHECK(*guarded == inner);
}

TEST_CASE("lookup failures say why", "[cap][cspace]") {
  TwoLevel t;
  LookupFailure why;
  SECTION("guard mismatch") {
    CHECK(t.lookup((11 << 7) | (0b100 << 4) | 3, 15, &why).error() == Error::FailedLookup);
    CHECK(why.kind == LookupFailureKind::GuardMismatch);
    CHECK(why.bits_left == 7);
    CHECK(why.bits_found == 3);
    CHECK(why.guard_found == 0b100);
  }
  SECTION("fewer bits left than the guard") {
    CHECK(t.lookup((11 << 2) | 1, 10, &why).error() == Error::FailedLookup);
    CHECK(why.kind == LookupFailureKind::GuardMismatch);
  }
  SECTION("depth ends inside a level") {
    CHECK(t.lookup((11 << 4) | (0b101 << 1), 12, &why).error() == Error::FailedLookup);
    CHECK(why.kind == LookupFailureKind::DepthMismatch);
    CHECK(why.bits_left == 4);
    CHECK(why.bits_found == 7);
  }
  SECTION("a non-CNode in the middle") {
    CHECK(t.lookup((12 << 4) | 1, 12, &why).error() == Error::FailedLookup);
    CHECK(why.kind == LookupFailureKind::DepthMismatch);
    CHECK(why.bits_left == 4);
    auto resolved = resolve_address_bits(t.k.ctx(), t.k.root_cap(), (12 << 4) | 1, 12);
    REQUIRE(resolved.ok());
    CHECK(resolved->slot == t.k.slot(12));
    CHECK(resolved->bits_remaining == 4);
  }
  SECTION("an empty slot in the middle") {
    CHECK(t.lookup((200 << 4) | 1, 12, &why).error() == Error::FailedLookup);
    CHECK(why.kind == LookupFailureKind::DepthMismatch);
  }
  SECTION("depth out of range") {
    CHECK(t.lookup(0, 0).error() == Error::RangeError);
    CHECK(t.lookup(0, 65).error() == Error::RangeError);
    CHECK(t.lookup(0, ~uint64_t{0}).error() == Error::RangeError);
  }
  SECTION("root is not a CNode") {
    CHECK(lookup_slot(t.k.ctx(), t.k.slot(12)->cap, 0, 8, &why).error() == Error::FailedLookup);
    CHECK(why.kind == LookupFailureKind::InvalidRoot);
    CHECK(lookup_slot(t.k.ctx(), Capability(), 0, 8, &why).error() == Error::FailedLookup);
  }
}

TEST_CASE("a 64-bit guard resolves the whole word", "[cap][cspace]") {
  TestKernel k;
  // A cap to the root CNode with a 56-bit guard: radix 8 + 56 = 64 bits in one level.
  uint64_t guard = 0x00AB'CDEF'0123'4567;
  REQUIRE(mint_cap(k.ctx(), k.slot(kRootSelf), k.slot(20), CapRights::all(),
                   cnode_guard_data(guard, 56))
              .ok());
  Capability guarded_root = k.slot(20)->cap;
  auto slot = lookup_slot(k.ctx(), guarded_root, (guard << 8) | 20, 64);
  REQUIRE(slot.ok());
  CHECK(*slot == k.slot(20));
  CHECK(lookup_slot(k.ctx(), guarded_root, ((guard ^ 1) << 8) | 20, 64).error() ==
        Error::FailedLookup);
  // Invocation-style lookup: all 64 bits.
  CHECK(lookup_cap<ObjectType::CNode>(k.ctx(), guarded_root, (guard << 8) | kRootSelf,
                                      CapRights::none())
            .ok());
  CHECK(k.check() == "");
}

TEST_CASE("lookups descend through a chain of CNodes", "[cap][cspace]") {
  TestKernel k;
  // Root slot 30 -> CNode A (radix 2); A[1] -> CNode B (radix 2); B[2] = endpoint.
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 2, 30) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 2, 31) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 32) == Error::Ok);
  REQUIRE(move_cap(k.ctx(), k.slot(31), k.slot_in(k.slot(30), 1)).ok());
  CapSlot* b = k.slot_in(k.slot(30), 1);
  REQUIRE(move_cap(k.ctx(), k.slot(32), k.slot_in(b, 2)).ok());
  auto ep = lookup_cap<ObjectType::Endpoint>(k.ctx(), k.root_cap(),
                                             (uint64_t{30} << 56) | (uint64_t{1} << 54) |
                                                 (uint64_t{2} << 52),
                                             CapRights::all());
  REQUIRE(ep.ok());
  CHECK(ep->slot() == k.slot_in(b, 2));
  CHECK(*lookup_slot(k.ctx(), k.root_cap(), (30 << 4) | (1 << 2) | 2, 12) == k.slot_in(b, 2));
  CHECK(k.check() == "");
}
