// The filesystem server's disk: ext2::Device over the virtio-blk driver's block protocol
// (tessera/blk/client.h). One request at a time through the server's own channel: the payload
// moves between its data area (where the device reads and writes it) and the caller's buffer —
// the block cache, or a large read's destination. Except for reads aimed at a client's buffer
// that is itself the data area of a channel of that client (DirectChannel): the device writes
// those in place, several requests at once, and nothing is copied.
#pragma once

#include <stdint.h>

#include <tessera/blk/client.h>

#include "ext2/ext2.h"

namespace tessera::fs {

// A client's own channel to the driver, whose data area (made by the driver) is that client's
// buffer. Only file data the client asked for goes through it; metadata and the block cache never
// do (they use the server's channel, whose data area no client sees). `live`: connected, and the
// driver that made it still serves it — after a driver restart it never is again (the client
// keeps its buffer, the old data area, and reads into it are copied until it connects again).
struct DirectChannel {
  blk::BlockClient client;
  bool live = false;
};

class BlockDisk final : public ext2::Device {
 public:
  // The file system from sector `first` of the disk to its end (0: the whole disk).
  BlockDisk(blk::BlockClient& client, uint64_t first) : client_(client), first_(first) {}

  Result<void> read(uint64_t sector, uint32_t count, uint8_t* out) override;
  Result<void> write(uint64_t sector, uint32_t count, const uint8_t* in) override;
  Result<void> flush() override;
  uint64_t sectors() const override { return client_.capacity() > first_ ? client_.capacity() - first_ : 0; }

  // Reads into [data, data + bytes) of `channel`'s data area go through it from now on (nullptr:
  // none). The server aims at the buffer of the client whose File it reads.
  void aim(DirectChannel* channel) { direct_ = channel; }

  const uint64_t& reads() const { return reads_; }
  const uint64_t& writes() const { return writes_; }
  uint64_t direct_reads() const { return direct_reads_; }  // of reads(): into a client's buffer

 private:
  // One request for `count` sectors (at most a transfer's worth) and its completion.
  Result<void> transfer(uint16_t opcode, uint64_t sector, uint32_t count);
  // `count` sectors into the aimed channel's data area at `offset`, every request on the device
  // at once. Error::ObjectDeleted: the channel is gone (not live any more); other errors are the
  // device's.
  Result<void> read_direct(uint64_t sector, uint32_t count, uint64_t offset);

  blk::BlockClient& client_;
  uint64_t first_ = 0;
  DirectChannel* direct_ = nullptr;
  uint64_t reads_ = 0, writes_ = 0, direct_reads_ = 0;
};

}  // namespace tessera::fs
