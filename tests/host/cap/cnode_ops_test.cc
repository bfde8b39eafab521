// Copy, Mint, Move, Mutate, Rotate and the kernel's own cap placement, with every error path.
#include <catch.hpp>

#include "cap_test_env.h"

using namespace captest;

namespace {

struct WithEndpoint {
  TestKernel k;
  CapSlot* ep;
  WithEndpoint() {
    REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
    ep = k.slot(10);
  }
  CapContext& ctx() { return k.ctx(); }
  CapSlot* s(uint64_t i) { return k.slot(i); }
};

}  // namespace

TEST_CASE("Copy makes a child naming the same object", "[cap][copy]") {
  WithEndpoint t;
  REQUIRE(copy_cap(t.ctx(), t.ep, t.s(11)).ok());
  CHECK(t.s(11)->cap == t.ep->cap);
  CHECK(t.s(11)->parent == t.ep);
  CHECK_FALSE(t.ep->is_last_cap_to_object());
  CHECK(t.k.check() == "");
}

TEST_CASE("Copy errors", "[cap][copy]") {
  WithEndpoint t;
  CHECK(copy_cap(t.ctx(), t.s(20), t.s(21)).error() == Error::EmptySlot);
  CHECK(copy_cap(t.ctx(), t.ep, t.s(kRootSelf)).error() == Error::DeleteFirst);
  CHECK(copy_cap(t.ctx(), t.ep, t.ep).error() == Error::DeleteFirst);
  CHECK(copy_cap(t.ctx(), t.s(kIrqControl), t.s(21)).error() == Error::IllegalOperation);
  CHECK(copy_cap(t.ctx(), t.s(kIoPortControl), t.s(21)).error() == Error::IllegalOperation);
  REQUIRE(t.k.retype(kBootUntyped, ObjectType::Reply, 0, 22) == Error::Ok);
  CHECK(copy_cap(t.ctx(), t.s(22), t.s(21)).error() == Error::IllegalOperation);
  // The boot untyped has children (the endpoint and reply): it cannot be copied.
  CHECK(copy_cap(t.ctx(), t.s(kBootUntyped), t.s(21)).error() == Error::RevokeFirst);
  CHECK(t.s(21)->empty());
  CHECK(t.k.check() == "");
}

TEST_CASE("Mint reduces rights and sets a badge once", "[cap][mint]") {
  WithEndpoint t;
  REQUIRE(mint_cap(t.ctx(), t.ep, t.s(11), CapRights::read() | CapRights::write(), 7).ok());
  CHECK(t.s(11)->cap.badge() == 7);
  CHECK(t.s(11)->cap.rights() == (CapRights::read() | CapRights::write()));
  CHECK(t.s(11)->parent == t.ep);
  // Mint can only keep or reduce rights.
  REQUIRE(mint_cap(t.ctx(), t.s(11), t.s(12), CapRights::all(), 0).ok());
  CHECK(t.s(12)->cap.rights() == (CapRights::read() | CapRights::write()));
  CHECK(t.s(12)->cap.badge() == 7);
  REQUIRE(mint_cap(t.ctx(), t.s(12), t.s(13), CapRights::read(), 0).ok());
  CHECK(t.s(13)->cap.rights() == CapRights::read());
  // A badged cap cannot be re-badged.
  CHECK(mint_cap(t.ctx(), t.s(11), t.s(14), CapRights::all(), 8).error() ==
        Error::IllegalOperation);
  CHECK(t.s(14)->empty());
  CHECK(t.k.check() == "");
}

TEST_CASE("Mint errors", "[cap][mint]") {
  WithEndpoint t;
  CHECK(mint_cap(t.ctx(), t.s(20), t.s(21), CapRights::all(), 1).error() == Error::EmptySlot);
  CHECK(mint_cap(t.ctx(), t.ep, t.s(kRootSelf), CapRights::all(), 1).error() ==
        Error::DeleteFirst);
  CHECK(mint_cap(t.ctx(), t.s(kIrqControl), t.s(21), CapRights::all(), 0).error() ==
        Error::IllegalOperation);
  REQUIRE(t.k.retype(kBootUntyped, ObjectType::Tcb, 0, 22) == Error::Ok);
  CHECK(mint_cap(t.ctx(), t.s(22), t.s(21), CapRights::all(), 1).error() ==
        Error::InvalidArgument);
  CHECK(mint_cap(t.ctx(), t.s(kRootSelf), t.s(21), CapRights::all(), cnode_guard_data(0, 57))
            .error() == Error::RangeError);
  CHECK(t.s(21)->empty());
  CHECK(t.k.check() == "");
}

TEST_CASE("Copying an untyped lends its memory to the copy", "[cap][copy][untyped]") {
  TestKernel k;
  REQUIRE(copy_cap(k.ctx(), k.slot(kBootUntyped), k.slot(20)).ok());
  CHECK(k.slot(kBootUntyped)->cap.watermark() == (uint64_t{1} << kUntypedBits));
  CHECK(k.slot(20)->cap.watermark() == 0);
  CHECK(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 21) == Error::NotEnoughMemory);
  REQUIRE(k.retype(20, ObjectType::Endpoint, 0, 21) == Error::Ok);
  CHECK(k.check() == "");
  // Once the copy's subtree is gone, the original has its memory back.
  REQUIRE(revoke_cap(k.ctx(), k.slot(kBootUntyped)).ok());
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 0);
  CHECK(k.slot(20)->empty());
  CHECK(k.slot(21)->empty());
  CHECK(k.retype(kBootUntyped, ObjectType::Untyped, kUntypedBits, 21) == Error::Ok);
  CHECK(k.check() == "");
}

TEST_CASE("Move keeps the tree position and children", "[cap][move]") {
  WithEndpoint t;
  REQUIRE(copy_cap(t.ctx(), t.ep, t.s(11)).ok());
  REQUIRE(copy_cap(t.ctx(), t.s(11), t.s(12)).ok());
  CapSlot* untyped = t.ep->parent;
  REQUIRE(move_cap(t.ctx(), t.s(11), t.s(40)).ok());
  CHECK(t.s(11)->empty());
  CHECK(t.s(40)->parent == t.ep);
  CHECK(t.s(12)->parent == t.s(40));
  REQUIRE(move_cap(t.ctx(), t.ep, t.s(41)).ok());
  CHECK(t.s(41)->parent == untyped);
  CHECK(t.s(40)->parent == t.s(41));
  CHECK(t.k.check() == "");
  // Revoking the moved original still reaches everything derived from it.
  REQUIRE(revoke_cap(t.ctx(), t.s(41)).ok());
  CHECK(t.s(40)->empty());
  CHECK(t.s(12)->empty());
  CHECK(t.k.check() == "");
}

TEST_CASE("Move keeps a CNode's guard and an endpoint's badge", "[cap][move]") {
  TestKernel k;
  REQUIRE(mint_cap(k.ctx(), k.slot(kRootSelf), k.slot(20), CapRights::all(),
                   cnode_guard_data(5, 3))
              .ok());
  REQUIRE(move_cap(k.ctx(), k.slot(20), k.slot(21)).ok());
  CHECK(k.slot(21)->cap.guard() == 5);
  CHECK(k.slot(21)->cap.guard_bits() == 3);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 22) == Error::Ok);
  REQUIRE(mint_cap(k.ctx(), k.slot(22), k.slot(23), CapRights::read(), 9).ok());
  REQUIRE(move_cap(k.ctx(), k.slot(23), k.slot(24)).ok());
  CHECK(k.slot(24)->cap.badge() == 9);
  CHECK(k.slot(24)->cap.rights() == CapRights::read());
  CHECK(k.check() == "");
}

TEST_CASE("Move errors", "[cap][move]") {
  WithEndpoint t;
  CHECK(move_cap(t.ctx(), t.s(20), t.s(21)).error() == Error::EmptySlot);
  CHECK(move_cap(t.ctx(), t.ep, t.s(kRootSelf)).error() == Error::DeleteFirst);
  CHECK(move_cap(t.ctx(), t.ep, t.ep).error() == Error::DeleteFirst);
  CHECK(t.ep->cap.type() == ObjectType::Endpoint);
  CHECK(t.k.check() == "");
}

TEST_CASE("Control and reply caps can be moved", "[cap][move]") {
  TestKernel k;
  REQUIRE(move_cap(k.ctx(), k.slot(kIrqControl), k.slot(50)).ok());
  CHECK(k.slot(50)->cap.type() == ObjectType::IrqControl);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Reply, 0, 51) == Error::Ok);
  REQUIRE(move_cap(k.ctx(), k.slot(51), k.slot(52)).ok());
  CHECK(k.check() == "");
}

TEST_CASE("Mutate moves and badges", "[cap][mutate]") {
  WithEndpoint t;
  REQUIRE(copy_cap(t.ctx(), t.ep, t.s(11)).ok());
  REQUIRE(mutate_cap(t.ctx(), t.s(11), t.s(12), 99).ok());
  CHECK(t.s(11)->empty());
  CHECK(t.s(12)->cap.badge() == 99);
  CHECK(t.s(12)->cap.rights() == CapRights::all());
  CHECK(t.s(12)->parent == t.ep);
  CHECK(mutate_cap(t.ctx(), t.s(12), t.s(13), 100).error() == Error::IllegalOperation);
  CHECK(t.s(12)->cap.badge() == 99);
  REQUIRE(mutate_cap(t.ctx(), t.s(12), t.s(13), 0).ok());
  CHECK(t.s(13)->cap.badge() == 99);
  // Mutate sets a CNode's guard.
  REQUIRE(copy_cap(t.ctx(), t.s(kRootSelf), t.s(14)).ok());
  REQUIRE(mutate_cap(t.ctx(), t.s(14), t.s(15), cnode_guard_data(3, 2)).ok());
  CHECK(t.s(15)->cap.guard() == 3);
  CHECK(t.s(15)->cap.guard_bits() == 2);
  CHECK(t.k.check() == "");
}

TEST_CASE("Mutate errors", "[cap][mutate]") {
  WithEndpoint t;
  CHECK(mutate_cap(t.ctx(), t.s(20), t.s(21), 1).error() == Error::EmptySlot);
  CHECK(mutate_cap(t.ctx(), t.ep, t.s(kRootSelf), 1).error() == Error::DeleteFirst);
  CHECK(mutate_cap(t.ctx(), t.s(kBootUntyped), t.s(21), 1).error() == Error::InvalidArgument);
  CHECK(mutate_cap(t.ctx(), t.s(kRootSelf), t.s(21), cnode_guard_data(1, 0)).error() ==
        Error::RangeError);
  CHECK(t.s(21)->empty());
  CHECK(t.ep->cap.badge() == 0);
  CHECK(t.k.check() == "");
}

TEST_CASE("Rotate moves pivot to dest and src to pivot", "[cap][rotate]") {
  WithEndpoint t;
  REQUIRE(t.k.retype(kBootUntyped, ObjectType::Notification, 0, 11) == Error::Ok);
  Capability ep = t.ep->cap;
  Capability ntfn = t.s(11)->cap;
  // src = 10 (endpoint), pivot = 11 (notification), dest = 12 (empty).
  REQUIRE(rotate_caps(t.ctx(), t.s(10), t.s(11), t.s(12), 5, 6).ok());
  CHECK(t.s(10)->empty());
  CHECK(t.s(11)->cap == ep.with_badge(5));
  CHECK(t.s(12)->cap == ntfn.with_badge(6));
  CHECK(t.k.check() == "");
}

TEST_CASE("Rotate with dest == src swaps", "[cap][rotate]") {
  WithEndpoint t;
  REQUIRE(copy_cap(t.ctx(), t.ep, t.s(11)).ok());  // child of the endpoint
  REQUIRE(copy_cap(t.ctx(), t.s(11), t.s(12)).ok());
  REQUIRE(rotate_caps(t.ctx(), t.s(10), t.s(11), t.s(10), 0, 0).ok());
  // The caps swapped slots but kept their tree positions.
  CHECK(t.s(11)->parent->cap.type() == ObjectType::Untyped);
  CHECK(t.s(10)->parent == t.s(11));
  CHECK(t.s(12)->parent == t.s(10));
  CHECK(t.k.check() == "");
}

TEST_CASE("Rotate errors change nothing", "[cap][rotate]") {
  WithEndpoint t;
  REQUIRE(t.k.retype(kBootUntyped, ObjectType::Endpoint, 0, 11) == Error::Ok);
  REQUIRE(mint_cap(t.ctx(), t.s(11), t.s(12), CapRights::all(), 4).ok());
  CHECK(rotate_caps(t.ctx(), t.s(10), t.s(10), t.s(13), 0, 0).error() == Error::IllegalOperation);
  CHECK(rotate_caps(t.ctx(), t.s(10), t.s(13), t.s(13), 0, 0).error() == Error::IllegalOperation);
  CHECK(rotate_caps(t.ctx(), t.s(20), t.s(10), t.s(13), 0, 0).error() == Error::EmptySlot);
  CHECK(rotate_caps(t.ctx(), t.s(10), t.s(20), t.s(13), 0, 0).error() == Error::EmptySlot);
  CHECK(rotate_caps(t.ctx(), t.s(10), t.s(11), t.s(12), 0, 0).error() == Error::DeleteFirst);
  // Badge errors on either move: nothing moved.
  CHECK(rotate_caps(t.ctx(), t.s(10), t.s(12), t.s(13), 0, 9).error() == Error::IllegalOperation);
  CHECK(rotate_caps(t.ctx(), t.s(12), t.s(10), t.s(13), 9, 0).error() == Error::IllegalOperation);
  CHECK(t.s(13)->empty());
  CHECK(t.s(10)->cap.type() == ObjectType::Endpoint);
  CHECK(t.s(12)->cap.badge() == 4);
  CHECK(t.k.check() == "");
}

TEST_CASE("insert_root_cap and issue_cap", "[cap][issue]") {
  TestKernel k;
  CHECK(insert_root_cap(k.ctx(), k.slot(50), Capability()).error() == Error::InvalidArgument);
  CHECK(insert_root_cap(k.ctx(), k.slot(50), Capability::cnode(0, 0)).error() ==
        Error::InvalidArgument);
  CHECK(insert_root_cap(k.ctx(), k.slot(kRootSelf), Capability::control(ObjectType::IrqControl, 1))
            .error() == Error::DeleteFirst);

  Capability irq5 = Capability::control(ObjectType::IrqHandler, 5);
  CHECK(issue_cap(k.ctx(), k.slot(60), k.slot(50), irq5).error() == Error::EmptySlot);
  CHECK(issue_cap(k.ctx(), k.slot(kIoPortControl), k.slot(50), irq5).error() ==
        Error::WrongObjectType);
  CHECK(issue_cap(k.ctx(), k.slot(kIrqControl), k.slot(kRootSelf), irq5).error() ==
        Error::DeleteFirst);
  REQUIRE(issue_cap(k.ctx(), k.slot(kIrqControl), k.slot(50), irq5).ok());
  CHECK(k.slot(50)->parent == k.slot(kIrqControl));
  REQUIRE(issue_cap(k.ctx(), k.slot(kIoPortControl), k.slot(51), Capability::io_ports(0x60, 0x64))
              .ok());
  // A second cap to the same IRQ joins the first one's ring.
  REQUIRE(issue_cap(k.ctx(), k.slot(kIrqControl), k.slot(52), irq5).ok());
  CHECK_FALSE(k.slot(50)->is_last_cap_to_object());
  REQUIRE(copy_cap(k.ctx(), k.slot(50), k.slot(53)).ok());
  CHECK(k.check() == "");
  // Deleting the last cap to the IRQ destroys the handler object (once).
  size_t before = k.destroyed().size();
  REQUIRE(delete_cap(k.ctx(), k.slot(50)).ok());
  REQUIRE(delete_cap(k.ctx(), k.slot(52)).ok());
  CHECK(k.destroyed().size() == before);
  REQUIRE(delete_cap(k.ctx(), k.slot(53)).ok());
  REQUIRE(k.destroyed().size() == before + 1);
  CHECK(k.destroyed().back() == irq5);
  CHECK(k.check() == "");
}
