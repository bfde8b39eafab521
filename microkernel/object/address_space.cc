#include "object/address_space.h"

#include <tessera/string.h>

#include "arch/x86_64/paging.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"
#include "lib/page_table.h"
#include "object/tcb.h"

namespace tessera::kernel::vspace {
namespace {

class DirectMapEnv {
 public:
  explicit DirectMapEnv(FrameAllocator* frames) : frames_(frames) {}
  uint64_t* table(uint64_t phys) { return layout::phys_to<uint64_t>(phys); }
  Result<uint64_t> alloc_table() {
    if (frames_ == nullptr) return Error::NotEnoughMemory;
    const uint64_t phys = TRY(frames_->alloc());
    memset(layout::phys_to_virt(phys), 0, 4096);
    return phys;
  }

 private:
  FrameAllocator* frames_;
};

void user_access_begin() {
  if (boot_state().features.smap) asm volatile("stac" : : : "memory");
}
void user_access_end() {
  if (boot_state().features.smap) asm volatile("clac" : : : "memory");
}
}  // namespace

Result<uint64_t> create(FrameAllocator& frames) {
  DirectMapEnv env(&frames);
  const uint64_t root = TRY(env.alloc_table());
  const uint64_t* kernel = layout::phys_to<uint64_t>(paging::kernel_root());
  uint64_t* user = layout::phys_to<uint64_t>(root);
  for (int i = 256; i < 512; ++i) user[i] = kernel[i];
  return root;
}

Result<void> map_page(FrameAllocator& frames, uint64_t root, uint64_t virt, uint64_t phys, uint8_t access) {
  if (!is_user_address(virt)) return Error::RangeError;
  if ((access & kWrite) != 0 && (access & kExecute) != 0) return Error::InvalidArgument;
  uint64_t flags = pt::kUser;
  if ((access & kWrite) != 0) flags |= pt::kWritable;
  if ((access & kExecute) == 0 && boot_state().features.nx) flags |= pt::kNoExecute;
  DirectMapEnv env(&frames);
  pt::Mapper<DirectMapEnv> mapper(env, root);
  return mapper.map(virt, phys, pt::PageSize::Size4K, flags);
}

Result<void> check_user_range(uint64_t root, uint64_t address, uint64_t size, bool for_write) {
  uint64_t end = 0;
  if (size == 0) return {};
  if (add_overflows(address, size, &end) || !is_user_address(address) || end > kUserAddressLimit) {
    return Error::RangeError;
  }
  DirectMapEnv env(nullptr);
  pt::Mapper<DirectMapEnv> mapper(env, root);
  for (uint64_t page = align_down(address, 4096); page < end; page += 4096) {
    auto t = mapper.translate(page);
    if (!t) return Error::InvalidArgument;
    if ((t->flags & pt::kUser) == 0 || (for_write && (t->flags & pt::kWritable) == 0)) {
      return Error::InvalidArgument;
    }
  }
  return {};
}

Result<void> copy_from_user(uint64_t root, void* dest, uint64_t user_src, uint64_t size) {
  TRY(check_user_range(root, user_src, size, false));
  user_access_begin();
  memcpy(dest, reinterpret_cast<const void*>(user_src), size);
  user_access_end();
  return {};
}

}  // namespace tessera::kernel::vspace
