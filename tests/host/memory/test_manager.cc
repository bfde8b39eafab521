// The memory server's Manager (servers/memory/manager.h, docs/memory.md) over a fake kernel
// (fake_backend.h) that keeps its own truth: sessions, regions, attachments, the pager's decisions,
// sharing, revoke, resize, the accounting and the allocation model, and a seeded random walk that
// asserts the books balance after every operation and that closing everything returns every frame,
// copy, table and heap byte.
#include <catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "fake_backend.h"
#include "manager.h"

namespace {
using fake::FakeBackend;
using memory::FaultOutcome;
using memory::kExecute;
using memory::kRead;
using memory::kRightsAll;
using memory::kWrite;
using memory::Manager;
using memory::Slot;
using tessera::Error;
using tessera::Result;

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr uint64_t kPage = 4096, kLarge = 2 * MiB;
constexpr uint64_t kSmallPageCharge = kPage + memory::kPageRecordCharge;
constexpr uint8_t kRW = kRead | kWrite, kRX = kRead | kExecute;
constexpr uint64_t kBase = 0x10000000;  // a fixed place for attachments (below the placement window)

struct Env {
  FakeBackend fake;
  std::unique_ptr<Manager> m;  // big (fixed tables): on the heap
  std::map<uint32_t, Slot> vspace;

  explicit Env(uint64_t total = 64 * MiB, uint64_t small = 16384, uint64_t large = 16)
      : fake(small, large), m(std::make_unique<Manager>(fake, total)) {}

  Result<uint32_t> try_open(uint64_t quota, uint64_t weight = 1, const char* name = "test") {
    const Slot vs = fake.new_vspace();
    Result<uint32_t> id = m->open_session(name, quota, weight, vs);
    if (!id.ok()) {
      fake.drop_vspace(vs);
      return id.error();
    }
    vspace[*id] = vs;
    m->set_session_cap(*id, fake.new_cap());
    return *id;
  }
  uint32_t open(uint64_t quota, uint64_t weight = 1) {
    Result<uint32_t> id = try_open(quota, weight);
    REQUIRE(id.ok());
    return *id;
  }
  void close(uint32_t id) {
    REQUIRE(m->close_session(id).ok());
    vspace.erase(id);
  }
  uint64_t region(uint32_t s, uint64_t bytes, bool eager = false, uint8_t shift = memory::kSmallShift) {
    Result<uint64_t> badge = m->create_region(s, bytes, shift, eager);
    REQUIRE(badge.ok());
    return *badge;
  }
  uint64_t attach(uint32_t s, uint64_t badge, uint64_t address, uint8_t rights = kRW) {
    Result<uint64_t> at = m->attach(s, badge, address, rights);
    REQUIRE(at.ok());
    return *at;
  }
  uint64_t used(uint32_t s) const { return m->status(s).used; }
  const FakeBackend::Mapping* mapped(uint32_t s, uint64_t address) const {
    return fake.mapping_at(vspace.at(s), address);
  }
  // The books balance and the fake kernel saw nothing wrong.
  void verify() const {
    CHECK(m->check().ok());
    CHECK(fake.violations() == 0);
    CHECK(fake.live_frames() == m->frame_count());
    CHECK(fake.pools_balanced());
  }
  void close_all_and_expect_zero() {
    fake.set_small_left(UINT64_MAX);  // frames a test held elsewhere come back
    while (!vspace.empty()) close(vspace.begin()->first);
    CHECK(m->session_count() == 0);
    CHECK(m->region_count() == 0);
    CHECK(m->frame_count() == 0);
    CHECK(m->charged_bytes() == 0);
    CHECK(m->promised_bytes() == 0);
    CHECK(m->check().ok());
    CHECK(fake.live_frames() == 0);
    CHECK(fake.copies() == 0);
    CHECK(fake.tables() == 0);
    CHECK(fake.mappings() == 0);
    CHECK(fake.heap_bytes() == 0);
    CHECK(fake.heap_blocks() == 0);
    CHECK(fake.live_vspaces() == 0);
    CHECK(fake.live_other_caps() == 0);
    CHECK(fake.pools_full());
    CHECK(fake.violations() == 0);
  }
};

// What a lazy region of `pages` costs in records (kRegionCharge + the page array), measured.
uint64_t lazy_region_cost(Env& e, uint32_t s, uint64_t pages) {
  const uint64_t before = e.used(s);
  const uint64_t badge = e.region(s, pages * kPage);
  const uint64_t cost = e.used(s) - before;
  REQUIRE(e.m->release(s, badge).ok());
  REQUIRE(e.used(s) == before);
  return cost;
}
}  // namespace

// ---- Sessions ------------------------------------------------------------------------------------

TEST_CASE("sessions: promised quota, OutOfMemory beyond the total, names", "[memory][manager]") {
  Env e(64 * MiB);
  const uint32_t a = e.open(16 * MiB);
  CHECK(e.m->status(a).quota == 16 * MiB);
  CHECK(e.used(a) == memory::kSessionCharge);
  CHECK(e.m->promised_bytes() == 16 * MiB);
  CHECK(e.try_open(memory::kSessionCharge - 1).error() == Error::InvalidArgument);
  CHECK(e.try_open(MiB, 0).error() == Error::InvalidArgument);
  CHECK(e.try_open(48 * MiB + 1).error() == Error::OutOfMemory);
  const uint32_t b = e.open(48 * MiB);
  CHECK(b != a);
  CHECK(e.m->promised_bytes() == 64 * MiB);
  CHECK(e.try_open(memory::kSessionCharge).error() == Error::OutOfMemory);
  CHECK(e.m->session_count() == 2);
  e.close(b);
  CHECK(e.m->promised_bytes() == 16 * MiB);
  const uint32_t c = e.open(48 * MiB);
  CHECK(c == b);  // the index is reused
  Result<uint32_t> named = e.try_open(memory::kSessionCharge, 1, "a-very-long-program-name-indeed");
  CHECK(named.error() == Error::OutOfMemory);
  e.close(c);
  Result<uint32_t> renamed = e.try_open(memory::kSessionCharge, 1, "a-very-long-program-name-indeed");
  REQUIRE(renamed.ok());
  CHECK(std::strlen(e.m->session_name(*renamed)) == memory::kNameBytes - 1);
  CHECK(std::strncmp(e.m->session_name(*renamed), "a-very-long-program-name-indeed", memory::kNameBytes - 1) == 0);
  CHECK(e.m->close_session(memory::kMaxSessions).error() == Error::EmptySlot);
  CHECK(e.m->close_session(60).error() == Error::EmptySlot);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("sessions: at most kMaxSessions", "[memory][manager]") {
  Env e(uint64_t{1} << 40);
  for (uint32_t i = 0; i < memory::kMaxSessions; ++i) e.open(MiB);
  CHECK(e.try_open(MiB).error() == Error::OutOfMemory);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("session_of: stale, bad and region badges are refused", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(MiB);
  const uint64_t badge = e.m->badge_of_session(a);
  REQUIRE(e.m->session_of(badge).ok());
  CHECK(*e.m->session_of(badge) == a);
  const memory::BadgeFields f = memory::decode_badge(badge);
  CHECK(!f.region);
  CHECK(f.generation != 0);
  CHECK(e.m->session_of(0).error() == Error::InvalidCapability);
  CHECK(e.m->session_of(memory::region_badge(a, f.generation, 0)).error() == Error::InvalidCapability);
  CHECK(e.m->session_of(memory::region_badge(a, f.generation, kRightsAll)).error() == Error::InvalidCapability);
  CHECK(e.m->session_of(memory::session_badge(memory::kMaxSessions, f.generation)).error() ==
        Error::InvalidCapability);
  CHECK(e.m->session_of(memory::session_badge(0xFFFFFFFFu, f.generation)).error() == Error::InvalidCapability);
  CHECK(e.m->session_of(memory::session_badge(a, 0)).error() == Error::InvalidCapability);
  CHECK(e.m->session_of(memory::session_badge(a, f.generation + 1)).error() == Error::InvalidCapability);
  CHECK(e.m->session_of(badge | (uint64_t{3} << 60)).error() == Error::InvalidCapability);  // rights bits
  CHECK(e.m->session_of(memory::session_badge(a + 1, f.generation)).error() == Error::InvalidCapability);  // not open
  // A region's badge is never a session's, even with the same index.
  const uint64_t region = e.region(a, kPage);
  CHECK(memory::decode_badge(region).index == 0);
  CHECK(e.m->session_of(region).error() == Error::InvalidCapability);
  // Closing makes the badge stale, also after the index is reused.
  e.close(a);
  CHECK(e.m->session_of(badge).error() == Error::InvalidCapability);
  const uint32_t again = e.open(MiB);
  REQUIRE(again == a);
  CHECK(e.m->session_of(badge).error() == Error::InvalidCapability);
  const uint64_t fresh = e.m->badge_of_session(again);
  CHECK(fresh != badge);
  REQUIRE(e.m->session_of(fresh).ok());
  CHECK(*e.m->session_of(fresh) == again);
  e.verify();
  e.close_all_and_expect_zero();
}

// ---- Regions ------------------------------------------------------------------------------------

TEST_CASE("create_region: sizes, page sizes, lazy and eager", "[memory][manager]") {
  Env e(256 * MiB);
  const uint32_t a = e.open(32 * MiB);
  CHECK(e.m->create_region(a, 0, memory::kSmallShift, false).error() == Error::RangeError);
  CHECK(e.m->create_region(a, uint64_t{1} << 63, memory::kSmallShift, false).error() == Error::RangeError);
  CHECK(e.m->create_region(a, UINT64_MAX, memory::kSmallShift, false).error() == Error::RangeError);
  CHECK(e.m->create_region(a, 64 * GiB + 1, memory::kSmallShift, false).error() == Error::RangeError);
  CHECK(e.m->create_region(a, 64 * GiB + 1, memory::kLargeShift, true).error() == Error::RangeError);
  CHECK(e.m->create_region(a, kPage, 13, false).error() == Error::InvalidArgument);
  CHECK(e.m->create_region(a, kPage, 0, false).error() == Error::InvalidArgument);
  // 64 GiB is a valid size; its page records alone are beyond this quota.
  CHECK(e.m->create_region(a, 64 * GiB, memory::kSmallShift, false).error() == Error::OutOfMemory);
  CHECK(e.m->region_count() == 0);
  CHECK(e.used(a) == memory::kSessionCharge);
  e.verify();

  // Lazy: only records are charged, nothing is backed.
  const uint64_t one = lazy_region_cost(e, a, 1);
  const uint64_t per_page = lazy_region_cost(e, a, 2) - one;
  CHECK(one - per_page == memory::kRegionCharge);
  CHECK(per_page > 0);
  const uint64_t before = e.used(a);
  const uint64_t lazy = e.region(a, 10 * kPage - 1);  // rounds up to 10 pages
  CHECK(e.used(a) - before == memory::kRegionCharge + 10 * per_page);
  CHECK(e.m->frame_count() == 0);
  Result<memory::RegionInfo> info = e.m->describe(a, lazy);
  REQUIRE(info.ok());
  CHECK(info->bytes == 10 * kPage);
  CHECK(info->shift == memory::kSmallShift);
  CHECK(info->rights == kRightsAll);
  CHECK(info->backed_pages == 0);

  // Eager: every page backed and charged.
  const uint64_t mid = e.used(a);
  const uint64_t eager = e.region(a, 8 * kPage, true);
  CHECK(e.used(a) - mid == memory::kRegionCharge + 8 * per_page + 8 * kSmallPageCharge);
  CHECK(e.m->frame_count() == 8);
  CHECK(e.fake.live_frames() == 8);
  CHECK(e.m->describe(a, eager)->backed_pages == 8);

  // Large pages round up to 2 MiB.
  const uint64_t large = e.region(a, 3 * MiB, true, memory::kLargeShift);
  CHECK(e.m->describe(a, large)->bytes == 4 * MiB);
  CHECK(e.m->describe(a, large)->backed_pages == 2);
  CHECK(e.fake.live_frames(21) == 2);
  CHECK(e.m->status(a).regions == 3);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("create_region: when it cannot be paid for, nothing changes", "[memory][manager]") {
  Env e(64 * MiB);
  const uint32_t a = e.open(64 * KiB);
  const uint32_t b = e.open(MiB);
  e.region(b, 4 * kPage, true);  // someone else's memory, to see it is left alone
  auto snapshot = [&] {
    return std::vector<uint64_t>{e.used(a),          e.used(b),          e.m->frame_count(), e.m->region_count(),
                                 e.fake.live_frames(), e.fake.heap_bytes(), e.fake.heap_blocks(),
                                 e.fake.small_left(), e.m->charged_bytes()};
  };
  const std::vector<uint64_t> before = snapshot();

  SECTION("quota exhausted (eager)") {
    CHECK(e.m->create_region(a, 32 * kPage, memory::kSmallShift, true).error() == Error::OutOfMemory);
  }
  SECTION("quota exhausted on the last pages (eager)") {
    CHECK(e.m->create_region(a, 64 * KiB - 2 * KiB, memory::kSmallShift, true).error() == Error::OutOfMemory);
  }
  SECTION("quota exhausted (lazy records)") {
    CHECK(e.m->create_region(a, GiB, memory::kSmallShift, false).error() == Error::OutOfMemory);
  }
  SECTION("machine out of frames half way (eager)") {
    e.fake.set_small_left(3);
    const auto low = snapshot();
    CHECK(e.m->create_region(a, 8 * kPage, memory::kSmallShift, true).error() == Error::NotEnoughMemory);
    CHECK(snapshot() == low);
    e.fake.set_small_left(before[7]);
  }
  SECTION("the server's heap fails") {
    e.fake.fail_allocation_at = 1;
    CHECK(e.m->create_region(a, 4 * kPage, memory::kSmallShift, true).error() == Error::OutOfMemory);
    CHECK(e.fake.fail_allocation_at == 0);
  }
  CHECK(snapshot() == before);
  e.verify();
  // And the session still works.
  e.region(a, 4 * kPage, true);
  e.verify();
  e.close_all_and_expect_zero();
}

// ---- Attachments ---------------------------------------------------------------------------------

TEST_CASE("attach: alignment, limits, overlaps, rights", "[memory][manager]") {
  Env e(256 * MiB);
  const uint32_t a = e.open(32 * MiB);
  const uint64_t small = e.region(a, 4 * kPage);
  const uint64_t large = e.region(a, kLarge, false, memory::kLargeShift);
  const uint64_t used = e.used(a);

  CHECK(e.m->attach(a, small, kBase + 0x800, kRW).error() == Error::AlignmentError);
  CHECK(e.m->attach(a, large, kBase + kPage, kRW).error() == Error::AlignmentError);
  CHECK(e.m->attach(a, small, memory::kAttachLimit, kRW).error() == Error::RangeError);
  CHECK(e.m->attach(a, small, memory::kAttachLimit - kPage, kRW).error() == Error::RangeError);  // its end is beyond
  CHECK(e.m->attach(a, small, memory::kAttachLimit - 4 * kPage, kRead).ok());  // exactly up to the limit
  CHECK(e.m->detach(a, memory::kAttachLimit - 4 * kPage).ok());
  CHECK(e.m->attach(a, small, 0x0000800000000000ull, kRW).error() == Error::RangeError);     // non-canonical
  CHECK(e.m->attach(a, small, 0xFFFF800000000000ull, kRW).error() == Error::RangeError);     // the kernel's
  CHECK(e.m->attach(a, small, 0xFFFFFFFFFFFFF000ull, kRW).error() == Error::RangeError);     // wraps
  CHECK(e.m->attach(a, large, 0xFFFFFFFFFFE00000ull, kRW).error() == Error::RangeError);
  CHECK(e.used(a) == used);

  // Rights: read always, never W and X together, never beyond the capability's.
  CHECK(e.m->attach(a, small, kBase, 0).error() == Error::InvalidArgument);
  CHECK(e.m->attach(a, small, kBase, kWrite).error() == Error::InvalidArgument);
  CHECK(e.m->attach(a, small, kBase, kRightsAll).error() == Error::InvalidArgument);
  CHECK(e.m->attach(a, small, kBase, kRead | 8).error() == Error::InvalidArgument);
  const uint64_t read_only = *e.m->share(a, small, kRead);
  CHECK(e.m->attach(a, read_only, kBase, kRW).error() == Error::InvalidCapability);
  CHECK(e.m->attach(a, read_only, kBase, kRX).error() == Error::InvalidCapability);
  const uint64_t rx = *e.m->share(a, small, kRX);
  CHECK(e.m->attach(a, rx, kBase, kRW).error() == Error::InvalidCapability);
  // Not a region / no such region.
  CHECK(e.m->attach(a, e.m->badge_of_session(a), kBase, kRead).error() == Error::InvalidCapability);
  CHECK(e.m->attach(a, memory::region_badge(77, 1, kRightsAll), kBase, kRead).error() == Error::InvalidCapability);
  CHECK(e.used(a) == used);
  CHECK(e.m->status(a).attachments == 0);

  // Overlaps.
  CHECK(e.attach(a, small, kBase) == kBase);
  CHECK(e.m->attach(a, small, kBase, kRead).error() == Error::DeleteFirst);
  CHECK(e.m->attach(a, small, kBase + kPage, kRead).error() == Error::DeleteFirst);
  CHECK(e.m->attach(a, small, kBase - kPage, kRead).error() == Error::DeleteFirst);
  CHECK(e.m->attach(a, small, kBase + 3 * kPage, kRead).error() == Error::DeleteFirst);
  CHECK(e.attach(a, rx, kBase + 4 * kPage, kRX) == kBase + 4 * kPage);  // adjacent, the same region twice
  CHECK(e.attach(a, read_only, kBase - 4 * kPage, kRead) == kBase - 4 * kPage);
  CHECK(e.m->attach(a, large, kBase, kRead).error() == Error::DeleteFirst);  // covers [kBase, kBase + 2 MiB)
  CHECK(e.attach(a, large, kBase + kLarge) == kBase + kLarge);
  CHECK(e.m->status(a).attachments == 4);
  CHECK(e.used(a) > used);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("attach at 0 places in the placement window without overlap", "[memory][manager]") {
  Env e(GiB);
  const uint32_t a = e.open(512 * MiB);  // its share of the region table: 4 + 768 / 2 regions
  // Something fixed where placement starts, and some holes later.
  const uint64_t blocker = e.region(a, 3 * kPage);
  e.attach(a, blocker, memory::kPlacementBase + kPage, kRead);
  std::mt19937_64 rng(7);
  struct Range {
    uint64_t base, bytes;
  };
  std::vector<Range> ranges{{memory::kPlacementBase + kPage, 3 * kPage}};
  std::vector<uint64_t> badges;
  for (int i = 0; i < 200; ++i) {
    const bool large = i % 25 == 24;
    const uint64_t bytes = large ? kLarge : (1 + rng() % 9) * kPage;
    const uint64_t badge = e.region(a, bytes, false, large ? memory::kLargeShift : memory::kSmallShift);
    const uint64_t at = e.attach(a, badge, 0, kRW);
    CHECK(at >= memory::kPlacementBase);
    CHECK(at + bytes <= memory::kPlacementLimit);
    CHECK(at % (large ? kLarge : kPage) == 0);
    for (const Range& r : ranges) CHECK((at + bytes <= r.base || r.base + r.bytes <= at));
    ranges.push_back({at, bytes});
    badges.push_back(badge);
    // Now and then make a hole.
    if (i % 7 == 3) {
      const size_t k = rng() % ranges.size();
      if (k != 0) {
        REQUIRE(e.m->detach(a, ranges[k].base).ok());
        ranges.erase(ranges.begin() + static_cast<long>(k));
      }
    }
  }
  e.verify();
  // Faults anywhere in a placed attachment are resolved.
  for (size_t k = 1; k < ranges.size(); k += 17) {
    CHECK(e.m->fault(a, ranges[k].base + ranges[k].bytes - 1, true, false) == FaultOutcome::Resolved);
  }
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("attach maps an eager region's pages at once", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint64_t eager = e.region(a, 5 * kPage, true);
  const uint64_t used = e.used(a);
  e.attach(a, eager, kBase, kRead);
  for (uint64_t p = 0; p < 5; ++p) {
    const FakeBackend::Mapping* m = e.mapped(a, kBase + p * kPage);
    REQUIRE(m != nullptr);
    CHECK(m->rights == kRead);
    CHECK(e.fake.is_live_frame(m->cap));  // the original frame capability itself
  }
  CHECK(e.mapped(a, kBase + 5 * kPage) == nullptr);
  CHECK(e.fake.tables() == 3);
  CHECK(e.used(a) - used == memory::kAttachmentCharge + 5 * sizeof(Slot) + 3 * memory::kTableCharge);
  // A second attachment of the same region maps copies.
  e.attach(a, eager, kBase + 16 * kPage, kRead);
  CHECK(e.fake.copies() == 5);
  CHECK(e.fake.original_of(e.mapped(a, kBase + 16 * kPage)->cap) == e.mapped(a, kBase)->cap);
  e.verify();
  // No faults were needed.
  CHECK(e.m->status(a).faults == 0);
  CHECK(e.m->detach(a, kBase).ok());
  CHECK(e.mapped(a, kBase) == nullptr);
  CHECK(e.mapped(a, kBase + 16 * kPage) != nullptr);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("detach: twice is EmptySlot", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(MiB);
  const uint64_t r = e.region(a, 2 * kPage);
  e.attach(a, r, kBase);
  CHECK(e.m->fault(a, kBase, true, false) == FaultOutcome::Resolved);
  CHECK(e.m->detach(a, kBase + kPage).error() == Error::EmptySlot);  // not where it starts
  CHECK(e.m->detach(a, kBase).ok());
  CHECK(e.m->detach(a, kBase).error() == Error::EmptySlot);
  CHECK(e.mapped(a, kBase) == nullptr);
  CHECK(e.m->status(a).attachments == 0);
  CHECK(e.m->describe(a, r)->backed_pages == 1);  // the region keeps its frame
  CHECK(e.m->fault(a, kBase, false, false) == FaultOutcome::Outside);
  e.verify();
  e.close_all_and_expect_zero();
}

// ---- The pager -----------------------------------------------------------------------------------

TEST_CASE("fault: zero-fill, rights, outside, over quota, no memory", "[memory][manager]") {
  Env e(64 * MiB);
  const uint32_t a = e.open(4 * MiB);
  const uint64_t r = e.region(a, 4 * kPage);
  e.attach(a, r, kBase, kRW);
  const uint64_t used = e.used(a);

  CHECK(e.m->fault(a, kBase + kPage + 123, true, false) == FaultOutcome::Resolved);
  const FakeBackend::Mapping* m = e.mapped(a, kBase + kPage);
  REQUIRE(m != nullptr);
  CHECK(m->rights == kRW);
  CHECK(e.mapped(a, kBase) == nullptr);
  CHECK(e.m->frame_count() == 1);
  CHECK(e.used(a) - used == kSmallPageCharge + 3 * memory::kTableCharge);
  CHECK(e.m->status(a).faults == 1);
  // Again (another thread got there first): no new frame, no copy.
  CHECK(e.m->fault(a, kBase + kPage, false, false) == FaultOutcome::Resolved);
  CHECK(e.m->frame_count() == 1);
  CHECK(e.fake.copies() == 0);
  CHECK(e.m->status(a).faults == 2);
  // The next page in the same table: a frame, no table.
  const uint64_t used2 = e.used(a);
  CHECK(e.m->fault(a, kBase, false, false) == FaultOutcome::Resolved);
  CHECK(e.used(a) - used2 == kSmallPageCharge);

  CHECK(e.m->fault(a, kBase - 1, false, false) == FaultOutcome::Outside);
  CHECK(e.m->fault(a, kBase + 4 * kPage, false, false) == FaultOutcome::Outside);
  CHECK(e.m->fault(a, 0, false, false) == FaultOutcome::Outside);
  CHECK(e.m->fault(a, UINT64_MAX, true, false) == FaultOutcome::Outside);
  CHECK(e.m->fault(a, kBase + kPage, false, true) == FaultOutcome::Forbidden);  // not executable

  // Read-only and executable attachments of another region.
  const uint64_t code = e.region(a, 2 * kPage);
  e.attach(a, code, kBase + 16 * kPage, kRX);
  const uint64_t data = e.region(a, 2 * kPage);
  e.attach(a, data, kBase + 32 * kPage, kRead);
  CHECK(e.m->fault(a, kBase + 16 * kPage, true, false) == FaultOutcome::Forbidden);
  CHECK(e.m->fault(a, kBase + 16 * kPage, false, true) == FaultOutcome::Resolved);
  CHECK(e.mapped(a, kBase + 16 * kPage)->rights == kRX);
  CHECK(e.m->fault(a, kBase + 32 * kPage, true, false) == FaultOutcome::Forbidden);
  CHECK(e.m->fault(a, kBase + 32 * kPage, false, true) == FaultOutcome::Forbidden);
  CHECK(e.m->fault(a, kBase + 32 * kPage + 5, false, false) == FaultOutcome::Resolved);
  e.verify();

  SECTION("over quota") {
    const uint64_t big = e.region(a, 4 * MiB);
    e.attach(a, big, 0x40000000, kRW);
    uint64_t resolved = 0, p = 0;
    FaultOutcome out = FaultOutcome::Resolved;
    for (; p < 1024; ++p) {
      out = e.m->fault(a, 0x40000000 + p * kPage, true, false);
      if (out != FaultOutcome::Resolved) break;
      ++resolved;
    }
    CHECK(out == FaultOutcome::OverQuota);
    CHECK(resolved > 800);
    CHECK(e.used(a) <= 4 * MiB);
    CHECK(e.mapped(a, 0x40000000 + p * kPage) == nullptr);
    // The same page again: refused again, nothing more is made.
    const uint64_t frames = e.m->frame_count(), used_now = e.used(a);
    CHECK(e.m->fault(a, 0x40000000 + p * kPage, true, false) == FaultOutcome::OverQuota);
    CHECK(e.m->frame_count() == frames);
    CHECK(e.used(a) == used_now);
    // Until the quota is exhausted, each further page may still be backed (charged, kept in the
    // region) although it cannot be mapped; the books stay right.
    while (e.m->fault(a, 0x40000000 + (++p) * kPage, true, false) == FaultOutcome::OverQuota && p < 1023) {
    }
    CHECK(e.used(a) <= 4 * MiB);
    e.verify();
  }
  SECTION("the machine is out of frames") {
    e.fake.set_small_left(0);
    const uint64_t before = e.used(a);
    CHECK(e.m->fault(a, kBase + 2 * kPage, true, false) == FaultOutcome::NoMemory);
    CHECK(e.used(a) == before);
    CHECK(e.m->frame_count() == 4);
    // A page table cannot be made either.
    e.fake.set_small_left(1);
    const uint64_t far = e.region(a, kPage);
    e.attach(a, far, 0x8000000000, kRW);  // another 512 GiB: three new tables
    CHECK(e.m->fault(a, 0x8000000000, true, false) == FaultOutcome::NoMemory);
    CHECK(e.mapped(a, 0x8000000000) == nullptr);
    e.fake.set_small_left(100);
    CHECK(e.m->fault(a, 0x8000000000, true, false) == FaultOutcome::Resolved);
    CHECK(e.mapped(a, 0x8000000000) != nullptr);
    e.verify();
  }
  e.close_all_and_expect_zero();
}

// ---- Sharing ------------------------------------------------------------------------------------

TEST_CASE("a shared region: read-only to another session, payer hand-over, frames back", "[memory][manager]") {
  Env e(64 * MiB);
  const uint32_t a = e.open(8 * MiB);
  const uint32_t b = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage);
  e.attach(a, r, kBase, kRW);
  REQUIRE(e.m->fault(a, kBase, true, false) == FaultOutcome::Resolved);
  const Slot frame0 = e.mapped(a, kBase)->cap;

  CHECK(e.m->share(b, r, kRW | kExecute).ok());
  CHECK(e.m->share(b, r, 0).error() == Error::InvalidArgument);
  CHECK(e.m->share(b, r, 8 | kRead).error() == Error::InvalidArgument);
  const uint64_t ro = *e.m->share(b, r, kRead);
  CHECK(memory::decode_badge(ro).rights == kRead);
  CHECK(e.m->share(b, ro, kRW).error() == Error::InvalidArgument);  // never more than held
  CHECK(e.m->describe(b, ro)->rights == kRead);
  // Only write capabilities may hand out frames.
  CHECK(e.m->frame(b, ro, 0).error() == Error::InvalidCapability);

  CHECK(e.m->attach(b, ro, 0x20000000, kRW).error() == Error::InvalidCapability);
  e.attach(b, ro, 0x20000000, kRead);
  // The backed page is mapped at once, with a copy of the frame.
  const FakeBackend::Mapping* mb = e.mapped(b, 0x20000000);
  REQUIRE(mb != nullptr);
  CHECK(mb->rights == kRead);
  CHECK(mb->cap != frame0);
  CHECK(e.fake.original_of(mb->cap) == frame0);
  CHECK(e.fake.copies() == 1);
  CHECK(e.m->status(b).regions == 1);

  CHECK(e.m->fault(b, 0x20000000, true, false) == FaultOutcome::Forbidden);
  // A page first touched by B: the frame is charged to A (the payer), the table to B.
  const uint64_t used_a = e.used(a), used_b = e.used(b);
  CHECK(e.m->fault(b, 0x20000000 + 2 * kPage, false, false) == FaultOutcome::Resolved);
  CHECK(e.used(a) - used_a == kSmallPageCharge);
  CHECK(e.used(b) == used_b);  // the table is there already; the original frame cap maps, no copy
  CHECK(e.fake.is_live_frame(e.mapped(b, 0x20000000 + 2 * kPage)->cap));
  // A touches it: a copy for A.
  CHECK(e.m->fault(a, kBase + 2 * kPage, true, false) == FaultOutcome::Resolved);
  CHECK(e.fake.original_of(e.mapped(a, kBase + 2 * kPage)->cap) == e.mapped(b, 0x20000000 + 2 * kPage)->cap);
  CHECK(e.used(a) - used_a == kSmallPageCharge + memory::kSlotCharge);
  CHECK(e.m->frame_count() == 2);
  e.verify();

  // A lets go: B keeps the region and pays for it from now on.
  const uint64_t a_before = e.used(a), b_before = e.used(b);
  REQUIRE(e.m->release(a, r).ok());
  CHECK(e.m->release(a, r).error() == Error::IllegalOperation);
  CHECK(e.mapped(a, kBase) == nullptr);
  CHECK(e.mapped(a, kBase + 2 * kPage) == nullptr);
  CHECK(e.mapped(b, 0x20000000) != nullptr);
  CHECK(e.mapped(b, 0x20000000 + 2 * kPage) != nullptr);
  CHECK(e.m->status(a).regions == 0);
  CHECK(e.m->status(a).attachments == 0);
  CHECK(e.m->frame_count() == 2);
  CHECK(e.fake.live_frames() == 2);
  CHECK(e.used(a) + e.used(b) < a_before + b_before);  // A's attachment records and its copy are gone
  CHECK(e.used(a) == memory::kSessionCharge + 3 * memory::kTableCharge);
  CHECK(e.m->status(b).used > b_before);
  e.verify();
  // B still faults pages in; they are charged to B now.
  const uint64_t b_mid = e.used(b);
  CHECK(e.m->fault(b, 0x20000000 + 3 * kPage, false, false) == FaultOutcome::Resolved);
  CHECK(e.used(b) - b_mid == kSmallPageCharge);
  e.verify();

  // B lets go: the frames go back.
  REQUIRE(e.m->release(b, ro).ok());
  CHECK(e.m->frame_count() == 0);
  CHECK(e.fake.live_frames() == 0);
  CHECK(e.fake.copies() == 0);
  CHECK(e.m->region_count() == 0);
  CHECK(e.m->describe(b, ro).error() == Error::InvalidCapability);
  CHECK(e.m->attach(a, r, kBase, kRW).error() == Error::InvalidCapability);
  CHECK(e.used(b) == memory::kSessionCharge + 3 * memory::kTableCharge);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("closing the creator of a shared region hands it over", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint32_t b = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage, true);
  e.attach(a, r, kBase, kRW);
  e.attach(b, r, kBase, kRW);
  e.close(a);
  CHECK(e.m->frame_count() == 4);
  CHECK(e.mapped(b, kBase + 3 * kPage) != nullptr);
  CHECK(e.m->describe(b, r)->backed_pages == 4);
  e.verify();
  e.close_all_and_expect_zero();
}

// ---- Revoke -------------------------------------------------------------------------------------

TEST_CASE("revoke: creator only; others detached; old badges refused", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint32_t b = e.open(8 * MiB);
  const uint32_t c = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage);
  e.attach(a, r, kBase, kRW);
  const uint64_t ro = *e.m->share(a, r, kRead);
  e.attach(b, ro, kBase, kRead);
  e.attach(c, r, 0x30000000, kRW);
  e.attach(c, r, 0x40000000, kRead);
  REQUIRE(e.m->fault(c, 0x30000000, true, false) == FaultOutcome::Resolved);
  REQUIRE(e.m->fault(b, kBase + kPage, false, false) == FaultOutcome::Resolved);
  REQUIRE(e.m->fault(a, kBase, false, false) == FaultOutcome::Resolved);
  e.verify();

  CHECK(e.m->revoke(b, ro).error() == Error::IllegalOperation);
  CHECK(e.m->revoke(c, r).error() == Error::IllegalOperation);
  CHECK(e.m->revoke(a, e.m->badge_of_session(a)).error() == Error::InvalidCapability);
  Result<uint64_t> fresh = e.m->revoke(a, ro);  // any capability to it names the region
  REQUIRE(fresh.ok());
  CHECK(*fresh != r);
  CHECK(memory::decode_badge(*fresh).rights == kRightsAll);
  CHECK(e.m->status(b).attachments == 0);
  CHECK(e.m->status(b).regions == 0);
  CHECK(e.m->status(c).attachments == 0);
  CHECK(e.m->status(c).regions == 0);
  CHECK(e.mapped(b, kBase + kPage) == nullptr);
  CHECK(e.mapped(c, 0x30000000) == nullptr);
  CHECK(e.mapped(a, kBase) != nullptr);  // the creator's own stay
  CHECK(e.m->status(a).attachments == 1);
  CHECK(e.m->frame_count() == 2);
  for (uint64_t old : {r, ro}) {
    CHECK(e.m->attach(b, old, 0x50000000, kRead).error() == Error::InvalidCapability);
    CHECK(e.m->describe(a, old).error() == Error::InvalidCapability);
    CHECK(e.m->share(a, old, kRead).error() == Error::InvalidCapability);
    CHECK(e.m->release(a, old).error() == Error::InvalidCapability);
    CHECK(e.m->resize(a, old, kPage).error() == Error::InvalidCapability);
    CHECK(e.m->frame(a, old, 0).error() == Error::InvalidCapability);
    CHECK(e.m->revoke(a, old).error() == Error::InvalidCapability);
  }
  // The new badge works, and can be shared again.
  CHECK(e.m->describe(a, *fresh)->backed_pages == 2);
  e.attach(a, *fresh, 0x60000000, kRead);
  const uint64_t ro2 = *e.m->share(a, *fresh, kRead);
  e.attach(b, ro2, kBase, kRead);
  CHECK(e.mapped(b, kBase + kPage) != nullptr);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("revoke: a session that reuses the creator's index is not the creator", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint32_t b = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage);
  e.attach(b, r, kBase, kRW);
  e.close(a);  // b holds and pays now
  const uint32_t c = e.open(8 * MiB);
  REQUIRE(c == a);  // the same index, another session
  e.attach(c, r, kBase, kRead);  // it got the capability from b
  CHECK(e.m->revoke(c, r).error() == Error::IllegalOperation);
  CHECK(e.m->status(b).attachments == 1);
  e.verify();
  e.close_all_and_expect_zero();
}

// ---- Resize -------------------------------------------------------------------------------------

TEST_CASE("resize: grow with and without room, shrink", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage);
  e.attach(a, r, kBase, kRW);
  const uint64_t other = e.region(a, kPage);
  e.attach(a, other, kBase + 8 * kPage, kRead);
  const uint64_t ro = *e.m->share(a, r, kRead);

  CHECK(e.m->resize(a, ro, 8 * kPage).error() == Error::InvalidCapability);
  CHECK(e.m->resize(a, r, 0).error() == Error::RangeError);
  CHECK(e.m->resize(a, r, 64 * GiB + 1).error() == Error::RangeError);
  const uint64_t used = e.used(a);
  CHECK(e.m->resize(a, r, 9 * kPage).error() == Error::DeleteFirst);
  CHECK(e.used(a) == used);
  CHECK(e.m->describe(a, r)->bytes == 4 * kPage);
  CHECK(e.m->resize(a, r, 8 * kPage).ok());  // exactly up to the next attachment
  CHECK(e.m->describe(a, r)->bytes == 8 * kPage);
  CHECK(e.m->fault(a, kBase + 7 * kPage, true, false) == FaultOutcome::Resolved);
  CHECK(e.m->fault(a, kBase + 8 * kPage, true, false) == FaultOutcome::Forbidden);  // the other one
  e.verify();

  // Shrinking below a mapped page is refused; unmapped backed pages are freed.
  CHECK(e.m->resize(a, r, 4 * kPage).error() == Error::Busy);
  REQUIRE(e.m->frame(a, r, 5).ok());  // backed, not mapped
  CHECK(e.m->frame(a, r, 8).error() == Error::RangeError);
  CHECK(e.m->frame_count() == 2);
  REQUIRE(e.m->detach(a, kBase).ok());
  const uint64_t before = e.used(a);
  CHECK(e.m->resize(a, r, 5 * kPage).ok());  // pages 5..7 go: two frames
  CHECK(e.m->frame_count() == 0);
  CHECK(e.fake.live_frames() == 0);
  CHECK(before - e.used(a) == 2 * kSmallPageCharge);
  CHECK(e.m->describe(a, r)->bytes == 5 * kPage);
  e.verify();
  // Growing back within the old size: the pages are fresh (zero, unbacked).
  CHECK(e.m->resize(a, r, 8 * kPage).ok());
  CHECK(e.m->describe(a, r)->backed_pages == 0);
  e.attach(a, r, kBase, kRW);
  CHECK(e.m->fault(a, kBase + 7 * kPage, true, false) == FaultOutcome::Resolved);
  e.verify();

  // Growing beyond what was ever allocated, with attachments in two sessions.
  const uint32_t b = e.open(MiB);
  e.attach(b, r, 0x50000000, kRW);
  CHECK(e.m->detach(a, kBase + 8 * kPage).ok());
  CHECK(e.m->resize(a, r, 32 * kPage).ok());
  CHECK(e.m->fault(b, 0x50000000 + 31 * kPage, true, false) == FaultOutcome::Resolved);
  CHECK(e.m->fault(a, kBase + 31 * kPage, false, false) == FaultOutcome::Resolved);
  CHECK(e.fake.original_of(e.mapped(a, kBase + 31 * kPage)->cap) ==
        e.fake.original_of(e.mapped(b, 0x50000000 + 31 * kPage)->cap));
  CHECK(e.mapped(a, kBase + 7 * kPage) != nullptr);  // kept across the grow
  e.verify();

  SECTION("an attachment's session cannot pay: nothing changes") {
    // b's quota is nearly used up.
    while (e.m->create_region(b, 16 * kPage, memory::kSmallShift, true).ok()) {
    }
    const uint64_t ua = e.used(a), ub = e.used(b), heap = e.fake.heap_bytes();
    CHECK(e.m->resize(a, r, 64 * MiB).error() == Error::OutOfMemory);
    CHECK(e.used(a) == ua);
    CHECK(e.used(b) == ub);
    CHECK(e.fake.heap_bytes() == heap);
    CHECK(e.m->describe(a, r)->bytes == 32 * kPage);
    e.verify();
  }
  SECTION("the heap fails on the second array: nothing changes") {
    const uint64_t ua = e.used(a), ub = e.used(b), heap = e.fake.heap_bytes();
    e.fake.fail_allocation_at = 2;
    CHECK(e.m->resize(a, r, 64 * kPage).error() == Error::OutOfMemory);
    e.fake.fail_allocation_at = 0;
    CHECK(e.used(a) == ua);
    CHECK(e.used(b) == ub);
    CHECK(e.fake.heap_bytes() == heap);
    CHECK(e.m->describe(a, r)->bytes == 32 * kPage);
    e.verify();
  }
  e.close_all_and_expect_zero();
}

// ---- Closing ------------------------------------------------------------------------------------

TEST_CASE("close_session releases everything", "[memory][manager]") {
  Env e(256 * MiB, 65536, 8);
  const uint32_t a = e.open(32 * MiB);
  const uint32_t b = e.open(32 * MiB);
  const uint32_t c = e.open(32 * MiB);
  const uint64_t ra = e.region(a, 64 * kPage, true);
  const uint64_t rb = e.region(b, 16 * kPage);
  const uint64_t rl = e.region(c, 2 * kLarge, true, memory::kLargeShift);
  e.attach(a, ra, kBase, kRW);
  e.attach(b, ra, 0, kRead);
  e.attach(c, *e.m->share(a, ra, kRead), 0x7f0000000000, kRead);
  e.attach(b, rb, kBase, kRW);
  e.attach(a, rb, 0, kRead);
  e.attach(c, rl, 0x40000000, kRW);
  e.attach(a, rl, 0, kRead);
  for (uint64_t p = 0; p < 16; ++p) {
    CHECK(e.m->fault(b, kBase + p * kPage, true, false) == FaultOutcome::Resolved);
  }
  CHECK(e.m->fault(c, 0x40000000 + kLarge + 5, true, false) == FaultOutcome::Resolved);
  CHECK(e.fake.copies() > 0);
  CHECK(e.fake.tables() > 0);
  CHECK(e.fake.heap_bytes() > 0);
  e.verify();
  e.close(b);
  e.verify();
  e.close(a);
  e.verify();
  CHECK(e.m->region_count() == 2);
  e.close_all_and_expect_zero();
}

// ---- The allocation model -------------------------------------------------------------------------

TEST_CASE("reserve: grants follow the allocation model", "[memory][manager]") {
  Env e(64 * MiB);
  const uint32_t a = e.open(8 * MiB, 2);
  const uint32_t b = e.open(8 * MiB, 1);
  const uint64_t spare = 48 * MiB;
  CHECK(e.m->reserve(a, 64 * MiB + 1).error() == Error::RangeError);

  // Enough for one.
  CHECK(*e.m->reserve(a, 10 * MiB) == 10 * MiB);
  CHECK(e.m->status(a).granted == 10 * MiB);
  CHECK(*e.m->reserve(a, 1) == kPage);  // rounded up to pages
  CHECK(*e.m->reserve(a, 0) == 0);
  // Both ask for more than is spare: the cheaper (b, weight 1) first.
  CHECK(*e.m->reserve(a, 40 * MiB) == 40 * MiB);
  CHECK(*e.m->reserve(b, 40 * MiB) == 40 * MiB);
  CHECK(e.m->status(a).granted == 8 * MiB);
  CHECK(e.m->status(a).granted + e.m->status(b).granted == spare);
  // set_weight turns it around.
  REQUIRE(e.m->set_weight(a, 1).ok());  // a tie: the lower index first
  CHECK(e.m->status(a).granted == 40 * MiB);
  CHECK(e.m->status(b).granted == 8 * MiB);
  CHECK(e.m->set_weight(b, 0).error() == Error::InvalidArgument);
  CHECK(e.m->set_weight(9, 1).error() == Error::EmptySlot);
  REQUIRE(e.m->set_weight(a, 5).ok());
  CHECK(e.m->status(b).granted == 40 * MiB);
  // Giving back.
  CHECK(*e.m->reserve(b, 0) == 0);
  CHECK(e.m->status(a).granted == 40 * MiB);

  SECTION("three sessions") {
    const uint32_t c = e.open(8 * MiB, 3);  // spare is 40 MiB now
    CHECK(e.m->status(a).granted == 40 * MiB);
    CHECK(*e.m->reserve(b, 30 * MiB) == 30 * MiB);
    CHECK(e.m->status(a).granted == 10 * MiB);
    CHECK(*e.m->reserve(c, 30 * MiB) == 10 * MiB);  // weights: b 1, c 3, a 5
    CHECK(e.m->status(a).granted == 0);
    CHECK(e.m->status(a).granted + e.m->status(b).granted + e.m->status(c).granted == 40 * MiB);
    REQUIRE(e.m->set_weight(c, 6).ok());  // now a is cheaper than c
    CHECK(e.m->status(b).granted == 30 * MiB);
    CHECK(e.m->status(a).granted == 10 * MiB);
    CHECK(e.m->status(c).granted == 0);
    REQUIRE(e.m->set_weight(c, 1).ok());  // b and c tie: b first
    CHECK(e.m->status(b).granted == 30 * MiB);
    CHECK(e.m->status(c).granted == 10 * MiB);
    CHECK(*e.m->reserve(b, 0) == 0);
    CHECK(e.m->status(c).granted == 30 * MiB);
    CHECK(e.m->status(a).granted == 10 * MiB);
    // Closing a session returns its quota to the spare.
    e.close(b);
    CHECK(e.m->status(c).granted == 30 * MiB);
    CHECK(e.m->status(a).granted == 18 * MiB);
    CHECK(e.m->status(a).granted + e.m->status(c).granted == 48 * MiB);
    e.verify();
  }
  SECTION("charges above the quota up to quota + granted") {
    REQUIRE(*e.m->reserve(b, 0) == 0);
    REQUIRE(*e.m->reserve(a, 0) == 0);
    // Without a grant, a region of 8 MiB (eager) is beyond the quota.
    CHECK(e.m->create_region(a, 8 * MiB, memory::kSmallShift, true).error() == Error::OutOfMemory);
    REQUIRE(*e.m->reserve(a, 2 * MiB) == 2 * MiB);
    Result<uint64_t> big = e.m->create_region(a, 8 * MiB, memory::kSmallShift, true);
    REQUIRE(big.ok());
    CHECK(e.used(a) > 8 * MiB);
    CHECK(e.used(a) <= 10 * MiB);
    // Another large one is beyond quota + granted.
    CHECK(e.m->create_region(a, 2 * MiB, memory::kSmallShift, true).error() == Error::OutOfMemory);
    // The grant shrinks below what is used: nothing is taken away, nothing more is given.
    REQUIRE(*e.m->reserve(b, 48 * MiB) == 48 * MiB);
    CHECK(e.m->status(a).granted == 0);
    CHECK(e.used(a) > 8 * MiB);
    CHECK(e.m->create_region(a, kPage, memory::kSmallShift, false).error() == Error::OutOfMemory);
    e.verify();
    REQUIRE(e.m->release(a, *big).ok());
    CHECK(e.m->create_region(a, kPage, memory::kSmallShift, false).ok());
    e.verify();
  }
  e.close_all_and_expect_zero();
}

// ---- Server heap failures ------------------------------------------------------------------------

TEST_CASE("a page-table record that cannot be kept does not leave a fault resolved but unmapped",
          "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage);
  e.attach(a, r, kBase, kRW);
  // The first table made needs the session's table array: that allocation fails.
  e.fake.fail_allocation_at = 1;
  const FaultOutcome out = e.m->fault(a, kBase, true, false);
  e.fake.fail_allocation_at = 0;
  if (out == FaultOutcome::Resolved) CHECK(e.mapped(a, kBase) != nullptr);
  e.verify();
  // Whatever happened, the thread faults again and must get its page.
  CHECK(e.m->fault(a, kBase, true, false) == FaultOutcome::Resolved);
  CHECK(e.mapped(a, kBase) != nullptr);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("attach: a failed mapping of an eager page leaves no attachment", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(8 * MiB);
  const uint32_t b = e.open(8 * MiB);
  const uint64_t r = e.region(a, 4 * kPage, true);
  e.attach(a, r, kBase, kRW);
  e.fake.fail_copies = true;  // b's mappings need copies: none can be made
  CHECK(!e.m->attach(b, r, kBase, kRW).ok());
  e.fake.fail_copies = false;
  CHECK(e.m->status(b).attachments == 0);
  CHECK(e.m->status(b).regions == 0);
  CHECK(e.mapped(b, kBase) == nullptr);
  e.verify();
  e.attach(b, r, kBase, kRW);
  CHECK(e.mapped(b, kBase + 3 * kPage) != nullptr);
  e.verify();
  e.close_all_and_expect_zero();
}

// ---- A random walk -------------------------------------------------------------------------------

namespace {
struct Walker {
  Env& e;
  std::mt19937_64 rng;
  std::vector<uint64_t> badges;  // every region badge ever seen (many stale)
  std::map<uint32_t, std::vector<uint64_t>> bases;  // attach addresses per session (some detached)
  uint64_t resolved = 0, refused = 0, closed = 0, attached = 0, created = 0;
  uint64_t outcomes[5] = {};

  uint64_t pick(uint64_t n) { return rng() % n; }
  bool chance(unsigned percent) { return pick(100) < percent; }
  uint32_t session() {
    auto it = e.vspace.begin();
    std::advance(it, static_cast<long>(pick(e.vspace.size())));
    return it->first;
  }
  uint64_t badge() {
    if (badges.empty() || chance(5)) {
      switch (pick(4)) {
        case 0: return rng();
        case 1: return memory::region_badge(static_cast<uint32_t>(pick(8)), static_cast<uint32_t>(pick(3)),
                                            static_cast<uint8_t>(pick(8)));
        case 2: return e.m->badge_of_session(session());
        default: return 0;
      }
    }
    return badges[badges.size() - 1 - pick(std::min<size_t>(badges.size(), 24))];
  }
  uint64_t bytes() {
    switch (pick(10)) {
      case 0: return 0;
      case 1: return pick(3) == 0 ? (uint64_t{1} << 63) : 64 * GiB + 1 + pick(1000);
      case 2: return kLarge * (1 + pick(2));
      default: return 1 + pick(24 * kPage);
    }
  }
  uint8_t rights() {
    static const uint8_t common[] = {kRead, kRW, kRX, kRead, kRW};
    return chance(85) ? common[pick(5)] : static_cast<uint8_t>(pick(16));
  }
  uint64_t address(uint32_t s) {
    if (chance(30)) return 0;
    if (chance(5)) return rng() & ~uint64_t{0xFFF};
    if (chance(3)) return memory::kAttachLimit - kPage * pick(3);
    if (!bases[s].empty() && chance(30)) return bases[s][pick(bases[s].size())] + kPage * pick(3);
    return kBase + (pick(4) == 0 ? kLarge * pick(16) : kPage * pick(2048));
  }
  uint64_t fault_address(uint32_t s) {
    if (!bases[s].empty() && chance(90)) {
      // Mostly the latest attachments (older ones are often detached), mostly within their size.
      const size_t n = bases[s].size();
      return bases[s][n - 1 - pick(std::min<size_t>(n, 6))] + (chance(85) ? pick(6 * kPage) : pick(40 * kPage));
    }
    return kBase + pick(64 * MiB);
  }

  void step() {
    const uint32_t s = session();
    // Sometimes the server's heap fails on one of the next few allocations.
    if (chance(8)) e.fake.fail_allocation_at = 1 + pick(3);
    if (chance(2)) e.fake.fail_copies = true;
    switch (pick(20)) {
      case 0:
      case 1:
      case 2: {
        const uint8_t shift = chance(15) ? memory::kLargeShift : chance(2) ? 13 : memory::kSmallShift;
        Result<uint64_t> b = e.m->create_region(s, bytes(), shift, chance(30));
        if (b.ok()) {
          badges.push_back(*b);
          ++created;
        }
        break;
      }
      case 3:
      case 4:
      case 5: {
        Result<uint64_t> at = e.m->attach(s, badge(), address(s), rights());
        if (at.ok()) {
          bases[s].push_back(*at);
          ++attached;
        }
        break;
      }
      case 6: {
        const uint64_t where = !bases[s].empty() && chance(85) ? bases[s][pick(bases[s].size())] : rng();
        (void)e.m->detach(s, where);
        break;
      }
      case 7: (void)e.m->resize(s, badge(), bytes()); break;
      case 8: {
        Result<uint64_t> b = e.m->share(s, badge(), static_cast<uint8_t>(pick(9)));
        if (b.ok()) badges.push_back(*b);
        break;
      }
      case 9: (void)e.m->release(s, badge()); break;
      case 10: {
        Result<uint64_t> b = e.m->revoke(s, badge());
        if (b.ok()) badges.push_back(*b);
        break;
      }
      case 11: {
        Result<Slot> f = e.m->frame(s, badge(), pick(30));
        if (f.ok()) CHECK(e.fake.is_live_frame(*f));
        break;
      }
      case 12: {
        Result<memory::RegionInfo> info = e.m->describe(s, badge());
        if (info.ok()) CHECK(info->backed_pages <= info->bytes >> info->shift);
        break;
      }
      case 13: (void)e.m->reserve(s, chance(20) ? 0 : chance(5) ? rng() : pick(32 * MiB)); break;
      case 14: (void)e.m->set_weight(s, pick(5)); break;
      case 15:
        if (chance(12)) {
          e.close(s);
          bases.erase(s);
          ++closed;
          (void)e.try_open(4 * MiB + pick(8) * MiB, 1 + pick(4));
        }
        break;
      default: {
        const uint64_t where = fault_address(s);
        const bool write = chance(50), execute = !write && chance(20);
        const FaultOutcome out = e.m->fault(s, where, write, execute);
        ++outcomes[static_cast<int>(out)];
        if (out == FaultOutcome::Resolved) {
          ++resolved;
          const FakeBackend::Mapping* m = e.mapped(s, where);
          CHECK(m != nullptr);
          if (m != nullptr) {
            CHECK((!write || (m->rights & kWrite) != 0));
            CHECK((!execute || (m->rights & kExecute) != 0));
          }
        } else {
          ++refused;
        }
        break;
      }
    }
    e.fake.fail_allocation_at = 0;
    e.fake.fail_copies = false;
    REQUIRE(e.m->check().ok());
    REQUIRE(e.fake.violations() == 0);
    REQUIRE(e.fake.live_frames() == e.m->frame_count());
    REQUIRE(e.fake.pools_balanced());
    uint64_t promised = 0;
    for (auto& entry : e.vspace) promised += e.m->status(entry.first).quota;
    REQUIRE(promised == e.m->promised_bytes());
  }
};
}  // namespace

TEST_CASE("a random walk keeps the books and returns everything", "[memory][manager][random]") {
  for (uint64_t seed : {1u, 2u, 3u, 0x5EED0003u}) {
    INFO("seed " << seed);
    // A machine with fewer frames than the quotas promise: NoMemory happens too.
    Env e(48 * MiB, 3000, 6);
    for (int i = 0; i < 4; ++i) e.open(8 * MiB, 1 + static_cast<uint64_t>(i));
    Walker w{e, std::mt19937_64(seed), {}, {}};
    for (int op = 0; op < 4000; ++op) {
      INFO("operation " << op);
      w.step();
      while (e.vspace.size() < 2) e.open(4 * MiB);
    }
    INFO("seed " << seed << ": created " << w.created << " attached " << w.attached << " closed " << w.closed
                 << "; faults resolved " << w.outcomes[0] << " outside " << w.outcomes[1] << " forbidden "
                 << w.outcomes[2] << " over quota " << w.outcomes[3] << " no memory " << w.outcomes[4]);
    CHECK(w.resolved > 150);
    CHECK(w.refused > 300);
    CHECK(w.outcomes[static_cast<int>(FaultOutcome::OverQuota)] + w.outcomes[static_cast<int>(FaultOutcome::NoMemory)] > 0);
    e.close_all_and_expect_zero();
  }
}

TEST_CASE("create_object: charged like a table, refused beyond the quota, gone with the session",
          "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(memory::kSessionCharge + 2 * memory::kTableCharge + 64);
  const uint64_t before = e.used(a);
  Result<Slot> tcb = e.m->create_object(a, 1, 0);
  REQUIRE(tcb.ok());
  CHECK(e.used(a) == before + memory::kTableCharge);
  REQUIRE(e.m->create_object(a, 3, 0).ok());
  CHECK(e.m->create_object(a, 2, 0).error() == tessera::Error::OutOfMemory);
  CHECK(e.used(a) == before + 2 * memory::kTableCharge);
  CHECK(e.m->create_object(e.open(MiB), 0, 0).error() == tessera::Error::InvalidArgument);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("the device window: no attachment in it, none grows into it", "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(4 * MiB);
  const uint64_t badge = e.region(a, 2 * kPage);
  CHECK(e.m->attach(a, badge, memory::kDeviceWindowBase, kRW).error() == Error::RangeError);
  CHECK(e.m->attach(a, badge, memory::kDeviceWindowLimit - kPage, kRW).error() == Error::RangeError);
  CHECK(e.m->attach(a, badge, memory::kDeviceWindowBase - kPage, kRW).error() == Error::RangeError);
  // Right below and right above it is fine; growing the one below into it is not.
  CHECK(e.attach(a, badge, memory::kDeviceWindowBase - 2 * kPage) == memory::kDeviceWindowBase - 2 * kPage);
  CHECK(e.m->resize(a, badge, 3 * kPage).error() == Error::DeleteFirst);
  const uint64_t above = e.region(a, kPage);
  CHECK(e.attach(a, above, memory::kDeviceWindowLimit) == memory::kDeviceWindowLimit);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("device_tables: page tables in the device window only, charged, made once, gone with the session",
          "[memory][manager]") {
  Env e;
  const uint32_t a = e.open(4 * MiB);
  CHECK(e.m->device_tables(a, memory::kDeviceWindowBase - kPage).error() == Error::RangeError);
  CHECK(e.m->device_tables(a, memory::kDeviceWindowLimit).error() == Error::RangeError);
  CHECK(e.m->device_tables(a, 0).error() == Error::RangeError);
  const uint64_t before = e.used(a);
  const Result<uint32_t> first = e.m->device_tables(a, memory::kDeviceWindowBase + 5 * kPage);
  REQUIRE(first.ok());
  CHECK(first.value() == 3);  // PDPT, directory, table
  CHECK(e.used(a) == before + 3 * memory::kTableCharge);
  // The same 2 MiB: nothing more; the next 2 MiB: one more table.
  CHECK(e.m->device_tables(a, memory::kDeviceWindowBase).value() == 0);
  CHECK(e.m->device_tables(a, memory::kDeviceWindowBase + kLarge).value() == 1);
  CHECK(e.used(a) == before + 4 * memory::kTableCharge);
  // Beyond the quota: OutOfMemory, nothing kept.
  const uint32_t poor = e.open(memory::kSessionCharge + memory::kTableCharge);
  const uint64_t poor_used = e.used(poor);
  CHECK(e.m->device_tables(poor, memory::kDeviceWindowBase).error() == Error::OutOfMemory);
  CHECK(e.used(poor) == poor_used);
  e.verify();
  e.close_all_and_expect_zero();
}

TEST_CASE("a session's share of the record tables: a region loop cannot take the others' records",
          "[memory][manager]") {
  Env e(64 * MiB);
  const uint32_t hostile = e.open(8 * MiB);
  const uint32_t other = e.open(8 * MiB);
  uint32_t made = 0;
  while (e.m->create_region(hostile, kPage, memory::kSmallShift, false).ok()) ++made;
  CHECK(made == memory::kRegionFloor + (memory::kMaxRegions - memory::kMaxSessions * memory::kRegionFloor) / 8);
  CHECK(e.m->create_region(hostile, kPage, memory::kSmallShift, false).error() == tessera::Error::OutOfMemory);
  CHECK(e.m->create_region(other, kPage, memory::kSmallShift, false).ok());
  e.verify();
  e.close(hostile);
  e.verify();
  e.close_all_and_expect_zero();
}
