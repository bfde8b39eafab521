// Thread tests of the root task (suite `user`): configuring TCBs, their registers, starting a
// thread in an address space of its own, suspend/resume, priorities and the MCP (TCB).
//
// The child thread's whole program is `child_program`, alone in a page: its address space holds a
// copy of that one code frame of init (the frame cap comes from BootInfo.image_frames), a stack, an
// IPC buffer and a frame the root task maps too, through which the two talk.
#include <stdint.h>

#include <tessera/string.h>
#include <tessera/sys/ipc.h>
#include <tessera/syscall.h>
#include <tessera/sys/testing.h>

#include "cap_test_env.h"
#include "ipc_test_env.h"

namespace {
using namespace captest;

constexpr uint64_t kImageBase = 0x400000;        // where libsys/rt/user.ld links init
constexpr uint64_t kSharedAddress = 0x22000000;  // the shared page, at the same address in both spaces
constexpr uint64_t kProbeAddress = 0x22001000;   // the root task's look at a frame it is about to lend
constexpr uint64_t kChildStack = 0x23000000;     // one page, the child's space only
constexpr uint64_t kChildIpcBuffer = 0x23001000;
constexpr uint64_t kUserRflags = 0x202;          // IF and the always-one bit

struct SharedPage {
  uint64_t counter;
  uint64_t input;
  uint64_t output;
};
enum ChildMode : uint64_t {
  kAnswer = 1, kCount = 2, kProbeRoot = 3, kUnknownSyscall = 4, kUndefined = 5, kDivide = 6, kWriteInput = 7, kHalt = 8
};

// A system call from the child with no arguments (Yield, DebugSuspendSelf), always inlined.
[[gnu::always_inline]] inline void child_syscall(tessera::Syscall number) {
  uint64_t rax;
  uint64_t rdx = static_cast<uint64_t>(number);
  asm volatile("syscall"
               : "=a"(rax), "+d"(rdx)
               :
               : "rcx", "r11", "rdi", "rsi", "r8", "r9", "r10", "r15", "memory");
}

// The child's program: no calls and no data references, aligned to a page of its own.
// kAnswer: output = 2 * input + 1, then stop. kCount: count and yield forever.
[[noreturn, gnu::noinline, gnu::aligned(4096)]] void child_program(volatile SharedPage* page, uint64_t mode) {
  if (mode == kAnswer) {
    page->output = page->input * 2 + 1;
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  if (mode == kUnknownSyscall) {
    child_syscall(static_cast<tessera::Syscall>(999));  // a fault for the handler, which replies
    page->counter = 7;
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  if (mode == kUndefined) {
    page->counter = 1;
    asm volatile("ud2");
    page->counter = 2;  // only if the handler skipped the instruction
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  if (mode == kDivide) {
    // 7 / 0 (divq %rcx, 48 F7 F1): the handler supplies rax and moves rip past the instruction.
    page->counter = 1;
    uint64_t quotient = 7, remainder = 0;
    asm volatile("divq %2" : "+a"(quotient), "+d"(remainder) : "c"(uint64_t{0}));
    page->output = quotient;
    page->counter = 2;
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  if (mode == kWriteInput) {
    // Writes to page->input (mapped read-only), reads the word back into output.
    page->counter = 1;
    auto* target = reinterpret_cast<volatile uint64_t*>(page->input);
    *target = 0x5A5A'0001;
    page->output = *target;
    page->counter = 2;
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  if (mode == kHalt) {
    page->counter = 1;
    asm volatile("hlt");  // privileged: #GP in user mode
    page->counter = 2;
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  if (mode == kProbeRoot) {
    // Reads the root task's boot-information page, which is mapped only in the root's space.
    page->counter = 1;
    page->output = *reinterpret_cast<volatile uint64_t*>(page->input);
    page->counter = 2;  // never reached: the read faults and the kernel stops this thread
    for (;;) child_syscall(tessera::Syscall::DebugSuspendSelf);
  }
  for (;;) {
    page->counter = page->counter + 1;
    child_syscall(tessera::Syscall::Yield);
  }
}

// A thread in an address space of its own, torn down (thread first) by the destructor.
class ChildThread {
 public:
  explicit ChildThread(Env& env) : env_(env), t_(env.t) {}
  ~ChildThread() {
    if (tcb != 0) (void)env_.tcb(tcb).suspend();
    const CPtr caps[] = {tcb, code, stack, ipc, shared, shared_in_root, pml4};
    for (CPtr c : caps) env_.drop(c);
  }

  // Builds the address space and a configured (not yet running) thread.
  bool build() {
    const uint64_t code_page = reinterpret_cast<uint64_t>(&child_program);
    if (!t_.check(code_page % 4096 == 0, "child_program at 0x%lx is not page aligned", code_page)) return false;
    pml4 = env_.make(ObjectType::Pml4);
    stack = env_.make(ObjectType::Frame4k);
    ipc = env_.make(ObjectType::Frame4k);
    shared = env_.make(ObjectType::Frame4k);
    tcb = env_.make(ObjectType::Tcb);
    if (t_.failed()) return false;
    code = env_.copy(env_.info.image_frames.start + (code_page - kImageBase) / 4096);
    shared_in_root = env_.copy(shared);
    if (code == 0 || shared_in_root == 0 || !lent_frame_holds_code(code_page)) return false;
    if (!env_.map(pml4, code, code_page, kRead, kExecutable) || !env_.map(pml4, stack, kChildStack) ||
        !env_.map(pml4, ipc, kChildIpcBuffer) || !env_.map(pml4, shared, kSharedAddress) ||
        !env_.map(tessera::kSlotRootVSpace, shared_in_root, kSharedAddress)) {
      return false;
    }
    return expect_ok(t_, env_.tcb(tcb).configure(0, kRootCNodeRef, 0, CapRef{pml4}, 0, kChildIpcBuffer, CapRef{ipc}),
                     "configure the child");
  }

  // Points the thread at child_program(shared page, mode) with `priority` and resumes it.
  bool start(ChildMode mode, uint8_t priority = 255) {
    if (!expect_ok(t_, env_.tcb(tcb).set_priority(kRootTcbRef, priority), "set the child's priority")) return false;
    return expect_ok(t_, write_registers(reinterpret_cast<uint64_t>(&child_program), mode, true), "start the child");
  }

  // Sets rip, rsp, rflags, rsi = mode and rdi = the shared page; resumes when asked.
  tessera::Result<void> write_registers(uint64_t rip, uint64_t mode, bool resume) {
    return env_.tcb(tcb).write_registers(resume, 9, rip, kChildStack + 4096 - 8, kUserRflags, 0, 0, 0, 0, mode,
                                          kSharedAddress, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  // The root task's view of the shared page.
  volatile SharedPage* page() { return reinterpret_cast<volatile SharedPage*>(kSharedAddress); }

  // Yields until `done()` holds, at most `yields` times; returns done().
  template <typename Done>
  bool yield_until(Done done, int yields = 1000) {
    for (int i = 0; i < yields && !done(); ++i) (void)tessera::sys::yield();
    return done();
  }

  CPtr tcb = 0, pml4 = 0, code = 0, stack = 0, ipc = 0, shared = 0, shared_in_root = 0;

 private:
  // Checks that the image frame picked for the code page really holds it, through a read-only
  // mapping in the root task's space.
  bool lent_frame_holds_code(uint64_t code_page) {
    if (!env_.map(tessera::kSlotRootVSpace, code, kProbeAddress, kRead)) return false;
    const bool same = memcmp(reinterpret_cast<const void*>(kProbeAddress), reinterpret_cast<const void*>(code_page),
                             4096) == 0;
    const bool unmapped = env_.frame(code).unmap().ok();
    return t_.check(same, "image frame for 0x%lx holds other bytes", code_page) &&
           t_.check(unmapped, "unmap the probe mapping");
  }

  Env& env_;
  Context& t_;
};
}  // namespace

TESSERA_USER_TEST(TCB0001, pass, "Tcb.configure checks its arguments; resume needs a configured thread; TLS base") {
  Env env(t);
  const CPtr tcb = env.make(ObjectType::Tcb), pml4 = env.make(ObjectType::Pml4), frame = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  auto thread = env.tcb(tcb);
  expect_error(t, thread.resume(), Error::IllegalOperation, "resume before configure");
  expect_error(t, thread.configure(0, kRootCNodeRef, 0, CapRef{pml4}, 0, 0x23000200, CapRef{frame}),
               Error::AlignmentError, "IPC buffer not 1 KiB aligned");
  expect_error(t, thread.configure(0, CapRef{frame}, 0, CapRef{pml4}, 0, 0x23000000, CapRef{frame}),
               Error::WrongObjectType, "a frame as the CSpace");
  expect_error(t, thread.configure(0, kRootCNodeRef, 0, CapRef{frame}, 0, 0x23000000, CapRef{frame}),
               Error::WrongObjectType, "a frame as the VSpace");
  expect_error(t, thread.configure(0, kRootCNodeRef, 0, CapRef{pml4}, 0, 0x23000000, CapRef{pml4}),
               Error::WrongObjectType, "a PML4 as the IPC buffer frame");
  expect_ok(t, thread.configure(0, kRootCNodeRef, 0, CapRef{pml4}, 0, 0x23000400, CapRef{frame}), "configure");
  expect_error(t, thread.set_tls_base(0x0000'8000'0000'0000ull), Error::RangeError, "non-canonical TLS base");
  expect_error(t, thread.set_tls_base(0xFFFF'FFFF'8000'0000ull), Error::RangeError, "TLS base in the kernel");
  expect_ok(t, thread.set_tls_base(0x7000'1000), "TLS base");
  auto regs = thread.read_registers(false, 20);
  if (expect_ok(t, regs, "read registers")) t.check(regs->fs_base() == 0x7000'1000, "fs_base = 0x%lx", regs->fs_base());
  expect_error(t, env.tcb(tessera::kSlotRootTcb).read_registers(false, 1), Error::IllegalOperation,
               "reading the caller's own registers");
  const CPtr caps[] = {tcb, pml4, frame};
  for (CPtr c : caps) env.drop(c);
}

TESSERA_USER_TEST(TCB0002, pass, "Tcb.writeRegisters / readRegisters round-trip all twenty registers") {
  Env env(t);
  const CPtr tcb = env.make(ObjectType::Tcb);
  if (tcb == 0) return;
  uint64_t in[20];
  for (uint64_t i = 0; i < 20; ++i) in[i] = 0x1000 * (i + 1) + i;
  in[2] = kUserRflags | 0x1;  // rflags: CF set, IF set
  auto thread = env.tcb(tcb);
  expect_ok(t, thread.write_registers(false, 20, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9],
                                      in[10], in[11], in[12], in[13], in[14], in[15], in[16], in[17], in[18], in[19]),
            "write");
  auto r = thread.read_registers(false, 20);
  if (expect_ok(t, r, "read")) {
    const uint64_t out[20] = {r->rip(), r->rsp(), r->rflags(), r->rax(), r->rbx(), r->rcx(), r->rdx(),
                              r->rsi(), r->rdi(), r->rbp(), r->r8(), r->r9(), r->r10(), r->r11(),
                              r->r12(), r->r13(), r->r14(), r->r15(), r->fs_base(), r->gs_base()};
    for (int i = 0; i < 20; ++i) t.check(out[i] == in[i], "register %d: wrote 0x%lx, read 0x%lx", i, in[i], out[i]);
  }
  // A partial read returns the first `count` registers and zeros after them.
  auto partial = thread.read_registers(false, 2);
  if (expect_ok(t, partial, "partial read")) {
    t.check(partial->rsp() == in[1] && partial->rflags() == 0, "partial read: rsp 0x%lx rflags 0x%lx",
            partial->rsp(), partial->rflags());
  }
  // RFLAGS are sanitised: IOPL and the interrupt flag stay under kernel control.
  expect_ok(t, thread.write_registers(false, 3, 1, 2, 0x3000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "iopl");
  auto sanitized = thread.read_registers(false, 3);
  if (expect_ok(t, sanitized, "read rflags")) {
    t.check((sanitized->rflags() & 0x3200) == 0x200, "rflags 0x%lx: IOPL set or IF clear", sanitized->rflags());
  }
  expect_error(t, thread.read_registers(false, 21), Error::RangeError, "21 registers");
  env.drop(tcb);
}

TESSERA_USER_TEST(TCB0003, pass, "a thread in a second address space runs, talks through a shared frame, stops itself") {
  Env env(t);
  ChildThread child(env);
  if (!child.build()) return;
  child.page()->input = 20;
  child.page()->output = 0;
  if (!child.start(kAnswer)) return;
  t.check(child.yield_until([&] { return child.page()->output != 0; }), "the child never answered");
  t.check(child.page()->output == 41, "child answered %lu", child.page()->output);
  // It stopped inside its own code page, having made the suspend system call.
  auto regs = env.tcb(child.tcb).read_registers(false, 1);
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  if (expect_ok(t, regs, "read the child's registers")) {
    t.check(regs->rip() > code && regs->rip() < code + 4096, "child stopped at 0x%lx", regs->rip());
  }
}

TESSERA_USER_TEST(TCB0004, pass, "Tcb.suspend stops a running thread and Tcb.resume continues it where it was") {
  Env env(t);
  ChildThread child(env);
  if (!child.build()) return;
  child.page()->counter = 0;
  if (!child.start(kCount)) return;
  volatile SharedPage* page = child.page();
  t.check(child.yield_until([&] { return page->counter >= 10; }), "the child did not count (%lu)", page->counter);
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend");
  const uint64_t stopped_at = page->counter;
  for (int i = 0; i < 100; ++i) (void)tessera::sys::yield();
  t.check(page->counter == stopped_at, "a suspended thread counted from %lu to %lu", stopped_at, page->counter);
  // Reading the registers of a suspended thread shows where it is: in the loop of its code page.
  auto regs = env.tcb(child.tcb).read_registers(false, 1);
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  if (expect_ok(t, regs, "read")) t.check(regs->rip() > code && regs->rip() < code + 4096, "rip 0x%lx", regs->rip());
  expect_ok(t, env.tcb(child.tcb).resume(), "resume");
  t.check(child.yield_until([&] { return page->counter >= stopped_at + 10; }), "the resumed child did not count");
  // readRegisters with suspendSource stops it too.
  expect_ok(t, env.tcb(child.tcb).read_registers(true, 1), "read and suspend");
  const uint64_t again = page->counter;
  for (int i = 0; i < 100; ++i) (void)tessera::sys::yield();
  t.check(page->counter == again, "readRegisters(suspendSource) did not stop the child");
}

TESSERA_USER_TEST(TCB0005, pass, "priorities decide who runs; the MCP bounds what a TCB may grant") {
  Env env(t);
  ChildThread child(env);
  if (!child.build()) return;
  child.page()->counter = 0;
  if (!child.start(kCount, 254)) return;
  volatile SharedPage* page = child.page();
  for (int i = 0; i < 100; ++i) (void)tessera::sys::yield();
  t.check(page->counter == 0, "a lower-priority thread ran while the root task yielded (%lu)", page->counter);
  expect_ok(t, env.tcb(child.tcb).set_priority(kRootTcbRef, 255), "raise the child to the root's priority");
  t.check(child.yield_until([&] { return page->counter > 0; }), "the child never ran at equal priority");
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend");

  // The child's MCP is 100: as an authority it can grant up to 100 and no more.
  const CPtr other = env.make(ObjectType::Tcb);
  if (other == 0) return;
  expect_ok(t, env.tcb(child.tcb).set_mc_priority(kRootTcbRef, 100), "set the child's MCP");
  expect_error(t, env.tcb(other).set_priority(CapRef{child.tcb}, 101), Error::RangeError, "priority above the MCP");
  expect_ok(t, env.tcb(other).set_priority(CapRef{child.tcb}, 100), "priority at the MCP");
  expect_error(t, env.tcb(other).set_mc_priority(CapRef{child.tcb}, 101), Error::RangeError, "MCP above the MCP");
  expect_ok(t, env.tcb(other).set_mc_priority(CapRef{child.tcb}, 50), "MCP below the MCP");
  expect_error(t, env.tcb(child.tcb).set_priority(CapRef{other}, 51), Error::RangeError, "the new MCP bounds too");
  env.drop(other);
}

TESSERA_USER_TEST(TCB0006, pass, "a thread resumed at a kernel, non-canonical or non-executable address is stopped; fixed, it runs") {
  Env env(t);
  ChildThread child(env);
  if (!child.build()) return;
  child.page()->counter = 0;
  if (!child.start(kCount)) return;
  volatile SharedPage* page = child.page();
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend");
  const uint64_t before = page->counter;
  const uint64_t bad_rips[] = {0xFFFF'FFFF'8000'0000ull, 0x0000'8000'0000'0000ull, tessera::kRootStackTop};
  for (uint64_t rip : bad_rips) {
    expect_ok(t, child.write_registers(rip, kCount, true), "resume at a bad address");
    for (int i = 0; i < 20; ++i) (void)tessera::sys::yield();
    t.check(page->counter == before, "the child counted after resuming at 0x%lx", rip);
  }
  expect_ok(t, child.write_registers(reinterpret_cast<uint64_t>(&child_program), kCount, true), "restart");
  t.check(child.yield_until([&] { return page->counter > before; }), "the restarted child did not run");
}

TESSERA_USER_TEST(ISOLATION0007, pass, "a thread touching another address space's memory is stopped; the rest runs on") {
  Env env(t);
  ChildThread child(env);
  if (!child.build()) return;
  volatile SharedPage* page = child.page();
  page->counter = 0;
  page->input = tessera::kRootBootInfoAddress;  // mapped in the root task's space, not the child's
  page->output = 0;
  if (!child.start(kProbeRoot)) return;
  t.check(child.yield_until([&] { return page->counter >= 1; }), "the prober never ran");
  for (int i = 0; i < 100; ++i) (void)tessera::sys::yield();
  // The root task (this thread) is still running; the prober stopped on the faulting read.
  t.check(page->counter == 1, "the prober got past the read (counter %lu)", page->counter);
  t.check(page->output == 0, "the prober read 0x%lx from the root task's memory", page->output);
  auto regs = env.tcb(child.tcb).read_registers(false, 1);
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  if (expect_ok(t, regs, "read the prober's registers")) {
    t.check(regs->rip() > code && regs->rip() < code + 4096, "prober stopped at 0x%lx", regs->rip());
  }
  // The kernel goes on scheduling: the same thread, pointed at well-behaved code, runs again.
  page->counter = 0;
  if (!expect_ok(t, child.write_registers(code, kCount, true), "restart the stopped thread")) return;
  t.check(child.yield_until([&] { return page->counter >= 10; }), "the restarted thread did not run");
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend it");
}

namespace {
using tessera::sys::Received;

// Gives `child` the fault endpoint `endpoint` (a slot of the root CNode, the child's CSpace).
bool set_fault_endpoint(Env& env, ChildThread& child, CPtr endpoint) {
  return expect_ok(env.t, env.tcb(child.tcb).configure(endpoint, kRootCNodeRef, 0, CapRef{child.pml4}, 0,
                                                       kChildIpcBuffer, CapRef{child.ipc}),
                   "configure the fault endpoint");
}

// Waits for the next fault message on `endpoint` (the faulting thread must run first).
bool receive_fault(Env& env, ChildThread& child, CPtr endpoint, Received* fault) {
  for (int i = 0; i < 1000; ++i) {
    const Error e = tessera::sys::nb_recv(endpoint, fault);
    if (e == Error::Ok) return true;
    if (!env.t.check(e == Error::WouldBlock, "nbRecv on the fault endpoint: %s", error_name(e))) return false;
    (void)tessera::sys::yield();
  }
  (void)child;
  return env.t.check(false, "no fault message arrived");
}
}  // namespace

TESSERA_USER_TEST(FAULT0011, pass, "a page fault reaches the fault endpoint; the handler fixes the thread and replies") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, endpoint)) return;
  volatile SharedPage* page = child.page();
  page->counter = 0;
  page->input = tessera::kRootBootInfoAddress;  // not mapped in the child's space
  if (!child.start(kProbeRoot)) return;
  Received fault{};
  if (!receive_fault(env, child, endpoint, &fault)) return;
  const uint64_t* mr = tessera::sys::ipc_buffer()->msg;
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::PageFault), "label %lu", fault.info.label);
  t.check(fault.info.length_words == 4, "length %u", fault.info.length_words);
  t.check(mr[0] > code && mr[0] < code + 4096, "faulting IP 0x%lx", mr[0]);
  t.check(mr[1] == tessera::kRootBootInfoAddress, "fault address 0x%lx", mr[1]);
  t.check(mr[2] == 0x4, "error code 0x%lx (user read of a missing page)", mr[2]);
  t.check(page->counter == 1, "the thread ran past its fault");
  // Point the thread at the counting loop and reply: it runs again.
  page->counter = 0;
  expect_ok(t, child.write_registers(code, kCount, false), "rewrite the faulting thread");
  expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok, "reply to the fault");
  t.check(child.yield_until([&] { return page->counter >= 5; }), "the repaired thread did not run");
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend");
  env.drop(endpoint);
}

TESSERA_USER_TEST(FAULT0012, pass, "an unknown system call is a fault; the reply resumes the thread after it") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, endpoint)) return;
  child.page()->counter = 0;
  if (!child.start(kUnknownSyscall)) return;
  Received fault{};
  if (!receive_fault(env, child, endpoint, &fault)) return;
  const uint64_t* mr = tessera::sys::ipc_buffer()->msg;
  t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::UnknownSyscall), "label %lu", fault.info.label);
  t.check(mr[1] == 999, "system-call number %lu", mr[1]);
  t.check(child.page()->counter == 0, "the thread went on before the reply");
  expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok, "reply");
  t.check(child.yield_until([&] { return child.page()->counter == 7; }), "the thread did not continue after the call");
  env.drop(endpoint);
}

TESSERA_USER_TEST(FAULT0013, pass, "an invalid opcode reaches the handler with its vector; a second Reply is a no-op") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, endpoint)) return;
  child.page()->counter = 0;
  if (!child.start(kUndefined)) return;
  Received fault{};
  if (!receive_fault(env, child, endpoint, &fault)) return;
  // Copy the fault words: the next calls reuse the IPC buffer.
  uint64_t mr[4];
  for (int i = 0; i < 4; ++i) mr[i] = tessera::sys::ipc_buffer()->msg[i];
  t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::Exception), "label %lu", fault.info.label);
  t.check(mr[1] == 6, "vector %lu", mr[1]);
  // Skip the 2-byte ud2 and reply; the thread reaches counter = 2.
  auto regs = env.tcb(child.tcb).read_registers(false, 1);
  if (!expect_ok(t, regs, "read registers")) return;
  t.check(regs->rip() == mr[0], "readRegisters rip 0x%lx vs fault IP 0x%lx", regs->rip(), mr[0]);
  expect_ok(t, env.tcb(child.tcb).write_registers(false, 1, regs->rip() + 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                  0, 0, 0, 0, 0, 0, 0),
            "skip the instruction");
  expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok, "reply");
  expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok, "a second reply does nothing");
  t.check(child.yield_until([&] { return child.page()->counter == 2; }), "counter %lu", child.page()->counter);
  env.drop(endpoint);
}

TESSERA_USER_TEST(FAULT0014, pass, "a fault endpoint that is not an endpoint: the thread is stopped, nothing else") {
  Env env(t);
  const CPtr not_an_endpoint = env.make(ObjectType::Notification);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, not_an_endpoint)) return;
  child.page()->counter = 0;
  child.page()->input = tessera::kRootBootInfoAddress;
  if (!child.start(kProbeRoot)) return;
  for (int i = 0; i < 100; ++i) (void)tessera::sys::yield();
  t.check(child.page()->counter == 1, "counter %lu", child.page()->counter);
  uint64_t word = 99;
  expect_error(t, tessera::Result<void>(tessera::sys::poll(not_an_endpoint, &word)), Error::Ok, "poll the notification");
  t.check(word == 0, "the notification was signalled (0x%lx)", word);
  env.drop(not_an_endpoint);
}

TESSERA_USER_TEST(FAULT0015, pass, "a divide error reaches the handler with vector 0 and the div's address; the handler emulates it") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, endpoint)) return;
  volatile SharedPage* page = child.page();
  page->counter = 0;
  page->output = 0;
  if (!child.start(kDivide)) return;
  Received fault{};
  if (!receive_fault(env, child, endpoint, &fault)) return;
  uint64_t mr[4];
  for (int i = 0; i < 4; ++i) mr[i] = tessera::sys::ipc_buffer()->msg[i];
  t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::Exception), "label %lu", fault.info.label);
  t.check(mr[1] == 0 && mr[2] == 0, "vector %lu, error code %lu", mr[1], mr[2]);
  // The code page is the root task's own, at the same address: the reported IP is the div itself.
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  if (!t.check(mr[0] >= code && mr[0] + 3 <= code + 4096, "faulting IP 0x%lx", mr[0])) return;
  const auto* op = reinterpret_cast<const uint8_t*>(mr[0]);
  t.check(op[0] == 0x48 && op[1] == 0xF7 && op[2] == 0xF1, "bytes at the IP: %02x %02x %02x", op[0], op[1], op[2]);
  t.check(page->counter == 1, "counter %lu before the reply", page->counter);
  // Emulate the division: quotient 1234 in rax, continue after the 3-byte instruction.
  auto regs = env.tcb(child.tcb).read_registers(false, 4);
  if (!expect_ok(t, regs, "read registers")) return;
  t.check(regs->rax() == 7, "rax %lu at the fault, expected the dividend", regs->rax());
  expect_ok(t, env.tcb(child.tcb).write_registers(false, 4, mr[0] + 3, regs->rsp(), regs->rflags(), 1234, 0, 0, 0, 0,
                                                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            "write rip and rax");
  expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok, "reply");
  t.check(child.yield_until([&] { return page->counter == 2; }), "the thread did not continue (counter %lu)",
          page->counter);
  t.check(page->output == 1234, "the thread computed %lu, not the handler's 1234", page->output);
  env.drop(endpoint);
}

TESSERA_USER_TEST(FAULT0016, pass, "a write to a read-only page reports the write bit; remapped writable, the reply retries the write") {
  Env env(t);
  constexpr uint64_t kReadOnly = kChildIpcBuffer + 0x1000;
  const CPtr endpoint = env.make(ObjectType::Endpoint), frame = env.make(ObjectType::Frame4k);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, endpoint) ||
      !env.map(child.pml4, frame, kReadOnly, kRead)) {
    return;
  }
  volatile SharedPage* page = child.page();
  page->counter = 0;
  page->input = kReadOnly + 8;
  page->output = 0;
  if (!child.start(kWriteInput)) return;
  Received fault{};
  if (!receive_fault(env, child, endpoint, &fault)) return;
  uint64_t mr[4];
  for (int i = 0; i < 4; ++i) mr[i] = tessera::sys::ipc_buffer()->msg[i];
  t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::PageFault), "label %lu", fault.info.label);
  t.check(mr[1] == kReadOnly + 8, "fault address 0x%lx", mr[1]);
  t.check(mr[2] == 0x7, "error code 0x%lx (user write to a present page)", mr[2]);
  t.check(page->counter == 1, "counter %lu: the write went through", page->counter);
  // Fix the cause, not the thread: map the frame writable and reply with the registers untouched.
  expect_ok(t, env.frame(frame).unmap(), "unmap");
  if (!env.map(child.pml4, frame, kReadOnly, kRead | kWrite)) return;
  expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok, "reply");
  t.check(child.yield_until([&] { return page->counter == 2; }), "the thread did not continue (counter %lu)",
          page->counter);
  t.check(page->output == 0x5A5A'0001, "read back 0x%lx after the retried write", page->output);
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend");
  env.drop(frame);
  env.drop(endpoint);
}

TESSERA_USER_TEST(FAULT0017, pass, "a #GP goes straight to a handler waiting in Recv, with the fault endpoint's badge; suspend+restart skips the reply") {
  Env env(t);
  ipctest::OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  ipctest::OwnedCap badged{env, ipctest::mint(env, endpoint, kAllRights, 0xFA17)};
  ipctest::Job job;
  job.op = ipctest::Job::Op::Recv;
  job.cap = endpoint;
  ChildThread child(env);
  ipctest::Peer handler(env, 0);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, badged)) return;
  // The handler blocks in Recv before the thread faults.
  if (!handler.run(job)) return;
  if (!t.check(!job.is_done(), "the handler's Recv returned before any fault")) return;
  volatile SharedPage* page = child.page();
  page->counter = 0;
  if (!child.start(kHalt)) return;
  if (!t.check(ipctest::wait_done(job), "the handler received nothing")) return;
  t.check(job.error == Error::Ok, "recv: %s", error_name(job.error));
  t.check(job.received.info.label == static_cast<uint64_t>(tessera::FaultKind::Exception), "label %lu",
          job.received.info.label);
  t.check(job.received.badge == 0xFA17, "badge 0x%lx", job.received.badge);
  t.check(job.words[1] == 13 && job.words[2] == 0, "vector %lu, error code 0x%lx", job.words[1], job.words[2]);
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  const uint64_t ip = job.words[0];
  if (!t.check(ip >= code && ip < code + 4096, "faulting IP 0x%lx", ip)) return;
  t.check(*reinterpret_cast<const uint8_t*>(ip) == 0xF4, "the IP is not at the hlt (0x%02x)",
          *reinterpret_cast<const uint8_t*>(ip));
  // The thread waits for a reply; a supervisor may instead stop it and restart it elsewhere.
  for (int i = 0; i < 20; ++i) (void)tessera::sys::yield();
  t.check(page->counter == 1, "counter %lu while waiting for the reply", page->counter);
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend the waiting thread");
  auto regs = env.tcb(child.tcb).read_registers(false, 3);
  if (!expect_ok(t, regs, "read registers")) return;
  t.check(regs->rip() == ip, "rip 0x%lx after suspend, fault IP 0x%lx", regs->rip(), ip);
  expect_ok(t, env.tcb(child.tcb).write_registers(true, 3, ip + 1, regs->rsp(), regs->rflags(), 0, 0, 0, 0, 0, 0, 0,
                                                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            "skip the hlt and resume");
  t.check(child.yield_until([&] { return page->counter == 2; }), "the restarted thread did not continue (counter %lu)",
          page->counter);
}

TESSERA_USER_TEST(TCB0007, pass, "Tcb.getStats counts the faults a thread takes: 0 before, 1, 2, 3 after three handled page faults") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  ChildThread child(env);
  if (t.failed() || !child.build() || !set_fault_endpoint(env, child, endpoint)) return;
  // A reply reader is valid until the next call: read the one count at once.
  auto faults = [&]() -> uint64_t {
    auto stats = env.tcb(child.tcb).get_stats();
    return stats.ok() ? stats->faults() : ~uint64_t{0};
  };
  t.check(faults() == 0, "faults %lu before the thread ran", faults());
  volatile SharedPage* page = child.page();
  page->counter = 0;
  page->input = tessera::kRootBootInfoAddress;  // not mapped in the child's space
  if (!child.start(kProbeRoot)) return;
  const uint64_t code = reinterpret_cast<uint64_t>(&child_program);
  for (uint64_t n = 1; n <= 3; ++n) {
    Received fault{};
    if (!receive_fault(env, child, endpoint, &fault)) return;
    t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::PageFault), "label %lu", fault.info.label);
    const uint64_t counted = faults();
    if (!t.check(counted == n, "faults %lu after page fault %lu", counted, n)) return;
    // The first two replies leave the thread as it is (it faults again); the third points it at
    // the counting loop.
    if (n == 3) expect_ok(t, child.write_registers(code, kCount, false), "rewrite the faulting thread");
    expect_error(t, tessera::Result<void>(tessera::sys::reply(tessera::sys::MessageInfo{0, 0, 0, 0})), Error::Ok,
                 "reply to the fault");
  }
  t.check(child.yield_until([&] { return page->counter >= 5; }), "the repaired thread did not run");
  t.check(faults() == 3, "faults %lu after running without faults", faults());
  expect_ok(t, env.tcb(child.tcb).suspend(), "suspend");
  env.drop(endpoint);
}
