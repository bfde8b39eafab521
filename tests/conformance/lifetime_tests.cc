// Object lifetime (suite `conformance`, the IPC ones again in `ipc-slowpath`): what an attacker
// review found reachable after it was destroyed or given up. Paging structures must not keep
// entries pointing at freed tables (VSPACE0008-0012); IPC must not copy through a destroyed address
// space (IPC1005); an interrupt must not signal a freed notification (INTERRUPT0004); reply links
// must not outlive what they point at (IPC1006, IPC1007, IPC1009, IPC1010); a fault message must
// not survive its endpoint (FAULT0018); whether a reply carries caps depends only on the server's
// receiving cap (IPC1008, IPCRIGHTS0006); and a few seL4 rules: CNode.copy keeps a guard
// (CNODEOP0011), a notification bound to a thread is not waited on by others (BIND0006),
// CNode.cancelBadgedSends (IPC1011).
//
// Where a test needs a freed object's memory back, it makes the object from an untyped of its own:
// when that untyped's only child goes, the next retype from it reuses exactly the same bytes.
#include <stdint.h>

#include <tessera/syscall.h>
#include <tessera/sys/testing.h>

#include "ipc_test_env.h"
#include "rtc.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;
using tessera::abi::IrqControl;
using tessera::abi::IrqHandler;

constexpr CPtr kRootVSpace = tessera::kSlotRootVSpace;
constexpr uint64_t kImageBase = 0x400000;  // where libsys/rt/user.ld links init
constexpr uint64_t kUserRflags = 0x202;    // IF and the always-one bit
constexpr uint64_t kPresentWritableUser = 0x7;

volatile uint64_t* words_at(uint64_t vaddr) { return reinterpret_cast<volatile uint64_t*>(vaddr); }

// One object of `type` retyped from `untyped` into a fresh slot; 0 after a failed check.
CPtr retype_from(Env& env, CPtr untyped, ObjectType type, uint8_t size_bits = 0) {
  const CPtr s = env.slot();
  if (s == 0) return 0;
  auto r = env.untyped(untyped).retype(type, size_bits, kRootCNodeRef, 0, 0, s, 1);
  if (env.t.check(r.ok(), "retype type %u from untyped %lu: %s", static_cast<unsigned>(type), untyped,
                  error_name(r.error()))) {
    return s;
  }
  (void)env.slots.free(s);
  return 0;
}

// The physical address of the untyped in `slot`; 0 after a failed check.
uint64_t untyped_address(Env& env, CPtr untyped) {
  auto r = env.untyped(untyped).describe();
  return env.t.check(r.ok(), "describe untyped %lu: %s", untyped, error_name(r.error())) ? r->paddr() : 0;
}

// A system call with the number, cptr and message info in registers only (for threads without a
// thread-local block); returns rax. Always inlined, so code pages holding it stay self-contained.
[[gnu::always_inline]] inline uint64_t raw_syscall(tessera::Syscall number, uint64_t cap, uint64_t info) {
  uint64_t rax;
  uint64_t rdx = static_cast<uint64_t>(number), rdi = cap, rsi = info;
  asm volatile("syscall"
               : "=a"(rax), "+d"(rdx), "+D"(rdi), "+S"(rsi)
               :
               : "rcx", "r11", "r8", "r9", "r10", "r15", "memory");
  return rax;
}

// Index of `vaddr` in the table at `level` (4 = PML4, 1 = page table).
uint64_t table_index(uint64_t vaddr, unsigned level) { return (vaddr >> (12 + 9 * (level - 1))) & 511; }

// Fills the 512 words at `vaddr` with pattern(seed, i).
void fill_page(uint64_t vaddr, uint64_t seed) {
  for (uint64_t i = 0; i < 512; ++i) words_at(vaddr)[i] = pattern(seed, i);
}
// Checks the 512 words at `vaddr` still hold pattern(seed, i).
bool page_unchanged(Context& t, uint64_t vaddr, uint64_t seed, const char* what) {
  for (uint64_t i = 0; i < 512; ++i) {
    const uint64_t got = words_at(vaddr)[i];
    if (got != pattern(seed, i)) {
      return t.check(false, "%s: word %lu changed to 0x%lx (was 0x%lx)", what, i, got, pattern(seed, i));
    }
  }
  return true;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Finding 1: stale paging-structure entries.
// ---------------------------------------------------------------------------------------------

// Finding 1 (main recipe): PDPT+PD+PT in a new PML4; the PD is unmapped, the PT deleted and its
// memory retyped as a frame; mapping the PD again must not bring the freed PT (now a frame the user
// writes) back as a live page table: unmapping the PD cleared its entries.
TESSERA_USER_TEST(VSPACE0008, pass, "an unmapped page directory keeps no entry: its deleted page table does not come back when it is remapped") {
  Env env(t);
  constexpr uint64_t kSpaceAddress = 0x4000'0000;    // in the new PML4
  constexpr uint64_t kFakeTableWindow = 0x2400'0000;  // the reused page table's memory, in the root
  const CPtr memory = env.make(ObjectType::Untyped, 12);
  const CPtr pml4 = env.make(ObjectType::Pml4), pdpt = env.make(ObjectType::Pdpt);
  const CPtr pd = env.make(ObjectType::PageDirectory), pt2 = env.make(ObjectType::PageTable);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr pt = memory == 0 ? 0 : retype_from(env, memory, ObjectType::PageTable);
  if (t.failed()) return;
  const CapRef space{pml4};
  expect_ok(t, env.pdpt(pdpt).map(space, kSpaceAddress, 0), "map the PDPT");
  expect_ok(t, env.page_directory(pd).map(space, kSpaceAddress, 0), "map the page directory");
  expect_ok(t, env.page_table(pt).map(space, kSpaceAddress, 0), "map the page table");
  expect_ok(t, env.page_directory(pd).unmap(), "unmap the page directory");
  env.drop(pt);  // the table is freed while its directory is out of the address space
  const CPtr reused = retype_from(env, memory, ObjectType::Frame4k);
  if (t.failed()) return;
  t.check(env.address_of(reused) == untyped_address(env, memory), "the frame did not reuse the page table's memory");
  if (!env.map(kRootVSpace, reused, kFakeTableWindow)) return;
  expect_ok(t, env.page_directory(pd).map(space, kSpaceAddress, 0), "map the page directory again");
  // The directory must be empty: a frame has no page table to go into, a new table fits.
  expect_error(t, env.frame(frame).map(space, kSpaceAddress, kRead | kWrite, kExecuteNever), Error::FailedLookup,
               "a frame mapped under the remapped directory (through the freed page table)");
  bool clean = true;
  for (uint64_t i = 0; i < 512; ++i) clean = clean && words_at(kFakeTableWindow)[i] == 0;
  t.check(clean, "the kernel wrote a page-table entry into a frame the user owns (the freed page table)");
  (void)env.frame(frame).unmap();
  expect_ok(t, env.page_table(pt2).map(space, kSpaceAddress, 0), "a new page table where the deleted one was");
  const CPtr caps[] = {frame, pt2, reused, pd, pdpt, pml4, memory};
  for (CPtr c : caps) env.drop(c);
}

// Finding 1: a table has exactly one cap; copy and mint of PDPT, PageDirectory and PageTable caps
// are refused, move still works.
TESSERA_USER_TEST(VSPACE0009, pass, "PDPT, page-directory and page-table caps cannot be copied or minted (IllegalOperation); move works") {
  Env env(t);
  const CPtr tables[] = {env.make(ObjectType::Pdpt), env.make(ObjectType::PageDirectory),
                         env.make(ObjectType::PageTable)};
  const char* const names[] = {"PDPT", "page directory", "page table"};
  const CPtr dest = env.slot();
  if (t.failed()) return;
  for (int i = 0; i < 3; ++i) {
    auto copied = env.root().copy(dest, kSlotDepth, kRootCNodeRef, tables[i], kSlotDepth, kAllRights);
    t.check(copied.error() == Error::IllegalOperation, "copy of a %s: expected IllegalOperation, got %s", names[i],
            error_name(copied.error()));
    (void)env.root().delete_(dest, kSlotDepth);
    auto minted = env.root().mint(dest, kSlotDepth, kRootCNodeRef, tables[i], kSlotDepth, kAllRights, 0);
    t.check(minted.error() == Error::IllegalOperation, "mint of a %s: expected IllegalOperation, got %s", names[i],
            error_name(minted.error()));
    (void)env.root().delete_(dest, kSlotDepth);
    expect_ok(t, env.root().move(dest, kSlotDepth, kRootCNodeRef, tables[i], kSlotDepth), "move");
    expect_ok(t, env.root().move(tables[i], kSlotDepth, kRootCNodeRef, dest, kSlotDepth), "move back");
  }
  env.drop(dest);
  for (CPtr c : tables) env.drop(c);
}

// Finding 1, second case: a PDPT outlives the PML4 it was mapped in, and a PD under it is deleted.
// The PDPT's record still says mapped: it cannot be mapped into another PML4 until unmapped; after
// unmap + map its entries are empty, so a new PD maps where the deleted one was.
TESSERA_USER_TEST(VSPACE0010, pass, "a PDPT whose PML4 died stays 'mapped' until unmapped; unmapped, it comes back empty") {
  Env env(t);
  constexpr uint64_t kAddress = 0x4000'0000;
  const CPtr first = env.make(ObjectType::Pml4), second = env.make(ObjectType::Pml4);
  const CPtr pdpt = env.make(ObjectType::Pdpt), pd = env.make(ObjectType::PageDirectory);
  const CPtr pd2 = env.make(ObjectType::PageDirectory);
  if (t.failed()) return;
  expect_ok(t, env.pdpt(pdpt).map(CapRef{first}, kAddress, 0), "map the PDPT");
  expect_ok(t, env.page_directory(pd).map(CapRef{first}, kAddress, 0), "map the page directory");
  env.drop(first);
  env.drop(pd);
  expect_error(t, env.pdpt(pdpt).map(CapRef{second}, kAddress, 0), Error::InvalidCapability,
               "map a PDPT whose address space was destroyed, before unmapping it");
  expect_ok(t, env.pdpt(pdpt).unmap(), "unmap the PDPT");
  expect_ok(t, env.pdpt(pdpt).map(CapRef{second}, kAddress, 0), "map the unmapped PDPT into the second space");
  expect_ok(t, env.page_directory(pd2).map(CapRef{second}, kAddress, 0),
            "a new page directory where the deleted one was (the PDPT must come back empty)");
  const CPtr caps[] = {pd2, pdpt, second};
  for (CPtr c : caps) env.drop(c);
}

// Finding 1: the same rule for frames: a frame cap whose space was destroyed is still recorded as
// mapped and maps again only after unmap().
TESSERA_USER_TEST(VSPACE0011, pass, "a frame cap whose address space died maps again only after unmap (InvalidCapability before)") {
  Env env(t);
  constexpr uint64_t kAddress = 0x2400'0000;
  const CPtr first = env.make(ObjectType::Pml4), second = env.make(ObjectType::Pml4);
  const CPtr frame = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  tessera::sys::CreatedTables first_tables;
  const tessera::sys::MapRequest request{first, frame, kAddress, tessera::sys::PageSize::k4K, kRead | kWrite,
                                         kExecuteNever};
  if (!expect_ok(t, tessera::sys::map_frame(env.memory, request, &first_tables), "map in the first space")) return;
  env.drop(first);
  // A page table for the second space, so the refusal can only be about the frame.
  tessera::sys::CreatedTables second_tables;
  const CPtr probe = env.make(ObjectType::Frame4k);
  const tessera::sys::MapRequest probe_request{second, probe, kAddress + 0x1000, tessera::sys::PageSize::k4K, kRead,
                                               kExecuteNever};
  expect_ok(t, tessera::sys::map_frame(env.memory, probe_request, &second_tables), "map a probe frame");
  expect_error(t, env.frame(frame).map(CapRef{second}, kAddress, kRead, kExecuteNever), Error::InvalidCapability,
               "map a frame whose address space was destroyed, before unmapping it");
  (void)env.frame(frame).unmap();
  expect_ok(t, env.frame(frame).map(CapRef{second}, kAddress, kRead, kExecuteNever), "map after unmap");
  env.drop(probe);
  env.drop(frame);
  expect_ok(t, tessera::sys::free_tables(env.memory, &second_tables), "delete the second space's tables");
  expect_ok(t, tessera::sys::free_tables(env.memory, &first_tables), "delete the first space's tables");
  env.drop(second);
}

// Finding 1, third case: unmapping a page table that holds a mapped frame clears it; mapped again,
// it shows no frame (a new frame maps at the address), and the old frame cap, still recorded as
// mapped, maps again only after its own unmap().
TESSERA_USER_TEST(VSPACE0012, pass, "an unmapped page table comes back empty; its old frame maps again only after unmap") {
  Env env(t);
  constexpr uint64_t kAddress = 0x8000'0000;  // 2 GiB: no page directory of the root task there
  const CPtr pd = env.make(ObjectType::PageDirectory), pt = env.make(ObjectType::PageTable);
  const CPtr old_frame = env.make(ObjectType::Frame4k), new_frame = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  expect_ok(t, env.page_directory(pd).map(kRootVSpaceRef, kAddress, 0), "map the page directory");
  expect_ok(t, env.page_table(pt).map(kRootVSpaceRef, kAddress, 0), "map the page table");
  if (!expect_ok(t, env.frame(old_frame).map(kRootVSpaceRef, kAddress, kRead | kWrite, kExecuteNever), "map a frame")) {
    return;
  }
  words_at(kAddress)[0] = 0x01D0'F4A3;
  expect_ok(t, env.page_table(pt).unmap(), "unmap the page table");
  expect_ok(t, env.page_table(pt).map(kRootVSpaceRef, kAddress, 0), "map the page table again");
  if (expect_ok(t, env.frame(new_frame).map(kRootVSpaceRef, kAddress, kRead | kWrite, kExecuteNever),
                "a new frame at the address the unmapped table held")) {
    t.check(words_at(kAddress)[0] == 0, "the address shows the old frame's word 0x%lx", words_at(kAddress)[0]);
  }
  expect_error(t, env.frame(old_frame).map(kRootVSpaceRef, kAddress + 0x1000, kRead, kExecuteNever),
               Error::InvalidCapability, "the old frame, still recorded as mapped");
  expect_ok(t, env.frame(old_frame).unmap(), "unmap the old frame");
  if (expect_ok(t, env.frame(old_frame).map(kRootVSpaceRef, kAddress + 0x1000, kRead, kExecuteNever),
                "the old frame after unmap")) {
    t.check(words_at(kAddress + 0x1000)[0] == 0x01D0'F4A3, "the old frame lost its contents");
  }
  const CPtr caps[] = {new_frame, old_frame, pt, pd};
  for (CPtr c : caps) env.drop(c);
}

// ---------------------------------------------------------------------------------------------
// Finding 2: IPC through a destroyed address space.
// ---------------------------------------------------------------------------------------------

namespace {
constexpr uint64_t kSharedAddress = 0x22000000;  // the shared page, at the same address in both spaces
constexpr uint64_t kChildStack = 0x23000000;     // one page, the child's space only
constexpr uint64_t kChildIpcBuffer = 0x23001000;

// The receiver's whole program, alone in a page (its space maps only this code page): word 0 of the
// shared page = 1, Recv on `endpoint`, word 0 = 2, stop.
[[noreturn, gnu::noinline, gnu::aligned(4096)]] void lonely_receiver(volatile uint64_t* shared, uint64_t endpoint) {
  shared[0] = 1;
  (void)raw_syscall(tessera::Syscall::Recv, endpoint, 0);
  shared[0] = 2;
  for (;;) (void)raw_syscall(tessera::Syscall::DebugSuspendSelf, 0, 0);
}
}  // namespace

// Finding 2: a thread blocked in Recv whose PML4 is destroyed (every cap, including the TCB's own)
// and whose PML4 memory now is a frame the attacker fills with entries translating the receiver's
// IPC-buffer address to a frame G of the test: a long Send must not write G (nor crash).
TESSERA_USER_TEST(IPC1005, pass, "a Send to a receiver whose PML4 was destroyed does not write through the PML4's reused memory") {
  Env env(t);
  constexpr uint64_t kWindow = 0x2500'0000;  // the root task's view of the fake tables and of G
  constexpr uint64_t kSeed = 0x6A11;
  const CPtr memory = env.make(ObjectType::Untyped, 12);
  const CPtr pml4 = memory == 0 ? 0 : retype_from(env, memory, ObjectType::Pml4);
  const CPtr endpoint = env.make(ObjectType::Endpoint), tcb = env.make(ObjectType::Tcb);
  const CPtr stack = env.make(ObjectType::Frame4k), ipc = env.make(ObjectType::Frame4k);
  const CPtr shared = env.make(ObjectType::Frame4k);
  const CPtr levels[3] = {env.make(ObjectType::Frame4k), env.make(ObjectType::Frame4k), env.make(ObjectType::Frame4k)};
  const CPtr target = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  const uint64_t code_page = reinterpret_cast<uint64_t>(&lonely_receiver);
  const CPtr code = env.copy(env.info.image_frames.start + (code_page - kImageBase) / 4096);
  const CPtr shared_in_root = env.copy(shared);
  if (t.failed()) return;
  if (!env.map(pml4, code, code_page, kRead, kExecutable) || !env.map(pml4, stack, kChildStack) ||
      !env.map(pml4, ipc, kChildIpcBuffer) || !env.map(pml4, shared, kSharedAddress) ||
      !env.map(kRootVSpace, shared_in_root, kSharedAddress)) {
    return;
  }
  words_at(kSharedAddress)[0] = 0;
  expect_ok(t, env.tcb(tcb).configure(0, kRootCNodeRef, 0, CapRef{pml4}, 0, kChildIpcBuffer, CapRef{ipc}), "configure");
  expect_ok(t, env.tcb(tcb).set_priority(kRootTcbRef, 255), "the receiver's priority");
  expect_ok(t, env.tcb(tcb).write_registers(true, 9, code_page, kChildStack + 4096 - 8, kUserRflags, 0, 0, 0, 0,
                                            endpoint, kSharedAddress, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            "start the receiver");
  for (int i = 0; i < 1000 && words_at(kSharedAddress)[0] == 0; ++i) (void)sys::yield();
  if (!t.check(words_at(kSharedAddress)[0] == 1, "the receiver did not start")) return;
  let_run();
  // From here on the receiver must not run (its space is about to go): it waits at priority 1, and
  // the root task does not block until it is deleted.
  expect_ok(t, env.tcb(tcb).set_priority(kRootTcbRef, 1), "lower the receiver's priority");
  expect_ok(t, env.root().revoke(pml4, kSlotDepth), "revoke the PML4 (the TCB's copy)");
  env.drop(pml4);
  const CPtr fake_root = retype_from(env, memory, ObjectType::Frame4k);
  if (t.failed()) return;
  t.check(env.address_of(fake_root) == untyped_address(env, memory), "the frame did not reuse the PML4's memory");
  // PML4 -> PDPT -> PD -> PT -> G for the receiver's IPC-buffer address, all in frames of the test.
  const CPtr chain[] = {fake_root, levels[0], levels[1], levels[2], target};
  for (uint64_t i = 0; i < 5; ++i) {
    if (!env.map(kRootVSpace, chain[i], kWindow + i * 4096)) return;
  }
  for (unsigned level = 4; level >= 1; --level) {
    const uint64_t next = env.address_of(chain[5 - level]);
    words_at(kWindow + (4 - level) * 4096)[table_index(kChildIpcBuffer, level)] = next | kPresentWritableUser;
  }
  const uint64_t target_view = kWindow + 4 * 4096;
  fill_page(target_view, kSeed);
  put_pattern(0x5E4D, 100);
  const Error sent = sys::send(endpoint, MessageInfo{0x5E4D, 100, 0, 0});
  t.note("the send returned %s", error_name(sent));
  page_unchanged(t, target_view, kSeed, "frame G, reachable only through the destroyed PML4's memory");
  expect_ok(t, env.tcb(tcb).suspend(), "suspend the receiver");
  env.drop(tcb);
  const CPtr caps[] = {target, levels[2], levels[1], levels[0], fake_root, shared_in_root, shared, ipc,
                       stack, code, endpoint, memory};
  for (CPtr c : caps) env.drop(c);
}

// ---------------------------------------------------------------------------------------------
// Finding 3: interrupts signalling a freed notification.
// ---------------------------------------------------------------------------------------------

// Finding 3: an IRQ handler bound to a notification that is then deleted; a new notification made
// from the same memory must not be signalled when the interrupt arrives (the line was unbound when
// the notification died).
TESSERA_USER_TEST(INTERRUPT0004, pass, "a deleted notification's IRQ binding dies with it: a notification reusing its memory gets no signal") {
  Env env(t);
  constexpr uint64_t kBadge = 0x40;
  const CPtr memory = env.make(ObjectType::Untyped, 12);
  const CPtr first = memory == 0 ? 0 : retype_from(env, memory, ObjectType::Notification);
  const CPtr handler = env.slot();
  if (t.failed()) return;
  const CPtr badged = mint(env, first, kAllRights, kBadge);
  Client<IrqControl> control{env.kernel, tessera::kSlotIrqControl};
  if (badged == 0 || !expect_ok(t, control.get_ioapic(kRootCNodeRef, handler, kSlotDepth, 0, kRtcLine, false, false, 0),
                                "IRQControl.getIoapic")) {
    return;
  }
  Client<IrqHandler> irq{env.kernel, handler};
  expect_ok(t, irq.set_notification(CapRef{badged}), "setNotification");
  env.drop(badged);
  env.drop(first);
  const CPtr second = retype_from(env, memory, ObjectType::Notification);
  if (second == 0) return;
  uint64_t word = 0;
  int requested = 0;
  {
    Rtc rtc(env);
    if (rtc.open()) {
      (void)rtc.acknowledge();
      rtc.set_periodic(true);
      for (int i = 0; i < 20000 && requested < 4 && word == 0; ++i) {
        if ((rtc.acknowledge() & 0x80) != 0) ++requested;
        (void)sys::poll(second, &word);
        if (word == 0) (void)sys::yield();
      }
    }
  }
  t.check(requested > 0 || word != 0, "the RTC raised no interrupt: the test proves nothing");
  t.check(word == 0, "the interrupt signalled the new notification in the dead one's memory (word 0x%lx)", word);
  (void)irq.ack();
  env.drop(handler);
  env.drop(second);
  env.drop(memory);
}

// ---------------------------------------------------------------------------------------------
// Finding 4 and 7b/7c: reply links.
// ---------------------------------------------------------------------------------------------

namespace {
Job caller(CPtr endpoint, uint64_t label) {
  Job job;
  job.op = Job::Op::Call;
  job.cap = endpoint;
  job.info = MessageInfo{label, 0, 0, 0};
  return job;
}
Job sender(CPtr endpoint, uint64_t label) {
  Job job;
  job.op = Job::Op::Send;
  job.cap = endpoint;
  job.info = MessageInfo{label, 0, 0, 0};
  return job;
}
// Receives on `endpoint` (something must be queued) and checks the label.
bool receive_label(Context& t, CPtr endpoint, uint64_t label) {
  Received r{};
  if (!expect_is(t, sys::recv(endpoint, &r), Error::Ok, "recv")) return false;
  return t.check(r.info.label == label, "received label 0x%lx, expected 0x%lx", r.info.label, label);
}
}  // namespace

// Finding 4: a server takes A's Call and then B's Call with plain Recv; the second Recv gave up the
// reply owed to A (A wakes with NoReply: issue 13). Suspending A must not cancel the reply the
// server now owes B.
TESSERA_USER_TEST(IPC1006, pass, "after Recv A, Recv B, suspending caller A does not cancel the server's reply to B") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  Job a = caller(endpoint, 0xA1), b = caller(endpoint, 0xB1);
  Peer pa(env, 0), pb(env, 1);
  if (t.failed() || !pa.run(a) || !pb.run(b)) return;
  if (!receive_label(t, endpoint, 0xA1) || !receive_label(t, endpoint, 0xB1)) return;
  if (t.check(wait_done(a), "caller A still waits for a reply the server gave up")) {
    t.check(a.error == Error::NoReply, "caller A: %s, expected NoReply", error_name(a.error));
  }
  expect_ok(t, env.tcb(pa.tcb()).suspend(), "suspend A");
  expect_is(t, sys::reply(MessageInfo{0xB2, 0, 0, 0}), Error::Ok, "reply");
  if (t.check(wait_done(b), "B never got the server's reply (suspending A cancelled it)")) {
    t.check(b.error == Error::Ok && b.received.info.label == 0xB2, "B: %s, label 0x%lx", error_name(b.error),
            b.received.info.label);
  }
}

namespace {
// A server without a thread-local block (made by hand from a given TCB): three plain Recvs on
// `endpoint`, then it stops.
[[noreturn, gnu::noinline]] void three_receives(uint64_t endpoint) {
  for (int i = 0; i < 3; ++i) (void)raw_syscall(tessera::Syscall::Recv, endpoint, 0);
  for (;;) (void)raw_syscall(tessera::Syscall::DebugSuspendSelf, 0, 0);
}
}  // namespace

// Finding 4: a server that received A's and then B's Call is destroyed; its TCB's memory becomes a
// frame full of a pattern. Suspending and resuming A must not write to the freed server TCB.
TESSERA_USER_TEST(IPC1007, pass, "a destroyed server's memory is not touched when an earlier caller is suspended and resumed") {
  Env env(t);
  constexpr uint64_t kServerIpc = 0x2700'0000, kServerStack = 0x2700'2000, kReusedView = 0x2700'4000;
  constexpr uint64_t kSeed = 0x7CB;
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  const CPtr memory = env.make(ObjectType::Untyped, 12);
  const CPtr ipc = env.make(ObjectType::Frame4k), stack = env.make(ObjectType::Frame4k);
  Job a = caller(endpoint, 0xA1), b = caller(endpoint, 0xB1);
  Peer pa(env, 0), pb(env, 1);
  if (t.failed() || !pa.run(a) || !pb.run(b)) return;
  const CPtr server = retype_from(env, memory, ObjectType::Tcb);
  if (server == 0 || !env.map(kRootVSpace, ipc, kServerIpc) || !env.map(kRootVSpace, stack, kServerStack)) return;
  expect_ok(t, env.tcb(server).configure(0, kRootCNodeRef, 0, kRootVSpaceRef, 0, kServerIpc, CapRef{ipc}),
            "configure the server");
  expect_ok(t, env.tcb(server).set_priority(kRootTcbRef, 255), "the server's priority");
  expect_ok(t, env.tcb(server).write_registers(true, 9, reinterpret_cast<uint64_t>(&three_receives),
                                               kServerStack + 4096 - 8, kUserRflags, 0, 0, 0, 0, 0, endpoint, 0, 0,
                                               0, 0, 0, 0, 0, 0, 0, 0, 0),
            "start the server");
  let_run();
  // Each of the server's later Recvs gave the earlier caller's reply up: A and B wake with NoReply.
  t.check(a.is_done() && a.error == Error::NoReply, "caller A: done %d, %s (expected NoReply)", a.is_done(),
          error_name(a.error));
  t.check(b.is_done() && b.error == Error::NoReply, "caller B: done %d, %s (expected NoReply)", b.is_done(),
          error_name(b.error));
  // The server took both calls and waits in its third Recv: nothing is queued.
  Received r{};
  if (!expect_is(t, sys::nb_recv(endpoint, &r), Error::WouldBlock, "the server did not take both calls")) return;
  env.drop(server);
  const CPtr reused = retype_from(env, memory, ObjectType::Frame4k);
  if (reused == 0) return;
  t.check(env.address_of(reused) == untyped_address(env, memory), "the frame did not reuse the server TCB's memory");
  if (!env.map(kRootVSpace, reused, kReusedView)) return;
  fill_page(kReusedView, kSeed);
  expect_ok(t, env.tcb(pa.tcb()).suspend(), "suspend A");
  page_unchanged(t, kReusedView, kSeed, "the freed server TCB, after suspending A");
  fill_page(kReusedView, kSeed);
  expect_ok(t, env.tcb(pa.tcb()).resume(), "resume A");
  page_unchanged(t, kReusedView, kSeed, "the freed server TCB, after resuming A");
  fill_page(kReusedView, kSeed);
  expect_ok(t, env.tcb(pb.tcb()).suspend(), "suspend B");
  page_unchanged(t, kReusedView, kSeed, "the freed server TCB, after suspending B");
  const CPtr caps[] = {reused, stack, ipc, memory};
  for (CPtr c : caps) env.drop(c);
}

namespace {
// Receives one call on the endpoint (low 32 bits of the argument), waits on the notification (high
// 32 bits), then replies label 0x66 with one word 0x67.
void wait_then_reply(uint64_t argument) {
  const CPtr endpoint = argument & 0xFFFFFFFF, notification = argument >> 32;
  Received r{};
  if (sys::recv(endpoint, &r) != Error::Ok) return;
  uint64_t word = 0;
  if (sys::wait(notification, &word) != Error::Ok) return;
  buffer().msg[0] = 0x67;
  (void)sys::reply(MessageInfo{0x66, 1, 0, 0});
}
}  // namespace

// Finding 7b: suspending and resuming a server that owes a reply (blocked on a notification) does
// not drop the reply: after resume, its Reply still reaches the caller.
TESSERA_USER_TEST(IPC1009, pass, "a server suspended and resumed while it owes a reply still answers its caller") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  Job call = caller(endpoint, 0x65);
  Peer client(env, 0), server(env, 1);
  if (t.failed() || !client.run(call)) return;
  if (!server.start(wait_then_reply, make_argument(endpoint, static_cast<uint32_t>(CPtr{notification})))) return;
  let_run();
  t.check(!call.is_done(), "the caller returned before the server replied");
  expect_ok(t, env.tcb(server.tcb()).suspend(), "suspend the server");
  expect_ok(t, env.tcb(server.tcb()).resume(), "resume the server");
  let_run();
  expect_is(t, sys::signal(notification), Error::Ok, "signal the server");
  if (t.check(wait_done(call), "the caller never got the reply (the suspend dropped it)")) {
    t.check(call.error == Error::Ok && call.received.info.label == 0x66 && call.words[0] == 0x67,
            "reply: %s, label 0x%lx, word 0x%lx", error_name(call.error), call.received.info.label, call.words[0]);
  }
}

// Finding 7c: a plain Recv gives up the reply owed to an earlier caller: a Reply after the server
// received a plain Send goes nowhere (caller A never gets it: it woke with NoReply when the server
// received again, issue 13); the reply after the next Call goes to that caller.
TESSERA_USER_TEST(IPC1010, pass, "a plain Recv gives up the reply owed: the next Reply does not wake the earlier caller") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  Job a = caller(endpoint, 0xA1), c = sender(endpoint, 0xC1), b = caller(endpoint, 0xB1);
  Peer pa(env, 0), pc(env, 1), pb(env, 2);
  if (t.failed() || !pa.run(a) || !pc.run(c) || !pb.run(b)) return;
  if (!receive_label(t, endpoint, 0xA1) || !receive_label(t, endpoint, 0xC1)) return;
  expect_is(t, sys::reply(MessageInfo{0x77, 0, 0, 0}), Error::Ok, "reply after the plain Send");
  let_run();
  t.check(a.is_done() && a.error == Error::NoReply && a.received.info.label != 0x77,
          "caller A: done %d, %s, label 0x%lx (expected NoReply, never the reply given after the next Recv)",
          a.is_done(), error_name(a.error), a.received.info.label);
  if (!receive_label(t, endpoint, 0xB1)) return;
  expect_is(t, sys::reply(MessageInfo{0x78, 0, 0, 0}), Error::Ok, "reply to B");
  if (t.check(wait_done(b), "B got no reply")) t.check(b.received.info.label == 0x78, "B: label 0x%lx", b.received.info.label);
}

// ---------------------------------------------------------------------------------------------
// Finding 5: a fault message queued on an endpoint that is then deleted.
// ---------------------------------------------------------------------------------------------

namespace {
struct FaultProbe {
  uint64_t address;       // unmapped when the thread first touches it
  CPtr endpoint;          // where it calls afterwards
  uint64_t stage;         // 1: about to fault, 2: past the access, 3: the call returned
  uint64_t rax_after;     // rax across the faulting access (0x1234ABCD going in)
  Error call_error;
  uint64_t reply_label;
  uint64_t reply_word;
};

void fault_then_call(uint64_t argument) {
  auto* p = reinterpret_cast<FaultProbe*>(argument);
  __atomic_store_n(&p->stage, 1, __ATOMIC_SEQ_CST);
  uint64_t rax = 0x1234ABCD, loaded = 0;
  asm volatile("movq (%2), %1" : "+a"(rax), "=&c"(loaded) : "b"(p->address) : "memory");
  p->rax_after = rax;
  __atomic_store_n(&p->stage, 2, __ATOMIC_SEQ_CST);
  buffer().msg[0] = 0x77;
  Received r{};
  p->call_error = sys::call(p->endpoint, MessageInfo{0x1234, 1, 0, 0}, &r);
  p->reply_label = r.info.label;
  p->reply_word = buffer().msg[0];
  __atomic_store_n(&p->stage, 3, __ATOMIC_SEQ_CST);
}
}  // namespace

// Finding 5: a thread's fault message waits on its fault endpoint (nobody receives); the endpoint
// is deleted. The thread must restart cleanly (registers intact), and its next Call must arrive as
// that Call, not as the old fault message, and get the reply.
TESSERA_USER_TEST(FAULT0018, pass, "a fault queued on a deleted endpoint leaves no trace: rax intact, the next Call is a Call and is answered") {
  Env env(t);
  constexpr uint64_t kAddress = 0x2600'0000;
  const CPtr fault_endpoint = env.make(ObjectType::Endpoint);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap frame{env, env.make(ObjectType::Frame4k)};
  FaultProbe probe{kAddress, endpoint, 0, 0, Error::Ok, 0, 0};
  Peer peer(env, 0);
  if (t.failed() || !peer.ok()) return;
  expect_ok(t, env.tcb(peer.tcb()).set_space(fault_endpoint, kRootCNodeRef, 0, kRootVSpaceRef, 0),
            "give the thread a fault endpoint");
  if (!peer.start(fault_then_call, reinterpret_cast<uint64_t>(&probe))) return;
  let_run();
  if (!t.check(__atomic_load_n(&probe.stage, __ATOMIC_SEQ_CST) == 1, "stage %lu: the thread did not fault",
               probe.stage)) {
    return;
  }
  // Fix the cause, then take the fault endpoint away while the fault message waits on it.
  if (!env.map(kRootVSpace, frame, kAddress)) return;
  env.drop(fault_endpoint);
  let_run();
  Received r{};
  Error e = Error::WouldBlock;
  for (int i = 0; i < 200 && e == Error::WouldBlock; ++i) {
    e = sys::nb_recv(endpoint, &r);
    if (e == Error::WouldBlock) (void)sys::yield();
  }
  t.check(probe.rax_after == 0x1234ABCD, "rax across the fault is 0x%lx, expected 0x1234abcd", probe.rax_after);
  if (!expect_is(t, e, Error::Ok, "receive the thread's Call")) return;
  t.check(r.info.label == 0x1234 && r.info.length_words == 1 && buffer().msg[0] == 0x77,
          "the Call arrived as label 0x%lx length %u word 0x%lx (a fault message is label %lu)", r.info.label,
          r.info.length_words, buffer().msg[0], static_cast<uint64_t>(tessera::FaultKind::PageFault));
  buffer().msg[0] = 0x99;
  expect_is(t, sys::reply(MessageInfo{0x4321, 1, 0, 0}), Error::Ok, "reply");
  for (int i = 0; i < 200 && __atomic_load_n(&probe.stage, __ATOMIC_SEQ_CST) != 3; ++i) (void)sys::yield();
  if (t.check(__atomic_load_n(&probe.stage, __ATOMIC_SEQ_CST) == 3, "the caller got no reply")) {
    t.check(probe.call_error == Error::Ok && probe.reply_label == 0x4321 && probe.reply_word == 0x99,
            "the caller's Call: %s, label 0x%lx, word 0x%lx", error_name(probe.call_error), probe.reply_label,
            probe.reply_word);
  }
}

// ---------------------------------------------------------------------------------------------
// Findings 6 and 7a: a reply carries caps when (and only when) the server's receiving cap has Grant.
// ---------------------------------------------------------------------------------------------

namespace {
// One Call of `length` words from a fresh peer through `call_cap`, received by the root task on
// `server_cap` (waiting first when `receiver_first`), answered with a badged notification cap.
// Returns whether the cap arrived in the caller's receive slot; -1 after a failed check.
int reply_carries_cap(Env& env, CPtr server_cap, CPtr call_cap, bool receiver_first, uint32_t length) {
  Context& t = env.t;
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, 0x21)};
  OwnedCap received{env, env.slot()};
  Job call;
  call.op = Job::Op::Call;
  call.cap = call_cap;
  call.info = MessageInfo{0x31, length, 0, 0};
  call.seed = 0x31;
  call.receive_slot = received;
  Peer peer(env, 0);
  if (notification == 0 || badged == 0 || received == 0 || !peer.ok()) return -1;
  Received r{};
  if (receiver_first) {
    // The peer calls only once the root task blocks in Recv.
    if (!peer.start(run_jobs, reinterpret_cast<uint64_t>(&call))) return -1;
  } else {
    if (!peer.run(call)) return -1;
    if (!t.check(!call.is_done(), "the Call returned before it was received")) return -1;
  }
  if (!expect_is(t, sys::recv(server_cap, &r), Error::Ok, "recv")) return -1;
  if (!t.check(r.info.label == 0x31 && r.info.length_words == length, "received label 0x%lx length %u",
               r.info.label, r.info.length_words)) {
    return -1;
  }
  buffer().msg[0] = 0x32;
  buffer().caps_or_badges[0] = badged;
  expect_is(t, sys::reply(MessageInfo{0x32, 1, 1, 0}), Error::Ok, "reply with a cap");
  if (!t.check(wait_done(call), "the caller got no reply")) return -1;
  if (!t.check(call.error == Error::Ok && call.received.info.label == 0x32 && call.words[0] == 0x32,
               "reply: %s label 0x%lx word 0x%lx", error_name(call.error), call.received.info.label, call.words[0])) {
    return -1;
  }
  const bool arrived = !env.is_empty(received);
  t.check(arrived == (call.received.info.extra_caps == 1), "extra_caps %u but the receive slot is %s",
          call.received.info.extra_caps, arrived ? "full" : "empty");
  return arrived ? 1 : 0;
}

// Runs reply_carries_cap for both orders and for a register-only and a longer message; checks
// the cap arrived exactly when `expected`.
void check_reply_grant(Context& t, uint8_t server_rights, uint8_t call_rights, bool expected) {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap server_cap{env, mint(env, endpoint, server_rights)};
  OwnedCap call_cap{env, mint(env, endpoint, call_rights)};
  if (t.failed()) return;
  const uint32_t lengths[] = {4, 5};
  const bool orders[] = {true, false};
  for (bool receiver_first : orders) {
    for (uint32_t length : lengths) {
      const int got = reply_carries_cap(env, server_cap, call_cap, receiver_first, length);
      if (got < 0) return;
      t.check((got == 1) == expected, "%s, %u words: the reply %s a cap (expected %s)",
              receiver_first ? "server waiting first" : "caller first", length, got == 1 ? "carried" : "did not carry",
              expected ? "one" : "none");
    }
  }
}
}  // namespace

// Finding 6: with the server's receiving cap holding Grant, a reply carries a cap whatever the
// order (server waiting first or caller first) and the path (the general path's branch for a
// waiting receiver never set the caller's grant flags).
TESSERA_USER_TEST(IPC1008, pass, "a reply carries caps the same whether the server or the caller came first (server cap with Grant)") {
  check_reply_grant(t, kRead | kGrant, kWrite | kGrantReply, true);
}

// Finding 7a: a reply carries caps only if the server's receiving endpoint cap has Grant (seL4);
// the caller's rights (here all of them) do not matter.
TESSERA_USER_TEST(IPCRIGHTS0006, pass, "a reply carries no caps when the server's receiving cap lacks Grant, whatever the caller's rights") {
  check_reply_grant(t, kRead, kAllRights, false);
}

// ---------------------------------------------------------------------------------------------
// Finding 7d, 7e, 7f.
// ---------------------------------------------------------------------------------------------

// Finding 7d: CNode.copy of a CNode cap keeps its guard (Copy applies no data word).
TESSERA_USER_TEST(CNODEOP0011, pass, "CNode.copy of a guarded CNode cap keeps the guard: slots resolve through the copy with it") {
  Env env(t);
  constexpr uint64_t kGuard = 0x5, kGuardBits = 4, kRadix = 4, kSlot = 3;
  constexpr uint64_t kIndex = (kGuard << kRadix) | kSlot;
  constexpr uint8_t kDepth = kGuardBits + kRadix;
  const CPtr cnode = env.make(ObjectType::Cnode, kRadix);
  const CPtr guarded = env.slot(), copy = env.slot(), endpoint = env.make(ObjectType::Endpoint);
  if (t.failed()) return;
  expect_ok(t, env.root().mint(guarded, kSlotDepth, kRootCNodeRef, cnode, kSlotDepth, kAllRights,
                               (kGuard << 6) | kGuardBits),
            "mint the CNode cap with a 4-bit guard");
  expect_ok(t, env.root().copy(copy, kSlotDepth, kRootCNodeRef, guarded, kSlotDepth, kAllRights), "copy it");
  Client<tessera::abi::CNode> through_guarded{env.kernel, guarded}, through_copy{env.kernel, copy};
  // The guarded original resolves (guard, slot) in 8 bits.
  expect_ok(t, through_guarded.copy(kIndex, kDepth, kRootCNodeRef, endpoint, kSlotDepth, kAllRights),
            "copy into slot 3 through the guarded cap");
  expect_ok(t, through_guarded.delete_(kIndex, kDepth), "delete it again");
  expect_ok(t, through_copy.copy(kIndex, kDepth, kRootCNodeRef, endpoint, kSlotDepth, kAllRights),
            "copy into slot 3 through the copy, with the guard");
  // Whatever went in through either cap is in the one CNode: empty it through the original.
  (void)through_guarded.delete_(kIndex, kDepth);
  const CPtr caps[] = {endpoint, copy, guarded, cnode};
  for (CPtr c : caps) env.drop(c);
}

// Finding 7e: a thread may not Wait on or Poll a notification bound to another thread
// (seL4: a cap fault; here IllegalOperation). The bound thread itself may.
TESSERA_USER_TEST(BIND0006, pass, "Wait and Poll on a notification bound to another thread are IllegalOperation") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, 0x8)};
  Job other;
  other.op = Job::Op::Wait;
  other.cap = notification;
  Job own;
  own.op = Job::Op::Wait;
  own.cap = notification;
  Peer bound(env, 0), stranger(env, 1);
  if (t.failed() || !bound.ok()) return;
  expect_ok(t, env.tcb(bound.tcb()).bind_notification(CapRef{notification}), "bind");
  uint64_t word = 0;
  expect_is(t, sys::poll(notification, &word), Error::IllegalOperation, "Poll by a thread it is not bound to");
  if (!stranger.run(other)) return;
  if (t.check(other.is_done(), "Wait by a thread it is not bound to blocked")) {
    expect_is(t, other.error, Error::IllegalOperation, "Wait by a thread it is not bound to");
  }
  if (!bound.run(own)) return;
  expect_is(t, sys::signal(badged), Error::Ok, "signal");
  if (t.check(wait_done(own), "the bound thread's own Wait did not end")) {
    t.check(own.error == Error::Ok && own.received.badge == 0x8, "the bound thread: %s word 0x%lx",
            error_name(own.error), own.received.badge);
  }
}

// Finding 7f: CNode.cancelBadgedSends dequeues and restarts the senders queued with that badge;
// with the badged cap then deleted, their retried Send fails with a lookup error instead of
// delivering. Senders with another badge stay queued.
TESSERA_USER_TEST(IPC1011, pass, "cancelBadgedSends restarts the senders of that badge; others stay queued") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap one{env, mint(env, endpoint, kAllRights, 0x1)};
  OwnedCap two{env, mint(env, endpoint, kAllRights, 0x2)};
  Job first = sender(one, 0x11), second = sender(two, 0x22), third = sender(one, 0x13);
  Peer p1(env, 0), p2(env, 1), p3(env, 2);
  if (t.failed() || !p1.run(first) || !p2.run(second) || !p3.run(third)) return;
  t.check(!first.is_done() && !second.is_done() && !third.is_done(), "a sender returned without a receiver");
  // The restarted senders must not retry before their cap is gone: keep them below the root task.
  Peer* peers[] = {&p1, &p2, &p3};
  for (Peer* p : peers) expect_ok(t, env.tcb(p->tcb()).set_priority(kRootTcbRef, 254), "lower a sender");
  expect_ok(t, env.root().cancel_badged_sends(one, kSlotDepth), "cancelBadgedSends on badge 1");
  one.drop();
  for (Peer* p : peers) expect_ok(t, env.tcb(p->tcb()).set_priority(kRootTcbRef, 255), "raise a sender");
  let_run();
  const Job* cancelled[] = {&first, &third};
  for (const Job* job : cancelled) {
    if (t.check(job->is_done(), "a badge-1 sender is still queued")) {
      t.check(job->error != Error::Ok, "a badge-1 sender's retried Send through its deleted cap returned Ok");
    }
  }
  t.check(!second.is_done(), "the badge-2 sender left the queue");
  Received r{};
  if (expect_is(t, sys::nb_recv(endpoint, &r), Error::Ok, "receive the badge-2 message")) {
    t.check(r.badge == 0x2 && r.info.label == 0x22, "received badge 0x%lx label 0x%lx", r.badge, r.info.label);
  }
  expect_is(t, sys::nb_recv(endpoint, &r), Error::WouldBlock, "nothing else is queued");
}
