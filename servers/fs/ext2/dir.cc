// Directories (linear: indexed ones are read the same way and lose EXT2_INDEX_FL when changed)
// and path resolution.
#include "internal.h"

namespace tessera::ext2 {

namespace {
struct RawEntry {
  uint32_t inode;
  uint32_t rec_len;
  uint32_t name_length;
  uint8_t type;
  const char* name;
};

uint32_t entry_bytes(size_t name_length) {
  return static_cast<uint32_t>((8 + name_length + 3) & ~size_t{3});
}
}  // namespace

// Reads and validates the entry at `offset` of a directory block.
static bool parse_entry(const uint8_t* block, uint32_t offset, uint32_t block_size,
                        bool filetype, uint32_t inodes, uint32_t first_ino, RawEntry& e) {
  if (offset + 8 > block_size) return false;
  const uint8_t* d = block + offset;
  e.inode = get32(d);
  e.rec_len = get16(d + 4);
  e.name_length = filetype ? d[6] : get16(d + 6);
  e.type = filetype ? d[7] : 0;
  e.name = reinterpret_cast<const char*>(d + 8);
  if (e.rec_len < 8 || (e.rec_len & 3) != 0 || offset + e.rec_len > block_size) return false;
  if (e.name_length > kMaxNameLength || 8 + e.name_length > e.rec_len) return false;
  if (e.inode > inodes) return false;
  if (e.inode != 0 && e.inode != kRootInode && e.inode < first_ino) return false;  // reserved
  return true;
}

namespace {
void write_entry(uint8_t* d, uint32_t inode, uint32_t rec_len, const char* name, size_t length,
                 uint8_t type, bool filetype) {
  put32(d, inode);
  put16(d + 4, static_cast<uint16_t>(rec_len));
  if (filetype) {
    d[6] = static_cast<uint8_t>(length);
    d[7] = type;
  } else {
    put16(d + 6, static_cast<uint16_t>(length));
  }
  memcpy(d + 8, name, length);
}
}  // namespace

// The directory's block count, after checking its size is whole blocks and sane.
static Result<uint64_t> dir_blocks(uint64_t size, uint32_t block_size, uint32_t volume_blocks) {
  if (size % block_size != 0 || size > kMaxDirectoryBytes) return Error::Corrupted;
  if (size / block_size > volume_blocks) return Error::Corrupted;
  return size / block_size;
}

Result<bool> Volume::find_entry(const Inode& dir, const char* name, size_t length, Slot& slot) {
  if (!dir.is_dir()) return Error::NotDirectory;
  bool filetype = (feature_incompat_ & kIncompatFiletype) != 0;
  uint64_t blocks = TRY(dir_blocks(dir.size(), block_size_, blocks_count_));
  for (uint64_t logical = 0; logical < blocks; logical++) {
    uint32_t physical = TRY(map(dir, logical));
    if (physical == 0) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(physical));
    int32_t previous = -1;
    for (uint32_t offset = 0; offset < block_size_;) {
      RawEntry e;
      if (!parse_entry(ref.data(), offset, block_size_, filetype, inodes_count_, first_ino_, e)) {
        return Error::Corrupted;
      }
      if (e.inode != 0 && e.name_length == length && memcmp(e.name, name, length) == 0) {
        slot = Slot{logical, physical, offset, previous, e.inode, e.type};
        return true;
      }
      previous = static_cast<int32_t>(offset);
      offset += e.rec_len;
    }
  }
  return false;
}

Result<void> Volume::add_entry(Inode& dir, const char* name, size_t length, uint32_t inode,
                               uint8_t type) {
  bool filetype = (feature_incompat_ & kIncompatFiletype) != 0;
  uint32_t needed = entry_bytes(length);
  uint64_t blocks = TRY(dir_blocks(dir.size(), block_size_, blocks_count_));
  dir.set_flags(dir.flags() & ~ino::kIndexFlag);
  dir.set_time(ino::kMtime, now_);
  dir.set_time(ino::kCtime, now_);
  for (uint64_t logical = 0; logical < blocks; logical++) {
    uint32_t physical = TRY(map(dir, logical));
    if (physical == 0) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(physical));
    for (uint32_t offset = 0; offset < block_size_;) {
      RawEntry e;
      if (!parse_entry(ref.data(), offset, block_size_, filetype, inodes_count_, first_ino_, e)) {
        return Error::Corrupted;
      }
      uint32_t used = e.inode != 0 ? entry_bytes(e.name_length) : 0;
      if (e.rec_len - used >= needed) {
        uint8_t* d = ref.data() + offset;
        if (used == 0) {
          write_entry(d, inode, e.rec_len, name, length, type, filetype);
        } else {
          put16(d + 4, static_cast<uint16_t>(used));
          write_entry(d + used, inode, e.rec_len - used, name, length, type, filetype);
        }
        ref.dirty(Phase::Directory);
        return store_inode(dir);
      }
      offset += e.rec_len;
    }
  }
  // No room: a new block at the end.
  if (dir.size() + block_size_ > kMaxDirectoryBytes) return Error::NoSpace;
  uint64_t extra = TRY(blocks_needed(dir, blocks, blocks));
  if (extra > free_blocks_) return Error::NoSpace;
  uint32_t physical = TRY(map_allocate(dir, blocks));
  BlockRef ref = TRY(cache_.get(physical));
  write_entry(ref.data(), inode, block_size_, name, length, type, filetype);
  ref.dirty(Phase::Directory);
  dir.set_size(dir.size() + block_size_);
  return store_inode(dir);
}

Result<void> Volume::remove_entry(Inode& dir, const Slot& slot) {
  BlockRef ref = TRY(cache_.get(slot.physical));
  uint8_t* d = ref.data();
  if (slot.previous >= 0) {
    uint32_t previous = static_cast<uint32_t>(slot.previous);
    uint32_t merged = get16(d + previous + 4) + get16(d + slot.offset + 4);
    put16(d + previous + 4, static_cast<uint16_t>(merged));
  } else {
    put32(d + slot.offset, 0);
  }
  ref.dirty(Phase::Directory);
  dir.set_flags(dir.flags() & ~ino::kIndexFlag);
  dir.set_time(ino::kMtime, now_);
  dir.set_time(ino::kCtime, now_);
  return store_inode(dir);
}

Result<void> Volume::set_entry(Inode& dir, const Slot& slot, uint32_t inode, uint8_t type) {
  BlockRef ref = TRY(cache_.get(slot.physical));
  uint8_t* d = ref.data() + slot.offset;
  put32(d, inode);
  if ((feature_incompat_ & kIncompatFiletype) != 0) d[7] = type;
  ref.dirty(Phase::Directory);
  dir.set_flags(dir.flags() & ~ino::kIndexFlag);
  dir.set_time(ino::kMtime, now_);
  dir.set_time(ino::kCtime, now_);
  return store_inode(dir);
}

Result<bool> Volume::dir_empty(const Inode& dir) {
  bool filetype = (feature_incompat_ & kIncompatFiletype) != 0;
  uint64_t blocks = TRY(dir_blocks(dir.size(), block_size_, blocks_count_));
  for (uint64_t logical = 0; logical < blocks; logical++) {
    uint32_t physical = TRY(map(dir, logical));
    if (physical == 0) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(physical));
    for (uint32_t offset = 0; offset < block_size_;) {
      RawEntry e;
      if (!parse_entry(ref.data(), offset, block_size_, filetype, inodes_count_, first_ino_, e)) {
        return Error::Corrupted;
      }
      bool dot = (e.name_length == 1 && e.name[0] == '.') ||
                 (e.name_length == 2 && e.name[0] == '.' && e.name[1] == '.');
      if (e.inode != 0 && !dot) return false;
      offset += e.rec_len;
    }
  }
  return true;
}

// One entry: read_directory with a visitor that takes the first and stops at the second.
Result<bool> Volume::readdir(Handle h, uint64_t& cursor, DirEntry& entry) {
  struct One {
    DirEntry* out;
    bool taken;
  } one{&entry, false};
  (void)TRY(read_directory(
      h, cursor,
      [](void* context, const DirEntry& e) {
        One& o = *static_cast<One*>(context);
        if (o.taken) return false;
        *o.out = e;
        o.taken = true;
        return true;
      },
      &one));
  return one.taken;
}

Result<bool> Volume::read_directory(Handle h, uint64_t& cursor, DirVisitor visit, void* context) {
  Inode dir = TRY(open(h));
  if (!dir.is_dir()) return Error::NotDirectory;
  bool filetype = (feature_incompat_ & kIncompatFiletype) != 0;
  uint64_t blocks = TRY(dir_blocks(dir.size(), block_size_, blocks_count_));
  DirEntry entry;
  while (cursor < blocks * block_size_) {
    uint64_t logical = cursor >> block_shift_;
    uint32_t within = static_cast<uint32_t>(cursor & (block_size_ - 1));
    uint32_t physical = TRY(map(dir, logical));
    if (physical == 0) return Error::Corrupted;
    BlockRef ref = TRY(cache_.get(physical));
    // From the block's start: a cursor (which a client may have made up) only counts at an
    // entry boundary, and every entry before it is validated on the way.
    for (uint32_t offset = 0; offset < block_size_;) {
      RawEntry e;
      if (!parse_entry(ref.data(), offset, block_size_, filetype, inodes_count_, first_ino_, e)) {
        return Error::Corrupted;
      }
      if (offset >= within && e.inode != 0) {
        entry.inode = e.inode;
        entry.type = e.type;
        entry.name_length = static_cast<uint8_t>(e.name_length);
        memcpy(entry.name, e.name, e.name_length);
        entry.name[e.name_length] = 0;
        if (!visit(context, entry)) return false;
        cursor = (logical << block_shift_) + offset + e.rec_len;
      }
      offset += e.rec_len;
    }
    cursor = (logical + 1) << block_shift_;
  }
  return true;
}

// ---- Paths ------------------------------------------------------------------------------------

Result<size_t> Volume::read_target(const Inode& link, char* out, size_t capacity) {
  uint64_t size = link.size();
  uint32_t sectors = block_size_ / 512;
  uint32_t acl = link.file_acl() != 0 ? sectors : 0;
  if (link.blocks512() < acl) return Error::Corrupted;
  if (link.blocks512() == acl) {  // fast: the target is in i_block
    if (size > 60) return Error::Corrupted;
    size_t n = size < capacity ? static_cast<size_t>(size) : capacity;
    memcpy(out, link.raw + ino::kBlock, n);
    return static_cast<size_t>(size);
  }
  if (size >= block_size_) return Error::Corrupted;
  uint32_t block = TRY(map(link, 0));
  if (block == 0) return Error::Corrupted;
  BlockRef ref = TRY(cache_.get(block));
  size_t n = size < capacity ? static_cast<size_t>(size) : capacity;
  memcpy(out, ref.data(), n);
  return static_cast<size_t>(size);
}

// Resolves `path`. Without `parent`: answers the inode it names. With `parent`: resolves all but
// the last component, fills `parent` (name_length 0 when the path names the root) and answers
// the parent directory.
Result<uint32_t> Volume::walk(const char* path, size_t length, bool follow_last, Walk* parent, Inode* found) {
  if (device_ == nullptr) return Error::IllegalOperation;
  if (length > kMaxPathLength) return Error::NameTooLong;
  memcpy(path_a_, path, length);
  size_t n = length;
  uint32_t current = kRootInode;
  uint32_t follows = 0;
  size_t pos = 0;
  Inode dir;  // number 0 until loaded
  for (;;) {
    while (pos < n && path_a_[pos] == '/') pos++;
    if (pos == n) {  // no component left: the path named `current` itself
      if (parent != nullptr) {
        parent->parent = current;
        parent->name_length = 0;
      }
      return current;
    }
    size_t start = pos;
    while (pos < n && path_a_[pos] != '/') pos++;
    size_t name_length = pos - start;
    if (name_length > kMaxNameLength) return Error::NameTooLong;
    const char* name = path_a_ + start;
    size_t next = pos;
    while (next < n && path_a_[next] == '/') next++;
    // In a lookup, a trailing '/' makes the component a directory to descend into ("x/" is
    // "x/."): it must be one, and a symlink there is followed.
    bool last = next == n && (parent != nullptr || next == pos);
    if (last && parent != nullptr) {
      parent->parent = current;
      parent->name_length = name_length;
      memcpy(parent->name, name, name_length);
      parent->name[name_length] = 0;
      return current;
    }
    // The directory just descended into was loaded as the previous step's child.
    if (dir.number != current) dir = TRY(load_inode(current));
    if (!dir.is_dir()) return Error::NotDirectory;
    uint32_t child;
    if (name_length == 1 && name[0] == '.') {
      child = current;
    } else if (name_length == 2 && name[0] == '.' && name[1] == '.' && current == kRootInode) {
      child = current;
    } else {
      Slot slot;
      const bool present = TRY(find_entry(dir, name, name_length, slot));
      if (!present) {
        return name_length == 2 && name[0] == '.' && name[1] == '.' ? Error::Corrupted
                                                                     : Error::NotFound;
      }
      child = slot.inode;
    }
    if (child == 0) return Error::Corrupted;
    Inode node = TRY(load_inode(child));
    if (node.links() == 0 || file_type_of(node.mode()) == kTypeUnknown) return Error::Corrupted;
    if (node.is_symlink() && (!last || follow_last)) {
      if (++follows > kMaxSymlinkFollows) return Error::SymlinkLoop;
      size_t target = TRY(read_target(node, path_b_, kMaxPathLength));
      if (target == 0) return Error::NotFound;
      // The target, then what followed the link (its '/' included: "x/" stays a directory).
      size_t rest = n - pos;
      if (target + rest > kMaxPathLength) return Error::NameTooLong;
      memcpy(path_b_ + target, path_a_ + pos, rest);
      char* swap = path_a_;
      path_a_ = path_b_;
      path_b_ = swap;
      n = target + rest;
      pos = 0;
      if (path_a_[0] == '/') current = kRootInode;
      continue;
    }
    if (last) {
      if (found != nullptr) *found = node;
      return child;
    }
    if (!node.is_dir()) return Error::NotDirectory;
    current = child;
    dir = node;
    pos = next;
  }
}

// Whether `ancestor` is `dir` or one of the directories above it.
Result<void> Volume::is_ancestor(uint32_t ancestor, uint32_t dir, bool& answer) {
  answer = false;
  uint32_t current = dir;
  for (uint32_t steps = 0; steps <= inodes_count_; steps++) {  // longer: a cycle
    if (current == ancestor) {
      answer = true;
      return {};
    }
    if (current == kRootInode) return {};
    Inode node = TRY(load_inode(current));
    Slot slot;
    bool found = TRY(find_entry(node, "..", 2, slot));
    if (!found || slot.inode == current) return Error::Corrupted;
    current = slot.inode;
  }
  return Error::Corrupted;  // a `..` cycle
}

}  // namespace tessera::ext2
