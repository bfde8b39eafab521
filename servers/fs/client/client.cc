// The filesystem client library (tessera/fs/client.h).
#include <tessera/fs/client.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/ipc.h>

namespace tessera::fs {
namespace {
namespace sys = tessera::sys;
using Plain = FileSystem::Client<sys::CallTransport>;
using Receiving = FileSystem::Client<sys::ReceivingCallTransport>;
using FileCalls = File::Client<sys::CallTransport>;

capnp::Text text(const char* s) { return capnp::Text(s, static_cast<uint32_t>(strlen(s))); }

void delete_slot(sys::SlotAllocator& slots, sys::CPtr cnode, sys::CPtr slot) {
  sys::CallTransport kernel(sys::ipc_buffer());
  (void)abi::CNode::Client<sys::CallTransport>(kernel, cnode).delete_(slot, sys::kSlotDepth);
  (void)slots.free(slot);
}

FileInfo info_of(const Stat::Reader& s) {
  FileInfo i;
  i.inode = s.inode();
  i.type = s.type();
  i.mode = s.mode();
  i.links = s.links();
  i.uid = s.uid();
  i.gid = s.gid();
  i.size = s.size();
  i.blocks = s.blocks();
  i.atime = s.atime();
  i.mtime = s.mtime();
  i.ctime = s.ctime();
  return i;
}
}  // namespace

// ---- FsClient -----------------------------------------------------------------------------------

Result<void> FsClient::connect(sys::MemorySession& session, sys::SlotAllocator& slots, sys::CPtr endpoint,
                               uint32_t buffer_bytes, sys::CPtr cnode) {
  session_ = &session;
  slots_ = &slots;
  cnode_ = cnode;
  endpoint_ = endpoint;
  const sys::CPtr slot = TRY(slots.alloc());
  sys::ReceivingCallTransport transport(sys::ipc_buffer(), cnode, slot);
  Receiving server(transport, endpoint);
  auto reply = server.connect(buffer_bytes);
  if (!reply.ok() || !transport.received()) {
    if (transport.received()) {
      delete_slot(slots, cnode, slot);
    } else {
      (void)slots.free(slot);
    }
    return reply.ok() ? Error::MissingCapability : reply.error();
  }
  const uint32_t bytes = reply->buffer_bytes();
  Result<sys::Region> region = sys::Region::adopt(session, slot);
  if (!region.ok()) {
    delete_slot(slots, cnode, slot);
    return region.error();
  }
  if (region->bytes() < bytes) {
    (void)region->release();
    return Error::RangeError;
  }
  Result<uint8_t*> base = region->attach(memory::kRightRead | memory::kRightWrite);
  if (!base.ok()) {
    (void)region->release();
    return base.error();
  }
  (void)buffer_.release();
  buffer_ = static_cast<sys::Region&&>(*region);
  buffer_base_ = *base;
  buffer_bytes_ = bytes;
  return {};
}

Result<void> FsClient::disconnect() {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  const auto reply = server.disconnect();
  (void)buffer_.release();
  buffer_base_ = nullptr;
  buffer_bytes_ = 0;
  return reply.ok() ? Result<void>{} : Result<void>{reply.error()};
}

Result<FsFile> FsClient::open(const char* path, uint32_t flags, uint16_t mode) {
  const sys::CPtr slot = TRY(slots_->alloc());
  sys::ReceivingCallTransport transport(sys::ipc_buffer(), cnode_, slot);
  Receiving server(transport, endpoint_);
  auto reply = server.open(text(path), flags, mode);
  if (!reply.ok() || !transport.received()) {
    if (transport.received()) {
      delete_slot(*slots_, cnode_, slot);
    } else {
      (void)slots_->free(slot);
    }
    return reply.ok() ? Error::MissingCapability : reply.error();
  }
  FsFile f;
  f.client_ = this;
  f.cap_ = slot;
  const Result<Stat::Reader> s = reply->stat();
  if (s.ok()) f.opened_ = info_of(s.value());
  return f;
}

Result<FileInfo> FsClient::stat(const char* path, bool follow) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  auto reply = TRY(server.stat(text(path), follow));
  return info_of(TRY(reply.stat()));
}

Result<FileInfo> FsClient::mkdir(const char* path, uint16_t mode) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  auto reply = TRY(server.mkdir(text(path), mode));
  return info_of(TRY(reply.stat()));
}

Result<void> FsClient::unlink(const char* path) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  (void)TRY(server.unlink(text(path)));
  return {};
}

Result<void> FsClient::rmdir(const char* path) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  (void)TRY(server.rmdir(text(path)));
  return {};
}

Result<void> FsClient::rename(const char* from, const char* to) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  (void)TRY(server.rename(text(from), text(to)));
  return {};
}

Result<void> FsClient::link(const char* existing, const char* path) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  (void)TRY(server.link(text(existing), text(path)));
  return {};
}

Result<void> FsClient::symlink(const char* target, const char* path) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  (void)TRY(server.symlink(text(target), text(path)));
  return {};
}

Result<size_t> FsClient::readlink(const char* path, char* out, size_t capacity) {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  auto reply = TRY(server.readlink(text(path)));
  const capnp::Text target = TRY(reply.target());
  if (capacity == 0 || target.size > capacity - 1) return Error::RangeError;
  memcpy(out, target.data, target.size);
  out[target.size] = '\0';
  return target.size;
}

Result<FsInfo> FsClient::statfs() {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  auto reply = TRY(server.statfs());
  FsInfo info;
  info.block_bytes = reply.block_bytes();
  info.blocks = reply.blocks();
  info.free_blocks = reply.free_blocks();
  info.inodes = reply.inodes();
  info.free_inodes = reply.free_inodes();
  return info;
}

Result<void> FsClient::sync() {
  sys::CallTransport transport(sys::ipc_buffer());
  Plain server(transport, endpoint_);
  (void)TRY(server.sync());
  return {};
}

// ---- FsFile -------------------------------------------------------------------------------------

void FsFile::move_from(FsFile& other) {
  client_ = other.client_;
  cap_ = other.cap_;
  opened_ = other.opened_;
  other.client_ = nullptr;
  other.cap_ = 0;
}

FsFile& FsFile::operator=(FsFile&& other) {
  if (this != &other) {
    (void)close();
    move_from(other);
  }
  return *this;
}

Result<uint32_t> FsFile::read(uint64_t offset, uint32_t bytes, uint32_t buffer_offset) {
  if (cap_ == 0) return Error::EmptySlot;
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  return TRY(file.read(offset, bytes, buffer_offset)).bytes();
}

Result<uint32_t> FsFile::write(uint64_t offset, uint32_t bytes, uint32_t buffer_offset) {
  if (cap_ == 0) return Error::EmptySlot;
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  return TRY(file.write(offset, bytes, buffer_offset)).bytes();
}

Result<size_t> FsFile::pread(void* out, size_t bytes, uint64_t offset) {
  if (cap_ == 0) return Error::EmptySlot;
  size_t done = 0;
  while (done < bytes) {
    const size_t left = bytes - done;
    const uint32_t piece = left < client_->buffer_bytes() ? static_cast<uint32_t>(left) : client_->buffer_bytes();
    const uint32_t got = TRY(read(offset + done, piece, 0));
    memcpy(static_cast<uint8_t*>(out) + done, client_->buffer(), got);
    done += got;
    if (got < piece) break;
  }
  return done;
}

Result<size_t> FsFile::pwrite(const void* in, size_t bytes, uint64_t offset) {
  if (cap_ == 0) return Error::EmptySlot;
  size_t done = 0;
  while (done < bytes) {
    const size_t left = bytes - done;
    const uint32_t piece = left < client_->buffer_bytes() ? static_cast<uint32_t>(left) : client_->buffer_bytes();
    memcpy(client_->buffer(), static_cast<const uint8_t*>(in) + done, piece);
    const uint32_t put = TRY(write(offset + done, piece, 0));
    done += put;
    if (put < piece) break;
  }
  return done;
}

Result<void> FsFile::truncate(uint64_t size) {
  if (cap_ == 0) return Error::EmptySlot;
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  (void)TRY(file.truncate(size));
  return {};
}

Result<FileInfo> FsFile::stat() {
  if (cap_ == 0) return Error::EmptySlot;
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  auto reply = TRY(file.stat());
  return info_of(TRY(reply.stat()));
}

Result<void> FsFile::sync() {
  if (cap_ == 0) return Error::EmptySlot;
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  (void)TRY(file.sync());
  return {};
}

Result<uint32_t> FsFile::readdir(uint64_t& cursor, bool& end, uint32_t buffer_offset, uint32_t bytes, uint32_t* used) {
  if (cap_ == 0) return Error::EmptySlot;
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  auto reply = TRY(file.readdir(cursor, buffer_offset, bytes));
  cursor = reply.cursor();
  end = reply.end();
  if (used != nullptr) *used = reply.bytes();
  return reply.entries();
}

Result<void> FsFile::close() {
  if (cap_ == 0) return {};
  sys::CallTransport transport(sys::ipc_buffer());
  FileCalls file(transport, cap_);
  const auto reply = file.close();
  // A close the server answered revoked our copy: the slot is empty already. Otherwise (the
  // server is gone, or the File was stale) the capability may still be there: delete it.
  if (reply.ok()) {
    (void)client_->slots_->free(cap_);
  } else {
    delete_slot(*client_->slots_, client_->cnode_, cap_);
  }
  cap_ = 0;
  return reply.ok() ? Result<void>{} : Result<void>{reply.error()};
}

}  // namespace tessera::fs
