#include "arch/x86_64/acpi.h"

#include <tessera/string.h>

#include "arch/x86_64/paging.h"

namespace tessera::kernel::acpi {
namespace {

struct __attribute__((packed)) Rsdp {
  char signature[8];
  uint8_t checksum;
  char oem[6];
  uint8_t revision;
  uint32_t rsdt;
  uint32_t length;
  uint64_t xsdt;
  uint8_t extended_checksum;
  uint8_t reserved[3];
};

struct __attribute__((packed)) SdtHeader {
  char signature[4];
  uint32_t length;
  uint8_t revision, checksum;
  char oem[6], oem_table[8];
  uint32_t oem_revision, creator, creator_revision;
};

constexpr uint32_t kMaxTableLength = 1u << 20;

bool checksum_ok(const uint8_t* bytes, size_t length) {
  uint8_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
  return sum == 0;
}

template <typename T>
T read_unaligned(const uint8_t* p) {
  T value;
  memcpy(&value, p, sizeof(T));
  return value;
}

// Maps (through the direct map) and validates a table at `phys`.
const SdtHeader* table_at(uint64_t phys) {
  if (phys == 0 || phys >= (1ull << 40)) return nullptr;
  auto mapped = paging::map_firmware(phys, sizeof(SdtHeader));
  if (!mapped) return nullptr;
  const auto* header = static_cast<const SdtHeader*>(*mapped);
  if (header->length < sizeof(SdtHeader) || header->length > kMaxTableLength) return nullptr;
  auto whole = paging::map_firmware(phys, header->length);
  if (!whole) return nullptr;
  header = static_cast<const SdtHeader*>(*whole);
  if (!checksum_ok(reinterpret_cast<const uint8_t*>(header), header->length)) return nullptr;
  return header;
}

void parse_madt(const SdtHeader* madt, InterruptTopology* out) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(madt);
  InterruptTopology t;
  t.ioapic_count = 0;
  t.cpu_count = 0;
  t.lapic_phys = read_unaligned<uint32_t>(bytes + sizeof(SdtHeader));
  size_t offset = sizeof(SdtHeader) + 8;
  while (offset + 2 <= madt->length) {
    const uint8_t type = bytes[offset];
    const uint8_t length = bytes[offset + 1];
    if (length < 2 || offset + length > madt->length) break;
    const uint8_t* e = bytes + offset;
    if (type == 0 && length >= 8 && (read_unaligned<uint32_t>(e + 4) & 1) != 0) {  // enabled local APIC
      if (t.cpu_count < sizeof(t.cpu_apic_ids)) t.cpu_apic_ids[t.cpu_count++] = e[3];
    } else if (type == 1 && length >= 12 && t.ioapic_count < 4) {
      t.ioapics[t.ioapic_count++] = IoApic{e[2], read_unaligned<uint32_t>(e + 4), read_unaligned<uint32_t>(e + 8)};
    } else if (type == 2 && length >= 10 && t.override_count < 16) {
      t.overrides[t.override_count++] =
          IsaOverride{e[3], read_unaligned<uint32_t>(e + 4), read_unaligned<uint16_t>(e + 8)};
    } else if (type == 5 && length >= 12) {
      t.lapic_phys = read_unaligned<uint64_t>(e + 4);
    }
    offset += length;
  }
  if (t.ioapic_count == 0) return;  // unusable: keep the defaults
  if (t.cpu_count == 0) t.cpu_count = 1;
  t.from_firmware = true;
  *out = t;
}
}  // namespace

uint32_t InterruptTopology::gsi_for_isa(uint8_t irq, uint16_t* flags) const {
  for (size_t i = 0; i < override_count; ++i) {
    if (overrides[i].isa_irq == irq) {
      if (flags != nullptr) *flags = overrides[i].flags;
      return overrides[i].gsi;
    }
  }
  if (flags != nullptr) *flags = 0;
  if (!from_firmware && irq == 0) return 2;  // the PC's PIT is on IOAPIC pin 2
  return irq;
}

Result<void> read_topology(const uint8_t* rsdp_bytes, size_t rsdp_size, InterruptTopology* out) {
  if (rsdp_bytes == nullptr || rsdp_size < 20) return Error::NotSupported;
  Rsdp rsdp{};
  memcpy(&rsdp, rsdp_bytes, rsdp_size < sizeof(Rsdp) ? rsdp_size : sizeof(Rsdp));
  if (memcmp(rsdp.signature, "RSD PTR ", 8) != 0 || !checksum_ok(rsdp_bytes, 20)) return Error::MalformedMessage;

  const bool use_xsdt = rsdp.revision >= 2 && rsdp_size >= sizeof(Rsdp) && rsdp.xsdt != 0;
  const SdtHeader* root = table_at(use_xsdt ? rsdp.xsdt : rsdp.rsdt);
  if (root == nullptr) return Error::MalformedMessage;
  const size_t entry_size = use_xsdt ? 8 : 4;
  const auto* entries = reinterpret_cast<const uint8_t*>(root) + sizeof(SdtHeader);
  const size_t count = (root->length - sizeof(SdtHeader)) / entry_size;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t phys = use_xsdt ? read_unaligned<uint64_t>(entries + i * 8) : read_unaligned<uint32_t>(entries + i * 4);
    const SdtHeader* table = table_at(phys);
    if (table != nullptr && memcmp(table->signature, "APIC", 4) == 0) {
      parse_madt(table, out);
      return out->from_firmware ? Result<void>() : Result<void>(Error::MalformedMessage);
    }
  }
  return Error::NotSupported;
}

}  // namespace tessera::kernel::acpi
