// Parser for the multiboot2 boot information structure (GNU Multiboot2 specification, section 3.6).
// The structure comes from the boot loader and is treated as hostile: the parser validates every
// size and offset, never reads outside the bytes the caller says it may read, and returns an error
// instead of trusting a malformed structure.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/result.h>
#include <tessera/string_view.h>

namespace tessera::kernel::mb2 {

// Value of EAX when a multiboot2 loader jumps to the kernel.
constexpr uint32_t kBootloaderMagic = 0x36d76289;

// Tag types this parser understands (others are skipped).
enum class TagType : uint32_t {
  End = 0,
  CommandLine = 1,
  BootloaderName = 2,
  Module = 3,
  BasicMemoryInfo = 4,
  MemoryMap = 6,
  Framebuffer = 8,
  AcpiOldRsdp = 14,
  AcpiNewRsdp = 15,
};

// Memory-map entry types. Values the specification does not define are reported as Reserved.
enum class MemoryType : uint32_t { Available = 1, Reserved = 2, AcpiReclaimable = 3, AcpiNvs = 4, Bad = 5 };

// [base, base + length) as the firmware reported it (may overlap other regions; never empty).
struct MemoryRegion {
  uint64_t base;
  uint64_t length;
  MemoryType type;
};

// A boot module occupying physical [start, end); `cmdline` is the module's string.
struct Module {
  uint64_t start;
  uint64_t end;
  StringView cmdline;
};

struct Framebuffer {
  uint64_t address;
  uint32_t pitch, width, height;
  uint8_t bpp, type;  // type: 0 indexed, 1 direct RGB, 2 EGA text
};

constexpr size_t kMaxRegions = 128, kMaxModules = 32;

// Everything the kernel uses from the boot information. Views and pointers point into the
// caller's buffer, so that buffer must outlive the BootInfo.
struct BootInfo {
  StringView cmdline;
  StringView bootloader;
  MemoryRegion regions[kMaxRegions];
  size_t region_count;
  Module modules[kMaxModules];
  size_t module_count;
  bool has_framebuffer;
  Framebuffer framebuffer;
  const uint8_t* acpi_rsdp;  // the RSDP copy inside the buffer (tag 14 or 15; 15 preferred), or null
  size_t acpi_rsdp_size;
  uint64_t mem_lower_kib, mem_upper_kib;
  bool has_basic_meminfo;
  size_t total_size;  // of the structure
};

// Parses the structure at `buffer`, of which `capacity` bytes may be read (no alignment needed).
// On success `*out` describes the structure. Errors:
//   TruncatedMessage  the buffer is shorter than the 8-byte header or than total_size;
//   MalformedMessage  total_size < 16, a tag smaller than its header or its type's fixed part, a tag
//                     crossing total_size, no end tag, an end tag whose size is not 8, a string
//                     without NUL inside its tag, a bad memory-map entry_size (< 24 or not a
//                     multiple of 8) or entries not filling the tag, a module with start > end,
//                     a memory region whose end passes 2^64;
//   RangeError        more than kMaxRegions non-empty regions or kMaxModules modules.
// Empty memory-map entries are dropped; unknown tags are skipped. On error `*out` is unspecified.
Result<void> parse(const uint8_t* buffer, size_t capacity, BootInfo* out);

}  // namespace tessera::kernel::mb2
