// The ext2 core against bad requests, exhausted volumes and hostile images: errors, never a
// crash or a hang, and e2fsck still clean where the image was sound.
#include <catch.hpp>

#include "fs_env.h"

using namespace fstest;

namespace {

std::string debugfs(const std::string& image, const std::string& request, bool write = false) {
  return run(std::string("/usr/sbin/debugfs ") + (write ? "-w " : "") + "-R '" + request + "' " +
             image)
      .output;
}

uint32_t physical_block(const std::string& image, const std::string& path, uint32_t logical) {
  std::string out = debugfs(image, "bmap " + path + " " + std::to_string(logical));
  size_t nl = out.rfind('\n', out.size() - 2);
  return static_cast<uint32_t>(std::stoul(out.substr(nl == std::string::npos ? 0 : nl + 1)));
}

void patch(const std::string& image, uint64_t offset, const void* bytes, size_t n) {
  int fd = ::open(image.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n));
  ::close(fd);
}
void patch32(const std::string& image, uint64_t offset, uint32_t value) {
  patch(image, offset, &value, 4);
}
void patch16(const std::string& image, uint64_t offset, uint16_t value) {
  patch(image, offset, &value, 2);
}

// A small image with a few files and directories.
std::string small_image(const std::string& name, uint32_t block_size = 1024,
                        const std::string& size = "2M", const std::string& extra = "") {
  std::string dir = scratch(name);
  std::filesystem::create_directories(dir + "/src/a/b/c");
  write_file(dir + "/src/file", random_bytes(300000, 9));
  write_file(dir + "/src/a/b/c/leaf", "leaf");
  write_file(dir + "/src/x", "x");
  std::string image = dir + "/img";
  REQUIRE(make_image(image, dir + "/src", block_size, size, extra));
  return image;
}

Error create_error(ext2::Volume& v, const std::string& path) {
  return v.create(path.data(), path.size(), 0644, true).error();
}

}  // namespace

TEST_CASE("FSHOST0003 bad paths and names answer errors", "[fs][paths]") {
  std::string image = small_image("paths");
  Mounted m(image);
  REQUIRE(m.mount_result == Error::Ok);
  ext2::Volume& v = m.volume;
  std::string long_name = "/" + std::string(256, 'n');
  CHECK(create_error(v, long_name) == Error::NameTooLong);
  CHECK(look(v, long_name).error() == Error::NameTooLong);
  CHECK(create_error(v, "/" + std::string(255, 'n')) == Error::Ok);
  std::string long_path;
  for (int i = 0; i < 2100; i++) long_path += "/.";
  CHECK(look(v, long_path).error() == Error::NameTooLong);
  CHECK(look(v, "/../..")->inode == ext2::kRootInode);
  CHECK(look(v, "/x/").error() == Error::NotDirectory);
  CHECK(look(v, "/a//b/")->inode == look(v, "/a/b")->inode);
  CHECK(look(v, "/a/../../../a/b")->inode == look(v, "/a/b")->inode);
  CHECK(create_error(v, "/nothere/f") == Error::NotFound);
  CHECK(create_error(v, "/x/f") == Error::NotDirectory);
  CHECK(create_error(v, "/x") == Error::Exists);
  CHECK(v.create("/a", 2, 0644, false).error() == Error::IsDirectory);
  CHECK(v.create("/x", 2, 0644, false).ok());
  CHECK(v.mkdir("/a", 2, 0755).error() == Error::Exists);
  CHECK(v.mkdir("/", 1, 0755).error() == Error::Exists);
  CHECK(v.unlink("/a", 2).error() == Error::IsDirectory);
  CHECK(v.unlink("/zz", 3).error() == Error::NotFound);
  CHECK(v.rmdir("/x", 2).error() == Error::NotDirectory);
  CHECK(v.rmdir("/", 1).error() == Error::Busy);
  CHECK(v.link("/a", 2, "/alink", 6).error() == Error::IsDirectory);
  CHECK(v.symlink("", 0, "/empty", 6).error() == Error::InvalidArgument);
  // Symlink loops: a cycle and a chain one longer than the limit.
  REQUIRE(v.symlink("/loop2", 6, "/loop1", 6).ok());
  REQUIRE(v.symlink("loop1", 5, "/loop2", 6).ok());
  CHECK(look(v, "/loop1").error() == Error::SymlinkLoop);
  CHECK(look(v, "/loop1/x").error() == Error::SymlinkLoop);
  CHECK(look(v, "/loop1", false).ok());
  std::string previous = "x";
  for (int i = 1; i <= 9; i++) {
    std::string name = "/chain" + std::to_string(i);
    REQUIRE(v.symlink(previous.data(), previous.size(), name.data(), name.size()).ok());
    previous = name.substr(1);
  }
  CHECK(look(v, "/chain8")->inode == look(v, "/x")->inode);
  CHECK(look(v, "/chain9").error() == Error::SymlinkLoop);
  // Directory symlinks in the middle of a path.
  REQUIRE(v.symlink("a/b", 3, "/ab", 3).ok());
  CHECK(look(v, "/ab/c/leaf")->inode == look(v, "/a/b/c/leaf")->inode);
  CHECK(look(v, "/ab/c/leaf/more").error() == Error::NotDirectory);
  CHECK(look(v, "/ab/", false)->inode == look(v, "/a/b")->inode);  // a trailing '/' follows
  CHECK(look(v, "/ab", false)->inode != look(v, "/a/b")->inode);
  CHECK(look(v, "/chain8/").error() == Error::NotDirectory);
  REQUIRE(v.unmount().ok());
  Command check = fsck(image);
  INFO(check.output);
  CHECK(check.status == 0);
}

TEST_CASE("FSHOST0004 writes past the largest file size answer TooLarge", "[fs][limits]") {
  for (uint32_t block_size : {1024u, 4096u}) {
    std::string image = small_image("limits" + std::to_string(block_size), block_size, "4M");
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    ext2::Volume& v = m.volume;
    uint64_t max = v.max_file_size();
    if (block_size == 1024) CHECK(max == (12ull + 256 + 65536 + 16777216) * 1024);
    auto h = look(v, "/x");
    REQUIRE(h.ok());
    CHECK(write_at(v, *h, max, "a") == Error::TooLarge);
    CHECK(write_at(v, *h, max - 1, "ab") == Error::TooLarge);
    CHECK(write_at(v, *h, ~0ull - 1, "ab") == Error::TooLarge);
    CHECK(v.truncate(*h, max + 1).error() == Error::TooLarge);
    CHECK(v.stat(*h)->size == 1);
    // The last byte is writable (triple indirect), and the file reads back sparse.
    CHECK(write_at(v, *h, max - 1, "z") == Error::Ok);
    CHECK(v.stat(*h)->size == max);
    uint8_t byte = 0;
    CHECK(*v.read(*h, max - 1, &byte, 1) == 1);
    CHECK(byte == 'z');
    CHECK(*v.read(*h, max / 2, &byte, 1) == 1);
    CHECK(byte == 0);
    CHECK(*v.read(*h, max, &byte, 1) == 0);
    REQUIRE(v.truncate(*h, 1).ok());
    REQUIRE(v.unmount().ok());
    Command check = fsck(image);
    INFO(check.output);
    CHECK(check.status == 0);
  }
}

TEST_CASE("FSHOST0005 a full disk answers NoSpace and stays consistent", "[fs][nospace]") {
  for (uint32_t block_size : {1024u, 4096u}) {
    std::string image = small_image("full" + std::to_string(block_size), block_size, "2M");
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    ext2::Volume& v = m.volume;
    auto before = *v.statfs();
    // One write bigger than the free space: refused whole.
    auto h = v.create("/fill", 5, 0644, true);
    REQUIRE(h.ok());
    std::string too_big = random_bytes(before.free_blocks * block_size + 1, 10);
    CHECK(write_at(v, *h, 0, too_big) == Error::NoSpace);
    CHECK(v.stat(*h)->size == 0);
    CHECK(v.statfs()->free_blocks == before.free_blocks);
    // Fill by chunks until NoSpace; the failed chunk changes nothing.
    std::string chunk = random_bytes(7000, 11);
    uint64_t offset = 0;
    for (int i = 0; i < 10000; i++) {
      auto free_now = v.statfs()->free_blocks;
      Error e = write_at(v, *h, offset, chunk);
      if (e != Error::Ok) {
        CHECK(e == Error::NoSpace);
        CHECK(v.statfs()->free_blocks == free_now);
        CHECK(v.stat(*h)->size == offset);
        break;
      }
      offset += chunk.size();
    }
    // Fill the last blocks with small writes, then everything that needs a block fails.
    std::string one(1, 'q');
    for (int i = 0; i < 100000 && v.statfs()->free_blocks > 0; i++) {
      if (write_at(v, *h, offset, one) != Error::Ok) break;
      offset++;
    }
    CHECK(v.statfs()->free_blocks == 0);
    CHECK(v.mkdir("/nodir", 6, 0755).error() == Error::NoSpace);
    std::string slow(100, 's');
    CHECK(v.symlink(slow.data(), slow.size(), "/slow", 5).error() == Error::NoSpace);
    CHECK(write_at(v, *h, offset + block_size * 3, one) == Error::NoSpace);
    // Creating many files eventually needs a new directory block.
    Error last = Error::Ok;
    for (int i = 0; i < 2000 && last == Error::Ok; i++) {
      last = create_error(v, "/name-long-enough-to-fill-blocks-" + std::to_string(i));
    }
    CHECK(last == Error::NoSpace);
    CHECK(read_all(v, *h).substr(0, chunk.size()) == chunk);
    // Freeing makes room again.
    REQUIRE(v.unlink("/file", 5).ok());
    CHECK(v.mkdir("/nowdir", 7, 0755).ok());
    REQUIRE(v.unmount().ok());
    Command check = fsck(image);
    INFO(check.output);
    CHECK(check.status == 0);
  }
}

TEST_CASE("FSHOST0006 a full inode table answers NoSpace", "[fs][nospace]") {
  std::string image = small_image("inodes", 1024, "4M", "-N 64");
  Mounted m(image);
  REQUIRE(m.mount_result == Error::Ok);
  ext2::Volume& v = m.volume;
  Error last = Error::Ok;
  int made = 0;
  for (int i = 0; i < 1000 && last == Error::Ok; i++) {
    last = create_error(v, "/f" + std::to_string(i));
    if (last == Error::Ok) made++;
  }
  CHECK(last == Error::NoSpace);
  CHECK(made > 10);
  CHECK(v.statfs()->free_inodes == 0);
  CHECK(v.mkdir("/d", 2, 0755).error() == Error::NoSpace);
  CHECK(v.symlink("t", 1, "/s", 2).error() == Error::NoSpace);
  REQUIRE(v.unlink("/f0", 3).ok());
  CHECK(v.mkdir("/d", 2, 0755).ok());
  REQUIRE(v.unmount().ok());
  Command check = fsck(image);
  INFO(check.output);
  CHECK(check.status == 0);
}

TEST_CASE("FSHOST0007 rmdir and rename refuse what POSIX refuses", "[fs][rename]") {
  std::string image = small_image("rename");
  Mounted m(image);
  REQUIRE(m.mount_result == Error::Ok);
  ext2::Volume& v = m.volume;
  CHECK(v.rmdir("/a", 2).error() == Error::NotEmpty);
  CHECK(v.rmdir("/a/b/c/.", 8).error() == Error::InvalidArgument);
  CHECK(v.rename("/a", 2, "/a/b/c/inside", 13).error() == Error::InvalidArgument);
  CHECK(v.rename("/a", 2, "/a/b", 4).error() == Error::InvalidArgument);
  CHECK(v.rename("/a", 2, "/x", 2).error() == Error::NotDirectory);
  CHECK(v.rename("/x", 2, "/a", 2).error() == Error::IsDirectory);
  REQUIRE(v.mkdir("/e", 2, 0755).ok());
  CHECK(v.rename("/e", 2, "/a", 2).error() == Error::NotEmpty);
  CHECK(v.rename("/nothing", 8, "/y", 2).error() == Error::NotFound);
  CHECK(v.rename("/x", 2, "/x", 2).ok());
  // A directory moves up, then into a sibling; link counts follow.
  REQUIRE(v.rename("/a/b/c", 6, "/c", 2).ok());
  CHECK(v.stat(*look(v, "/a/b"))->links == 2);
  CHECK(v.stat(*look(v, "/"))->links == 6);  // 2 + lost+found, a, c, e
  REQUIRE(v.rename("/c", 2, "/e/c", 4).ok());
  CHECK(look(v, "/e/c/../..")->inode == ext2::kRootInode);
  CHECK(look(v, "/e/c/leaf").ok());
  CHECK(v.rmdir("/a/b", 4).ok());
  REQUIRE(v.unmount().ok());
  Command check = fsck(image);
  INFO(check.output);
  CHECK(check.status == 0);
}

TEST_CASE("FSHOST0008 handles go stale when their inode is deleted", "[fs][handles]") {
  std::string image = small_image("stale");
  Mounted m(image);
  REQUIRE(m.mount_result == Error::Ok);
  ext2::Volume& v = m.volume;
  auto h = v.create("/tmp1", 5, 0644, true);
  REQUIRE(h.ok());
  REQUIRE(write_at(v, *h, 0, "data") == Error::Ok);
  REQUIRE(v.unlink("/tmp1", 5).ok());
  uint8_t buffer[8];
  CHECK(v.stat(*h).error() == Error::ObjectDeleted);
  CHECK(v.read(*h, 0, buffer, 4).error() == Error::ObjectDeleted);
  CHECK(write_at(v, *h, 0, "x") == Error::ObjectDeleted);
  CHECK(v.truncate(*h, 0).error() == Error::ObjectDeleted);
  // The inode is reused: the old handle stays stale, the new one works.
  auto again = v.create("/tmp2", 5, 0644, true);
  REQUIRE(again.ok());
  CHECK(again->inode == h->inode);
  CHECK(again->generation != h->generation);
  CHECK(v.stat(*h).error() == Error::ObjectDeleted);
  CHECK(v.stat(*again).ok());
  CHECK(v.stat(ext2::Handle{0, 0}).error() == Error::InvalidArgument);
  CHECK(v.stat(ext2::Handle{99999999, 0}).error() == Error::InvalidArgument);
  CHECK(v.stat(ext2::Handle{5, 0}).error() == Error::InvalidArgument);  // reserved inodes
  uint64_t cursor = 0;
  ext2::DirEntry e;
  CHECK(v.readdir(*again, cursor, e).error() == Error::NotDirectory);
  REQUIRE(v.unmount().ok());
  CHECK(v.stat(*again).error() == Error::IllegalOperation);
  CHECK(fsck(image).status == 0);
}

TEST_CASE("FSHOST0009 hostile images answer errors", "[fs][hostile]") {
  SECTION("bad superblock") {
    std::string image = small_image("badsb");
    patch16(image, 1024 + 56, 0x1234);  // magic
    CHECK(Mounted(image).mount_result == Error::Corrupted);
    patch16(image, 1024 + 56, 0xEF53);
    patch32(image, 1024 + 0, 12345);  // inodes count
    CHECK(Mounted(image).mount_result == Error::Corrupted);
  }
  SECTION("bad geometry") {
    std::string image = small_image("badgeo");
    patch32(image, 1024 + 4, 1u << 30);  // blocks count beyond the device
    CHECK(Mounted(image).mount_result == Error::Corrupted);
    image = small_image("badlog");
    patch32(image, 1024 + 24, 30);
    CHECK(Mounted(image).mount_result == Error::NotSupported);
    image = small_image("badbpg");
    patch32(image, 1024 + 32, 3);
    CHECK(Mounted(image).mount_result != Error::Ok);
  }
  SECTION("features") {
    std::string image = small_image("incompat");
    uint32_t incompat;
    int fd = ::open(image.c_str(), O_RDONLY);
    REQUIRE(::pread(fd, &incompat, 4, 1024 + 96) == 4);
    ::close(fd);
    patch32(image, 1024 + 96, incompat | 0x40);  // extents
    CHECK(Mounted(image).mount_result == Error::NotSupported);
    patch32(image, 1024 + 96, incompat);
    patch32(image, 1024 + 100, 0x1 | 0x2 | 0x400);  // metadata_csum: read-only
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    CHECK(m.volume.read_only());
    CHECK(create_error(m.volume, "/new") == Error::ReadOnly);
    CHECK(read_all(m.volume, *look(m.volume, "/x")) == "x");
  }
  SECTION("group descriptor out of range") {
    std::string image = small_image("badgd");
    patch32(image, 2048 + 8, 999999);  // group 0's inode table
    CHECK(Mounted(image).mount_result == Error::Corrupted);
  }
  SECTION("directory entry with a bad rec_len") {
    std::string image = small_image("recLen");
    uint32_t block = physical_block(image, "/a/b", 0);
    patch16(image, uint64_t{block} * 1024 + 12 + 4, 2000);  // '..' past the block
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    CHECK(look(m.volume, "/a/b/c").error() == Error::Corrupted);
    patch16(image, uint64_t{block} * 1024 + 4, 5);  // '.': unaligned
    Mounted m2(image);
    uint64_t cursor = 0;
    ext2::DirEntry e;
    CHECK(m2.volume.readdir(*look(m2.volume, "/a/b", true), cursor, e).error() == Error::Corrupted);
    CHECK(create_error(m2.volume, "/a/b/new") == Error::Corrupted);
  }
  SECTION("indirect block pointing past the end") {
    std::string image = small_image("indirect");
    debugfs(image, "sif /file block[IND] 99999999", true);
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    auto h = look(m.volume, "/file");
    REQUIRE(h.ok());
    std::vector<uint8_t> buffer(300000);
    CHECK(m.volume.read(*h, 0, buffer.data(), buffer.size()).error() == Error::Corrupted);
    CHECK(write_at(m.volume, *h, 200000, "x") == Error::Corrupted);
    CHECK(m.volume.truncate(*h, 0).error() == Error::Corrupted);
    CHECK(m.volume.unlink("/file", 5).error() == Error::Corrupted);
  }
  SECTION("`..` cycle and a directory linked into its own subtree") {
    std::string image = small_image("cycle");
    uint32_t c = static_cast<uint32_t>(
        std::stoul(debugfs(image, "stat /a/b/c").substr(debugfs(image, "stat /a/b/c").find("Inode: ") + 7)));
    uint32_t block = physical_block(image, "/a/b", 0);
    patch32(image, uint64_t{block} * 1024 + 12, c);  // b's '..' is c, whose '..' is b
    debugfs(image, "ln /a /a/b/c/up", true);
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    ext2::Volume& v = m.volume;
    REQUIRE(v.mkdir("/m", 2, 0755).ok());
    CHECK(v.rename("/m", 2, "/a/b/c/m", 8).error() == Error::Corrupted);
    std::string deep = "/a";
    for (int i = 0; i < 500; i++) deep += "/b/c/up";
    CHECK(look(v, deep).ok());  // long but finite
    CHECK(look(v, "/a/b/../..").ok());
  }
  SECTION("reachable inode with no links, absurd sizes") {
    std::string image = small_image("links0");
    debugfs(image, "sif /x links_count 0", true);
    debugfs(image, "sif /a/b size 0xFFFFFC00", true);
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    CHECK(look(m.volume, "/x").error() == Error::Corrupted);
    CHECK(look(m.volume, "/a/b/c").error() == Error::Corrupted);
    CHECK(create_error(m.volume, "/a/b/new") == Error::Corrupted);
  }
}

TEST_CASE("FSHOST0013 indexed directories and xattr blocks", "[fs][features]") {
  std::string dir = scratch("htree");
  std::filesystem::create_directories(dir + "/src/big");
  for (int i = 0; i < 400; i++) write_file(dir + "/src/big/entry-with-a-longish-name-" + std::to_string(i), std::to_string(i));
  std::string image = dir + "/img";
  REQUIRE(make_image(image, dir + "/src", 1024, "8M"));
  run("/usr/sbin/e2fsck -fyD " + image);  // builds the hash index of /big
  REQUIRE(debugfs(image, "stat /big").find("Flags: 0x1000") != std::string::npos);
  write_file(dir + "/value", std::string(300, 'v'));
  debugfs(image, "ea_set -f " + dir + "/value /big/entry-with-a-longish-name-1 user.big", true);
  debugfs(image, "ea_set -f " + dir + "/value /big/entry-with-a-longish-name-2 user.big", true);
  REQUIRE(debugfs(image, "stat /big/entry-with-a-longish-name-1").find("File ACL: 0") == std::string::npos);
  {
    Mounted m(image);
    REQUIRE(m.mount_result == Error::Ok);
    ext2::Volume& v = m.volume;
    for (int i = 0; i < 400; i += 37) {
      std::string path = "/big/entry-with-a-longish-name-" + std::to_string(i);
      auto h = look(v, path);
      REQUIRE(h.ok());
      CHECK(read_all(v, *h) == std::to_string(i));
    }
    REQUIRE(v.unlink("/big/entry-with-a-longish-name-1", 32).ok());  // frees its xattr block
    REQUIRE(v.unlink("/big/entry-with-a-longish-name-2", 32).ok());
    REQUIRE(v.create("/big/added", 10, 0644, true).ok());
    REQUIRE(v.unmount().ok());
  }
  CHECK(debugfs(image, "stat /big").find("Flags: 0x0") != std::string::npos);
  Command check = fsck(image);
  INFO(check.output);
  CHECK(check.status == 0);
}
