// Processes: a program loaded from an ELF image into an address space and a CSpace of its own,
// with one thread, started with the capabilities its parent grants it (docs/writing-a-server.md).
//
// The parent side is Process::spawn / destroy. The child side is the StartupBlock its thread gets
// in rdi (main's argument): its name, an argument word from the system description, and where its
// granted capabilities are. Every process has the same CSpace layout:
//
//   slot 0  null            slot 1  its own CNode (guarded: cptr = slot index, depth 64)
//   slot 2  its fault endpoint: without a memory session the supervisor's endpoint (badged by the
//           parent; also how exit_process reports), with one (ProcessOptions::memory) the session
//           capability, so the memory server is its pager (docs/memory.md)
//   slots 3..3+N-1  the N granted capabilities, in grant order
//   3+N     with a memory session: the supervisor's endpoint (StartupBlock::supervisor)
//   then    the heap lock and park notifications (when it has a heap)
//   the rest        free (StartupBlock::empty), except, with a memory session, the last
//                   kProcessRuntimeSlots (StartupBlock::runtime: process_memory()'s)
//
// and the same upper address-space layout (kProcessWindow): the start-up block (read-only), the
// IPC buffer with the thread-local block, an unmapped guard page, then the stack.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/untyped.h>

namespace tessera::sys {

// ---- The layout every process sees --------------------------------------------------------------

constexpr uint8_t kProcessCNodeRadix = 8;  // 256 slots; guard of 56 zero bits
enum ProcessSlot : CPtr {
  kProcessSlotCNode = 1,
  kProcessSlotFaultEndpoint = 2,
  kProcessFirstGrantSlot = 3,
};
constexpr uint32_t kMaxProcessGrants = 8;
constexpr size_t kProcessNameBytes = 24;     // names, NUL included
constexpr size_t kProcessArgumentBytes = 64;

// 16 MiB below the memory server's attach limit (abi/memory.capnp attachLimit, 0x7fff_0000_0000),
// so a process whose memory comes from a session can have its window attached there too.
constexpr uint64_t kProcessWindow = 0x00007FFEFF000000ull;
constexpr uint64_t kProcessStartupAddress = kProcessWindow;
constexpr uint64_t kProcessIpcBufferAddress = kProcessWindow + 0x1000;
constexpr uint64_t kProcessStackBottom = kProcessWindow + 0x3000;  // above the guard page
constexpr uint32_t kMaxProcessStackPages = 32;

constexpr uint64_t kStartupMagic = 0x434f525041525453ull;  // "STRAPROC"
constexpr uint32_t kStartupVersion = 4;  // 3: memory, supervisor, runtime; 4: tsc_hz

// With a memory session: the slots at the end of the CNode the start-up code keeps for the
// runtime's own capabilities (the heap's region, what process_memory() returns).
constexpr uint64_t kProcessRuntimeSlots = 32;

// Where a process's heap is: mapped there by the parent (ProcessOptions::heap_bytes) in 2 MiB
// frames, at most kMaxProcessHeapBytes, or, with a memory session, a growing region the start-up
// code attaches there (tessera/sys/memory.h). The root task's heap address.
constexpr uint64_t kProcessHeapAddress = 0x0000100000000000ull;
constexpr uint64_t kProcessHeapFrameBytes = uint64_t{1} << 21;
constexpr uint64_t kMaxProcessHeapBytes = 32ull << 20;

// The label of the message exit_process sends on the fault endpoint: above every FaultKind, so a
// supervisor tells an exit from a fault. Word 0 is the status.
constexpr uint64_t kProcessExitLabel = 0x45584954;  // "EXIT"

// One granted capability as the child sees it.
struct StartupGrant {
  char name[kProcessNameBytes];  // e.g. "endpoint:kv"
  uint64_t slot;
};

// What a process's thread finds at rdi (kProcessStartupAddress), written by its parent.
struct StartupBlock {
  uint64_t magic;
  uint32_t version;
  uint32_t grant_count;
  uint64_t cnode_radix;
  uint64_t ipc_buffer;
  uint64_t stack_top;
  SlotRegion empty;  // free slots of its CNode
  // Its heap (heap_bytes 0: none, or made by the start-up code from the memory session): mapped
  // read/write at heap_address by the parent, with the notifications the start-up code makes its
  // heap lock and the main thread's park word from.
  uint64_t heap_address;
  uint64_t heap_bytes;
  uint64_t heap_lock;     // slot of a notification (0: none)
  uint64_t park;          // slot of a notification (0: none)
  // Its memory-server session (kProcessSlotFaultEndpoint; 0: none, tessera/sys/memory.h) and the
  // supervisor's endpoint exit_process reports to (kProcessSlotFaultEndpoint without a session,
  // the slot after the grants with one; 0: none).
  uint64_t memory;
  uint64_t supervisor;
  SlotRegion runtime;     // slots for the runtime's own use (empty without a session)
  // With a memory session: capabilities to its own PML4 and main thread's TCB (the two slots after
  // the supervisor's), for the threads it makes (SessionThread: Tcb.configure, and the authority
  // for their priorities, bounded by its MCP); 0 without one.
  uint64_t vspace;
  uint64_t tcb;
  // The TSC rate the kernel measured (BootInfo.tsc_hz), passed down from parent to child: the
  // start-up code makes it what tessera/sys/clock.h's tsc_hz() returns.
  uint64_t tsc_hz;
  char name[kProcessNameBytes];
  char argument[kProcessArgumentBytes];
  StartupGrant grants[kMaxProcessGrants];
};
static_assert(sizeof(StartupBlock) <= 4096);

// ---- Child side ------------------------------------------------------------------------------------

// The start-up block `argument` (main's argument) points at; nullptr when it is not one (e.g. in
// the root task, which gets a BootInfo instead).
const StartupBlock* startup_block(uint64_t argument);

// The slot of the capability granted under `name`; EmptySlot when none was.
Result<CPtr> find_grant(const StartupBlock& block, const char* name);

// Tells the supervisor (through the fault endpoint) that this process is done, with `status`
// (0 = success), then stops the calling thread for good. Without a supervisor (the root task) it
// just stops the thread.
[[noreturn]] void exit_process(int status);

// Where exit_process sends: kProcessSlotFaultEndpoint unless the start-up code says otherwise
// (StartupBlock::supervisor, BootInfo.supervisor_endpoint for a process started like the root
// task; 0: none).
void set_supervisor_endpoint(CPtr slot);
CPtr supervisor_endpoint();

// ---- Parent side -----------------------------------------------------------------------------------

// A process started like the root task (ProcessOptions::boot_info): instead of the layout above
// it gets the kernel's root-task environment (tessera/bootinfo.h), so a program written for the
// root task runs unchanged in it: a CNode of 2^BootInfoStart::cnode_radix slots (cptr = slot
// index; kRootCNodeRadix unless the parent asks for more) with
//
//   1 its TCB   2 its CNode   3 its VSpace   4 IRQControl   5 IOPortControl   6 SchedControl
//   7 the BootInfo frame   8 the IPC-buffer frame   9 the supervisor's endpoint (fault endpoint)
//   then its image and stack frames (address order), the untyped caps, and free slots,
//
// the BootInfo page (read-only) at kRootBootInfoAddress as main's argument, the IPC buffer at
// kRootIpcBufferAddress and the stack below kRootStackTop. The frames mapped into it live in its
// own CNode (so BootInfo.image_frames are the mapped caps, as in the root task). BootInfo.paging
// is empty: the page-table caps stay with the parent. When main returns, the start-up code sends
// the status to the supervisor's endpoint (exit_process).
constexpr uint32_t kMaxBootInfoStartUntypeds = 64;  // BootInfo.untyped_list holds kMaxBootUntypeds
// Where a child started like the root task finds BootInfoStart::service_endpoint.
constexpr CPtr kBootInfoServiceSlot = kFirstVariableSlot + 1;
struct BootInfoStart {
  const char* cmdline = "";  // BootInfo.cmdline (truncated to fit)
  // Untyped caps (parent cptrs) moved into the child, in this order; each is described in
  // BootInfo.untyped_list with Untyped.describe. At most kMaxBootInfoStartUntypeds.
  const CPtr* untyped = nullptr;
  uint32_t untyped_count = 0;
  // Moved into slots 4 and 5 (0: the slot stays empty). They cannot be copied; take them back with
  // Process::reclaim before destroying the process, or they are deleted with its CNode.
  CPtr irq_control = 0;
  CPtr io_port_control = 0;
  CPtr sched_control = 0;  // copied into slot 6 (0: empty)
  CPtr debug_control = 0;  // copied into slot 9 (0: empty; the machine's power-off authority)
  CPtr trace_control = 0;  // copied into slot 10 (0: empty; the kernel's event tracing)
  // Trace ring frame caps (parent cptrs, one per CPU), copied read-only into the slots after the
  // untyped caps: BootInfo.trace_rings (empty when none).
  const CPtr* trace_rings = nullptr;
  uint32_t trace_ring_count = 0;
  // An endpoint the child serves (e.g. the memory server's): copied with all rights into
  // kBootInfoServiceSlot, the slot after the supervisor's endpoint (0: that slot stays empty).
  CPtr service_endpoint = 0;
  uint64_t tsc_hz = 0;     // BootInfo.tsc_hz
  // The child's CNode has 2^cnode_radix slots (kMinBootInfoCNodeRadix..kMaxBootInfoCNodeRadix;
  // BootInfo.root_cnode_radix and BootInfo.empty follow it). A task that manages much memory (the
  // memory server: 15) needs more slots than the root task's 4,096; libsys's SlotAllocator covers
  // the first SlotAllocator::kMaxSlots of BootInfo.empty, so the rest is for the task's own
  // bookkeeping.
  uint8_t cnode_radix = kRootCNodeRadix;
};
constexpr uint8_t kMinBootInfoCNodeRadix = kRootCNodeRadix;
constexpr uint8_t kMaxBootInfoCNodeRadix = 20;

// A process whose memory comes from the memory server (ProcessOptions::memory, docs/memory.md):
// the parent opens a session for it on the server's Control capability `control`
// (openSession(name, quota, weight, its PML4)) and gets every page of it from that session.
struct ProcessMemory {
  CPtr control = 0;                // the memory server's Control capability (parent's cptr)
  uint64_t quota = 16ull << 20;    // bytes guaranteed to the session
  uint64_t weight = 1;             // its cost in the allocation model
};

// One capability to copy into the child: `source` in the parent's CNode, with `rights` (a subset
// of the source's) and, when `badge` is not 0, that badge (minted).
struct Grant {
  const char* name = "";
  CPtr source = 0;
  uint8_t rights = abi::kRightsAll;
  uint64_t badge = 0;
};

struct ProcessOptions {
  const char* name = "";       // at most kProcessNameBytes - 1 characters
  const char* argument = "";   // copied into the start-up block (truncated to fit)
  uint8_t priority = 100;      // bounded by `authority`'s MCP
  uint8_t mcp = 0;             // the priorities the process may give threads it makes
  CPtr authority = kSlotRootTcb;
  // A scheduling context: budget of CPU time (µs) per period (µs); both 0 for none.
  uint64_t budget_us = 0;
  uint64_t period_us = 0;
  CPtr sched_control = kSlotSchedControl;
  // The endpoint (parent's cptr) faults and exit_process go to, minted with `fault_badge` so the
  // parent tells its children apart; 0: none (a fault just stops the thread).
  CPtr fault_endpoint = 0;
  uint64_t fault_badge = 0;
  const Grant* grants = nullptr;
  uint32_t grant_count = 0;    // at most kMaxProcessGrants
  uint32_t stack_pages = 8;    // 1..kMaxProcessStackPages
  // A heap for operator new: a multiple of 2 MiB up to kMaxProcessHeapBytes (0: none), mapped at
  // kProcessHeapAddress; the start-up code adopts it (StartupBlock::heap_*). Must be 0 with
  // `memory` (the heap then grows from the session).
  uint64_t heap_bytes = 0;
  // Not null: the process's memory comes from the memory server (see ProcessMemory). Every page —
  // image (one eager region of 4 KiB pages per run of loadable segments, written through
  // Session.frame copies mapped at scratch_address, attached with the segments' rights), start-up
  // block (read-only), IPC buffer, stack (lazy) — is a region of its session, which the server
  // maps; the parent maps nothing into the child. The TCB, CNode, PML4 and notifications still
  // come from the UntypedAllocator. Not with boot_info.
  const ProcessMemory* memory = nullptr;
  // Not null: start the process like the root task (see BootInfoStart); `argument` and `grants`
  // must then be empty (the command line and the untyped caps take their place).
  const BootInfoStart* boot_info = nullptr;
  // The parent's own CNode and VSpace, and a page-aligned address free in the parent's space
  // where the loader maps each page of the child for a moment while it writes it.
  CPtr parent_cnode = kSlotRootCNode;
  CPtr parent_vspace = kSlotRootVSpace;
  uint64_t scratch_address = 0x0000600000000000ull;  // in the device window: a driver that spawns picks another
};

// Checks that `data` is an ELF image Process::spawn accepts (the same checks, without loading):
// an x86-64 executable whose loadable segments keep W^X, lie between 4 KiB and kProcessWindow and
// inside the file, and do not share a page with different permissions. MalformedMessage,
// TruncatedMessage, NotSupported, RangeError or InvalidArgument otherwise.
Result<void> check_program_image(const uint8_t* data, size_t size);

class Process {
 public:
  // The most 4 KiB pages (image, start-up block, IPC buffer, stack) one process has.
  static constexpr uint32_t kMaxPages = 256;  // devtest, which embeds four programs, needs ~200

  // Creates a process from the ELF `image`: a CNode (kProcessCNodeRadix) with the layout above, a
  // PML4 with the image's segments (W^X: code read+execute, data read/write no-execute), the
  // start-up block, IPC buffer and stack, a TCB in those spaces at options.priority (with a
  // scheduling context when a budget is given), and starts it at the image's entry with rdi = the
  // start-up block. Every object comes from `memory`, whose slots live in options.parent_cnode;
  // `memory` must outlive the process. On failure everything made so far is deleted and the
  // error returned: check_program_image's errors, InvalidArgument (bad options, a name that is
  // empty or too long), RangeError (too many pages or grants), NotEnoughMemory, or the kernel's.
  static Result<Process> spawn(UntypedAllocator& memory, const uint8_t* image, size_t size,
                               const ProcessOptions& options);

  Process() = default;
  Process(Process&& other);
  // Takes over `other`; a live process assigned over is destroyed first (errors ignored).
  Process& operator=(Process&& other);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // A Process owns kernel objects but does not destroy them implicitly: call destroy() (so
  // supervisors can keep processes in static tables without global destructors).
  ~Process() = default;

  // Stops the thread and deletes every object of the process — TCB, scheduling context, CNode
  // (with every capability in it), frames, page tables, PML4 — returning their slots and memory.
  // With a memory session it closes the session after stopping the thread (the server unmaps and
  // frees all the child's memory and page tables) and then deletes the kernel objects.
  // Idempotent; keeps going past errors and returns the first.
  Result<void> destroy();

  // Moves the capability in slot `child_slot` of the process's CNode to the empty slot
  // `parent_slot` of the parent's CNode (e.g. the IRQControl a BootInfoStart moved in).
  Result<void> reclaim(CPtr child_slot, CPtr parent_slot);

  bool alive() const { return tcb_ != 0; }
  CPtr tcb() const { return tcb_; }
  CPtr cnode() const { return cnode_; }
  CPtr vspace() const { return pml4_; }
  uint64_t entry() const { return entry_; }
  // The 4 KiB pages the process started with (image, start-up block, IPC buffer, stack).
  uint32_t page_count() const { return page_count_ + session_pages_; }
  const char* name() const { return name_; }
  // The memory-server session's id (Control.closeSession) and capability (parent's cptr); 0: none.
  bool has_session() const { return session_ != 0; }
  uint32_t session_id() const { return session_id_; }
  CPtr session() const { return session_; }

 private:
  Result<void> build(const uint8_t* image, size_t size, const ProcessOptions& options);
  Result<void> grant_capabilities(const ProcessOptions& options, StartupBlock* block);
  // `ipc_frame`: the IPC buffer's frame cap (0: the one in pages_).
  Result<void> make_thread(const ProcessOptions& options, CPtr ipc_frame = 0);
  // Maps options.heap_bytes of 2 MiB frames at kProcessHeapAddress (none with a memory session:
  // the start-up code makes its heap) and moves the heap lock and park notifications into the
  // child's CNode (first free slots); fills the block's heap fields.
  Result<void> make_heap(const ProcessOptions& options, StartupBlock* block);
  // The root-task layout (BootInfoStart): fills the CNode, writes the BootInfo page, starts.
  Result<void> build_boot_info(const ProcessOptions& options, CreatedTables* scratch_tables);
  // Moves the parent's cap in *parent_slot into the child's CNode and gives the slot back.
  Result<void> move_to_child(CPtr* parent_slot, CPtr child_slot);
  // elf_loader.cc: maps the image's segments; the page list doubles as the frames to delete.
  Result<void> load_image(const uint8_t* image, size_t size, const ProcessOptions& options,
                          CreatedTables* scratch_tables);
  // elf_loader.cc, with a memory session: the image as regions of the session (see
  // ProcessOptions::memory).
  Result<void> load_image_from_session(const uint8_t* image, size_t size, const ProcessOptions& options,
                                       CreatedTables* scratch_tables);
  // With a memory session: the start-up block, IPC buffer and stack as regions; the IPC buffer's
  // frame (a copy, for Tcb.configure) in *ipc_frame.
  Result<void> build_session_pages(const ProcessOptions& options, const StartupBlock& block,
                                   CreatedTables* scratch_tables, CPtr* ipc_frame);
  // A region of the session of `pages` 4 KiB pages (eager or lazy) attached at `address` with
  // `rights`; its capability is deleted again (the session holds the region). With `write`, fills
  // page 0 at `offset` with `length` bytes first, through a frame copy; with `frame` not null,
  // keeps a frame copy of page 0 there.
  struct SessionPages {
    uint64_t address;
    uint64_t pages;
    bool eager;
    uint8_t rights;  // memory::kRight*
    const void* bytes = nullptr;
    uint64_t offset = 0;
    size_t length = 0;
    CPtr* frame = nullptr;
  };
  Result<void> add_session_pages(const SessionPages& request, const ProcessOptions& options,
                                 CreatedTables* scratch_tables);
  // A new (zeroed) frame mapped at `vaddr` in the child, recorded in pages_.
  Result<CPtr> add_page(uint64_t vaddr, uint8_t rights, uint8_t attributes);
  // Maps a copy of `frame` at options.scratch_address in the parent (the copy's slot in
  // *temporary; deleting it unmaps the page again) and returns the address.
  Result<uint8_t*> map_scratch(CPtr frame, const ProcessOptions& options, CreatedTables* scratch_tables,
                               CPtr* temporary);
  // Copies `length` bytes to `offset` in `frame` through a temporary mapping in the parent.
  Result<void> write_page(CPtr frame, uint64_t offset, const void* bytes, size_t length,
                          const ProcessOptions& options, CreatedTables* scratch_tables);
  void move_from(Process& other);

  struct Page {
    uint64_t vaddr;
    CPtr frame;
    uint8_t rights;
    uint8_t attributes;
  };

  UntypedAllocator* memory_ = nullptr;
  CPtr parent_cnode_ = kSlotRootCNode;
  // With a memory session (ProcessOptions::memory): the Control cap, the session cap (a parent
  // slot from memory_'s allocator) and id, the pages it started with, and the notifications.
  CPtr control_ = 0;
  CPtr session_ = 0;
  uint32_t session_id_ = 0;
  uint32_t session_pages_ = 0;
  uint8_t cnode_radix_ = kProcessCNodeRadix;
  CPtr cnode_ = 0;
  CPtr pml4_ = 0;
  CPtr tcb_ = 0;
  CPtr sched_context_ = 0;
  uint64_t entry_ = 0;
  uint32_t page_count_ = 0;
  Page pages_[kMaxPages] = {};
  CPtr heap_frames_[kMaxProcessHeapBytes / kProcessHeapFrameBytes] = {};
  CreatedTables tables_;
  char name_[kProcessNameBytes] = {};
};

}  // namespace tessera::sys
