// Processes: building the CSpace, the thread and the start-up block, starting, tearing down
// (tessera/sys/process.h). Loading the image is in elf_loader.cc.
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/kernel_transport.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;
using CNodeClient = abi::CNode::Client<KernelTransport>;
using TcbClient = abi::Tcb::Client<KernelTransport>;

constexpr uint64_t kUserRflags = 0x202;  // IF and the always-one bit
// A CNode's guard data word (docs/capabilities.md): guard size in bits 0-5, guard value 0 above.
// With 64 - radix guard bits a cptr is the slot index at depth 64.
constexpr uint64_t kProcessCNodeGuard = 64 - kProcessCNodeRadix;
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

void exit_process(int status) {
  IpcBuffer* buffer = ipc_buffer();
  if (buffer != nullptr) {
    buffer->msg[0] = static_cast<uint64_t>(static_cast<int64_t>(status));
    (void)send(kProcessSlotFaultEndpoint, MessageInfo{kProcessExitLabel, 1, 0, 0});
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
  pml4_ = TRY(memory_->allocate(ObjectType::Pml4));
  cnode_ = TRY(memory_->allocate(ObjectType::Cnode, kProcessCNodeRadix));

  // The loader's temporary mappings in the parent's space need page tables there; they are
  // deleted again when the process is built.
  CreatedTables scratch_tables;
  Result<void> loaded = load_image(image, size, options, &scratch_tables);

  StartupBlock block{};
  block.magic = kStartupMagic;
  block.version = kStartupVersion;
  block.cnode_radix = kProcessCNodeRadix;
  block.ipc_buffer = kProcessIpcBufferAddress;
  block.stack_top = kProcessStackBottom + uint64_t{options.stack_pages} * kPageBytes;
  (void)copy_text(block.name, sizeof(block.name), options.name);
  (void)copy_text(block.argument, sizeof(block.argument), options.argument);
  if (loaded.ok()) loaded = grant_capabilities(options, &block);

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

Result<void> Process::grant_capabilities(const ProcessOptions& options, StartupBlock* block) {
  CNodeClient child(memory_->kernel(), cnode_);
  const capnp::CapRef parent{options.parent_cnode};
  // Its own CNode, guarded so that the child addresses its slots by index at depth 64.
  TRY(child.mint(kProcessSlotCNode, kProcessCNodeRadix, parent, cnode_, kSlotDepth, abi::kRightsAll,
                 kProcessCNodeGuard));
  if (options.fault_endpoint != 0) {
    TRY(child.mint(kProcessSlotFaultEndpoint, kProcessCNodeRadix, parent, options.fault_endpoint, kSlotDepth,
                   kFaultEndpointRights, options.fault_badge));
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
  block->empty = SlotRegion{kProcessFirstGrantSlot + options.grant_count, uint64_t{1} << kProcessCNodeRadix};
  return {};
}

Result<void> Process::make_thread(const ProcessOptions& options) {
  tcb_ = TRY(memory_->allocate(ObjectType::Tcb));
  TcbClient tcb(memory_->kernel(), tcb_);
  CPtr ipc_frame = 0;
  for (uint32_t i = 0; i < page_count_; ++i) {
    if (pages_[i].vaddr == kProcessIpcBufferAddress) ipc_frame = pages_[i].frame;
  }
  const uint64_t fault_endpoint = options.fault_endpoint != 0 ? kProcessSlotFaultEndpoint : 0;
  TRY(tcb.configure(fault_endpoint, capnp::CapRef{cnode_}, kProcessCNodeGuard, capnp::CapRef{pml4_}, 0,
                    kProcessIpcBufferAddress, capnp::CapRef{ipc_frame}));
  TRY(tcb.set_tls_base(kProcessIpcBufferAddress + kThreadLocalOffset));
  const capnp::CapRef authority{options.authority};
  if (options.budget_us == 0) {
    TRY(tcb.set_mc_priority(authority, options.mcp));
    return tcb.set_priority(authority, options.priority);
  }
  sched_context_ = TRY(memory_->allocate(ObjectType::SchedContext, 8));
  abi::SchedControl::Client<KernelTransport> control(memory_->kernel(), options.sched_control);
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
  release(&tcb_);
  release(&sched_context_);
  // The CNode holds a copy of itself (slot 1): revoking the parent's cap deletes that copy, so
  // deleting the parent's cap then destroys the CNode and every capability in it.
  if (cnode_ != 0) note(CNodeClient(memory_->kernel(), parent_cnode_).revoke(cnode_, kSlotDepth));
  release(&cnode_);
  while (page_count_ > 0) release(&pages_[--page_count_].frame);
  note(free_tables(*memory_, &tables_));
  release(&pml4_);
  return first_error;
}

void Process::move_from(Process& other) {
  memory_ = other.memory_;
  parent_cnode_ = other.parent_cnode_;
  cnode_ = other.cnode_;
  pml4_ = other.pml4_;
  tcb_ = other.tcb_;
  sched_context_ = other.sched_context_;
  entry_ = other.entry_;
  page_count_ = other.page_count_;
  for (uint32_t i = 0; i < page_count_; ++i) pages_[i] = other.pages_[i];
  tables_ = other.tables_;
  memcpy(name_, other.name_, sizeof(name_));
  other.memory_ = nullptr;
  other.cnode_ = other.pml4_ = other.tcb_ = other.sched_context_ = 0;
  other.page_count_ = 0;
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
