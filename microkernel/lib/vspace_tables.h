// Address spaces made from untyped memory, as pure logic: the ASID table (with generations), the
// paging structures that caps install into a PML4, the frames they map, and the mapping record each
// frame or table cap keeps, with the rules that keep every entry the MMU can reach pointing at live
// memory (docs/kernel-objects.md, "References between objects"):
//  - a paging structure has exactly one cap; a frame or table cap records where it is mapped and,
//    while that record says mapped, never maps again (even when that space is gone);
//  - unmapping (explicitly or when the cap is deleted) clears the entry if the recorded path from
//    the live PML4 still leads to it, and empties a paging structure (all 512 entries).
// Everything that touches hardware or memory goes through a TableEnv, so the kernel
// (object/vspace.cc, one Tables for the system) and the host tests (tests/host/cap,
// lifetime_model_test.cc, memory in an arena) run this same code.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "cap/slot.h"
#include "lib/user_address.h"

namespace tessera::kernel {

// Per-cap architecture state kept in CapSlot::arch_reserved: where a frame or paging structure is
// mapped, naming the address space by {asid, generation} so a record that outlives its space is
// recognised as stale. Copies of a cap start unmapped (seL4's rule: the cap core zeroes a new slot).
struct MappingRecord {
  uint64_t vaddr;
  uint64_t generation;
  uint32_t asid;   // 0 = not mapped
  uint32_t reserved;
};
static_assert(sizeof(MappingRecord) <= sizeof(cap::CapSlot::arch_reserved));
inline MappingRecord& mapping_of(cap::CapSlot* slot) { return *reinterpret_cast<MappingRecord*>(slot->arch_reserved); }
inline const MappingRecord& mapping_of(const cap::CapSlot* slot) {
  return *reinterpret_cast<const MappingRecord*>(slot->arch_reserved);
}
// Frame and paging-structure caps whose record says they are mapped (even into a space that has
// been destroyed since: such a cap must be unmapped, which empties a table, before it maps again).
inline bool is_mapped(const cap::CapSlot* slot) { return mapping_of(slot).asid != 0; }

// The page-table level whose entry maps a frame or table of this type (1 = PT entry ... 4 = PML4
// entry); 0 for other types.
constexpr unsigned entry_level(cap::ObjectType type) {
  switch (type) {
    case cap::ObjectType::Frame4K: return 1;
    case cap::ObjectType::Frame2M: return 2;
    case cap::ObjectType::PageTable: return 2;
    case cap::ObjectType::PageDirectory: return 3;
    case cap::ObjectType::Pdpt: return 4;
    default: return 0;
  }
}

// A thread's PML4 as long as its VSpace slot still holds the cap it was configured with (whose
// object is `recorded_root`); 0 once that cap is gone (the space may be destroyed and reused).
inline uint64_t root_through_slot(const cap::CapSlot* vspace_slot, uint64_t recorded_root) {
  return vspace_slot->cap.object_word() == recorded_root ? recorded_root : 0;
}

namespace vspace {

// Every live PML4 holds an address-space id (ASID). At most kMaxAsids - 1 spaces exist at once; a
// PML4 created beyond that cannot be used (NotEnoughMemory when mapped into).
constexpr uint32_t kMaxAsids = 4096;
// Software-only word in an unused, non-present kernel-half PML4 entry: the space's ASID << 1.
constexpr unsigned kAsidSlot = 400;

struct SpaceId {
  uint32_t asid;
  uint64_t generation;
};

// What the table logic needs from its user. Every function pointer must be set except entry_read.
struct TableEnv {
  void* cookie = nullptr;
  // The 512 entries of the paging structure at physical address `phys`.
  uint64_t* (*table)(void* cookie, uint64_t phys) = nullptr;
  // The PML4 the CPU translates with now (CR3), to know when a change needs a TLB flush.
  uint64_t (*current_root)(void* cookie) = nullptr;
  // Flushes the TLB entry of `vaddr` in the current space (invlpg).
  void (*invalidate_page)(void* cookie, uint64_t vaddr) = nullptr;
  // Switches to (or reloads, flushing non-global entries) the PML4 at `root` (write CR3).
  void (*load_root)(void* cookie, uint64_t root) = nullptr;
  // The PML4 whose upper half every space shares (the kernel's).
  uint64_t (*kernel_root)(void* cookie) = nullptr;
  // True when the CPU supports no-execute (then W^X mappings get NX).
  bool (*nx_enabled)(void* cookie) = nullptr;
  // Optional: `entry` of the table at `table` is about to be followed (the kernel's poison check).
  void (*entry_read)(void* cookie, uint64_t entry, const uint64_t* table) = nullptr;
};

// How a frame is to be mapped (the decoded rights and attributes of Frame.map).
struct FrameMapping {
  uint64_t vaddr;
  bool read;        // rights asked for: each needs the cap's right of the same name
  bool write;
  bool executable;
  bool uncached;    // device frames are always uncached
};

class Tables {
 public:
  constexpr explicit Tables(const TableEnv& env) : env_(env) {}
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  // --- The ASID table ---
  // Prepares a zeroed PML4 at `phys` (shares the kernel half, takes an ASID if one is free).
  void init_root(uint64_t phys);
  // The PML4 at `phys` is being destroyed: release its ASID; leave it if it is the current space.
  void destroy_root(uint64_t phys);
  // The ASID of the PML4 at `phys` and its generation; NotEnoughMemory when it has none.
  Result<SpaceId> space_id(uint64_t phys) const;
  // The PML4 a still-valid SpaceId names, or 0 when the space is gone.
  uint64_t root_of(SpaceId id) const;

  // --- Entries ---
  // The table at `level` (4 = the PML4 itself) covering vaddr; FailedLookup when missing or when a
  // huge page occupies the way.
  Result<uint64_t> table_at_level(uint64_t root, uint64_t vaddr, unsigned level) const;
  // Installs the table at `table_phys` into `root` for `vaddr` at `table_level` (3: a PDPT, 2: a
  // PD, 1: a PT). Errors: FailedLookup (the level above is missing), DeleteFirst (already present),
  // RangeError, InvalidArgument.
  Result<void> install_table(uint64_t root, uint64_t vaddr, unsigned table_level, uint64_t table_phys);
  // Maps a frame of 2^size_bits bytes (12 or 21). Errors: FailedLookup (no table at the level
  // above), DeleteFirst (present), AlignmentError, RangeError, InvalidArgument.
  Result<void> map_frame(uint64_t root, uint64_t vaddr, uint8_t size_bits, uint64_t phys, bool writable,
                         bool executable, bool uncached);
  // Clears the entry for a frame or table at `entry_level` for vaddr if it still points at `phys`;
  // flushes the TLB when `root` is the current space.
  void clear_entry(uint64_t root, uint64_t vaddr, unsigned entry_level, uint64_t phys);
  // Empties the paging structure at `phys` (all 512 entries): it has just been unmapped.
  void clear_table(uint64_t phys);

  // --- Caps (the Frame and paging-structure invocations, and cap deletion) ---
  // Installs the paging structure of `self` into the space (`root`, `id`) at `vaddr` aligned down
  // to what one such table covers, and records it. InvalidCapability when `self` is mapped already.
  Result<void> map_table_cap(cap::CapSlot* self, uint64_t root, SpaceId id, uint64_t vaddr);
  // Maps the frame of `self` and records it. InvalidCapability when `self` is mapped already,
  // InsufficientRights when it lacks a right asked for, then map_frame's errors.
  Result<void> map_frame_cap(cap::CapSlot* self, uint64_t root, SpaceId id, const FrameMapping& m);
  // Undoes the mapping the cap in `slot` made, if any, and marks the cap unmapped. The entry is
  // cleared when the path the record names still leads to it; a paging structure is also emptied,
  // so a table that is not mapped never holds an entry. Together with "a cap that is marked mapped
  // cannot map again" this keeps every entry reachable by the MMU pointing at live memory.
  void unmap_cap(cap::CapSlot* slot);

 private:
  struct AsidEntry {
    uint64_t root;
    uint64_t generation;
  };

  uint64_t* entries(uint64_t phys) const { return env_.table(env_.cookie, phys); }
  void flush(uint64_t root, uint64_t vaddr) const {
    if (env_.current_root(env_.cookie) == root) env_.invalidate_page(env_.cookie, vaddr);
  }

  TableEnv env_;
  AsidEntry asids_[kMaxAsids] = {};
  uint64_t next_generation_ = 1;
};

}  // namespace vspace
}  // namespace tessera::kernel
