// The filesystem server's disk: ext2::Device over the virtio-blk driver's block protocol
// (tessera/blk/client.h). One request at a time through the shared data area: the payload moves
// between the data area (where the device reads and writes it) and the caller's buffer — the
// block cache, or a large read's destination.
#pragma once

#include <stdint.h>

#include <tessera/blk/client.h>

#include "ext2/ext2.h"

namespace tessera::fs {

class BlockDisk final : public ext2::Device {
 public:
  // The file system from sector `first` of the disk to its end (0: the whole disk).
  BlockDisk(blk::BlockClient& client, uint64_t first) : client_(client), first_(first) {}

  Result<void> read(uint64_t sector, uint32_t count, uint8_t* out) override;
  Result<void> write(uint64_t sector, uint32_t count, const uint8_t* in) override;
  Result<void> flush() override;
  uint64_t sectors() const override { return client_.capacity() > first_ ? client_.capacity() - first_ : 0; }

  const uint64_t& reads() const { return reads_; }
  const uint64_t& writes() const { return writes_; }

 private:
  // One request for `count` sectors (at most a transfer's worth) and its completion.
  Result<void> transfer(uint16_t opcode, uint64_t sector, uint32_t count);

  blk::BlockClient& client_;
  uint64_t first_ = 0;
  uint64_t reads_ = 0, writes_ = 0;
};

}  // namespace tessera::fs
