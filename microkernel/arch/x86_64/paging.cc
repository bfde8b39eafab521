#include "arch/x86_64/paging.h"

#include <tessera/string.h>

#include "generic/kernel_layout.h"
#include "generic/log.h"
#include "lib/page_table.h"

namespace tessera::kernel::paging {
namespace {

// Page-table memory: before the switch reached through the boot mirror of the first GiB at -2 GiB,
// afterwards through the direct map.
class KernelTableEnv {
 public:
  explicit KernelTableEnv(FrameAllocator* frames) : frames_(frames) {}
  uint64_t* table(uint64_t phys) {
    const uint64_t base = direct_map_live_ ? layout::kPhysmapBase : layout::kKernelVirtualBase;
    return reinterpret_cast<uint64_t*>(base + phys);
  }
  Result<uint64_t> alloc_table() {
    if (frames_ == nullptr) return Error::NotEnoughMemory;
    const uint64_t phys = TRY(frames_->alloc());
    if (!direct_map_live_ && phys >= (1ull << 30)) return Error::NotEnoughMemory;
    memset(table(phys), 0, 4096);
    return phys;
  }
  void direct_map_live() { direct_map_live_ = true; }

 private:
  FrameAllocator* frames_;
  bool direct_map_live_ = false;
};

KernelTableEnv env{nullptr};
uint64_t root_phys = 0;
uint64_t mmio_next = layout::kMmioBase;
uint64_t global_flag = 0;
uint64_t nx_flag = 0;
uint64_t physmap_limit = 0;

Result<void> map_range(pt::Mapper<KernelTableEnv>& mapper, uint64_t virt_start, uint64_t virt_end, uint64_t flags) {
  for (uint64_t v = virt_start; v < virt_end; v += 4096) {
    TRY(mapper.map(v, layout::virt_to_phys(reinterpret_cast<void*>(v)), pt::PageSize::Size4K, flags));
  }
  return {};
}

}  // namespace

Result<void> init_kernel_space(FrameAllocator& frames, uint64_t phys_limit, const x86::Features& features) {
  env = KernelTableEnv{&frames};
  global_flag = features.pge ? pt::kGlobal : 0;
  nx_flag = features.nx ? pt::kNoExecute : 0;
  root_phys = TRY(env.alloc_table());
  pt::Mapper<KernelTableEnv> mapper(env, root_phys);

  // The image, W^X: text read+execute, read-only data read-only, data and bss read+write.
  const auto text_start = reinterpret_cast<uint64_t>(__text_start);
  const auto text_end = reinterpret_cast<uint64_t>(__text_end);
  const auto rodata_end = reinterpret_cast<uint64_t>(__rodata_end);
  const auto data_end = reinterpret_cast<uint64_t>(__data_end);
  TRY(map_range(mapper, text_start, text_end, global_flag));
  TRY(map_range(mapper, text_end, rodata_end, global_flag | nx_flag));
  TRY(map_range(mapper, rodata_end, data_end, global_flag | nx_flag | pt::kWritable));

  // The direct map of RAM, with the largest pages the CPU supports.
  const uint64_t limit = align_up(phys_limit, 2ull << 20);
  if (limit > layout::kPhysmapSize) return Error::RangeError;
  for (uint64_t phys = 0; phys < limit;) {
    const uint64_t virt = layout::kPhysmapBase + phys;
    const uint64_t flags = global_flag | nx_flag | pt::kWritable;
    if (features.huge_1g && is_aligned(phys, 1ull << 30) && phys + (1ull << 30) <= limit) {
      TRY(mapper.map(virt, phys, pt::PageSize::Size1G, flags));
      phys += 1ull << 30;
    } else {
      TRY(mapper.map(virt, phys, pt::PageSize::Size2M, flags));
      phys += 2ull << 20;
    }
  }
  // Pre-create the MMIO window's tables' top level so later mappings never add PML4 entries: every
  // address space copies the kernel half of the PML4 once, at creation.
  TRY(mapper.map(layout::kMmioBase, 0, pt::PageSize::Size4K, nx_flag | pt::kCacheDisable | pt::kWriteThrough));
  TRY(mapper.unmap(layout::kMmioBase, pt::PageSize::Size4K));

  x86::write_cr3(root_phys);
  env.direct_map_live();
  physmap_limit = limit;
  return {};
}

namespace {
Result<uint64_t> map_window(uint64_t phys, uint64_t size, uint64_t flags) {
  uint64_t end = 0;
  if (size == 0 || add_overflows(phys, size, &end) || end > (1ull << 52)) return Error::InvalidArgument;
  const uint64_t first = align_down(phys, 4096);
  const uint64_t last = align_up(end, 4096);
  const uint64_t virt = mmio_next;
  pt::Mapper<KernelTableEnv> mapper(env, root_phys);
  for (uint64_t p = first; p < last; p += 4096) {
    TRY(mapper.map(virt + (p - first), p, pt::PageSize::Size4K, flags));
  }
  mmio_next += last - first;
  return virt + (phys - first);
}
}  // namespace

Result<const void*> map_firmware(uint64_t phys, uint64_t size) {
  uint64_t end = 0;
  if (add_overflows(phys, size, &end)) return Error::InvalidArgument;
  if (end <= physmap_limit) return static_cast<const void*>(layout::phys_to_virt(phys));
  const uint64_t virt = TRY(map_window(phys, size, global_flag | nx_flag));
  return reinterpret_cast<const void*>(virt);
}

uint64_t direct_map_limit() { return physmap_limit; }

Result<volatile void*> map_mmio(uint64_t phys, uint64_t size) {
  const uint64_t virt = TRY(map_window(phys, size, global_flag | nx_flag | pt::kWritable | pt::kCacheDisable | pt::kWriteThrough));
  return reinterpret_cast<volatile void*>(virt);
}

uint64_t kernel_root() { return root_phys; }

Result<uint64_t> leaf_flags(uint64_t virt) {
  pt::Mapper<KernelTableEnv> mapper(env, root_phys);
  const pt::Translation t = TRY(mapper.translate(virt));
  return t.flags;
}

}  // namespace tessera::kernel::paging
