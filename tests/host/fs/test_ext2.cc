// The ext2 core against real ext2 images: Tessera reads what mke2fs wrote, and what Tessera
// writes satisfies e2fsck and reads back through debugfs byte for byte (1 KiB and 4 KiB blocks).
#include <catch.hpp>

#include <map>

#include "fs_env.h"

using namespace fstest;

namespace {

constexpr uint64_t kBeyondDouble = 70ull << 20;  // past 1 KiB blocks' double-indirect reach

// The folder mke2fs copies: expected contents by path.
struct Tree {
  std::map<std::string, std::string> files;     // path -> content
  std::map<std::string, std::string> symlinks;  // path -> target
  std::vector<std::string> dirs;
};

Tree fill_folder(const std::string& root) {
  Tree t;
  namespace fs = std::filesystem;
  fs::create_directories(root + "/dir/sub/deeper");
  t.dirs = {"/dir", "/dir/sub", "/dir/sub/deeper"};
  t.files["/empty"] = "";
  t.files["/one"] = "x";
  t.files["/dir/small"] = random_bytes(4095, 1);
  t.files["/dir/sub/block"] = random_bytes(4096, 2);
  t.files["/dir/sub/deeper/mid"] = random_bytes(300000, 3);
  t.files["/large"] = random_bytes(1 << 20, 4);
  for (auto& [path, data] : t.files) write_file(root + path, data);
  // A sparse file: holes, data, holes, data past the double-indirect reach of 1 KiB blocks.
  {
    std::string sparse(kBeyondDouble + 5000, '\0');
    std::string a = random_bytes(5000, 5), b = random_bytes(5000, 6);
    sparse.replace(100000, a.size(), a);
    sparse.replace(kBeyondDouble, b.size(), b);
    int fd = ::open((root + "/sparse").c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(::pwrite(fd, a.data(), a.size(), 100000) == static_cast<ssize_t>(a.size()));
    REQUIRE(::pwrite(fd, b.data(), b.size(), static_cast<off_t>(kBeyondDouble)) ==
            static_cast<ssize_t>(b.size()));
    ::close(fd);
    t.files["/sparse"] = sparse;
  }
  fs::create_hard_link(root + "/one", root + "/dir/hardlink");
  t.files["/dir/hardlink"] = "x";
  t.symlinks["/fastlink"] = "dir/small";
  t.symlinks["/dir/slowlink"] = "../dir/sub/deeper/" + std::string(80, 'y') + "/../../block";
  for (auto& [path, target] : t.symlinks) fs::create_symlink(target, root + path);
  return t;
}

void check_tree(ext2::Volume& v, const Tree& t) {
  for (auto& [path, data] : t.files) {
    INFO(path);
    auto h = look(v, path);
    REQUIRE(h.ok());
    auto st = v.stat(*h);
    REQUIRE(st.ok());
    CHECK((st->mode & ext2::kModeTypeMask) == ext2::kModeRegular);
    CHECK(st->size == data.size());
    CHECK(read_all(v, *h) == data);
  }
  for (auto& [path, target] : t.symlinks) {
    INFO(path);
    char out[4096];
    auto n = v.readlink(path.data(), path.size(), out, sizeof out);
    REQUIRE(n.ok());
    CHECK(std::string(out, *n) == target);
  }
  for (auto& path : t.dirs) {
    auto h = look(v, path);
    REQUIRE(h.ok());
    CHECK((v.stat(*h)->mode & ext2::kModeTypeMask) == ext2::kModeDirectory);
  }
}

std::string listing(ext2::Volume& v, const std::string& path) {
  auto h = look(v, path);
  if (!h.ok()) return "<lookup failed>";
  std::vector<std::string> names;
  uint64_t cursor = 0;
  ext2::DirEntry e;
  for (int i = 0; i < 10000; i++) {
    auto more = v.readdir(*h, cursor, e);
    if (!more.ok()) return "<readdir failed>";
    if (!*more) break;
    names.push_back(e.name);
  }
  std::sort(names.begin(), names.end());
  std::string s;
  for (auto& n : names) s += n + " ";
  return s;
}

}  // namespace

TEST_CASE("FSHOST0001 Tessera reads everything mke2fs wrote", "[fs][read]") {
  for (uint32_t block_size : {1024u, 2048u, 4096u}) {
    INFO("block size " << block_size);
    std::string dir = scratch("read" + std::to_string(block_size));
    Tree t = fill_folder(dir + "/src");
    std::string image = dir + "/img";
    REQUIRE(make_image(image, dir + "/src", block_size, "24M"));
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    check_tree(m.volume, t);
    // Symlinks are followed in the middle and at the end of paths.
    auto via_fast = look(m.volume, "/fastlink");
    REQUIRE(via_fast.ok());
    CHECK(read_all(m.volume, *via_fast) == t.files["/dir/small"]);
    auto via_slow = look(m.volume, "/dir/slowlink");
    CHECK(via_slow.error() == Error::NotFound);  // the y... component does not exist
    // The hard link is the same inode.
    CHECK(look(m.volume, "/one")->inode == look(m.volume, "/dir/hardlink")->inode);
    CHECK(m.volume.stat(*look(m.volume, "/one"))->links == 2);
    CHECK(listing(m.volume, "/dir") == ". .. hardlink slowlink small sub ");
    // `..` at the root stays there; `.` and `..` inside paths.
    CHECK(look(m.volume, "/../../dir/./sub/../small")->inode == look(m.volume, "/dir/small")->inode);
    CHECK(look(m.volume, "/")->inode == ext2::kRootInode);
    auto fs = m.volume.statfs();
    REQUIRE(fs.ok());
    CHECK(fs->block_size == block_size);
    REQUIRE(m.volume.unmount().ok());
    CHECK(fsck(image).status == 0);
  }
}

TEST_CASE("FSHOST0002 what Tessera writes passes e2fsck and reads back through debugfs",
          "[fs][write]") {
  for (uint32_t block_size : {1024u, 4096u}) {
    INFO("block size " << block_size);
    std::string dir = scratch("write" + std::to_string(block_size));
    Tree t = fill_folder(dir + "/src");
    std::string image = dir + "/img";
    REQUIRE(make_image(image, dir + "/src", block_size, "64M"));
    std::map<std::string, std::string> expect;
    {
      Mounted m(image);
      REQUIRE(m.mount_result == Error::Ok);
      ext2::Volume& v = m.volume;
      uint32_t seed = 100;
      for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{1} << 20}) {
        std::string path = "/new" + std::to_string(size);
        auto h = v.create(path.data(), path.size(), 0644, true);
        REQUIRE(h.ok());
        std::string data = random_bytes(size, seed++);
        REQUIRE(write_at(v, *h, 0, data) == Error::Ok);
        expect[path] = data;
      }
      // Beyond the double-indirect reach, with holes.
      {
        std::string path = "/dir/huge";
        auto h = v.create(path.data(), path.size(), 0600, true);
        REQUIRE(h.ok());
        std::string a = random_bytes(3000, 7), b = random_bytes(9000, 8);
        REQUIRE(write_at(v, *h, 5000, a) == Error::Ok);
        REQUIRE(write_at(v, *h, kBeyondDouble - 4000, b) == Error::Ok);
        std::string all(kBeyondDouble + 5000, '\0');
        all.replace(5000, a.size(), a);
        all.replace(kBeyondDouble - 4000, b.size(), b);
        CHECK(read_all(v, *h) == all);
        expect[path] = all;
      }
      // Directories, rename across directories replacing a target, unlink, rmdir.
      REQUIRE(v.mkdir("/made", 5, 0755).ok());
      REQUIRE(v.mkdir("/made/inner", 11, 0755).ok());
      REQUIRE(v.mkdir("/gone", 5, 0755).ok());
      REQUIRE(v.rmdir("/gone", 5).ok());
      REQUIRE(v.rename("/new4095", 8, "/made/inner/moved", 17).ok());
      expect["/made/inner/moved"] = expect["/new4095"];
      expect.erase("/new4095");
      REQUIRE(v.rename("/new1", 5, "/dir/small", 10).ok());  // replaces dir/small
      expect["/dir/small"] = expect["/new1"];
      expect.erase("/new1");
      REQUIRE(v.rename("/made/inner", 11, "/dir/sub/inner2", 15).ok());  // a directory moves
      expect["/dir/sub/inner2/moved"] = expect["/made/inner/moved"];
      expect.erase("/made/inner/moved");
      REQUIRE(v.mkdir("/emptydir", 9, 0755).ok());
      REQUIRE(v.mkdir("/made/target", 12, 0755).ok());
      REQUIRE(v.rename("/emptydir", 9, "/made/target", 12).ok());  // replaces an empty directory
      REQUIRE(v.unlink("/large", 6).ok());
      REQUIRE(v.unlink("/one", 4).ok());  // its hard link remains
      expect["/dir/hardlink"] = "x";
      // Symlinks fast and slow, a hard link.
      std::string slow_target = "/dir/sub/" + std::string(100, 'z');
      REQUIRE(v.symlink("new4096", 7, "/fast2", 6).ok());
      REQUIRE(v.symlink(slow_target.data(), slow_target.size(), "/made/slow2", 11).ok());
      REQUIRE(v.link("/new4096", 8, "/made/link2", 11).ok());
      expect["/made/link2"] = expect["/new4096"];
      // Truncate: shrink freeing indirect blocks, grow sparse.
      {
        auto h = look(v, "/new1048576");
        REQUIRE(h.ok());
        REQUIRE(v.truncate(*h, 70000).ok());
        REQUIRE(v.truncate(*h, 200000).ok());
        std::string data = expect["/new1048576"].substr(0, 70000);
        data.resize(200000, '\0');
        expect["/new1048576"] = data;
        CHECK(read_all(v, *h) == data);
        auto s = look(v, "/sparse");
        REQUIRE(v.truncate(*s, 50000).ok());
        expect["/sparse"] = t.files["/sparse"].substr(0, 50000);
      }
      // Many entries: directories grow past one block.
      for (int i = 0; i < 150; i++) {
        std::string path = "/dir/sub/deeper/f" + std::to_string(i) + std::string(20, 'n');
        REQUIRE(v.create(path.data(), path.size(), 0644, true).ok());
        if (i % 3 == 0) REQUIRE(v.unlink(path.data(), path.size()).ok());
      }
      for (auto& [path, data] : expect) {
        INFO(path);
        auto h = look(v, path);
        REQUIRE(h.ok());
        CHECK(read_all(v, *h) == data);
      }
      char out[256];
      auto n = v.readlink("/made/slow2", 11, out, sizeof out);
      REQUIRE(n.ok());
      CHECK(std::string(out, *n) == slow_target);
      REQUIRE(v.unmount().ok());
    }
    Command check = fsck(image);
    INFO(check.output);
    CHECK(check.status == 0);
    for (auto& [path, data] : expect) {
      INFO(path);
      CHECK(debugfs_cat(image, path) == data);
    }
    CHECK(run("/usr/sbin/debugfs -R 'stat /fast2' " + image).output.find("Fast link dest: \"new4096\"") !=
          std::string::npos);
    CHECK(run("/usr/sbin/debugfs -R 'ls /dir/sub' " + image).output.find("inner2") != std::string::npos);
    // Mount again: everything still there.
    Mounted again(image);
    REQUIRE(again.mount_result == Error::Ok);
    for (auto& [path, data] : expect) {
      INFO(path);
      auto h = look(again.volume, path);
      REQUIRE(h.ok());
      CHECK(read_all(again.volume, *h) == data);
    }
    CHECK(look(again.volume, "/large").error() == Error::NotFound);
    CHECK(look(again.volume, "/made/target")->inode != 0);
    REQUIRE(again.volume.unmount().ok());
  }
}
