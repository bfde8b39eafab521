// IPC benchmarks (`bench=ipc`, scripts/bench.d/ipc): round trips and one-way costs measured the way
// the peers were (10,000 timed iterations after 1,000 warm-up, rdtsc around each operation in user
// space, median). The server side runs `server_program`, which is self-contained in one page so a
// copy of that single code page is all a server in another address space needs.
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/abi/kv.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>
#include <tessera/sys/untyped.h>
#include <tessera/trace.h>

#include "../programs/kvfloor/layout.h"
#include "bench.h"
#include "system.h"

namespace {
using tessera::Error;
using tessera::Result;
using tessera::Syscall;
using tessera::abi::ObjectType;
using tessera::capnp::CapRef;
using tessera::sys::CPtr;

constexpr int kWarmup = 1000;
constexpr int kIterations = 10000;
constexpr uint64_t kImageBase = 0x400000;         // libsys/rt/user.ld
constexpr uint64_t kSharedAddress = 0x30000000;   // shared page, same address in both spaces
constexpr uint64_t kServerWindow = 0x31000000;    // the server thread's IPC buffer and stack
constexpr uint8_t kDepth = 64;

enum Mode : uint64_t { kEcho = 1, kEchoCap = 2, kRecvStamp = 3, kWaitStamp = 4 };

// What the server reads at start and the timestamps it leaves for the client.
struct Shared {
  uint64_t mode;
  uint64_t object;        // the endpoint or notification
  uint64_t receive_slot;  // kEchoCap: where received caps land
  uint64_t ipc_buffer;    // the server's IPC buffer address
  volatile uint64_t stamp;
};

[[gnu::always_inline]] inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// One system call with message registers in and out (no IPC-buffer access).
struct Regs {
  uint64_t rdi, rsi, r10, r8, r9, r15;
};
[[gnu::always_inline]] inline uint64_t raw(Syscall number, Regs& r) {
  uint64_t rax;
  register uint64_t r10 asm("r10") = r.r10;
  register uint64_t r8 asm("r8") = r.r8;
  register uint64_t r9 asm("r9") = r.r9;
  register uint64_t r15 asm("r15") = r.r15;
  asm volatile("syscall"
               : "=a"(rax), "+D"(r.rdi), "+S"(r.rsi), "+r"(r10), "+r"(r8), "+r"(r9), "+r"(r15)
               : "d"(static_cast<uint64_t>(number))
               : "rcx", "r11", "memory");
  r.r10 = r10;
  r.r8 = r8;
  r.r9 = r9;
  r.r15 = r15;
  return rax;
}

// The server: echoes every message back (ReplyRecv), or stamps the time each message / signal
// arrives. Touches only its stack, its IPC buffer and the shared page.
[[noreturn, gnu::noinline, gnu::aligned(4096)]] void server_program(uint64_t shared_address) {
  volatile Shared* shared = reinterpret_cast<volatile Shared*>(shared_address);
  const uint64_t mode = shared->mode;
  const uint64_t object = shared->object;
  if (mode == kEchoCap) {
    auto* buffer = reinterpret_cast<volatile uint64_t*>(shared->ipc_buffer);
    buffer[125] = tessera::kSlotRootCNode;  // receive_cnode, receive_index, receive_depth
    buffer[126] = shared->receive_slot;
    buffer[127] = kDepth;
  }
  Regs r{object, 0, 0, 0, 0, 0};
  raw(Syscall::Recv, r);
  for (;;) {
    if (mode == kRecvStamp || mode == kWaitStamp) {
      shared->stamp = rdtsc();
      r.rdi = object;
      raw(Syscall::Recv, r);
      continue;
    }
    r.rsi &= 0x7F;  // reply with the same number of words, no caps
    r.rdi = object;
    raw(Syscall::ReplyRecv, r);
  }
}

uint64_t samples[kIterations];

void sort(uint64_t* v, int n) {
  for (int gap = n / 2; gap > 0; gap /= 2) {  // Shell sort: quick enough for 10,000 values
    for (int i = gap; i < n; ++i) {
      const uint64_t x = v[i];
      int j = i;
      for (; j >= gap && v[j - gap] > x; j -= gap) v[j] = v[j - gap];
      v[j] = x;
    }
  }
}

uint64_t rdtsc_overhead() {
  for (int i = 0; i < kIterations; ++i) {
    const uint64_t a = rdtsc();
    samples[i] = rdtsc() - a;
  }
  sort(samples, kIterations);
  return samples[kIterations / 2];
}

void report(const char* name, uint64_t overhead) {
  sort(samples, kIterations);
  const uint64_t median = samples[kIterations / 2];
  tessera::sys::print("BENCH %s median=%lu min=%lu max=%lu overhead=%lu\n", name,
                      median > overhead ? median - overhead : 0, samples[0], samples[kIterations - 1], overhead);
}

// Times `op` (which returns a sample of its own when `self_timed`).
template <typename Op>
void measure(const char* name, uint64_t overhead, Op op) {
  for (int i = 0; i < kWarmup; ++i) op();
  for (int i = 0; i < kIterations; ++i) {
    const uint64_t start = rdtsc();
    op();
    samples[i] = rdtsc() - start;
  }
  report(name, overhead);
}

class Bench {
 public:
  Bench(const tessera::BootInfo& info, tessera::sys::CallTransport& kernel)
      : info_(info), kernel_(kernel), slots_(tessera::sys::root_free_slots(info)), memory_(info, kernel, slots_) {}

  Result<CPtr> make(ObjectType type) { return memory_.allocate(type); }
  Result<CPtr> slot() { return slots_.alloc(); }

  // A server thread at `priority` running server_program in `vspace` (the root's, or a new space
  // holding a copy of the code page and the shared page).
  bool start_server(CPtr vspace, Shared* shared_in_server_view, uint8_t priority, tessera::sys::Thread** out) {
    tessera::sys::ThreadOptions options;
    options.vspace = vspace;
    options.window = kServerWindow + static_cast<uint64_t>(thread_count_) * 0x100000;  // one window each
    options.priority = priority;
    auto thread = tessera::sys::Thread::create(memory_, &tables_, options);
    if (!thread.ok()) return fail("thread", thread.error());
    threads_[thread_count_] = new (&thread_storage_[thread_count_]) tessera::sys::Thread(thread.take());
    shared_->ipc_buffer = threads_[thread_count_]->ipc_buffer_address();
    // Enter server_program directly (libsys's start trampoline lives in a page other spaces lack).
    tessera::abi::Tcb::Client<tessera::sys::CallTransport> tcb(kernel_, threads_[thread_count_]->tcb());
    auto r = tcb.write_registers(true, 9, reinterpret_cast<uint64_t>(&server_program),
                                 threads_[thread_count_]->stack_top() - 8, 0x202, 0, 0, 0, 0, 0,
                                 reinterpret_cast<uint64_t>(shared_in_server_view), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    if (!r.ok()) return fail("start", r.error());
    *out = threads_[thread_count_++];
    (void)tessera::sys::yield();  // let it reach its first Recv
    return true;
  }

  // A new address space with init's server code page and the shared page at the same addresses.
  Result<CPtr> make_space() {
    const CPtr pml4 = TRY(make(ObjectType::Pml4));
    const uint64_t code_page = reinterpret_cast<uint64_t>(&server_program);
    const CPtr code = TRY(slots_.alloc());
    tessera::abi::CNode::Client<tessera::sys::CallTransport> root(kernel_, tessera::kSlotRootCNode);
    TRY(root.copy(code, kDepth, CapRef{tessera::kSlotRootCNode}, info_.image_frames.start + (code_page - kImageBase) / 4096,
                  kDepth, tessera::abi::kRightRead));
    TRY(tessera::sys::map_frame(memory_, {pml4, code, code_page, tessera::sys::PageSize::k4K, tessera::abi::kRightRead, 0},
                                &tables_));
    const CPtr shared_copy = TRY(slots_.alloc());
    TRY(root.copy(shared_copy, kDepth, CapRef{tessera::kSlotRootCNode}, shared_frame_, kDepth, tessera::abi::kRightsAll));
    TRY(tessera::sys::map_frame(memory_, {pml4, shared_copy, kSharedAddress}, &tables_));
    return pml4;
  }

  bool init() {
    auto frame = make(ObjectType::Frame4k);
    if (!frame.ok()) return fail("shared frame", frame.error());
    shared_frame_ = *frame;
    auto r = tessera::sys::map_frame(memory_, {tessera::kSlotRootVSpace, shared_frame_, kSharedAddress}, &tables_);
    if (!r.ok()) return fail("map shared", r.error());
    shared_ = reinterpret_cast<Shared*>(kSharedAddress);
    return true;
  }

  bool fail(const char* what, Error e) {
    tessera::sys::print("BENCH-ERROR %s: error %u\n", what, static_cast<unsigned>(e));
    return false;
  }

  Shared* shared_ = nullptr;
  tessera::sys::UntypedAllocator& memory() { return memory_; }

 private:
  const tessera::BootInfo& info_;
  tessera::sys::CallTransport& kernel_;
  tessera::sys::SlotAllocator slots_;
  tessera::sys::UntypedAllocator memory_;
  tessera::sys::CreatedTables tables_;
  CPtr shared_frame_ = 0;
  alignas(tessera::sys::Thread) uint8_t thread_storage_[8][sizeof(tessera::sys::Thread)];
  tessera::sys::Thread* threads_[8] = {};
  int thread_count_ = 0;
};

// Measures a one-way delivery: `op` sends; the higher-priority server stamps the arrival.
template <typename Op>
void one_way(const char* name, uint64_t overhead, Shared* shared, Op op) {
  for (int i = 0; i < kWarmup + kIterations; ++i) {
    const uint64_t start = rdtsc();
    op();
    if (i >= kWarmup) samples[i - kWarmup] = shared->stamp - start;
  }
  report(name, overhead);
}

// The floor of a typed get (kv_get_floor_cross_as): Store.get with the request written into the
// registers and the reply checked in them by hand, as much as the generated stub and reader check
// on the usual path (the error, the label, the root, the value's pointer kind and bounds), and the
// results read at once. The key is one word with its NUL (`key_word`, `key_pointer` its list
// pointer).
struct FloorResult {
  Error error;
  bool found;
  tessera::capnp::Data value;
};
uint64_t floor_reply[4];  // the reply's words, where the value read points
constexpr uint64_t kFloorKey = 0x0000'0068'636e'6562ull;  // "bench" and its NUL, little-endian
constexpr uint64_t kFloorKeyPointer = kvfloor::wire::make_list(0, tessera::capnp::ElementSize::Byte, 6);
[[gnu::always_inline]] inline FloorResult floor_get(CPtr endpoint, uint64_t key_word, uint64_t key_pointer) {
  Regs r{endpoint, (kvfloor::kGetLabel << 12) | 3, kvfloor::kParamsRoot, key_pointer, key_word, 0};
  const uint64_t e = raw(Syscall::Call, r);
  if (e != 0) [[unlikely]] return {static_cast<Error>(e), false, {}};
  if (r.rsi >= 0x1000) [[unlikely]] return {tessera::capnp::error_from_label(r.rsi >> 12, tessera::kErrorCount), false, {}};
  const uint64_t length = r.rsi & 0x7F;
  if (length == 0) return {Error::Ok, false, {}};
  if (length < 3 || r.r10 != kvfloor::kResultsRoot) [[unlikely]] return {Error::MalformedMessage, false, {}};
  const bool found = (r.r8 & 1) != 0;
  if (r.r9 == 0) return {Error::Ok, found, {}};
  const int64_t first = 3 + (static_cast<int32_t>(r.r9) >> 2);
  const uint64_t count = r.r9 >> 35;
  // The value must lie in the reply's words, and in the four that came in registers (the floor
  // reads no further).
  if ((r.r9 & kvfloor::kByteListMask) != kvfloor::kByteList || first < 0 || static_cast<uint64_t>(first) * 8 + count > length * 8 ||
      static_cast<uint64_t>(first) * 8 + count > sizeof floor_reply) [[unlikely]] {
    return {Error::MalformedMessage, false, {}};
  }
  uint64_t* words = floor_reply;
  words[0] = r.r10;
  words[1] = r.r8;
  words[2] = r.r9;
  words[3] = r.r15;
  return {Error::Ok, found, {reinterpret_cast<const uint8_t*>(words) + first * 8, static_cast<uint32_t>(count)}};
}

// kvfloor answers "bench" with 1..8, a missing key with nothing and a key without its NUL with
// MalformedMessage; the bench stops at the first that does not hold.
bool floor_checks(CPtr endpoint, Bench& bench) {
  const FloorResult hit = floor_get(endpoint, kFloorKey, kFloorKeyPointer);
  const uint8_t expected[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  if (hit.error != Error::Ok || !hit.found || hit.value.size != 8 || memcmp(hit.value.data, expected, 8) != 0) {
    return bench.fail("kvfloor get bench", hit.error == Error::Ok ? Error::MalformedMessage : hit.error);
  }
  const FloorResult miss = floor_get(endpoint, 0x0000'0078'636e'6562ull, kFloorKeyPointer);  // "bencx"
  if (miss.error != Error::Ok || miss.found || miss.value.data != nullptr) return bench.fail("kvfloor get missing", Error::MalformedMessage);
  const FloorResult bad = floor_get(endpoint, 0x6868686868686868ull, kFloorKeyPointer);  // no NUL
  if (bad.error != Error::MalformedMessage) return bench.fail("kvfloor get without NUL", Error::InvalidArgument);
  return true;
}

void call_loop(const char* name, uint64_t overhead, CPtr endpoint, uint32_t words) {
  measure(name, overhead, [&] {
    Regs r{endpoint, tessera::capnp::MessageInfo{0, words, 0, 0}.encode(), 1, 2, 3, 4};
    raw(Syscall::Call, r);
  });
}
}  // namespace

void run_ipc_benchmarks(const tessera::BootInfo& info) {
  tessera::sys::CallTransport kernel(tessera::sys::ipc_buffer());
  static Bench bench(info, kernel);
  if (!bench.init()) return;
  const uint64_t overhead = rdtsc_overhead();
  Shared* shared = bench.shared_;
  tessera::sys::Thread* server = nullptr;

  // Same address space: a server thread at the root's priority.
  auto ep_same = bench.make(ObjectType::Endpoint);
  if (!ep_same.ok()) return;
  *shared = Shared{kEcho, *ep_same, 0, 0, 0};
  if (!bench.start_server(tessera::kSlotRootVSpace, shared, 255, &server)) return;
  call_loop("call_replyrecv_same_as_0w", overhead, *ep_same, 0);

  // Another address space.
  auto space = bench.make_space();
  auto ep_cross = bench.make(ObjectType::Endpoint);
  if (!space.ok() || !ep_cross.ok()) return;
  *shared = Shared{kEcho, *ep_cross, 0, 0, 0};
  if (!bench.start_server(*space, reinterpret_cast<Shared*>(kSharedAddress), 255, &server)) return;
  call_loop("call_replyrecv_cross_as_0w", overhead, *ep_cross, 0);
  call_loop("call_replyrecv_cross_as_4w", overhead, *ep_cross, 4);

  // A round trip carrying one capability (general path): the server receives it into a slot of
  // the shared CNode, which the client empties again between iterations (not timed).
  auto ep_cap = bench.make(ObjectType::Endpoint);
  auto gift = bench.make(ObjectType::Notification);
  auto receive_slot = bench.slot();
  if (!ep_cap.ok() || !gift.ok() || !receive_slot.ok()) return;
  *shared = Shared{kEchoCap, *ep_cap, *receive_slot, 0, 0};
  if (!bench.start_server(*space, reinterpret_cast<Shared*>(kSharedAddress), 255, &server)) return;
  tessera::sys::ipc_buffer()->caps_or_badges[0] = *gift;
  tessera::abi::CNode::Client<tessera::sys::CallTransport> root(kernel, tessera::kSlotRootCNode);
  for (int i = 0; i < kWarmup + kIterations; ++i) {
    Regs r{*ep_cap, tessera::capnp::MessageInfo{0, 0, 1, 0}.encode(), 0, 0, 0, 0};
    const uint64_t start = rdtsc();
    raw(Syscall::Call, r);
    const uint64_t end = rdtsc();
    if (i >= kWarmup) samples[i - kWarmup] = end - start;
    if (i == 0 && tessera::capnp::MessageInfo::decode(r.rsi).length_words != 0) break;
    if (!root.delete_(*receive_slot, kDepth).ok()) {
      bench.fail("delete the received cap", Error::EmptySlot);  // the cap did not arrive
      return;
    }
  }
  report("call_replyrecv_cross_as_cap", overhead);

  // One-way costs: the server runs at a higher priority, so each send switches straight to it.
  tessera::abi::Tcb::Client<tessera::sys::CallTransport> self(kernel, tessera::kSlotRootTcb);
  if (!self.set_priority(CapRef{tessera::kSlotRootTcb}, 200).ok()) return;
  auto ep_oneway = bench.make(ObjectType::Endpoint);
  if (!ep_oneway.ok()) return;
  *shared = Shared{kRecvStamp, *ep_oneway, 0, 0, 0};
  if (!bench.start_server(*space, reinterpret_cast<Shared*>(kSharedAddress), 255, &server)) return;
  one_way("send_recv_oneway", overhead, shared, [&] {
    Regs r{*ep_oneway, 0, 0, 0, 0, 0};
    raw(Syscall::Send, r);
  });
  auto notification = bench.make(ObjectType::Notification);
  auto badged = bench.slot();
  if (!notification.ok() || !badged.ok()) return;
  if (!root.mint(*badged, kDepth, CapRef{tessera::kSlotRootCNode}, *notification, kDepth, tessera::abi::kRightsAll, 1)
           .ok()) {
    return;
  }
  *shared = Shared{kWaitStamp, *notification, 0, 0, 0};
  if (!bench.start_server(*space, reinterpret_cast<Shared*>(kSharedAddress), 255, &server)) return;
  one_way("signal_wait", overhead, shared, [&] {
    Regs r{*badged, 0, 0, 0, 0, 0};
    raw(Syscall::Send, r);
  });
  (void)self.set_priority(CapRef{tessera::kSlotRootTcb}, 255);

  // The cost of typing: the example kv server's get, through the generated client and server
  // stubs (encode, IPC, decode, table lookup, encode, IPC, decode), next to the raw round trip.
  const init::EmbeddedFile* kv_image = init::find_embedded_file("kv");
  auto kv_endpoint = bench.make(ObjectType::Endpoint);
  if (kv_image == nullptr || !kv_endpoint.ok()) return;
  const tessera::sys::Grant grants[] = {{"endpoint:kv", *kv_endpoint, tessera::abi::kRightRead, 0}};
  tessera::sys::ProcessOptions options;
  options.name = "kv";
  options.priority = 255;
  options.grants = grants;
  options.grant_count = 1;
  auto kv = tessera::sys::Process::spawn(bench.memory(), kv_image->data, kv_image->size, options);
  if (!kv.ok()) {
    bench.fail("spawn kv", kv.error());
    return;
  }
  (void)tessera::sys::yield();
  tessera::kv::Store::Client<tessera::sys::CallTransport> store(kernel, *kv_endpoint);
  const uint8_t value[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  if (!store.put("bench", tessera::capnp::Data{value, 8}).ok()) {
    bench.fail("kv put", Error::MalformedMessage);
    return;
  }
  measure("kv_get_typed_cross_as", overhead, [&] { (void)store.get("bench"); });
  (void)kv->destroy();

  // The floor under it: the same get written by hand on both sides (tests/programs/kvfloor and
  // floor_get), with the checks the generated code makes on the usual path, from the same table.
  const init::EmbeddedFile* floor_image = init::find_embedded_file("kvfloor");
  auto floor_endpoint = bench.make(ObjectType::Endpoint);
  if (floor_image == nullptr || !floor_endpoint.ok()) return;
  const tessera::sys::Grant floor_grants[] = {{"endpoint:kv", *floor_endpoint, tessera::abi::kRightRead, 0}};
  options.name = "kvfloor";
  options.grants = floor_grants;
  auto floor = tessera::sys::Process::spawn(bench.memory(), floor_image->data, floor_image->size, options);
  if (!floor.ok()) {
    bench.fail("spawn kvfloor", floor.error());
    return;
  }
  (void)tessera::sys::yield();
  if (!floor_checks(*floor_endpoint, bench)) {
    (void)floor->destroy();
    return;
  }
  measure("kv_get_floor_cross_as", overhead, [&] { (void)floor_get(*floor_endpoint, kFloorKey, kFloorKeyPointer); });
  (void)floor->destroy();
}

// Tracing (`bench=trace`, scripts/bench.d/trace): the cross-address-space round trip with tracing
// off, then with Scheduling and IPC on (Call, Receive, Reply and two Switch records per round
// trip), and the cost of one record: the difference over the records each round trip wrote. The
// ring is emptied first and holds every record of the run (nothing is dropped: checked).
void run_trace_benchmarks(const tessera::BootInfo& info) {
  tessera::sys::CallTransport kernel(tessera::sys::ipc_buffer());
  static Bench bench(info, kernel);
  if (!bench.init()) return;
  const uint64_t overhead = rdtsc_overhead();
  tessera::sys::Thread* server = nullptr;
  auto space = bench.make_space();
  auto endpoint = bench.make(ObjectType::Endpoint);
  if (!space.ok() || !endpoint.ok()) return;
  *bench.shared_ = Shared{kEcho, *endpoint, 0, 0, 0};
  if (!bench.start_server(*space, reinterpret_cast<Shared*>(kSharedAddress), 255, &server)) return;
  tessera::abi::TraceControl::Client<tessera::sys::CallTransport> control(kernel, tessera::kSlotTraceControl);

  if (!control.set_categories(0).ok()) {
    (void)bench.fail("TraceControl.setCategories", Error::InvalidCapability);
    return;
  }
  call_loop("ipc_round_trip_tracing_off", overhead, *endpoint, 0);
  const uint64_t off = samples[kIterations / 2];

  // Room for every record of the run: the whole ring, emptied.
  auto emptied = control.set_capacity(0, tessera::trace::kMaxRingRecords);
  auto before = emptied.ok() ? control.status(0) : emptied.error();
  if (!before.ok()) {
    (void)bench.fail("TraceControl.setCapacity/status", before.error());
    return;
  }
  const uint64_t written_before = before->written(), dropped_before = before->dropped();
  (void)control.set_categories(tessera::trace::kCategoryScheduling | tessera::trace::kCategoryIpc);
  // The records of setCategories itself (names of every thread) are not the round trips'.
  auto started = control.status(0);
  if (!started.ok()) {
    (void)bench.fail("TraceControl.status", started.error());
    return;
  }
  const uint64_t written_start = started->written();
  call_loop("ipc_round_trip_tracing_on", overhead, *endpoint, 0);
  const uint64_t on = samples[kIterations / 2];
  (void)control.set_categories(0);
  auto after = control.status(0);
  if (!after.ok()) {
    (void)bench.fail("TraceControl.status", Error::InvalidCapability);
    return;
  }
  // Invocations are not traced here (switching off wrote nothing): what was written since
  // written_start is the round trips' records.
  const uint64_t records = after->written() - written_start;
  const uint64_t round_trips = kWarmup + kIterations;
  const uint64_t per_round_trip = (records + round_trips / 2) / round_trips;
  tessera::sys::print("BENCH-INFO records=%lu round_trips=%lu per_round_trip=%lu dropped=%lu names=%lu\n", records,
                      round_trips, per_round_trip, after->dropped() - dropped_before, written_start - written_before);
  if (per_round_trip != 0 && on > off) {
    tessera::sys::print("BENCH per_event median=%lu\n", (on - off + per_round_trip / 2) / per_round_trip);
  }
  (void)control.consume(0, after->written());
}
