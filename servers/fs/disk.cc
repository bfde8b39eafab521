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

Result<void> BlockDisk::read(uint64_t sector, uint32_t count, uint8_t* out) {
  if (sector > sectors() || count > sectors() - sector) return Error::RangeError;
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
