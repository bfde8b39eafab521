// The volume: mounting (superblock and group descriptor validation), the bitmaps' block and
// inode allocation with their counters, and inode load/store.
#include "internal.h"

namespace tessera::ext2 {

namespace {
bool power_of(uint32_t n, uint32_t base) {
  while (n > 1 && n % base == 0) n /= base;
  return n == 1;
}
}  // namespace

// ---- Mounting ---------------------------------------------------------------------------------

Result<void> Volume::mount(Device& device, uint8_t* arena, size_t arena_bytes, bool read_only) {
  if (device_ != nullptr) return Error::IllegalOperation;
  if (arena == nullptr || arena_bytes < kMinArenaBytes) return Error::InvalidArgument;
  path_a_ = reinterpret_cast<char*>(arena);
  path_b_ = reinterpret_cast<char*>(arena + kMaxPathLength);
  read_only_ = read_only;
  device_ = &device;
  Result<void> loaded = load_super();
  if (loaded.ok()) {
    loaded = cache_.init(device, block_size_, arena + 2 * kMaxPathLength,
                         arena_bytes - 2 * kMaxPathLength);
  }
  if (loaded.ok()) loaded = check_groups();
  // Without a clock set yet, time does not go back before the disk's own last write: a mount
  // stamping 0 would make the next mount's clock start at 0, and e2fsck reads an inode's small
  // dtime as a link of an orphan list.
  if (now_ < last_written_) now_ = last_written_;
  if (loaded.ok() && !read_only_) {
    loaded = write_super(SuperUpdate::Mount);
    if (loaded.ok()) loaded = cache_.write_back();
  }
  if (!loaded.ok()) {
    device_ = nullptr;
    return loaded.error();
  }
  return {};
}

Result<void> Volume::load_super() {
  uint8_t* s = reinterpret_cast<uint8_t*>(path_a_);
  if (device_->sectors() < 4) return Error::Corrupted;
  TRY(device_->read(2, 2, s));
  if (get16(s + sb::kMagic) != sb::kMagicValue) return Error::Corrupted;
  last_written_ = get32(s + sb::kWtime) > get32(s + sb::kMtime) ? get32(s + sb::kWtime) : get32(s + sb::kMtime);
  uint32_t log = get32(s + sb::kLogBlockSize);
  if (log > 2) return Error::NotSupported;
  block_size_ = 1024u << log;
  block_shift_ = 10 + log;
  uint32_t rev = get32(s + sb::kRevLevel);
  if (rev > 1) return Error::NotSupported;
  blocks_count_ = get32(s + sb::kBlocksCount);
  inodes_count_ = get32(s + sb::kInodesCount);
  first_data_block_ = get32(s + sb::kFirstDataBlock);
  blocks_per_group_ = get32(s + sb::kBlocksPerGroup);
  inodes_per_group_ = get32(s + sb::kInodesPerGroup);
  if (rev == 0) {
    inode_size_ = 128;
    first_ino_ = 11;
    feature_compat_ = feature_incompat_ = feature_ro_compat_ = 0;
  } else {
    inode_size_ = get16(s + sb::kInodeSize);
    first_ino_ = get32(s + sb::kFirstIno);
    feature_compat_ = get32(s + sb::kFeatureCompat);
    feature_incompat_ = get32(s + sb::kFeatureIncompat);
    feature_ro_compat_ = get32(s + sb::kFeatureRoCompat);
  }
  if ((feature_incompat_ & ~kIncompatFiletype) != 0) return Error::NotSupported;
  if ((feature_ro_compat_ & ~(kRoCompatSparseSuper | kRoCompatLargeFile)) != 0) read_only_ = true;

  if (inode_size_ < 128 || inode_size_ > block_size_ || (inode_size_ & (inode_size_ - 1)) != 0) {
    return Error::Corrupted;
  }
  if (first_data_block_ != (block_size_ == 1024 ? 1u : 0u)) return Error::Corrupted;
  if (blocks_count_ <= first_data_block_ + 2) return Error::Corrupted;
  if (blocks_per_group_ < 8 || blocks_per_group_ > 8 * block_size_ || blocks_per_group_ % 8 != 0) {
    return Error::Corrupted;
  }
  if (inodes_per_group_ == 0 || inodes_per_group_ > 8 * block_size_ ||
      (static_cast<uint64_t>(inodes_per_group_) * inode_size_) % block_size_ != 0) {
    return Error::Corrupted;
  }
  groups_ = (blocks_count_ - first_data_block_ + blocks_per_group_ - 1) / blocks_per_group_;
  if (static_cast<uint64_t>(groups_) * inodes_per_group_ != inodes_count_) return Error::Corrupted;
  if (first_ino_ < 11 || first_ino_ >= inodes_count_) return Error::Corrupted;
  if (static_cast<uint64_t>(blocks_count_) << block_shift_ > device_->sectors() * 512) {
    return Error::Corrupted;
  }
  inode_table_blocks_ = inodes_per_group_ * inode_size_ / block_size_;
  gdt_blocks_ = static_cast<uint32_t>((static_cast<uint64_t>(groups_) * gd::kSize + block_size_ - 1) /
                                      block_size_);
  reserved_gdt_ = (feature_compat_ & kCompatResizeInode) != 0 ? get16(s + sb::kReservedGdt) : 0;
  if (reserved_gdt_ > block_size_ / 4) return Error::Corrupted;
  uint32_t group0_blocks = blocks_count_ - first_data_block_ < blocks_per_group_
                               ? blocks_count_ - first_data_block_
                               : blocks_per_group_;
  if (1 + gdt_blocks_ + reserved_gdt_ + 2 + inode_table_blocks_ > group0_blocks) {
    return Error::Corrupted;
  }

  // The largest file: the block map's reach, capped by i_blocks (32 bits of 512-byte units)
  // less the indirect blocks such a file needs (as Linux computes it).
  uint64_t per = block_size_ / 4;
  uint64_t reach = (ino::kDirect + per + per * per + per * per * per) << block_shift_;
  uint64_t cap = ((uint64_t{1} << 32) - 1) >> (block_shift_ - 9);
  cap -= 1 + (1 + per) + (1 + per + per * per);
  cap <<= block_shift_;
  max_file_size_ = reach < cap ? reach : cap;
  if (rev == 0 && max_file_size_ > 0x7FFFFFFFu) max_file_size_ = 0x7FFFFFFFu;  // no large_file
  return {};
}

bool Volume::valid_block(uint64_t block) const {
  return block >= first_data_block_ && block < blocks_count_;
}

namespace {
bool group_has_super(uint32_t group, bool sparse) {
  if (group <= 1 || !sparse) return true;
  return power_of(group, 3) || power_of(group, 5) || power_of(group, 7);
}
}  // namespace

Result<Volume::Group> Volume::group(uint32_t index) {
  if (index >= groups_) return Error::Corrupted;
  uint64_t byte = static_cast<uint64_t>(index) * gd::kSize;
  uint32_t block = first_data_block_ + 1 + static_cast<uint32_t>(byte >> block_shift_);
  BlockRef ref = TRY(cache_.get(block));
  const uint8_t* d = ref.data() + (byte & (block_size_ - 1));
  Group g;
  g.index = index;
  g.block_bitmap = get32(d + gd::kBlockBitmap);
  g.inode_bitmap = get32(d + gd::kInodeBitmap);
  g.inode_table = get32(d + gd::kInodeTable);
  g.free_blocks = get16(d + gd::kFreeBlocks);
  g.free_inodes = get16(d + gd::kFreeInodes);
  g.used_dirs = get16(d + gd::kUsedDirs);
  // Checked on every load: a hostile file may share a block with the descriptor table.
  uint32_t start = first_data_block_ + index * blocks_per_group_;
  uint32_t count = blocks_count_ - start < blocks_per_group_ ? blocks_count_ - start
                                                             : blocks_per_group_;
  uint32_t end = start + count;
  if (g.block_bitmap < start || g.block_bitmap >= end || g.inode_bitmap < start ||
      g.inode_bitmap >= end || count < inode_table_blocks_ || g.inode_table < start ||
      g.inode_table > end - inode_table_blocks_) {
    return Error::Corrupted;
  }
  return g;
}

Result<void> Volume::put_group(const Group& g) {
  uint64_t byte = static_cast<uint64_t>(g.index) * gd::kSize;
  uint32_t block = first_data_block_ + 1 + static_cast<uint32_t>(byte >> block_shift_);
  BlockRef ref = TRY(cache_.get(block));
  uint8_t* d = ref.data() + (byte & (block_size_ - 1));
  put16(d + gd::kFreeBlocks, static_cast<uint16_t>(g.free_blocks));
  put16(d + gd::kFreeInodes, static_cast<uint16_t>(g.free_inodes));
  put16(d + gd::kUsedDirs, static_cast<uint16_t>(g.used_dirs));
  ref.dirty(Phase::Meta);
  super_dirty_ = true;
  return {};
}

Result<void> Volume::check_groups() {
  uint64_t free_blocks = 0, free_inodes = 0;
  for (uint32_t i = 0; i < groups_; i++) {
    Group g = TRY(group(i));  // checks where the bitmaps and the inode table are
    uint32_t start = first_data_block_ + i * blocks_per_group_;
    uint32_t count = blocks_count_ - start < blocks_per_group_ ? blocks_count_ - start
                                                               : blocks_per_group_;
    if (g.free_blocks > count || g.free_inodes > inodes_per_group_ ||
        g.used_dirs > inodes_per_group_) {
      return Error::Corrupted;
    }
    free_blocks += g.free_blocks;
    free_inodes += g.free_inodes;
  }
  free_blocks_ = static_cast<uint32_t>(free_blocks);
  free_inodes_ = static_cast<uint32_t>(free_inodes);
  return {};
}

Result<void> Volume::write_super(SuperUpdate update) {
  BlockRef ref = TRY(cache_.get(1024 >> block_shift_));
  uint8_t* s = ref.data() + (1024 & (block_size_ - 1));
  put32(s + sb::kFreeBlocks, free_blocks_);
  put32(s + sb::kFreeInodes, free_inodes_);
  put32(s + sb::kWtime, now_);
  uint16_t state = get16(s + sb::kState);
  if (update == SuperUpdate::Unmount) {
    put16(s + sb::kState, static_cast<uint16_t>(state | sb::kStateValid));
  } else if (update == SuperUpdate::Mount) {
    put16(s + sb::kState, static_cast<uint16_t>(state & ~sb::kStateValid));
    put32(s + sb::kMtime, now_);
    put16(s + sb::kMntCount, static_cast<uint16_t>(get16(s + sb::kMntCount) + 1));
  }
  if (get32(s + sb::kRevLevel) >= 1) put32(s + sb::kFeatureRoCompat, feature_ro_compat_);
  ref.dirty(Phase::Meta);
  super_dirty_ = false;
  return {};
}

Result<void> Volume::check_writable() const {
  if (device_ == nullptr) return Error::IllegalOperation;
  if (read_only_) return Error::ReadOnly;
  return {};
}

// Blocks the allocator must never hand out: superblock copies, descriptor tables (reserved
// ones included), bitmaps and inode tables.
bool Volume::metadata_block(uint64_t block) const {
  uint32_t g = static_cast<uint32_t>((block - first_data_block_) / blocks_per_group_);
  uint64_t start = first_data_block_ + static_cast<uint64_t>(g) * blocks_per_group_;
  bool sparse = (feature_ro_compat_ & kRoCompatSparseSuper) != 0;
  if (group_has_super(g, sparse) && block < start + 1 + gdt_blocks_ + reserved_gdt_) return true;
  return false;
}

// ---- Blocks -----------------------------------------------------------------------------------

namespace {
// The first clear bit in [from, to) of `bits`, or `to`.
uint32_t find_clear(const uint8_t* bits, uint32_t from, uint32_t to) {
  uint32_t i = from;
  while (i < to) {
    if ((i & 7) == 0 && i + 8 <= to && bits[i >> 3] == 0xFF) {
      i += 8;
      continue;
    }
    if ((bits[i >> 3] & (1u << (i & 7))) == 0) return i;
    i++;
  }
  return to;
}
}  // namespace

Result<uint32_t> Volume::allocate_block(uint32_t goal) {
  if (free_blocks_ == 0) return Error::NoSpace;
  if (!valid_block(goal)) goal = first_data_block_;
  uint32_t first_group = (goal - first_data_block_) / blocks_per_group_;
  for (uint32_t k = 0; k <= groups_; k++) {
    uint32_t gi = (first_group + k) % groups_;
    Group g = TRY(group(gi));
    if (g.free_blocks == 0) continue;
    uint32_t start = first_data_block_ + gi * blocks_per_group_;
    uint32_t count = blocks_count_ - start < blocks_per_group_ ? blocks_count_ - start
                                                               : blocks_per_group_;
    BlockRef bitmap = TRY(cache_.get(g.block_bitmap));
    uint8_t* bits = bitmap.data();
    uint32_t from = k == 0 ? goal - start : 0;
    uint32_t bit = find_clear(bits, from, count);
    if (bit == count && from > 0) bit = find_clear(bits, 0, from);
    if (bit >= count) continue;
    uint32_t block = start + bit;
    if (metadata_block(block) || block == g.block_bitmap || block == g.inode_bitmap ||
        (block >= g.inode_table && block < g.inode_table + inode_table_blocks_)) {
      return Error::Corrupted;  // the bitmap claims metadata is free
    }
    bits[bit >> 3] = static_cast<uint8_t>(bits[bit >> 3] | (1u << (bit & 7)));
    bitmap.dirty(Phase::Meta);
    g.free_blocks--;
    TRY(put_group(g));
    free_blocks_--;
    return block;
  }
  return Error::NoSpace;
}

Result<void> Volume::free_block(uint32_t block) {
  if (!valid_block(block) || metadata_block(block)) return Error::Corrupted;
  uint32_t gi = (block - first_data_block_) / blocks_per_group_;
  Group g = TRY(group(gi));
  if (block == g.block_bitmap || block == g.inode_bitmap ||
      (block >= g.inode_table && block < g.inode_table + inode_table_blocks_)) {
    return Error::Corrupted;
  }
  uint32_t bit = block - (first_data_block_ + gi * blocks_per_group_);
  BlockRef bitmap = TRY(cache_.get(g.block_bitmap));
  uint8_t* bits = bitmap.data();
  if ((bits[bit >> 3] & (1u << (bit & 7))) == 0) return Error::Corrupted;  // already free
  bits[bit >> 3] = static_cast<uint8_t>(bits[bit >> 3] & ~(1u << (bit & 7)));
  bitmap.dirty(Phase::Meta);
  if (g.free_blocks < blocks_per_group_) g.free_blocks++;
  TRY(put_group(g));
  free_blocks_++;
  cache_.forget(block);
  return {};
}

// ---- Inodes -----------------------------------------------------------------------------------

Result<uint32_t> Volume::allocate_inode(uint32_t parent, bool directory) {
  if (free_inodes_ == 0) return Error::NoSpace;
  uint32_t first_group = parent >= 1 ? (parent - 1) / inodes_per_group_ : 0;
  if (first_group >= groups_) first_group = 0;
  if (directory) {
    // Spread directories: the group with free inodes and the most free blocks.
    uint32_t best = first_group, best_free = 0;
    bool any = false;
    for (uint32_t i = 0; i < groups_; i++) {
      Group g = TRY(group(i));
      if (g.free_inodes == 0) continue;
      if (!any || g.free_blocks > best_free) {
        best = i;
        best_free = g.free_blocks;
        any = true;
      }
    }
    first_group = best;
  }
  for (uint32_t k = 0; k < groups_; k++) {
    uint32_t gi = (first_group + k) % groups_;
    Group g = TRY(group(gi));
    if (g.free_inodes == 0) continue;
    BlockRef bitmap = TRY(cache_.get(g.inode_bitmap));
    uint8_t* bits = bitmap.data();
    uint32_t from = 0;
    uint32_t base = gi * inodes_per_group_;  // inode number of bit 0, less one
    if (base + 1 < first_ino_) from = first_ino_ - 1 - base;
    if (from >= inodes_per_group_) continue;
    uint32_t bit = find_clear(bits, from, inodes_per_group_);
    if (bit >= inodes_per_group_) continue;
    bits[bit >> 3] = static_cast<uint8_t>(bits[bit >> 3] | (1u << (bit & 7)));
    bitmap.dirty(Phase::Meta);
    g.free_inodes--;
    if (directory) g.used_dirs++;
    TRY(put_group(g));
    free_inodes_--;
    return base + bit + 1;
  }
  return Error::NoSpace;
}

Result<Volume::Inode> Volume::load_inode(uint32_t number) {
  if (number == 0 || number > inodes_count_) return Error::Corrupted;
  uint32_t index = (number - 1) % inodes_per_group_;
  Group g = TRY(group((number - 1) / inodes_per_group_));
  uint64_t byte = static_cast<uint64_t>(index) * inode_size_;
  BlockRef ref = TRY(cache_.get(g.inode_table + static_cast<uint32_t>(byte >> block_shift_)));
  Inode inode;
  inode.number = number;
  memcpy(inode.raw, ref.data() + (byte & (block_size_ - 1)), sizeof(inode.raw));
  return inode;
}

Result<void> Volume::store_inode(const Inode& inode) {
  uint32_t number = inode.number;
  if (number == 0 || number > inodes_count_) return Error::Corrupted;
  uint32_t index = (number - 1) % inodes_per_group_;
  Group g = TRY(group((number - 1) / inodes_per_group_));
  uint64_t byte = static_cast<uint64_t>(index) * inode_size_;
  BlockRef ref = TRY(cache_.get(g.inode_table + static_cast<uint32_t>(byte >> block_shift_)));
  memcpy(ref.data() + (byte & (block_size_ - 1)), inode.raw, sizeof(inode.raw));
  ref.dirty(Phase::Meta);
  return {};
}

// A fresh inode of `mode` in the parent's neighbourhood: zeroed on disk, its generation one
// past its previous life's so that old Handles go stale.
Result<Volume::Inode> Volume::new_inode(uint32_t parent, uint16_t mode) {
  uint32_t number = TRY(allocate_inode(parent, (mode & kModeTypeMask) == kModeDirectory));
  uint32_t index = (number - 1) % inodes_per_group_;
  Result<Group> g = group((number - 1) / inodes_per_group_);
  Result<BlockRef> ref = g.ok() ? cache_.get(g->inode_table + static_cast<uint32_t>(
                                                 (static_cast<uint64_t>(index) * inode_size_) >>
                                                 block_shift_))
                                : Result<BlockRef>(g.error());
  if (!ref.ok()) return ref.error();
  uint8_t* at = ref->data() + ((static_cast<uint64_t>(index) * inode_size_) & (block_size_ - 1));
  uint32_t generation = get32(at + ino::kGeneration) + 1;
  memset(at, 0, inode_size_);
  ref->dirty(Phase::Meta);
  Inode inode;
  inode.number = number;
  put16(inode.raw + ino::kMode, mode);
  put32(inode.raw + ino::kGeneration, generation);
  inode.set_time(ino::kAtime, now_);
  inode.set_time(ino::kCtime, now_);
  inode.set_time(ino::kMtime, now_);
  return inode;
}

// Returns the inode to the bitmap (its blocks are already free).
Result<void> Volume::free_inode(Inode& inode) {
  bool directory = inode.is_dir();
  inode.set_links(0);
  inode.set_time(ino::kDtime, now_);
  // e2fsck reads a small dtime as an orphan-list link: without a clock, forget the mode instead.
  if (now_ <= inodes_count_) put16(inode.raw + ino::kMode, 0);
  TRY(store_inode(inode));
  uint32_t number = inode.number;
  Group g = TRY(group((number - 1) / inodes_per_group_));
  uint32_t bit = (number - 1) % inodes_per_group_;
  BlockRef bitmap = TRY(cache_.get(g.inode_bitmap));
  uint8_t* bits = bitmap.data();
  if ((bits[bit >> 3] & (1u << (bit & 7))) == 0) return Error::Corrupted;
  bits[bit >> 3] = static_cast<uint8_t>(bits[bit >> 3] & ~(1u << (bit & 7)));
  bitmap.dirty(Phase::Meta);
  if (g.free_inodes < inodes_per_group_) g.free_inodes++;
  if (directory && g.used_dirs > 0) g.used_dirs--;
  TRY(put_group(g));
  free_inodes_++;
  return {};
}

// The inode a Handle names, if it still lives.
Result<Volume::Inode> Volume::open(Handle h) {
  if (device_ == nullptr) return Error::IllegalOperation;
  if (h.inode == 0 || h.inode > inodes_count_) return Error::InvalidArgument;
  if (h.inode < first_ino_ && h.inode != kRootInode) return Error::InvalidArgument;
  Inode inode = TRY(load_inode(h.inode));
  if (inode.links() == 0 || inode.mode() == 0 || inode.generation() != h.generation) {
    return Error::ObjectDeleted;
  }
  if (file_type_of(inode.mode()) == kTypeUnknown) return Error::Corrupted;
  return inode;
}

// Drops one link; the last one frees the blocks, the xattr block and the inode.
Result<void> Volume::drop_link(Inode& inode) {
  if (inode.links() > 1 && !inode.is_dir()) {
    inode.set_links(inode.links() - 1u);
    inode.set_time(ino::kCtime, now_);
    return store_inode(inode);
  }
  TRY(free_from(inode, 0));
  uint32_t acl = inode.file_acl();
  if (acl != 0) {
    if (!valid_block(acl)) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(acl));
    if (get32(ref.data()) != kXattrMagic) return Error::Corrupted;
    uint32_t refs = get32(ref.data() + 4);
    if (refs > 1) {
      put32(ref.data() + 4, refs - 1);
      ref.dirty(Phase::Data);
    } else {
      TRY(free_block(acl));
    }
    put32(inode.raw + ino::kFileAcl, 0);
    uint32_t blocks = inode.blocks512();
    uint32_t per = block_size_ / 512;
    inode.set_blocks512(blocks >= per ? blocks - per : 0);
  }
  return free_inode(inode);
}

}  // namespace tessera::ext2
