#include <tessera/elf.h>

#include <tessera/string.h>

namespace tessera::elf {
namespace {

struct FileHeader {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version;
  uint64_t entry, phoff, shoff;
  uint32_t flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
static_assert(sizeof(FileHeader) == 64);

struct ProgramHeader {
  uint32_t type, flags;
  uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
static_assert(sizeof(ProgramHeader) == 56);

constexpr uint32_t kLoad = 1;
constexpr uint32_t kFlagExecute = 1, kFlagWrite = 2;
constexpr uint64_t kMinimumAddress = 0x1000;

bool range_inside(uint64_t offset, uint64_t length, uint64_t limit) {
  uint64_t end = 0;
  return !add_overflows(offset, length, &end) && end <= limit;
}
}  // namespace

Result<void> parse(const uint8_t* data, size_t size, uint64_t user_top, Image* out) {
  if (data == nullptr || size < sizeof(FileHeader)) return Error::TruncatedMessage;
  FileHeader h;
  memcpy(&h, data, sizeof(h));
  if (memcmp(h.ident, "\x7f" "ELF", 4) != 0) return Error::MalformedMessage;
  if (h.ident[4] != 2 || h.ident[5] != 1) return Error::NotSupported;  // ELFCLASS64, little endian
  if (h.type != 2 || h.machine != 62) return Error::NotSupported;       // ET_EXEC, EM_X86_64
  if (h.phentsize != sizeof(ProgramHeader) || h.phnum == 0) return Error::MalformedMessage;
  if (!range_inside(h.phoff, static_cast<uint64_t>(h.phnum) * sizeof(ProgramHeader), size)) {
    return Error::TruncatedMessage;
  }

  Image image{};
  image.entry = h.entry;
  for (uint16_t i = 0; i < h.phnum; ++i) {
    ProgramHeader ph;
    memcpy(&ph, data + h.phoff + static_cast<uint64_t>(i) * sizeof(ProgramHeader), sizeof(ph));
    if (ph.type != kLoad || ph.memsz == 0) continue;
    if (image.segment_count == kMaxSegments) return Error::RangeError;
    if (ph.filesz > ph.memsz) return Error::MalformedMessage;
    if (!range_inside(ph.offset, ph.filesz, size)) return Error::TruncatedMessage;
    if (ph.vaddr < kMinimumAddress || !range_inside(ph.vaddr, ph.memsz, user_top)) return Error::RangeError;
    const bool writable = (ph.flags & kFlagWrite) != 0;
    const bool executable = (ph.flags & kFlagExecute) != 0;
    if (writable && executable) return Error::InvalidArgument;
    // Segments may share a page only if they do not overlap byte-wise; the loader handles page sharing.
    for (size_t j = 0; j < image.segment_count; ++j) {
      const Segment& other = image.segments[j];
      if (ph.vaddr < other.vaddr + other.mem_size && other.vaddr < ph.vaddr + ph.memsz) {
        return Error::MalformedMessage;
      }
    }
    image.segments[image.segment_count++] = Segment{ph.vaddr, ph.offset, ph.filesz, ph.memsz, writable, executable};
  }
  if (image.segment_count == 0) return Error::MalformedMessage;
  bool entry_ok = false;
  for (size_t j = 0; j < image.segment_count; ++j) {
    const Segment& s = image.segments[j];
    if (s.executable && image.entry >= s.vaddr && image.entry < s.vaddr + s.mem_size) entry_ok = true;
  }
  if (!entry_ok) return Error::InvalidArgument;
  *out = image;
  return {};
}

}  // namespace tessera::elf
