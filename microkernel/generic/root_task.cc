#include "generic/root_task.h"

#include <tessera/bootinfo.h>
#include <tessera/string.h>

#include "generic/kernel_layout.h"
#include "generic/log.h"
#include "generic/scheduler.h"
#include "lib/elf.h"
#include "object/address_space.h"
#include "object/tcb.h"

namespace tessera::kernel {
namespace {

Result<uint64_t> zeroed_frame(FrameAllocator& frames) {
  const uint64_t phys = TRY(frames.alloc());
  memset(layout::phys_to_virt(phys), 0, 4096);
  return phys;
}

// Maps the pages of one segment, copying its file bytes. Segments must not share pages.
Result<void> load_segment(FrameAllocator& frames, uint64_t root, const uint8_t* image, const elf::Segment& s) {
  const uint64_t first = align_down(s.vaddr, 4096);
  const uint64_t last = align_up(s.vaddr + s.mem_size, 4096);
  uint8_t access = vspace::kRead;
  if (s.writable) access |= vspace::kWrite;
  if (s.executable) access |= vspace::kExecute;
  for (uint64_t page = first; page < last; page += 4096) {
    const uint64_t frame = TRY(zeroed_frame(frames));
    // Bytes of the file that land in this page.
    const uint64_t file_start = s.vaddr, file_end = s.vaddr + s.file_size;
    const uint64_t copy_start = max(page, file_start), copy_end = min(page + 4096, file_end);
    if (copy_start < copy_end) {
      memcpy(static_cast<uint8_t*>(layout::phys_to_virt(frame)) + (copy_start - page),
             image + s.file_offset + (copy_start - s.vaddr), copy_end - copy_start);
    }
    if (auto r = vspace::map_page(frames, root, page, frame, access); !r) {
      return r.error() == Error::DeleteFirst ? Error::MalformedMessage : r.error();
    }
  }
  return {};
}
}  // namespace

Result<void> start_root_task(BootState& state) {
  const mb2::Module* module = find_module(state, StringView("init"));
  if (module == nullptr) return Error::NotSupported;
  const auto* image = static_cast<const uint8_t*>(layout::phys_to_virt(module->start));
  const uint64_t image_size = module->end - module->start;
  elf::Image elf_image{};
  TRY(elf::parse(image, image_size, kUserAddressLimit, &elf_image));

  FrameAllocator& frames = state.frames;
  const uint64_t root = TRY(vspace::create(frames));
  for (size_t i = 0; i < elf_image.segment_count; ++i) TRY(load_segment(frames, root, image, elf_image.segments[i]));

  for (uint64_t page = kRootStackTop - kRootStackSize; page < kRootStackTop; page += 4096) {
    const uint64_t frame = TRY(zeroed_frame(frames));
    TRY(vspace::map_page(frames, root, page, frame, vspace::kWrite));
  }
  const uint64_t ipc_buffer = TRY(zeroed_frame(frames));
  TRY(vspace::map_page(frames, root, kRootIpcBufferAddress, ipc_buffer, vspace::kWrite));

  const uint64_t info_frame = TRY(zeroed_frame(frames));
  auto* info = layout::phys_to<BootInfo>(info_frame);
  info->magic = kBootInfoMagic;
  info->version = kBootInfoVersion;
  const StringView cmdline = state.cmdline.text();
  const size_t length = min(cmdline.size, sizeof(info->cmdline) - 1);
  memcpy(info->cmdline, cmdline.data, length);
  info->cmdline_length = static_cast<uint32_t>(length);
  info->ipc_buffer = kRootIpcBufferAddress;
  TRY(vspace::map_page(frames, root, kRootBootInfoAddress, info_frame, vspace::kRead));

  // The TCB lives in its own frame (the capability kernel will carve TCBs from untyped memory).
  static_assert(sizeof(Tcb) <= 4096);
  auto* tcb = layout::phys_to<Tcb>(TRY(zeroed_frame(frames)));
  new (tcb) Tcb{};
  memcpy(tcb->name, "init", 5);
  tcb->vspace_root = root;
  tcb->ipc_buffer = kRootIpcBufferAddress;
  tcb->priority = 255;
  tcb->max_controlled_priority = 255;
  tcb->state = ThreadState::Running;
  tcb->reset_fpu();
  tcb->set_initial_registers(elf_image.entry, kRootStackTop, kRootBootInfoAddress);
  info->free_memory_bytes = frames.free_bytes();  // what remains after the root task's own pages
  this_scheduler().enqueue(tcb);
  log::info("root task: %zu segments, entry 0x%lx, %lu KiB of RAM left for untyped memory",
            elf_image.segment_count, elf_image.entry, frames.free_bytes() / 1024);
  return {};
}

}  // namespace tessera::kernel
