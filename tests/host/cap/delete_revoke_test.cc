// Delete and Revoke: tree repair, destruction of the last cap's object, containers emptied
// without recursion, cycles, and revoke across CSpaces.
#include <pthread.h>

#include <catch.hpp>

#include "cap_test_env.h"

using namespace captest;

TEST_CASE("deleting a cap that is not the last keeps the object", "[cap][delete]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  REQUIRE(copy_cap(k.ctx(), k.slot(10), k.slot(11)).ok());
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  CHECK(k.slot(10)->empty());
  CHECK(k.destroyed().empty());
  CHECK(k.is_live(k.slot(11)->cap));
  // The copy moved up to the untyped.
  CHECK(k.slot(11)->parent == k.slot(kBootUntyped));
  CHECK(k.check() == "");
  REQUIRE(delete_cap(k.ctx(), k.slot(11)).ok());
  REQUIRE(k.destroyed().size() == 1);
  CHECK(k.destroyed()[0].type() == ObjectType::Endpoint);
  CHECK(k.check() == "");
}

TEST_CASE("deleting an empty slot does nothing", "[cap][delete]") {
  TestKernel k;
  CHECK(delete_cap(k.ctx(), k.slot(100)).ok());
  CHECK(revoke_cap(k.ctx(), k.slot(100)).ok());
  CHECK(k.check() == "");
}

TEST_CASE("children of a deleted cap take its place in order", "[cap][delete]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 20) == Error::Ok);
  REQUIRE(mint_cap(k.ctx(), k.slot(10), k.slot(11), CapRights::all(), 1).ok());
  REQUIRE(mint_cap(k.ctx(), k.slot(10), k.slot(12), CapRights::all(), 2).ok());
  REQUIRE(copy_cap(k.ctx(), k.slot(11), k.slot(13)).ok());
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  CHECK(k.slot(11)->parent == k.slot(kBootUntyped));
  CHECK(k.slot(12)->parent == k.slot(kBootUntyped));
  CHECK(k.slot(13)->parent == k.slot(11));
  CHECK(k.destroyed().empty());
  CHECK(k.check() == "");
}

TEST_CASE("deleting an untyped cap with children keeps the children", "[cap][delete]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Untyped, 16, 10) == Error::Ok);
  REQUIRE(k.retype(10, ObjectType::Endpoint, 0, 11, 3) == Error::Ok);
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  CHECK(k.destroyed().empty());
  for (uint64_t i = 11; i < 14; ++i) CHECK(k.slot(i)->parent == k.slot(kBootUntyped));
  // The boot untyped still has children, so its memory is not reused.
  CHECK(k.slot(kBootUntyped)->cap.watermark() != 0);
  CHECK(k.check() == "");
  REQUIRE(revoke_cap(k.ctx(), k.slot(kBootUntyped)).ok());
  CHECK(k.destroyed().size() == 3);
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 0);
  CHECK(k.check() == "");
}

TEST_CASE("destroying a CNode deletes what it holds first", "[cap][delete]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 3, 10) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 11) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Notification, 0, 12) == Error::Ok);
  REQUIRE(copy_cap(k.ctx(), k.slot(12), k.slot(13)).ok());
  REQUIRE(move_cap(k.ctx(), k.slot(11), k.slot_in(k.slot(10), 0)).ok());
  REQUIRE(move_cap(k.ctx(), k.slot(12), k.slot_in(k.slot(10), 7)).ok());
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  // The endpoint's only cap was inside; the notification still has a cap outside.
  REQUIRE(k.destroyed().size() == 2);
  CHECK(k.destroyed()[0].type() == ObjectType::Endpoint);
  CHECK(k.destroyed()[1].type() == ObjectType::CNode);
  CHECK(k.is_live(k.slot(13)->cap));
  CHECK(k.check() == "");
}

TEST_CASE("a CNode holding the only cap to itself", "[cap][delete][cycle]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 2, 10) == Error::Ok);
  CapSlot* inner = k.slot_in(k.slot(10), 2);
  REQUIRE(move_cap(k.ctx(), k.slot(10), inner).ok());
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 11) == Error::Ok);
  REQUIRE(move_cap(k.ctx(), k.slot(11), k.slot_in(inner, 0)).ok());
  CHECK(k.check() == "");  // unreachable by addressing, but alive and consistent

  SECTION("deleting the self-cap destroys it and its contents") {
    REQUIRE(delete_cap(k.ctx(), inner).ok());
    CHECK(k.destroyed().size() == 2);
  }
  SECTION("revoking the untyped destroys it") {
    REQUIRE(revoke_cap(k.ctx(), k.slot(kBootUntyped)).ok());
    CHECK(k.destroyed().size() == 2);
    CHECK(k.slot(kBootUntyped)->cap.watermark() == 0);
  }
  CHECK(k.live_objects() == 4);  // root CNode and the three control objects
  CHECK(k.check() == "");
}

TEST_CASE("two CNodes holding each other's last caps", "[cap][delete][cycle]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 1, 10, 2) == Error::Ok);
  CapSlot* a = k.slot(10);
  CapSlot* b = k.slot(11);
  CapSlot* a_slot = k.slot_in(a, 1);
  REQUIRE(move_cap(k.ctx(), b, a_slot).ok());             // A[1] = B
  REQUIRE(copy_cap(k.ctx(), a, k.slot_in(a_slot, 0)).ok());  // B[0] = copy of A
  REQUIRE(delete_cap(k.ctx(), a).ok());  // A is still alive through B[0]
  CHECK(k.destroyed().empty());
  CHECK(k.check() == "");
  REQUIRE(revoke_cap(k.ctx(), k.slot(kBootUntyped)).ok());
  CHECK(k.destroyed().size() == 2);
  CHECK(k.check() == "");
}

TEST_CASE("a TCB's embedded slots are emptied when it dies", "[cap][delete][tcb]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Tcb, 0, 10) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 2, 11) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 12) == Error::Ok);
  CapSlot* tcb_slots = static_cast<CapSlot*>(k.virt(k.slot(10)->cap.phys()));
  // The TCB's CSpace root is the CNode's only cap; the CNode holds the endpoint's only cap.
  REQUIRE(move_cap(k.ctx(), k.slot(12), k.slot_in(k.slot(11), 3)).ok());
  REQUIRE(move_cap(k.ctx(), k.slot(11), &tcb_slots[0]).ok());
  // And the CNode holds a copy of the TCB cap: a cycle through the TCB.
  REQUIRE(copy_cap(k.ctx(), k.slot(10), k.slot_in(&tcb_slots[0], 1)).ok());
  CHECK(k.check() == "");
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  CHECK(k.destroyed().empty());
  REQUIRE(revoke_cap(k.ctx(), k.slot(kBootUntyped)).ok());
  CHECK(k.destroyed().size() == 3);
  CHECK(k.check() == "");
}

namespace {

struct ChainJob {
  TestKernel* k;
  CapSlot* head;
  bool ok = false;
};

void* delete_chain(void* arg) {
  auto* job = static_cast<ChainJob*>(arg);
  job->ok = delete_cap(job->k->ctx(), job->head).ok();
  return nullptr;
}

}  // namespace

TEST_CASE("destroying deeply nested CNodes does not recurse", "[cap][delete][deep]") {
  TestKernel k;
  // 10,000 radix-1 CNodes, each holding the only cap to the next in slot 1.
  constexpr int kDepth = 10000;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 1, 20) == Error::Ok);
  CapSlot* tail = k.slot(20);
  for (int i = 1; i < kDepth; ++i) {
    REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 1, 21) == Error::Ok);
    CapSlot* next = k.slot_in(tail, 1);
    REQUIRE(move_cap(k.ctx(), k.slot(21), next).ok());
    tail = next;
  }
  // Run the delete on a 128 KiB stack: recursion per level would overflow it.
  ChainJob job{&k, k.slot(20)};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_t thread;
  REQUIRE(pthread_create(&thread, &attr, delete_chain, &job) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  CHECK(job.ok);
  CHECK(k.destroyed().size() == kDepth);
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 0);
  CHECK(k.check() == "");
}

TEST_CASE("revoke deletes descendants in every CSpace and keeps the cap", "[cap][revoke]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 3, 11) == Error::Ok);  // another CSpace
  REQUIRE(mint_cap(k.ctx(), k.slot(10), k.slot_in(k.slot(11), 1), CapRights::write(), 77).ok());
  REQUIRE(copy_cap(k.ctx(), k.slot_in(k.slot(11), 1), k.slot(12)).ok());
  REQUIRE(copy_cap(k.ctx(), k.slot(10), k.slot(13)).ok());
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 14) == Error::Ok);  // unrelated
  REQUIRE(revoke_cap(k.ctx(), k.slot(10)).ok());
  CHECK(k.slot(10)->cap.type() == ObjectType::Endpoint);
  CHECK_FALSE(k.slot(10)->has_children());
  CHECK(k.slot_in(k.slot(11), 1)->empty());
  CHECK(k.slot(12)->empty());
  CHECK(k.slot(13)->empty());
  CHECK(k.slot(14)->cap.type() == ObjectType::Endpoint);
  CHECK(k.destroyed().empty());  // the endpoint itself is alive
  CHECK(k.check() == "");
}

TEST_CASE("revoking a badged cap leaves its unbadged parent", "[cap][revoke]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  REQUIRE(mint_cap(k.ctx(), k.slot(10), k.slot(11), CapRights::all(), 5).ok());
  REQUIRE(copy_cap(k.ctx(), k.slot(11), k.slot(12)).ok());
  REQUIRE(copy_cap(k.ctx(), k.slot(10), k.slot(13)).ok());
  REQUIRE(revoke_cap(k.ctx(), k.slot(11)).ok());
  CHECK(k.slot(12)->empty());
  CHECK(k.slot(11)->cap.badge() == 5);
  CHECK(k.slot(13)->cap.type() == ObjectType::Endpoint);
  CHECK(k.check() == "");
}

TEST_CASE("revoking an untyped frees its memory for reuse", "[cap][revoke][untyped]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Frame4K, 0, 10, 4) == Error::Ok);
  uint64_t first_phys = k.slot(10)->cap.phys();
  REQUIRE(k.retype(kBootUntyped, ObjectType::Tcb, 0, 20) == Error::Ok);
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 4 * 4096 + 2048);
  REQUIRE(revoke_cap(k.ctx(), k.slot(kBootUntyped)).ok());
  CHECK(k.destroyed().size() == 5);
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 0);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  CHECK(k.slot(10)->cap.phys() == first_phys);
  CHECK(k.check() == "");
}

TEST_CASE("revoke that destroys the revoked cap's own CNode stops safely", "[cap][revoke]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Untyped, 16, 10) == Error::Ok);
  REQUIRE(k.retype(10, ObjectType::Endpoint, 0, 12) == Error::Ok);
  REQUIRE(k.retype(10, ObjectType::CNode, 2, 11) == Error::Ok);  // newest child: revoked first
  CapSlot* home = k.slot_in(k.slot(11), 0);
  REQUIRE(move_cap(k.ctx(), k.slot(10), home).ok());  // the untyped lives in its own child
  REQUIRE(revoke_cap(k.ctx(), home).ok());
  // Revoking deleted the CNode (the first child) and with it the untyped cap; the endpoint
  // moved up to the boot untyped like any child of a deleted cap. (The CNode's memory is
  // poisoned by the test kernel: revoke must not have read `home` after that.)
  REQUIRE(k.destroyed().size() == 1);
  CHECK(k.destroyed()[0].type() == ObjectType::CNode);
  CHECK(k.slot(12)->parent == k.slot(kBootUntyped));
  CHECK(k.check() == "");
  CHECK(k.tear_down() == "");
}

TEST_CASE("tear-down leaves nothing behind", "[cap][revoke]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 4, 10) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Tcb, 0, 11, 3) == Error::Ok);
  REQUIRE(k.retype(kDeviceUntyped, ObjectType::Frame4K, 0, 20, 2) == Error::Ok);
  REQUIRE(move_cap(k.ctx(), k.slot(kBootUntyped), k.slot_in(k.slot(10), 5)).ok());
  CHECK(k.check() == "");
  CHECK(k.tear_down() == "");
}
