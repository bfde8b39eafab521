// The Volume's public operations: names (lookup, create, mkdir, unlink, rmdir, rename, link,
// symlink, readlink) and file contents (stat, read, write, truncate), sync and unmount.
//
// Each operation that allocates checks what it needs before changing anything, or gives back
// what it took when a later step fails, so NoSpace leaves the volume as it was.
#include "internal.h"

namespace tessera::ext2 {

namespace {
uint32_t group_start(uint32_t inode, uint32_t inodes_per_group, uint32_t blocks_per_group,
                     uint32_t first_data_block) {
  return first_data_block + ((inode - 1) / inodes_per_group) * blocks_per_group;
}
}  // namespace

// ---- Names ------------------------------------------------------------------------------------

Result<Handle> Volume::lookup(const char* path, size_t length, bool follow_last, Stat* stat) {
  Inode node;
  uint32_t number = TRY(walk(path, length, follow_last, nullptr, &node));
  if (node.number != number) node = TRY(load_inode(number));  // the walk ended at a directory it had
  if (node.links() == 0 || file_type_of(node.mode()) == kTypeUnknown) return Error::Corrupted;
  if (stat != nullptr) *stat = stat_of(node);
  return Handle{number, node.generation()};
}

Result<Handle> Volume::create(const char* path, size_t length, uint16_t mode, bool exclusive) {
  TRY(check_writable());
  Walk w;
  uint32_t parent = TRY(walk(path, length, true, &w));
  if (w.name_length == 0 || w.is_dot()) return exclusive ? Error::Exists : Error::IsDirectory;
  Inode dir = TRY(load_inode(parent));
  if (!dir.is_dir()) return Error::NotDirectory;
  Slot slot;
  if (TRY(find_entry(dir, w.name, w.name_length, slot))) {
    if (exclusive) return Error::Exists;
    Inode node = TRY(load_inode(slot.inode));
    if (node.links() == 0) return Error::Corrupted;
    if (node.is_symlink()) return lookup(path, length, true);
    if (node.is_dir()) return Error::IsDirectory;
    return Handle{node.number, node.generation()};
  }
  Inode node = TRY(new_inode(parent, static_cast<uint16_t>(kModeRegular |
                                                           (mode & kModePermissionMask))));
  node.set_links(1);
  Result<void> done = store_inode(node);
  if (done.ok()) done = add_entry(dir, w.name, w.name_length, node.number, kTypeRegular);
  if (!done.ok()) {
    (void)free_inode(node);
    return done.error();
  }
  return Handle{node.number, node.generation()};
}

Result<Handle> Volume::mkdir(const char* path, size_t length, uint16_t mode) {
  TRY(check_writable());
  Walk w;
  uint32_t parent = TRY(walk(path, length, true, &w));
  if (w.name_length == 0 || w.is_dot()) return Error::Exists;
  Inode dir = TRY(load_inode(parent));
  if (!dir.is_dir()) return Error::NotDirectory;
  if (dir.links() >= kMaxLinks) return Error::RangeError;
  Slot slot;
  if (TRY(find_entry(dir, w.name, w.name_length, slot))) return Error::Exists;
  if (free_blocks_ == 0 || free_inodes_ == 0) return Error::NoSpace;

  Inode node = TRY(new_inode(parent, static_cast<uint16_t>(kModeDirectory |
                                                           (mode & kModePermissionMask))));
  Result<uint32_t> block = allocate_block(
      group_start(node.number, inodes_per_group_, blocks_per_group_, first_data_block_));
  if (!block.ok()) {
    (void)free_inode(node);
    return block.error();
  }
  Result<BlockRef> ref = cache_.get(*block, false);
  Result<void> done = ref.ok() ? Result<void>() : Result<void>(ref.error());
  if (done.ok()) {
    // "." and "..": a new block nothing on disk names yet, written before the inode (Data).
    bool filetype = (feature_incompat_ & kIncompatFiletype) != 0;
    uint8_t* d = ref->data();
    memset(d, 0, block_size_);
    put32(d, node.number);
    put16(d + 4, 12);
    d[6] = 1;
    d[7] = filetype ? kTypeDirectory : 0;
    d[8] = '.';
    put32(d + 12, parent);
    put16(d + 16, static_cast<uint16_t>(block_size_ - 12));
    d[18] = 2;
    d[19] = filetype ? kTypeDirectory : 0;
    d[20] = '.';
    d[21] = '.';
    ref->dirty(Phase::Data);
    node.set_block(0, *block);
    node.set_blocks512(block_size_ / 512);
    node.set_size(block_size_);
    node.set_links(2);
    done = store_inode(node);
  }
  if (done.ok()) done = add_entry(dir, w.name, w.name_length, node.number, kTypeDirectory);
  if (!done.ok()) {
    (void)free_block(*block);
    (void)free_inode(node);
    return done.error();
  }
  dir.set_links(dir.links() + 1u);
  TRY(store_inode(dir));
  return Handle{node.number, node.generation()};
}

Result<void> Volume::unlink(const char* path, size_t length) {
  TRY(check_writable());
  Walk w;
  uint32_t parent = TRY(walk(path, length, false, &w));
  if (w.name_length == 0 || w.is_dot()) return Error::IsDirectory;
  Inode dir = TRY(load_inode(parent));
  if (!dir.is_dir()) return Error::NotDirectory;
  Slot slot;
  if (!TRY(find_entry(dir, w.name, w.name_length, slot))) return Error::NotFound;
  Inode node = TRY(load_inode(slot.inode));
  if (node.links() == 0) return Error::Corrupted;
  if (node.is_dir()) return Error::IsDirectory;
  if (node.number == kRootInode) return Error::Busy;
  TRY(remove_entry(dir, slot));
  return drop_link(node);
}

Result<void> Volume::rmdir(const char* path, size_t length) {
  TRY(check_writable());
  Walk w;
  uint32_t parent = TRY(walk(path, length, false, &w));
  if (w.name_length == 0) return Error::Busy;
  if (w.is_dot()) return w.name_length == 1 ? Error::InvalidArgument : Error::NotEmpty;
  Inode dir = TRY(load_inode(parent));
  if (!dir.is_dir()) return Error::NotDirectory;
  Slot slot;
  if (!TRY(find_entry(dir, w.name, w.name_length, slot))) return Error::NotFound;
  Inode node = TRY(load_inode(slot.inode));
  if (node.links() == 0) return Error::Corrupted;
  if (!node.is_dir()) return Error::NotDirectory;
  if (node.number == kRootInode || node.number == parent) return Error::Busy;
  if (!TRY(dir_empty(node))) return Error::NotEmpty;
  TRY(remove_entry(dir, slot));
  if (dir.links() > 2) dir.set_links(dir.links() - 1u);
  TRY(store_inode(dir));
  return drop_link(node);
}

Result<void> Volume::rename(const char* from, size_t from_length, const char* to,
                            size_t to_length) {
  TRY(check_writable());
  Walk wf, wt;
  uint32_t from_parent = TRY(walk(from, from_length, false, &wf));
  uint32_t to_parent = TRY(walk(to, to_length, false, &wt));
  if (wf.name_length == 0 || wt.name_length == 0) return Error::Busy;
  if (wf.is_dot() || wt.is_dot()) return Error::InvalidArgument;
  Inode from_storage = TRY(load_inode(from_parent));
  Inode to_storage = TRY(load_inode(to_parent));
  Inode& fdir = from_storage;
  Inode& tdir = from_parent == to_parent ? from_storage : to_storage;
  if (!fdir.is_dir() || !tdir.is_dir()) return Error::NotDirectory;

  Slot from_slot, to_slot;
  if (!TRY(find_entry(fdir, wf.name, wf.name_length, from_slot))) return Error::NotFound;
  Inode node = TRY(load_inode(from_slot.inode));
  if (node.links() == 0 || file_type_of(node.mode()) == kTypeUnknown) return Error::Corrupted;
  bool replacing = TRY(find_entry(tdir, wt.name, wt.name_length, to_slot));
  if (replacing && to_slot.inode == node.number) return {};  // the same file: nothing to do
  if (node.number == kRootInode || (replacing && to_slot.inode == kRootInode)) return Error::Busy;
  if (node.is_dir()) {
    bool inside = false;
    TRY(is_ancestor(node.number, to_parent, inside));
    if (inside) return Error::InvalidArgument;
  }
  Inode target;
  if (replacing) {
    target = TRY(load_inode(to_slot.inode));
    if (target.links() == 0) return Error::Corrupted;
    if (node.is_dir()) {
      if (!target.is_dir()) return Error::NotDirectory;
      if (!TRY(dir_empty(target))) return Error::NotEmpty;
    } else if (target.is_dir()) {
      return Error::IsDirectory;
    }
  } else if (node.is_dir() && from_parent != to_parent && tdir.links() >= kMaxLinks) {
    return Error::RangeError;
  }

  uint8_t type = file_type_of(node.mode());
  // The new name first (the only step that may need a block), then the old one goes.
  if (replacing) {
    TRY(set_entry(tdir, to_slot, node.number, type));
  } else {
    TRY(add_entry(tdir, wt.name, wt.name_length, node.number, type));
  }
  if (!TRY(find_entry(fdir, wf.name, wf.name_length, from_slot))) return Error::Corrupted;
  TRY(remove_entry(fdir, from_slot));
  if (node.is_dir()) {
    if (from_parent != to_parent) {
      Slot dotdot;
      if (!TRY(find_entry(node, "..", 2, dotdot))) return Error::Corrupted;
      TRY(set_entry(node, dotdot, to_parent, kTypeDirectory));
      if (fdir.links() > 2) fdir.set_links(fdir.links() - 1u);
      tdir.set_links(tdir.links() + 1u);
    }
    if (replacing && tdir.links() > 2) tdir.set_links(tdir.links() - 1u);
  }
  node.set_time(ino::kCtime, now_);
  TRY(store_inode(node));
  TRY(store_inode(fdir));
  if (from_parent != to_parent) TRY(store_inode(tdir));
  if (replacing) TRY(drop_link(target));
  return {};
}

Result<void> Volume::link(const char* existing, size_t e_length, const char* path,
                          size_t length) {
  TRY(check_writable());
  uint32_t number = TRY(walk(existing, e_length, false, nullptr));
  Walk w;
  uint32_t parent = TRY(walk(path, length, false, &w));
  if (w.name_length == 0 || w.is_dot()) return Error::Exists;
  Inode node = TRY(load_inode(number));
  if (node.links() == 0) return Error::Corrupted;
  if (node.is_dir()) return Error::IsDirectory;
  if (node.links() >= kMaxLinks) return Error::RangeError;
  Inode dir = TRY(load_inode(parent));
  if (!dir.is_dir()) return Error::NotDirectory;
  Slot slot;
  if (TRY(find_entry(dir, w.name, w.name_length, slot))) return Error::Exists;
  TRY(add_entry(dir, w.name, w.name_length, number, file_type_of(node.mode())));
  node.set_links(node.links() + 1u);
  node.set_time(ino::kCtime, now_);
  return store_inode(node);
}

Result<void> Volume::symlink(const char* target, size_t t_length, const char* path,
                             size_t length) {
  TRY(check_writable());
  if (t_length == 0) return Error::InvalidArgument;
  if (t_length >= block_size_ || t_length >= kMaxPathLength) return Error::NameTooLong;
  Walk w;
  uint32_t parent = TRY(walk(path, length, false, &w));
  if (w.name_length == 0 || w.is_dot()) return Error::Exists;
  Inode dir = TRY(load_inode(parent));
  if (!dir.is_dir()) return Error::NotDirectory;
  Slot slot;
  if (TRY(find_entry(dir, w.name, w.name_length, slot))) return Error::Exists;
  bool fast = t_length < 60;  // as Linux: the target and its NUL fit in i_block
  if (!fast && free_blocks_ == 0) return Error::NoSpace;

  Inode node = TRY(new_inode(parent, static_cast<uint16_t>(kModeSymlink | 0777)));
  node.set_links(1);
  node.set_size(t_length);
  uint32_t block = 0;
  Result<void> done;
  if (fast) {
    memcpy(node.raw + ino::kBlock, target, t_length);
  } else {
    Result<uint32_t> allocated = allocate_block(
        group_start(node.number, inodes_per_group_, blocks_per_group_, first_data_block_));
    if (!allocated.ok()) {
      (void)free_inode(node);
      return allocated.error();
    }
    block = *allocated;
    Result<BlockRef> ref = cache_.get(block, false);
    if (ref.ok()) {
      memset(ref->data(), 0, block_size_);
      memcpy(ref->data(), target, t_length);
      ref->dirty(Phase::Data);
      node.set_block(0, block);
      node.set_blocks512(block_size_ / 512);
    } else {
      done = ref.error();
    }
  }
  if (done.ok()) done = store_inode(node);
  if (done.ok()) done = add_entry(dir, w.name, w.name_length, node.number, kTypeSymlink);
  if (!done.ok()) {
    if (block != 0) (void)free_block(block);
    (void)free_inode(node);
    return done.error();
  }
  return {};
}

Result<size_t> Volume::readlink(const char* path, size_t length, char* out, size_t capacity) {
  uint32_t number = TRY(walk(path, length, false, nullptr));
  Inode node = TRY(load_inode(number));
  if (!node.is_symlink()) return Error::InvalidArgument;
  return read_target(node, out, capacity);
}

// ---- Contents ---------------------------------------------------------------------------------

Result<Stat> Volume::stat(Handle h) { return stat_of(TRY(open(h))); }

Stat Volume::stat_of(const Inode& node) {
  Stat s;
  s.inode = node.number;
  s.generation = node.generation();
  s.mode = node.mode();
  s.links = node.links();
  s.uid = get16(node.raw + ino::kUid) | (uint32_t{get16(node.raw + ino::kUidHigh)} << 16);
  s.gid = get16(node.raw + ino::kGid) | (uint32_t{get16(node.raw + ino::kGidHigh)} << 16);
  s.size = node.size();
  s.blocks512 = node.blocks512();
  s.atime = get32(node.raw + ino::kAtime);
  s.mtime = get32(node.raw + ino::kMtime);
  s.ctime = get32(node.raw + ino::kCtime);
  return s;
}

// The most blocks read() asks the device for at once.
constexpr uint32_t kMaxRun = 256;

Result<size_t> Volume::read(Handle h, uint64_t offset, uint8_t* out, size_t bytes) {
  Inode node = TRY(open(h));
  if (node.is_dir()) return Error::IsDirectory;
  if (!node.is_regular()) return Error::InvalidArgument;
  uint64_t size = node.size();
  if (size > max_file_size_) return Error::Corrupted;
  if (offset >= size) return size_t{0};
  size_t total = size - offset < bytes ? static_cast<size_t>(size - offset) : bytes;
  uint32_t sectors = block_size_ / 512;
  size_t done = 0;
  while (done < total) {
    uint64_t position = offset + done;
    uint64_t logical = position >> block_shift_;
    uint32_t within = static_cast<uint32_t>(position & (block_size_ - 1));
    size_t chunk = block_size_ - within;
    if (chunk > total - done) chunk = total - done;
    uint32_t block = TRY(map(node, logical));
    if (block == 0) {
      memset(out + done, 0, chunk);  // a hole
    } else if (chunk == block_size_ && !cache_.cached(block)) {
      // Whole blocks not in the cache go straight to the caller, contiguous runs in one read
      // (map_run reads each indirect block once for the whole run).
      const uint64_t whole = (total - done) >> block_shift_;
      uint32_t mapped = 1;
      TRY(map_run(node, logical, whole < kMaxRun ? static_cast<uint32_t>(whole) : kMaxRun, mapped));
      // A cached block may be newer than the disk only when dirty: without dirty data buffers
      // the disk is current and the run needs no look at the cache.
      uint32_t run = 1;
      if (cache_.dirty_data() == 0) {
        run = mapped;
      } else {
        while (run < mapped && !cache_.cached(block + run)) run++;
      }
      TRY(device_->read(uint64_t{block} * sectors, run * sectors, out + done));
      chunk = size_t{run} * block_size_;
    } else {
      BlockRef ref = TRY(cache_.get(block));
      memcpy(out + done, ref.data() + within, chunk);
    }
    done += chunk;
  }
  return total;
}

Result<size_t> Volume::write(Handle h, uint64_t offset, const uint8_t* in, size_t bytes) {
  TRY(check_writable());
  Inode node = TRY(open(h));
  if (node.is_dir()) return Error::IsDirectory;
  if (!node.is_regular()) return Error::InvalidArgument;
  if (bytes == 0) return size_t{0};
  uint64_t end = offset + bytes;
  if (end < offset || end > max_file_size_) return Error::TooLarge;
  uint64_t size = node.size();
  if (size > max_file_size_) return Error::Corrupted;
  uint64_t needed = TRY(blocks_needed(node, offset >> block_shift_, (end - 1) >> block_shift_));
  if (needed > free_blocks_) return Error::NoSpace;
  if (offset > size) TRY(zero_tail(node, size));
  size_t done = 0;
  while (done < bytes) {
    uint64_t position = offset + done;
    uint32_t within = static_cast<uint32_t>(position & (block_size_ - 1));
    size_t chunk = block_size_ - within;
    if (chunk > bytes - done) chunk = bytes - done;
    Result<uint32_t> block = map_allocate(node, position >> block_shift_);
    if (!block.ok()) {
      (void)store_inode(node);  // keep the blocks already mapped accounted for
      return block.error();
    }
    BlockRef ref = TRY(cache_.get(*block, chunk != block_size_));
    memcpy(ref.data() + within, in + done, chunk);
    ref.dirty(Phase::Data);
    done += chunk;
  }
  if (end > size) {
    if (end > 0x7FFFFFFFu && (feature_ro_compat_ & kRoCompatLargeFile) == 0) {
      feature_ro_compat_ |= kRoCompatLargeFile;
      super_dirty_ = true;
    }
    node.set_size(end);
  }
  node.set_time(ino::kMtime, now_);
  node.set_time(ino::kCtime, now_);
  TRY(store_inode(node));
  return bytes;
}

Result<void> Volume::truncate(Handle h, uint64_t size) {
  TRY(check_writable());
  Inode node = TRY(open(h));
  if (node.is_dir()) return Error::IsDirectory;
  if (!node.is_regular()) return Error::InvalidArgument;
  Result<void> done = resize(node, size);
  Result<void> stored = store_inode(node);
  if (!done.ok()) return done;
  return stored;
}

// ---- Whole volume -----------------------------------------------------------------------------

Result<void> Volume::fsync(Handle h) {
  TRY(open(h));
  return sync();  // everything dirty, in the cache's safe order (a superset of the file's needs)
}

Result<void> Volume::sync() {
  if (device_ == nullptr) return Error::IllegalOperation;
  if (!read_only_ && super_dirty_) TRY(write_super(SuperUpdate::Counts));
  return cache_.write_back();
}

Result<FsStat> Volume::statfs() {
  if (device_ == nullptr) return Error::IllegalOperation;
  return FsStat{block_size_, blocks_count_, free_blocks_, inodes_count_, free_inodes_};
}

Result<void> Volume::unmount() {
  if (device_ == nullptr) return Error::IllegalOperation;
  if (!read_only_) {
    TRY(write_super(SuperUpdate::Unmount));
    TRY(cache_.write_back());
  }
  cache_.reset();
  device_ = nullptr;
  return {};
}

}  // namespace tessera::ext2
