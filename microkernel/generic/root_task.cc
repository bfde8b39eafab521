#include "generic/root_task.h"

#include <tessera/bootinfo.h>
#include <tessera/elf.h>
#include <tessera/string.h>

#include "cap/cnode_ops.h"
#include "arch/x86_64/timer.h"
#include "generic/kernel_layout.h"
#include "generic/log.h"
#include "generic/scheduler.h"
#include "generic/trace.h"
#include "lib/page_table.h"
#include "lib/untyped_split.h"
#include "object/vspace.h"
#include "object/kernel_objects.h"
#include "object/tcb.h"

namespace tessera::kernel {
namespace {

using cap::Capability;
using cap::CapSlot;
using cap::ObjectType;

// Hands out the root CNode's slots in order while the root task's capabilities are placed.
class SlotCursor {
 public:
  SlotCursor(CapSlot* slots, uint64_t next) : slots_(slots), next_(next) {}
  Result<CapSlot*> take(uint64_t* index = nullptr) {
    if (next_ >= (uint64_t{1} << kRootCNodeRadix)) return Error::NotEnoughMemory;
    if (index != nullptr) *index = next_;
    return &slots_[next_++];
  }
  uint64_t next() const { return next_; }

 private:
  CapSlot* slots_;
  uint64_t next_;
};

struct RootBuild {
  FrameAllocator& frames;
  CapSlot* slots;
  uint64_t root;          // PML4
  vspace::SpaceId space;
};

Result<uint64_t> zeroed_frame(FrameAllocator& frames) {
  const uint64_t phys = TRY(frames.alloc());
  memset(layout::phys_to_virt(phys), 0, 4096);
  return phys;
}

// A mapped 4 KiB frame cap, with its mapping recorded like Frame.map would.
Result<void> place_mapped_frame(RootBuild& b, CapSlot* slot, uint64_t phys, uint64_t vaddr) {
  TRY(cap::insert_root_cap(capabilities(), slot, Capability::object(ObjectType::Frame4K, phys)));
  mapping_of(slot) = MappingRecord{vaddr, b.space.generation, b.space.asid, 0};
  return {};
}

Result<void> map_new_page(RootBuild& b, SlotCursor& cursor, uint64_t vaddr, uint8_t access, uint64_t* phys_out,
                          CapSlot* fixed_slot = nullptr) {
  const uint64_t phys = TRY(zeroed_frame(b.frames));
  TRY(vspace::map_page(b.frames, b.root, vaddr, phys, access));
  CapSlot* slot = fixed_slot != nullptr ? fixed_slot : TRY(cursor.take());
  TRY(place_mapped_frame(b, slot, phys, vaddr));
  if (phys_out != nullptr) *phys_out = phys;
  return {};
}

// Maps the pages of one ELF segment, copying its file bytes. Segments must not share pages.
Result<void> load_segment(RootBuild& b, SlotCursor& cursor, const uint8_t* image, const elf::Segment& s) {
  const uint64_t first = align_down(s.vaddr, 4096);
  const uint64_t last = align_up(s.vaddr + s.mem_size, 4096);
  uint8_t access = vspace::kRead;
  if (s.writable) access |= vspace::kWrite;
  if (s.executable) access |= vspace::kExecute;
  for (uint64_t page = first; page < last; page += 4096) {
    uint64_t frame = 0;
    if (auto r = map_new_page(b, cursor, page, access, &frame); !r) {
      return r.error() == Error::DeleteFirst ? Error::MalformedMessage : r.error();
    }
    const uint64_t copy_start = max(page, s.vaddr), copy_end = min(page + 4096, s.vaddr + s.file_size);
    if (copy_start < copy_end) {
      memcpy(static_cast<uint8_t*>(layout::phys_to_virt(frame)) + (copy_start - page),
             image + s.file_offset + (copy_start - s.vaddr), copy_end - copy_start);
    }
  }
  return {};
}

// Caps for the paging structures the kernel built for the root VSpace (lower half only).
Result<void> place_paging_caps(RootBuild& b, SlotCursor& cursor) {
  const uint64_t* pml4 = layout::phys_to<uint64_t>(b.root);
  for (uint64_t i = 0; i < 256; ++i) {
    if ((pml4[i] & pt::kPresent) == 0) continue;
    const uint64_t pdpt = pml4[i] & pt::kAddressMask;
    CapSlot* slot = TRY(cursor.take());
    TRY(cap::insert_root_cap(capabilities(), slot, Capability::object(ObjectType::Pdpt, pdpt)));
    mapping_of(slot) = MappingRecord{i << 39, b.space.generation, b.space.asid, 0};
    const uint64_t* pdpt_entries = layout::phys_to<uint64_t>(pdpt);
    for (uint64_t j = 0; j < 512; ++j) {
      if ((pdpt_entries[j] & pt::kPresent) == 0) continue;
      const uint64_t pd = pdpt_entries[j] & pt::kAddressMask;
      CapSlot* pd_slot = TRY(cursor.take());
      TRY(cap::insert_root_cap(capabilities(), pd_slot, Capability::object(ObjectType::PageDirectory, pd)));
      mapping_of(pd_slot) = MappingRecord{(i << 39) | (j << 30), b.space.generation, b.space.asid, 0};
      const uint64_t* pd_entries = layout::phys_to<uint64_t>(pd);
      for (uint64_t k = 0; k < 512; ++k) {
        if ((pd_entries[k] & pt::kPresent) == 0) continue;
        CapSlot* pt_slot = TRY(cursor.take());
        TRY(cap::insert_root_cap(capabilities(), pt_slot,
                                 Capability::object(ObjectType::PageTable, pd_entries[k] & pt::kAddressMask)));
        mapping_of(pt_slot) =
            MappingRecord{(i << 39) | (j << 30) | (k << 21), b.space.generation, b.space.asid, 0};
      }
    }
  }
  return {};
}

// Everything the boot allocator has left becomes untyped memory, in naturally aligned blocks.
Result<void> place_untyped(RootBuild& b, SlotCursor& cursor, BootInfo* info) {
  const uint64_t first = cursor.next();
  uint64_t total = 0;
  size_t described = 0;
  for (size_t i = 0; i < b.frames.remaining_count(); ++i) {
    const PhysRegion r = b.frames.remaining(i);
    UntypedBlock blocks[64];
    const size_t n = split_into_untyped(r.base, r.end, 12, 47, blocks, 64);
    for (size_t j = 0; j < n && j < 64; ++j) {
      if (described == kMaxBootUntypeds) break;
      CapSlot* slot = TRY(cursor.take());
      TRY(cap::insert_root_cap(capabilities(), slot, Capability::untyped(blocks[j].base, blocks[j].size_bits, false)));
      info->untyped_list[described++] = UntypedDescriptor{blocks[j].base, blocks[j].size_bits, 0, {}};
      total += uint64_t{1} << blocks[j].size_bits;
    }
  }
  info->free_memory_bytes = total;

  // Device memory: the physical window between the end of RAM/firmware below 3 GiB and the
  // IOAPIC, where PCI devices' MMIO lives (frames and untyped only; never zeroed; uncached).
  const BootState& s = boot_state();
  uint64_t start = 0;
  for (size_t i = 0; i < s.regions.count(); ++i) {
    if (s.regions[i].base < 0xC0000000ull) start = max(start, s.regions[i].end);
  }
  start = align_up(start, 2ull << 20);
  constexpr uint64_t kDeviceWindowEnd = 0xFEC00000ull;  // IOAPIC and LAPIC above stay the kernel's
  UntypedBlock blocks[64];
  const size_t n = start < kDeviceWindowEnd ? split_into_untyped(start, kDeviceWindowEnd, 12, 47, blocks, 64) : 0;
  for (size_t j = 0; j < n && j < 64 && described < kMaxBootUntypeds; ++j) {
    bool overlaps = false;
    const uint64_t end = blocks[j].base + (uint64_t{1} << blocks[j].size_bits);
    for (size_t i = 0; i < s.regions.count(); ++i) {
      if (blocks[j].base < s.regions[i].end && s.regions[i].base < end) overlaps = true;
    }
    if (overlaps) continue;
    CapSlot* slot = TRY(cursor.take());
    TRY(cap::insert_root_cap(capabilities(), slot, Capability::untyped(blocks[j].base, blocks[j].size_bits, true)));
    info->untyped_list[described++] = UntypedDescriptor{blocks[j].base, blocks[j].size_bits, 1, {}};
  }
  info->untyped = SlotRegion{first, cursor.next()};
  return {};
}
}  // namespace

Result<void> start_root_task(BootState& state) {
  const mb2::Module* module = find_module(state, StringView("init"));
  if (module == nullptr) return Error::NotSupported;
  const auto* image = static_cast<const uint8_t*>(layout::phys_to_virt(module->start));
  elf::Image elf_image{};
  TRY(elf::parse(image, module->end - module->start, kUserAddressLimit, &elf_image));

  init_capabilities();
  cap::CapContext& ctx = capabilities();
  FrameAllocator& frames = state.frames;

  // The root CNode (2^radix slots, aligned to its size) holding its own cap.
  constexpr uint64_t kCNodeBytes = uint64_t{1} << (kRootCNodeRadix + cap::kSlotSizeBits);
  const uint64_t cnode = TRY(frames.alloc_contiguous(kCNodeBytes / 4096, kCNodeBytes));
  memset(layout::phys_to_virt(cnode), 0, kCNodeBytes);
  auto* slots = layout::phys_to<CapSlot>(cnode);
  TRY(cap::insert_root_cap(ctx, &slots[kSlotRootCNode],
                           Capability::cnode(cnode, kRootCNodeRadix).with_guard(0, 64 - kRootCNodeRadix)));

  // Address space, thread and the control capabilities.
  const uint64_t pml4 = TRY(zeroed_frame(frames));
  vspace::init_root(pml4);
  TRY(cap::insert_root_cap(ctx, &slots[kSlotRootVSpace], Capability::object(ObjectType::Pml4, pml4)));
  const uint64_t tcb_phys = TRY(zeroed_frame(frames));
  Tcb* tcb = new (tcb_at(tcb_phys)) Tcb{};
  TRY(cap::insert_root_cap(ctx, &slots[kSlotRootTcb], Capability::object(ObjectType::Tcb, tcb_phys)));
  TRY(cap::insert_root_cap(ctx, &slots[kSlotIrqControl], Capability::control(ObjectType::IrqControl, 0)));
  TRY(cap::insert_root_cap(ctx, &slots[kSlotIoPortControl], Capability::control(ObjectType::IoPortControl, 0)));
  TRY(cap::insert_root_cap(ctx, &slots[kSlotSchedControl], Capability::control(ObjectType::SchedControl, 0)));
  TRY(cap::insert_root_cap(ctx, &slots[kSlotDebugControl], Capability::control(ObjectType::DebugControl, 0)));
  TRY(cap::insert_root_cap(ctx, &slots[kSlotTraceControl], Capability::control(ObjectType::TraceControl, 0)));

  RootBuild b{frames, slots, pml4, TRY(vspace::space_id(pml4))};
  SlotCursor cursor(slots, kFirstVariableSlot);
  uint64_t info_frame = 0;
  TRY(map_new_page(b, cursor, kRootBootInfoAddress, vspace::kRead, &info_frame, &slots[kSlotBootInfoFrame]));
  TRY(map_new_page(b, cursor, kRootIpcBufferAddress, vspace::kWrite, nullptr, &slots[kSlotIpcBufferFrame]));
  const uint64_t image_start = cursor.next();
  for (size_t i = 0; i < elf_image.segment_count; ++i) TRY(load_segment(b, cursor, image, elf_image.segments[i]));
  for (uint64_t page = kRootStackTop - kRootStackSize; page < kRootStackTop; page += 4096) {
    TRY(map_new_page(b, cursor, page, vspace::kWrite, nullptr));
  }
  auto* info = layout::phys_to<BootInfo>(info_frame);
  info->image_frames = SlotRegion{image_start, cursor.next()};
  const uint64_t paging_start = cursor.next();
  TRY(place_paging_caps(b, cursor));
  info->paging = SlotRegion{paging_start, cursor.next()};
  // The trace ring of the boot CPU (the only one yet): a 2 MiB frame the kernel writes, which the
  // root task may only map read-only.
  const uint64_t rings_start = cursor.next();
  if (auto ring = frames.alloc_contiguous(tracing::kRingBytes / 4096, tracing::kRingBytes)) {
    tracing::init_ring(this_cpu(), *ring);
    CapSlot* slot = TRY(cursor.take());
    TRY(cap::insert_root_cap(ctx, slot, Capability::object(ObjectType::Frame2M, *ring).with_rights(cap::CapRights::read())));
  } else {
    tracing::init_ring(this_cpu(), 0);
    log::info("trace: no memory for a trace ring; tracing records nothing");
  }
  info->trace_rings = SlotRegion{rings_start, cursor.next()};
  TRY(place_untyped(b, cursor, info));  // last: nothing may be allocated from `frames` after this
  info->empty = SlotRegion{cursor.next(), uint64_t{1} << kRootCNodeRadix};

  info->magic = kBootInfoMagic;
  info->version = kBootInfoVersion;
  info->ipc_buffer = kRootIpcBufferAddress;
  info->root_cnode_radix = kRootCNodeRadix;
  info->tsc_hz = timer::tsc_per_second();
  const StringView cmdline = state.cmdline.text();
  const size_t length = min(cmdline.size, sizeof(info->cmdline) - 1);
  memcpy(info->cmdline, cmdline.data, length);
  info->cmdline_length = static_cast<uint32_t>(length);

  // The thread's own slots: its CSpace, VSpace and IPC buffer frame.
  TRY(cap::copy_cap(ctx, &slots[kSlotRootCNode], tcb_slot(tcb, kTcbCSpace)));
  TRY(cap::copy_cap(ctx, &slots[kSlotRootVSpace], tcb_slot(tcb, kTcbVSpace)));
  TRY(cap::copy_cap(ctx, &slots[kSlotIpcBufferFrame], tcb_slot(tcb, kTcbIpcBufferFrame)));
  memcpy(tcb->name, "init", 5);
  tracing::thread_created(tcb);
  tcb->vspace_root = pml4;
  tcb->ipc_buffer = kRootIpcBufferAddress;
  tcb->priority = 255;
  tcb->max_controlled_priority = 255;
  tcb->state = ThreadState::Running;
  tcb->is_root_task = true;
  tcb->reset_fpu();
  tcb->set_initial_registers(elf_image.entry, kRootStackTop, kRootBootInfoAddress);
  this_scheduler().enqueue(tcb);
  log::info("root task: %zu segments, entry 0x%lx; %lu slots used, %lu untyped caps covering %lu KiB",
            elf_image.segment_count, elf_image.entry, info->empty.start, info->untyped.end - info->untyped.start,
            info->free_memory_bytes / 1024);
  return {};
}

}  // namespace tessera::kernel
