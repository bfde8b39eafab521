// FsOps over the filesystem server (servers/fs, abi/fs.capnp) through its client library.
#pragma once

#include <tessera/fs/client.h>

#include "fs.h"

namespace shell {

class FsServer final : public FsOps {
 public:
  tessera::Result<void> connect(tessera::sys::MemorySession& session, tessera::sys::SlotAllocator& slots,
                                tessera::sys::CPtr endpoint);

  bool available() override { return client_.connected(); }
  tessera::Result<FileStat> stat(const char* path) override;
  tessera::Result<FileStat> lstat(const char* path) override;
  tessera::Result<void> list(const char* path, EntrySink each, void* context) override;
  tessera::Result<void> read(const char* path, ByteSink each, void* context) override;
  tessera::Result<void> write(const char* path, const void* bytes, size_t length, bool append) override;
  tessera::Result<void> mkdir(const char* path) override;
  tessera::Result<void> unlink(const char* path) override;
  tessera::Result<void> rmdir(const char* path) override;
  tessera::Result<void> rename(const char* from, const char* to) override;
  tessera::Result<void> link(const char* existing, const char* path) override;
  tessera::Result<void> symlink(const char* target, const char* path) override;
  tessera::Result<size_t> readlink(const char* path, char* out, size_t capacity) override;
  tessera::Result<FsUsage> usage() override;
  tessera::Result<void> sync() override;

 private:
  // Runs `op`; when the server answers as one that does not know this client (it was restarted:
  // NoReply, IllegalOperation before connect, a File of the old one), connects again and runs it
  // once more.
  template <typename Op>
  auto again(Op&& op) -> decltype(op());
  tessera::Result<void> list_once(const char* path, EntrySink each, void* context);
  tessera::Result<FsUsage> usage_once();

  tessera::fs::FsClient client_;
  tessera::sys::MemorySession* session_ = nullptr;
  tessera::sys::SlotAllocator* slots_ = nullptr;
  tessera::sys::CPtr endpoint_ = 0;
  uint64_t reconnects_ = 0;

 public:
  uint64_t reconnects() const { return reconnects_; }
};

}  // namespace shell
