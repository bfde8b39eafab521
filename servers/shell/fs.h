// The shell's view of a filesystem: the few operations its commands need (ls, cat, echo > file,
// mkdir, rm, rmdir, mv, ln, stat, df, cd). The commands call only this interface: FsServer
// (fs_server.h) implements it over the filesystem server's client library (servers/fs,
// tessera/fs/client.h); NoFilesystem (every operation NotSupported) stands in when the shell has
// no `endpoint:fs` or cannot connect, and the commands then say "ls: no filesystem".
//
// Paths are absolute and normalised by the shell (path.h) before they get here.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

namespace shell {

enum class FileKind : uint8_t { File, Directory, Symlink, Other };

struct FileStat {
  FileKind kind = FileKind::Other;
  uint64_t size = 0;
  uint64_t inode = 0;
  uint32_t links = 0;
  uint16_t mode = 0;     // permission bits
  uint64_t blocks = 0;   // 512-byte units allocated
  uint32_t mtime = 0;    // seconds
};

struct DirEntry {
  char name[256] = {};
  FileKind kind = FileKind::Other;
  uint64_t inode = 0;
};

struct FsUsage {
  uint64_t total_bytes = 0, free_bytes = 0;
  uint64_t total_inodes = 0, free_inodes = 0;
  uint32_t block_bytes = 0;
};

class FsOps {
 public:
  using EntrySink = void (*)(void* context, const DirEntry& entry);
  using ByteSink = void (*)(void* context, const char* bytes, size_t length);

  // Whether there is a filesystem at all (false: every command answers "no filesystem").
  virtual bool available() { return false; }
  virtual tessera::Result<FileStat> stat(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<FileStat> lstat(const char* path) { return stat(path); }
  // Every entry of directory `path` ("." and ".." included when the filesystem has them).
  virtual tessera::Result<void> list(const char*, EntrySink, void*) { return tessera::Error::NotSupported; }
  // The whole file, in pieces.
  virtual tessera::Result<void> read(const char*, ByteSink, void*) { return tessera::Error::NotSupported; }
  // Writes `length` bytes (creating the file; `append`: at its end, otherwise replacing it).
  virtual tessera::Result<void> write(const char*, const void*, size_t, bool) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> mkdir(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> unlink(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> rmdir(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> rename(const char*, const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> link(const char*, const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> symlink(const char*, const char*) { return tessera::Error::NotSupported; }
  // The link's target, NUL-terminated; answers its length.
  virtual tessera::Result<size_t> readlink(const char*, char*, size_t) { return tessera::Error::NotSupported; }
  virtual tessera::Result<FsUsage> usage() { return tessera::Error::NotSupported; }
  // Everything written so far is on the disk.
  virtual tessera::Result<void> sync() { return tessera::Error::NotSupported; }

 protected:
  ~FsOps() = default;
};

// No filesystem in this system.
class NoFilesystem final : public FsOps {};

}  // namespace shell
