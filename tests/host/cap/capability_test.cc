// The vocabulary: object sizes, rights, the Capability value, cap data (badges and guards) and
// the one type/rights check.
#include <catch.hpp>

#include "cap_test_env.h"

using namespace captest;

TEST_CASE("object sizes and type predicates", "[cap][types]") {
  CHECK(sizeof(CapSlot) == 128);
  CHECK(object_size_bits(ObjectType::CNode, 4) == 4 + kSlotSizeBits);
  CHECK(object_size_bits(ObjectType::Untyped, 20) == 20);
  CHECK(object_size_bits(ObjectType::Tcb, 0) == kTcbBits);
  CHECK(object_size_bits(ObjectType::Frame2M, 0) == 21);
  CHECK(object_size_bits(ObjectType::PageTable, 0) == 12);
  CHECK_FALSE(is_retypable(ObjectType::IrqHandler));
  CHECK_FALSE(is_retypable(ObjectType::Null));
  CHECK(is_retypable(ObjectType::SchedContext));
  CHECK(valid_user_size(ObjectType::CNode, kMinCNodeRadix));
  CHECK_FALSE(valid_user_size(ObjectType::CNode, 0));
  CHECK_FALSE(valid_user_size(ObjectType::Untyped, kMaxUntypedBits + 1));
  CHECK(allowed_from_device_memory(ObjectType::Frame4K));
  CHECK_FALSE(allowed_from_device_memory(ObjectType::Tcb));
  CHECK_FALSE(is_derivable(ObjectType::Reply));
  CHECK_FALSE(is_derivable(ObjectType::IrqControl));
  CHECK(is_derivable(ObjectType::IrqHandler));
  for (unsigned t = 0; t < kObjectTypeCount; ++t) {
    CHECK(std::string(object_type_name(static_cast<ObjectType>(t))) != "?");
  }
}

TEST_CASE("rights only shrink under &", "[cap][rights]") {
  CapRights rw = CapRights::read() | CapRights::write();
  CHECK(rw.includes(CapRights::read()));
  CHECK_FALSE(rw.includes(CapRights::grant()));
  CHECK((rw & CapRights::write()) == CapRights::write());
  CHECK(CapRights(0xFF) == CapRights::all());  // undefined bits are dropped
  CHECK(CapRights::all().includes(rw));
}

TEST_CASE("the zero capability is the Null cap", "[cap][capability]") {
  Capability null;
  CHECK(null.is_null());
  CHECK(null.type() == ObjectType::Null);
  Capability ep = Capability::object(ObjectType::Endpoint, 0x1000);
  CHECK(ep.rights() == CapRights::all());
  CHECK(ep.badge() == 0);
  CHECK(ep.same_object(ep.with_badge(5).with_rights(CapRights::read())));
  CHECK_FALSE(ep.same_object(Capability::object(ObjectType::Endpoint, 0x1040)));
  CHECK_FALSE(ep.same_object(Capability::object(ObjectType::Notification, 0x1000)));
  Capability ports = Capability::io_ports(0x60, 0x64);
  CHECK(ports.first_port() == 0x60);
  CHECK(ports.last_port() == 0x64);
}

TEST_CASE("cap data: badges", "[cap][data]") {
  Capability ep = Capability::object(ObjectType::Endpoint, 0x1000);
  auto badged = apply_cap_data(ep, 42);
  REQUIRE(badged.ok());
  CHECK(badged->badge() == 42);
  // 0 keeps the badge; a badged cap cannot be re-badged.
  CHECK(apply_cap_data(*badged, 0)->badge() == 42);
  CHECK(apply_cap_data(*badged, 43).error() == Error::IllegalOperation);
  CHECK(apply_cap_data(*badged, 42).error() == Error::IllegalOperation);
  CHECK(apply_cap_data(Capability::object(ObjectType::Notification, 0x2000), ~uint64_t{0})
            ->badge() == ~uint64_t{0});
}

TEST_CASE("cap data: CNode guards", "[cap][data]") {
  Capability cnode = Capability::cnode(0x10000, 4);
  auto guarded = apply_cap_data(cnode, cnode_guard_data(0x5, 3));
  REQUIRE(guarded.ok());
  CHECK(guarded->guard() == 5);
  CHECK(guarded->guard_bits() == 3);
  CHECK(apply_cap_data(cnode, cnode_guard_data(0x8, 3)).error() == Error::RangeError);
  CHECK(apply_cap_data(cnode, cnode_guard_data(0, 61)).error() == Error::RangeError);
  CHECK(apply_cap_data(cnode, cnode_guard_data(0, 60)).ok());
  // Data 0 sets an empty guard (seL4: the data word always replaces the guard).
  CHECK(apply_cap_data(*guarded, 0)->guard_bits() == 0);
}

TEST_CASE("cap data: types without data", "[cap][data]") {
  Capability tcb = Capability::object(ObjectType::Tcb, 0x800);
  CHECK(apply_cap_data(tcb, 0).ok());
  CHECK(apply_cap_data(tcb, 1).error() == Error::InvalidArgument);
  CHECK(apply_cap_data(Capability::untyped(0x1000, 12, false), 7).error() ==
        Error::InvalidArgument);
}

TEST_CASE("lookup_cap checks emptiness, type and rights in that order", "[cap][lookup]") {
  TestKernel k;
  CapSlot* empty = k.slot(kFirstFree);
  CHECK(lookup_cap<ObjectType::Endpoint>(empty, CapRights::none()).error() == Error::EmptySlot);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, kFirstFree) == Error::Ok);
  CapSlot* ep = k.slot(kFirstFree);
  CHECK(lookup_cap<ObjectType::Notification>(ep, CapRights::none()).error() ==
        Error::WrongObjectType);
  auto typed = lookup_cap<ObjectType::Endpoint>(ep, CapRights::write() | CapRights::grant());
  REQUIRE(typed.ok());
  CHECK(typed->slot() == ep);
  CHECK(typed->cap().type() == ObjectType::Endpoint);
  REQUIRE(mint_cap(k.ctx(), ep, k.slot(kFirstFree + 1), CapRights::read(), 0).ok());
  CHECK(lookup_cap<ObjectType::Endpoint>(k.slot(kFirstFree + 1), CapRights::write()).error() ==
        Error::InsufficientRights);
  CHECK(lookup_cap<ObjectType::Endpoint>(k.slot(kFirstFree + 1), CapRights::read()).ok());
  CHECK(k.check() == "");
}

TEST_CASE("lookup_cap by cptr stops at the first non-CNode", "[cap][lookup]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Notification, 0, 9) == Error::Ok);
  // 64-bit cptr: the root has radix 8 and no guard, so the slot index is the top 8 bits.
  uint64_t cptr = uint64_t{9} << 56;
  auto found = lookup_cap<ObjectType::Notification>(k.ctx(), k.root_cap(), cptr,
                                                    CapRights::read());
  REQUIRE(found.ok());
  CHECK(found->slot() == k.slot(9));
  LookupFailure why;
  CHECK(lookup_cap<ObjectType::Notification>(k.ctx(), k.root_cap(), uint64_t{10} << 56,
                                             CapRights::none(), &why)
            .error() == Error::EmptySlot);
  CHECK(why.kind == LookupFailureKind::MissingCapability);
  CHECK(lookup_cap<ObjectType::Notification>(k.ctx(), k.slot(9)->cap, 0, CapRights::none(), &why)
            .error() == Error::FailedLookup);
  CHECK(why.kind == LookupFailureKind::InvalidRoot);
}
