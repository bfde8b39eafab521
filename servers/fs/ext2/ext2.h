// The ext2 core of the file-system server: an ext2 (revision 0/1) volume over a block Device, as
// pure code. Freestanding C++ (no exceptions, RTTI, STL or heap): the server runs it over the
// virtio-blk client, the host tests and the fuzzer over image files and memory.
//
// Formats: 1, 2 and 4 KiB blocks; 128- or 256-byte inodes; INCOMPAT `filetype` only (anything
// else refuses the mount); RO_COMPAT `sparse_super` and `large_file` (other RO_COMPAT flags mount
// read-only); COMPAT flags are ignored except that indexed (dir_index) directories are read as
// linear ones and lose EXT2_INDEX_FL when modified, reserved GDT blocks (resize_inode) are never
// allocated, and an inode's xattr block (ext_attr) is released when the inode is deleted.
//
// Every on-disk value is validated before use: corruption answers Error::Corrupted, never a crash,
// hang or out-of-bounds access. Every operation that needs blocks or inodes either succeeds or
// answers Error::NoSpace having changed nothing. Handles carry the inode's generation: once the
// inode is deleted (or reused), operations on an old Handle answer Error::ObjectDeleted.
//
// A Volume is not reentrant: one operation at a time (the server is single-threaded).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

#include "cache.h"

namespace tessera::ext2 {

// The disk: 512-byte sectors.
class Device {
 public:
  virtual Result<void> read(uint64_t sector, uint32_t count, uint8_t* out) = 0;
  virtual Result<void> write(uint64_t sector, uint32_t count, const uint8_t* in) = 0;
  // Everything written before is on stable storage.
  virtual Result<void> flush() = 0;
  virtual uint64_t sectors() const = 0;

 protected:
  ~Device() = default;
};

// File types of DirEntry::type (the on-disk `filetype` values).
enum FileType : uint8_t {
  kTypeUnknown = 0, kTypeRegular = 1, kTypeDirectory = 2, kTypeCharDevice = 3,
  kTypeBlockDevice = 4, kTypeFifo = 5, kTypeSocket = 6, kTypeSymlink = 7,
};

// Mode bits (i_mode): the type in the top four bits, the permissions below.
constexpr uint16_t kModeTypeMask = 0xF000;
constexpr uint16_t kModeRegular = 0x8000, kModeDirectory = 0x4000, kModeSymlink = 0xA000;
constexpr uint16_t kModePermissionMask = 0x0FFF;

constexpr size_t kMaxNameLength = 255;     // one path component
constexpr size_t kMaxPathLength = 4096;    // a whole path, and a path after expanding symlinks
constexpr uint32_t kMaxSymlinkFollows = 8;  // per lookup; more answers Error::SymlinkLoop
constexpr uint32_t kRootInode = 2;

struct Stat {
  uint32_t inode;
  uint32_t generation;
  uint16_t mode;
  uint16_t links;
  uint32_t uid, gid;
  uint64_t size;
  uint64_t blocks512;  // space used, in 512-byte units (i_blocks)
  uint32_t atime, mtime, ctime;
};

struct DirEntry {
  uint32_t inode;
  uint8_t type;         // FileType (kTypeUnknown without the filetype feature)
  uint8_t name_length;
  char name[256];       // NUL-terminated
};

// The block cache's counters (BlockCache::get calls that hit and missed).
struct CacheStats {
  uint64_t hits, misses;
  uint32_t buffers;
};

struct FsStat {
  uint32_t block_size;
  uint64_t blocks, free_blocks;
  uint32_t inodes, free_inodes;
};

// What an open file is: stale once the inode is deleted.
struct Handle {
  uint32_t inode;
  uint32_t generation;
};

class Volume {
 public:
  // Validates the superblock and group descriptors of the volume on `device` and mounts it.
  // `arena`: memory the volume uses for its block cache and scratch buffers (the number of cached
  // blocks follows from its size; at least kMinArenaBytes). Unknown RO_COMPAT features mount
  // read-only; writes to a read-only volume answer Error::ReadOnly.
  Result<void> mount(Device& device, uint8_t* arena, size_t arena_bytes, bool read_only = false);
  static constexpr size_t kMinArenaBytes = 128 * 1024;

  // The time (Unix seconds) stamped on inodes and the superblock from now on. The core has no
  // clock; the server sets it before each operation (0 until set).
  void set_time(uint32_t now) { now_ = now; }
  // The superblock's last mount or write time when it was mounted: a server without a clock can
  // count on from it (time never goes backwards across mounts).
  uint32_t last_written() const { return last_written_; }

  // Paths are absolute, '/'-separated (a missing leading '/' is the same), at most kMaxPathLength
  // bytes; "." and ".." work, ".." at the root stays at the root; symlinks are followed in the
  // middle of a path (and at its end when `follow_last`).
  // With `stat`, also what stat() would answer (without reading the inode again).
  Result<Handle> lookup(const char* path, size_t length, bool follow_last = true, Stat* stat = nullptr);
  // A regular file: Error::Exists when the name is taken and `exclusive` (else the existing
  // regular file is returned unchanged; a directory there answers Error::IsDirectory).
  Result<Handle> create(const char* path, size_t length, uint16_t mode, bool exclusive);
  Result<Handle> mkdir(const char* path, size_t length, uint16_t mode);
  Result<void> unlink(const char* path, size_t length);  // not directories (Error::IsDirectory)
  Result<void> rmdir(const char* path, size_t length);   // empty ones only (Error::NotEmpty)
  // POSIX rename: replaces an existing target of a compatible type (an empty directory by a
  // directory, a non-directory by a non-directory); a directory into its own subtree answers
  // Error::InvalidArgument.
  Result<void> rename(const char* from, size_t from_length, const char* to, size_t to_length);
  Result<void> link(const char* existing, size_t e_length, const char* path, size_t length);
  Result<void> symlink(const char* target, size_t t_length, const char* path, size_t length);
  // The target of the symlink at `path` (not NUL-terminated); at most `capacity` bytes copied,
  // the answer is the target's full length.
  Result<size_t> readlink(const char* path, size_t length, char* out, size_t capacity);

  Result<Stat> stat(Handle h);
  // pread/pwrite semantics; append is the caller's business (offset = size). Reads stop at the
  // end of the file (answer 0 at or past it); holes read as zeros. Writes beyond the largest file
  // size answer Error::TooLarge, writes that need more blocks than are free Error::NoSpace, both
  // without writing anything.
  Result<size_t> read(Handle h, uint64_t offset, uint8_t* out, size_t bytes);
  Result<size_t> write(Handle h, uint64_t offset, const uint8_t* in, size_t bytes);
  // Grows sparse or shrinks (freeing blocks, indirect ones included).
  Result<void> truncate(Handle h, uint64_t size);
  // Directory reading: `cursor` starts at 0; answers false at the end. "." and ".." are included.
  Result<bool> readdir(Handle dir, uint64_t& cursor, DirEntry& entry);
  // Many entries at once: `visit` sees each entry from `cursor` on, in order, until it answers
  // false (that entry is not taken: the cursor stays before it) or the directory ends; `cursor`
  // moves past every entry taken. Answers whether the directory ended (true: no entry is left
  // after `cursor`; false: `visit` refused one). One pass over each block instead of one per entry.
  using DirVisitor = bool (*)(void* context, const DirEntry& entry);
  Result<bool> read_directory(Handle dir, uint64_t& cursor, DirVisitor visit, void* context);
  // The file's data and the metadata it needs on stable storage (in the order sync documents).
  Result<void> fsync(Handle h);
  Result<void> sync();  // every dirty block in a safe order, then a device flush
  Result<FsStat> statfs();
  Result<void> unmount();  // sync + mark clean; the Volume can be mounted again afterwards

  bool mounted() const { return device_ != nullptr; }
  CacheStats cache_stats() const { return CacheStats{cache_.hits(), cache_.misses(), cache_.buffers()}; }
  bool read_only() const { return read_only_; }
  // The largest file size the volume's format allows.
  uint64_t max_file_size() const { return max_file_size_; }

 private:
  struct Inode;
  struct Group;
  struct Slot;
  struct Walk;

  // Superblock and geometry.
  Result<void> load_super();
  Result<void> check_groups();
  enum class SuperUpdate { Mount, Counts, Unmount };
  Result<void> write_super(SuperUpdate update);
  uint32_t groups_count() const { return groups_; }
  Result<Group> group(uint32_t index);
  Result<void> put_group(const Group& g);
  bool metadata_block(uint64_t block) const;
  bool valid_block(uint64_t block) const;

  // Inodes.
  Result<Inode> load_inode(uint32_t number);
  Result<void> store_inode(const Inode& inode);
  Result<Inode> open(Handle h);
  static Stat stat_of(const Inode& node);
  Result<uint32_t> allocate_inode(uint32_t parent, bool directory);
  Result<void> free_inode(Inode& inode);
  Result<void> drop_link(Inode& inode);

  // Blocks and the block map.
  Result<uint32_t> allocate_block(uint32_t goal);
  Result<void> free_block(uint32_t block);
  Result<uint32_t> map(const Inode& inode, uint64_t logical);
  Result<uint32_t> map_run(const Inode& inode, uint64_t logical, uint32_t max, uint32_t& run);
  Result<uint32_t> map_allocate(Inode& inode, uint64_t logical);
  Result<uint64_t> blocks_needed(const Inode& inode, uint64_t first, uint64_t last);
  Result<void> free_from(Inode& inode, uint64_t first_logical);
  Result<void> free_tree(uint32_t block, uint32_t level, uint64_t base, uint64_t first,
                         bool& emptied, Inode& inode);
  Result<void> zero_tail(Inode& inode, uint64_t size);
  Result<void> resize(Inode& inode, uint64_t size);

  // Directories and paths.
  Result<bool> find_entry(const Inode& dir, const char* name, size_t length, Slot& slot);
  Result<void> add_entry(Inode& dir, const char* name, size_t length, uint32_t inode, uint8_t type);
  Result<void> remove_entry(Inode& dir, const Slot& slot);
  Result<void> set_entry(Inode& dir, const Slot& slot, uint32_t inode, uint8_t type);
  Result<bool> dir_empty(const Inode& dir);
  // `found` (optional): the inode the walk ends at, when it loaded it (number 0 otherwise).
  Result<uint32_t> walk(const char* path, size_t length, bool follow_last, Walk* parent, Inode* found = nullptr);
  Result<size_t> read_target(const Inode& link, char* out, size_t capacity);
  Result<Inode> new_inode(uint32_t parent, uint16_t mode);
  Result<void> is_ancestor(uint32_t ancestor, uint32_t dir, bool& answer);
  Result<void> check_writable() const;

  Device* device_ = nullptr;
  BlockCache cache_;
  char* path_a_ = nullptr;  // scratch for walk(): the path being resolved
  char* path_b_ = nullptr;  // scratch for walk(): a symlink target
  bool read_only_ = false;
  uint32_t now_ = 0;
  uint32_t last_written_ = 0;

  uint32_t block_size_ = 0;
  uint32_t block_shift_ = 0;
  uint32_t blocks_count_ = 0;
  uint32_t first_data_block_ = 0;
  uint32_t blocks_per_group_ = 0;
  uint32_t inodes_per_group_ = 0;
  uint32_t inodes_count_ = 0;
  uint32_t groups_ = 0;
  uint32_t gdt_blocks_ = 0;
  uint32_t reserved_gdt_ = 0;
  uint32_t inode_size_ = 0;
  uint32_t first_ino_ = 0;
  uint32_t inode_table_blocks_ = 0;
  uint32_t feature_compat_ = 0, feature_incompat_ = 0, feature_ro_compat_ = 0;
  uint32_t free_blocks_ = 0, free_inodes_ = 0;
  uint64_t max_file_size_ = 0;
  bool super_dirty_ = false;
};

}  // namespace tessera::ext2
