// Tests of the user/kernel boundary: system-call argument checking and the isolation of kernel
// memory. `fault` tests end their process with a fault the runner checks (conformance_runner.cc).
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/cmdline.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/testing.h>

#include <tessera/abi/kernel.capnp.h>

#include "ipc_test_env.h"

namespace {
using tessera::Error;
using tessera::Syscall;
using tessera::sys::syscall2;

constexpr uint64_t kKernelText = 0xFFFFFFFF80205000ull;
constexpr uint64_t kDirectMap = 0xFFFF800000100000ull;
constexpr uint64_t kUnmapped = 0x0000000010000000ull;
}  // namespace

TESSERA_USER_TEST(SYSCALL0001, pass, "the null system call returns Ok, repeatedly") {
  for (int i = 0; i < 1000; ++i) {
    if (!t.check(tessera::sys::null_syscall() == Error::Ok, "call %d failed", i)) return;
  }
}

namespace {
struct UnknownSyscallReport {
  uint64_t result, rbx, r12, r13, r14;
  bool done;
};

// Makes system call 9999 with known values in callee-saved registers.
void unknown_syscall(uint64_t argument) {
  auto* report = reinterpret_cast<UnknownSyscallReport*>(argument);
  uint64_t result, rbx_after, r12_after, r13_after, r14_after;
  asm volatile(
      "movq $0x1111, %%rbx\n\t"
      "movq $0x2222, %%r12\n\t"
      "movq $0x3333, %%r13\n\t"
      "movq $0x4444, %%r14\n\t"
      "syscall\n\t"
      "movq %%rbx, %1\n\t"
      "movq %%r12, %2\n\t"
      "movq %%r13, %3\n\t"
      "movq %%r14, %4\n\t"
      : "=a"(result), "=m"(rbx_after), "=m"(r12_after), "=m"(r13_after), "=m"(r14_after)
      : "d"(uint64_t{9999}), "D"(uint64_t{0}), "S"(uint64_t{0})
      : "rbx", "rcx", "r11", "r12", "r13", "r14", "r8", "r9", "r10", "r15", "memory");
  *report = UnknownSyscallReport{result, rbx_after, r12_after, r13_after, r14_after, true};
}
}  // namespace

TESSERA_USER_TEST(SYSCALL0002, pass, "an unknown system call without a fault handler returns NotSupported, registers kept") {
  // The test's own thread has a fault endpoint (the runner), which would take the call as a
  // fault (FAULT0012); a libsys thread has none.
  ipctest::Env env(t);
  ipctest::Peer peer(env, 0);
  UnknownSyscallReport r{};
  if (t.failed() || !peer.start(unknown_syscall, reinterpret_cast<uint64_t>(&r))) return;
  ipctest::let_run();
  if (!t.check(r.done, "the thread did not finish")) return;
  t.check(static_cast<Error>(r.result) == Error::NotSupported, "got error %lu", r.result);
  t.check(r.rbx == 0x1111 && r.r12 == 0x2222 && r.r13 == 0x3333 && r.r14 == 0x4444,
          "callee registers changed: rbx=%lx r12=%lx r13=%lx r14=%lx", r.rbx, r.r12, r.r13, r.r14);
}

TESSERA_USER_TEST(SYSCALL0003, pass, "DebugWrite from a kernel address is refused with RangeError") {
  t.check(syscall2(Syscall::DebugWrite, kKernelText, 16) == Error::RangeError, "kernel text");
  t.check(syscall2(Syscall::DebugWrite, kDirectMap, 16) == Error::RangeError, "direct map");
}

TESSERA_USER_TEST(SYSCALL0004, pass, "DebugWrite from unmapped or wrapping user memory is refused") {
  t.check(syscall2(Syscall::DebugWrite, kUnmapped, 16) == Error::InvalidArgument, "unmapped page");
  t.check(syscall2(Syscall::DebugWrite, ~uint64_t{0} - 4, 16) == Error::RangeError, "wrapping range");
  t.check(syscall2(Syscall::DebugWrite, 0x00007FFFFFFFFF00ull, 0x200) == Error::RangeError, "past the user limit");
}

TESSERA_USER_TEST(SYSCALL0005, pass, "DebugWrite length limits: 0 is Ok, over 4096 is RangeError") {
  static const char text[] = "x";
  t.check(syscall2(Syscall::DebugWrite, reinterpret_cast<uint64_t>(text), 0) == Error::Ok, "empty write");
  t.check(syscall2(Syscall::DebugWrite, reinterpret_cast<uint64_t>(text), 4097) == Error::RangeError, "4097 bytes");
}

// Powering the machine off is no ambient authority: it needs the DebugControl cap, which only the
// root task gets (a test process has none: slot 9 of its layout is empty). Were the call to
// succeed, the run would end here and the test would never report.
TESSERA_USER_TEST(SYSCALL0006, pass, "an unprivileged program cannot power the machine off: DebugExitMachine is refused, the caller continues") {
  const Error empty = syscall2(Syscall::DebugExitMachine, tessera::kSlotDebugControl, 0);
  t.check(empty == Error::EmptySlot, "through its empty slot 9: %s", error_name(empty));
  const Error other = syscall2(Syscall::DebugExitMachine, tessera::kSlotSchedControl, 0);
  t.check(other == Error::WrongObjectType, "through another control cap: %s", error_name(other));
  const Error garbage = syscall2(Syscall::DebugExitMachine, 0xFFFF'FFFF'0000ull, 0);
  t.check(garbage != Error::Ok, "through a garbage cptr: %s", error_name(garbage));
}

TESSERA_USER_TEST(SYSCALL0007, pass, "Yield with no other runnable thread returns to the caller") {
  for (int i = 0; i < 100; ++i) {
    if (!t.check(tessera::sys::yield() == Error::Ok, "yield %d", i)) return;
  }
}

namespace {
// uint64_t syscall_keeping(uint64_t number, uint64_t cptr, uint64_t info, uint64_t* result):
// makes system call `number` on `cptr` with `info` and no message words, with known values in
// every register a system call keeps, and returns a mask of what did not come back as it must:
// bit 0 rbx, 1 rbp, 2 r12, 3 r13, 4 r14, 5 rdx (the number), 6 rsp, 7 rcx (the return address),
// 8 r11 (the flags, interrupts on). The call's rax goes to *result.
asm(R"(
    .pushsection .text
    .set KEEP_RBX, 0x5EB1B1B1B1B1B1B1
    .set KEEP_RBP, 0x5EB0B0B0B0B0B0B0
    .set KEEP_R12, 0x5E12121212121212
    .set KEEP_R13, 0x5E13131313131313
    .set KEEP_R14, 0x5E14141414141414
    # Sets `bit` in %r8 unless `reg` equals `expected` (a register other than %r8).
    .macro keep_check reg, expected, bit
    cmpq \expected, \reg
    je 9f
    orq $\bit, %r8
9:
    .endm
    .globl syscall_keeping
    .type syscall_keeping, @function
syscall_keeping:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rcx
    movq %rsp, %xmm1
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rax, %rdx
    movq %rax, %xmm2
    movabsq $KEEP_RBX, %rbx
    movabsq $KEEP_RBP, %rbp
    movabsq $KEEP_R12, %r12
    movabsq $KEEP_R13, %r13
    movabsq $KEEP_R14, %r14
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r15d, %r15d
    syscall
    .globl syscall_keeping_return
syscall_keeping_return:
    xorl %r8d, %r8d
    movabsq $KEEP_RBX, %r9
    keep_check %rbx, %r9, 1
    movabsq $KEEP_RBP, %r9
    keep_check %rbp, %r9, 2
    movabsq $KEEP_R12, %r9
    keep_check %r12, %r9, 4
    movabsq $KEEP_R13, %r9
    keep_check %r13, %r9, 8
    movabsq $KEEP_R14, %r9
    keep_check %r14, %r9, 16
    movq %xmm2, %r9
    keep_check %rdx, %r9, 32
    movq %xmm1, %r9
    keep_check %rsp, %r9, 64
    leaq syscall_keeping_return(%rip), %r9
    keep_check %rcx, %r9, 128
    btq $9, %r11
    jc 9f
    orq $256, %r8
9:  movq %xmm1, %rsp
    popq %rcx
    movq %rax, (%rcx)
    movq %r8, %rax
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size syscall_keeping, . - syscall_keeping
    .purgem keep_check
    .popsection
)");
}  // namespace
extern "C" uint64_t syscall_keeping(uint64_t number, uint64_t cptr, uint64_t info, uint64_t* result);
extern "C" char syscall_keeping_return[];  // the instruction after its `syscall`

namespace {
struct KeepingJob {
  tessera::sys::CPtr endpoint;
  uint64_t mask;     // every mask syscall_keeping returned, ORed
  uint64_t rounds;   // requests received
  uint64_t errors;   // receives that did not return Ok
};

// Receives, then answers every request with ReplyRecv, each through syscall_keeping.
void keeping_server(uint64_t argument) {
  auto* job = reinterpret_cast<KeepingJob*>(argument);
  uint64_t result = 0;
  uint64_t number = static_cast<uint64_t>(Syscall::Recv);
  for (;;) {
    const uint64_t mask = syscall_keeping(number, job->endpoint, 0, &result);
    __atomic_fetch_or(&job->mask, mask, __ATOMIC_RELEASE);
    __atomic_fetch_add(result == 0 ? &job->rounds : &job->errors, 1, __ATOMIC_RELEASE);
    number = static_cast<uint64_t>(Syscall::ReplyRecv);
  }
}
}  // namespace

// Issue 18: the system-call entry saves only what a system call keeps or reads and the exit loads
// every register from the frame (syscall_entry.S); a register it forgets comes back as another
// thread's or the kernel's. Both sides of Call/ReplyRecv (fastpath, or the general path under
// fastpath=off in the ipc-slowpath suite) and a general-path call are checked.
TESSERA_USER_TEST(SYSCALL0009, pass, "Call, ReplyRecv and Recv keep rbx, rbp, r12-r14, rdx and rsp on both sides; rcx and r11 are the return address and flags, also as readRegisters shows a stopped thread") {
  ipctest::Env env(t);
  ipctest::OwnedCap endpoint{env, env.make(tessera::abi::ObjectType::Endpoint)};
  ipctest::Peer server(env, 0);
  static KeepingJob job;
  job = KeepingJob{endpoint, 0, 0, 0};
  if (t.failed() || !server.start(keeping_server, reinterpret_cast<uint64_t>(&job))) return;
  ipctest::let_run();
  // The server is stopped in its first system call through syscall_keeping (its RCX has never held
  // that return address before): its RCX and R11 read as SYSCALL left them.
  auto regs = env.tcb(server.tcb()).read_registers(false, 14);
  if (captest::expect_ok(t, regs, "read the server's registers")) {
    const uint64_t after = reinterpret_cast<uint64_t>(syscall_keeping_return);
    t.check(regs->rip() == after && regs->rcx() == after, "rip 0x%lx, rcx 0x%lx, expected 0x%lx", regs->rip(),
            regs->rcx(), after);
    t.check(regs->r11() == regs->rflags() && (regs->r11() & 0x200) != 0, "r11 0x%lx, rflags 0x%lx", regs->r11(),
            regs->rflags());
  }
  uint64_t mask = 0;
  for (int i = 0; i < 200; ++i) {
    uint64_t result = ~uint64_t{0};
    mask |= syscall_keeping(static_cast<uint64_t>(Syscall::Call), endpoint, 0, &result);
    if (!t.check(result == 0, "call %d: error %lu", i, result)) break;
  }
  // A system call the general path answers (an unknown number: NotSupported, the test thread's
  // fault handler aside) leaves by the same exit.
  uint64_t result = 0;
  const uint64_t general = syscall_keeping(static_cast<uint64_t>(Syscall::Yield), 0, 0, &result);
  t.check(general == 0 && result == 0, "Yield: mask 0x%lx, error %lu", general, result);
  t.check(mask == 0, "the caller's registers came back changed: mask 0x%lx", mask);
  t.check(__atomic_load_n(&job.mask, __ATOMIC_ACQUIRE) == 0, "the server's registers came back changed: mask 0x%lx",
          __atomic_load_n(&job.mask, __ATOMIC_ACQUIRE));
  t.check(__atomic_load_n(&job.rounds, __ATOMIC_ACQUIRE) == 200 && __atomic_load_n(&job.errors, __ATOMIC_ACQUIRE) == 0,
          "the server received %lu requests, %lu errors", __atomic_load_n(&job.rounds, __ATOMIC_ACQUIRE),
          __atomic_load_n(&job.errors, __ATOMIC_ACQUIRE));
}

TESSERA_USER_TEST(SYSCALL0008, pass, "SSE registers survive system calls") {
  double values[2] = {1.5, -2.25};
  double out[2] = {0, 0};
  asm volatile("movupd %1, %%xmm7" : : "m"(values[0]), "m"(values[0]) : "xmm7");
  for (int i = 0; i < 10; ++i) tessera::sys::null_syscall();
  tessera::sys::yield();
  asm volatile("movupd %%xmm7, %0" : "=m"(out) : : "memory");
  t.check(out[0] == 1.5 && out[1] == -2.25, "xmm7 changed");
}

TESSERA_USER_TEST(ISOLATION0001, fault, "reading kernel text from user mode is a page fault") {
  t.expect_fault("page fault at 0xffffffff80205000 error 0x5 ");
  (void)*reinterpret_cast<volatile uint64_t*>(kKernelText);
}

TESSERA_USER_TEST(ISOLATION0002, fault, "writing the kernel's direct map from user mode is a page fault") {
  t.expect_fault("page fault at 0xffff800000100000 error 0x7 ");
  *reinterpret_cast<volatile uint64_t*>(kDirectMap) = 1;
}

TESSERA_USER_TEST(ISOLATION0003, fault, "touching an unmapped user page is a page fault") {
  t.expect_fault("page fault at 0x10000000 error 0x4 ");
  (void)*reinterpret_cast<volatile uint64_t*>(kUnmapped);
}

TESSERA_USER_TEST(ISOLATION0004, fault, "executing from the stack (NX) is an instruction-fetch page fault") {
  t.expect_fault("error 0x15 ");
  volatile uint8_t code[16] = {0xC3};
  reinterpret_cast<void (*)()>(const_cast<uint8_t*>(code))();
}

TESSERA_USER_TEST(ISOLATION0005, fault, "a privileged instruction in user mode is a general-protection fault") {
  t.expect_fault("exception vector 13 ");
  asm volatile("cli");
}

TESSERA_USER_TEST(ISOLATION0006, fault, "writing to the program's own text (W^X) is a protection page fault") {
  t.expect_fault("error 0x7 ");
  *reinterpret_cast<volatile uint8_t*>(reinterpret_cast<uintptr_t>(&tessera::sys::print)) = 0xC3;
}

namespace {
bool negative_self_test() {
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(tessera::kRootBootInfoAddress);
  const tessera::CommandLine cmdline{tessera::StringView(info->cmdline)};
  tessera::StringView value;
  return cmdline.get("selftest", &value) && value == "negative";
}
}  // namespace

TESSERA_USER_TEST(META0001, pass, "the suite's negative self-test: fails on purpose when booted with selftest=negative") {
  // tests/qemu/test_negative.py boots with selftest=negative and checks that this failure is
  // reported with its name and log while the run goes on with the next test.
  t.check(!negative_self_test(), "deliberate failure (selftest=negative): the harness must report it and go on");
}

TESSERA_USER_TEST(META0002, pass, "the runner's negative self-test: faults on purpose when booted with selftest=negative") {
  // A test whose process crashes: the runner must report the fault under the test's name and
  // start the next test in a fresh process (tests/qemu/test_negative.py).
  if (negative_self_test()) (void)*reinterpret_cast<volatile uint64_t*>(uint64_t{8});
  t.check(true, "unreachable under selftest=negative");
}
