// The filesystem client library (servers/fs/client): FileSystem and File of abi/fs.capnp over the
// fs server's endpoint, with the shared buffer the server makes for this client (docs/fs.md).
//
//   tessera::fs::FsClient files;
//   TRY(files.connect(session, slots, TRY(sys::find_grant(*block, "endpoint:fs"))));
//   tessera::fs::FsFile f = TRY(files.open("/README", tessera::fs::kOpenRead));
//   const uint32_t n = TRY(f.read(0, 4096));          // the bytes are at files.buffer()
//   TRY(f.close());
//
// Payload moves through the buffer: read()/write() name a span of it (no copy in this library);
// pread()/pwrite() copy between the caller's memory and the buffer for convenience. Paths are C
// strings, absolute. Not thread-safe: one thread per FsClient (its files included).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/abi/fs.capnp.h>
#include <tessera/fs.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace tessera::fs {

struct FileInfo {
  uint32_t inode = 0;
  uint8_t type = kTypeUnknown;  // kTypeRegular, kTypeDirectory, kTypeSymlink, ...
  uint16_t mode = 0;
  uint16_t links = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units
  uint32_t atime = 0, mtime = 0, ctime = 0;
};

struct FsInfo {
  uint32_t block_bytes = 0;
  uint64_t blocks = 0, free_blocks = 0;
  uint32_t inodes = 0, free_inodes = 0;
};

class FsClient;

// An open file: owns its File capability (a slot of the client's allocator); close() gives it
// back (so does the destructor, best effort).
class FsFile {
 public:
  FsFile() = default;
  FsFile(FsFile&& other) { move_from(other); }
  FsFile& operator=(FsFile&& other);
  FsFile(const FsFile&) = delete;
  FsFile& operator=(const FsFile&) = delete;
  ~FsFile() { (void)close(); }

  // File.read: up to `bytes` from `offset` into the buffer at `buffer_offset`; answers the bytes
  // read (0 at the end).
  Result<uint32_t> read(uint64_t offset, uint32_t bytes, uint32_t buffer_offset = 0);
  // File.write: `bytes` from the buffer at `buffer_offset`; answers the bytes written.
  Result<uint32_t> write(uint64_t offset, uint32_t bytes, uint32_t buffer_offset = 0);
  // Copying convenience: any size, in buffer-sized pieces.
  Result<size_t> pread(void* out, size_t bytes, uint64_t offset);
  Result<size_t> pwrite(const void* in, size_t bytes, uint64_t offset);
  Result<void> truncate(uint64_t size);
  Result<FileInfo> stat();
  Result<void> sync();
  // File.readdir into the buffer at `buffer_offset` (`bytes` of room): records of
  // <tessera/fs.h>; `cursor` goes on from where the last call ended. Answers the entries packed.
  Result<uint32_t> readdir(uint64_t& cursor, bool& end, uint32_t buffer_offset, uint32_t bytes, uint32_t* used = nullptr);
  Result<void> close();

  bool valid() const { return cap_ != 0; }
  sys::CPtr cap() const { return cap_; }
  const FileInfo& opened() const { return opened_; }  // stat at open time

 private:
  friend class FsClient;
  void move_from(FsFile& other);
  FsClient* client_ = nullptr;
  sys::CPtr cap_ = 0;
  FileInfo opened_{};
};

class FsClient {
 public:
  FsClient() = default;
  FsClient(const FsClient&) = delete;
  FsClient& operator=(const FsClient&) = delete;

  // Connects to the server on `endpoint` (write + grant rights) and maps the buffer it makes
  // (`buffer_bytes`, 0 for the server's default). Capabilities the server returns arrive in slots
  // of `slots` (of the CNode `cnode`).
  Result<void> connect(sys::MemorySession& session, sys::SlotAllocator& slots, sys::CPtr endpoint,
                       uint32_t buffer_bytes = 0, sys::CPtr cnode = sys::kProcessSlotCNode);
  Result<void> disconnect();

  Result<FsFile> open(const char* path, uint32_t flags, uint16_t mode = 0644);
  Result<FileInfo> stat(const char* path, bool follow = true);
  Result<FileInfo> mkdir(const char* path, uint16_t mode = 0755);
  Result<void> unlink(const char* path);
  Result<void> rmdir(const char* path);
  Result<void> rename(const char* from, const char* to);
  Result<void> link(const char* existing, const char* path);
  Result<void> symlink(const char* target, const char* path);
  // The link's target, NUL-terminated in `out` (RangeError when `capacity` is too small); answers
  // its length.
  Result<size_t> readlink(const char* path, char* out, size_t capacity);
  Result<FsInfo> statfs();
  Result<void> sync();

  uint8_t* buffer() const { return buffer_base_; }
  // The buffer's region capability (the server's, shared with this client read/write).
  sys::CPtr buffer_cap() const { return buffer_.cap(); }
  uint32_t buffer_bytes() const { return buffer_bytes_; }
  sys::CPtr endpoint() const { return endpoint_; }
  bool connected() const { return buffer_base_ != nullptr; }

 private:
  friend class FsFile;
  sys::MemorySession* session_ = nullptr;
  sys::SlotAllocator* slots_ = nullptr;
  sys::CPtr cnode_ = 0;
  sys::CPtr endpoint_ = 0;
  sys::Region buffer_;
  uint8_t* buffer_base_ = nullptr;
  uint32_t buffer_bytes_ = 0;
};

}  // namespace tessera::fs
