#include "object/address_space.h"

#include <tessera/string.h>

#include "arch/x86_64/paging.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"
#include "lib/page_table.h"
#include "object/poison.h"
#include "object/tcb.h"

namespace tessera::kernel::vspace {
namespace {

class DirectMapEnv {
 public:
  explicit DirectMapEnv(FrameAllocator* frames) : frames_(frames) {}
  uint64_t* table(uint64_t phys) {
    uint64_t* entries = layout::phys_to<uint64_t>(phys);
    check_entry(entries[0], entries);  // a walk must never enter a destroyed table
    return entries;
  }
  Result<uint64_t> alloc_table() {
    if (frames_ == nullptr) return Error::NotEnoughMemory;
    const uint64_t phys = TRY(frames_->alloc());
    memset(layout::phys_to_virt(phys), 0, 4096);
    return phys;
  }

 private:
  FrameAllocator* frames_;
};

void user_access_begin() {
  if (boot_state().features.smap) asm volatile("stac" : : : "memory");
}
void user_access_end() {
  if (boot_state().features.smap) asm volatile("clac" : : : "memory");
}
}  // namespace

Result<uint64_t> create(FrameAllocator& frames) {
  DirectMapEnv env(&frames);
  const uint64_t root = TRY(env.alloc_table());
  const uint64_t* kernel = layout::phys_to<uint64_t>(paging::kernel_root());
  uint64_t* user = layout::phys_to<uint64_t>(root);
  for (int i = 256; i < 512; ++i) user[i] = kernel[i];
  return root;
}

Result<void> map_page(FrameAllocator& frames, uint64_t root, uint64_t virt, uint64_t phys, uint8_t access) {
  if (!is_user_address(virt)) return Error::RangeError;
  if ((access & kWrite) != 0 && (access & kExecute) != 0) return Error::InvalidArgument;
  uint64_t flags = pt::kUser;
  if ((access & kWrite) != 0) flags |= pt::kWritable;
  if ((access & kExecute) == 0 && boot_state().features.nx) flags |= pt::kNoExecute;
  DirectMapEnv env(&frames);
  pt::Mapper<DirectMapEnv> mapper(env, root);
  return mapper.map(virt, phys, pt::PageSize::Size4K, flags);
}

Result<void> check_user_range(uint64_t root, uint64_t address, uint64_t size, bool for_write) {
  uint64_t end = 0;
  if (size == 0) return {};
  if (root == 0) return Error::InvalidArgument;  // the thread's space is gone
  if (add_overflows(address, size, &end) || !is_user_address(address) || end > kUserAddressLimit) {
    return Error::RangeError;
  }
  DirectMapEnv env(nullptr);
  pt::Mapper<DirectMapEnv> mapper(env, root);
  for (uint64_t page = align_down(address, 4096); page < end; page += 4096) {
    auto t = mapper.translate(page);
    if (!t) return Error::InvalidArgument;
    if ((t->flags & pt::kUser) == 0 || (for_write && (t->flags & pt::kWritable) == 0)) {
      return Error::InvalidArgument;
    }
  }
  return {};
}

void* user_address(uint64_t root, uint64_t vaddr, bool for_write) {
  if (root == 0 || !is_user_address(vaddr)) return nullptr;
  DirectMapEnv env(nullptr);
  pt::Mapper<DirectMapEnv> mapper(env, root);
  auto t = mapper.translate(vaddr);
  if (!t || (t->flags & pt::kUser) == 0 || (for_write && (t->flags & pt::kWritable) == 0)) return nullptr;
  return layout::phys_to_virt(t->phys);
}

Result<void> copy_from_user(uint64_t root, void* dest, uint64_t user_src, uint64_t size) {
  TRY(check_user_range(root, user_src, size, false));
  user_access_begin();
  memcpy(dest, reinterpret_cast<const void*>(user_src), size);
  user_access_end();
  return {};
}

Result<void> copy_to_user(uint64_t root, uint64_t user_dest, const void* src, uint64_t size) {
  TRY(check_user_range(root, user_dest, size, true));
  user_access_begin();
  memcpy(reinterpret_cast<void*>(user_dest), src, size);
  user_access_end();
  return {};
}

}  // namespace tessera::kernel::vspace

namespace tessera::kernel::vspace {
namespace {
struct AsidEntry {
  uint64_t root;
  uint64_t generation;
};
constinit AsidEntry asid_table[kMaxAsids] = {};
uint64_t next_generation = 1;

// Software-only word in an unused, non-present kernel-half PML4 entry: the space's ASID.
constexpr unsigned kAsidSlot = 400;

uint64_t* entries(uint64_t phys) { return layout::phys_to<uint64_t>(phys); }

unsigned index_at(uint64_t vaddr, unsigned level) {
  return static_cast<unsigned>((vaddr >> (12 + 9 * (level - 1))) & 511);
}

// The table at `level` (4 = the PML4 itself) covering vaddr; FailedLookup when missing or when a
// huge page occupies the way.
Result<uint64_t> table_at_level(uint64_t root, uint64_t vaddr, unsigned level) {
  uint64_t table = root;
  for (unsigned l = 4; l > level; --l) {
    const uint64_t e = entries(table)[index_at(vaddr, l)];
    check_entry(e, entries(table));
    if ((e & pt::kPresent) == 0 || (e & pt::kHuge) != 0) return Error::FailedLookup;
    table = e & pt::kAddressMask;
  }
  return table;
}

void flush(uint64_t root, uint64_t vaddr) {
  if (x86::read_cr3() == root) x86::invlpg(vaddr);
}
}  // namespace

void init_root(uint64_t phys) {
  const uint64_t* kernel = entries(paging::kernel_root());
  uint64_t* user = entries(phys);
  for (int i = 256; i < 512; ++i) user[i] = kernel[i];
  user[kAsidSlot] = 0;
  for (uint32_t asid = 1; asid < kMaxAsids; ++asid) {
    if (asid_table[asid].root != 0) continue;
    asid_table[asid] = AsidEntry{phys, next_generation++};
    user[kAsidSlot] = static_cast<uint64_t>(asid) << 1;  // bit 0 clear: never a present entry
    return;
  }
}

void destroy_root(uint64_t phys) {
  const uint32_t asid = static_cast<uint32_t>(entries(phys)[kAsidSlot] >> 1);
  if (asid != 0 && asid < kMaxAsids && asid_table[asid].root == phys) asid_table[asid] = AsidEntry{};
  entries(phys)[kAsidSlot] = 0;
  if (x86::read_cr3() == phys) x86::write_cr3(paging::kernel_root());
}

Result<SpaceId> space_id(uint64_t phys) {
  const uint32_t asid = static_cast<uint32_t>(entries(phys)[kAsidSlot] >> 1);
  if (asid == 0 || asid >= kMaxAsids || asid_table[asid].root != phys) return Error::NotEnoughMemory;
  return SpaceId{asid, asid_table[asid].generation};
}

uint64_t root_of(SpaceId id) {
  if (id.asid == 0 || id.asid >= kMaxAsids) return 0;
  const AsidEntry& e = asid_table[id.asid];
  return e.generation == id.generation ? e.root : 0;
}

Result<void> install_table(uint64_t root, uint64_t vaddr, unsigned table_level, uint64_t table_phys) {
  if (table_level < 1 || table_level > 3) return Error::InvalidArgument;
  if (!is_user_address(vaddr)) return Error::RangeError;
  const uint64_t parent = TRY(table_at_level(root, vaddr, table_level + 1));
  uint64_t& e = entries(parent)[index_at(vaddr, table_level + 1)];
  if ((e & pt::kPresent) != 0) return Error::DeleteFirst;
  e = table_phys | pt::kPresent | pt::kWritable | pt::kUser;
  return {};
}

Result<void> map_frame(uint64_t root, uint64_t vaddr, uint8_t size_bits, uint64_t phys, bool writable,
                       bool executable, bool uncached) {
  if (size_bits != 12 && size_bits != 21) return Error::InvalidArgument;
  const uint64_t size = uint64_t{1} << size_bits;
  if (!is_aligned(vaddr, size)) return Error::AlignmentError;
  uint64_t end = 0;
  if (add_overflows(vaddr, size, &end) || !is_user_address(vaddr) || end > kUserAddressLimit) return Error::RangeError;
  const unsigned level = size_bits == 12 ? 1 : 2;
  const uint64_t table = TRY(table_at_level(root, vaddr, level));
  uint64_t& e = entries(table)[index_at(vaddr, level)];
  if ((e & pt::kPresent) != 0) return Error::DeleteFirst;
  uint64_t flags = pt::kPresent | pt::kUser;
  if (writable) flags |= pt::kWritable;
  if ((!executable || writable) && boot_state().features.nx) flags |= pt::kNoExecute;  // W^X
  if (uncached) flags |= pt::kCacheDisable | pt::kWriteThrough;
  if (level == 2) flags |= pt::kHuge;
  e = phys | flags;
  flush(root, vaddr);
  return {};
}

void clear_table(uint64_t phys) { memset(entries(phys), 0, 4096); }

void clear_entry(uint64_t root, uint64_t vaddr, unsigned entry_level, uint64_t phys) {
  auto table = table_at_level(root, vaddr, entry_level);
  if (!table) return;
  uint64_t& e = entries(*table)[index_at(vaddr, entry_level)];
  if ((e & pt::kPresent) == 0 || (e & pt::kAddressMask) != phys) return;
  e = 0;
  if (entry_level > 1 && x86::read_cr3() == root) {
    x86::write_cr3(root);  // a whole table went away: flush everything below it
  } else {
    flush(root, vaddr);
  }
}

}  // namespace tessera::kernel::vspace
