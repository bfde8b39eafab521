// libFuzzer target over the ext2 core (servers/fs/ext2): the input is a disk image (seeds:
// small mke2fs images in corpus/ext2/, mutated; byte 0 picks read-only and a small cache).
// Mounts it, walks the tree reading every file and symlink, then creates, writes, renames,
// truncates and removes, and unmounts. Every on-disk value is hostile: the core must answer
// errors, never crash, hang or read out of bounds.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ext2.h"

namespace {

namespace ext2 = tessera::ext2;
using tessera::Error;
using tessera::Result;

class MemoryDevice final : public ext2::Device {
 public:
  MemoryDevice(const uint8_t* data, size_t size) : bytes_(data, data + size - size % 512) {}
  Result<void> read(uint64_t sector, uint32_t count, uint8_t* out) override {
    if (sector > sectors() || count > sectors() - sector) return Error::RangeError;
    memcpy(out, bytes_.data() + sector * 512, size_t{count} * 512);
    return {};
  }
  Result<void> write(uint64_t sector, uint32_t count, const uint8_t* in) override {
    if (sector > sectors() || count > sectors() - sector) return Error::RangeError;
    memcpy(bytes_.data() + sector * 512, in, size_t{count} * 512);
    return {};
  }
  Result<void> flush() override { return {}; }
  uint64_t sectors() const override { return bytes_.size() / 512; }

 private:
  std::vector<uint8_t> bytes_;
};

struct Walker {
  ext2::Volume& volume;
  uint32_t visits = 0;
  std::vector<uint8_t> buffer = std::vector<uint8_t>(65536);

  void walk(const std::string& path, uint32_t depth) {
    if (depth > 6 || ++visits > 400) return;
    auto h = volume.lookup(path.data(), path.size(), false);
    if (!h.ok()) return;
    auto st = volume.stat(*h);
    if (!st.ok()) return;
    uint16_t type = st->mode & ext2::kModeTypeMask;
    if (type == ext2::kModeRegular) {
      (void)volume.read(*h, 0, buffer.data(), buffer.size());
      if (st->size > 1000000) (void)volume.read(*h, st->size - 100, buffer.data(), 4096);
    } else if (type == ext2::kModeSymlink) {
      char target[4096];
      (void)volume.readlink(path.data(), path.size(), target, sizeof target);
      (void)volume.lookup(path.data(), path.size(), true);
    } else if (type == ext2::kModeDirectory) {
      uint64_t cursor = 0;
      ext2::DirEntry entry;
      for (int i = 0; i < 200; i++) {
        auto more = volume.readdir(*h, cursor, entry);
        if (!more.ok() || !*more) break;
        std::string name(entry.name, entry.name_length);
        if (name == "." || name == "..") continue;
        walk(path == "/" ? "/" + name : path + "/" + name, depth + 1);
      }
    }
  }
};

void mutate(ext2::Volume& v) {
  std::vector<uint8_t> data(70000);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i * 7);
  auto f = v.create("/fz", 3, 0644, false);
  if (f.ok()) {
    (void)v.write(*f, 0, data.data(), 5000);
    (void)v.write(*f, 300000, data.data(), data.size());
    (void)v.read(*f, 0, data.data(), data.size());
    (void)v.truncate(*f, 2000);
  }
  (void)v.mkdir("/fzd", 4, 0755);
  (void)v.mkdir("/fzd/sub", 8, 0755);
  (void)v.rename("/fz", 3, "/fzd/moved", 10);
  (void)v.symlink("/fzd/moved", 10, "/fzl", 4);
  std::string slow(100, 'q');
  (void)v.symlink(slow.data(), slow.size(), "/fzd/slow", 9);
  (void)v.link("/fzd/moved", 10, "/fzh", 4);
  (void)v.rename("/fzd", 4, "/lost+found/fzd", 15);
  (void)v.unlink("/fzh", 4);
  (void)v.unlink("/lost+found/fzd/moved", 21);
  (void)v.rmdir("/lost+found/fzd/sub", 19);
  (void)v.rmdir("/lost+found/fzd", 15);
  // Existing names too: whatever the image has at the top.
  auto root = v.lookup("/", 1);
  if (root.ok()) {
    uint64_t cursor = 0;
    ext2::DirEntry e;
    for (int i = 0; i < 6; i++) {
      auto more = v.readdir(*root, cursor, e);
      if (!more.ok() || !*more) break;
      std::string path = std::string("/") + e.name;
      if (i % 3 == 0) (void)v.unlink(path.data(), path.size());
      if (i % 3 == 1) (void)v.rmdir(path.data(), path.size());
      if (i % 3 == 2) (void)v.rename(path.data(), path.size(), "/renamed", 8);
    }
  }
  (void)v.sync();
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

// Mutations aimed at the metadata: most edit a small window in the first 48 KiB (superblock,
// descriptors, bitmaps, inode tables and the first directories of the small seed images),
// keeping the image's size; the rest are libFuzzer's own over the whole input.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  std::minstd_rand rng(seed);
  if (size < 8192 || rng() % 8 == 0) return LLVMFuzzerMutate(data, size, max_size);
  size_t window = size_t{16} << (rng() % 6);
  size_t region = rng() % 4 == 0 ? size : (size < 49152 ? size : 49152);
  size_t at = rng() % (region - window);
  uint8_t copy[512];
  memcpy(copy, data + at, window);
  size_t n = LLVMFuzzerMutate(copy, window, window);
  memcpy(data + at, copy, n < window ? n : window);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2048 || size > (4u << 20)) return 0;
  MemoryDevice device(data, size);
  // Byte 0 lies in the boot block, which ext2 leaves alone: it picks the options.
  bool read_only = (data[0] & 1) != 0;
  size_t arena_bytes = (data[0] & 2) != 0 ? ext2::Volume::kMinArenaBytes : 256 * 1024;
  static std::vector<uint8_t> arena(256 * 1024);
  ext2::Volume volume;
  volume.set_time(1700000000);
  if (!volume.mount(device, arena.data(), arena_bytes, read_only).ok()) return 0;
  Walker walker{volume};
  walker.walk("/", 0);
  mutate(volume);
  walker.visits = 0;
  walker.walk("/", 0);
  (void)volume.unmount();
  return 0;
}
