// Host test environment for the ext2 core: image-file and in-memory Devices, images made by
// mke2fs from a folder the test fills, and e2fsck/debugfs runs over the result.
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ext2.h"

namespace fstest {

namespace ext2 = tessera::ext2;
using tessera::Error;
using tessera::Result;

// An image file, sector by sector through pread/pwrite.
class FileDevice final : public ext2::Device {
 public:
  explicit FileDevice(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR);
    struct stat st {};
    if (fd_ >= 0) ::fstat(fd_, &st);
    sectors_ = static_cast<uint64_t>(st.st_size) / 512;
  }
  ~FileDevice() {
    if (fd_ >= 0) ::close(fd_);
  }
  Result<void> read(uint64_t sector, uint32_t count, uint8_t* out) override {
    if (sector + count > sectors_) return Error::RangeError;
    ssize_t n = ::pread(fd_, out, size_t{count} * 512, static_cast<off_t>(sector * 512));
    if (n != static_cast<ssize_t>(count) * 512) return Error::IoError;
    reads++;
    return {};
  }
  Result<void> write(uint64_t sector, uint32_t count, const uint8_t* in) override {
    if (sector + count > sectors_) return Error::RangeError;
    ssize_t n = ::pwrite(fd_, in, size_t{count} * 512, static_cast<off_t>(sector * 512));
    if (n != static_cast<ssize_t>(count) * 512) return Error::IoError;
    writes++;
    return {};
  }
  Result<void> flush() override {
    flushes++;
    return {};
  }
  uint64_t sectors() const override { return sectors_; }
  bool ok() const { return fd_ >= 0; }

  uint64_t reads = 0, writes = 0, flushes = 0;

 private:
  int fd_ = -1;
  uint64_t sectors_ = 0;
};

// The whole disk in memory; records the order of block writes when asked.
class MemoryDevice final : public ext2::Device {
 public:
  explicit MemoryDevice(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  Result<void> read(uint64_t sector, uint32_t count, uint8_t* out) override {
    if (sector + count > sectors()) return Error::RangeError;
    std::memcpy(out, bytes_.data() + sector * 512, size_t{count} * 512);
    return {};
  }
  Result<void> write(uint64_t sector, uint32_t count, const uint8_t* in) override {
    if (sector + count > sectors()) return Error::RangeError;
    if (fail_writes) return Error::IoError;
    std::memcpy(bytes_.data() + sector * 512, in, size_t{count} * 512);
    log.push_back({sector, flushes});
    return {};
  }
  Result<void> flush() override {
    flushes++;
    return {};
  }
  uint64_t sectors() const override { return bytes_.size() / 512; }
  std::vector<uint8_t>& bytes() { return bytes_; }

  struct Write {
    uint64_t sector;
    uint64_t flushes_before;
  };
  std::vector<Write> log;
  uint64_t flushes = 0;
  bool fail_writes = false;

 private:
  std::vector<uint8_t> bytes_;
};

struct Command {
  int status;
  std::string output;
};

inline Command run(const std::string& command) {
  Command result{-1, {}};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A fresh scratch folder under $TMPDIR (or /tmp); all of them go when the test program exits
// (set KEEP_FS_SCRATCH to keep them for a look with debugfs).
inline std::string scratch(const std::string& name) {
  struct Cleanup {
    std::string root;
    ~Cleanup() {
      if (getenv("KEEP_FS_SCRATCH") == nullptr) std::filesystem::remove_all(root);
    }
  };
  const char* base = getenv("TMPDIR");
  static Cleanup cleanup{std::string(base != nullptr ? base : "/tmp") + "/tessera-fs-" +
                         std::to_string(getpid())};
  std::string dir = cleanup.root + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline bool make_image(const std::string& image, const std::string& folder, uint32_t block_size,
                       const std::string& size, const std::string& extra = "") {
  run("truncate -s " + size + " " + image);  // the whole size, even where mke2fs writes nothing
  std::string command = "/usr/sbin/mke2fs -t ext2 -b " + std::to_string(block_size) + " -F -q " +
                        extra + (folder.empty() ? "" : " -d " + folder) + " " + image + " " + size;
  Command c = run(command);
  if (c.status != 0) fprintf(stderr, "%s: %s\n", command.c_str(), c.output.c_str());
  return c.status == 0;
}

inline Command fsck(const std::string& image) { return run("/usr/sbin/e2fsck -fn " + image); }

inline std::string debugfs_cat(const std::string& image, const std::string& path) {
  std::string out = scratch("cat") + "/out";
  run("/usr/sbin/debugfs -R 'dump -p " + path + " " + out + "' " + image);
  std::ifstream in(out, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A mounted volume over an image file, with its arena.
struct Mounted {
  explicit Mounted(const std::string& image, size_t arena_bytes = 1 << 20, bool ro = false)
      : device(image), arena(arena_bytes) {
    volume.set_time(static_cast<uint32_t>(time(nullptr)));
    mount_result = device.ok() ? volume.mount(device, arena.data(), arena.size(), ro).error()
                               : Error::IoError;
  }
  FileDevice device;
  std::vector<uint8_t> arena;
  ext2::Volume volume;
  Error mount_result;
};

inline Result<ext2::Handle> look(ext2::Volume& v, const std::string& path, bool follow = true) {
  return v.lookup(path.data(), path.size(), follow);
}

// The whole content of a file through the volume.
inline std::string read_all(ext2::Volume& v, ext2::Handle h) {
  auto st = v.stat(h);
  if (!st.ok()) return "<stat failed>";
  std::string data(st->size, '\0');
  size_t done = 0;
  while (done < data.size()) {
    size_t chunk = std::min<size_t>(data.size() - done, 300000);
    auto n = v.read(h, done, reinterpret_cast<uint8_t*>(data.data()) + done, chunk);
    if (!n.ok() || *n == 0) return "<read failed>";
    done += *n;
  }
  return data;
}

inline Error write_at(ext2::Volume& v, ext2::Handle h, uint64_t offset, const std::string& data) {
  auto n = v.write(h, offset, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (!n.ok()) return n.error();
  return *n == data.size() ? Error::Ok : Error::IoError;
}

}  // namespace fstest
