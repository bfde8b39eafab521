// The filesystem server's protocol side (abi/fs.capnp, docs/fs.md): the FileSystem and File
// interfaces on one endpoint over an ext2::Volume.
//
// Clients: one per endpoint badge (init gives each program its own), each with a shared buffer
// the server makes (connect). Files: a table of open files; each File capability is the server's
// endpoint minted with a badge naming its table entry and that entry's serial number (kFileBadge
// set), kept in a slot of the server's so close() can revoke the client's copy. A request through
// a stale badge (the entry was closed or reused) answers ObjectDeleted.
#pragma once

#include <stdint.h>

#include <tessera/abi/fs.capnp.h>
#include <tessera/capnp/transport.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/memory.h>

#include "disk.h"
#include "ext2/ext2.h"

namespace tessera::fs {

// Badges of File capabilities: bit 62 set, the serial in bits 16..47, the table index below.
// Client badges (init's program numbers, or a system.conf BADGE) must stay below 2^62.
constexpr uint64_t kFileBadge = uint64_t{1} << 62;

struct ServerCounters {
  uint64_t requests = 0;
  uint64_t refused = 0;
};

class Server : public FileSystem::Server<Server>, public File::Server<Server> {
 public:
  // `endpoint`: the server's own endpoint (the source of File capabilities), `slots` free slots of
  // its CNode, `session` its memory session (client buffers), `volume` mounted.
  // `serial`: where File serial numbers start (a restarted server picks another, so that Files of
  // its predecessor, which still reach the endpoint, match none of its own).
  Server(sys::CPtr endpoint, sys::SlotAllocator& slots, sys::MemorySession& session, ext2::Volume& volume,
         uint32_t serial)
      : endpoint_(endpoint), slots_(slots), session_(session), volume_(volume), next_serial_(serial) {}

  // Routes by badge: File badges to File, every other badge to FileSystem.
  capnp::Reply dispatch(const capnp::Request& request, const capnp::ReplyBuffer& out);

  // FileSystem.
  Result<void> connect(FileSystem::ConnectParams::Reader p, FileSystem::ConnectResults::Builder out);
  Result<void> open(FileSystem::OpenParams::Reader p, FileSystem::OpenResults::Builder out);
  Result<void> stat(FileSystem::StatParams::Reader p, FileSystem::StatResults::Builder out);
  Result<void> mkdir(FileSystem::MkdirParams::Reader p, FileSystem::MkdirResults::Builder out);
  Result<void> unlink(FileSystem::UnlinkParams::Reader p, FileSystem::UnlinkResults::Builder);
  Result<void> rmdir(FileSystem::RmdirParams::Reader p, FileSystem::RmdirResults::Builder);
  Result<void> rename(FileSystem::RenameParams::Reader p, FileSystem::RenameResults::Builder);
  Result<void> link(FileSystem::LinkParams::Reader p, FileSystem::LinkResults::Builder);
  Result<void> symlink(FileSystem::SymlinkParams::Reader p, FileSystem::SymlinkResults::Builder);
  Result<void> readlink(FileSystem::ReadlinkParams::Reader p, FileSystem::ReadlinkResults::Builder out);
  Result<void> statfs(FileSystem::StatfsParams::Reader, FileSystem::StatfsResults::Builder out);
  Result<void> sync(FileSystem::SyncParams::Reader, FileSystem::SyncResults::Builder);
  Result<void> status(FileSystem::StatusParams::Reader, FileSystem::StatusResults::Builder out);
  Result<void> disconnect(FileSystem::DisconnectParams::Reader, FileSystem::DisconnectResults::Builder);

  // File.
  Result<void> read(File::ReadParams::Reader p, File::ReadResults::Builder out);
  Result<void> write(File::WriteParams::Reader p, File::WriteResults::Builder out);
  Result<void> truncate(File::TruncateParams::Reader p, File::TruncateResults::Builder);
  Result<void> stat(File::StatParams::Reader, File::StatResults::Builder out);
  Result<void> sync(File::SyncParams::Reader, File::SyncResults::Builder);
  Result<void> readdir(File::ReaddirParams::Reader p, File::ReaddirResults::Builder out);
  Result<void> close(File::CloseParams::Reader, File::CloseResults::Builder);

  const ServerCounters& counters() const { return counters_; }
  // The clock: `epoch` (Unix seconds) now; it counts on by sys::now_ns().
  void set_clock(uint32_t epoch) {
    epoch_ = epoch;
    epoch_ns_ = sys::now_ns();
  }
  // Client buffers that are data areas of the driver (channels 1.. of `blk`, the driver's
  // endpoint), so that reads land in them without a copy; without this call (or when the driver
  // has no channel or memory left for a client) a buffer is a region of the server's.
  void set_direct(BlockDisk* disk, sys::CPtr blk) {
    disk_ = disk;
    blk_ = blk;
  }
  // Set by the disk's owner: block transfers so far (status()).
  void set_disk_counters(const uint64_t* reads, const uint64_t* writes) {
    disk_reads_ = reads;
    disk_writes_ = writes;
  }

 private:
  static constexpr uint32_t kClients = ::tessera::fs::kMaxClients;
  static constexpr uint32_t kFiles = ::tessera::fs::kMaxOpenFiles;

  struct Client {
    bool used = false;
    uint64_t badge = 0;
    sys::Region buffer;  // the server's own capability, attached read/write
    sys::Region shared;  // the read/write capability handed to the client (kept to close)
    uint8_t* base = nullptr;
    uint32_t bytes = 0;
    uint32_t files = 0;  // open Files (at most kMaxOpenFilesPerClient)
    bool direct = false; // the buffer is the data area of channels_[index] (buffer is unused)
  };
  struct OpenFile {
    bool used = false;
    uint32_t serial = 0;
    uint8_t client = 0;   // index into clients_
    uint32_t flags = 0;   // fs.capnp open flags as granted
    bool directory = false;
    ext2::Handle handle{};
    sys::CPtr cap = 0;    // the minted File capability (its parent of the client's copy)
  };

  Result<Client*> caller_client();
  Result<OpenFile*> caller_file();
  Result<uint8_t*> span(const OpenFile& f, uint32_t offset, uint32_t bytes);
  Result<sys::CPtr> mint_file(uint64_t badge);
  void close_file(OpenFile& f);
  void drop_cap(sys::CPtr cap);
  Result<ext2::Stat> open_file(capnp::Text path, uint32_t flags, uint16_t mode);
  void drop_client(Client& c);
  Result<void> make_buffer(Client& c, uint32_t bytes);
  void fill_stat(Stat::Builder out, const ext2::Stat& s);

  sys::CPtr endpoint_;
  sys::SlotAllocator& slots_;
  sys::MemorySession& session_;
  ext2::Volume& volume_;
  Client clients_[kClients];
  DirectChannel channels_[kClients];  // channel index + 1 of the driver
  BlockDisk* disk_ = nullptr;
  sys::CPtr blk_ = 0;
  OpenFile files_[kFiles];
  uint32_t next_serial_ = 1;  // wraps; 0 is never used
  uint32_t open_files_ = 0;
  ServerCounters counters_;
  uint32_t epoch_ = 0;
  uint64_t epoch_ns_ = 0;
  const uint64_t* disk_reads_ = nullptr;
  const uint64_t* disk_writes_ = nullptr;
};

}  // namespace tessera::fs
