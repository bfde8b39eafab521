// x86-64 4-level paging (48-bit virtual, 52-bit physical addresses): entry bits, index arithmetic,
// and Mapper, which edits a page-table tree through an environment that turns physical table
// addresses into pointers and allocates zeroed tables. Mapper is pure logic: it does not flush
// TLBs (the caller does, after unmap/protect) and never frees tables.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/result.h>

namespace tessera::kernel::pt {

enum class PageSize : uint8_t { Size4K, Size2M, Size1G };

constexpr uint64_t kPresent = 1ull << 0, kWritable = 1ull << 1, kUser = 1ull << 2, kWriteThrough = 1ull << 3,
                   kCacheDisable = 1ull << 4, kAccessed = 1ull << 5, kDirty = 1ull << 6, kHuge = 1ull << 7,
                   kGlobal = 1ull << 8, kNoExecute = 1ull << 63, kAddressMask = 0x000ffffffffff000ull;
constexpr size_t kEntriesPerTable = 512;
constexpr uint64_t kMaxPhysical = 1ull << 52;  // exclusive

// Index into the table at `level` (4 = PML4, 3 = PDPT, 2 = PD, 1 = PT) for `virt`.
constexpr unsigned index(uint64_t virt, unsigned level) {
  return static_cast<unsigned>((virt >> (12 + 9 * (level - 1))) & 0x1ff);
}

// True when bits 63..47 of `virt` are all equal (48-bit canonical form).
constexpr bool is_canonical(uint64_t virt) {
  uint64_t top = virt >> 47;
  return top == 0 || top == 0x1ffff;
}

constexpr uint64_t page_bytes(PageSize size) {
  switch (size) {
    case PageSize::Size4K: return 1ull << 12;
    case PageSize::Size2M: return 1ull << 21;
    case PageSize::Size1G: return 1ull << 30;
  }
  return 1ull << 12;
}

// The table level whose entries map pages of `size` (1 for 4K, 2 for 2M, 3 for 1G).
constexpr unsigned leaf_level(PageSize size) {
  switch (size) {
    case PageSize::Size4K: return 1;
    case PageSize::Size2M: return 2;
    case PageSize::Size1G: return 3;
  }
  return 1;
}

// A mapping found by translate: `phys` is the physical address of the translated byte (page
// base + offset), `flags` the leaf's flags without address and page-size bits (so they can be
// passed back to map or protect).
struct Translation {
  uint64_t phys;
  PageSize size;
  uint64_t flags;
};

namespace detail {
template <typename A, typename B> inline constexpr bool kSameType = false;
template <typename A> inline constexpr bool kSameType<A, A> = true;
template <typename A, typename B> concept SameAs = kSameType<A, B> && kSameType<B, A>;
}  // namespace detail

// What Mapper needs from its user.
template <typename Env>
concept PageTableEnv = requires(Env& env, uint64_t phys) {
  { env.table(phys) } -> detail::SameAs<uint64_t*>;        // the 512 entries of the table at `phys`
  { env.alloc_table() } -> detail::SameAs<Result<uint64_t>>;  // physical address of a new zeroed table
};

// Optional: an Env with `entry_read(entry, table)` is told of every entry a walk is about to
// follow (the kernel checks it against poison there).
template <typename Env>
concept ObservesEntries = requires(Env& env, uint64_t entry, const uint64_t* table) { env.entry_read(entry, table); };

template <PageTableEnv Env>
class Mapper {
 public:
  // Edits the tree whose PML4 is at `root_phys` (4 KiB aligned).
  Mapper(Env& env, uint64_t root_phys) : env_(env), root_(root_phys & kAddressMask) {}

  // Maps the page of `size` at `virt` to `phys` with leaf `flags` (kPresent implied, kHuge set by
  // the mapper for 2M/1G). Missing intermediate tables are allocated with Present|Writable, plus
  // User when `flags` has User (User is also added to existing intermediate entries).
  // Errors: InvalidArgument (non-canonical virt, phys >= 2^52, flags with address or kHuge bits),
  // AlignmentError (virt or phys not aligned to the page size), DeleteFirst (a page, huge page or
  // table already occupies the slot or covers the range), alloc_table's errors (tables allocated
  // before the failure stay in the tree, empty).
  Result<void> map(uint64_t virt, uint64_t phys, PageSize size, uint64_t flags) {
    TRY(check_flags(flags));
    if (phys >= kMaxPhysical) return Error::InvalidArgument;
    TRY(check_virt(virt, size));
    if (!is_aligned(phys, page_bytes(size))) return Error::AlignmentError;

    const unsigned leaf = leaf_level(size);
    uint64_t* table = env_.table(root_);
    for (unsigned level = 4; level > leaf; --level) {
      uint64_t& entry = table[index(virt, level)];
      if ((entry & kPresent) == 0) {
        uint64_t child = TRY(env_.alloc_table());
        entry = (child & kAddressMask) | kPresent | kWritable | (flags & kUser);
      } else if (is_huge(entry, level)) {
        return Error::DeleteFirst;  // a larger page covers this range
      } else {
        entry |= flags & kUser;
      }
      table = env_.table(entry & kAddressMask);
    }
    uint64_t& entry = table[index(virt, leaf)];
    if ((entry & kPresent) != 0) return Error::DeleteFirst;
    entry = phys | flags | kPresent | (leaf > 1 ? kHuge : 0);
    return {};
  }

  // Removes the page of exactly `size` at `virt` (the entry becomes 0; tables are kept).
  // Errors: InvalidArgument (non-canonical), AlignmentError (virt not aligned to the size),
  // FailedLookup (nothing mapped there, or it is mapped with another page size).
  Result<void> unmap(uint64_t virt, PageSize size) {
    TRY(check_virt(virt, size));
    uint64_t* entry = TRY(find_leaf(virt, size));
    *entry = 0;
    return {};
  }

  // Looks up the page containing `virt`. FailedLookup if unmapped; InvalidArgument if non-canonical.
  Result<Translation> translate(uint64_t virt) const {
    if (!is_canonical(virt)) return Error::InvalidArgument;
    const uint64_t* table = env_.table(root_);
    for (unsigned level = 4; level >= 1; --level) {
      uint64_t entry = table[index(virt, level)];
      if ((entry & kPresent) == 0) return Error::FailedLookup;
      if (level == 1 || is_huge(entry, level)) {
        PageSize size = level == 3 ? PageSize::Size1G : level == 2 ? PageSize::Size2M : PageSize::Size4K;
        uint64_t offset_mask = page_bytes(size) - 1;
        uint64_t phys = (entry & kAddressMask & ~offset_mask) | (virt & offset_mask);
        return Translation{phys, size, entry & ~kAddressMask & ~kHuge};
      }
      table = env_.table(entry & kAddressMask);
    }
    return Error::FailedLookup;  // not reached: level 1 always returns
  }

  // The physical address of the table at `level` (4 = the PML4 itself, 1 = a page table) on the
  // way to `virt`. FailedLookup when an entry above it is missing or maps a huge page.
  Result<uint64_t> table_at(uint64_t virt, unsigned level) const {
    uint64_t table = root_;
    for (unsigned l = 4; l > level; --l) {
      const uint64_t* entries = env_.table(table);
      const uint64_t entry = entries[index(virt, l)];
      if constexpr (ObservesEntries<Env>) env_.entry_read(entry, entries);
      if ((entry & kPresent) == 0 || is_huge(entry, l)) return Error::FailedLookup;
      table = entry & kAddressMask;
    }
    return table;
  }

  // Replaces the flags of the page of exactly `size` at `virt` (kPresent implied, kHuge kept for
  // large pages; User is added to intermediate entries as in map). Errors as for unmap, plus
  // InvalidArgument for flags with address or kHuge bits.
  Result<void> protect(uint64_t virt, PageSize size, uint64_t flags) {
    TRY(check_flags(flags));
    TRY(check_virt(virt, size));
    uint64_t* entry = TRY(find_leaf(virt, size));
    uint64_t address = *entry & kAddressMask & ~(page_bytes(size) - 1);
    *entry = address | flags | kPresent | (size != PageSize::Size4K ? kHuge : 0);
    if ((flags & kUser) != 0) {
      uint64_t* table = env_.table(root_);
      for (unsigned level = 4; level > leaf_level(size); --level) {
        uint64_t& parent = table[index(virt, level)];
        parent |= kUser;
        table = env_.table(parent & kAddressMask);
      }
    }
    return {};
  }

 private:
  static bool is_huge(uint64_t entry, unsigned level) { return level > 1 && (entry & kHuge) != 0; }

  static Result<void> check_flags(uint64_t flags) {
    if ((flags & (kAddressMask | kHuge)) != 0) return Error::InvalidArgument;
    return {};
  }

  static Result<void> check_virt(uint64_t virt, PageSize size) {
    if (!is_canonical(virt)) return Error::InvalidArgument;
    if (!is_aligned(virt, page_bytes(size))) return Error::AlignmentError;
    return {};
  }

  // The present leaf entry mapping a page of exactly `size` at `virt`, or FailedLookup.
  Result<uint64_t*> find_leaf(uint64_t virt, PageSize size) const {
    const unsigned leaf = leaf_level(size);
    uint64_t* table = env_.table(TRY(table_at(virt, leaf)));
    uint64_t* entry = &table[index(virt, leaf)];
    if ((*entry & kPresent) == 0) return Error::FailedLookup;
    if (leaf > 1 && (*entry & kHuge) == 0) return Error::FailedLookup;  // a table, not a page
    return entry;
  }

  Env& env_;
  uint64_t root_;
};

}  // namespace tessera::kernel::pt
