// The ext2 core's private vocabulary: on-disk layouts (offsets from the ext2 documentation),
// little-endian field access and the Volume's internal records.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/string.h>

#include "ext2.h"

namespace tessera::ext2 {

// Little-endian fields at any alignment. __builtin_memcpy: one load or store even where the
// target is built with -fno-builtin (a call to memcpy per field made every lookup several times
// slower).
inline uint16_t get16(const uint8_t* p) {
  uint16_t v;
  __builtin_memcpy(&v, p, 2);
  return v;
}
inline uint32_t get32(const uint8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}
inline void put16(uint8_t* p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

// Superblock (at byte 1024 of the volume).
namespace sb {
constexpr size_t kInodesCount = 0, kBlocksCount = 4, kFreeBlocks = 12, kFreeInodes = 16,
                 kFirstDataBlock = 20, kLogBlockSize = 24, kBlocksPerGroup = 32,
                 kInodesPerGroup = 40, kMtime = 44, kWtime = 48, kMntCount = 52, kMagic = 56,
                 kState = 58, kRevLevel = 76, kFirstIno = 84, kInodeSize = 88,
                 kFeatureCompat = 92, kFeatureIncompat = 96, kFeatureRoCompat = 100,
                 kReservedGdt = 206;
constexpr uint16_t kMagicValue = 0xEF53;
constexpr uint16_t kStateValid = 1;
}  // namespace sb

constexpr uint32_t kCompatResizeInode = 0x10, kCompatDirIndex = 0x20;
constexpr uint32_t kIncompatFiletype = 0x2;
constexpr uint32_t kRoCompatSparseSuper = 0x1, kRoCompatLargeFile = 0x2;

// Group descriptor (32 bytes each, in the blocks after the superblock's).
namespace gd {
constexpr size_t kSize = 32, kBlockBitmap = 0, kInodeBitmap = 4, kInodeTable = 8,
                 kFreeBlocks = 12, kFreeInodes = 14, kUsedDirs = 16;
}

// Inode (the first 128 bytes; the rest of a larger inode is kept as it is).
namespace ino {
constexpr size_t kMode = 0, kUid = 2, kSize = 4, kAtime = 8, kCtime = 12, kMtime = 16,
                 kDtime = 20, kGid = 24, kLinks = 26, kBlocks = 28, kFlags = 32, kBlock = 40,
                 kGeneration = 100, kFileAcl = 104, kSizeHigh = 108, kUidHigh = 120,
                 kGidHigh = 122;
constexpr uint32_t kIndexFlag = 0x1000;
constexpr uint32_t kDirect = 12, kIndirect = 12, kDoubleIndirect = 13, kTripleIndirect = 14;
}  // namespace ino

constexpr uint32_t kXattrMagic = 0xEA020000;
constexpr uint32_t kMaxLinks = 65000;
constexpr uint32_t kMaxDirectoryBytes = 1u << 30;  // refuse absurd directory sizes

struct Volume::Inode {
  uint32_t number = 0;
  uint8_t raw[128] = {};

  uint16_t mode() const { return get16(raw + ino::kMode); }
  uint16_t type() const { return static_cast<uint16_t>(mode() & kModeTypeMask); }
  bool is_dir() const { return type() == kModeDirectory; }
  bool is_regular() const { return type() == kModeRegular; }
  bool is_symlink() const { return type() == kModeSymlink; }
  uint16_t links() const { return get16(raw + ino::kLinks); }
  void set_links(uint32_t n) { put16(raw + ino::kLinks, static_cast<uint16_t>(n)); }
  uint64_t size() const {
    uint64_t low = get32(raw + ino::kSize);
    return is_regular() ? low | (static_cast<uint64_t>(get32(raw + ino::kSizeHigh)) << 32) : low;
  }
  void set_size(uint64_t size) {
    put32(raw + ino::kSize, static_cast<uint32_t>(size));
    if (is_regular()) put32(raw + ino::kSizeHigh, static_cast<uint32_t>(size >> 32));
  }
  uint32_t blocks512() const { return get32(raw + ino::kBlocks); }
  void set_blocks512(uint32_t n) { put32(raw + ino::kBlocks, n); }
  uint32_t block(uint32_t i) const { return get32(raw + ino::kBlock + 4 * i); }
  void set_block(uint32_t i, uint32_t b) { put32(raw + ino::kBlock + 4 * i, b); }
  uint32_t flags() const { return get32(raw + ino::kFlags); }
  void set_flags(uint32_t f) { put32(raw + ino::kFlags, f); }
  uint32_t generation() const { return get32(raw + ino::kGeneration); }
  uint32_t file_acl() const { return get32(raw + ino::kFileAcl); }
  void set_time(size_t field, uint32_t t) { put32(raw + field, t); }
};

struct Volume::Group {
  uint32_t index = 0;
  uint32_t block_bitmap = 0, inode_bitmap = 0, inode_table = 0;
  uint32_t free_blocks = 0, free_inodes = 0, used_dirs = 0;
};

// Where a directory entry is: its block (logical and physical), its offset and the offset of
// the entry before it in the block (or -1 when it is the first).
struct Volume::Slot {
  uint64_t logical = 0;
  uint32_t physical = 0;
  uint32_t offset = 0;
  int32_t previous = -1;
  uint32_t inode = 0;
  uint8_t type = 0;
};

// The last component of a path: the directory it is in and its name.
struct Volume::Walk {
  uint32_t parent = 0;
  size_t name_length = 0;  // 0: the path named the root
  char name[kMaxNameLength + 1] = {};
  bool is_dot() const {
    return (name_length == 1 && name[0] == '.') ||
           (name_length == 2 && name[0] == '.' && name[1] == '.');
  }
};

inline uint8_t file_type_of(uint16_t mode) {
  switch (mode & kModeTypeMask) {
    case 0x8000: return kTypeRegular;
    case 0x4000: return kTypeDirectory;
    case 0x2000: return kTypeCharDevice;
    case 0x6000: return kTypeBlockDevice;
    case 0x1000: return kTypeFifo;
    case 0xC000: return kTypeSocket;
    case 0xA000: return kTypeSymlink;
    default: return kTypeUnknown;
  }
}

}  // namespace tessera::ext2
