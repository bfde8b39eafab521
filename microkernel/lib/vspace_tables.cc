#include "lib/vspace_tables.h"

#include <tessera/meta.h>
#include <tessera/string.h>

#include "lib/page_table.h"

namespace tessera::kernel::vspace {
namespace {
// The bytes of address space one table of this type covers (its map address is aligned down to it).
uint64_t table_coverage_bits(cap::ObjectType type) {
  switch (type) {
    case cap::ObjectType::Pdpt: return 39;
    case cap::ObjectType::PageDirectory: return 30;
    default: return 21;  // page table
  }
}

void record(cap::CapSlot* slot, SpaceId id, uint64_t vaddr) {
  mapping_of(slot) = MappingRecord{vaddr, id.generation, id.asid, 0};
}
}  // namespace

void Tables::init_root(uint64_t phys) {
  const uint64_t* kernel = entries(env_.kernel_root(env_.cookie));
  uint64_t* user = entries(phys);
  for (int i = 256; i < 512; ++i) user[i] = kernel[i];
  user[kAsidSlot] = 0;
  for (uint32_t asid = 1; asid < kMaxAsids; ++asid) {
    if (asids_[asid].root != 0) continue;
    asids_[asid] = AsidEntry{phys, next_generation_++};
    user[kAsidSlot] = static_cast<uint64_t>(asid) << 1;  // bit 0 clear: never a present entry
    return;
  }
}

void Tables::destroy_root(uint64_t phys) {
  const uint32_t asid = static_cast<uint32_t>(entries(phys)[kAsidSlot] >> 1);
  if (asid != 0 && asid < kMaxAsids && asids_[asid].root == phys) asids_[asid] = AsidEntry{};
  entries(phys)[kAsidSlot] = 0;
  if (env_.current_root(env_.cookie) == phys) env_.load_root(env_.cookie, env_.kernel_root(env_.cookie));
}

Result<SpaceId> Tables::space_id(uint64_t phys) const {
  const uint32_t asid = static_cast<uint32_t>(entries(phys)[kAsidSlot] >> 1);
  if (asid == 0 || asid >= kMaxAsids || asids_[asid].root != phys) return Error::NotEnoughMemory;
  return SpaceId{asid, asids_[asid].generation};
}

uint64_t Tables::root_of(SpaceId id) const {
  if (id.asid == 0 || id.asid >= kMaxAsids) return 0;
  const AsidEntry& e = asids_[id.asid];
  return e.generation == id.generation ? e.root : 0;
}

namespace {
// The TableEnv as pt::Mapper's environment, for walks only (it never allocates).
struct WalkEnv {
  const TableEnv& env;
  uint64_t* table(uint64_t phys) { return env.table(env.cookie, phys); }
  Result<uint64_t> alloc_table() { return Error::NotEnoughMemory; }
  void entry_read(uint64_t entry, const uint64_t* table) {
    if (env.entry_read != nullptr) env.entry_read(env.cookie, entry, table);
  }
};
}  // namespace

Result<uint64_t> Tables::table_at_level(uint64_t root, uint64_t vaddr, unsigned level) const {
  WalkEnv walk{env_};
  return pt::Mapper<WalkEnv>(walk, root).table_at(vaddr, level);
}

Result<void> Tables::install_table(uint64_t root, uint64_t vaddr, unsigned table_level, uint64_t table_phys) {
  if (table_level < 1 || table_level > 3) return Error::InvalidArgument;
  if (!is_user_address(vaddr)) return Error::RangeError;
  const uint64_t parent = TRY(table_at_level(root, vaddr, table_level + 1));
  uint64_t& e = entries(parent)[pt::index(vaddr, table_level + 1)];
  if ((e & pt::kPresent) != 0) return Error::DeleteFirst;
  e = table_phys | pt::kPresent | pt::kWritable | pt::kUser;
  return {};
}

Result<void> Tables::map_frame(uint64_t root, uint64_t vaddr, uint8_t size_bits, uint64_t phys, bool writable,
                               bool executable, bool uncached) {
  if (size_bits != 12 && size_bits != 21) return Error::InvalidArgument;
  const uint64_t size = uint64_t{1} << size_bits;
  if (!is_aligned(vaddr, size)) return Error::AlignmentError;
  uint64_t end = 0;
  if (add_overflows(vaddr, size, &end) || !is_user_address(vaddr) || end > kUserAddressLimit) return Error::RangeError;
  const unsigned level = size_bits == 12 ? 1 : 2;
  const uint64_t table = TRY(table_at_level(root, vaddr, level));
  uint64_t& e = entries(table)[pt::index(vaddr, level)];
  if ((e & pt::kPresent) != 0) return Error::DeleteFirst;
  uint64_t flags = pt::kPresent | pt::kUser;
  if (writable) flags |= pt::kWritable;
  if ((!executable || writable) && env_.nx_enabled(env_.cookie)) flags |= pt::kNoExecute;  // W^X
  if (uncached) flags |= pt::kCacheDisable | pt::kWriteThrough;
  if (level == 2) flags |= pt::kHuge;
  e = phys | flags;
  flush(root, vaddr);
  return {};
}

void Tables::clear_table(uint64_t phys) { memset(entries(phys), 0, 4096); }

void Tables::clear_entry(uint64_t root, uint64_t vaddr, unsigned entry_level, uint64_t phys) {
  auto table = table_at_level(root, vaddr, entry_level);
  if (!table) return;
  uint64_t& e = entries(*table)[pt::index(vaddr, entry_level)];
  if ((e & pt::kPresent) == 0 || (e & pt::kAddressMask) != phys) return;
  e = 0;
  if (entry_level > 1 && env_.current_root(env_.cookie) == root) {
    env_.load_root(env_.cookie, root);  // a whole table went away: flush everything below it
  } else {
    flush(root, vaddr);
  }
}

Result<void> Tables::map_table_cap(cap::CapSlot* self, uint64_t root, SpaceId id, uint64_t vaddr) {
  const cap::ObjectType type = self->cap.type();
  if (!cap::is_paging_structure(type)) return Error::InvalidCapability;
  if (is_mapped(self)) return Error::InvalidCapability;  // unmap first, even if its space is gone
  const uint64_t aligned = align_down(vaddr, uint64_t{1} << table_coverage_bits(type));
  if (!is_user_address(vaddr)) return Error::RangeError;
  TRY(install_table(root, aligned, entry_level(type) - 1, self->cap.phys()));
  record(self, id, aligned);
  return {};
}

Result<void> Tables::map_frame_cap(cap::CapSlot* self, uint64_t root, SpaceId id, const FrameMapping& m) {
  if (is_mapped(self)) return Error::InvalidCapability;  // unmap first, even if its space is gone
  const cap::CapRights rights = self->cap.rights();
  if (m.read && !rights.includes(cap::CapRights::read())) return Error::InsufficientRights;
  if (m.write && !rights.includes(cap::CapRights::write())) return Error::InsufficientRights;
  TRY(map_frame(root, m.vaddr, self->cap.memory_size_bits(), self->cap.phys(), m.write, m.executable,
                m.uncached || self->cap.is_device()));
  record(self, id, m.vaddr);
  return {};
}

void Tables::unmap_cap(cap::CapSlot* slot) {
  MappingRecord& m = mapping_of(slot);
  if (m.asid == 0) return;
  const cap::Capability& c = slot->cap;
  const unsigned level = entry_level(c.type());
  const uint64_t root = root_of(SpaceId{m.asid, m.generation});
  // The entry is only where the record says if the path to it still exists; when the space or a
  // table on the way is gone, the entry (if any) is in a table nothing can reach until that table
  // is itself unmapped, which empties it.
  if (level != 0 && root != 0) clear_entry(root, m.vaddr, level, c.phys());
  if (cap::is_paging_structure(c.type())) clear_table(c.phys());
  m = MappingRecord{};
}

}  // namespace tessera::kernel::vspace
