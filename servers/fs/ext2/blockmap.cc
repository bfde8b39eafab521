// The block map: i_block's 12 direct pointers and the single, double and triple indirect
// trees; lookup, allocation on write, counting what a write needs, and freeing on truncate.
#include "internal.h"

namespace tessera::ext2 {

namespace {
// Where logical block `logical` sits: the i_block slot, the number of indirect levels below it,
// the index in each level's block (outermost first) and the first logical block of the slot's
// region.
struct MapPath {
  uint32_t slot;
  uint32_t levels;
  uint32_t index[3];
  uint64_t region;
};

bool map_path(uint64_t logical, uint32_t per, MapPath& path) {
  uint64_t p = per;
  if (logical < ino::kDirect) {
    path = MapPath{static_cast<uint32_t>(logical), 0, {0, 0, 0}, logical};
    return true;
  }
  uint64_t rest = logical - ino::kDirect;
  uint64_t region = ino::kDirect;
  if (rest < p) {
    path = MapPath{ino::kIndirect, 1, {static_cast<uint32_t>(rest), 0, 0}, region};
    return true;
  }
  rest -= p;
  region += p;
  if (rest < p * p) {
    path = MapPath{ino::kDoubleIndirect, 2,
                   {static_cast<uint32_t>(rest / p), static_cast<uint32_t>(rest % p), 0}, region};
    return true;
  }
  rest -= p * p;
  region += p * p;
  if (rest < p * p * p) {
    path = MapPath{ino::kTripleIndirect, 3,
                   {static_cast<uint32_t>(rest / (p * p)), static_cast<uint32_t>(rest / p % p),
                    static_cast<uint32_t>(rest % p)},
                   region};
    return true;
  }
  return false;
}
}  // namespace

Result<uint32_t> Volume::map(const Inode& inode, uint64_t logical) {
  MapPath path;
  if (!map_path(logical, block_size_ / 4, path)) return Error::TooLarge;
  uint32_t block = inode.block(path.slot);
  for (uint32_t level = 0; level < path.levels && block != 0; level++) {
    if (!valid_block(block)) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(block));
    block = get32(ref.data() + 4 * path.index[level]);
  }
  if (block != 0 && !valid_block(block)) return Error::Corrupted;
  return block;
}

// Like map(), and how many logical blocks from `logical` on (at most `max`, within the same
// indirect block) map to the physical blocks that follow the first one: a run the caller can
// read in one request. A hole answers 0 with a run of 1. One walk down the tree per run, not per
// block.
Result<uint32_t> Volume::map_run(const Inode& inode, uint64_t logical, uint32_t max, uint32_t& run) {
  run = 1;
  MapPath path;
  const uint32_t per = block_size_ / 4;
  if (!map_path(logical, per, path)) return Error::TooLarge;
  if (path.levels == 0) {
    const uint32_t first = inode.block(path.slot);
    if (first == 0) return 0u;
    if (!valid_block(first)) return Error::Corrupted;
    while (run < max && path.slot + run < ino::kDirect && inode.block(path.slot + run) == first + run &&
           valid_block(first + run)) {
      ++run;
    }
    return first;
  }
  uint32_t block = inode.block(path.slot);
  for (uint32_t level = 0; level + 1 < path.levels && block != 0; level++) {
    if (!valid_block(block)) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(block));
    block = get32(ref.data() + 4 * path.index[level]);
  }
  if (block == 0) return 0u;
  if (!valid_block(block)) return Error::Corrupted;
  // `block` is the last-level indirect block: the run is read from its entries.
  BlockRef ref = TRY(cache_.get(block));
  const uint32_t at = path.index[path.levels - 1];
  const uint32_t first = get32(ref.data() + 4 * at);
  if (first == 0) return 0u;
  if (!valid_block(first)) return Error::Corrupted;
  while (run < max && at + run < per && get32(ref.data() + 4 * (at + run)) == first + run && valid_block(first + run)) {
    ++run;
  }
  return first;
}

namespace {
// Span (in data blocks) of one indirect block at `level` below the top of a `levels`-deep tree.
uint64_t span_at(uint32_t per, uint32_t levels, uint32_t level) {
  uint64_t span = 1;
  for (uint32_t i = level; i < levels; i++) span *= per;
  return span;
}
}  // namespace

// Blocks (data and indirect) that writing logical blocks [first, last] would allocate.
Result<uint64_t> Volume::blocks_needed(const Inode& inode, uint64_t first, uint64_t last) {
  uint32_t per = block_size_ / 4;
  uint64_t needed = 0;
  for (uint64_t logical = first; logical <= last; logical++) {
    MapPath path;
    if (!map_path(logical, per, path)) return Error::TooLarge;
    uint32_t block = inode.block(path.slot);
    uint32_t level = 0;
    while (block != 0 && level < path.levels) {
      if (!valid_block(block)) return Error::Corrupted;
      BlockRef ref = TRY(cache_.get(block));
      block = get32(ref.data() + 4 * path.index[level]);
      level++;
    }
    if (block != 0) {
      if (!valid_block(block)) return Error::Corrupted;
      continue;
    }
    // Missing from `level` down: each indirect block is counted by the first logical block of
    // the write that needs it.
    for (uint32_t k = level; k < path.levels; k++) {
      uint64_t span = span_at(per, path.levels, k);
      if (logical == first || (logical - path.region) % span == 0) needed++;
    }
    needed++;
  }
  return needed;
}

// The data block of `logical`, allocated (zeroed, with any missing indirect blocks) if absent.
Result<uint32_t> Volume::map_allocate(Inode& inode, uint64_t logical) {
  MapPath path;
  if (!map_path(logical, block_size_ / 4, path)) return Error::TooLarge;
  uint32_t sectors = block_size_ / 512;
  uint32_t goal = first_data_block_ +
                  ((inode.number - 1) / inodes_per_group_) * blocks_per_group_;
  auto fresh = [&]() -> Result<uint32_t> {
    uint32_t block = TRY(allocate_block(goal));
    BlockRef ref = TRY(cache_.get(block, false));
    memset(ref.data(), 0, block_size_);
    ref.dirty(Phase::Data);
    inode.set_blocks512(inode.blocks512() + sectors);
    goal = block + 1;
    return block;
  };
  uint32_t block = inode.block(path.slot);
  if (block == 0) {
    if (logical > 0) {
      uint32_t before = TRY(map(inode, logical - 1));
      if (before != 0) goal = before + 1;
    }
    block = TRY(fresh());
    inode.set_block(path.slot, block);
  }
  for (uint32_t level = 0; level < path.levels; level++) {
    if (!valid_block(block)) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(block));
    uint8_t* entry = ref.data() + 4 * path.index[level];
    uint32_t next = get32(entry);
    if (next == 0) {
      goal = block + 1;
      next = TRY(fresh());
      put32(entry, next);
      ref.dirty(Phase::Data);
    }
    block = next;
  }
  if (!valid_block(block)) return Error::Corrupted;
  return block;
}

// Frees the data blocks of logical blocks >= `first` below the indirect `block` of `level`
// covering logical blocks from `base`; `emptied` tells whether the block now maps nothing.
Result<void> Volume::free_tree(uint32_t block, uint32_t level, uint64_t base, uint64_t first,
                               bool& emptied, Inode& inode) {
  if (!valid_block(block)) return Error::Corrupted;
  uint32_t per = block_size_ / 4;
  uint32_t sectors = block_size_ / 512;
  uint64_t child_span = span_at(per, level, 1);
  BlockRef ref = TRY(cache_.get(block));
  bool any = false;
  for (uint32_t i = 0; i < per; i++) {
    uint8_t* entry = ref.data() + 4 * i;
    uint32_t child = get32(entry);
    if (child == 0) continue;
    uint64_t child_base = base + i * child_span;
    if (child_base + child_span <= first) {
      any = true;
      continue;
    }
    bool child_emptied = true;
    if (level > 1) TRY(free_tree(child, level - 1, child_base, first, child_emptied, inode));
    if (!child_emptied) {
      any = true;
      continue;
    }
    TRY(free_block(child));
    put32(entry, 0);
    ref.dirty(Phase::Data);
    inode.set_blocks512(inode.blocks512() >= sectors ? inode.blocks512() - sectors : 0);
  }
  emptied = !any;
  return {};
}

// Frees every block of logical blocks >= `first` (and the indirect blocks left empty).
Result<void> Volume::free_from(Inode& inode, uint64_t first) {
  uint32_t sectors = block_size_ / 512;
  // Fast symlinks and device inodes keep other things in i_block.
  if (!inode.is_regular() && !inode.is_dir() && !inode.is_symlink()) return {};
  if (inode.is_symlink()) {
    uint32_t own = inode.blocks512() - (inode.file_acl() != 0 ? sectors : 0);
    if (inode.blocks512() < (inode.file_acl() != 0 ? sectors : 0) || own == 0) return {};
  }
  for (uint32_t i = 0; i < ino::kDirect; i++) {
    uint32_t block = inode.block(i);
    if (i < first || block == 0) continue;
    TRY(free_block(block));
    inode.set_block(i, 0);
    inode.set_blocks512(inode.blocks512() >= sectors ? inode.blocks512() - sectors : 0);
  }
  uint32_t per = block_size_ / 4;
  uint64_t base = ino::kDirect;
  for (uint32_t level = 1; level <= 3; level++) {
    uint64_t span = span_at(per, level, 0);
    uint32_t slot = ino::kIndirect + level - 1;
    uint32_t block = inode.block(slot);
    if (block != 0 && first < base + span) {
      bool emptied = false;
      TRY(free_tree(block, level, base, first, emptied, inode));
      if (emptied) {
        TRY(free_block(block));
        inode.set_block(slot, 0);
        inode.set_blocks512(inode.blocks512() >= sectors ? inode.blocks512() - sectors : 0);
      }
    }
    base += span;
  }
  return {};
}

// Zeroes the bytes of the block holding offset `size` from there to the block's end, so that
// growing the file later reads zeros there.
Result<void> Volume::zero_tail(Inode& inode, uint64_t size) {
  uint32_t within = static_cast<uint32_t>(size & (block_size_ - 1));
  if (within == 0) return {};
  uint32_t block = TRY(map(inode, size >> block_shift_));
  if (block == 0) return {};
  BlockRef ref = TRY(cache_.get(block));
  memset(ref.data() + within, 0, block_size_ - within);
  ref.dirty(Phase::Data);
  return {};
}

Result<void> Volume::resize(Inode& inode, uint64_t size) {
  if (size > max_file_size_) return Error::TooLarge;
  uint64_t old = inode.size();
  if (size < old) {
    TRY(free_from(inode, (size + block_size_ - 1) >> block_shift_));
    TRY(zero_tail(inode, size));
  } else if (size > old) {
    TRY(zero_tail(inode, old));
  }
  if (size > 0x7FFFFFFFu && (feature_ro_compat_ & kRoCompatLargeFile) == 0) {
    feature_ro_compat_ |= kRoCompatLargeFile;
    super_dirty_ = true;
  }
  inode.set_size(size);
  inode.set_time(ino::kMtime, now_);
  inode.set_time(ino::kCtime, now_);
  return {};
}

}  // namespace tessera::ext2
