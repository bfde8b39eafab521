#include "lib/multiboot2.h"

#include <tessera/meta.h>

namespace tessera::kernel::mb2 {
namespace {

constexpr size_t kHeaderSize = 8;     // total_size, reserved
constexpr size_t kTagHeaderSize = 8;  // type, size
constexpr size_t kTagAlign = 8;
constexpr size_t kMinMmapEntrySize = 24;
constexpr size_t kRsdpV1Size = 20;
constexpr size_t kRsdpV2Size = 36;

// Little-endian loads that need no alignment; callers have already bounds-checked `p`.
uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint64_t load_u64(const uint8_t* p) {
  return static_cast<uint64_t>(load_u32(p)) | static_cast<uint64_t>(load_u32(p + 4)) << 32;
}

// One tag: its payload is the `size - 8` bytes after the tag header, all inside the buffer.
struct Tag {
  uint32_t type;
  const uint8_t* payload;
  size_t payload_size;
};

// A NUL-terminated string occupying the payload from `offset`; the NUL must be inside the payload.
Result<StringView> read_string(const Tag& tag, size_t offset) {
  if (offset > tag.payload_size) return Error::MalformedMessage;
  const uint8_t* text = tag.payload + offset;
  size_t limit = tag.payload_size - offset;
  for (size_t i = 0; i < limit; ++i) {
    if (text[i] == 0) return StringView(reinterpret_cast<const char*>(text), i);
  }
  return Error::MalformedMessage;
}

MemoryType memory_type_from(uint32_t raw) {
  switch (raw) {
    case 1: return MemoryType::Available;
    case 3: return MemoryType::AcpiReclaimable;
    case 4: return MemoryType::AcpiNvs;
    case 5: return MemoryType::Bad;
    default: return MemoryType::Reserved;
  }
}

Result<void> parse_module(const Tag& tag, BootInfo* out) {
  if (tag.payload_size < 8) return Error::MalformedMessage;
  uint32_t start = load_u32(tag.payload);
  uint32_t end = load_u32(tag.payload + 4);
  if (start > end) return Error::MalformedMessage;
  StringView cmdline = TRY(read_string(tag, 8));
  if (out->module_count == kMaxModules) return Error::RangeError;
  out->modules[out->module_count++] = Module{start, end, cmdline};
  return {};
}

Result<void> parse_memory_map(const Tag& tag, BootInfo* out) {
  if (tag.payload_size < 8) return Error::MalformedMessage;
  size_t entry_size = load_u32(tag.payload);
  // entry_version (payload + 4) is 0 today; later versions only append fields, so it is ignored.
  if (entry_size < kMinMmapEntrySize || entry_size % 8 != 0) return Error::MalformedMessage;
  size_t entries_bytes = tag.payload_size - 8;
  if (entries_bytes % entry_size != 0) return Error::MalformedMessage;
  for (size_t offset = 0; offset < entries_bytes; offset += entry_size) {
    const uint8_t* entry = tag.payload + 8 + offset;
    uint64_t base = load_u64(entry);
    uint64_t length = load_u64(entry + 8);
    uint64_t end = 0;
    if (add_overflows(base, length, &end)) return Error::MalformedMessage;
    if (length == 0) continue;
    if (out->region_count == kMaxRegions) return Error::RangeError;
    out->regions[out->region_count++] = MemoryRegion{base, length, memory_type_from(load_u32(entry + 16))};
  }
  return {};
}

Result<void> parse_framebuffer(const Tag& tag, BootInfo* out) {
  // Common part: address u64, pitch, width, height u32, bpp u8, type u8 (then reserved, colours).
  if (tag.payload_size < 22) return Error::MalformedMessage;
  out->framebuffer.address = load_u64(tag.payload);
  out->framebuffer.pitch = load_u32(tag.payload + 8);
  out->framebuffer.width = load_u32(tag.payload + 12);
  out->framebuffer.height = load_u32(tag.payload + 16);
  out->framebuffer.bpp = tag.payload[20];
  out->framebuffer.type = tag.payload[21];
  out->has_framebuffer = true;
  return {};
}

Result<void> parse_tag(const Tag& tag, BootInfo* out, bool* have_new_rsdp) {
  switch (static_cast<TagType>(tag.type)) {
    case TagType::CommandLine:
      out->cmdline = TRY(read_string(tag, 0));
      return {};
    case TagType::BootloaderName:
      out->bootloader = TRY(read_string(tag, 0));
      return {};
    case TagType::Module:
      return parse_module(tag, out);
    case TagType::BasicMemoryInfo:
      if (tag.payload_size < 8) return Error::MalformedMessage;
      out->mem_lower_kib = load_u32(tag.payload);
      out->mem_upper_kib = load_u32(tag.payload + 4);
      out->has_basic_meminfo = true;
      return {};
    case TagType::MemoryMap:
      return parse_memory_map(tag, out);
    case TagType::Framebuffer:
      return parse_framebuffer(tag, out);
    case TagType::AcpiOldRsdp:
      if (tag.payload_size < kRsdpV1Size) return Error::MalformedMessage;
      if (!*have_new_rsdp) {
        out->acpi_rsdp = tag.payload;
        out->acpi_rsdp_size = tag.payload_size;
      }
      return {};
    case TagType::AcpiNewRsdp:
      if (tag.payload_size < kRsdpV2Size) return Error::MalformedMessage;
      out->acpi_rsdp = tag.payload;
      out->acpi_rsdp_size = tag.payload_size;
      *have_new_rsdp = true;
      return {};
    default:
      return {};  // unknown or unused tag
  }
}

void reset(BootInfo* out) {
  out->cmdline = StringView();
  out->bootloader = StringView();
  out->region_count = 0;
  out->module_count = 0;
  out->has_framebuffer = false;
  out->framebuffer = Framebuffer{0, 0, 0, 0, 0, 0};
  out->acpi_rsdp = nullptr;
  out->acpi_rsdp_size = 0;
  out->mem_lower_kib = 0;
  out->mem_upper_kib = 0;
  out->has_basic_meminfo = false;
  out->total_size = 0;
}

}  // namespace

Result<void> parse(const uint8_t* buffer, size_t capacity, BootInfo* out) {
  reset(out);
  if (buffer == nullptr || capacity < kHeaderSize) return Error::TruncatedMessage;
  size_t total_size = load_u32(buffer);
  if (total_size < kHeaderSize + kTagHeaderSize) return Error::MalformedMessage;
  if (total_size > capacity) return Error::TruncatedMessage;
  out->total_size = total_size;

  bool have_new_rsdp = false;
  size_t offset = kHeaderSize;  // always a multiple of kTagAlign and <= total_size
  for (;;) {
    size_t remaining = total_size - offset;
    if (remaining < kTagHeaderSize) return Error::MalformedMessage;  // no end tag
    uint32_t type = load_u32(buffer + offset);
    size_t size = load_u32(buffer + offset + 4);
    if (size < kTagHeaderSize || size > remaining) return Error::MalformedMessage;
    if (static_cast<TagType>(type) == TagType::End) {
      return size == kTagHeaderSize ? Result<void>() : Result<void>(Error::MalformedMessage);
    }
    TRY(parse_tag(Tag{type, buffer + offset + kTagHeaderSize, size - kTagHeaderSize}, out, &have_new_rsdp));
    size_t padded = align_up(size, kTagAlign);  // size < 2^32: cannot wrap
    if (padded >= remaining) return Error::MalformedMessage;  // the end tag cannot follow
    offset += padded;
  }
}

}  // namespace tessera::kernel::mb2
