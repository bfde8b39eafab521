// The invariant checker itself: a healthy structure passes, and each kind of corruption is
// reported (so the property tests would notice it).
#include <catch.hpp>

#include <string>

#include "cap_test_env.h"

using namespace captest;

namespace {

std::string failure_of(TestKernel& k) {
  InvariantReport report = check_invariants(k.ctx());
  return report.ok() ? "" : report.failure;
}

// Root slot 10: endpoint with copies in 11 and 12; 13: a TCB; 14: a CNode.
struct Populated {
  TestKernel k;
  Populated() {
    REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
    REQUIRE(copy_cap(k.ctx(), k.slot(10), k.slot(11)).ok());
    REQUIRE(copy_cap(k.ctx(), k.slot(10), k.slot(12)).ok());
    REQUIRE(k.retype(kBootUntyped, ObjectType::Tcb, 0, 13) == Error::Ok);
    REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 2, 14) == Error::Ok);
    REQUIRE(failure_of(k).empty());
  }
};

}  // namespace

TEST_CASE("a healthy structure passes and is counted", "[cap][invariants]") {
  Populated p;
  InvariantReport report = check_invariants(p.k.ctx());
  CHECK(report.ok());
  // Six boot caps (root, two untyped, three control) + endpoint x3 + TCB + CNode.
  CHECK(report.cap_count == 6 + 5);
}

TEST_CASE("the checker reports broken links", "[cap][invariants]") {
  Populated p;
  SECTION("sibling") {
    p.k.slot(12)->prev_sibling = p.k.slot(11);  // 12 is the first child, 11 the second
    CHECK(failure_of(p.k) == "first child has a previous sibling");
  }
  SECTION("sibling not mutual") {
    p.k.slot(12)->next_sibling = p.k.slot(13);
    CHECK(failure_of(p.k) == "sibling links are not mutual");
  }
  SECTION("parent") {
    p.k.slot(11)->parent = p.k.slot(13);
    CHECK(failure_of(p.k) == "child does not point to its parent");
  }
  SECTION("ring") {
    p.k.slot(11)->ring_next = p.k.slot(13);
    CHECK(failure_of(p.k) == "ring links are not mutual");
  }
  SECTION("ring missing a member") {
    // Unlink 11 from the endpoint ring and give it a ring of its own.
    CapSlot* s = p.k.slot(11);
    s->ring_prev->ring_next = s->ring_next;
    s->ring_next->ring_prev = s->ring_prev;
    s->ring_next = s->ring_prev = s;
    CHECK(failure_of(p.k) == "ring length differs from the caps to its object");
  }
  SECTION("empty slot in the tree") {
    p.k.slot(11)->cap = Capability();
    CHECK(failure_of(p.k) == "empty slot in the derivation tree");
  }
}

TEST_CASE("the checker reports bad caps and derivations", "[cap][invariants]") {
  Populated p;
  SECTION("derived cap names another object") {
    p.k.slot(11)->cap = Capability::object(ObjectType::Endpoint, kUntypedPhys + 0x40);
    CHECK(failure_of(p.k) == "derived cap names another object than its parent");
  }
  SECTION("data word on a type without one") {
    p.k.slot(13)->cap = p.k.slot(13)->cap.with_badge(3);
    CHECK(failure_of(p.k) == "badge or data word set on a type without one");
  }
  SECTION("guard wider than its bits") {
    p.k.slot(14)->cap = p.k.slot(14)->cap.with_guard(8, 3);
    CHECK(failure_of(p.k) == "CNode guard value wider than its guard bits");
  }
  SECTION("watermark without children") {
    CapSlot* device = p.k.slot(kDeviceUntyped);
    device->cap = device->cap.with_watermark(64);
    CHECK(failure_of(p.k) == "untyped without children has a non-zero watermark");
  }
  SECTION("child outside the used region") {
    CapSlot* boot = p.k.slot(kBootUntyped);
    boot->cap = boot->cap.with_watermark(64);
    CHECK(failure_of(p.k) == "child outside its untyped's used region");
  }
  SECTION("misaligned object") {
    REQUIRE(insert_root_cap(p.k.ctx(), p.k.slot(50),
                            Capability::object(ObjectType::Endpoint, kPhysBase + 0x80008))
                .ok());
    CHECK(failure_of(p.k) == "object not aligned to its size");
  }
  SECTION("overlapping objects") {
    REQUIRE(insert_root_cap(p.k.ctx(), p.k.slot(50),
                            Capability::object(ObjectType::Notification, kUntypedPhys))
                .ok());
    CHECK(failure_of(p.k) == "two live objects overlap");
  }
}

TEST_CASE("the checker reports caps outside live containers", "[cap][invariants]") {
  Populated p;
  SECTION("a cap in a slot of no CNode") {
    static CapSlot outside;
    outside = CapSlot{};
    REQUIRE(insert_root_cap(p.k.ctx(), &outside, Capability::control(ObjectType::SchedControl, 9))
                .ok());
    CHECK(failure_of(p.k) == "cap in a slot of no live container");
  }
  SECTION("an occupied slot missing from the tree") {
    p.k.slot(50)->cap = Capability::control(ObjectType::SchedControl, 9);
    CHECK(failure_of(p.k) == "occupied container slots not in the forest");
  }
  SECTION("an empty slot with links") {
    p.k.slot(50)->parent = p.k.slot(10);
    CHECK(failure_of(p.k) == "empty slot with links");
  }
  SECTION("a TCB's embedded slots count as a container") {
    CapSlot* tcb_slots = static_cast<CapSlot*>(p.k.virt(p.k.slot(13)->cap.phys()));
    REQUIRE(move_cap(p.k.ctx(), p.k.slot(11), &tcb_slots[1]).ok());
    CHECK(failure_of(p.k).empty());
  }
}
