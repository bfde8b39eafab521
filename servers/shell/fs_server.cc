// FsOps over the filesystem server's client library (fs_server.h).
#include "fs_server.h"

#include <tessera/abi/fs.capnp.h>
#include <tessera/fs.h>
#include <tessera/string.h>

namespace shell {
namespace {
namespace fsl = tessera::fs;
using tessera::Error;
using tessera::Result;

constexpr uint32_t kBufferBytes = 64 * 1024;

FileKind kind_of(uint8_t type) {
  switch (type) {
    case fsl::kTypeRegular: return FileKind::File;
    case fsl::kTypeDirectory: return FileKind::Directory;
    case fsl::kTypeSymlink: return FileKind::Symlink;
    default: return FileKind::Other;
  }
}

FileStat stat_of(const fsl::FileInfo& info) {
  FileStat s;
  s.kind = kind_of(info.type);
  s.size = info.size;
  s.inode = info.inode;
  s.links = info.links;
  s.mode = static_cast<uint16_t>(info.mode & 07777);
  s.blocks = info.blocks;
  s.mtime = info.mtime;
  return s;
}
}  // namespace

Result<void> FsServer::connect(tessera::sys::MemorySession& session, tessera::sys::SlotAllocator& slots,
                               tessera::sys::CPtr endpoint) {
  session_ = &session;
  slots_ = &slots;
  endpoint_ = endpoint;
  return client_.connect(session, slots, endpoint, kBufferBytes);
}

template <typename Op>
auto FsServer::again(Op&& op) -> decltype(op()) {
  auto first = op();
  if (first.ok()) return first;
  const Error e = first.error();
  if (e != Error::NoReply && e != Error::IllegalOperation && e != Error::ObjectDeleted &&
      e != Error::InvalidCapability) {
    return first;
  }
  if (!client_.connect(*session_, *slots_, endpoint_, kBufferBytes).ok()) return first;
  ++reconnects_;
  return op();
}

Result<FileStat> FsServer::stat(const char* path) {
  return again([&]() -> Result<FileStat> { return stat_of(TRY(client_.stat(path, true))); });
}
Result<FileStat> FsServer::lstat(const char* path) {
  return again([&]() -> Result<FileStat> { return stat_of(TRY(client_.stat(path, false))); });
}

Result<void> FsServer::list(const char* path, EntrySink each, void* context) {
  return again([&] { return list_once(path, each, context); });
}

Result<void> FsServer::list_once(const char* path, EntrySink each, void* context) {
  fsl::FsFile dir = TRY(client_.open(path, fsl::kOpenRead | fsl::kOpenDirectory));
  uint64_t cursor = 0;
  bool end = false;
  static DirEntry entry;
  while (!end) {
    uint32_t used = 0;
    TRY(dir.readdir(cursor, end, 0, client_.buffer_bytes(), &used));
    if (used > client_.buffer_bytes()) return Error::MalformedMessage;
    // Records the server packed: each checked against what was used before it is read.
    for (uint32_t at = 0; at + sizeof(fsl::DirEntryHeader) <= used;) {
      const auto* header = reinterpret_cast<const fsl::DirEntryHeader*>(client_.buffer() + at);
      const uint32_t bytes = header->record_bytes;
      if (bytes < fsl::dir_record_bytes(header->name_length) || at + bytes > used || header->name_length == 0) {
        return Error::MalformedMessage;
      }
      entry = DirEntry{};
      memcpy(entry.name, fsl::dir_record_name(header), header->name_length);
      entry.name[header->name_length] = '\0';
      entry.kind = kind_of(header->type);
      entry.inode = header->inode;
      each(context, entry);
      at += bytes;
    }
    if (used == 0 && !end) break;  // no progress: do not spin
  }
  return dir.close();
}

Result<void> FsServer::read(const char* path, ByteSink each, void* context) {
  return again([&]() -> Result<void> {
    fsl::FsFile file = TRY(client_.open(path, fsl::kOpenRead));
    uint64_t offset = 0;
    for (;;) {
      const uint32_t n = TRY(file.read(offset, client_.buffer_bytes(), 0));
      if (n == 0) break;
      if (n > client_.buffer_bytes()) return Error::MalformedMessage;
      each(context, reinterpret_cast<const char*>(client_.buffer()), n);
      offset += n;
    }
    return file.close();
  });
}

Result<void> FsServer::write(const char* path, const void* bytes, size_t length, bool append) {
  return again([&]() -> Result<void> {
    const uint32_t flags = fsl::kOpenWrite | fsl::kOpenCreate | (append ? fsl::kOpenAppend : fsl::kOpenTruncate);
    fsl::FsFile file = TRY(client_.open(path, flags, 0644));
    const size_t written = TRY(file.pwrite(bytes, length, 0));
    if (written != length) return Error::NoSpace;
    return file.close();
  });
}

Result<void> FsServer::mkdir(const char* path) {
  return again([&]() -> Result<void> {
    TRY(client_.mkdir(path, 0755));
    return {};
  });
}
Result<void> FsServer::unlink(const char* path) { return again([&] { return client_.unlink(path); }); }
Result<void> FsServer::rmdir(const char* path) { return again([&] { return client_.rmdir(path); }); }
Result<void> FsServer::rename(const char* from, const char* to) { return again([&] { return client_.rename(from, to); }); }
Result<void> FsServer::link(const char* existing, const char* path) {
  return again([&] { return client_.link(existing, path); });
}
Result<void> FsServer::symlink(const char* target, const char* path) {
  return again([&] { return client_.symlink(target, path); });
}
Result<size_t> FsServer::readlink(const char* path, char* out, size_t capacity) {
  return again([&] { return client_.readlink(path, out, capacity); });
}
Result<void> FsServer::sync() { return again([&] { return client_.sync(); }); }

Result<FsUsage> FsServer::usage() {
  return again([&]() -> Result<FsUsage> { return usage_once(); });
}

Result<FsUsage> FsServer::usage_once() {
  const fsl::FsInfo info = TRY(client_.statfs());
  FsUsage u;
  u.block_bytes = info.block_bytes;
  u.total_bytes = info.blocks * info.block_bytes;
  u.free_bytes = info.free_blocks * info.block_bytes;
  u.total_inodes = info.inodes;
  u.free_inodes = info.free_inodes;
  return u;
}

}  // namespace shell
