// The ext2 core's block cache: a fixed number of block buffers carved from the caller's arena,
// write-back with dirty tracking, LRU eviction (a dirty victim is written before reuse) and
// pinning: a buffer is never evicted while a BlockRef to it lives.
//
// Write order (crash safety). Every dirty buffer carries a Phase, the highest any writer gave it:
//   Data      file data, indirect blocks, blocks of new directories and symlinks, xattr blocks
//   Meta      inode tables, bitmaps, group descriptors, the superblock
//   Directory directory blocks that gain or change entries
// write_back() writes all Data buffers, flushes the device, then all Meta buffers, flushes, then
// all Directory buffers and flushes. Evicting a dirty buffer of phase P first writes (and
// flushes) every dirty buffer of a lower phase. So a directory entry reaches the disk only after
// the inode it names (and that inode's blocks) did: after a crash at any point no entry points at
// an uninitialised inode. Removing a name is the reverse case and is not ordered: a crash may
// leave an entry naming a freed inode, which e2fsck repairs.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

namespace tessera::ext2 {

class Device;
class BlockCache;

enum class Phase : uint8_t { Data = 0, Meta = 1, Directory = 2 };

// A pinned cached block. Copies pin again; the last one to go unpins.
class BlockRef {
 public:
  BlockRef() = default;
  BlockRef(const BlockRef& other);
  BlockRef(BlockRef&& other);
  BlockRef& operator=(const BlockRef& other);
  ~BlockRef();

  uint8_t* data() const;
  uint32_t block() const;
  // Marks the block dirty with (at least) `phase`.
  void dirty(Phase phase) const;
  explicit operator bool() const { return cache_ != nullptr; }

 private:
  friend class BlockCache;
  BlockRef(BlockCache* cache, uint32_t index);
  void release();

  BlockCache* cache_ = nullptr;
  uint32_t index_ = 0;
};

class BlockCache {
 public:
  // Lays out buffers of `block_size` bytes in `arena`; Error::InvalidArgument when fewer than
  // kMinBuffers fit.
  Result<void> init(Device& device, uint32_t block_size, uint8_t* arena, size_t bytes);
  static constexpr uint32_t kMinBuffers = 16;
  // Bytes init() needs for `buffers` buffers of `block_size`.
  static size_t bytes_for(uint32_t buffers, uint32_t block_size);

  // The block, read from the device unless cached. With `read` false an uncached block is
  // zero-filled instead (for blocks the caller overwrites completely or initialises).
  Result<BlockRef> get(uint32_t block, bool read = true);
  bool cached(uint32_t block) const;
  // The block is free now: its buffer is no longer written back.
  void forget(uint32_t block);
  // Every dirty buffer in phase order, a device flush after each phase that wrote something and
  // always at the end.
  Result<void> write_back();
  // Drops every buffer (after write_back(), or to abandon the volume).
  void reset();

  uint32_t buffers() const { return count_; }
  // get() calls that found the block cached, and those that did not.
  uint64_t hits() const { return hits_; }
  // Dirty buffers of file data (Phase::Data).
  uint32_t dirty_data() const { return dirty_[static_cast<uint8_t>(Phase::Data)]; }
  uint64_t misses() const { return misses_; }
  uint32_t block_size() const { return block_size_; }

 private:
  friend class BlockRef;
  struct Buffer {
    uint32_t block;
    uint32_t pins;
    uint64_t last_use;
    int32_t next;  // hash chain
    bool valid;
    bool dirty;
    Phase phase;
  };

  int32_t find(uint32_t block) const;
  void unhash(uint32_t index);
  Result<void> write_one(uint32_t index);
  Result<void> write_phases_below(Phase phase, bool* flushed = nullptr);
  void clean(uint32_t index);
  uint32_t hash(uint32_t block) const { return (block * 2654435761u) & (heads_count_ - 1); }
  uint8_t* data(uint32_t index) const { return data_ + static_cast<size_t>(index) * block_size_; }

  Device* device_ = nullptr;
  Buffer* buffers_ = nullptr;
  int32_t* heads_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t count_ = 0;
  uint32_t heads_count_ = 0;
  uint32_t block_size_ = 0;
  uint32_t sectors_per_block_ = 0;
  uint64_t clock_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  uint32_t dirty_[3] = {};  // dirty buffers of each phase
};

}  // namespace tessera::ext2
