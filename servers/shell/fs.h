// The shell's view of a filesystem: the few operations its commands need (ls, cat, echo > file,
// mkdir, rm, rmdir, mv, ln, stat, df, cd). The commands call only this interface, so the
// filesystem server's client library (servers/fs) plugs in as one implementation; NoFilesystem
// (every operation NotSupported) stands in while the system has none, and the commands then say
// "ls: no filesystem".
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
  uint64_t modified_ns = 0;
};

struct DirEntry {
  char name[64] = {};
  FileKind kind = FileKind::Other;
};

struct FsUsage {
  uint64_t total_bytes = 0, free_bytes = 0;
  uint64_t total_inodes = 0, free_inodes = 0;
};

class FsOps {
 public:
  // Whether there is a filesystem at all (false: every command answers "no filesystem").
  virtual bool available() { return false; }
  virtual tessera::Result<FileStat> stat(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<FileStat> lstat(const char* path) { return stat(path); }
  // Directory entry number `index` of `path` (RangeError past the last).
  virtual tessera::Result<DirEntry> readdir(const char*, uint32_t) { return tessera::Error::NotSupported; }
  // Reads up to `capacity` bytes at `offset`; 0 at the end.
  virtual tessera::Result<size_t> read(const char*, uint64_t, void*, size_t) { return tessera::Error::NotSupported; }
  // Writes `length` bytes (creating the file; `append`: at its end, otherwise replacing it).
  virtual tessera::Result<void> write(const char*, const void*, size_t, bool) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> mkdir(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> unlink(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> rmdir(const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> rename(const char*, const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> link(const char*, const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<void> symlink(const char*, const char*) { return tessera::Error::NotSupported; }
  virtual tessera::Result<size_t> readlink(const char*, char*, size_t) { return tessera::Error::NotSupported; }
  virtual tessera::Result<FsUsage> usage() { return tessera::Error::NotSupported; }

 protected:
  ~FsOps() = default;
};

// No filesystem in this system.
class NoFilesystem final : public FsOps {};

}  // namespace shell
