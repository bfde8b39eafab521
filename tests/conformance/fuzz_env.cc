// The in-guest kernel fuzzer (docs/testing.md "The kernel fuzzer").
//
// Threads of the test process:
//   worker   (priority 200, fault endpoint: ours) performs operation i = 0, 1, ... of the seed:
//            each operation is chosen by a PRNG seeded with (seed, i), so a restart continues the
//            same sequence. Its fault endpoint is an endpoint of ours, so a fault is seen.
//   helpers  (priority 200; two in our address space, two in a second one) do a few random IPC
//            system calls on the fuzzer's slots, then park on a notification of their own until
//            the worker wakes them: they block in IPC on the objects the worker deletes.
//   main     (the test's thread, lowered to priority 100) is the watchdog: it runs only when
//            every thread above it is blocked, so when it runs the worker is stuck in a blocking
//            call (or finished, or faulted). It then suspends the worker and restarts it at the
//            top of its loop with Tcb.writeRegisters, which continues with the next operation.
//
// Everything the fuzzer makes is carved from one untyped (the 4 MiB the process gets: "arena")
// into 256 root-CNode slots of its own ("pool", a fixed range far above the slots Env hands out)
// or CNodes made there. Random capability pointers name pool slots or garbage (never one of the
// process's own slots), so random operations cannot touch the process's own TCB, CNode, image,
// stack, heap or IPC buffer; frames are mapped into its own PML4 only outside a deny-list of its
// own addresses. Every kResetEvery operations, and at the end, the arena is revoked, the pool swept,
// and the arena must be whole again (describe watermark 0, a retype of all of it succeeds).
#include "fuzz_env.h"

#include <tessera/abi/kernel.capnp.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/thread.h>

#include "cap_test_env.h"
#include "ipc_test_env.h"

namespace fuzz {
namespace {
namespace sys = tessera::sys;
namespace abi = tessera::abi;
using captest::Client;
using captest::Env;
using tessera::Error;
using tessera::IpcBuffer;
using tessera::Syscall;
using tessera::abi::ObjectType;
using tessera::capnp::CapRef;
using sys::CPtr;
using sys::CallTransport;
using sys::MessageInfo;

constexpr CPtr kPoolBase = 0xE00;
constexpr uint32_t kPoolSize = 256;
constexpr uint8_t kWorkerPriority = 200;
constexpr uint8_t kHelperPriority = 200;
constexpr uint8_t kWatchdogPriority = 100;
constexpr uint32_t kHelpers = 4;  // 0, 1 in our address space; 2, 3 in the second one
constexpr uint64_t kWorkerWindow = 0x38000000;
constexpr uint64_t kHelperWindows = 0x38100000;  // + i * 0x10000 (own space)
constexpr uint32_t kChildWindowIndex = 4;         // ChildSpace windows 4, 5
// Windows in the second space for threads the worker starts on pool TCBs ("disposable" threads:
// they run helper_op a few times and stop; the pool TCB may be deleted while they are blocked).
constexpr uint32_t kDisposableWindows = 4;
constexpr uint64_t kDisposableWindowBase = 0x38400000;  // + w * 0x10000: IPC page, guard, 2 stack pages
constexpr uint64_t kMapWindow = 0x0000200000000000ull;  // 1 TiB of our space for fuzz mappings
constexpr uint64_t kMapWindowBytes = 1ull << 40;
constexpr uint64_t kResetEvery = 2048;
constexpr uint32_t kRing = 32;
constexpr uint64_t kTouchPattern = 0xCCCCCCCCCCCCCCCCull;  // int3s if it ever runs as code
// Lines for IRQHandlers: not 0/2 (PIT) or 4 (COM1). Line 8 is the RTC, whose periodic interrupt
// the fuzzer turns on, so interrupts really arrive (at whatever notification is bound then).
constexpr uint8_t kIrqLines[] = {8, 8, 8, 8, 3, 5, 6, 7, 9, 10, 11, 12, 14, 15};
constexpr uint8_t kRtcLine = 8;
constexpr uint8_t kIrqHandlerKind = 30;  // hint for pool slots holding an IRQHandler
constexpr uint64_t kLabelMask = (1ull << 52) - 1;

// Regions of our own address space nothing may be mapped over: the image and thread windows
// (first GiB), the heap, and the stack, BootInfo and IPC buffer at the top.
struct Range {
  uint64_t start, end;
};
constexpr Range kDenied[] = {
    {0, 0x40000000},
    {sys::kRootHeapAddress, sys::kRootHeapAddress + 0x40000000},
    {0x00007FFFC0000000ull, 0x0000800000000000ull},
};

enum class Op : uint8_t {
  Retype, Describe, Copy, Mint, Move, Mutate, Rotate, Delete, Revoke, CancelBadged,
  TcbConfigure, TcbSetSpace, TcbSetIpcBuffer, TcbPriority, TcbSuspendResume, TcbReadRegs, TcbWriteRegs,
  TcbBind, TcbMisc, Ipc, MapFrame, MapTable, Unmap, FrameAddress, Irq, Sched, RawInvoke, UnknownSyscall,
  Helper, Yield, RevokeArena, Spawn, Reset, Count
};
constexpr const char* kOpNames[] = {
    "retype", "describe", "copy", "mint", "move", "mutate", "rotate", "delete", "revoke", "cancelBadged",
    "tcb.configure", "tcb.setSpace", "tcb.setIpcBuffer", "tcb.priority", "tcb.suspendResume", "tcb.readRegs",
    "tcb.writeRegs", "tcb.bind", "tcb.misc", "ipc", "map.frame", "map.table", "unmap", "frame.address", "irq",
    "sched", "raw.invoke", "syscall.unknown", "helper", "yield", "revoke.arena", "spawn", "reset"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<size_t>(Op::Count));
// Relative weights of the random operations (Reset is not random).
constexpr uint8_t kWeights[] = {14, 2, 5, 5, 3, 3, 2, 6, 3, 2, 3, 2, 2, 3, 3, 2, 2, 3, 2, 20, 6, 4, 3, 1, 4, 4, 6, 1, 8, 2, 1, 5, 0};
static_assert(sizeof(kWeights) == static_cast<size_t>(Op::Count));

uint64_t mix(uint64_t& state) {  // splitmix64
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t state;
  uint64_t next() { return mix(state); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(uint32_t percent) { return below(100) < percent; }
};

struct Record {
  uint64_t index;
  Op op;
  uint16_t result;  // Error, or 0xFFFF while running / when the watchdog restarted it
  uint64_t a, b, c;
};

struct HelperInfo {
  sys::Thread* thread;
  CPtr vspace;
  CPtr park;
};

struct State {
  Options options{};
  CPtr arena = 0;
  uint8_t arena_bits = 0;
  CPtr scratch = 0;
  CPtr fault_endpoint = 0;
  CPtr child_pml4 = 0;
  CPtr worker_tcb = 0;
  CPtr rtc_ports = 0;  // IoPort 0x70-0x71 (0 when it could not be issued)
  uint64_t worker_stack_top = 0;
  HelperInfo helpers[kHelpers] = {};
  CPtr disposable_ipc[kDisposableWindows] = {};  // IPC-buffer frames of the disposable windows
  CPtr disposable_tcb[kDisposableWindows] = {};  // the pool slot last started in each window
  uint64_t spawns = 0;
  uint64_t next_op = 0;
  uint64_t invocations = 0;
  uint64_t redirects = 0;
  uint64_t resets = 0;
  uint64_t helper_restarts = 0;
  uint64_t expected_faults = 0;
  bool finished = false;
  bool failed = false;
  bool expect_fault = false;
  char failure[200] = {};
  uint8_t hint[kPoolSize] = {};  // ObjectType + 1 (or kIrqHandlerKind) last put there; 0 unknown
  uint8_t bits[kPoolSize] = {};  // size bits / radix of what is there
  Record ring[kRing] = {};
  uint64_t ring_count = 0;
};
constinit State S{};

// --- choosing arguments -----------------------------------------------------------------------

CPtr pool_slot(Rng& r) { return kPoolBase + r.below(kPoolSize); }
bool in_pool(CPtr c) { return c >= kPoolBase && c < kPoolBase + kPoolSize; }
// A capability pointer that never names one of the process's own slots: 0, beyond the root
// CNode, or a pool slot with guard bits that do not match.
CPtr garbage(Rng& r) {
  switch (r.below(4)) {
    case 0: return 0;
    case 1: return r.next() | 0x1000;
    case 2: return pool_slot(r) | ((1 + r.below(1ull << 20)) << 12);
    default: return ~0ull;
  }
}
CPtr any_cptr(Rng& r) { return r.chance(90) ? pool_slot(r) : garbage(r); }
// A pool slot last seen holding `kind` (ObjectType + 1), mostly; otherwise any cptr.
CPtr typed(Rng& r, uint8_t kind) {
  if (r.chance(85)) {
    const uint32_t start = static_cast<uint32_t>(r.below(kPoolSize));
    for (uint32_t i = 0; i < kPoolSize; ++i) {
      const uint32_t j = (start + i) % kPoolSize;
      if (S.hint[j] == kind) return kPoolBase + j;
    }
  }
  return any_cptr(r);
}
uint8_t kind_of(ObjectType t) { return static_cast<uint8_t>(static_cast<uint8_t>(t) + 1); }
CPtr typed(Rng& r, ObjectType t) { return typed(r, kind_of(t)); }
uint8_t hint_bits(CPtr c) { return in_pool(c) ? S.bits[c - kPoolBase] : 0; }
void set_hint(CPtr c, uint8_t kind, uint8_t bits) {
  if (!in_pool(c)) return;
  S.hint[c - kPoolBase] = kind;
  S.bits[c - kPoolBase] = bits;
}
void copy_hint(CPtr to, CPtr from) {
  if (in_pool(to)) set_hint(to, in_pool(from) ? S.hint[from - kPoolBase] : 0, hint_bits(from));
}

// A slot for CNode operations: a pool slot of the root CNode (depth 64), or a slot of a pool CNode.
struct Loc {
  CPtr root;
  uint64_t index;
  uint8_t depth;
};
Loc pick_loc(Rng& r) {
  if (r.chance(75)) {
    const uint8_t depth = r.chance(96) ? 64 : static_cast<uint8_t>(r.chance(50) ? 65 : 255);
    return {tessera::kSlotRootCNode, r.chance(97) ? pool_slot(r) : (garbage(r) | 0x1000), depth};
  }
  const CPtr cnode = typed(r, ObjectType::Cnode);
  const uint8_t radix = hint_bits(cnode);
  const uint64_t index = r.below(1ull << (radix + 1));
  const uint8_t depth = r.chance(85) ? radix : static_cast<uint8_t>(r.below(70));
  return {cnode, index, depth};  // a pool slot or garbage, never one of our own slots
}
bool is_root(const Loc& l) { return l.root == tessera::kSlotRootCNode; }

uint64_t random_word(Rng& r) {
  switch (r.below(6)) {
    case 0: return 0;
    case 1: return r.below(16);
    case 2: return ~0ull;
    case 3: return 1ull << r.below(64);
    default: return r.next();
  }
}

bool denied(uint64_t start, uint64_t bytes) {
  for (const Range& d : kDenied) {
    if (start < d.end && start + bytes > d.start) return true;
  }
  return start + bytes < start;
}

// An address for mapping into our own PML4: mostly inside the fuzz window, sometimes anywhere
// not denied, sometimes invalid (kernel half, non-canonical, misaligned).
uint64_t own_vaddr(Rng& r, uint64_t bytes) {
  const uint64_t align = bytes < 4096 ? 4096 : bytes;
  uint64_t v = 0;
  switch (r.below(10)) {
    case 0: v = r.chance(50) ? 0xFFFF800000000000ull + r.below(1ull << 30) * 4096 : (1ull << 47) + r.below(1ull << 40); break;
    case 1: v = (r.next() & 0x00007FFFFFFFF000ull) & ~(align - 1); break;
    case 2: v = kMapWindow + (r.below(kMapWindowBytes) & ~uint64_t{0xFFF}) + r.below(4) * 8; break;
    default: v = kMapWindow + (r.below(kMapWindowBytes) & ~(align - 1)); break;
  }
  if (v < 0x0000800000000000ull && denied(v & ~(align - 1), align)) v = kMapWindow + (v & (kMapWindowBytes - 1) & ~(align - 1));
  return v;
}
// An address for a space that is not ours: anything.
uint64_t other_vaddr(Rng& r, uint64_t bytes) {
  if (r.chance(10)) return r.next();
  const uint64_t align = bytes < 4096 ? 4096 : bytes;
  return (r.next() & 0x00007FFFFFFFFFFFull) & ~(align - 1);
}
// A PML4 for mapping: ours (then the address comes from the deny-list rules), the second space,
// a pool PML4 or garbage.
CPtr pick_vspace(Rng& r, bool* own) {
  *own = false;
  const uint64_t k = r.below(10);
  if (k < 4) {
    *own = true;
    return tessera::kSlotRootVSpace;
  }
  if (k < 5) return S.child_pml4;
  return typed(r, ObjectType::Pml4);
}

#define TRY_ERROR(expr)                 \
  do {                                  \
    const Error e_ = (expr);            \
    if (e_ != Error::Ok) return e_;     \
  } while (0)

// --- the worker -------------------------------------------------------------------------------

template <typename R>
Error count(const R& result) {
  ++S.invocations;
  return result.error();
}

Record* begin(uint64_t index, Op op, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
  Record& rec = S.ring[S.ring_count++ % kRing];
  rec = Record{index, op, 0xFFFF, a, b, c};
  return &rec;
}
void finish(Record* rec, Error e) { rec->result = static_cast<uint16_t>(e); }
// Records the operation's arguments; every operation calls it before its system call, so with
// fuzz_verbose=1 the serial log shows each operation before it happens (a panic's last line).
void set_args(Record* rec, uint64_t a, uint64_t b, uint64_t c) {
  rec->a = a;
  rec->b = b;
  rec->c = c;
  if (S.options.verbose) {
    sys::print("F %lu %s %lx %lx %lx\n", rec->index, kOpNames[static_cast<int>(rec->op)], a, b, c);
  }
}

void fail(const char* why, uint64_t value) {
  if (S.failed) return;
  S.failed = true;
  tessera::format_to(S.failure, sizeof(S.failure), "%s (0x%lx)", why, value);
}

uint8_t random_object_bits(Rng& r, ObjectType type) {
  switch (type) {
    case ObjectType::Untyped: return static_cast<uint8_t>(r.chance(90) ? 4 + r.below(18) : r.below(70));
    case ObjectType::Cnode: return static_cast<uint8_t>(r.chance(90) ? 1 + r.below(7) : r.below(70));
    case ObjectType::SchedContext: return static_cast<uint8_t>(r.chance(90) ? 8 + r.below(4) : r.below(70));
    default: return static_cast<uint8_t>(r.chance(90) ? 0 : r.below(70));
  }
}

Error op_retype(CallTransport& k, Rng& r, Record* rec) {
  auto type = static_cast<ObjectType>(r.below(15));  // 14 is no type at all
  if (r.chance(30)) type = r.chance(50) ? ObjectType::Tcb : (r.chance(50) ? ObjectType::Endpoint : ObjectType::Notification);
  const uint8_t bits = random_object_bits(r, type);
  const CPtr source = r.chance(75) ? S.arena : typed(r, ObjectType::Untyped);
  uint64_t n = r.chance(75) ? 1 : 1 + r.below(4);
  if (r.chance(2)) n = r.chance(50) ? 0 : 257;
  Client<abi::Untyped> untyped{k, source};
  Error e;
  CPtr dest = 0;
  if (r.chance(80)) {
    dest = pool_slot(r);
    if (dest + n > kPoolBase + kPoolSize) n = kPoolBase + kPoolSize - dest;  // never past the pool
    set_args(rec, static_cast<uint64_t>(type) | uint64_t{bits} << 8 | source << 16, dest, n);
    e = count(untyped.retype(type, bits, CapRef{tessera::kSlotRootCNode}, 0, 0, dest, static_cast<uint32_t>(n)));
    if (e == Error::Ok) {
      for (uint64_t i = 0; i < n; ++i) set_hint(dest + i, kind_of(type), bits);
    }
  } else {
    const CPtr cnode = typed(r, ObjectType::Cnode);
    const uint64_t offset = r.below(1ull << (hint_bits(cnode) + 1));
    const uint8_t depth = r.chance(95) ? 64 : static_cast<uint8_t>(r.chance(50) ? 65 : 255);
    set_args(rec, static_cast<uint64_t>(type) | uint64_t{bits} << 8 | source << 16, cnode << 16 | offset, n);
    // depth 64 names the pool slot of the destination CNode; any other depth fails the lookup in
    // the root CNode (whose guard needs all 64 bits), so the root itself is never the target here.
    e = count(untyped.retype(type, bits, CapRef{tessera::kSlotRootCNode}, in_pool(cnode) ? cnode : garbage(r),
                             depth, offset, static_cast<uint32_t>(n)));
  }
  return e;
}

Error op_cnode(CallTransport& k, Rng& r, Record* rec, Op op) {
  const Loc dest = pick_loc(r);
  const Loc src = pick_loc(r);
  Client<abi::CNode> node{k, dest.root};
  const uint8_t rights = static_cast<uint8_t>(r.chance(80) ? r.below(16) : r.below(256));
  const uint64_t badge = random_word(r);
  set_args(rec, dest.root << 32 | dest.index, src.root << 32 | src.index, uint64_t{dest.depth} << 8 | src.depth);
  Error e = Error::Ok;
  switch (op) {
    case Op::Copy:
      e = count(node.copy(dest.index, dest.depth, CapRef{src.root}, src.index, src.depth, rights));
      if (e == Error::Ok && is_root(dest) && is_root(src)) copy_hint(dest.index, src.index);
      break;
    case Op::Mint:
      e = count(node.mint(dest.index, dest.depth, CapRef{src.root}, src.index, src.depth, rights, badge));
      if (e == Error::Ok && is_root(dest) && is_root(src)) copy_hint(dest.index, src.index);
      break;
    case Op::Move:
      e = count(node.move(dest.index, dest.depth, CapRef{src.root}, src.index, src.depth));
      if (e == Error::Ok && is_root(dest) && is_root(src)) {
        copy_hint(dest.index, src.index);
        set_hint(src.index, 0, 0);
      }
      break;
    case Op::Mutate:
      e = count(node.mutate(dest.index, dest.depth, CapRef{src.root}, src.index, src.depth, badge));
      if (e == Error::Ok && is_root(dest) && is_root(src)) {
        copy_hint(dest.index, src.index);
        set_hint(src.index, 0, 0);
      }
      break;
    case Op::Rotate: {
      const Loc pivot = pick_loc(r);
      e = count(node.rotate(dest.index, dest.depth, badge, CapRef{pivot.root}, pivot.index, pivot.depth, random_word(r),
                            CapRef{src.root}, src.index, src.depth));
      if (e == Error::Ok && is_root(dest) && is_root(src) && is_root(pivot)) {
        copy_hint(dest.index, pivot.index);
        copy_hint(pivot.index, src.index);
      }
      break;
    }
    case Op::Delete:
      e = count(node.delete_(dest.index, dest.depth));
      if (e == Error::Ok && is_root(dest)) set_hint(dest.index, 0, 0);
      break;
    case Op::Revoke: e = count(node.revoke(dest.index, dest.depth)); break;
    case Op::CancelBadged: e = count(node.cancel_badged_sends(dest.index, dest.depth)); break;
    default: break;
  }
  return e;
}

// An instruction pointer for a thread of a pool TCB: never code of ours (a pool TCB never runs in
// our own address space, and its CSpace is never our root CNode, but be safe twice).
uint64_t bad_rip(Rng& r) {
  switch (r.below(6)) {
    case 0: return 0;
    case 1: return 0x1000;
    case 2: return kMapWindow + r.below(1ull << 30);
    case 3: return 0x8000000000000000ull | r.next();
    case 4: return 0xFFFFFFFF80000000ull + r.below(1ull << 20);
    default: return (r.next() & 0x00007FFFFFFFFFFFull) | 0x0000400000000000ull;
  }
}

Error op_tcb(CallTransport& k, Rng& r, Record* rec, Op op) {
  const CPtr target = typed(r, ObjectType::Tcb);
  Client<abi::Tcb> tcb{k, target};
  const CPtr cspace = r.chance(85) ? typed(r, ObjectType::Cnode) : garbage(r);
  const CPtr vspace = r.chance(20) ? S.child_pml4 : typed(r, ObjectType::Pml4);
  const uint64_t buffer = r.chance(80) ? (r.next() & 0x00007FFFFFFFFC00ull) : r.next();
  const CPtr frame = typed(r, ObjectType::Frame4k);
  const CPtr fault = r.chance(70) ? pool_slot(r) : random_word(r);
  const CPtr authority = r.chance(60) ? tessera::kSlotRootTcb : typed(r, ObjectType::Tcb);
  set_args(rec, target, cspace << 32 | vspace, buffer);
  switch (op) {
    case Op::TcbConfigure:
      return count(tcb.configure(fault, CapRef{cspace}, random_word(r) & 0xFFFF, CapRef{vspace}, random_word(r) & 0xFFFF,
                                 buffer, CapRef{frame}));
    case Op::TcbSetSpace:
      return count(tcb.set_space(fault, CapRef{cspace}, random_word(r) & 0xFFFF, CapRef{vspace}, random_word(r) & 0xFFFF));
    case Op::TcbSetIpcBuffer: return count(tcb.set_ipc_buffer(buffer, CapRef{frame}));
    case Op::TcbPriority: {
      // Pool threads stay below the worker (they never run our code, but a spinning thread above
      // the watchdog would starve it); 255 with an authority of MCP 0 checks the range error.
      const uint8_t prio = static_cast<uint8_t>(r.chance(95) ? r.below(kWorkerPriority) : 255);
      switch (r.below(3)) {
        case 0: return count(tcb.set_priority(CapRef{authority}, prio));
        case 1: return count(tcb.set_mc_priority(CapRef{authority}, static_cast<uint8_t>(r.below(256))));
        default:
          return count(tcb.set_sched_params(CapRef{authority}, static_cast<uint8_t>(r.below(kWorkerPriority)), prio,
                                            CapRef{r.chance(50) ? typed(r, ObjectType::SchedContext) : any_cptr(r)}));
      }
    }
    case Op::TcbSuspendResume: return r.chance(50) ? count(tcb.suspend()) : count(tcb.resume());
    case Op::TcbReadRegs: return count(tcb.read_registers(r.chance(30), static_cast<uint8_t>(r.below(23))));
    case Op::TcbWriteRegs: {
      uint64_t w[17];
      for (uint64_t& x : w) x = random_word(r);
      return count(tcb.write_registers(r.chance(50), static_cast<uint8_t>(r.below(23)), bad_rip(r), random_word(r),
                                       random_word(r), w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10],
                                       w[11], w[12], w[13], w[14], w[15], w[16]));
    }
    case Op::TcbBind:
      return r.chance(60) ? count(tcb.bind_notification(CapRef{typed(r, ObjectType::Notification)}))
                          : count(tcb.unbind_notification());
    case Op::TcbMisc:
      switch (r.below(3)) {
        case 0: return count(tcb.set_tls_base(random_word(r)));
        case 1: return count(tcb.get_stats());
        default:
          return count(tcb.copy_registers(CapRef{typed(r, ObjectType::Tcb)}, r.chance(50), r.chance(50), r.chance(50),
                                          r.chance(50)));
      }
    default: return Error::Ok;
  }
}

// Fills the IPC buffer for a send: random words, extra caps (pool or garbage), receive slot.
void fill_buffer(Rng& r, uint32_t length) {
  IpcBuffer& b = *sys::ipc_buffer();
  const uint32_t words = length < tessera::kMessageWords ? length : tessera::kMessageWords;
  for (uint32_t i = 0; i < words; ++i) b.msg[i] = random_word(r);
  for (uint64_t& c : b.caps_or_badges) c = any_cptr(r);
  if (r.chance(70)) {
    b.receive_cnode = tessera::kSlotRootCNode;
    b.receive_index = r.chance(95) ? pool_slot(r) : garbage(r);
    b.receive_depth = r.chance(95) ? 64 : (r.chance(50) ? 65 : 255);
  } else {
    const CPtr cnode = typed(r, ObjectType::Cnode);
    b.receive_cnode = in_pool(cnode) ? cnode : garbage(r);
    b.receive_index = r.below(1ull << (hint_bits(cnode) + 1));
    b.receive_depth = r.chance(85) ? hint_bits(cnode) : r.below(256);
  }
}

uint32_t random_length(Rng& r) {
  const uint64_t k = r.below(10);
  return static_cast<uint32_t>(k < 6 ? r.below(5) : (k < 9 ? r.below(121) : r.below(128)));
}

uint64_t random_label(Rng& r, bool kernel_methods) {
  if (kernel_methods && r.chance(60)) return tessera::capnp::make_label(static_cast<uint32_t>(r.below(16)), static_cast<uint16_t>(r.below(17)));
  return r.chance(50) ? r.below(8) : (r.next() & kLabelMask);
}

Error op_ipc(Rng& r, Record* rec) {
  static constexpr Syscall kCalls[] = {Syscall::Send, Syscall::NBSend, Syscall::Call, Syscall::Recv, Syscall::NBRecv,
                                       Syscall::Reply, Syscall::ReplyRecv, Syscall::Null};
  const Syscall call = kCalls[r.below(sizeof(kCalls) / sizeof(kCalls[0]))];
  const uint64_t k = r.below(10);
  const CPtr cap = k < 5 ? typed(r, ObjectType::Endpoint) : (k < 8 ? typed(r, ObjectType::Notification) : any_cptr(r));
  const uint32_t length = random_length(r);
  fill_buffer(r, length);
  const MessageInfo info{random_label(r, false), length, static_cast<uint32_t>(r.below(4)), 0};
  IpcBuffer& b = *sys::ipc_buffer();
  sys::SyscallRegisters regs{cap, info.encode(), {b.msg[0], b.msg[1], b.msg[2], b.msg[3]}};
  if (r.chance(5)) regs.info = r.next();  // any bits at all
  set_args(rec, static_cast<uint64_t>(call), cap, regs.info);
  ++S.invocations;
  return sys::raw_syscall(call, regs);
}

Error op_raw_invoke(Rng& r, Record* rec) {
  const CPtr cap = any_cptr(r);
  const uint32_t length = random_length(r);
  fill_buffer(r, length);
  const MessageInfo info{random_label(r, true), length, static_cast<uint32_t>(r.below(4)), 0};
  IpcBuffer& b = *sys::ipc_buffer();
  sys::SyscallRegisters regs{cap, info.encode(), {b.msg[0], b.msg[1], b.msg[2], b.msg[3]}};
  set_args(rec, cap, regs.info, b.msg[0]);
  ++S.invocations;
  return sys::raw_syscall(r.chance(85) ? Syscall::Call : Syscall::Send, regs);
}

// After a successful map into our own space: the page must be there (a fault here reaches the
// watchdog through the worker's fault endpoint and fails the run).
void touch(Rng& r, uint64_t vaddr, uint64_t bytes, uint8_t rights) {
  if ((rights & captest::kRead) == 0) return;
  auto* word = reinterpret_cast<volatile uint64_t*>(vaddr);
  if ((rights & captest::kWrite) == 0) {
    (void)*word;
    return;
  }
  *word = kTouchPattern;
  if (*word != kTouchPattern) fail("a word written to a freshly mapped page did not read back", vaddr);
  // Fill (part of) the page, so memory the kernel still uses after freeing it shows: int3s,
  // zeros, random words, or words that look like kernel direct-map pointers.
  const uint64_t words = (bytes < 16384 ? bytes : 16384) / 8;
  const uint64_t kind = r.below(4);
  const uint64_t base = r.next();
  uint64_t state = base;
  for (uint64_t i = 1; i < words; ++i) {
    switch (kind) {
      case 0: word[i] = kTouchPattern; break;
      case 1: word[i] = 0; break;
      case 2: word[i] = mix(state); break;
      default: word[i] = 0xFFFF800000000000ull + ((base + i * 0x40) & 0x7FFFFC0); break;
    }
  }
}

Error op_map_frame(CallTransport& k, Rng& r, Record* rec) {
  const bool big = r.chance(20);
  const CPtr frame = typed(r, big ? ObjectType::Frame2m : ObjectType::Frame4k);
  bool own = false;
  const CPtr vspace = pick_vspace(r, &own);
  const uint64_t bytes = big ? (2ull << 20) : 4096;
  const uint64_t vaddr = own ? own_vaddr(r, bytes) : other_vaddr(r, bytes);
  const uint8_t rights = static_cast<uint8_t>(r.chance(90) ? r.below(4) : r.below(256));
  const uint8_t attributes = static_cast<uint8_t>(r.chance(90) ? (r.chance(50) ? captest::kExecuteNever : r.below(8)) : r.below(256));
  set_args(rec, frame << 32 | vspace, vaddr, uint64_t{rights} << 8 | attributes);
  Client<abi::Frame> f{k, frame};
  const Error e = count(f.map(CapRef{vspace}, vaddr, rights, attributes));
  if (e == Error::Ok && own && vaddr < 0x0000800000000000ull && (attributes & 3) == 0) {
    if (denied(vaddr, bytes)) fail("the fuzzer mapped over its own memory", vaddr);
    else touch(r, vaddr, bytes, rights);
  }
  return e;
}

Error op_map_table(CallTransport& k, Rng& r, Record* rec) {
  bool own = false;
  const CPtr vspace = pick_vspace(r, &own);
  const uint8_t attributes = static_cast<uint8_t>(r.chance(90) ? 0 : r.below(256));
  const uint64_t which = r.below(3);
  const uint64_t covers = which == 0 ? (1ull << 39) : (which == 1 ? (1ull << 30) : (1ull << 21));
  uint64_t vaddr = own ? own_vaddr(r, covers) : other_vaddr(r, covers);
  if (own && vaddr < 0x0000800000000000ull && denied(vaddr & ~(covers - 1), covers)) vaddr = 0xFFFF800000000000ull;
  Error e;
  if (which == 0) {
    const CPtr t = typed(r, ObjectType::Pdpt);
    set_args(rec, t << 32 | vspace, vaddr, which);
    e = count(Client<abi::Pdpt>{k, t}.map(CapRef{vspace}, vaddr, attributes));
  } else if (which == 1) {
    const CPtr t = typed(r, ObjectType::PageDirectory);
    set_args(rec, t << 32 | vspace, vaddr, which);
    e = count(Client<abi::PageDirectory>{k, t}.map(CapRef{vspace}, vaddr, attributes));
  } else {
    const CPtr t = typed(r, ObjectType::PageTable);
    set_args(rec, t << 32 | vspace, vaddr, which);
    e = count(Client<abi::PageTable>{k, t}.map(CapRef{vspace}, vaddr, attributes));
  }
  return e;
}

Error op_unmap(CallTransport& k, Rng& r, Record* rec) {
  const uint64_t which = r.below(5);
  static constexpr ObjectType kTypes[] = {ObjectType::Frame4k, ObjectType::Frame2m, ObjectType::PageTable,
                                          ObjectType::PageDirectory, ObjectType::Pdpt};
  const CPtr c = typed(r, kTypes[which]);
  set_args(rec, c, which, 0);
  switch (which) {
    case 0:
    case 1: return count(Client<abi::Frame>{k, c}.unmap());
    case 2: return count(Client<abi::PageTable>{k, c}.unmap());
    case 3: return count(Client<abi::PageDirectory>{k, c}.unmap());
    default: return count(Client<abi::Pdpt>{k, c}.unmap());
  }
}

Error op_irq(CallTransport& k, Rng& r, Record* rec) {
  const uint64_t which = r.below(5);
  if (which == 0) {
    const CPtr dest = pool_slot(r);
    const uint8_t pin = r.chance(95) ? kIrqLines[r.below(sizeof(kIrqLines))] : static_cast<uint8_t>(24 + r.below(232));
    const bool level = r.chance(50), low = r.chance(50);
    set_args(rec, dest, pin, uint64_t{level} << 1 | low);
    Client<abi::IrqControl> control{k, tessera::kSlotIrqControl};
    const Error e = count(control.get_ioapic(CapRef{tessera::kSlotRootCNode}, dest, 64, r.chance(95) ? 0 : 1, pin, level, low,
                                             static_cast<uint8_t>(r.below(256))));
    if (e == Error::Ok) set_hint(dest, kIrqHandlerKind, pin);
    return e;
  }
  const CPtr handler = typed(r, kIrqHandlerKind);
  Client<abi::IrqHandler> h{k, handler};
  set_args(rec, handler, which, 0);
  switch (which) {
    case 1:
    case 2: return count(h.set_notification(CapRef{typed(r, ObjectType::Notification)}));
    case 3:
      // Re-arm the RTC too (reading register C), or it raises no further interrupt.
      if (S.rtc_ports != 0) {
        Client<abi::IoPort> port{k, S.rtc_ports};
        (void)count(port.out8(0x70, 0x0C));
        (void)count(port.in8(0x71));
      }
      return count(h.ack());
    default: return count(h.clear());
  }
}

Error op_sched(CallTransport& k, Rng& r, Record* rec) {
  const CPtr sc = typed(r, ObjectType::SchedContext);
  Client<abi::SchedContext> context{k, sc};
  const uint64_t which = r.below(7);
  // Objects to bind: pool TCBs and notifications, or a helper thread.
  CPtr object = r.chance(50) ? typed(r, ObjectType::Tcb) : typed(r, ObjectType::Notification);
  if (r.chance(25)) object = S.helpers[r.below(kHelpers)].thread->tcb();
  set_args(rec, sc, which, object);
  switch (which) {
    case 0:
    case 1: {
      Client<abi::SchedControl> control{k, tessera::kSlotSchedControl};
      uint64_t period = r.chance(80) ? 1000 + r.below(20000) : random_word(r);
      uint64_t budget = r.chance(80) ? 1000 + r.below(period > 1000 ? period - 999 : 1) : random_word(r);
      return count(control.configure(CapRef{sc}, budget, period, r.chance(95) ? 0 : 1, random_word(r)));
    }
    case 2: return count(context.bind(CapRef{object}));
    case 3: return count(context.unbind());
    case 4: return count(context.unbind_object(CapRef{object}));
    case 5: return count(context.consumed());
    default: return count(context.yield_to());
  }
}

Error op_unknown_syscall(Rng& r, Record* rec) {
  static constexpr uint64_t kPicks[] = {0, 9, 10, 15, 17, 31, 36, 64, 255, 1000};
  uint64_t number = r.chance(70) ? kPicks[r.below(sizeof(kPicks) / sizeof(kPicks[0]))] : (r.next() | (1ull << 20));
  set_args(rec, number, 0, 0);
  // The worker's fault endpoint is the watchdog's: the fault blocks the worker, and the watchdog
  // expects it and restarts the worker at the next operation.
  S.expect_fault = true;
  sys::SyscallRegisters regs{random_word(r), random_word(r), {0, 0, 0, 0}};
  ++S.invocations;
  const Error e = sys::raw_syscall(static_cast<Syscall>(number), regs);
  S.expect_fault = false;
  return e;
}

// Operations on the helper threads' TCBs (through the fuzzer's own caps of them: they are not in
// the pool, so nothing random can rewrite their registers or move them into our CSpace).
Error op_helper(CallTransport& k, Rng& r, Record* rec) {
  const uint32_t h = static_cast<uint32_t>(r.below(kHelpers));
  const HelperInfo& helper = S.helpers[h];
  Client<abi::Tcb> tcb{k, helper.thread->tcb()};
  const uint64_t which = r.below(10);
  set_args(rec, h, which, 0);
  switch (which) {
    case 0:
    case 1:
    case 2: {
      ++S.invocations;
      return sys::signal(helper.park);  // wake it
    }
    case 3:
      // A pool endpoint as its fault endpoint: its unknown system calls and faults now block there.
      return count(tcb.set_space(pool_slot(r), CapRef{tessera::kSlotRootCNode}, 0, CapRef{helper.vspace}, 0));
    case 4: return count(tcb.bind_notification(CapRef{typed(r, ObjectType::Notification)}));
    case 5: return count(tcb.unbind_notification());
    case 6:
      return count(tcb.set_sched_params(CapRef{tessera::kSlotRootTcb}, static_cast<uint8_t>(r.below(256)),
                                        static_cast<uint8_t>(90 + r.below(131)), CapRef{typed(r, ObjectType::SchedContext)}));
    case 7: return r.chance(50) ? count(tcb.suspend()) : count(tcb.resume());
    case 8: return count(tcb.set_priority(CapRef{tessera::kSlotRootTcb}, static_cast<uint8_t>(90 + r.below(131))));
    default: return count(tcb.read_registers(false, static_cast<uint8_t>(r.below(21))));
  }
}

[[noreturn]] void disposable_main(uint64_t argument, IpcBuffer* buffer);

Error op_spawn(CallTransport& k, Rng& r, Record* rec) {
  const uint32_t w = static_cast<uint32_t>(r.below(kDisposableWindows));
  const CPtr target = typed(r, ObjectType::Tcb);
  set_args(rec, target, w, 0);
  if (!in_pool(target)) return Error::InvalidCapability;
  // One thread per window: stop the one started there last (whatever that slot holds now).
  if (S.disposable_tcb[w] != 0) (void)count(Client<abi::Tcb>{k, S.disposable_tcb[w]}.suspend());
  S.disposable_tcb[w] = target;
  const uint64_t window = kDisposableWindowBase + w * 0x10000;
  Client<abi::Tcb> tcb{k, target};
  const CPtr fault = r.chance(50) ? pool_slot(r) : 0;
  TRY_ERROR(count(tcb.configure(fault, CapRef{tessera::kSlotRootCNode}, 0, CapRef{S.child_pml4}, 0, window,
                                CapRef{S.disposable_ipc[w]})));
  TRY_ERROR(count(tcb.set_tls_base(window + sys::kThreadLocalOffset)));
  TRY_ERROR(count(tcb.set_priority(CapRef{tessera::kSlotRootTcb}, static_cast<uint8_t>(kWatchdogPriority + 1 + r.below(kWorkerPriority - kWatchdogPriority)))));
  ++S.spawns;
  return count(tcb.write_registers(true, 9, reinterpret_cast<uint64_t>(&disposable_main), window + 0x4000 - 8, 0x202, 0, 0, 0, 0,
                                   window, r.next(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

// Revokes the arena and empties the pool; the arena must then be whole. Returns false (and fails
// the run) when it is not.
bool reset_arena(CallTransport& k) {
  Client<abi::CNode> root{k, tessera::kSlotRootCNode};
  bool ok = count(root.revoke(S.arena, 64)) == Error::Ok;
  if (!ok) fail("revoking the arena failed", S.arena);
  for (uint32_t i = 0; i < kPoolSize; ++i) {
    (void)count(root.delete_(kPoolBase + i, 64));
    S.hint[i] = 0;
    S.bits[i] = 0;
  }
  Client<abi::Untyped> arena{k, S.arena};
  auto d = arena.describe();
  ++S.invocations;
  if (!d.ok() || d->watermark() != 0) {
    fail("the arena's watermark is not 0 after revoking it", d.ok() ? d->watermark() : ~0ull);
    return false;
  }
  if (count(arena.retype(ObjectType::Untyped, S.arena_bits, CapRef{tessera::kSlotRootCNode}, 0, 0, S.scratch, 1)) != Error::Ok) {
    fail("the arena is not whole after revoking it: a retype of all of it fails", S.arena_bits);
    return false;
  }
  (void)count(root.delete_(S.scratch, 64));
  ++S.resets;
  return ok;
}

Op pick_op(Rng& r) {
  uint32_t total = 0;
  for (uint8_t w : kWeights) total += w;
  uint64_t x = r.below(total);
  for (uint32_t i = 0; i < sizeof(kWeights); ++i) {
    if (x < kWeights[i]) return static_cast<Op>(i);
    x -= kWeights[i];
  }
  return Op::Yield;
}

void do_op(CallTransport& k, uint64_t index) {
  Rng r{S.options.seed ^ (index * 0xD1B54A32D192ED03ull)};
  (void)r.next();
  if (index != 0 && index % kResetEvery == 0) {
    Record* rec = begin(index, Op::Reset);
    set_args(rec, 0, 0, 0);
    const bool ok = reset_arena(k);
    finish(rec, ok ? Error::Ok : Error::NotEnoughMemory);
    sys::print("# fuzz: seed=%lu op=%lu invocations=%lu redirects=%lu\n", S.options.seed, index, S.invocations, S.redirects);
    return;
  }
  const Op op = pick_op(r);
  Record* rec = begin(index, op);
  if (op == Op::Yield || op == Op::RevokeArena) set_args(rec, 0, 0, 0);
  Error e = Error::Ok;
  switch (op) {
    case Op::Retype: e = op_retype(k, r, rec); break;
    case Op::Describe: {
      const CPtr u = r.chance(20) ? S.arena : typed(r, ObjectType::Untyped);
      set_args(rec, u, 0, 0);
      e = count(Client<abi::Untyped>{k, u}.describe());
      break;
    }
    case Op::Copy: case Op::Mint: case Op::Move: case Op::Mutate: case Op::Rotate: case Op::Delete: case Op::Revoke:
    case Op::CancelBadged:
      e = op_cnode(k, r, rec, op);
      break;
    case Op::TcbConfigure: case Op::TcbSetSpace: case Op::TcbSetIpcBuffer: case Op::TcbPriority:
    case Op::TcbSuspendResume: case Op::TcbReadRegs: case Op::TcbWriteRegs: case Op::TcbBind: case Op::TcbMisc:
      e = op_tcb(k, r, rec, op);
      break;
    case Op::Ipc: e = op_ipc(r, rec); break;
    case Op::MapFrame: e = op_map_frame(k, r, rec); break;
    case Op::MapTable: e = op_map_table(k, r, rec); break;
    case Op::Unmap: e = op_unmap(k, r, rec); break;
    case Op::FrameAddress: {
      const CPtr f = typed(r, r.chance(80) ? ObjectType::Frame4k : ObjectType::Frame2m);
      set_args(rec, f, 0, 0);
      e = count(Client<abi::Frame>{k, f}.get_address());
      break;
    }
    case Op::Irq: e = op_irq(k, r, rec); break;
    case Op::Sched: e = op_sched(k, r, rec); break;
    case Op::RawInvoke: e = op_raw_invoke(r, rec); break;
    case Op::UnknownSyscall: e = op_unknown_syscall(r, rec); break;
    case Op::Helper: e = op_helper(k, r, rec); break;
    case Op::Spawn: e = op_spawn(k, r, rec); break;
    case Op::Yield: ++S.invocations; e = sys::yield(); break;
    case Op::RevokeArena:
      // Rare (a quarter of its weight): objects should live long enough to be referred to.
      if (!r.chance(25)) {
        ++S.invocations;
        e = sys::yield();
      } else if (r.chance(30)) {
        e = reset_arena(k) ? Error::Ok : Error::NotEnoughMemory;
      } else {
        e = count(Client<abi::CNode>{k, tessera::kSlotRootCNode}.revoke(S.arena, 64));
        for (uint32_t i = 0; i < kPoolSize; ++i) {
          if (S.hint[i] != kIrqHandlerKind) S.hint[i] = 0;
        }
      }
      break;
    case Op::Reset: case Op::Count: break;
  }
  finish(rec, e);
}

// The worker's loop; the watchdog restarts it here (fresh stack) when it is stuck.
[[noreturn]] void worker_loop(uint64_t) {
  CallTransport k(sys::ipc_buffer());
  for (;;) {
    const uint64_t index = __atomic_load_n(&S.next_op, __ATOMIC_ACQUIRE);
    if (index >= S.options.iterations || S.failed) break;
    __atomic_store_n(&S.next_op, index + 1, __ATOMIC_RELEASE);  // a restart goes on with the next
    S.expect_fault = false;
    do_op(k, index);
  }
  if (!S.failed) {
    Record* rec = begin(S.options.iterations, Op::Reset);
    set_args(rec, 0, 0, 0);
    finish(rec, reset_arena(k) ? Error::Ok : Error::NotEnoughMemory);
  }
  __atomic_store_n(&S.finished, true, __ATOMIC_RELEASE);
  sys::suspend_self();
}

// --- helpers: no globals (two of them run in a space without our data) ------------------------

// One random IPC system call on a pool slot or garbage. Labels are never kernel methods (the
// interface code is far out of range), so a helper's Call on a kernel object is refused: only the
// worker changes objects, and a page it has just mapped cannot vanish under it.
void helper_op(uint64_t& s) {
  IpcBuffer& b = *sys::ipc_buffer();
  const uint64_t x = mix(s);
  const CPtr cap = (x & 15) == 0 ? (mix(s) | 0x1000) : kPoolBase + (mix(s) % kPoolSize);
  const uint32_t length = static_cast<uint32_t>((x >> 8) & 1 ? (x >> 16) % 6 : (x >> 16) % 125);
  for (uint32_t i = 0; i < length && i < tessera::kMessageWords; ++i) b.msg[i] = mix(s);
  for (uint64_t& c : b.caps_or_badges) c = kPoolBase + (mix(s) % kPoolSize);
  b.receive_cnode = tessera::kSlotRootCNode;
  b.receive_index = kPoolBase + (mix(s) % kPoolSize);
  b.receive_depth = 64;
  const uint64_t label = (mix(s) & 0xFFFFFFFFFFull) | (1ull << 40);
  const MessageInfo info{(x >> 24) & 1 ? label : ((x >> 25) & 7), length, static_cast<uint32_t>((x >> 28) & 3), 0};
  sys::SyscallRegisters regs{cap, info.encode(), {b.msg[0], b.msg[1], b.msg[2], b.msg[3]}};
  Syscall call;
  switch ((x >> 32) % 13) {
    case 0: case 1: call = Syscall::Send; break;
    case 2: call = Syscall::NBSend; break;
    case 3: case 4: call = Syscall::Call; break;
    case 5: case 6: call = Syscall::Recv; break;
    case 7: call = Syscall::NBRecv; break;
    case 8: call = Syscall::Reply; break;
    case 9: call = Syscall::ReplyRecv; break;
    case 10: call = Syscall::Yield; break;
    case 11: call = static_cast<Syscall>(40 + ((x >> 40) & 0xFF)); break;  // unknown: never 32..35
    default: call = Syscall::Null; break;
  }
  (void)sys::raw_syscall(call, regs);
}

// argument: the park notification's cptr in the low 12 bits, a seed above.
void helper_main(uint64_t argument) {
  const CPtr park = argument & 0xFFF;
  uint64_t s = argument ^ 0x243F6A8885A308D3ull;
  for (;;) {
    const uint64_t n = 1 + (mix(s) & 7);
    for (uint64_t i = 0; i < n; ++i) helper_op(s);
    uint64_t word = 0;
    (void)sys::wait(park, &word);
  }
}

// A disposable thread (a pool TCB in the second space, CSpace our root CNode): sets up its
// thread-local block like libsys's thread entry, does 1..16 helper operations and stops.
[[noreturn]] void disposable_main(uint64_t argument, IpcBuffer* buffer) {
  auto* block = reinterpret_cast<sys::ThreadLocalBlock*>(reinterpret_cast<uint64_t>(buffer) + sys::kThreadLocalOffset);
  block->ipc_buffer = buffer;
  block->self = block;
  uint64_t s = argument;
  const uint64_t n = 1 + (mix(s) & 15);
  for (uint64_t i = 0; i < n; ++i) helper_op(s);
  sys::suspend_self();
}

uint64_t helper_argument(uint32_t h) {
  return S.helpers[h].park | ((S.options.seed * 31 + h + 1 + S.helper_restarts * 977) << 12);
}

// Puts helper `h` back into its own CSpace and VSpace at its priority and restarts its program.
void restart_helper(Env& env, uint32_t h) {
  HelperInfo& helper = S.helpers[h];
  auto tcb = env.tcb(helper.thread->tcb());
  (void)tcb.suspend();
  (void)tcb.set_space(0, captest::kRootCNodeRef, 0, CapRef{helper.vspace}, 0);
  (void)tcb.unbind_notification();
  (void)tcb.set_priority(captest::kRootTcbRef, kHelperPriority);
  ++S.helper_restarts;
  (void)helper.thread->start(helper_main, helper_argument(h));
}

void describe_fault(uint64_t label, const uint64_t* w, char* out, size_t capacity) {
  switch (static_cast<tessera::FaultKind>(label)) {
    case tessera::FaultKind::PageFault:
      tessera::format_to(out, capacity, "page fault at 0x%lx error 0x%lx ip 0x%lx", w[1], w[2], w[0]);
      return;
    case tessera::FaultKind::Exception:
      tessera::format_to(out, capacity, "exception vector %lu error 0x%lx ip 0x%lx", w[1], w[2], w[0]);
      return;
    case tessera::FaultKind::UnknownSyscall:
      tessera::format_to(out, capacity, "unknown system call %lu ip 0x%lx", w[1], w[0]);
      return;
  }
  tessera::format_to(out, capacity, "message with label 0x%lx", label);
}

void print_ring(tessera::sys::testing::Context& t) {
  const uint64_t n = S.ring_count < kRing ? S.ring_count : kRing;
  t.note("fuzz: seed=%lu, the last %lu operations (oldest first; result 65535 = restarted by the watchdog):",
         S.options.seed, n);
  for (uint64_t i = S.ring_count - n; i < S.ring_count; ++i) {
    const Record& rec = S.ring[i % kRing];
    t.note("fuzz:   op %lu %s a=0x%lx b=0x%lx c=0x%lx -> %u", rec.index, kOpNames[static_cast<int>(rec.op)], rec.a, rec.b,
           rec.c, static_cast<unsigned>(rec.result));
  }
}

// The watchdog: runs only while the worker and the helpers are blocked.
void watchdog(Env& env, sys::Thread& worker) {
  auto tcb = env.tcb(worker.tcb());
  while (!__atomic_load_n(&S.finished, __ATOMIC_ACQUIRE)) {
    sys::Received in{};
    if (sys::nb_recv(S.fault_endpoint, &in) == Error::Ok) {
      const IpcBuffer* b = sys::ipc_buffer();
      const uint64_t words[3] = {b->msg[0], b->msg[1], b->msg[2]};
      if (!(S.expect_fault && in.info.label == static_cast<uint64_t>(tessera::FaultKind::UnknownSyscall))) {
        char text[160];
        describe_fault(in.info.label, words, text, sizeof(text));
        char why[200];
        tessera::format_to(why, sizeof(why), "the worker faulted: %s", text);
        fail(why, __atomic_load_n(&S.next_op, __ATOMIC_ACQUIRE) - 1);
        (void)tcb.suspend();
        return;
      }
      ++S.expected_faults;
    }
    // Restart the worker at the top of its loop: it goes on with the next operation.
    S.ring[(S.ring_count + kRing - 1) % kRing].result = 0xFFFF;
    ++S.redirects;
    (void)tcb.suspend();
    const auto w = tcb.write_registers(true, 9, reinterpret_cast<uint64_t>(&worker_loop), S.worker_stack_top - 8, 0x202, 0,
                                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    if (!w.ok()) {
      fail("the watchdog cannot restart the worker", static_cast<uint64_t>(w.error()));
      return;
    }
    if (S.redirects % 8 == 0) restart_helper(env, static_cast<uint32_t>((S.redirects / 8) % kHelpers));
  }
}

// The RTC's periodic interrupt (1024 Hz) on or off, and register C read so it fires again.
void rtc_periodic(Env& env, bool on) {
  auto port = env.io_port(S.rtc_ports);
  auto read = [&](uint8_t reg) -> uint8_t {
    (void)port.out8(0x70, reg);
    auto v = port.in8(0x71);
    return v.ok() ? v->value() : 0;
  };
  (void)port.out8(0x70, 0x8A);
  const uint8_t a = read(0x8A);
  (void)port.out8(0x70, 0x8A);
  (void)port.out8(0x71, static_cast<uint8_t>((a & 0xF0) | 0x06));
  const uint8_t b = read(0x8B);
  (void)port.out8(0x70, 0x8B);
  (void)port.out8(0x71, static_cast<uint8_t>(on ? (b | 0x40) : (b & ~0x40)));
  (void)read(0x0C);
}

}  // namespace

Options options_from_command_line(uint64_t seed, uint64_t iterations) {
  Options o;
  o.seed = seed;
  o.iterations = iterations;
  const tessera::CommandLine cmdline{tessera::StringView(captest::boot_info().cmdline)};
  if (auto seed_word = cmdline.get_u64("fuzz_seed"); seed_word.ok()) o.seed = *seed_word;
  if (auto count = cmdline.get_u64("fuzz_iterations"); count.ok()) o.iterations = *count;
  tessera::StringView verbose;
  if (cmdline.get("fuzz_verbose", &verbose)) o.verbose = verbose == "1";
  return o;
}

void run(tessera::sys::testing::Context& t, const Options& options) {
  S.options = options;
  t.note("fuzz: seed=%lu iterations=%lu", options.seed, options.iterations);
  Env env(t);
  // The arena: all of the process's 4 MiB untyped, under a child cap of ours.
  const uint64_t untypeds = env.info.untyped.end - env.info.untyped.start;
  CPtr big = 0;
  for (uint64_t i = 0; i < untypeds && i < tessera::kMaxBootUntypeds; ++i) {
    const auto& d = env.info.untyped_list[i];
    if (d.is_device == 0 && d.size_bits == 22) big = env.info.untyped.start + i;
  }
  if (!t.check(big != 0, "no 4 MiB untyped")) return;
  S.arena_bits = 22;
  S.arena = env.slot();
  S.scratch = env.slot();
  if (!captest::expect_ok(t, env.untyped(big).retype(ObjectType::Untyped, 22, captest::kRootCNodeRef, 0, 0, S.arena, 1), "arena")) return;
  // The pool must be free and out of Env's way.
  const tessera::SlotRegion free = sys::root_free_slots(env.info);
  if (!t.check(free.start + 64 < kPoolBase && kPoolBase + kPoolSize <= free.end, "pool slots 0x%lx.. not free (free 0x%lx..0x%lx)",
               kPoolBase, free.start, free.end)) {
    return;
  }
  for (uint32_t i = 0; i < kPoolSize; ++i) {
    if (!t.check(env.is_empty(kPoolBase + i), "pool slot 0x%lx is not empty", kPoolBase + i)) return;
  }
  S.fault_endpoint = env.make(ObjectType::Endpoint);
  S.rtc_ports = env.slot();
  if (env.io_port_control().issue(0x70, 0x71, captest::kRootCNodeRef, S.rtc_ports, 64).ok()) {
    rtc_periodic(env, true);
  } else {
    t.note("fuzz: no RTC ports; IRQ line %u gets no interrupts", kRtcLine);
    (void)env.slots.free(S.rtc_ports);
    S.rtc_ports = 0;
  }
  ipctest::ChildSpace child(env);
  if (!child.ok() || S.fault_endpoint == 0) return;
  S.child_pml4 = child.pml4;
  CPtr disposable_stacks[kDisposableWindows][2] = {};
  for (uint32_t w = 0; w < kDisposableWindows; ++w) {
    const uint64_t window = kDisposableWindowBase + w * 0x10000;
    S.disposable_ipc[w] = env.make(ObjectType::Frame4k);
    disposable_stacks[w][0] = env.make(ObjectType::Frame4k);
    disposable_stacks[w][1] = env.make(ObjectType::Frame4k);
    if (t.failed() || !env.map(child.pml4, S.disposable_ipc[w], window) || !env.map(child.pml4, disposable_stacks[w][0], window + 0x2000) ||
        !env.map(child.pml4, disposable_stacks[w][1], window + 0x3000)) {
      return;
    }
  }

  // Helpers: two in our space, two in the second one.
  sys::ThreadOptions ho;
  ho.priority = kHelperPriority;
  ho.window = kHelperWindows;
  auto h0 = sys::Thread::create(env.memory, &env.tables, ho);
  ho.window = kHelperWindows + 0x10000;
  auto h1 = sys::Thread::create(env.memory, &env.tables, ho);
  auto h2 = child.thread(kChildWindowIndex, kHelperPriority);
  auto h3 = child.thread(kChildWindowIndex + 1, kHelperPriority);
  sys::ThreadOptions wo;
  wo.priority = kWorkerPriority;
  wo.window = kWorkerWindow;
  wo.stack_pages = 8;
  auto worker = sys::Thread::create(env.memory, &env.tables, wo);
  if (!t.check(h0.ok() && h1.ok() && h2.ok() && h3.ok() && worker.ok(), "making the threads failed")) return;
  sys::Thread* threads[kHelpers] = {&*h0, &*h1, &*h2, &*h3};
  for (uint32_t h = 0; h < kHelpers; ++h) {
    S.helpers[h] = HelperInfo{threads[h], h < 2 ? tessera::kSlotRootVSpace : child.pml4, env.make(ObjectType::Notification)};
  }
  S.worker_tcb = worker->tcb();
  S.worker_stack_top = worker->stack_top();
  // The worker's faults come to us.
  captest::expect_ok(t, env.tcb(worker->tcb()).set_space(S.fault_endpoint, captest::kRootCNodeRef, 0, captest::kRootVSpaceRef, 0),
                     "the worker's fault endpoint");
  for (uint32_t h = 0; h < kHelpers; ++h) {
    captest::expect_ok(t, threads[h]->start(helper_main, helper_argument(h)), "start a helper");
  }
  if (t.failed()) return;
  // From here on the main thread runs only when everything else is blocked.
  captest::expect_ok(t, env.tcb(tessera::kSlotRootTcb).set_priority(captest::kRootTcbRef, kWatchdogPriority), "lower main");
  captest::expect_ok(t, worker->start(worker_loop, 0), "start the worker");
  watchdog(env, *worker);
  // Stop everybody before cleaning up.
  (void)env.tcb(worker->tcb()).suspend();
  for (sys::Thread* h : threads) (void)env.tcb(h->tcb()).suspend();
  captest::expect_ok(t, env.tcb(tessera::kSlotRootTcb).set_priority(captest::kRootTcbRef, 255), "raise main");

  const uint64_t done = __atomic_load_n(&S.next_op, __ATOMIC_ACQUIRE);
  t.note("fuzz: seed=%lu operations=%lu invocations=%lu watchdog-restarts=%lu helper-restarts=%lu resets=%lu expected-faults=%lu "
         "spawns=%lu", S.options.seed, done, S.invocations, S.redirects, S.helper_restarts, S.resets, S.expected_faults, S.spawns);
  if (S.failed) {
    t.check(false, "fuzz: seed=%lu failed at operation %lu: %s", S.options.seed, done == 0 ? 0 : done - 1, S.failure);
    print_ring(t);
  }
  // Tear down: the threads, then everything in the arena; the arena must be whole.
  for (sys::Thread* h : threads) (void)h->destroy();
  (void)worker->destroy();
  CallTransport& k = env.kernel;
  const bool was_failed = S.failed;
  S.failed = false;
  if (!reset_arena(k) && !was_failed) {
    t.check(false, "fuzz: seed=%lu: accounting after the run: %s", S.options.seed, S.failure);
    print_ring(t);
  }
  for (uint32_t h = 0; h < kHelpers; ++h) env.drop(S.helpers[h].park);
  for (uint32_t w = 0; w < kDisposableWindows; ++w) {
    env.drop(S.disposable_ipc[w]);
    env.drop(disposable_stacks[w][0]);
    env.drop(disposable_stacks[w][1]);
  }
  if (S.rtc_ports != 0) {
    rtc_periodic(env, false);
    env.drop(S.rtc_ports);
  }
  env.drop(S.fault_endpoint);
  env.drop(S.arena);
  (void)env.slots.free(S.scratch);
  t.check(env.untyped_is_unused(big), "the 4 MiB untyped is not whole at the end");
}

}  // namespace fuzz
