#include "arch/x86_64/fw_cfg.h"

#include <stdint.h>

#include <tessera/string.h>

#include "arch/x86_64/cpu.h"

namespace tessera::kernel::fw_cfg {
namespace {
constexpr uint16_t kSelectorPort = 0x510, kDataPort = 0x511;
constexpr uint16_t kSignature = 0x0000, kFileDirectory = 0x0019;

void select(uint16_t key) { x86::outw(kSelectorPort, key); }
void read_bytes(void* out, size_t n) {
  auto* bytes = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < n; ++i) bytes[i] = x86::inb(kDataPort);
}
uint32_t be32(uint32_t v) { return __builtin_bswap32(v); }
uint16_t be16(uint16_t v) { return __builtin_bswap16(v); }

struct __attribute__((packed)) FileEntry {
  uint32_t size;
  uint16_t select;
  uint16_t reserved;
  char name[56];
};
}  // namespace

size_t read_file(const char* name, char* buffer, size_t capacity) {
  if (capacity == 0) return 0;
  buffer[0] = '\0';
  char signature[4];
  select(kSignature);
  read_bytes(signature, 4);
  if (memcmp(signature, "QEMU", 4) != 0) return 0;

  select(kFileDirectory);
  uint32_t count = 0;
  read_bytes(&count, 4);
  count = be32(count);
  for (uint32_t i = 0; i < count && i < 4096; ++i) {
    FileEntry entry;
    read_bytes(&entry, sizeof(entry));
    entry.name[55] = '\0';
    if (strcmp(entry.name, name) != 0) continue;
    const uint32_t size = be32(entry.size);
    const size_t n = size < capacity - 1 ? size : capacity - 1;
    select(be16(entry.select));
    read_bytes(buffer, n);
    buffer[n] = '\0';
    return n;
  }
  return 0;
}

}  // namespace tessera::kernel::fw_cfg
