// fs: the filesystem server (abi/fs.capnp, docs/fs.md): ext2 (servers/fs/ext2, pure code) on the
// virtio-blk driver (tessera/blk/client.h), serving FileSystem and File on its endpoint.
//
// Grants: endpoint:fs (served) and endpoint:blk (write + grant: the driver's replies carry its
// ring region). Its argument: words `ro` (mount read-only) and `at=SECTOR` (the file system
// starts at that sector of the disk: the FS tests' damaged file systems). Its memory: the block cache (kCacheBytes, one region
// mapped eagerly), the client buffers (one region each, paid from the server's quota).
#include <stdint.h>

#include <tessera/blk/client.h>
#include <tessera/cmdline.h>
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/server.h>

#include "disk.h"
#include "ext2/ext2.h"
#include "server.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Result;

constexpr uint64_t kCacheBytes = 4 << 20;

struct Fs {
  sys::MemorySession session;
  tessera::blk::BlockClient disk_client;
  sys::Region cache;
  tessera::ext2::Volume volume;
  sys::CPtr blk = 0;
};

Result<tessera::fs::BlockDisk*> start(const sys::StartupBlock& block, sys::SlotAllocator& slots, Fs& fs) {
  fs.session = sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  const sys::CPtr blk = TRY(sys::find_grant(block, "endpoint:blk"));
  fs.blk = blk;
  TRY(fs.disk_client.connect(fs.session, slots, blk));
  static tessera::CommandLine words;
  words = tessera::CommandLine(tessera::StringView(block.argument));
  const bool read_only = words.has(tessera::StringView("ro"));
  const Result<uint64_t> at = words.get_u64(tessera::StringView("at"));
  if (!at.ok() && at.error() != Error::FailedLookup) return at.error();  // at= that is not a number
  static tessera::fs::BlockDisk disk(fs.disk_client, at.ok() ? at.value() : 0);
  fs.cache = TRY(sys::Region::create(fs.session, kCacheBytes, sys::RegionOptions{.eager = true}));
  uint8_t* arena = TRY(fs.cache.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
  TRY(fs.volume.mount(disk, arena, kCacheBytes, read_only));
  const tessera::ext2::FsStat s = TRY(fs.volume.statfs());
  sys::print("fs: ext2, %lu KiB blocks of %u bytes, %lu free; %u inodes, %u free%s\n", s.blocks * s.block_size / 1024,
             s.block_size, s.free_blocks, s.inodes, s.free_inodes, fs.volume.read_only() ? "; read-only" : "");
  return &disk;
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  static sys::SlotAllocator slots(block->empty);
  const Result<sys::CPtr> endpoint = sys::find_grant(*block, "endpoint:fs");
  if (!endpoint.ok()) {
    sys::print("fs: no endpoint:fs grant\n");
    return 1;
  }
  static Fs fs;
  const Result<tessera::fs::BlockDisk*> disk = start(*block, slots, fs);
  if (!disk.ok()) {
    sys::print("fs: cannot mount the disk: %s\n", tessera::error_name(disk.error()));
    return 2;
  }
  static tessera::fs::Server server(endpoint.value(), slots, fs.session, fs.volume,
                                    static_cast<uint32_t>(sys::rdtsc() * 0x9E3779B1u) | 1u);
  server.set_direct(disk.value(), fs.blk);
  server.set_disk_counters(&disk.value()->reads(), &disk.value()->writes());
  server.set_clock(fs.volume.last_written());
  const Error why = sys::serve(server, endpoint.value(), sys::ServeOptions{&slots, sys::kProcessSlotCNode, "fs"});
  sys::print("fs: endpoint failed: %s\n", tessera::error_name(why));
  (void)fs.volume.unmount();
  return 3;
}
