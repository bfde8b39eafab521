// The filesystem protocol's fixed layouts in the shared buffer (abi/fs.capnp, docs/fs.md): the
// records File.readdir packs. Pinned by tests/host/abi (offsets and sizes are ABI).
#pragma once

#include <stdint.h>

namespace tessera::fs {

// One directory entry in a client's buffer: this header, the name (name_length bytes, then a
// NUL), padding to the next multiple of 8. record_bytes is the whole record, so the next one
// starts record_bytes after this one.
struct DirEntryHeader {
  uint32_t inode;
  uint16_t record_bytes;
  uint8_t type;         // fs.capnp typeRegular, typeDirectory, typeSymlink, ... (0: unknown)
  uint8_t name_length;  // 1..255
};
static_assert(sizeof(DirEntryHeader) == 8);

// The bytes a record with a name of `name_length` bytes takes (header, name, NUL, padding).
constexpr uint32_t dir_record_bytes(uint32_t name_length) {
  return (static_cast<uint32_t>(sizeof(DirEntryHeader)) + name_length + 1 + 7) & ~uint32_t{7};
}

// The name that follows a record's header.
inline const char* dir_record_name(const DirEntryHeader* header) {
  return reinterpret_cast<const char*>(header + 1);
}

}  // namespace tessera::fs
