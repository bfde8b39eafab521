// Page-table Mapper over host memory (physical address == host pointer value).
#include <catch.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "lib/page_table.h"

using tessera::Error;
using tessera::Result;
using namespace tessera::kernel::pt;

namespace {

// Tables are 4 KiB-aligned host allocations; a limit makes alloc_table fail on demand.
class HostEnv {
 public:
  ~HostEnv() {
    for (void* table : tables_) std::free(table);
  }
  uint64_t* table(uint64_t phys) { return reinterpret_cast<uint64_t*>(phys); }
  Result<uint64_t> alloc_table() {
    if (tables_.size() >= limit_) return Error::NotEnoughMemory;
    void* memory = std::aligned_alloc(4096, 4096);
    if (memory == nullptr) return Error::NotEnoughMemory;
    std::memset(memory, 0, 4096);
    tables_.push_back(memory);
    return reinterpret_cast<uint64_t>(memory);
  }
  size_t allocated() const { return tables_.size(); }
  void set_limit(size_t limit) { limit_ = limit; }

 private:
  std::vector<void*> tables_;
  size_t limit_ = SIZE_MAX;
};

static_assert(PageTableEnv<HostEnv>);

struct Fixture {
  Fixture() : root(env.alloc_table().value()), mapper(env, root) {}
  HostEnv env;
  uint64_t root;
  Mapper<HostEnv> mapper;
};

constexpr uint64_t k4K = 1ull << 12, k2M = 1ull << 21, k1G = 1ull << 30;

}  // namespace

static_assert(index(0xffffffff80000000ull, 4) == 511);
static_assert(index(0xffffffff80000000ull, 3) == 510);
static_assert(index(0xffffffff80000000ull, 2) == 0);
static_assert(index(0x0000000000201000ull, 1) == 1);
static_assert(index(0x0000000000201000ull, 2) == 1);
static_assert(is_canonical(0x00007fffffffffffull) && is_canonical(0xffff800000000000ull));
static_assert(!is_canonical(0x0000800000000000ull) && !is_canonical(0xffff7fffffffffffull));
static_assert(page_bytes(PageSize::Size2M) == k2M);

TEST_CASE("page_table: map, translate and unmap at every size", "[page_table]") {
  struct Case {
    PageSize size;
    uint64_t virt, phys, bytes;
  };
  for (Case c : {Case{PageSize::Size4K, 0xffffffff80123000ull, 0x5000, k4K},
                 Case{PageSize::Size2M, 0x0000000040200000ull, 0x3fe00000, k2M},
                 Case{PageSize::Size1G, 0xffff800040000000ull, 0xfc0000000ull, k1G}}) {
    Fixture f;
    REQUIRE(f.mapper.map(c.virt, c.phys, c.size, kWritable | kNoExecute).ok());
    for (uint64_t offset : {uint64_t{0}, uint64_t{0x123}, c.bytes - 1}) {
      Translation t = f.mapper.translate(c.virt + offset).value();
      CHECK(t.phys == c.phys + offset);
      CHECK(t.size == c.size);
      CHECK(t.flags == (kPresent | kWritable | kNoExecute));
    }
    CHECK(f.mapper.translate(c.virt + c.bytes).error() == Error::FailedLookup);
    CHECK(f.mapper.translate(c.virt - 1).error() == Error::FailedLookup);
    CHECK(f.mapper.map(c.virt, c.phys, c.size, 0).error() == Error::DeleteFirst);
    REQUIRE(f.mapper.unmap(c.virt, c.size).ok());
    CHECK(f.mapper.translate(c.virt).error() == Error::FailedLookup);
    CHECK(f.mapper.unmap(c.virt, c.size).error() == Error::FailedLookup);
    // Tables are kept: mapping again allocates nothing.
    size_t tables = f.env.allocated();
    REQUIRE(f.mapper.map(c.virt, c.phys, c.size, 0).ok());
    CHECK(f.env.allocated() == tables);
  }
}

TEST_CASE("page_table: intermediate tables are shared and get User when needed", "[page_table]") {
  Fixture f;
  REQUIRE(f.mapper.map(0x400000, 0x1000, PageSize::Size4K, kWritable).ok());
  CHECK(f.env.allocated() == 4);  // root + PDPT + PD + PT
  REQUIRE(f.mapper.map(0x401000, 0x2000, PageSize::Size4K, kUser).ok());
  CHECK(f.env.allocated() == 4);
  uint64_t* pml4 = f.env.table(f.root);
  uint64_t pml4e = pml4[0];
  CHECK((pml4e & (kPresent | kWritable | kUser)) == (kPresent | kWritable | kUser));
  CHECK(f.mapper.translate(0x400000).value().flags == (kPresent | kWritable));
  CHECK(f.mapper.translate(0x401000).value().flags == (kPresent | kUser));

  Fixture kernel_only;
  REQUIRE(kernel_only.mapper.map(0x400000, 0x1000, PageSize::Size4K, kWritable | kGlobal).ok());
  CHECK((kernel_only.env.table(kernel_only.root)[0] & kUser) == 0);
}

TEST_CASE("page_table: argument errors", "[page_table]") {
  Fixture f;
  // Non-canonical addresses.
  CHECK(f.mapper.map(0x0000800000000000ull, 0, PageSize::Size4K, 0).error() == Error::InvalidArgument);
  CHECK(f.mapper.unmap(0x0000800000000000ull, PageSize::Size4K).error() == Error::InvalidArgument);
  CHECK(f.mapper.translate(0xffff000000000000ull).error() == Error::InvalidArgument);
  CHECK(f.mapper.protect(0x0000800000000000ull, PageSize::Size4K, 0).error() == Error::InvalidArgument);
  // Physical addresses past 52 bits; flags with address or page-size bits.
  CHECK(f.mapper.map(0x1000, 1ull << 52, PageSize::Size4K, 0).error() == Error::InvalidArgument);
  CHECK(f.mapper.map(0x1000, 0x1000, PageSize::Size4K, 0x1000).error() == Error::InvalidArgument);
  CHECK(f.mapper.map(0x1000, 0x1000, PageSize::Size4K, 1ull << 51).error() == Error::InvalidArgument);
  CHECK(f.mapper.map(0x200000, 0x200000, PageSize::Size2M, kHuge).error() == Error::InvalidArgument);
  // Alignment.
  CHECK(f.mapper.map(0x1800, 0x1000, PageSize::Size4K, 0).error() == Error::AlignmentError);
  CHECK(f.mapper.map(0x1000, 0x1800, PageSize::Size4K, 0).error() == Error::AlignmentError);
  CHECK(f.mapper.map(0x201000, 0x200000, PageSize::Size2M, 0).error() == Error::AlignmentError);
  CHECK(f.mapper.map(0x200000, 0x201000, PageSize::Size2M, 0).error() == Error::AlignmentError);
  CHECK(f.mapper.map(0x40000000, 0x20000000, PageSize::Size1G, 0).error() == Error::AlignmentError);
  CHECK(f.mapper.unmap(0x1800, PageSize::Size4K).error() == Error::AlignmentError);
  CHECK(f.mapper.protect(0x200000 + k4K, PageSize::Size2M, 0).error() == Error::AlignmentError);
  CHECK(f.env.allocated() == 1);  // nothing was built for rejected calls
  // Lookups of nothing.
  CHECK(f.mapper.translate(0x1000).error() == Error::FailedLookup);
  CHECK(f.mapper.unmap(0x1000, PageSize::Size4K).error() == Error::FailedLookup);
  CHECK(f.mapper.protect(0x1000, PageSize::Size4K, 0).error() == Error::FailedLookup);
}

TEST_CASE("page_table: overlaps between sizes are DeleteFirst / FailedLookup", "[page_table]") {
  Fixture f;
  REQUIRE(f.mapper.map(0x40000000, 0x80000000, PageSize::Size1G, 0).ok());
  // A 1G page covers any smaller page inside it.
  CHECK(f.mapper.map(0x40200000, 0x200000, PageSize::Size2M, 0).error() == Error::DeleteFirst);
  CHECK(f.mapper.map(0x7ffff000, 0x1000, PageSize::Size4K, 0).error() == Error::DeleteFirst);
  // Unmapping or protecting it with another size is a size mismatch.
  CHECK(f.mapper.unmap(0x40000000, PageSize::Size2M).error() == Error::FailedLookup);
  CHECK(f.mapper.unmap(0x40000000, PageSize::Size4K).error() == Error::FailedLookup);
  CHECK(f.mapper.protect(0x40000000, PageSize::Size2M, 0).error() == Error::FailedLookup);

  REQUIRE(f.mapper.map(0x200000, 0x1000, PageSize::Size4K, 0).ok());
  // A page table exists at 0..1G / 2M..4M: a huge leaf cannot replace it.
  CHECK(f.mapper.map(0x200000, 0x200000, PageSize::Size2M, 0).error() == Error::DeleteFirst);
  CHECK(f.mapper.map(0, 0, PageSize::Size1G, 0).error() == Error::DeleteFirst);
  CHECK(f.mapper.unmap(0x200000, PageSize::Size2M).error() == Error::FailedLookup);
  CHECK(f.mapper.unmap(0, PageSize::Size1G).error() == Error::FailedLookup);
  // Even after the 4K page is gone the table stays, so the answer is the same.
  REQUIRE(f.mapper.unmap(0x200000, PageSize::Size4K).ok());
  CHECK(f.mapper.map(0x200000, 0x200000, PageSize::Size2M, 0).error() == Error::DeleteFirst);
  // A 2M page elsewhere in the same PD is fine.
  CHECK(f.mapper.map(0x400000, 0x200000, PageSize::Size2M, 0).ok());
  CHECK(f.mapper.translate(0x5fffff).value().phys == 0x3fffff);
}

TEST_CASE("page_table: protect changes flags and keeps the address", "[page_table]") {
  Fixture f;
  REQUIRE(f.mapper.map(0x600000, 0x1800000, PageSize::Size2M, kWritable).ok());
  REQUIRE(f.mapper.protect(0x600000, PageSize::Size2M, kNoExecute | kUser).ok());
  Translation t = f.mapper.translate(0x600010).value();
  CHECK(t.phys == 0x1800010);
  CHECK(t.size == PageSize::Size2M);
  CHECK(t.flags == (kPresent | kNoExecute | kUser));
  // User reached the intermediate entries, so the page is really user-accessible.
  uint64_t pml4e = f.env.table(f.root)[0];
  CHECK((pml4e & kUser) != 0);
  uint64_t pdpte = f.env.table(pml4e & kAddressMask)[0];
  CHECK((pdpte & kUser) != 0);
  // Flags from translate round-trip into protect.
  REQUIRE(f.mapper.protect(0x600000, PageSize::Size2M, t.flags).ok());
  CHECK(f.mapper.translate(0x600000).value().flags == t.flags);
  CHECK(f.mapper.protect(0x600000, PageSize::Size2M, 0x1000).error() == Error::InvalidArgument);
  CHECK(f.mapper.protect(0x600000, PageSize::Size2M, kHuge).error() == Error::InvalidArgument);
}

TEST_CASE("page_table: alloc_table failures propagate", "[page_table]") {
  for (size_t limit = 1; limit < 4; ++limit) {
    Fixture f;
    f.env.set_limit(limit);  // root already counts as one
    CHECK(f.mapper.map(0xffffffff80000000ull, 0x1000, PageSize::Size4K, 0).error() == Error::NotEnoughMemory);
    CHECK(f.mapper.translate(0xffffffff80000000ull).error() == Error::FailedLookup);
    f.env.set_limit(SIZE_MAX);
    CHECK(f.mapper.map(0xffffffff80000000ull, 0x1000, PageSize::Size4K, 0).ok());
    CHECK(f.env.allocated() == 4);  // partial tables were kept and reused
  }
}

TEST_CASE("page_table: many 4K pages across table boundaries", "[page_table]") {
  Fixture f;
  const uint64_t base = 0x7fffffe00000ull - 8 * k4K;  // straddles a PT boundary below the top
  for (uint64_t i = 0; i < 600; ++i) {
    REQUIRE(f.mapper.map(base + i * k4K - 512 * k4K, 0x100000 + i * k4K, PageSize::Size4K, kUser).ok());
  }
  for (uint64_t i = 0; i < 600; ++i) {
    CHECK(f.mapper.translate(base + i * k4K - 512 * k4K + 7).value().phys == 0x100000 + i * k4K + 7);
  }
  CHECK(f.mapper.map(0xffff800000000000ull, 0, PageSize::Size1G, kGlobal).ok());
  CHECK(f.mapper.translate(0xffff80003fffffffull).value().phys == k1G - 1);
}
