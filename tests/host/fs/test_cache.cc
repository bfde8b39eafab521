// The ext2 core's block cache: write order on sync, eviction under a small arena, and the
// in-memory Device.
#include <catch.hpp>

#include <algorithm>
#include <map>

#include "fs_env.h"

using namespace fstest;

namespace {

std::vector<uint8_t> load(const std::string& path) {
  std::string s = read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

void store(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file(path, std::string(bytes.begin(), bytes.end()));
}

uint64_t number_in(const std::string& text, const std::string& after) {
  size_t at = text.find(after);
  REQUIRE(at != std::string::npos);
  return std::stoull(text.substr(at + after.size()));
}

}  // namespace

TEST_CASE("FSHOST0010 sync writes data and inodes before the directory entries naming them",
          "[fs][cache]") {
  std::string dir = scratch("order");
  std::string image = dir + "/img";
  REQUIRE(make_image(image, "", 1024, "4M"));
  MemoryDevice device(load(image));
  std::vector<uint8_t> arena(1 << 20);
  ext2::Volume v;
  v.set_time(1700000000);
  REQUIRE(v.mount(device, arena.data(), arena.size()).ok());
  device.log.clear();
  uint64_t flushes_at_start = device.flushes;
  auto h = v.create("/ordered", 8, 0644, true);
  REQUIRE(h.ok());
  REQUIRE(write_at(v, *h, 0, random_bytes(5000, 1)) == Error::Ok);
  REQUIRE(v.mkdir("/newdir", 7, 0755).ok());
  REQUIRE(v.sync().ok());
  CHECK(device.flushes >= flushes_at_start + 3);  // one per phase
  REQUIRE(v.unmount().ok());
  store(image, device.bytes());
  CHECK(fsck(image).status == 0);

  // Where things are, from debugfs.
  std::string stat_file = run("/usr/sbin/debugfs -R 'stat /ordered' " + image).output;
  std::string blocks_root = run("/usr/sbin/debugfs -R 'bmap / 0' " + image).output;
  std::string imap = run("/usr/sbin/debugfs -R 'imap /ordered' " + image).output;
  uint64_t root_block = std::stoull(blocks_root.substr(blocks_root.rfind('\n', blocks_root.size() - 2) + 1));
  uint64_t inode_block = number_in(imap, "located at block ");
  uint64_t data_block = number_in(stat_file, "(0-4):");
  auto first_write = [&](uint64_t block) -> std::ptrdiff_t {
    for (size_t i = 0; i < device.log.size(); i++) {
      if (device.log[i].sector == block * 2) return static_cast<std::ptrdiff_t>(i);
    }
    return -1;
  };
  std::ptrdiff_t root_at = first_write(root_block), inode_at = first_write(inode_block),
                 data_at = first_write(data_block);
  REQUIRE(root_at >= 0);
  REQUIRE(inode_at >= 0);
  REQUIRE(data_at >= 0);
  CHECK(data_at < inode_at);
  CHECK(inode_at < root_at);
  CHECK(device.log[size_t(data_at)].flushes_before < device.log[size_t(inode_at)].flushes_before);
  CHECK(device.log[size_t(inode_at)].flushes_before < device.log[size_t(root_at)].flushes_before);
}

TEST_CASE("FSHOST0011 a small cache evicts in order and stays consistent", "[fs][cache]") {
  for (uint32_t block_size : {1024u, 4096u}) {
    std::string dir = scratch("evict" + std::to_string(block_size));
    std::string image = dir + "/img";
    REQUIRE(make_image(image, "", block_size, "16M"));
    MemoryDevice device(load(image));
    std::vector<uint8_t> arena(ext2::Volume::kMinArenaBytes);
    ext2::Volume v;
    v.set_time(1700000000);
    REQUIRE(v.mount(device, arena.data(), arena.size()).ok());
    std::map<std::string, std::string> expect;
    for (int i = 0; i < 40; i++) {
      std::string d = "/d" + std::to_string(i % 5);
      if (i < 5) REQUIRE(v.mkdir(d.data(), d.size(), 0755).ok());
      std::string path = d + "/file" + std::to_string(i);
      auto h = v.create(path.data(), path.size(), 0644, true);
      REQUIRE(h.ok());
      std::string data = random_bytes(size_t(i) * 7919 + 1, uint32_t(i));
      REQUIRE(write_at(v, *h, 0, data) == Error::Ok);
      expect[path] = data;
    }
    for (auto& [path, data] : expect) {
      INFO(path);
      CHECK(read_all(v, *look(v, path)) == data);
    }
    REQUIRE(v.unlink("/d0/file0", 9).ok());
    expect.erase("/d0/file0");
    REQUIRE(v.unmount().ok());
    store(image, device.bytes());
    Command check = fsck(image);
    INFO(check.output);
    CHECK(check.status == 0);
    for (auto& [path, data] : expect) {
      INFO(path);
      CHECK(debugfs_cat(image, path) == data);
    }
  }
}

TEST_CASE("FSHOST0012 device errors are reported, not hidden", "[fs][cache]") {
  std::string dir = scratch("ioerr");
  std::string image = dir + "/img";
  REQUIRE(make_image(image, "", 1024, "4M"));
  MemoryDevice device(load(image));
  std::vector<uint8_t> arena(1 << 20);
  ext2::Volume v;
  REQUIRE(v.mount(device, arena.data(), arena.size()).ok());
  auto h = v.create("/f", 2, 0644, true);
  REQUIRE(h.ok());
  device.fail_writes = true;
  CHECK(v.sync().error() == Error::IoError);
  CHECK(v.unmount().error() == Error::IoError);
  device.fail_writes = false;
  CHECK(v.unmount().ok());
  store(image, device.bytes());
  CHECK(fsck(image).status == 0);
  // Too little arena, mounting twice.
  std::vector<uint8_t> small(1000);
  ext2::Volume w;
  CHECK(w.mount(device, small.data(), small.size()).error() == Error::InvalidArgument);
  REQUIRE(w.mount(device, arena.data(), arena.size()).ok());
  CHECK(w.mount(device, arena.data(), arena.size()).error() == Error::IllegalOperation);
  CHECK(w.unmount().ok());
}

TEST_CASE("FSHOST0014 random operations agree with a model and keep e2fsck clean", "[fs][model]") {
  for (uint32_t block_size : {1024u, 4096u}) {
    std::string dir = scratch("model" + std::to_string(block_size));
    std::string image = dir + "/img";
    REQUIRE(make_image(image, "", block_size, "24M"));
    MemoryDevice device(load(image));
    std::vector<uint8_t> arena(256 * 1024);
    ext2::Volume v;
    v.set_time(1700000000);
    REQUIRE(v.mount(device, arena.data(), arena.size()).ok());
    std::mt19937 rng(block_size);
    std::map<std::string, std::string> files;
    std::vector<std::string> dirs = {""};
    auto pick_dir = [&] { return dirs[rng() % dirs.size()]; };
    for (int step = 0; step < 1500; step++) {
      INFO("step " << step);
      uint32_t op = rng() % 100;
      if (op < 15 || files.empty()) {
        std::string path = pick_dir() + "/f" + std::to_string(rng() % 1000);
        auto h = v.create(path.data(), path.size(), 0644, true);
        if (files.count(path) != 0) {
          CHECK(h.error() == Error::Exists);
        } else if (h.ok()) {
          files[path] = "";
        } else {
          CHECK(h.error() == Error::Exists);  // a directory of that name
        }
        continue;
      }
      auto it = files.begin();
      std::advance(it, rng() % files.size());
      std::string path = it->first;
      std::string& model = it->second;
      auto h = look(v, path);
      REQUIRE(h.ok());
      if (op < 50) {
        size_t offset = rng() % 3 == 0 ? model.size() : rng() % (600 * 1024);
        std::string data = random_bytes(rng() % (rng() % 4 == 0 ? 100000 : 5000) + 1, rng());
        REQUIRE(write_at(v, *h, offset, data) == Error::Ok);
        if (model.size() < offset + data.size()) model.resize(offset + data.size(), '\0');
        model.replace(offset, data.size(), data);
      } else if (op < 60) {
        size_t size = rng() % (700 * 1024);
        REQUIRE(v.truncate(*h, size).ok());
        model.resize(size, '\0');
      } else if (op < 70) {
        CHECK(read_all(v, *h) == model);
      } else if (op < 75) {
        REQUIRE(v.unlink(path.data(), path.size()).ok());
        CHECK(v.stat(*h).error() == Error::ObjectDeleted);
        files.erase(it);
      } else if (op < 82) {
        std::string to = pick_dir() + "/r" + std::to_string(rng() % 1000);
        Error e = v.rename(path.data(), path.size(), to.data(), to.size()).error();
        if (e == Error::Ok) {
          std::string moved = model;
          files.erase(path);
          files[to] = moved;
        } else {
          CHECK(e == Error::IsDirectory);
        }
      } else if (op < 87) {
        std::string d = pick_dir() + "/d" + std::to_string(rng() % 50);
        Error e = v.mkdir(d.data(), d.size(), 0755).error();
        if (e == Error::Ok) dirs.push_back(d);
        else CHECK(e == Error::Exists);
      } else if (op < 90 && dirs.size() > 1) {
        size_t i = 1 + rng() % (dirs.size() - 1);
        std::string d = dirs[i];
        bool empty = true;
        for (auto& [p, _] : files) empty = empty && p.rfind(d + "/", 0) != 0;
        for (auto& other : dirs) empty = empty && other.rfind(d + "/", 0) != 0;
        Error e = v.rmdir(d.data(), d.size()).error();
        CHECK(e == (empty ? Error::Ok : Error::NotEmpty));
        if (e == Error::Ok) dirs.erase(dirs.begin() + static_cast<std::ptrdiff_t>(i));
      } else if (op < 95) {
        std::string to = pick_dir() + "/h" + std::to_string(rng() % 1000);
        Error e = v.link(path.data(), path.size(), to.data(), to.size()).error();
        if (e == Error::Ok) files[to] = model;  // a copy in the model: written only via one name
        // (the model treats links as separate files; keep them in step by unlinking the new one)
        if (e == Error::Ok) {
          REQUIRE(v.unlink(to.data(), to.size()).ok());
          files.erase(to);
        }
      }
      if (step % 250 == 249) {
        REQUIRE(v.sync().ok());
        store(image, device.bytes());
        Command check = fsck(image);
        INFO(check.output);
        CHECK(check.status == 0);
      }
    }
    for (auto& [path, model] : files) {
      INFO(path);
      CHECK(read_all(v, *look(v, path)) == model);
    }
    REQUIRE(v.unmount().ok());
    store(image, device.bytes());
    Command check = fsck(image);
    INFO(check.output);
    CHECK(check.status == 0);
    for (auto& [path, model] : files) {
      if (model.size() > 200000) continue;
      INFO(path);
      CHECK(debugfs_cat(image, path) == model);
    }
  }
}
