#include <tessera/string.h>

#include "arch/x86_64/paging.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"

namespace tessera::kernel {
namespace {
constinit BootState state_storage{};
constexpr uint64_t kBootMirrorLimit = 1ull << 30;  // the boot tables map the first GiB at -2 GiB
constexpr uint64_t kMaxBootInfoSize = 1ull << 20;

// Reads the multiboot2 structure through `base` (the boot mirror or the direct map).
Result<void> parse_info(uint64_t base, uint64_t phys, mb2::BootInfo* out) {
  uint32_t total = 0;
  memcpy(&total, reinterpret_cast<const void*>(base + phys), sizeof(total));
  if (total > kMaxBootInfoSize) return Error::RangeError;
  return mb2::parse(reinterpret_cast<const uint8_t*>(base + phys), total, out);
}
}  // namespace

BootState& boot_state() { return state_storage; }

const mb2::Module* find_module(const BootState& state, StringView name) {
  for (size_t i = 0; i < state.info.module_count; ++i) {
    if (state.info.modules[i].cmdline.equals(name)) return &state.info.modules[i];
  }
  return nullptr;
}

Result<void> init_memory(uint64_t multiboot_phys, BootState& state) {
  state.multiboot_phys = multiboot_phys;
  if (multiboot_phys + kMaxBootInfoSize > kBootMirrorLimit) return Error::RangeError;
  TRY(parse_info(layout::kKernelVirtualBase, multiboot_phys, &state.info));

  // The memory map, with everything the boot loader placed in RAM carved out of it.
  TRY(state.regions.add_from_multiboot(state.info));
  TRY(state.regions.add(layout::kernel_phys_start(), layout::kernel_phys_end() - layout::kernel_phys_start(),
                        RegionKind::Kernel));
  TRY(state.regions.add(multiboot_phys, state.info.total_size, RegionKind::BootInfo));
  for (size_t i = 0; i < state.info.module_count; ++i) {
    const mb2::Module& m = state.info.modules[i];
    TRY(state.regions.add(m.start, m.end - m.start, RegionKind::Module));
  }
  state.frames.init(state.regions, 0x100000);

  // The direct map covers every range that holds RAM or boot data; firmware tables beyond it are
  // mapped on demand (paging::map_firmware).
  uint64_t limit = 0;
  for (size_t i = 0; i < state.regions.count(); ++i) {
    const PhysRegion& r = state.regions[i];
    if (r.kind != RegionKind::Reserved && r.kind != RegionKind::Bad && r.kind != RegionKind::Device) {
      limit = max(limit, r.end);
    }
  }
  state.phys_limit = limit;
  TRY(paging::init_kernel_space(state.frames, limit, state.features));

  // Pointers into the boot information must survive the switch: parse it again through the direct map.
  return parse_info(layout::kPhysmapBase, multiboot_phys, &state.info);
}

namespace layout {
bool is_kernel_data_address(uint64_t address, uint64_t size) {
  uint64_t end = 0;
  if (add_overflows(address, size, &end)) return false;
  const auto image_start = reinterpret_cast<uint64_t>(__text_start);
  const auto image_end = reinterpret_cast<uint64_t>(__kernel_end);
  if (address >= image_start && end <= image_end) return true;
  return address >= kPhysmapBase && end <= kPhysmapBase + paging::direct_map_limit();
}
}  // namespace layout

}  // namespace tessera::kernel
