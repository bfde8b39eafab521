// The filesystem server's protocol side (server.h).
#include "server.h"

#include <tessera/abi/kernel.capnp.h>
#include <tessera/fs.h>
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/server.h>

namespace tessera::fs {
namespace {
namespace sys = tessera::sys;
using capnp::CapRef;
using CNodeClient = abi::CNode::Client<sys::CallTransport>;

constexpr uint32_t kDefaultBufferBytes = 256 * 1024;
constexpr uint32_t kPage = 4096;
constexpr uint32_t kKnownFlags = kOpenRead | kOpenWrite | kOpenCreate | kOpenExclusive | kOpenTruncate | kOpenAppend |
                                 kOpenDirectory | kOpenNoFollow;
constexpr uint64_t kIndexMask = 0xffff;

uint64_t file_badge(uint32_t index, uint32_t serial) {
  return kFileBadge | (uint64_t{serial} << 16) | index;
}

// A path from a message: at most maxPathBytes, no NUL inside (the volume takes lengths, but a NUL
// would make names the client cannot see).
Result<capnp::Text> path_of(Result<capnp::Text> text) {
  const capnp::Text t = TRY(text);
  if (t.size > kMaxPathBytes) return Error::RangeError;
  if (t.size == 0) return Error::InvalidArgument;
  for (uint32_t i = 0; i < t.size; ++i) {
    if (t.data[i] == '\0') return Error::InvalidArgument;
  }
  return t;
}

uint8_t type_of(uint16_t mode) {
  switch (mode & ext2::kModeTypeMask) {
    case ext2::kModeRegular: return kTypeRegular;
    case ext2::kModeDirectory: return kTypeDirectory;
    case ext2::kModeSymlink: return kTypeSymlink;
    default: return kTypeUnknown;
  }
}
}  // namespace

capnp::Reply Server::dispatch(const capnp::Request& request, const capnp::ReplyBuffer& out) {
  ++counters_.requests;
  // No clock here: the time stamped on inodes counts on from the disk's last write time at mount
  // (the superblock's), by the TSC.
  volume_.set_time(epoch_ + static_cast<uint32_t>((sys::now_ns() - epoch_ns_) / 1'000'000'000ull));
  const uint64_t badge = sys::current_request().badge();
  const capnp::Reply reply = (badge & kFileBadge) != 0 ? File::Server<Server>::dispatch(request, out)
                                                       : FileSystem::Server<Server>::dispatch(request, out);
  if (reply.error != Error::Ok) ++counters_.refused;
  return reply;
}

// ---- clients and files ------------------------------------------------------------------------

Result<Server::Client*> Server::caller_client() {
  const uint64_t badge = sys::current_request().badge();
  for (Client& c : clients_) {
    if (c.used && c.badge == badge) return &c;
  }
  return Error::IllegalOperation;  // connect first
}

Result<Server::OpenFile*> Server::caller_file() {
  const uint64_t badge = sys::current_request().badge();
  const uint64_t index = badge & kIndexMask;
  if (index >= kFiles) return Error::ObjectDeleted;
  OpenFile& f = files_[index];
  if (!f.used || file_badge(static_cast<uint32_t>(index), f.serial) != badge) return Error::ObjectDeleted;
  return &f;
}

Result<uint8_t*> Server::span(const OpenFile& f, uint32_t offset, uint32_t bytes) {
  const Client& c = clients_[f.client];
  if (!c.used) return Error::ObjectDeleted;
  if (offset > c.bytes || bytes > c.bytes - offset) return Error::RangeError;
  return c.base + offset;
}

// A File capability: write and grant-reply (a Call needs one of grant and grant-reply; a File
// takes no capabilities, so not grant). The server's endpoint has both (boot/system.conf: rwgpm).
Result<sys::CPtr> Server::mint_file(uint64_t badge) {
  const sys::CPtr slot = TRY(slots_.alloc());
  sys::CallTransport kernel(sys::ipc_buffer());
  const Result<void> r = CNodeClient(kernel, sys::kProcessSlotCNode)
                             .mint(slot, sys::kSlotDepth, CapRef{sys::kProcessSlotCNode}, endpoint_, sys::kSlotDepth,
                                   static_cast<uint8_t>(abi::kRightWrite | abi::kRightGrantReply), badge);
  if (!r.ok()) {
    (void)slots_.free(slot);
    return r.error();
  }
  return slot;
}

// Revokes every copy of a File capability the server minted, then the server's own.
void Server::drop_cap(sys::CPtr cap) {
  sys::CallTransport kernel(sys::ipc_buffer());
  CNodeClient cnode(kernel, sys::kProcessSlotCNode);
  (void)cnode.revoke(cap, sys::kSlotDepth);
  (void)cnode.delete_(cap, sys::kSlotDepth);
  (void)slots_.free(cap);
}

// Revokes the client's copy of the File capability (a call through it now fails in the kernel),
// then frees the entry.
void Server::close_file(OpenFile& f) {
  if (!f.used) return;
  if (f.cap != 0) drop_cap(f.cap);
  if (clients_[f.client].used && clients_[f.client].files > 0) --clients_[f.client].files;
  f = OpenFile{.serial = f.serial};
  --open_files_;
}

// Closes the client's files and takes its buffer back from it (revoke: its attachment and
// capabilities go), then gives the memory back.
void Server::drop_client(Client& c) {
  const uint8_t index = static_cast<uint8_t>(&c - clients_);
  for (OpenFile& f : files_) {
    if (f.used && f.client == index) close_file(f);
  }
  (void)c.shared.close();
  if (c.direct) {
    // The driver revokes the data area (the client's copy with it) when the channel goes; after a
    // driver restart nobody can, and the client keeps the old one (its own memory from then on).
    DirectChannel& channel = channels_[index];
    (void)channel.client.disconnect();
    channel.live = false;
  } else {
    (void)c.buffer.revoke();
    (void)c.buffer.release();
  }
  c = Client{};
}

// The client's buffer: the data area of a channel of its own when the driver makes one, so the
// device writes what the client reads in place; a region of the server's otherwise.
Result<void> Server::make_buffer(Client& c, uint32_t bytes) {
  const uint8_t index = static_cast<uint8_t>(&c - clients_);
  if (disk_ != nullptr && blk_ != 0) {
    DirectChannel& channel = channels_[index];
    channel.client.set_reconnect(false);
    if (channel.client.connect(session_, slots_, blk_, sys::kProcessSlotCNode, static_cast<uint8_t>(index + 1), bytes)
            .ok()) {
      // The driver's buffer is eager and attached by the driver and here: the client can neither
      // shrink it (Busy) nor revoke it (only the driver, its creator, can).
      Result<sys::Region> shared = channel.client.data_region().share(memory::kRightRead | memory::kRightWrite);
      if (shared.ok()) {
        channel.live = true;
        c.direct = true;
        c.base = channel.client.data();
        c.shared = static_cast<sys::Region&&>(*shared);
        return {};
      }
      (void)channel.client.disconnect();
    }
  }
  // Eager: every page is mapped here before the client sees the region, so the client cannot
  // shrink it under the server (Session.resize answers Busy over mapped pages).
  sys::Region buffer = TRY(sys::Region::create(session_, bytes, sys::RegionOptions{.eager = true}));
  const Result<uint8_t*> base = buffer.attach(memory::kRightRead | memory::kRightWrite);
  if (!base.ok()) {
    (void)buffer.release();
    return base.error();
  }
  Result<sys::Region> shared = buffer.share(memory::kRightRead | memory::kRightWrite);
  if (!shared.ok()) {
    (void)buffer.release();
    return shared.error();
  }
  c.direct = false;
  c.base = base.value();
  c.buffer = static_cast<sys::Region&&>(buffer);
  c.shared = static_cast<sys::Region&&>(*shared);
  return {};
}

void Server::fill_stat(Stat::Builder out, const ext2::Stat& s) {
  out.set_inode(s.inode);
  out.set_type(type_of(s.mode));
  out.set_mode(s.mode);
  out.set_links(s.links);
  out.set_uid(s.uid);
  out.set_gid(s.gid);
  out.set_size(s.size);
  out.set_blocks(s.blocks512);
  out.set_atime(s.atime);
  out.set_mtime(s.mtime);
  out.set_ctime(s.ctime);
}

// ---- FileSystem ---------------------------------------------------------------------------------

Result<void> Server::connect(FileSystem::ConnectParams::Reader p, FileSystem::ConnectResults::Builder out) {
  uint32_t bytes = p.buffer_bytes() == 0 ? kDefaultBufferBytes : p.buffer_bytes();
  if (bytes > kMaxBufferBytes) return Error::RangeError;
  bytes = (bytes + kPage - 1) & ~(kPage - 1);
  const uint64_t badge = sys::current_request().badge();
  if (Result<Client*> old = caller_client(); old.ok()) drop_client(**old);
  Client* c = nullptr;
  for (Client& candidate : clients_) {
    if (!candidate.used) {
      c = &candidate;
      break;
    }
  }
  if (c == nullptr) return Error::NotEnoughMemory;
  TRY(make_buffer(*c, bytes));
  c->used = true;
  c->badge = badge;
  c->bytes = bytes;
  // The reply carries the shared capability (the client gets a copy); the server keeps its slot
  // until the client goes (revoke takes every copy back then).
  out.set_buffer(c->shared.ref());
  out.set_buffer_bytes(bytes);
  return {};
}

Result<void> Server::open(FileSystem::OpenParams::Reader p, FileSystem::OpenResults::Builder out) {
  Client* client = TRY(caller_client());
  const capnp::Text path = TRY(path_of(p.path()));
  const uint32_t flags = p.flags();
  if ((flags & ~kKnownFlags) != 0) return Error::InvalidArgument;
  if ((flags & (kOpenRead | kOpenWrite | kOpenDirectory)) == 0) return Error::InvalidArgument;
  if ((flags & kOpenExclusive) != 0 && (flags & kOpenCreate) == 0) return Error::InvalidArgument;
  if ((flags & kOpenCreate) != 0 && (flags & kOpenDirectory) != 0) return Error::InvalidArgument;
  if (open_files_ >= kFiles || client->files >= kMaxOpenFilesPerClient) return Error::NotEnoughMemory;
  // The entry and its capability first: once the file is created or truncated, nothing may fail.
  uint32_t index = kFiles;
  for (uint32_t i = 0; i < kFiles; ++i) {
    if (!files_[i].used) {
      index = i;
      break;
    }
  }
  if (index == kFiles) return Error::NotEnoughMemory;
  if (next_serial_ == 0) next_serial_ = 1;
  const uint32_t serial = next_serial_++;
  const sys::CPtr cap = TRY(mint_file(file_badge(index, serial)));
  const Result<ext2::Stat> opened = open_file(path, flags, p.mode());
  if (!opened.ok()) {
    drop_cap(cap);
    return opened.error();
  }
  const ext2::Stat& s = opened.value();
  const bool directory = (s.mode & ext2::kModeTypeMask) == ext2::kModeDirectory;
  OpenFile& f = files_[index];
  f.used = true;
  f.serial = serial;
  f.client = static_cast<uint8_t>(client - clients_);
  f.flags = directory ? (flags & (kOpenRead | kOpenDirectory)) | kOpenRead : flags;
  f.directory = directory;
  f.handle = ext2::Handle{s.inode, s.generation};
  f.cap = cap;
  ++open_files_;
  ++client->files;
  out.set_file(CapRef{cap});
  fill_stat(out.init_stat(), s);
  return {};
}

// What open() does to the file system: looks the path up or creates the file, checks the kind
// against the flags, truncates. Answers the file's stat (its handle: inode and generation).
Result<ext2::Stat> Server::open_file(capnp::Text path, uint32_t flags, uint16_t mode) {
  ext2::Handle h{};
  ext2::Stat s;
  if ((flags & kOpenCreate) != 0) {
    // openNoFollow holds with openCreate too: Volume::create follows a symlink that is the last
    // component (it opens the target), so an existing symlink is refused here first.
    if ((flags & (kOpenNoFollow | kOpenExclusive)) == kOpenNoFollow) {
      ext2::Stat existing;
      if (volume_.lookup(path.data, path.size, false, &existing).ok() &&
          (existing.mode & ext2::kModeTypeMask) == ext2::kModeSymlink) {
        return Error::IllegalOperation;
      }
    }
    h = TRY(volume_.create(path.data, path.size, static_cast<uint16_t>(mode & ext2::kModePermissionMask),
                           (flags & kOpenExclusive) != 0));
    s = TRY(volume_.stat(h));
  } else {
    h = TRY(volume_.lookup(path.data, path.size, (flags & kOpenNoFollow) == 0, &s));
  }
  const uint16_t type = s.mode & ext2::kModeTypeMask;
  const bool directory = type == ext2::kModeDirectory;
  if (directory && (flags & kOpenWrite) != 0) return Error::IsDirectory;
  if (!directory && (flags & kOpenDirectory) != 0) return Error::NotDirectory;
  if (type == ext2::kModeSymlink) return Error::IllegalOperation;  // readlink reads links
  if ((flags & kOpenTruncate) != 0 && (flags & kOpenWrite) != 0 && s.size != 0) {
    TRY(volume_.truncate(h, 0));
    s = TRY(volume_.stat(h));
  }
  return s;
}

Result<void> Server::stat(FileSystem::StatParams::Reader p, FileSystem::StatResults::Builder out) {
  (void)TRY(caller_client());
  const capnp::Text path = TRY(path_of(p.path()));
  ext2::Stat s;
  (void)TRY(volume_.lookup(path.data, path.size, p.follow(), &s));
  fill_stat(out.init_stat(), s);
  return {};
}

Result<void> Server::mkdir(FileSystem::MkdirParams::Reader p, FileSystem::MkdirResults::Builder out) {
  (void)TRY(caller_client());
  const capnp::Text path = TRY(path_of(p.path()));
  const ext2::Handle h =
      TRY(volume_.mkdir(path.data, path.size, static_cast<uint16_t>(p.mode() & ext2::kModePermissionMask)));
  fill_stat(out.init_stat(), TRY(volume_.stat(h)));
  return {};
}

Result<void> Server::unlink(FileSystem::UnlinkParams::Reader p, FileSystem::UnlinkResults::Builder) {
  (void)TRY(caller_client());
  const capnp::Text path = TRY(path_of(p.path()));
  return volume_.unlink(path.data, path.size);
}

Result<void> Server::rmdir(FileSystem::RmdirParams::Reader p, FileSystem::RmdirResults::Builder) {
  (void)TRY(caller_client());
  const capnp::Text path = TRY(path_of(p.path()));
  return volume_.rmdir(path.data, path.size);
}

Result<void> Server::rename(FileSystem::RenameParams::Reader p, FileSystem::RenameResults::Builder) {
  (void)TRY(caller_client());
  const capnp::Text from = TRY(path_of(p.from()));
  const capnp::Text to = TRY(path_of(p.to()));
  return volume_.rename(from.data, from.size, to.data, to.size);
}

Result<void> Server::link(FileSystem::LinkParams::Reader p, FileSystem::LinkResults::Builder) {
  (void)TRY(caller_client());
  const capnp::Text existing = TRY(path_of(p.existing()));
  const capnp::Text path = TRY(path_of(p.path()));
  return volume_.link(existing.data, existing.size, path.data, path.size);
}

Result<void> Server::symlink(FileSystem::SymlinkParams::Reader p, FileSystem::SymlinkResults::Builder) {
  (void)TRY(caller_client());
  const capnp::Text target = TRY(path_of(p.target()));
  const capnp::Text path = TRY(path_of(p.path()));
  return volume_.symlink(target.data, target.size, path.data, path.size);
}

Result<void> Server::readlink(FileSystem::ReadlinkParams::Reader p, FileSystem::ReadlinkResults::Builder out) {
  (void)TRY(caller_client());
  const capnp::Text path = TRY(path_of(p.path()));
  char target[kMaxPathBytes];
  const size_t length = TRY(volume_.readlink(path.data, path.size, target, sizeof(target)));
  // A target longer than a message can carry (made by another system) is refused, not cut.
  if (length > sizeof(target)) return Error::RangeError;
  out.set_target(capnp::Text(target, static_cast<uint32_t>(length)));
  return {};
}

Result<void> Server::statfs(FileSystem::StatfsParams::Reader, FileSystem::StatfsResults::Builder out) {
  (void)TRY(caller_client());
  const ext2::FsStat s = TRY(volume_.statfs());
  out.set_block_bytes(s.block_size);
  out.set_blocks(s.blocks);
  out.set_free_blocks(s.free_blocks);
  out.set_inodes(s.inodes);
  out.set_free_inodes(s.free_inodes);
  return {};
}

Result<void> Server::sync(FileSystem::SyncParams::Reader, FileSystem::SyncResults::Builder) {
  (void)TRY(caller_client());
  return volume_.sync();
}

Result<void> Server::status(FileSystem::StatusParams::Reader, FileSystem::StatusResults::Builder out) {
  out.set_requests(counters_.requests);
  out.set_refused(counters_.refused);
  out.set_open_files(open_files_);
  uint32_t clients = 0;
  for (const Client& c : clients_) clients += c.used ? 1 : 0;
  out.set_clients(clients);

  const ext2::CacheStats cache = volume_.cache_stats();
  out.set_cache_hits(cache.hits);
  out.set_cache_misses(cache.misses);
  out.set_block_reads(disk_reads_ != nullptr ? *disk_reads_ : 0);
  out.set_block_writes(disk_writes_ != nullptr ? *disk_writes_ : 0);
  out.set_direct_reads(disk_ != nullptr ? disk_->direct_reads() : 0);
  if (Result<Client*> c = caller_client(); c.ok() && (*c)->direct) {
    out.set_direct_buffer(channels_[*c - clients_].live);
  }
  return {};
}

Result<void> Server::disconnect(FileSystem::DisconnectParams::Reader, FileSystem::DisconnectResults::Builder) {
  drop_client(*TRY(caller_client()));
  return {};
}

// ---- File ---------------------------------------------------------------------------------------

Result<void> Server::read(File::ReadParams::Reader p, File::ReadResults::Builder out) {
  OpenFile& f = *TRY(caller_file());
  if ((f.flags & kOpenRead) == 0) return Error::InsufficientRights;
  if (f.directory) return Error::IsDirectory;
  uint8_t* to = TRY(span(f, p.buffer_offset(), p.bytes()));
  // Into the opener's buffer: in place when it is a channel's data area (BlockDisk::read checks
  // that every piece lies inside it; the cache and metadata never go there).
  if (disk_ != nullptr && clients_[f.client].direct) disk_->aim(&channels_[f.client]);
  Result<size_t> read = volume_.read(f.handle, p.offset(), to, p.bytes());
  if (disk_ != nullptr) disk_->aim(nullptr);
  out.set_bytes(static_cast<uint32_t>(TRY(read)));
  return {};
}

Result<void> Server::write(File::WriteParams::Reader p, File::WriteResults::Builder out) {
  OpenFile& f = *TRY(caller_file());
  if ((f.flags & kOpenWrite) == 0) return Error::InsufficientRights;
  const uint8_t* from = TRY(span(f, p.buffer_offset(), p.bytes()));
  uint64_t offset = p.offset();
  if ((f.flags & kOpenAppend) != 0) offset = TRY(volume_.stat(f.handle)).size;
  const size_t written = TRY(volume_.write(f.handle, offset, from, p.bytes()));
  out.set_bytes(static_cast<uint32_t>(written));
  out.set_size(TRY(volume_.stat(f.handle)).size);
  return {};
}

Result<void> Server::truncate(File::TruncateParams::Reader p, File::TruncateResults::Builder) {
  OpenFile& f = *TRY(caller_file());
  if ((f.flags & kOpenWrite) == 0) return Error::InsufficientRights;
  return volume_.truncate(f.handle, p.size());
}

Result<void> Server::stat(File::StatParams::Reader, File::StatResults::Builder out) {
  OpenFile& f = *TRY(caller_file());
  fill_stat(out.init_stat(), TRY(volume_.stat(f.handle)));
  return {};
}

Result<void> Server::sync(File::SyncParams::Reader, File::SyncResults::Builder) {
  OpenFile& f = *TRY(caller_file());
  return volume_.fsync(f.handle);
}

Result<void> Server::readdir(File::ReaddirParams::Reader p, File::ReaddirResults::Builder out) {
  OpenFile& f = *TRY(caller_file());
  if (!f.directory) return Error::NotDirectory;
  uint8_t* to = TRY(span(f, p.buffer_offset(), p.bytes()));
  if ((p.buffer_offset() & 7) != 0) return Error::AlignmentError;
  struct Packing {
    uint8_t* to;
    uint32_t room;
    uint32_t used;
    uint32_t entries;
  } packing{to, p.bytes(), 0, 0};
  uint64_t cursor = p.cursor();
  const bool end = TRY(volume_.read_directory(
      f.handle, cursor,
      [](void* context, const ext2::DirEntry& entry) {
        Packing& k = *static_cast<Packing*>(context);
        const uint32_t record = dir_record_bytes(entry.name_length);
        if (record > k.room - k.used) return false;
        const DirEntryHeader header{entry.inode, static_cast<uint16_t>(record), entry.type, entry.name_length};
        uint8_t* at = k.to + k.used;
        memcpy(at, &header, sizeof(header));
        memcpy(at + sizeof(header), entry.name, entry.name_length);
        memset(at + sizeof(header) + entry.name_length, 0, record - sizeof(header) - entry.name_length);
        k.used += record;
        ++k.entries;
        return true;
      },
      &packing));
  // Not even one entry fits: say so rather than answer an empty piece that is not the end.
  if (packing.entries == 0 && !end) return Error::RangeError;
  out.set_cursor(cursor);
  out.set_entries(packing.entries);
  out.set_bytes(packing.used);
  out.set_end(end);
  return {};
}

Result<void> Server::close(File::CloseParams::Reader, File::CloseResults::Builder) {
  close_file(*TRY(caller_file()));
  return {};
}

}  // namespace tessera::fs
