// The block cache (cache.h): buffers, hash chains and the phase-ordered write-back.
#include "cache.h"

#include <tessera/string.h>

#include "ext2.h"

namespace tessera::ext2 {

// ---- BlockRef ---------------------------------------------------------------------------------

BlockRef::BlockRef(BlockCache* cache, uint32_t index) : cache_(cache), index_(index) {
  cache_->buffers_[index_].pins++;
}

BlockRef::BlockRef(const BlockRef& other) : cache_(other.cache_), index_(other.index_) {
  if (cache_ != nullptr) cache_->buffers_[index_].pins++;
}

BlockRef::BlockRef(BlockRef&& other) : cache_(other.cache_), index_(other.index_) {
  other.cache_ = nullptr;
}

BlockRef& BlockRef::operator=(const BlockRef& other) {
  if (this == &other) return *this;
  if (other.cache_ != nullptr) other.cache_->buffers_[other.index_].pins++;
  release();
  cache_ = other.cache_;
  index_ = other.index_;
  return *this;
}

BlockRef::~BlockRef() { release(); }

void BlockRef::release() {
  if (cache_ != nullptr) cache_->buffers_[index_].pins--;
  cache_ = nullptr;
}

uint8_t* BlockRef::data() const { return cache_->data(index_); }
uint32_t BlockRef::block() const { return cache_->buffers_[index_].block; }

void BlockRef::dirty(Phase phase) const {
  BlockCache::Buffer& b = cache_->buffers_[index_];
  if (!b.dirty) {
    b.phase = phase;
    b.dirty = true;
    cache_->dirty_[static_cast<uint8_t>(phase)]++;
  } else if (static_cast<uint8_t>(phase) > static_cast<uint8_t>(b.phase)) {
    cache_->dirty_[static_cast<uint8_t>(b.phase)]--;
    cache_->dirty_[static_cast<uint8_t>(phase)]++;
    b.phase = phase;
  }
}

// ---- BlockCache -------------------------------------------------------------------------------

namespace {
uintptr_t align_up(uintptr_t value, uintptr_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}
uint32_t heads_for(uint32_t buffers) {
  uint32_t heads = 1;
  while (heads < buffers * 2) heads <<= 1;
  return heads;
}
}  // namespace

size_t BlockCache::bytes_for(uint32_t buffers, uint32_t block_size) {
  return 64 + sizeof(Buffer) * buffers + sizeof(int32_t) * heads_for(buffers) + 64 +
         static_cast<size_t>(buffers) * block_size;
}

Result<void> BlockCache::init(Device& device, uint32_t block_size, uint8_t* arena, size_t bytes) {
  if (arena == nullptr || block_size == 0) return Error::InvalidArgument;
  uint32_t count = 0;
  // The largest count that fits (the per-buffer cost is at most block + record + 2 heads).
  size_t per = block_size + sizeof(Buffer) + 2 * sizeof(int32_t) * 2;
  if (bytes > 256) count = static_cast<uint32_t>((bytes - 256) / per);
  while (count > 0 && bytes_for(count, block_size) > bytes) count--;
  if (count < kMinBuffers) return Error::InvalidArgument;

  uintptr_t at = align_up(reinterpret_cast<uintptr_t>(arena), 64);
  buffers_ = reinterpret_cast<Buffer*>(at);
  at += sizeof(Buffer) * count;
  heads_count_ = heads_for(count);
  heads_ = reinterpret_cast<int32_t*>(at);
  at = align_up(at + sizeof(int32_t) * heads_count_, 64);
  data_ = reinterpret_cast<uint8_t*>(at);
  device_ = &device;
  count_ = count;
  block_size_ = block_size;
  sectors_per_block_ = block_size / 512;
  clock_ = 0;
  reset();
  return {};
}

void BlockCache::reset() {
  for (uint32_t i = 0; i < count_; i++) {
    buffers_[i] = Buffer{0, 0, 0, -1, false, false, Phase::Data};
  }
  for (uint32_t i = 0; i < heads_count_; i++) heads_[i] = -1;
  for (uint32_t& d : dirty_) d = 0;
}

int32_t BlockCache::find(uint32_t block) const {
  int32_t i = heads_[hash(block)];
  while (i >= 0) {
    if (buffers_[i].block == block) return i;
    i = buffers_[i].next;
  }
  return -1;
}

bool BlockCache::cached(uint32_t block) const { return find(block) >= 0; }

void BlockCache::unhash(uint32_t index) {
  Buffer& b = buffers_[index];
  if (!b.valid) return;
  int32_t* link = &heads_[hash(b.block)];
  while (*link >= 0) {
    if (static_cast<uint32_t>(*link) == index) {
      *link = b.next;
      break;
    }
    link = &buffers_[*link].next;
  }
  b.valid = false;
  b.next = -1;
}

void BlockCache::forget(uint32_t block) {
  int32_t i = find(block);
  if (i >= 0) clean(static_cast<uint32_t>(i));
}

Result<void> BlockCache::write_one(uint32_t index) {
  Buffer& b = buffers_[index];
  TRY(device_->write(static_cast<uint64_t>(b.block) * sectors_per_block_, sectors_per_block_,
                     data(index)));
  clean(index);
  return {};
}

void BlockCache::clean(uint32_t index) {
  Buffer& b = buffers_[index];
  if (!b.dirty) return;
  b.dirty = false;
  dirty_[static_cast<uint8_t>(b.phase)]--;
}

// Each phase's dirty buffers (the per-phase counts end the scan early and skip clean phases),
// then a flush; `*flushed`: the last thing done was a flush.
Result<void> BlockCache::write_phases_below(Phase phase, bool* flushed) {
  for (uint8_t p = 0; p < static_cast<uint8_t>(phase); p++) {
    if (dirty_[p] == 0) continue;
    for (uint32_t i = 0; i < count_ && dirty_[p] != 0; i++) {
      if (buffers_[i].valid && buffers_[i].dirty && static_cast<uint8_t>(buffers_[i].phase) == p) TRY(write_one(i));
    }
    TRY(device_->flush());
    if (flushed != nullptr) *flushed = true;
  }
  return {};
}

Result<void> BlockCache::write_back() {
  bool flushed = false;
  TRY(write_phases_below(static_cast<Phase>(3), &flushed));
  // A sync that wrote nothing still promises what was written before is stable.
  return flushed ? Result<void>{} : device_->flush();
}

Result<BlockRef> BlockCache::get(uint32_t block, bool read) {
  clock_++;
  int32_t found = find(block);
  if (found >= 0) {
    ++hits_;
    buffers_[found].last_use = clock_;
    return BlockRef(this, static_cast<uint32_t>(found));
  }
  ++misses_;
  // The least recently used unpinned buffer (an invalid one first).
  int32_t victim = -1;
  for (uint32_t i = 0; i < count_; i++) {
    const Buffer& b = buffers_[i];
    if (b.pins != 0) continue;
    if (!b.valid) {
      victim = static_cast<int32_t>(i);
      break;
    }
    if (victim < 0 || b.last_use < buffers_[victim].last_use) victim = static_cast<int32_t>(i);
  }
  if (victim < 0) return Error::Busy;  // every buffer pinned: a bug in the caller's pin depth
  uint32_t v = static_cast<uint32_t>(victim);
  if (buffers_[v].valid && buffers_[v].dirty) {
    TRY(write_phases_below(buffers_[v].phase));
    TRY(write_one(v));
  }
  unhash(v);
  if (read) {
    TRY(device_->read(static_cast<uint64_t>(block) * sectors_per_block_, sectors_per_block_,
                      data(v)));
  } else {
    memset(data(v), 0, block_size_);
  }
  Buffer& b = buffers_[v];
  b.block = block;
  b.last_use = clock_;
  b.dirty = false;  // clean already: written above, or never dirty
  b.phase = Phase::Data;
  b.valid = true;
  uint32_t h = hash(block);
  b.next = heads_[h];
  heads_[h] = victim;
  return BlockRef(this, v);
}

}  // namespace tessera::ext2
