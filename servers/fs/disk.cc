// The filesystem server's disk (disk.h).
#include "disk.h"

#include <tessera/abi/block.capnp.h>
#include <tessera/string.h>

namespace tessera::fs {
namespace {
constexpr uint32_t kSector = block::kSectorBytes;
}  // namespace

Result<void> BlockDisk::transfer(uint16_t opcode, uint64_t sector, uint32_t count) {
  const blk::Completion done = TRY(client_.run(opcode, first_ + sector, 0, count * kSector));
  if (done.status != Error::Ok) return done.status;
  if (done.length != count * kSector) return Error::IoError;
  return {};
}

Result<void> BlockDisk::read_direct(uint64_t sector, uint32_t count, uint64_t offset) {
  blk::BlockClient& channel = direct_->client;
  const uint32_t chunk = channel.max_transfer() / kSector;
  if (chunk == 0) return Error::ObjectDeleted;
  channel.set_batching(true);
  uint32_t submitted = 0, in_flight = 0;
  uint64_t transferred = 0;
  Error first = Error::Ok;
  while (submitted < count || in_flight > 0) {
    while (submitted < count && in_flight < channel.slots()) {
      const uint32_t n = count - submitted < chunk ? count - submitted : chunk;
      if (!channel.read(first_ + sector + submitted, offset + uint64_t{submitted} * kSector, n * kSector).ok()) {
        return Error::ObjectDeleted;
      }
      ++reads_;
      ++direct_reads_;
      ++in_flight;
      submitted += n;
    }
    if (!channel.kick().ok()) return Error::ObjectDeleted;
    const Result<blk::Completion> done = channel.next(true);
    if (!done.ok()) return Error::ObjectDeleted;
    --in_flight;
    if (done->status != Error::Ok && first == Error::Ok) first = done->status;
    transferred += done->length;
  }
  if (first != Error::Ok) return first;
  return transferred == uint64_t{count} * kSector ? Result<void>{} : Result<void>{Error::IoError};
}

Result<void> BlockDisk::read(uint64_t sector, uint32_t count, uint8_t* out) {
  if (sector > sectors() || count > sectors() - sector) return Error::RangeError;
  if (direct_ != nullptr && direct_->live) {
    // In place when `out` is a sector-aligned span of the aimed client's data area.
    const uint8_t* area = direct_->client.data();
    const uint64_t bytes = uint64_t{count} * kSector;
    if (out >= area && static_cast<uint64_t>(out - area) <= direct_->client.data_bytes() &&
        bytes <= direct_->client.data_bytes() - static_cast<uint64_t>(out - area) && (out - area) % kSector == 0) {
      const Result<void> r = read_direct(sector, count, static_cast<uint64_t>(out - area));
      if (r.ok() || r.error() != Error::ObjectDeleted) return r;
      direct_->live = false;  // the driver that made it is gone: copied from now on
    }
  }
  const uint32_t chunk = client_.max_transfer() / kSector;
  while (count > 0) {
    const uint32_t n = count < chunk ? count : chunk;
    TRY(transfer(block::kOpRead, sector, n));
    memcpy(out, client_.data(), uint64_t{n} * kSector);  // data() may move on a reconnect: read it after
    ++reads_;
    sector += n;
    count -= n;
    out += uint64_t{n} * kSector;
  }
  return {};
}

Result<void> BlockDisk::write(uint64_t sector, uint32_t count, const uint8_t* in) {
  if (sector > sectors() || count > sectors() - sector) return Error::RangeError;
  const uint32_t chunk = client_.max_transfer() / kSector;
  while (count > 0) {
    const uint32_t n = count < chunk ? count : chunk;
    memcpy(client_.data(), in, uint64_t{n} * kSector);
    TRY(transfer(block::kOpWrite, sector, n));
    ++writes_;
    sector += n;
    count -= n;
    in += uint64_t{n} * kSector;
  }
  return {};
}

Result<void> BlockDisk::flush() {
  const blk::Completion done = TRY(client_.run(block::kOpFlush, 0, 0, 0));
  return done.status == Error::Ok ? Result<void>{} : Result<void>{done.status};
}

}  // namespace tessera::fs
