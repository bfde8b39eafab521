#include "object/vspace.h"

#include <tessera/string.h>

#include "arch/x86_64/paging.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"
#include "lib/page_table.h"
#include "object/poison.h"
#include "object/tcb.h"

namespace tessera::kernel::vspace {
namespace {

class DirectMapEnv {
 public:
  explicit DirectMapEnv(FrameAllocator* frames) : frames_(frames) {}
  uint64_t* table(uint64_t phys) {
    uint64_t* entries = layout::phys_to<uint64_t>(phys);
    check_entry(entries[0], entries);  // a walk must never enter a destroyed table
    return entries;
  }
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
  if (root == 0) return Error::InvalidArgument;  // the thread's space is gone
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

void* user_address(uint64_t root, uint64_t vaddr, bool for_write) {
  if (root == 0 || !is_user_address(vaddr)) return nullptr;
  DirectMapEnv env(nullptr);
  pt::Mapper<DirectMapEnv> mapper(env, root);
  auto t = mapper.translate(vaddr);
  if (!t || (t->flags & pt::kUser) == 0 || (for_write && (t->flags & pt::kWritable) == 0)) return nullptr;
  return layout::phys_to_virt(t->phys);
}

Result<void> copy_from_user(uint64_t root, void* dest, uint64_t user_src, uint64_t size) {
  TRY(check_user_range(root, user_src, size, false));
  user_access_begin();
  memcpy(dest, reinterpret_cast<const void*>(user_src), size);
  user_access_end();
  return {};
}

Result<void> copy_to_user(uint64_t root, uint64_t user_dest, const void* src, uint64_t size) {
  TRY(check_user_range(root, user_dest, size, true));
  user_access_begin();
  memcpy(reinterpret_cast<void*>(user_dest), src, size);
  user_access_end();
  return {};
}

}  // namespace tessera::kernel::vspace

namespace tessera::kernel::vspace {
namespace {
uint64_t* physmap_table(void*, uint64_t phys) { return layout::phys_to<uint64_t>(phys); }
uint64_t current_root(void*) { return x86::read_cr3(); }
void invalidate_page(void*, uint64_t vaddr) { x86::invlpg(vaddr); }
void load_root(void*, uint64_t root) { x86::write_cr3(root); }
uint64_t kernel_root(void*) { return paging::kernel_root(); }
bool nx_enabled(void*) { return boot_state().features.nx; }
// kernel_poison: a walk must never follow an entry of a destroyed table.
void entry_read(void*, uint64_t entry, const uint64_t* table) { check_entry(entry, table); }

constexpr TableEnv kPhysmapEnv = [] {
  TableEnv env;
  env.table = physmap_table;
  env.current_root = current_root;
  env.invalidate_page = invalidate_page;
  env.load_root = load_root;
  env.kernel_root = kernel_root;
  env.nx_enabled = nx_enabled;
  if (kPoisonFreed) env.entry_read = entry_read;
  return env;
}();

constinit Tables kernel_tables{kPhysmapEnv};
}  // namespace

Tables& tables() { return kernel_tables; }

}  // namespace tessera::kernel::vspace
