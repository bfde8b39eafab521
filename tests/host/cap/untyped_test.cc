// Retype: sizes, alignment, the watermark, destination checks, device memory, and every error.
#include <catch.hpp>

#include <cstring>

#include "cap_test_env.h"

using namespace captest;

TEST_CASE("retype places objects at the aligned watermark", "[cap][retype]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  CHECK(k.slot(10)->cap.phys() == kUntypedPhys);
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 64);
  // A TCB (2 KiB) is aligned to 2 KiB.
  REQUIRE(k.retype(kBootUntyped, ObjectType::Tcb, 0, 11) == Error::Ok);
  CHECK(k.slot(11)->cap.phys() == kUntypedPhys + 2048);
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 4096);
  // The watermark only moves forward: the hole below the TCB is not reused.
  REQUIRE(k.retype(kBootUntyped, ObjectType::Notification, 0, 12, 2) == Error::Ok);
  CHECK(k.slot(12)->cap.phys() == kUntypedPhys + 4096);
  CHECK(k.slot(13)->cap.phys() == kUntypedPhys + 4096 + 64);
  CHECK(k.slot(12)->parent == k.slot(kBootUntyped));
  CHECK(k.created().size() == 4);
  CHECK(k.check() == "");
}

TEST_CASE("every retypable type gets its documented size", "[cap][retype]") {
  struct Case {
    ObjectType type;
    uint64_t size_bits;
    uint8_t expected_bits;
  };
  const Case cases[] = {
      {ObjectType::Untyped, 12, 12},       {ObjectType::CNode, 3, 3 + kSlotSizeBits},
      {ObjectType::Tcb, 0, kTcbBits},      {ObjectType::Endpoint, 0, kEndpointBits},
      {ObjectType::Notification, 0, 6},    {ObjectType::Reply, 0, 6},
      {ObjectType::SchedContext, 9, 9},    {ObjectType::Pml4, 0, 12},
      {ObjectType::Pdpt, 0, 12},           {ObjectType::PageDirectory, 0, 12},
      {ObjectType::PageTable, 0, 12},      {ObjectType::Frame4K, 0, 12},
      {ObjectType::Frame2M, 0, 21},
  };
  for (const Case& c : cases) {
    TestKernel k;
    INFO(object_type_name(c.type));
    REQUIRE(k.retype(kBootUntyped, c.type, c.size_bits, 10, 2) == Error::Ok);
    const Capability& cap = k.slot(11)->cap;
    CHECK(cap.type() == c.type);
    CHECK(cap.memory_size_bits() == c.expected_bits);
    CHECK(cap.phys() == kUntypedPhys + (uint64_t{1} << c.expected_bits));
    CHECK(cap.rights() == CapRights::all());
    CHECK(k.check() == "");
  }
}

TEST_CASE("new object memory is zeroed, new CNodes are empty", "[cap][retype]") {
  TestKernel k;
  // The test kernel poisons all memory; the created-hook verifies zeroing of each object.
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 5, 10) == Error::Ok);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Frame4K, 0, 11, 3) == Error::Ok);
  CapSlot* slots = k.slot_in(k.slot(10), 0);
  for (int i = 0; i < 32; ++i) CHECK(slots[i].empty());
  const uint8_t* frame = static_cast<const uint8_t*>(k.virt(k.slot(12)->cap.phys()));
  for (int i = 0; i < 4096; ++i) REQUIRE(frame[i] == 0);
  CHECK(k.hook_errors().empty());
  CHECK(k.check() == "");
}

TEST_CASE("retype from a child untyped, and nested watermarks", "[cap][retype]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Untyped, 16, 10, 2) == Error::Ok);
  REQUIRE(k.retype(11, ObjectType::Frame4K, 0, 20, 16) == Error::Ok);
  CHECK(k.slot(20)->cap.phys() == kUntypedPhys + 0x10000);
  CHECK(k.retype(11, ObjectType::Frame4K, 0, 40) == Error::NotEnoughMemory);
  CHECK(k.retype(10, ObjectType::Untyped, 17, 40) == Error::NotEnoughMemory);
  // Exactly fills: untyped of the same size.
  REQUIRE(k.retype(10, ObjectType::Untyped, 16, 40) == Error::Ok);
  CHECK(k.check() == "");
  REQUIRE(revoke_cap(k.ctx(), k.slot(11)).ok());
  CHECK(k.slot(11)->cap.watermark() == 0);
  REQUIRE(k.retype(11, ObjectType::Frame4K, 0, 20, 16) == Error::Ok);
  CHECK(k.check() == "");
}

TEST_CASE("the watermark resets only when every child is gone", "[cap][retype]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10, 3) == Error::Ok);
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  REQUIRE(delete_cap(k.ctx(), k.slot(11)).ok());
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 3 * 64);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  CHECK(k.slot(10)->cap.phys() == kUntypedPhys + 3 * 64);  // after the watermark
  REQUIRE(delete_cap(k.ctx(), k.slot(10)).ok());
  REQUIRE(delete_cap(k.ctx(), k.slot(12)).ok());
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 0);
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  CHECK(k.slot(10)->cap.phys() == kUntypedPhys);
  CHECK(k.check() == "");
}

TEST_CASE("retype into another CNode at an offset", "[cap][retype]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 3, 10) == Error::Ok);
  RetypeRequest request{ObjectType::Notification, 0, k.slot(10), 5, 3};
  REQUIRE(retype(k.ctx(), k.slot(kBootUntyped), request).ok());
  for (uint64_t i = 5; i < 8; ++i) {
    CHECK(k.slot_in(k.slot(10), i)->cap.type() == ObjectType::Notification);
  }
  request.dest_offset = 6;
  request.count = 3;  // 6 + 3 > 8
  CHECK(retype(k.ctx(), k.slot(kBootUntyped), request).error() == Error::RangeError);
  request.dest_offset = 8;
  request.count = 1;
  CHECK(retype(k.ctx(), k.slot(kBootUntyped), request).error() == Error::RangeError);
  request.dest_offset = ~uint64_t{0};
  CHECK(retype(k.ctx(), k.slot(kBootUntyped), request).error() == Error::RangeError);
  request.dest_offset = 4;
  request.count = 2;  // slot 5 is occupied
  CHECK(retype(k.ctx(), k.slot(kBootUntyped), request).error() == Error::DeleteFirst);
  CHECK(k.slot_in(k.slot(10), 4)->empty());
  CHECK(k.check() == "");
}

TEST_CASE("retype errors, in order, change nothing", "[cap][retype]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::Endpoint, 0, 10) == Error::Ok);
  uint64_t watermark = k.slot(kBootUntyped)->cap.watermark();
  size_t created = k.created().size();
  auto run = [&](uint64_t untyped, ObjectType type, uint64_t size_bits, uint64_t offset,
                 uint64_t count) { return k.retype(untyped, type, size_bits, offset, count); };

  CHECK(run(100, ObjectType::Endpoint, 0, 20, 1) == Error::EmptySlot);
  CHECK(run(10, ObjectType::Endpoint, 0, 20, 1) == Error::WrongObjectType);
  CHECK(run(kBootUntyped, ObjectType::IrqHandler, 0, 20, 1) == Error::InvalidArgument);
  CHECK(run(kBootUntyped, ObjectType::Null, 0, 20, 1) == Error::InvalidArgument);
  CHECK(run(kBootUntyped, static_cast<ObjectType>(200), 0, 20, 1) == Error::InvalidArgument);
  CHECK(run(kBootUntyped, ObjectType::Untyped, kMinUntypedBits - 1, 20, 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::Untyped, kMaxUntypedBits + 1, 20, 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::Untyped, ~uint64_t{0}, 20, 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::CNode, 0, 20, 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::CNode, kMaxCNodeRadix + 1, 20, 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::SchedContext, 7, 20, 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::Endpoint, 0, 20, 0) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::Endpoint, 0, 20, kMaxRetypeCount + 1) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::Endpoint, 0, 250, 7) == Error::RangeError);
  CHECK(run(kBootUntyped, ObjectType::Endpoint, 0, 9, 2) == Error::DeleteFirst);
  CHECK(run(kBootUntyped, ObjectType::Untyped, kUntypedBits + 1, 20, 1) == Error::NotEnoughMemory);
  CHECK(run(kBootUntyped, ObjectType::Untyped, kUntypedBits, 20, 1) == Error::NotEnoughMemory);
  CHECK(run(kBootUntyped, ObjectType::Frame2M, 0, 20, 2) == Error::NotEnoughMemory);
  // Destination CNode checks.
  RetypeRequest to_endpoint{ObjectType::Endpoint, 0, k.slot(10), 0, 1};
  CHECK(retype(k.ctx(), k.slot(kBootUntyped), to_endpoint).error() == Error::WrongObjectType);
  RetypeRequest to_empty{ObjectType::Endpoint, 0, k.slot(100), 0, 1};
  CHECK(retype(k.ctx(), k.slot(kBootUntyped), to_empty).error() == Error::EmptySlot);

  CHECK(k.slot(kBootUntyped)->cap.watermark() == watermark);
  CHECK(k.created().size() == created);
  for (uint64_t i = 20; i < 256; ++i) CHECK(k.slot(i)->empty());
  CHECK(k.check() == "");
}

TEST_CASE("count up to 256 in one call", "[cap][retype]") {
  TestKernel k;
  REQUIRE(k.retype(kBootUntyped, ObjectType::CNode, 9, 10) == Error::Ok);
  RetypeRequest request{ObjectType::Endpoint, 0, k.slot(10), 0, kMaxRetypeCount};
  REQUIRE(retype(k.ctx(), k.slot(kBootUntyped), request).ok());
  CHECK(k.slot(kBootUntyped)->cap.watermark() == 64 * 1024 + 256 * 64);
  CHECK(k.check() == "");
}

TEST_CASE("device untyped makes only frames and untyped, unzeroed", "[cap][retype][device]") {
  TestKernel k;
  std::memset(k.virt(kDevicePhys), 0x5A, 4096);
  CHECK(k.retype(kDeviceUntyped, ObjectType::Tcb, 0, 10) == Error::InvalidArgument);
  CHECK(k.retype(kDeviceUntyped, ObjectType::CNode, 2, 10) == Error::InvalidArgument);
  CHECK(k.retype(kDeviceUntyped, ObjectType::PageTable, 0, 10) == Error::InvalidArgument);
  REQUIRE(k.retype(kDeviceUntyped, ObjectType::Frame4K, 0, 10) == Error::Ok);
  CHECK(static_cast<const uint8_t*>(k.virt(kDevicePhys))[100] == 0x5A);  // device memory intact
  REQUIRE(k.retype(kDeviceUntyped, ObjectType::Untyped, 12, 11) == Error::Ok);
  CHECK(k.slot(11)->cap.is_device());
  CHECK(k.retype(11, ObjectType::Endpoint, 0, 12) == Error::InvalidArgument);
  REQUIRE(k.retype(11, ObjectType::Frame4K, 0, 12) == Error::Ok);
  CHECK(k.check() == "");
}
