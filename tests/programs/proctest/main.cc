// proctest: a program for init's process tests (servers/init/proc_tests.cc). What it does is
// chosen by the argument its parent puts in the start-up block:
//   fault        reads an unmapped address (a page fault for its supervisor)
//   exit=N       reports status N with exit_process
//   startup      checks its start-up block and CSpace layout, reports 0 when they are right
//   heap         uses operator new: 0 when the heap its parent gave it works, 3 when there is
//                none (new returns nullptr), 4 when allocations overlap or lose their bytes
//   impersonate  a client trying to pass for another: mints its "endpoint:svc" grant with the
//                badge 999 and, if that worked, sends through the copy; then sends through the
//                grant itself. Exits 0 when the mint was refused, 5 when it succeeded.
//   serve        a server on "endpoint:svc" that faults in the middle of a request with label 1
//                (it received the call and owes the reply) and answers any other label L with L + 1
//   memory       started with a memory session (ProcessOptions::memory, quota >= 80 MiB): checks
//                the block, a heap that grows past 64 MiB, a region shared read-only, and that an
//                allocation beyond the quota returns nullptr. 0 when all is well, 10-29 otherwise
// With memory from the memory server (the MEMORY tests, tests/memory/; each returns 0 when every
// check passed, otherwise the number of the check that failed):
//   mem-lazy     a lazy region: every page reads 0 on first touch, writes stick, one fault a page
//   mem-eager    an eager region: backed at once, mapped by attach (no faults when touched)
//   mem-reattach attach, detach, reattach elsewhere (same bytes), two attachments alias, and a
//                second detach is EmptySlot
//   mem-share-a  creates a region, writes it, sends a read-write share over "endpoint:peer" (a
//                call) and, once answered, finds the peer's bytes in it
//   mem-share-b  the peer: receives the capability, attaches it, checks A's bytes, writes its own
//   mem-ro-a     as share-a with a read-only share; then waits for a label-9 message on the peer
//                endpoint (the test's "B is gone") and checks its bytes are intact
//   mem-ro-b     attaching the read-only share with write is refused, read works; after answering
//                A it writes through the read-only attachment (a fault for the supervisor)
//   mem-hostile  creates and attaches 1-page regions until OutOfMemory, then sends on
//                "endpoint:peer" (label 2: iterations, the error) and exits on the next message there
//   mem-overquota  attaches a lazy region larger than its quota and touches it page by page (the
//                fault beyond the quota goes to the supervisor)
//   mem-bigheap  allocates 66 MiB with operator new in 1 MiB pieces, fills and checks them
//   mem-resize   grows an attached region (room after it), touches the new part, grows into the
//                next attachment (DeleteFirst), shrinks below a touched page (Busy), then shrinks an
//                untouched tail
//   mem-large    a lazy region of 2 MiB pages: touching all of page 0 is one fault, one backed page
//   mem-vanish   creates and attaches regions, sends a read-write share of one to the test over
//                "endpoint:peer" and waits for an answer that never comes (the test destroys it)
//   mem-wait     waits for any message on "endpoint:peer", then exits 0
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace {
namespace sys = tessera::sys;

constexpr uint64_t kUnmappedAddress = 0x10;

int parse_status(const char* text) {
  int value = 0;
  for (; *text >= '0' && *text <= '9'; ++text) value = value * 10 + (*text - '0');
  return value;
}

// 0 when the start-up block and the CSpace are as tessera/sys/process.h promises.
int check_startup(const sys::StartupBlock& block) {
  int errors = 0;
  if (block.ipc_buffer != reinterpret_cast<uint64_t>(sys::ipc_buffer())) ++errors;
  if (block.empty.start != sys::kProcessFirstGrantSlot + block.grant_count) ++errors;
  if (block.empty.end != uint64_t{1} << block.cnode_radix) ++errors;
  // Its own CNode is in slot 1: copying a cap within it must work (and be undone).
  sys::CallTransport kernel(sys::ipc_buffer());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
  const sys::CPtr spare = block.empty.start;
  if (!cnode.copy(spare, sys::kSlotDepth, {sys::kProcessSlotCNode}, sys::kProcessSlotCNode, sys::kSlotDepth,
                  tessera::abi::kRightRead)
           .ok() ||
      !cnode.delete_(spare, sys::kSlotDepth).ok()) {
    ++errors;
  }
  // Every grant is where the block says.
  for (uint32_t i = 0; i < block.grant_count; ++i) {
    auto slot = sys::find_grant(block, block.grants[i].name);
    if (!slot.ok() || *slot != sys::kProcessFirstGrantSlot + i) ++errors;
  }
  return errors;
}
// Allocates blocks of many sizes, fills each with its own pattern, checks them all, frees them,
// then takes most of the heap in one block.
int check_heap(const sys::StartupBlock& block) {
  auto* probe = new (std::nothrow) uint8_t[16];
  if (probe == nullptr) return 3;
  delete[] probe;
  constexpr int kBlocks = 64;
  uint8_t* blocks[kBlocks] = {};
  for (int i = 0; i < kBlocks; ++i) {
    const size_t size = 16 + static_cast<size_t>(i) * 97;
    blocks[i] = new (std::nothrow) uint8_t[size];
    if (blocks[i] == nullptr) return 4;
    memset(blocks[i], i + 1, size);
  }
  for (int i = 0; i < kBlocks; ++i) {
    const size_t size = 16 + static_cast<size_t>(i) * 97;
    for (size_t b = 0; b < size; ++b) {
      if (blocks[i][b] != static_cast<uint8_t>(i + 1)) return 4;
    }
    delete[] blocks[i];
  }
  const auto address = reinterpret_cast<uint64_t>(blocks[0]);
  if (address < block.heap_address || address >= block.heap_address + block.heap_bytes) return 4;
  auto* large = new (std::nothrow) uint8_t[block.heap_bytes - block.heap_bytes / 4];
  if (large == nullptr) return 4;
  large[0] = 1;
  large[block.heap_bytes - block.heap_bytes / 4 - 1] = 2;
  delete[] large;
  return sys::process_heap().live_allocations() == 0 ? 0 : 4;
}
}  // namespace

// Tries to forge badge 999 on the grant "endpoint:svc", then sends one message through whatever it
// has (label 2 through a forged copy, label 1 through the grant as given).
int impersonate(const sys::StartupBlock& block) {
  auto grant = sys::find_grant(block, "endpoint:svc");
  if (!grant.ok()) return 6;
  sys::CallTransport kernel(sys::ipc_buffer());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
  const sys::CPtr forged = block.empty.start;
  const bool minted = cnode.mint(forged, sys::kSlotDepth, {sys::kProcessSlotCNode}, *grant, sys::kSlotDepth,
                                 tessera::abi::kRightsAll, 999).ok();
  if (minted) (void)sys::send(forged, sys::MessageInfo{2, 0, 0, 0});
  (void)sys::send(*grant, sys::MessageInfo{1, 0, 0, 0});
  return minted ? 5 : 0;
}

// Serves "endpoint:svc" until a receive fails; faults while it owes the reply to a label-1 call.
int serve_then_fault(const sys::StartupBlock& block) {
  auto endpoint = sys::find_grant(block, "endpoint:svc");
  if (!endpoint.ok()) return 6;
  sys::Received r{};
  tessera::Error e = sys::recv(*endpoint, &r);
  while (e == tessera::Error::Ok) {
    if (r.info.label == 1) (void)*reinterpret_cast<volatile uint64_t*>(kUnmappedAddress);
    e = sys::reply_recv(*endpoint, sys::MessageInfo{r.info.label + 1, 0, 0, 0}, &r);
  }
  return 7;
}

// The memory-session checks (argument "memory").
int check_memory(const sys::StartupBlock& block) {
  namespace mem = tessera::memory;
  if (block.memory != sys::kProcessSlotFaultEndpoint) return 10;
  if (block.supervisor != sys::kProcessFirstGrantSlot + block.grant_count) return 11;
  if (block.runtime.end != uint64_t{1} << block.cnode_radix || block.empty.end > block.runtime.start) return 12;
  sys::MemorySession* session = sys::process_memory();
  if (session == nullptr) return 13;
  // More than 64 MiB in one allocation: the heap region grows from 2 MiB.
  constexpr size_t kBig = size_t{65} << 20;
  auto* big = new (std::nothrow) uint8_t[kBig];
  if (big == nullptr) return 14;
  for (size_t i = 0; i < kBig; i += 4096) big[i] = static_cast<uint8_t>(i >> 12);
  for (size_t i = 0; i < kBig; i += 4096) {
    if (big[i] != static_cast<uint8_t>(i >> 12)) return 15;
  }
  delete[] big;
  // Shared memory: a region, written through one attachment and read through a read-only share.
  auto region = sys::Region::create(*session, 3 * 4096);
  if (!region.ok()) return 16;
  auto writable = region.value().attach(mem::kRightRead | mem::kRightWrite);
  if (!writable.ok()) return 17;
  memcpy(writable.value() + 4096, "shared", 7);
  auto read_only = region.value().share(mem::kRightRead);
  if (!read_only.ok()) return 18;
  auto view = read_only.value().attach(mem::kRightRead);
  if (!view.ok() || view.value() == writable.value() || memcmp(view.value() + 4096, "shared", 7) != 0) return 19;
  // A read-only capability grants no write.
  if (session->attach(read_only.value().cap(), 0, mem::kRightRead | mem::kRightWrite).ok()) return 20;
  auto info = read_only.value().describe();
  if (!info.ok() || info.value().bytes != 3 * 4096 || info.value().rights != mem::kRightRead) return 21;
  if (!read_only.value().detach().ok() || !read_only.value().close().ok()) return 22;
  if (!region.value().release().ok()) return 23;
  auto status = session->status();
  if (!status.ok() || status.value().used > status.value().quota + status.value().granted) return 24;
  // Beyond the quota: new returns nullptr and the program goes on.
  auto* huge = new (std::nothrow) uint8_t[size_t{1} << 30];
  if (huge != nullptr) return 25;
  auto* small = new (std::nothrow) uint8_t[64];
  if (small == nullptr) return 26;
  delete[] small;
  return 0;
}

namespace {
namespace proto = tessera::memory;
using tessera::Error;
constexpr uint8_t kRW = proto::kRightRead | proto::kRightWrite;
constexpr uint64_t kPage = 4096;

// A session over the program's own session capability with slots of its own (the runtime's few
// are for the heap), made once.
sys::MemorySession& session(const sys::StartupBlock& block) {
  alignas(sys::SlotAllocator) static unsigned char slot_storage[sizeof(sys::SlotAllocator)];
  static sys::MemorySession own;
  if (!own.valid()) {
    auto* slots = new (slot_storage) sys::SlotAllocator(block.empty);
    own = sys::MemorySession(sys::process_memory()->cap(), *slots, sys::kProcessSlotCNode);
  }
  return own;
}

uint64_t faults(sys::MemorySession& s) {
  auto st = s.status();
  return st.ok() ? st->faults : ~uint64_t{0};
}

uint8_t pattern(uint64_t i, uint8_t salt) { return static_cast<uint8_t>((i * 131 + salt) ^ (i >> 9)); }
void fill(uint8_t* p, uint64_t bytes, uint8_t salt) {
  for (uint64_t i = 0; i < bytes; ++i) p[i] = pattern(i, salt);
}
bool holds(const uint8_t* p, uint64_t bytes, uint8_t salt) {
  for (uint64_t i = 0; i < bytes; ++i) {
    if (p[i] != pattern(i, salt)) return false;
  }
  return true;
}

int fail(int check, Error e = Error::Ok) {
  sys::print("proctest: check %d failed (%s)\n", check, tessera::error_name(e));
  return check;
}

int mem_lazy(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  constexpr uint64_t kPages = 16;
  auto region = sys::Region::create(s, kPages * kPage);
  if (!region.ok()) return fail(10, region.error());
  auto at = region->attach(kRW);
  if (!at.ok()) return fail(11, at.error());
  volatile uint8_t* p = *at;
  (void)faults(s);
  const uint64_t before = faults(s);
  for (uint64_t i = 0; i < kPages * kPage; ++i) {
    if (p[i] != 0) return fail(12);
  }
  const uint64_t after = faults(s);
  // One fault a page (a page of the stack may come on top).
  if (after - before < kPages || after - before > kPages + 2) {
    sys::print("proctest: %lu faults for %lu pages\n", after - before, kPages);
    return fail(13);
  }
  fill(*at, kPages * kPage, 3);
  if (!holds(*at, kPages * kPage, 3)) return fail(14);
  if (faults(s) != after) return fail(15);  // the pages were mapped writable on the first read
  auto info = region->describe();
  if (!info.ok() || info->backed_pages != kPages) return fail(16, info.error());
  if (auto r = region->release(); !r.ok()) return fail(17, r.error());
  return 0;
}

int mem_eager(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  constexpr uint64_t kPages = 8;
  auto region = sys::Region::create(s, kPages * kPage, sys::RegionOptions{proto::PageSize::Small, true});
  if (!region.ok()) return fail(20, region.error());
  auto info = region->describe();
  if (!info.ok() || info->backed_pages != kPages) return fail(21, info.error());
  (void)faults(s);
  const uint64_t before = faults(s);
  auto at = region->attach(kRW);
  if (!at.ok()) return fail(22, at.error());
  volatile uint8_t* p = *at;
  for (uint64_t i = 0; i < kPages * kPage; i += 64) {
    if (p[i] != 0) return fail(23);
    p[i] = 0x5A;
  }
  const uint64_t after = faults(s);
  if (after != before) {
    sys::print("proctest: %lu faults on an eager region\n", after - before);
    return fail(24);
  }
  if (auto r = region->release(); !r.ok()) return fail(25, r.error());
  return 0;
}

int mem_reattach(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  constexpr uint64_t kBytes = 4 * kPage;
  constexpr uint64_t kFirst = 0x0000500000000000ull, kSecond = 0x0000500000100000ull;
  auto region = sys::Region::create(s, kBytes);
  if (!region.ok()) return fail(30, region.error());
  auto a = s.attach(region->cap(), kFirst, kRW);
  if (!a.ok() || *a != kFirst) return fail(31, a.error());
  fill(reinterpret_cast<uint8_t*>(kFirst), kBytes, 9);
  if (auto r = s.detach(kFirst); !r.ok()) return fail(32, r.error());
  if (auto r = s.detach(kFirst); r.error() != Error::EmptySlot) return fail(33, r.error());
  auto b = s.attach(region->cap(), kSecond, kRW);
  if (!b.ok() || *b != kSecond) return fail(34, b.error());
  if (!holds(reinterpret_cast<uint8_t*>(kSecond), kBytes, 9)) return fail(35);
  // A second attachment of the same region in the same space: the same frames.
  auto c = s.attach(region->cap(), 0, proto::kRightRead);
  if (!c.ok()) return fail(36, c.error());
  reinterpret_cast<volatile uint8_t*>(kSecond)[kBytes - 1] = 0xEE;
  if (reinterpret_cast<volatile uint8_t*>(*c)[kBytes - 1] != 0xEE) return fail(37);
  if (auto r = s.detach(*c); !r.ok()) return fail(38, r.error());
  if (auto r = region->release(); !r.ok()) return fail(39, r.error());
  return 0;
}

// Receives one message on `endpoint` with a capability into `slot`.
Error receive_cap(sys::CPtr endpoint, sys::CPtr slot, sys::Received* in) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  buffer->receive_cnode = sys::kProcessSlotCNode;
  buffer->receive_index = slot;
  buffer->receive_depth = sys::kSlotDepth;
  const Error e = sys::recv(endpoint, in);
  buffer->receive_cnode = buffer->receive_index = buffer->receive_depth = 0;
  if (e != Error::Ok) return e;
  return in->info.extra_caps == 1 ? Error::Ok : Error::MissingCapability;
}

// Calls `endpoint` with one capability; the reply's label (or ~0 on an error).
uint64_t call_with_cap(sys::CPtr endpoint, uint64_t label, sys::CPtr cap) {
  sys::ipc_buffer()->caps_or_badges[0] = cap;
  sys::Received reply{};
  const Error e = sys::call(endpoint, sys::MessageInfo{label, 0, 1, 0}, &reply);
  return e == Error::Ok ? reply.info.label : ~uint64_t{0};
}

int mem_share_a(const sys::StartupBlock& block, bool read_only) {
  auto peer = sys::find_grant(block, "endpoint:peer");
  if (!peer.ok()) return fail(40, peer.error());
  sys::MemorySession& s = session(block);
  constexpr uint64_t kBytes = 4 * kPage;
  auto region = sys::Region::create(s, kBytes);
  if (!region.ok()) return fail(41, region.error());
  auto at = region->attach(kRW);
  if (!at.ok()) return fail(42, at.error());
  fill(*at, kBytes, 0xA);
  auto shared = region->share(read_only ? proto::kRightRead : kRW);
  if (!shared.ok()) return fail(43, shared.error());
  if (call_with_cap(*peer, 1, shared->cap()) != 0) return fail(44);
  (void)shared->close();
  if (!read_only) return holds(*at, kBytes, 0xB) ? 0 : fail(45);
  // The peer is gone by now (it wrote through its read-only attachment); the test says so.
  sys::Received in{};
  const Error e = sys::recv(*peer, &in);
  if (e != Error::Ok || in.info.label != 9) return fail(46, e);
  if (!holds(*at, kBytes, 0xA)) return fail(47);
  auto st = s.status();
  if (!st.ok() || st->attachments == 0) return fail(48, st.error());
  return 0;
}

int mem_share_b(const sys::StartupBlock& block, bool read_only) {
  auto peer = sys::find_grant(block, "endpoint:peer");
  if (!peer.ok()) return fail(50, peer.error());
  sys::MemorySession& s = session(block);
  auto slot = s.slots()->alloc();
  if (!slot.ok()) return fail(51, slot.error());
  sys::Received in{};
  if (Error e = receive_cap(*peer, *slot, &in); e != Error::Ok) return fail(52, e);
  constexpr uint64_t kBytes = 4 * kPage;
  if (read_only) {
    auto refused = s.attach(*slot, 0, kRW);
    if (refused.error() != Error::InvalidCapability) return fail(53, refused.error());
  }
  auto at = s.attach(*slot, 0, read_only ? proto::kRightRead : kRW);
  if (!at.ok()) return fail(54, at.error());
  auto* p = reinterpret_cast<uint8_t*>(*at);
  if (!holds(p, kBytes, 0xA)) return fail(55);
  if (!read_only) fill(p, kBytes, 0xB);
  (void)sys::reply(sys::MessageInfo{0, 0, 0, 0});
  if (!read_only) return 0;
  reinterpret_cast<volatile uint8_t*>(p)[100] = 1;  // a write through a read-only attachment
  return fail(56);
}

int mem_hostile(const sys::StartupBlock& block) {
  auto peer = sys::find_grant(block, "endpoint:peer");
  if (!peer.ok()) return fail(70, peer.error());
  sys::MemorySession& s = session(block);
  // Records: 1-page lazy regions, each attached, until the server says no (the session's share of
  // the tables or its quota). The last region's capability is kept.
  uint64_t count = 0;
  Error e = Error::Ok;
  sys::Region last;
  while (e == Error::Ok) {
    auto region = sys::Region::create(s, kPage);
    if (!region.ok()) {
      e = region.error();
      break;
    }
    auto at = region->attach(proto::kRightRead);
    if (!at.ok()) e = at.error();
    if (last.valid()) (void)last.close();  // the session holds it still (and its attachment)
    last = static_cast<sys::Region&&>(*region);
    ++count;
  }
  // Frames: the last region grown large and backed page by page until the quota is spent.
  Error frames_error = Error::Ok;
  uint64_t frames = 0;
  if (last.valid()) frames_error = last.resize(4096 * kPage).error();
  while (frames_error == Error::Ok) {
    auto frame = s.frame(last.cap(), 1 + frames);
    if (!frame.ok()) {
      frames_error = frame.error();
      break;
    }
    sys::CallTransport kernel(sys::ipc_buffer());
    (void)tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode).delete_(*frame, sys::kSlotDepth);
    (void)s.slots()->free(*frame);
    ++frames;
  }
  sys::print("proctest: hostile: %lu regions, then %s; %lu frames, then %s\n", count, tessera::error_name(e), frames,
             tessera::error_name(frames_error));
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  buffer->msg[0] = count;
  buffer->msg[1] = static_cast<uint64_t>(e);
  buffer->msg[2] = frames;
  buffer->msg[3] = static_cast<uint64_t>(frames_error);
  // Tells the test, then holds everything until the test says go.
  if (sys::send(*peer, sys::MessageInfo{2, 4, 0, 0}) != Error::Ok) return fail(71);
  sys::Received go{};
  if (sys::recv(*peer, &go) != Error::Ok) return fail(73);
  return e == Error::OutOfMemory && frames_error == Error::OutOfMemory ? 0 : fail(72, e);
}

int mem_overquota(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  auto st = s.status();
  if (!st.ok()) return fail(80, st.error());
  const uint64_t bytes = st->quota * 2;
  auto region = sys::Region::create(s, bytes);
  if (!region.ok()) return fail(81, region.error());
  auto at = region->attach(kRW);
  if (!at.ok()) return fail(82, at.error());
  volatile uint8_t* p = *at;
  for (uint64_t i = 0; i < bytes; i += kPage) p[i] = 1;  // ends in a fault before the end
  return fail(83);
}

// mem-thread: a second thread made through the session (SessionThread): its stack is lazy (the
// pager backs what it touches), it signals a notification the session made, and destroying it
// gives every byte back.
struct ThreadShared {
  sys::CPtr notification;
  volatile uint64_t value;
};
// Touches every 512th byte of `bytes` (kept out of line, so the array it is given stays whole).
[[gnu::noinline]] uint64_t touch(uint8_t* bytes, size_t size) {
  asm volatile("" : : "r"(bytes) : "memory");
  uint64_t sum = 0;
  for (size_t i = 0; i < size; i += 512) bytes[i] = static_cast<uint8_t>(i >> 9);
  for (size_t i = 0; i < size; i += 512) sum += bytes[i];
  return sum;
}

void thread_body(uint64_t argument) {
  auto* shared = reinterpret_cast<ThreadShared*>(argument);
  uint8_t deep[12 * 1024];  // three stack pages: first touches for the pager
  const uint64_t sum = touch(deep, sizeof(deep));
  shared->value = sum == 276 ? 42 : sum;  // 0 + 1 + ... + 23
  (void)sys::signal(shared->notification);
}

// One thread's life: made, run (it pages in its stack and signals), destroyed. 0 or a check number.
int thread_cycle(sys::MemorySession& s) {
  auto note = s.create_object(tessera::abi::ObjectType::Notification);
  if (!note.ok()) return fail(112, note.error());
  static ThreadShared shared{0, 0};
  shared = ThreadShared{note->cap, 0};
  // Above the program's MCP: refused (the priority's authority is its own TCB).
  sys::SessionThreadOptions too_high;
  too_high.priority = 200;
  if (sys::SessionThread::create(s, too_high).ok()) return fail(113);
  sys::SessionThreadOptions options;
  options.stack_pages = 8;
  options.priority = 50;
  auto thread = sys::SessionThread::create(s, options);
  if (!thread.ok()) return fail(114, thread.error());
  const uint64_t faults_before = faults(s);
  if (Error e = thread->start(thread_body, reinterpret_cast<uint64_t>(&shared)).error(); e != Error::Ok) return fail(115, e);
  uint64_t word = 0;
  if (Error e = sys::wait(note->cap, &word); e != Error::Ok) return fail(116, e);
  if (shared.value != 42) return fail(117);
  // Its stack is lazy: the pages it touched were first touches for the pager.
  if (const uint64_t now = faults(s); now < faults_before + 3) {
    sys::print("proctest: thread: %lu faults resolved before, %lu after\n", faults_before, now);
    return fail(118);
  }
  if (Error e = thread->destroy().error(); e != Error::Ok) return fail(119, e);
  if (Error e = s.delete_object(note->id).error(); e != Error::Ok) return fail(120, e);
  if (s.delete_object(note->id).error() != Error::EmptySlot) return fail(121);
  // deleteObject revoked the notification's capability: its slot is empty and free again.
  if (s.slots() != nullptr) (void)s.slots()->free(note->cap);
  return 0;
}

int mem_thread(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  if (block.vspace == 0 || block.tcb == 0) return fail(110);
  // The first thread's regions may need page tables, which stay with the session (docs/memory.md):
  // after that every thread's life leaves the charge exactly where it was.
  if (const int r = thread_cycle(s); r != 0) return r;
  auto before = s.status();
  if (!before.ok()) return fail(111, before.error());
  for (int i = 0; i < 3; ++i) {
    if (const int r = thread_cycle(s); r != 0) return r;
  }
  auto after = s.status();
  if (!after.ok() || after->used != before->used) {
    sys::print("proctest: thread: used %lu after, %lu before\n", after.ok() ? after->used : 0, before->used);
    return fail(122);
  }
  return 0;
}

int mem_bigheap() {
  constexpr int kPieces = 66;
  constexpr size_t kPiece = size_t{1} << 20;
  static uint8_t* pieces[kPieces];
  for (int i = 0; i < kPieces; ++i) {
    pieces[i] = new (std::nothrow) uint8_t[kPiece];
    if (pieces[i] == nullptr) {
      sys::print("proctest: bigheap: piece %d of 1 MiB not allocated\n", i);
      return fail(90);
    }
    for (size_t b = 0; b < kPiece; b += 512) pieces[i][b] = pattern(b / 512, static_cast<uint8_t>(i));
  }
  for (int i = 0; i < kPieces; ++i) {
    for (size_t b = 0; b < kPiece; b += 512) {
      if (pieces[i][b] != pattern(b / 512, static_cast<uint8_t>(i))) return fail(91);
    }
  }
  const uint64_t lowest = reinterpret_cast<uint64_t>(pieces[0]), highest = reinterpret_cast<uint64_t>(pieces[kPieces - 1]);
  if (highest - lowest < (uint64_t{64} << 20) && lowest - highest < (uint64_t{64} << 20)) return fail(92);
  for (int i = 0; i < kPieces; ++i) delete[] pieces[i];
  return sys::process_heap().live_allocations() == 0 ? 0 : fail(93);
}

int mem_resize(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  constexpr uint64_t kBase = 0x0000500000000000ull;
  auto region = sys::Region::create(s, 4 * kPage);
  auto next = sys::Region::create(s, kPage);
  if (!region.ok() || !next.ok()) return fail(100, region.error());
  if (auto a = s.attach(region->cap(), kBase, kRW); !a.ok()) return fail(101, a.error());
  if (auto a = s.attach(next->cap(), kBase + 8 * kPage, kRW); !a.ok()) return fail(102, a.error());
  auto* p = reinterpret_cast<volatile uint8_t*>(kBase);
  p[0] = 1;
  if (auto r = s.resize(region->cap(), 8 * kPage); !r.ok()) return fail(103, r.error());
  p[6 * kPage] = 6;  // the grown part is attached
  if (p[6 * kPage] != 6 || p[0] != 1) return fail(104);
  if (auto r = s.resize(region->cap(), 9 * kPage); r.error() != Error::DeleteFirst) return fail(105, r.error());
  if (auto r = s.resize(region->cap(), 4 * kPage); r.error() != Error::Busy) return fail(106, r.error());
  if (auto r = s.resize(region->cap(), 7 * kPage); !r.ok()) return fail(107, r.error());
  auto info = region->describe();
  if (!info.ok() || info->bytes != 7 * kPage || info->backed_pages != 2) return fail(108, info.error());
  if (p[6 * kPage] != 6) return fail(109);
  (void)next->release();
  (void)region->release();
  return 0;
}

int mem_large(const sys::StartupBlock& block) {
  sys::MemorySession& s = session(block);
  constexpr uint64_t kLarge = proto::kLargePageBytes;
  auto region = sys::Region::create(s, 2 * kLarge, sys::RegionOptions{proto::PageSize::Large, false});
  if (!region.ok()) return fail(110, region.error());
  if (auto a = s.attach(region->cap(), 0x0000500000001000ull, kRW); a.error() != Error::AlignmentError) {
    return fail(111, a.error());
  }
  auto at = region->attach(kRW);
  if (!at.ok()) return fail(112, at.error());
  if ((reinterpret_cast<uint64_t>(*at) & (kLarge - 1)) != 0) return fail(113);
  (void)faults(s);
  const uint64_t before = faults(s);
  volatile uint8_t* p = *at;
  for (uint64_t i = 0; i < kLarge; i += kPage) p[i] = static_cast<uint8_t>(i >> 12);
  const uint64_t after = faults(s);
  if (after - before != 1) {
    sys::print("proctest: %lu faults for one 2 MiB page\n", after - before);
    return fail(114);
  }
  auto info = region->describe();
  if (!info.ok() || info->backed_pages != 1 || info->page_size != proto::PageSize::Large) return fail(115, info.error());
  for (uint64_t i = 0; i < kLarge; i += kPage) {
    if (p[i] != static_cast<uint8_t>(i >> 12)) return fail(116);
  }
  if (auto r = region->release(); !r.ok()) return fail(117, r.error());
  return 0;
}

int mem_vanish(const sys::StartupBlock& block) {
  auto peer = sys::find_grant(block, "endpoint:peer");
  if (!peer.ok()) return fail(120, peer.error());
  sys::MemorySession& s = session(block);
  auto kept = sys::Region::create(s, 4 * kPage, sys::RegionOptions{proto::PageSize::Small, true});
  auto mine = sys::Region::create(s, 8 * kPage);
  if (!kept.ok() || !mine.ok()) return fail(121, kept.error());
  auto a = kept->attach(kRW);
  auto b = mine->attach(kRW);
  if (!a.ok() || !b.ok()) return fail(122, a.error());
  fill(*a, 4 * kPage, 0xC);
  fill(*b, 8 * kPage, 0xD);
  auto shared = kept->share(kRW);
  if (!shared.ok()) return fail(123, shared.error());
  (void)call_with_cap(*peer, 3, shared->cap());  // never answered: the test destroys this program
  return fail(124);
}

int mem_wait(const sys::StartupBlock& block) {
  auto peer = sys::find_grant(block, "endpoint:peer");
  if (!peer.ok()) return fail(130, peer.error());
  sys::Received in{};
  const Error e = sys::recv(*peer, &in);
  return e == Error::Ok ? 0 : fail(131, e);
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  sys::print("proctest: %s started (%s)\n", block->name, block->argument);
  if (strcmp(block->argument, "fault") == 0) {
    const uint64_t value = *reinterpret_cast<volatile uint64_t*>(kUnmappedAddress);
    sys::print("proctest: read %lu from an unmapped page\n", value);  // never reached
  } else if (strncmp(block->argument, "late-exit=", 10) == 0) {
    // Works a while (a healthy life for a supervisor counting quick failures), then exits.
    for (uint64_t i = 0; i < 400'000'000; ++i) asm volatile("" : : "r"(i));
    sys::exit_process(parse_status(block->argument + 10));
  } else if (strncmp(block->argument, "exit=", 5) == 0) {
    sys::exit_process(parse_status(block->argument + 5));
  } else if (strcmp(block->argument, "startup") == 0) {
    sys::exit_process(check_startup(*block));
  } else if (strcmp(block->argument, "heap") == 0) {
    sys::exit_process(check_heap(*block));
  } else if (strcmp(block->argument, "impersonate") == 0) {
    sys::exit_process(impersonate(*block));
  } else if (strcmp(block->argument, "serve") == 0) {
    sys::exit_process(serve_then_fault(*block));
  } else if (strcmp(block->argument, "memory") == 0) {
    sys::exit_process(check_memory(*block));
  } else if (strncmp(block->argument, "mem-", 4) == 0) {
    const char* mode = block->argument + 4;
    if (sys::process_memory() == nullptr) sys::exit_process(101);  // not started with a session
    if (strcmp(mode, "lazy") == 0) sys::exit_process(mem_lazy(*block));
    if (strcmp(mode, "eager") == 0) sys::exit_process(mem_eager(*block));
    if (strcmp(mode, "reattach") == 0) sys::exit_process(mem_reattach(*block));
    if (strcmp(mode, "share-a") == 0) sys::exit_process(mem_share_a(*block, false));
    if (strcmp(mode, "share-b") == 0) sys::exit_process(mem_share_b(*block, false));
    if (strcmp(mode, "ro-a") == 0) sys::exit_process(mem_share_a(*block, true));
    if (strcmp(mode, "ro-b") == 0) sys::exit_process(mem_share_b(*block, true));
    if (strcmp(mode, "hostile") == 0) sys::exit_process(mem_hostile(*block));
    if (strcmp(mode, "overquota") == 0) sys::exit_process(mem_overquota(*block));
    if (strcmp(mode, "bigheap") == 0) sys::exit_process(mem_bigheap());
    if (strcmp(mode, "resize") == 0) sys::exit_process(mem_resize(*block));
    if (strcmp(mode, "large") == 0) sys::exit_process(mem_large(*block));
    if (strcmp(mode, "vanish") == 0) sys::exit_process(mem_vanish(*block));
    if (strcmp(mode, "wait") == 0) sys::exit_process(mem_wait(*block));
    if (strcmp(mode, "thread") == 0) sys::exit_process(mem_thread(*block));
  }
  sys::exit_process(100);  // an argument this program does not know
}
