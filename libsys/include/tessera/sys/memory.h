// The client side of the memory server (servers/memory, abi/memory.capnp, docs/memory.md):
// sessions, regions of memory as capabilities, and the supervisor's Control.
//
// A *session* capability is a badged copy of the server's endpoint: every Session method is a call
// on it. A *region* capability is another badge of the same endpoint; Session methods name a
// region by passing its capability along (the kernel unwraps it to its badge at the server, so
// that needs nothing of the server). Methods that return a capability (createRegion, share, frame,
// Control.openSession) deliver it into a fresh slot of the caller's CNode, taken from a
// SlotAllocator (ReceivingCallTransport, tessera/sys/ipc.h).
//
//   tessera::sys::MemorySession& memory = *tessera::sys::process_memory();
//   auto ring = TRY(tessera::sys::Region::create(memory, 64 * 1024));
//   uint8_t* bytes = TRY(ring.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
//   auto for_client = TRY(ring.share(tessera::memory::kRightRead));   // pass for_client.cap() on
//
// Every call uses the calling thread's IPC buffer. A MemorySession is not thread-safe for the
// methods that take slots from its allocator (create_region, share, frame, Region::create/share):
// serialise them, or give each thread its own MemorySession over its own SlotAllocator.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/abi/memory.capnp.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>

namespace tessera::sys {

class Region;

// Session.describe: what a region is.
struct RegionInfo {
  uint64_t bytes = 0;
  memory::PageSize page_size = memory::PageSize::Small;
  uint8_t rights = 0;  // the capability's (memory::kRight*)
  uint64_t backed_pages = 0;
};

// Session.status: the session's accounting.
struct SessionStatus {
  uint64_t quota = 0;
  uint64_t used = 0;
  uint64_t granted = 0;
  uint32_t regions = 0;
  uint32_t attachments = 0;
  uint64_t faults = 0;
};

// How a region is made (Session.createRegion).
struct RegionOptions {
  memory::PageSize page_size = memory::PageSize::Small;
  bool eager = false;  // back every page now (OutOfMemory now instead of a fault later)
};

// One session with the memory server: its capability, and where capabilities the server returns
// are put (slots of `slots`, which belong to the CNode `cnode` of the calling thread's CSpace).
// Errors are the server's (InvalidCapability, OutOfMemory, RangeError, ... as abi/memory.capnp
// describes each method), the kernel's for the call itself, NotEnoughMemory when no slot is free
// for a returned capability and MissingCapability when the reply carried none.
class MemorySession {
 public:
  constexpr MemorySession() = default;
  MemorySession(CPtr session, SlotAllocator& slots, CPtr cnode) : session_(session), slots_(&slots), cnode_(cnode) {}

  CPtr cap() const { return session_; }
  bool valid() const { return session_ != 0; }
  SlotAllocator* slots() const { return slots_; }
  CPtr cnode() const { return cnode_; }

  // createRegion: a zero-filled region of `bytes` (rounded up to the page size), its capability
  // (all rights) in a fresh slot owned by the returned Region.
  Result<Region> create_region(uint64_t bytes, memory::PageSize page_size, bool eager);
  // attach: maps the region `region` (a region cap) at `address` (0: the server places it) with
  // `rights`; returns the address.
  Result<uint64_t> attach(CPtr region, uint64_t address, uint8_t rights);
  Result<void> detach(uint64_t address);
  Result<void> resize(CPtr region, uint64_t bytes);
  // share: a capability to the same region with `rights` (a subset), in a fresh slot.
  Result<Region> share(CPtr region, uint8_t rights);
  Result<void> release(CPtr region);
  // revoke (creator only): every capability to the region is refused from now on, `region` too;
  // returns the creator's new capability in a fresh slot (the caller deletes the old one).
  Result<CPtr> revoke(CPtr region);
  // frame: a copy of the Frame capability behind page `page` of the region, in a fresh slot the
  // caller owns (delete it when done). frame_to puts it into `slot` (empty, of cnode()) instead.
  Result<CPtr> frame(CPtr region, uint64_t page);
  Result<void> frame_to(CPtr region, uint64_t page, CPtr slot);
  Result<RegionInfo> describe(CPtr region);
  Result<SessionStatus> status();
  // reserve: asks for `bytes` above the quota (0: give back); returns what is granted now.
  Result<uint64_t> reserve(uint64_t bytes);
  // A kernel object made for this program (Session.createObject): its capability in a fresh slot
  // and the id deleteObject takes.
  struct Object {
    CPtr cap;
    uint64_t id;
  };
  Result<Object> create_object(abi::ObjectType type, uint8_t size_bits = 0);
  // deviceTables: the page tables a 4 KiB page at `address` in the device window needs (the
  // server keeps them; tessera/sys/device.h maps device frames there). Returns how many it made.
  Result<uint32_t> device_tables(uint64_t address);
  Result<void> delete_object(uint64_t id);

 private:
  // Calls `invoke(client)` with a fresh slot armed for the reply's capability; the slot on success.
  template <typename Invoke>
  Result<CPtr> call_receiving(Invoke&& invoke);

  CPtr session_ = 0;
  SlotAllocator* slots_ = nullptr;
  CPtr cnode_ = 0;
};

// A region capability in a slot of this program, with the session it is used through. A Region
// owns its slot; it never lets go implicitly (so Regions can live in static tables without global
// destructors): release() ends this session's hold on the region and deletes the slot, close()
// only deletes the slot (after passing the capability on, or when the session should keep the
// region attached without a capability in hand). Assigning a Region over a live one closes the
// old one's slot first (the session keeps holding that region).
//
//   auto buffer = TRY(Region::create(session, 1 << 20));
//   uint8_t* p = TRY(buffer.attach(memory::kRightRead | memory::kRightWrite));
//   Region read_only = TRY(buffer.share(memory::kRightRead));   // send read_only.cap() to a client
//   TRY(read_only.close());                                      // the client has its own copy now
class Region {
 public:
  // A new region of `bytes` through `session` (Session.createRegion).
  static Result<Region> create(MemorySession& session, uint64_t bytes, const RegionOptions& options = {});
  // Takes over a region capability this program received (e.g. in a request: keep_cap()): asks the
  // server what it is (describe), so a capability that is not a live region of this server is
  // refused here (InvalidCapability); the slot is not taken over then.
  static Result<Region> adopt(MemorySession& session, CPtr slot);

  Region() = default;
  Region(Region&& other);
  Region& operator=(Region&& other);
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region() = default;

  // Maps the region into this program's space with `rights` (memory::kRight*, a subset of the
  // capability's) at `address` (0: anywhere in the placement window). One attachment per Region
  // object (Busy for a second one; detach first).
  Result<uint8_t*> attach(uint8_t rights, uint64_t address = 0);
  Result<void> detach();
  // Grows or shrinks the region (Session.resize); bytes() follows.
  Result<void> resize(uint64_t bytes);
  // A capability with fewer rights (Session.share), e.g. read-only for a client.
  Result<Region> share(uint8_t rights);
  // Copy of the frame behind page `page` in a fresh slot the caller owns (Session.frame).
  Result<CPtr> frame(uint64_t page);
  Result<RegionInfo> describe();
  // The creator takes back every capability it passed on (Session.revoke): other sessions'
  // attachments go, every capability to the region is refused, and this Region continues with
  // the new capability the reply carries (its slot changes: cap()).
  Result<void> revoke();
  // This session stops holding the region (its attachments go), then the slot is deleted.
  Result<void> release();
  // Deletes the capability's slot only; the session still holds the region.
  Result<void> close();

  bool valid() const { return cap_ != 0; }
  // The capability, to pass in a message (a `:Region` parameter, or any capability field).
  CPtr cap() const { return cap_; }
  capnp::CapRef ref() const { return capnp::CapRef{cap_}; }
  // Where the region is attached by attach() (nullptr when not).
  uint8_t* address() const { return reinterpret_cast<uint8_t*>(address_); }
  // Its size in bytes (rounded up to the page size as the server does).
  uint64_t bytes() const { return bytes_; }
  memory::PageSize page_size() const { return page_size_; }
  MemorySession* session() const { return session_; }

 private:
  friend class MemorySession;
  Region(MemorySession* session, CPtr cap, uint64_t bytes, memory::PageSize page_size)
      : session_(session), cap_(cap), bytes_(bytes), page_size_(page_size) {}
  void move_from(Region& other);
  Result<void> delete_slot();

  MemorySession* session_ = nullptr;
  CPtr cap_ = 0;
  uint64_t address_ = 0;
  uint64_t bytes_ = 0;
  memory::PageSize page_size_ = memory::PageSize::Small;
};

// The bytes of one page of `page_size`.
constexpr uint64_t page_bytes(memory::PageSize page_size) {
  return page_size == memory::PageSize::Large ? memory::kLargePageBytes : memory::kPageBytes;
}

// ---- The supervisor's side (Control) ------------------------------------------------------------

struct OpenedSession {
  CPtr session = 0;  // the session capability, in a slot from the caller's allocator
  uint32_t id = 0;   // for closeSession
};

// Control.openSession on the Control capability `control`: a session for the program `name`
// whose address space is `vspace` (a PML4 cap; the server keeps a copy), `quota` bytes
// guaranteed, `weight` its cost in the allocation model. The session capability arrives in a
// slot from `slots` (of the CNode `cnode`).
Result<OpenedSession> open_session(CPtr control, SlotAllocator& slots, CPtr cnode, const char* name,
                                   uint64_t quota, uint64_t weight, CPtr vspace);
// Control.closeSession: unmaps and frees everything of the session (EmptySlot: no such id).
Result<void> close_session(CPtr control, uint32_t id);

// ---- The process's own session --------------------------------------------------------------------

// The session this process was started with (StartupBlock::memory), set up by the start-up code,
// whose returned capabilities go to the runtime's reserved slots (StartupBlock::runtime, a few
// dozen). nullptr in a process without one (and in the root task). A program that makes many
// regions makes its own MemorySession over the same capability and a SlotAllocator of its own:
// MemorySession(process_memory()->cap(), my_slots, kProcessSlotCNode).
MemorySession* process_memory();

// A thread of a program on the memory server (every program init starts): its TCB from the
// session (Session.createObject), its IPC buffer (eager) and stack (lazy, below an unmapped guard
// page) regions of the session, attached where the server finds room, in the program's own CSpace
// and address space (StartupBlock::vspace). Everything is charged to the program's quota.
// Like Thread, it never lets go implicitly: destroy() suspends it and gives everything back.
struct SessionThreadOptions {
  uint32_t stack_pages = 4;    // 1..kMaxStackPages
  uint8_t priority = 100;      // bounded by the program's MCP (authority: its own first thread)
  const char* name = "worker";  // for logs and traces (Tcb.setName; 23 bytes are kept)
};
class SessionThread {
 public:
  // OutOfMemory when the quota cannot pay, InvalidArgument outside a program with a session.
  static Result<SessionThread> create(MemorySession& session, const SessionThreadOptions& options = {});
  SessionThread() = default;
  SessionThread(SessionThread&& other);
  SessionThread& operator=(SessionThread&& other);
  SessionThread(const SessionThread&) = delete;
  SessionThread& operator=(const SessionThread&) = delete;
  ~SessionThread() = default;

  // Runs entry(argument) on the thread (a returning entry suspends it), as Thread::start.
  Result<void> start(void (*entry)(uint64_t), uint64_t argument);
  Result<void> destroy();
  CPtr tcb() const { return tcb_.cap; }
  uint64_t stack_top() const { return stack_top_; }

 private:
  void move_from(SessionThread& other);

  MemorySession* session_ = nullptr;
  MemorySession::Object tcb_{0, 0};
  CPtr ipc_region_ = 0, stack_region_ = 0;
  uint64_t ipc_buffer_ = 0, stack_top_ = 0;
};

struct StartupBlock;
// The start-up code's part (StartupBlock::memory not 0): makes process_memory() and the process
// heap, a region of 2 MiB pages at kProcessHeapAddress that starts at 2 MiB and grows by Session.resize
// in 2 MiB steps when an allocation does not fit, each new page backed at once (so a quota that
// cannot pay makes the allocation fail with nullptr instead of ending the process on a fault),
// guarded by the lock notification StartupBlock::heap_lock.
Result<void> init_process_memory(const StartupBlock& block);

}  // namespace tessera::sys
