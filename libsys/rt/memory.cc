// The memory server's client side: sessions, regions, Control, and the process's own session with
// the heap that grows through it (tessera/sys/memory.h).
#include <tessera/abi/kernel.capnp.h>
#include <tessera/meta.h>
#include <tessera/string.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>

namespace tessera::sys {
namespace {
using SessionClient = memory::Session::Client<CallTransport>;
using ReceivingSessionClient = memory::Session::Client<ReceivingCallTransport>;

Result<void> delete_cap(CPtr cnode, CPtr slot) {
  CallTransport kernel(ipc_buffer());
  return abi::CNode::Client<CallTransport>(kernel, cnode).delete_(slot, kSlotDepth);
}

// What a call that should have returned a capability into `slot` came to: the slot when the
// call succeeded and the capability arrived; otherwise the error (MissingCapability when the
// reply carried none), with a capability that did arrive deleted again.
Result<void> check_received(Result<void> status, bool received, CPtr cnode, CPtr slot) {
  if (status.ok() && received) return {};
  if (received) (void)delete_cap(cnode, slot);
  return status.ok() ? Error::MissingCapability : status.error();
}

template <typename Reader>
Result<void> status_of(const Result<Reader>& reply) {
  if (!reply.ok()) return reply.error();
  return {};
}
}  // namespace

// ---- MemorySession ---------------------------------------------------------------------------------

template <typename Invoke>
Result<CPtr> MemorySession::call_receiving(Invoke&& invoke) {
  if (slots_ == nullptr) return Error::NotEnoughMemory;
  const CPtr slot = TRY(slots_->alloc());
  ReceivingCallTransport transport(ipc_buffer(), cnode_, slot);
  ReceivingSessionClient client(transport, session_);
  const Result<void> status = invoke(client);
  if (Result<void> r = check_received(status, transport.received(), cnode_, slot); !r.ok()) {
    (void)slots_->free(slot);
    return r.error();
  }
  return slot;
}

Result<Region> MemorySession::create_region(uint64_t bytes, memory::PageSize page_size, bool eager) {
  const CPtr slot = TRY(call_receiving([&](ReceivingSessionClient& client) {
    return status_of(client.create_region(bytes, page_size, eager));
  }));
  return Region(this, slot, align_up(bytes, page_bytes(page_size)), page_size);
}

Result<uint64_t> MemorySession::attach(CPtr region, uint64_t address, uint8_t rights) {
  CallTransport transport(ipc_buffer());
  auto reply = SessionClient(transport, session_).attach(capnp::CapRef{region}, address, rights);
  if (!reply.ok()) return reply.error();
  return reply->address();
}

Result<void> MemorySession::detach(uint64_t address) {
  CallTransport transport(ipc_buffer());
  return SessionClient(transport, session_).detach(address);
}

Result<void> MemorySession::resize(CPtr region, uint64_t bytes) {
  CallTransport transport(ipc_buffer());
  return SessionClient(transport, session_).resize(capnp::CapRef{region}, bytes);
}

Result<Region> MemorySession::share(CPtr region, uint8_t rights) {
  // The shared capability names the same region: its size and page size come from describe, asked
  // before the share so no extra call is needed on the result.
  const RegionInfo info = TRY(describe(region));
  const CPtr slot = TRY(call_receiving([&](ReceivingSessionClient& client) {
    return status_of(client.share(capnp::CapRef{region}, rights));
  }));
  return Region(this, slot, info.bytes, info.page_size);
}

Result<void> MemorySession::release(CPtr region) {
  CallTransport transport(ipc_buffer());
  return SessionClient(transport, session_).release(capnp::CapRef{region});
}

Result<CPtr> MemorySession::revoke(CPtr region) {
  return call_receiving([&](ReceivingSessionClient& client) {
    return status_of(client.revoke(capnp::CapRef{region}));
  });
}

Result<CPtr> MemorySession::frame(CPtr region, uint64_t page) {
  return call_receiving([&](ReceivingSessionClient& client) {
    return status_of(client.frame(capnp::CapRef{region}, page));
  });
}

Result<void> MemorySession::frame_to(CPtr region, uint64_t page, CPtr slot) {
  ReceivingCallTransport transport(ipc_buffer(), cnode_, slot);
  const Result<void> status = status_of(ReceivingSessionClient(transport, session_).frame(capnp::CapRef{region}, page));
  return check_received(status, transport.received(), cnode_, slot);
}

Result<RegionInfo> MemorySession::describe(CPtr region) {
  CallTransport transport(ipc_buffer());
  auto reply = SessionClient(transport, session_).describe(capnp::CapRef{region});
  if (!reply.ok()) return reply.error();
  return RegionInfo{reply->bytes(), reply->page_size(), reply->rights(), reply->backed_pages()};
}

Result<SessionStatus> MemorySession::status() {
  CallTransport transport(ipc_buffer());
  auto reply = SessionClient(transport, session_).status();
  if (!reply.ok()) return reply.error();
  return SessionStatus{reply->quota(),   reply->used(),        reply->granted(),
                       reply->regions(), reply->attachments(), reply->faults()};
}

Result<uint64_t> MemorySession::reserve(uint64_t bytes) {
  CallTransport transport(ipc_buffer());
  auto reply = SessionClient(transport, session_).reserve(bytes);
  if (!reply.ok()) return reply.error();
  return reply->granted();
}

// ---- Region ----------------------------------------------------------------------------------------

Result<Region> Region::create(MemorySession& session, uint64_t bytes, const RegionOptions& options) {
  return session.create_region(bytes, options.page_size, options.eager);
}

Result<Region> Region::adopt(MemorySession& session, CPtr slot) {
  if (slot == 0) return Error::InvalidArgument;
  const RegionInfo info = TRY(session.describe(slot));
  return Region(&session, slot, info.bytes, info.page_size);
}

void Region::move_from(Region& other) {
  session_ = other.session_;
  cap_ = other.cap_;
  address_ = other.address_;
  bytes_ = other.bytes_;
  page_size_ = other.page_size_;
  other.session_ = nullptr;
  other.cap_ = other.address_ = other.bytes_ = 0;
}

Region::Region(Region&& other) { move_from(other); }

Region& Region::operator=(Region&& other) {
  // Like Process: a Region never lets go implicitly, so assigning over a live one is a caller bug
  // that would leak its slot; close it first. Here the old slot is closed (errors ignored).
  if (this != &other) {
    if (cap_ != 0) (void)close();
    move_from(other);
  }
  return *this;
}

Result<uint8_t*> Region::attach(uint8_t rights, uint64_t address) {
  if (cap_ == 0) return Error::InvalidArgument;
  if (address_ != 0) return Error::Busy;
  address_ = TRY(session_->attach(cap_, address, rights));
  return reinterpret_cast<uint8_t*>(address_);
}

Result<void> Region::detach() {
  if (address_ == 0) return Error::EmptySlot;
  TRY(session_->detach(address_));
  address_ = 0;
  return {};
}

Result<void> Region::resize(uint64_t bytes) {
  if (cap_ == 0) return Error::InvalidArgument;
  TRY(session_->resize(cap_, bytes));
  bytes_ = align_up(bytes, page_bytes(page_size_));
  return {};
}

Result<Region> Region::share(uint8_t rights) {
  if (cap_ == 0) return Error::InvalidArgument;
  return session_->share(cap_, rights);
}

Result<CPtr> Region::frame(uint64_t page) {
  if (cap_ == 0) return Error::InvalidArgument;
  return session_->frame(cap_, page);
}

Result<RegionInfo> Region::describe() {
  if (cap_ == 0) return Error::InvalidArgument;
  return session_->describe(cap_);
}

Result<void> Region::revoke() {
  if (cap_ == 0) return Error::InvalidArgument;
  // Every capability to the region is refused from now on, this one too: the reply's new one
  // takes its place (the attachment stays).
  const CPtr fresh = TRY(session_->revoke(cap_));
  const uint64_t address = address_;
  (void)delete_slot();
  cap_ = fresh;
  address_ = address;
  return {};
}

Result<void> Region::release() {
  if (cap_ == 0) return Error::InvalidArgument;
  TRY(session_->release(cap_));
  address_ = 0;  // the server detached it
  return delete_slot();
}

Result<void> Region::close() {
  if (cap_ == 0) return Error::InvalidArgument;
  return delete_slot();
}

Result<void> Region::delete_slot() {
  const Result<void> deleted = delete_cap(session_->cnode(), cap_);
  if (deleted.ok() && session_->slots() != nullptr) (void)session_->slots()->free(cap_);
  cap_ = 0;
  address_ = 0;
  return deleted;
}

// ---- Control ---------------------------------------------------------------------------------------

Result<OpenedSession> open_session(CPtr control, SlotAllocator& slots, CPtr cnode, const char* name, uint64_t quota,
                                   uint64_t weight, CPtr vspace) {
  if (name == nullptr) return Error::InvalidArgument;
  const CPtr slot = TRY(slots.alloc());
  ReceivingCallTransport transport(ipc_buffer(), cnode, slot);
  memory::Control::Client<ReceivingCallTransport> client(transport, control);
  auto reply = client.open_session(capnp::Text(name, static_cast<uint32_t>(strlen(name))), quota, weight,
                                   capnp::CapRef{vspace});
  const uint32_t id = reply.ok() ? reply->id() : 0;
  if (Result<void> r = check_received(status_of(reply), transport.received(), cnode, slot); !r.ok()) {
    (void)slots.free(slot);
    return r.error();
  }
  return OpenedSession{slot, id};
}

Result<void> close_session(CPtr control, uint32_t id) {
  CallTransport transport(ipc_buffer());
  return memory::Control::Client<CallTransport>(transport, control).close_session(id);
}

Result<uint32_t> MemorySession::device_tables(uint64_t address) {
  CallTransport transport(ipc_buffer());
  auto reply = SessionClient(transport, session_).device_tables(address);
  if (!reply.ok()) return reply.error();
  return reply->made();
}

Result<MemorySession::Object> MemorySession::create_object(abi::ObjectType type, uint8_t size_bits) {
  uint64_t id = 0;
  const CPtr slot = TRY(call_receiving([&](ReceivingSessionClient& client) -> Result<void> {
    auto reply = client.create_object(type, size_bits);
    if (!reply.ok()) return reply.error();
    id = reply.value().id();
    return {};
  }));
  return Object{slot, id};
}

Result<void> MemorySession::delete_object(uint64_t id) {
  CallTransport transport(ipc_buffer());
  return SessionClient(transport, session_).delete_object(id);
}

// ---- SessionThread ------------------------------------------------------------------------------

namespace {
constinit CPtr own_vspace = 0;
constinit CPtr own_tcb = 0;
constexpr uint64_t kUserRflags = 0x202;  // IF and the always-one bit
}  // namespace

Result<SessionThread> SessionThread::create(MemorySession& session, const SessionThreadOptions& options) {
  if (own_vspace == 0 || own_tcb == 0) return Error::InvalidArgument;
  if (options.stack_pages == 0 || options.stack_pages > kMaxStackPages) return Error::InvalidArgument;
  SessionThread thread;
  thread.session_ = &session;
  auto built = [&]() -> Result<void> {
    thread.tcb_ = TRY(session.create_object(abi::ObjectType::Tcb));
    // The IPC buffer: eager (the kernel writes it through the thread's mapping), read/write.
    Region ipc = TRY(Region::create(session, kPageBytes, RegionOptions{memory::PageSize::Small, true}));
    thread.ipc_region_ = ipc.cap();
    thread.ipc_buffer_ = reinterpret_cast<uint64_t>(TRY(ipc.attach(memory::kRightRead | memory::kRightWrite)));
    // The stack: lazy. The server places every attachment after an unmapped guard page, so an
    // overflow faults instead of running into the attachment below.
    Region stack = TRY(Region::create(session, uint64_t{options.stack_pages} * kPageBytes));
    thread.stack_region_ = stack.cap();
    const uint64_t stack_base = reinterpret_cast<uint64_t>(TRY(stack.attach(memory::kRightRead | memory::kRightWrite)));
    thread.stack_top_ = stack_base + uint64_t{options.stack_pages} * kPageBytes;
    const CPtr frame = TRY(session.frame(thread.ipc_region_, 0));
    CallTransport kernel(ipc_buffer());
    abi::Tcb::Client<CallTransport> tcb(kernel, thread.tcb_.cap);
    Result<void> r = tcb.configure(kProcessSlotFaultEndpoint, capnp::CapRef{kProcessSlotCNode}, 0,
                                   capnp::CapRef{own_vspace}, 0, thread.ipc_buffer_, capnp::CapRef{frame});
    (void)delete_cap(session.cnode(), frame);
    if (session.slots() != nullptr) (void)session.slots()->free(frame);
    TRY(r);
    TRY(tcb.set_tls_base(thread.ipc_buffer_ + kThreadLocalOffset));
    TRY(set_thread_name(kernel, thread.tcb_.cap, options.name));
    return tcb.set_priority(capnp::CapRef{own_tcb}, options.priority);
  };
  if (Result<void> r = built(); !r.ok()) {
    (void)thread.destroy();
    return r.error();
  }
  return thread;
}

void SessionThread::move_from(SessionThread& other) {
  session_ = other.session_;
  tcb_ = other.tcb_;
  ipc_region_ = other.ipc_region_;
  stack_region_ = other.stack_region_;
  ipc_buffer_ = other.ipc_buffer_;
  stack_top_ = other.stack_top_;
  other.tcb_ = MemorySession::Object{0, 0};
  other.ipc_region_ = other.stack_region_ = 0;
  other.ipc_buffer_ = other.stack_top_ = 0;
}

SessionThread::SessionThread(SessionThread&& other) { move_from(other); }

SessionThread& SessionThread::operator=(SessionThread&& other) {
  if (this != &other) {
    (void)destroy();
    move_from(other);
  }
  return *this;
}

Result<void> SessionThread::start(void (*entry)(uint64_t), uint64_t argument) {
  if (tcb_.cap == 0) return Error::IllegalOperation;
  CallTransport kernel(ipc_buffer());
  abi::Tcb::Client<CallTransport> tcb(kernel, tcb_.cap);
  TRY(tcb.suspend());
  const uint64_t rip = reinterpret_cast<uint64_t>(&detail::thread_entry);
  return tcb.write_registers(true, 9, rip, stack_top_ - 8, kUserRflags, 0, 0, 0, ipc_buffer_,
                             reinterpret_cast<uint64_t>(entry), argument, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

Result<void> SessionThread::destroy() {
  if (session_ == nullptr) return {};
  Result<void> first_error;
  auto note = [&first_error](Result<void> r) {
    if (!r.ok() && first_error.ok()) first_error = r;
  };
  if (tcb_.cap != 0) {
    CallTransport kernel(ipc_buffer());
    note(abi::Tcb::Client<CallTransport>(kernel, tcb_.cap).suspend());
    note(session_->delete_object(tcb_.id));  // the server's original goes: every copy with it
    (void)delete_cap(session_->cnode(), tcb_.cap);
    if (session_->slots() != nullptr) (void)session_->slots()->free(tcb_.cap);
    tcb_ = MemorySession::Object{0, 0};
  }
  CPtr* regions[] = {&ipc_region_, &stack_region_};
  for (CPtr* region : regions) {
    if (*region == 0) continue;
    note(session_->release(*region));
    (void)delete_cap(session_->cnode(), *region);
    if (session_->slots() != nullptr) (void)session_->slots()->free(*region);
    *region = 0;
  }
  session_ = nullptr;
  return first_error;
}

// ---- The process's own session and its heap ----------------------------------------------------------

namespace {
constinit MemorySession own_session;
constinit MemorySession* own_session_ready = nullptr;
// The runtime's slots (StartupBlock::runtime); constructed in place by init_process_memory.
alignas(SlotAllocator) constinit unsigned char runtime_slot_storage[sizeof(SlotAllocator)] = {};

// The process heap's region: 2 MiB pages attached at kProcessHeapAddress, grown at its end.
struct HeapRegion {
  CPtr cap = 0;
  CPtr scratch = 0;   // where frame copies land while a page is backed (deleted at once)
  uint64_t bytes = 0;
};
constinit HeapRegion heap_region;

constexpr uint64_t kHeapPageBytes = memory::kLargePageBytes;

// Backs page `page` of the heap region now (Session.frame backs it and charges the quota), so
// running out of quota is an allocation that fails, not a fault on first touch that ends the
// process (the pager cannot pay for it and reports it to the supervisor).
Result<void> back_heap_page(uint64_t page) {
  TRY(own_session.frame_to(heap_region.cap, page, heap_region.scratch));
  return delete_cap(own_session.cnode(), heap_region.scratch);
}

// Grows the heap region by what is needed in 2 MiB steps and backs the new pages; keeps what
// could be backed when the quota runs out part way.
Result<size_t> grow_heap_region(size_t at_least) {
  const uint64_t step = align_up(at_least, kHeapPageBytes);
  uint64_t target = 0;
  if (add_overflows(heap_region.bytes, step, &target) || target > memory::kMaxRegionBytes ||
      kProcessHeapAddress + target > memory::kPlacementBase) {
    return Error::RangeError;
  }
  TRY(own_session.resize(heap_region.cap, target));
  const uint64_t first_new = heap_region.bytes / kHeapPageBytes;
  uint64_t backed = 0;
  Result<void> r;
  while (backed < step && r.ok()) {
    r = back_heap_page(first_new + backed / kHeapPageBytes);
    if (r.ok()) backed += kHeapPageBytes;
  }
  if (backed < step) (void)own_session.resize(heap_region.cap, heap_region.bytes + backed);  // the rest, unbacked
  heap_region.bytes += backed;
  if (backed == 0) return r.error();
  return static_cast<size_t>(backed);
}

// HeapGrowth: called under the heap lock (so one growth at a time) when an allocation does not fit.
Result<size_t> grow_heap(size_t at_least) {
  if (at_least == 0 || at_least > memory::kMaxRegionBytes) return Error::RangeError;
  // Growing makes calls through this thread's IPC buffer, which may hold a reply the caller is
  // still reading (a generated reader is valid until the next call, and `new` is not a call to
  // anyone's eyes): keep the buffer as it was.
  IpcBuffer* buffer = ipc_buffer();
  const IpcBuffer saved = *buffer;
  const Result<size_t> grown = grow_heap_region(at_least);
  *buffer = saved;
  return grown;
}
}  // namespace

MemorySession* process_memory() { return own_session_ready; }

Result<void> init_process_memory(const StartupBlock& block) {
  if (block.memory == 0) return Error::EmptySlot;
  if (own_session_ready != nullptr) return Error::Busy;
  auto* slots = new (runtime_slot_storage) SlotAllocator(block.runtime);
  own_session = MemorySession(block.memory, *slots, kProcessSlotCNode);
  own_session_ready = &own_session;
  own_vspace = block.vspace;
  own_tcb = block.tcb;

  // The heap: one lazily backed region of 2 MiB pages, its first page backed now.
  Region heap = TRY(Region::create(own_session, kHeapPageBytes, RegionOptions{memory::PageSize::Large, false}));
  heap_region.cap = heap.cap();
  heap_region.scratch = TRY(slots->alloc());
  heap_region.bytes = heap.bytes();
  TRY(heap.attach(memory::kRightRead | memory::kRightWrite, kProcessHeapAddress));
  TRY(back_heap_page(0));
  return adopt_process_heap(kProcessHeapAddress, heap_region.bytes, block.heap_lock, grow_heap);
}

}  // namespace tessera::sys
