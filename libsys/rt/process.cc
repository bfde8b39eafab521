// Processes: building the CSpace, the thread and the start-up block, starting, tearing down
// (tessera/sys/process.h). Loading the image is in elf_loader.cc.
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;
using CNodeClient = abi::CNode::Client<CallTransport>;
using TcbClient = abi::Tcb::Client<CallTransport>;

constexpr uint64_t kUserRflags = 0x202;  // IF and the always-one bit
// The whole window (start-up block, IPC buffer, guard page, the largest stack) is attachable.
static_assert(kProcessStackBottom + uint64_t{kMaxProcessStackPages} * kPageBytes <= memory::kAttachLimit);
// What a child may do with its fault endpoint: send (exit_process) and fault (Write + GrantReply).
constexpr uint8_t kFaultEndpointRights = abi::kRightWrite | abi::kRightGrantReply;

// Copies `text` into `out` (capacity bytes, always NUL-terminated); false when it was cut.
bool copy_text(char* out, size_t capacity, const char* text) {
  size_t n = 0;
  while (text[n] != '\0' && n + 1 < capacity) {
    out[n] = text[n];
    ++n;
  }
  out[n] = '\0';
  return text[n] == '\0';
}

// A CNode's guard data word (docs/capabilities.md): guard size in bits 0-5, guard value 0 above.
// With 64 - radix guard bits a cptr is the slot index at depth 64.
uint64_t guard_for(uint8_t radix) { return uint64_t{64} - radix; }

// Slot 9 of a process started like the root task: its supervisor's endpoint (BootInfoStart).
constexpr CPtr kBootInfoSupervisorSlot = kFirstVariableSlot;

Result<void> check_options(const ProcessOptions& o) {
  const size_t name_length = o.name == nullptr ? 0 : strlen(o.name);
  if (name_length == 0 || name_length >= kProcessNameBytes || o.argument == nullptr) return Error::InvalidArgument;
  if (o.grant_count > kMaxProcessGrants) return Error::RangeError;
  if (o.grant_count > 0 && o.grants == nullptr) return Error::InvalidArgument;
  for (uint32_t i = 0; i < o.grant_count; ++i) {
    if (o.grants[i].name == nullptr || strlen(o.grants[i].name) >= kProcessNameBytes) return Error::InvalidArgument;
  }
  if (o.stack_pages == 0 || o.stack_pages > kMaxProcessStackPages) return Error::InvalidArgument;
  if ((o.budget_us == 0) != (o.period_us == 0)) return Error::InvalidArgument;
  if (o.heap_bytes > kMaxProcessHeapBytes || !is_aligned(o.heap_bytes, kProcessHeapFrameBytes)) {
    return Error::InvalidArgument;
  }
  if (o.heap_bytes != 0 && o.boot_info != nullptr) return Error::InvalidArgument;  // it makes its own
  if (o.memory != nullptr) {
    // The heap grows from the session; the root-task layout has no session.
    if (o.heap_bytes != 0 || o.boot_info != nullptr || o.memory->control == 0) return Error::InvalidArgument;
  }
  if (o.boot_info != nullptr) {
    const BootInfoStart& b = *o.boot_info;
    if (o.grant_count != 0 || o.argument[0] != '\0' || b.cmdline == nullptr) return Error::InvalidArgument;
    if (b.untyped_count > kMaxBootInfoStartUntypeds) return Error::RangeError;
    if (b.untyped_count > 0 && b.untyped == nullptr) return Error::InvalidArgument;
    if (b.cnode_radix < kMinBootInfoCNodeRadix || b.cnode_radix > kMaxBootInfoCNodeRadix) {
      return Error::InvalidArgument;
    }
  }
  if (o.scratch_address == 0 || !is_aligned(o.scratch_address, kPageBytes) || o.scratch_address >= kProcessWindow) {
    return Error::InvalidArgument;
  }
  return {};
}
}  // namespace

// ---- Child side ------------------------------------------------------------------------------------

const StartupBlock* startup_block(uint64_t argument) {
  if (argument != kProcessStartupAddress) return nullptr;
  const auto* block = reinterpret_cast<const StartupBlock*>(argument);
  if (block->magic != kStartupMagic || block->version != kStartupVersion) return nullptr;
  return block;
}

Result<CPtr> find_grant(const StartupBlock& block, const char* name) {
  const uint32_t count = min(block.grant_count, kMaxProcessGrants);
  for (uint32_t i = 0; i < count; ++i) {
    if (strncmp(block.grants[i].name, name, kProcessNameBytes) == 0) return block.grants[i].slot;
  }
  return Error::EmptySlot;
}

namespace {
constinit CPtr supervisor_slot = kProcessSlotFaultEndpoint;
constinit uint64_t tsc_rate = 0;  // tessera/sys/clock.h
}  // namespace

uint64_t tsc_hz() { return tsc_rate; }
void set_tsc_hz(uint64_t hz) { tsc_rate = hz; }

void set_supervisor_endpoint(CPtr slot) { supervisor_slot = slot; }
CPtr supervisor_endpoint() { return supervisor_slot; }

void exit_process(int status) {
  IpcBuffer* buffer = ipc_buffer();
  if (buffer != nullptr && supervisor_slot != 0) {
    buffer->msg[0] = static_cast<uint64_t>(static_cast<int64_t>(status));
    (void)send(supervisor_slot, MessageInfo{kProcessExitLabel, 1, 0, 0});
  }
  suspend_self();
}

// ---- Parent side -----------------------------------------------------------------------------------

Result<Process> Process::spawn(UntypedAllocator& memory, const uint8_t* image, size_t size,
                               const ProcessOptions& options) {
  TRY(check_options(options));
  TRY(check_program_image(image, size));
  Process process;
  process.memory_ = &memory;
  process.parent_cnode_ = options.parent_cnode;
  (void)copy_text(process.name_, sizeof(process.name_), options.name);
  if (Result<void> r = process.build(image, size, options); !r.ok()) {
    (void)process.destroy();
    return r.error();
  }
  return process;
}

Result<void> Process::build(const uint8_t* image, size_t size, const ProcessOptions& options) {
  cnode_radix_ = options.boot_info != nullptr ? options.boot_info->cnode_radix : kProcessCNodeRadix;
  // The CNode first: the largest object (4 MiB at radix 15), so its alignment wastes nothing of a
  // fresh untyped.
  cnode_ = TRY(memory_->allocate(ObjectType::Cnode, cnode_radix_));
  pml4_ = TRY(memory_->allocate(ObjectType::Pml4));
  if (options.memory != nullptr) {
    // The session that will hold every page of the child, mapped by the server into its PML4.
    control_ = options.memory->control;
    const OpenedSession opened = TRY(open_session(control_, memory_->slots(), options.parent_cnode, options.name,
                                                  options.memory->quota, options.memory->weight, pml4_));
    session_ = opened.session;
    session_id_ = opened.id;
  }

  // The loader's temporary mappings in the parent's space need page tables there; they are
  // deleted again when the process is built.
  CreatedTables scratch_tables;
  Result<void> loaded = options.memory != nullptr ? load_image_from_session(image, size, options, &scratch_tables)
                                                  : load_image(image, size, options, &scratch_tables);
  if (options.boot_info != nullptr) {
    if (loaded.ok()) loaded = build_boot_info(options, &scratch_tables);
    const Result<void> freed = free_tables(*memory_, &scratch_tables);
    TRY(loaded);
    return freed;
  }

  StartupBlock block{};
  block.magic = kStartupMagic;
  block.version = kStartupVersion;
  block.tsc_hz = tsc_hz();
  block.cnode_radix = kProcessCNodeRadix;
  block.ipc_buffer = kProcessIpcBufferAddress;
  block.stack_top = kProcessStackBottom + uint64_t{options.stack_pages} * kPageBytes;
  (void)copy_text(block.name, sizeof(block.name), options.name);
  (void)copy_text(block.argument, sizeof(block.argument), options.argument);
  if (loaded.ok()) loaded = grant_capabilities(options, &block);
  if (loaded.ok() && (options.heap_bytes != 0 || options.memory != nullptr)) loaded = make_heap(options, &block);

  if (options.memory != nullptr) {
    CPtr ipc_frame = 0;
    if (loaded.ok()) loaded = build_session_pages(options, block, &scratch_tables, &ipc_frame);
    const Result<void> freed = free_tables(*memory_, &scratch_tables);
    if (loaded.ok()) loaded = freed;
    if (loaded.ok()) loaded = make_thread(options, ipc_frame);
    // The TCB holds its own copy of the IPC buffer's frame now.
    if (ipc_frame != 0) (void)memory_->free(ipc_frame);
    if (loaded.ok()) {
      loaded = CNodeClient(memory_->kernel(), cnode_)
                   .copy(block.tcb, kProcessCNodeRadix, capnp::CapRef{options.parent_cnode}, tcb_, kSlotDepth,
                         abi::kRightsAll);
    }
    TRY(loaded);
    TcbClient tcb(memory_->kernel(), tcb_);
    return tcb.write_registers(true, 9, entry_, block.stack_top, kUserRflags, 0, 0, 0, 0, 0, kProcessStartupAddress,
                               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  // The start-up block (read-only for the child), the IPC buffer with the thread-local block
  // libsys expects at %fs (tessera/sys/thread.h), and the stack below the guard page.
  constexpr uint8_t kReadOnly = abi::kRightRead;
  constexpr uint8_t kReadWrite = abi::kRightRead | abi::kRightWrite;
  if (loaded.ok()) {
    auto frame = add_page(kProcessStartupAddress, kReadOnly, abi::kAttrExecuteNever);
    loaded = frame.ok() ? write_page(*frame, 0, &block, sizeof(block), options, &scratch_tables) : frame.error();
  }
  if (loaded.ok()) {
    auto frame = add_page(kProcessIpcBufferAddress, kReadWrite, abi::kAttrExecuteNever);
    const ThreadLocalBlock tls{reinterpret_cast<IpcBuffer*>(kProcessIpcBufferAddress),
                               reinterpret_cast<ThreadLocalBlock*>(kProcessIpcBufferAddress + kThreadLocalOffset)};
    loaded = frame.ok() ? write_page(*frame, kThreadLocalOffset, &tls, sizeof(tls), options, &scratch_tables)
                        : frame.error();
  }
  for (uint32_t i = 0; loaded.ok() && i < options.stack_pages; ++i) {
    auto frame = add_page(kProcessStackBottom + uint64_t{i} * kPageBytes, kReadWrite, abi::kAttrExecuteNever);
    if (!frame.ok()) loaded = frame.error();
  }
  const Result<void> freed = free_tables(*memory_, &scratch_tables);
  TRY(loaded);
  TRY(freed);
  TRY(make_thread(options));
  TcbClient tcb(memory_->kernel(), tcb_);
  return tcb.write_registers(true, 9, entry_, block.stack_top, kUserRflags, 0, 0, 0, 0, 0, kProcessStartupAddress, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

Result<void> Process::build_session_pages(const ProcessOptions& options, const StartupBlock& block,
                                          CreatedTables* scratch_tables, CPtr* ipc_frame) {
  // The start-up block (read-only for the child), the IPC buffer with the thread-local block
  // libsys expects at %fs (tessera/sys/thread.h; eager: the kernel reads and writes it through
  // the child's mapping and never faults on it), and the stack below the guard page, backed on
  // first touch by the pager.
  constexpr uint8_t kReadWrite = memory::kRightRead | memory::kRightWrite;
  SessionPages startup{kProcessStartupAddress, 1, true, memory::kRightRead};
  startup.bytes = &block;
  startup.length = sizeof(block);
  TRY(add_session_pages(startup, options, scratch_tables));
  const ThreadLocalBlock tls{reinterpret_cast<IpcBuffer*>(kProcessIpcBufferAddress),
                             reinterpret_cast<ThreadLocalBlock*>(kProcessIpcBufferAddress + kThreadLocalOffset)};
  SessionPages ipc{kProcessIpcBufferAddress, 1, true, kReadWrite};
  ipc.bytes = &tls;
  ipc.offset = kThreadLocalOffset;
  ipc.length = sizeof(tls);
  ipc.frame = ipc_frame;
  TRY(add_session_pages(ipc, options, scratch_tables));
  return add_session_pages(SessionPages{kProcessStackBottom, options.stack_pages, false, kReadWrite}, options,
                           scratch_tables);
}

Result<void> Process::add_session_pages(const SessionPages& request, const ProcessOptions& options,
                                        CreatedTables* scratch_tables) {
  MemorySession session(session_, memory_->slots(), options.parent_cnode);
  Region region = TRY(session.create_region(request.pages * kPageBytes, memory::PageSize::Small, request.eager));
  Result<void> r;
  if (request.bytes != nullptr) {
    Result<CPtr> frame = session.frame(region.cap(), 0);
    r = frame.ok() ? write_page(frame.value(), request.offset, request.bytes, request.length, options, scratch_tables)
                   : Result<void>(frame.error());
    if (frame.ok()) (void)memory_->free(frame.value());
  }
  if (r.ok() && request.frame != nullptr) {
    Result<CPtr> frame = session.frame(region.cap(), 0);
    if (frame.ok()) *request.frame = frame.value();
    else r = frame.error();
  }
  if (r.ok()) {
    Result<uint64_t> at = session.attach(region.cap(), request.address, request.rights);
    if (!at.ok()) r = at.error();
    else if (at.value() != request.address) r = Error::RangeError;  // a server placing it elsewhere
  }
  // The session holds the region (closeSession releases it); the parent needs no capability.
  (void)region.close();
  TRY(r);
  session_pages_ += static_cast<uint32_t>(request.pages);
  return {};
}

Result<void> Process::build_boot_info(const ProcessOptions& options, CreatedTables* scratch_tables) {
  const BootInfoStart& start = *options.boot_info;
  constexpr uint8_t kReadOnly = abi::kRightRead;
  constexpr uint8_t kReadWrite = abi::kRightRead | abi::kRightWrite;
  const uint32_t image_pages = page_count_;
  const CPtr info_frame = TRY(add_page(kRootBootInfoAddress, kReadOnly, abi::kAttrExecuteNever));
  TRY(add_page(kRootIpcBufferAddress, kReadWrite, abi::kAttrExecuteNever));
  const uint64_t stack_bottom = kRootStackTop - uint64_t{options.stack_pages} * kPageBytes;
  for (uint32_t i = 0; i < options.stack_pages; ++i) {
    TRY(add_page(stack_bottom + uint64_t{i} * kPageBytes, kReadWrite, abi::kAttrExecuteNever));
  }
  TRY(make_thread(options));

  // What the untyped caps cover, asked before they move (the replies live in the IPC buffer).
  UntypedDescriptor described[kMaxBootInfoStartUntypeds] = {};
  uint64_t free_bytes = 0;
  for (uint32_t i = 0; i < start.untyped_count; ++i) {
    described[i] = TRY(describe_untyped(memory_->kernel(), start.untyped[i]));
    if (described[i].is_device == 0) free_bytes += uint64_t{1} << described[i].size_bits;
  }

  // The BootInfo page, written in place through a scratch mapping while its frame is still the
  // parent's. Image and stack frames follow the supervisor's slot in address order (image pages come in segment
  // order, which the ELF parser keeps ascending, and the stack lies above the image).
  const CPtr images_start = kBootInfoServiceSlot + 1;
  const CPtr untyped_start = images_start + image_pages + options.stack_pages;
  const CPtr rings_start = untyped_start + start.untyped_count;
  if (rings_start + start.trace_ring_count > uint64_t{1} << cnode_radix_) return Error::RangeError;
  CPtr temporary = 0;
  auto* info = reinterpret_cast<BootInfo*>(TRY(map_scratch(info_frame, options, scratch_tables, &temporary)));
  info->magic = kBootInfoMagic;
  info->version = kBootInfoVersion;
  info->ipc_buffer = kRootIpcBufferAddress;
  info->free_memory_bytes = free_bytes;
  info->root_cnode_radix = cnode_radix_;
  info->tsc_hz = start.tsc_hz != 0 ? start.tsc_hz : tsc_hz();
  info->supervisor_endpoint = options.fault_endpoint != 0 ? kBootInfoSupervisorSlot : 0;
  info->image_frames = SlotRegion{images_start, untyped_start};
  info->paging = SlotRegion{untyped_start, untyped_start};
  info->untyped = SlotRegion{untyped_start, untyped_start + start.untyped_count};
  info->trace_rings = SlotRegion{rings_start, rings_start + start.trace_ring_count};
  info->empty = SlotRegion{info->trace_rings.end, uint64_t{1} << cnode_radix_};
  for (uint32_t i = 0; i < start.untyped_count; ++i) info->untyped_list[i] = described[i];
  (void)copy_text(info->cmdline, sizeof(info->cmdline), start.cmdline);
  info->cmdline_length = static_cast<uint32_t>(strlen(info->cmdline));
  TRY(memory_->free(temporary));  // unmaps the scratch mapping

  // The fixed slots, then the frames and untyped caps moved in; the control caps go last, so a
  // failure before them leaves them with the parent.
  CNodeClient child(memory_->kernel(), cnode_);
  const capnp::CapRef parent{options.parent_cnode};
  TRY(child.copy(kSlotRootTcb, cnode_radix_, parent, tcb_, kSlotDepth, abi::kRightsAll));
  TRY(child.mint(kSlotRootCNode, cnode_radix_, parent, cnode_, kSlotDepth, abi::kRightsAll,
                 guard_for(cnode_radix_)));
  TRY(child.copy(kSlotRootVSpace, cnode_radix_, parent, pml4_, kSlotDepth, abi::kRightsAll));
  if (start.sched_control != 0) {
    TRY(child.copy(kSlotSchedControl, cnode_radix_, parent, start.sched_control, kSlotDepth, abi::kRightsAll));
  }
  if (start.debug_control != 0) {
    TRY(child.copy(kSlotDebugControl, cnode_radix_, parent, start.debug_control, kSlotDepth, abi::kRightsAll));
  }
  if (start.trace_control != 0) {
    TRY(child.copy(kSlotTraceControl, cnode_radix_, parent, start.trace_control, kSlotDepth, abi::kRightsAll));
  }
  for (uint32_t i = 0; i < start.trace_ring_count; ++i) {
    TRY(child.copy(rings_start + i, cnode_radix_, parent, start.trace_rings[i], kSlotDepth, abi::kRightRead));
  }
  if (options.fault_endpoint != 0) {
    TRY(child.mint(kBootInfoSupervisorSlot, cnode_radix_, parent, options.fault_endpoint, kSlotDepth,
                   kFaultEndpointRights, options.fault_badge));
  }
  if (start.service_endpoint != 0) {
    TRY(child.copy(kBootInfoServiceSlot, cnode_radix_, parent, start.service_endpoint, kSlotDepth, abi::kRightsAll));
  }
  // pages_: the image (ascending), the BootInfo page, the IPC buffer, the stack (ascending).
  TRY(move_to_child(&pages_[image_pages].frame, kSlotBootInfoFrame));
  TRY(move_to_child(&pages_[image_pages + 1].frame, kSlotIpcBufferFrame));
  CPtr slot = images_start;
  for (uint32_t i = 0; i < page_count_; ++i) {
    if (i == image_pages || i == image_pages + 1) continue;
    TRY(move_to_child(&pages_[i].frame, slot++));
  }
  for (uint32_t i = 0; i < start.untyped_count; ++i) {
    TRY(child.move(untyped_start + i, cnode_radix_, parent, start.untyped[i], kSlotDepth));
  }
  if (start.irq_control != 0) {
    TRY(child.move(kSlotIrqControl, cnode_radix_, parent, start.irq_control, kSlotDepth));
  }
  if (start.io_port_control != 0) {
    TRY(child.move(kSlotIoPortControl, cnode_radix_, parent, start.io_port_control, kSlotDepth));
  }
  TcbClient tcb(memory_->kernel(), tcb_);
  return tcb.write_registers(true, 9, entry_, kRootStackTop, kUserRflags, 0, 0, 0, 0, 0, kRootBootInfoAddress, 0, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0);
}

Result<void> Process::move_to_child(CPtr* parent_slot, CPtr child_slot) {
  CNodeClient child(memory_->kernel(), cnode_);
  TRY(child.move(child_slot, cnode_radix_, capnp::CapRef{parent_cnode_}, *parent_slot, kSlotDepth));
  // The cap now lives (and dies) with the child's CNode.
  (void)memory_->slots().free(*parent_slot);
  *parent_slot = 0;
  return {};
}

Result<void> Process::reclaim(CPtr child_slot, CPtr parent_slot) {
  if (cnode_ == 0) return Error::InvalidArgument;
  CNodeClient parent(memory_->kernel(), parent_cnode_);
  return parent.move(parent_slot, kSlotDepth, capnp::CapRef{cnode_}, child_slot, cnode_radix_);
}

Result<void> Process::grant_capabilities(const ProcessOptions& options, StartupBlock* block) {
  CNodeClient child(memory_->kernel(), cnode_);
  const capnp::CapRef parent{options.parent_cnode};
  // Its own CNode, guarded so that the child addresses its slots by index at depth 64.
  TRY(child.mint(kProcessSlotCNode, kProcessCNodeRadix, parent, cnode_, kSlotDepth, abi::kRightsAll,
                 guard_for(kProcessCNodeRadix)));
  // Slot 2 is the fault endpoint: the supervisor's, or with a memory session the session itself
  // (its pager; the program calls it too, with every right the server gave it).
  const CPtr supervisor_cptr = options.memory != nullptr ? kProcessFirstGrantSlot + options.grant_count
                                                         : CPtr{kProcessSlotFaultEndpoint};
  if (options.memory != nullptr) {
    TRY(child.copy(kProcessSlotFaultEndpoint, kProcessCNodeRadix, parent, session_, kSlotDepth, abi::kRightsAll));
    block->memory = kProcessSlotFaultEndpoint;
  }
  if (options.fault_endpoint != 0) {
    TRY(child.mint(supervisor_cptr, kProcessCNodeRadix, parent, options.fault_endpoint, kSlotDepth,
                   kFaultEndpointRights, options.fault_badge));
    block->supervisor = supervisor_cptr;
  }
  if (options.memory != nullptr) {
    TRY(child.copy(supervisor_cptr + 1, kProcessCNodeRadix, parent, pml4_, kSlotDepth, abi::kRightsAll));
    block->vspace = supervisor_cptr + 1;
    block->tcb = supervisor_cptr + 2;  // filled once the TCB exists (spawn, after make_thread)
  }
  for (uint32_t i = 0; i < options.grant_count; ++i) {
    const Grant& g = options.grants[i];
    const CPtr slot = kProcessFirstGrantSlot + i;
    if (g.badge == 0) {
      TRY(child.copy(slot, kProcessCNodeRadix, parent, g.source, kSlotDepth, g.rights));
    } else {
      TRY(child.mint(slot, kProcessCNodeRadix, parent, g.source, kSlotDepth, g.rights, g.badge));
    }
    (void)copy_text(block->grants[i].name, sizeof(block->grants[i].name), g.name);
    block->grants[i].slot = slot;
  }
  block->grant_count = options.grant_count;
  constexpr uint64_t kSlots = uint64_t{1} << kProcessCNodeRadix;
  if (options.memory != nullptr) {
    block->empty = SlotRegion{supervisor_cptr + 3, kSlots - kProcessRuntimeSlots};
    block->runtime = SlotRegion{kSlots - kProcessRuntimeSlots, kSlots};
  } else {
    block->empty = SlotRegion{kProcessFirstGrantSlot + options.grant_count, kSlots};
  }
  return {};
}

Result<void> Process::make_heap(const ProcessOptions& options, StartupBlock* block) {
  const uint64_t count = options.heap_bytes / kProcessHeapFrameBytes;  // 0 with a memory session
  for (uint64_t i = 0; i < count; ++i) {
    heap_frames_[i] = TRY(memory_->allocate(ObjectType::Frame2m));
    const MapRequest request{pml4_, heap_frames_[i], kProcessHeapAddress + i * kProcessHeapFrameBytes, PageSize::k2M,
                             abi::kRightRead | abi::kRightWrite, abi::kAttrExecuteNever};
    TRY(map_frame(*memory_, request, &tables_));
  }
  CPtr lock = TRY(memory_->allocate(ObjectType::Notification));
  CPtr park = TRY(memory_->allocate(ObjectType::Notification));
  const CPtr lock_slot = block->empty.start;
  Result<void> moved = move_to_child(&lock, lock_slot);
  if (moved.ok()) moved = move_to_child(&park, lock_slot + 1);
  if (lock != 0) (void)memory_->free(lock);
  if (park != 0) (void)memory_->free(park);
  TRY(moved);
  block->heap_address = kProcessHeapAddress;
  block->heap_bytes = options.heap_bytes;
  block->heap_lock = lock_slot;
  block->park = lock_slot + 1;
  block->empty.start = lock_slot + 2;
  return {};
}

Result<void> Process::make_thread(const ProcessOptions& options, CPtr ipc_frame) {
  tcb_ = TRY(memory_->allocate(ObjectType::Tcb));
  TcbClient tcb(memory_->kernel(), tcb_);
  // A process started like the root task sets up its thread-local block itself (start.cc).
  const bool root_layout = options.boot_info != nullptr;
  const uint64_t ipc_address = root_layout ? kRootIpcBufferAddress : kProcessIpcBufferAddress;
  for (uint32_t i = 0; ipc_frame == 0 && i < page_count_; ++i) {
    if (pages_[i].vaddr == ipc_address) ipc_frame = pages_[i].frame;
  }
  // With a memory session the fault endpoint is the session (the pager), always there.
  const CPtr fault_slot = root_layout ? kBootInfoSupervisorSlot : kProcessSlotFaultEndpoint;
  const uint64_t fault_endpoint = options.fault_endpoint != 0 || options.memory != nullptr ? fault_slot : 0;
  TRY(tcb.configure(fault_endpoint, capnp::CapRef{cnode_}, guard_for(cnode_radix_), capnp::CapRef{pml4_}, 0,
                    ipc_address, capnp::CapRef{ipc_frame}));
  if (options.name != nullptr) TRY(set_thread_name(memory_->kernel(), tcb_, options.name));
  if (!root_layout) TRY(tcb.set_tls_base(kProcessIpcBufferAddress + kThreadLocalOffset));
  const capnp::CapRef authority{options.authority};
  if (options.budget_us == 0) {
    TRY(tcb.set_mc_priority(authority, options.mcp));
    return tcb.set_priority(authority, options.priority);
  }
  sched_context_ = TRY(memory_->allocate(ObjectType::SchedContext, 8));
  abi::SchedControl::Client<CallTransport> control(memory_->kernel(), options.sched_control);
  TRY(control.configure(capnp::CapRef{sched_context_}, options.budget_us, options.period_us, 0, 0));
  return tcb.set_sched_params(authority, options.mcp, options.priority, capnp::CapRef{sched_context_});
}

Result<void> Process::destroy() {
  if (memory_ == nullptr) return {};
  Result<void> first_error;
  auto note = [&first_error](Result<void> r) {
    if (!r.ok() && first_error.ok()) first_error = r;
  };
  auto release = [&](CPtr* slot) {
    if (*slot != 0) note(memory_->free(*slot));
    *slot = 0;
  };
  if (tcb_ != 0) note(TcbClient(memory_->kernel(), tcb_).suspend());
  // The server unmaps and frees everything of the session: the child's frames, page tables and
  // bookkeeping. The thread is stopped first, so it cannot fault on what goes.
  if (session_ != 0) {
    note(close_session(control_, session_id_));
    release(&session_);
    session_id_ = 0;
    session_pages_ = 0;
  }
  release(&tcb_);
  release(&sched_context_);
  // The CNode holds a copy of itself (slot 1): revoking the parent's cap deletes that copy, so
  // deleting the parent's cap then destroys the CNode and every capability in it.
  if (cnode_ != 0) note(CNodeClient(memory_->kernel(), parent_cnode_).revoke(cnode_, kSlotDepth));
  release(&cnode_);
  while (page_count_ > 0) release(&pages_[--page_count_].frame);
  for (CPtr& frame : heap_frames_) release(&frame);
  note(free_tables(*memory_, &tables_));
  release(&pml4_);
  return first_error;
}

void Process::move_from(Process& other) {
  memory_ = other.memory_;
  parent_cnode_ = other.parent_cnode_;
  control_ = other.control_;
  session_ = other.session_;
  session_id_ = other.session_id_;
  session_pages_ = other.session_pages_;
  cnode_radix_ = other.cnode_radix_;
  cnode_ = other.cnode_;
  pml4_ = other.pml4_;
  tcb_ = other.tcb_;
  sched_context_ = other.sched_context_;
  entry_ = other.entry_;
  page_count_ = other.page_count_;
  for (uint32_t i = 0; i < page_count_; ++i) pages_[i] = other.pages_[i];
  for (size_t i = 0; i < sizeof(heap_frames_) / sizeof(heap_frames_[0]); ++i) {
    heap_frames_[i] = other.heap_frames_[i];
    other.heap_frames_[i] = 0;
  }
  tables_ = other.tables_;
  memcpy(name_, other.name_, sizeof(name_));
  other.memory_ = nullptr;
  other.cnode_ = other.pml4_ = other.tcb_ = other.sched_context_ = 0;
  other.page_count_ = 0;
  other.control_ = other.session_ = 0;
  other.session_id_ = other.session_pages_ = 0;
  other.tables_ = CreatedTables{};
}

Process::Process(Process&& other) { move_from(other); }

Process& Process::operator=(Process&& other) {
  if (this != &other) {
    (void)destroy();
    move_from(other);
  }
  return *this;
}

}  // namespace tessera::sys
