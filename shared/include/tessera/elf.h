// ELF64 executable parsing for loading user programs (the root task by the kernel, other programs by
// libsys's process loader). Pure logic over an untrusted byte buffer: every offset and size is checked.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

namespace tessera::elf {

struct Segment {
  uint64_t vaddr;       // where it is mapped
  uint64_t file_offset; // bytes [file_offset, file_offset + file_size) of the image
  uint64_t file_size;
  uint64_t mem_size;    // >= file_size; the rest is zero-filled
  bool writable, executable;
};

constexpr size_t kMaxSegments = 16;

struct Image {
  uint64_t entry;
  Segment segments[kMaxSegments];
  size_t segment_count;
};

// Parses an x86-64 ELF64 executable (ET_EXEC, little endian). Rejects: truncated headers, program
// headers or segments outside the buffer, overlapping segments, segments reaching above
// `user_top` or below 4 KiB, writable+executable segments (W^X), more than kMaxSegments PT_LOAD
// entries, and an entry point outside every executable segment.
Result<void> parse(const uint8_t* data, size_t size, uint64_t user_top, Image* out);

}  // namespace tessera::elf
