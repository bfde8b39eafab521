// libsys thread tests (suite `user`): tessera::sys::Thread gives each thread its own stack, IPC
// buffer and thread-local block, checks its options, and restarts cleanly.
#include <stdint.h>

#include <tessera/sys/testing.h>
#include <tessera/sys/thread.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;

// What a thread sees of itself.
struct SelfReport {
  uint64_t argument;
  uint64_t ipc_buffer;   // ipc_buffer(), read from %fs:0
  uint64_t block_self;   // the thread-local block's self pointer, read through %fs
  uint64_t stack_local;  // the address of a local variable
  bool done;
};

void report_self(uint64_t argument) {
  auto* report = reinterpret_cast<SelfReport*>(argument);
  volatile uint64_t local = 0;
  uint64_t self;
  asm volatile("movq %%fs:8, %0" : "=r"(self));
  report->argument = argument;
  report->ipc_buffer = reinterpret_cast<uint64_t>(sys::ipc_buffer());
  report->block_self = self;
  report->stack_local = reinterpret_cast<uint64_t>(&local);
  __atomic_store_n(&report->done, true, __ATOMIC_RELEASE);
}
}  // namespace

TESSERA_USER_TEST(THREAD0001, pass, "a libsys thread runs entry(argument) on its own stack with its own IPC buffer at %fs:0") {
  Env env(t);
  SelfReport reports[2] = {};
  Peer first(env, 0), second(env, 1);
  if (t.failed() || !first.start(report_self, reinterpret_cast<uint64_t>(&reports[0])) ||
      !second.start(report_self, reinterpret_cast<uint64_t>(&reports[1]))) {
    return;
  }
  let_run();
  Peer* peers[] = {&first, &second};
  for (uint32_t i = 0; i < 2; ++i) {
    const SelfReport& r = reports[i];
    Thread& thread = peers[i]->thread();
    if (!t.check(__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "thread %u did not run", i)) continue;
    t.check(r.argument == reinterpret_cast<uint64_t>(&r), "thread %u got argument 0x%lx", i, r.argument);
    t.check(r.ipc_buffer == thread.ipc_buffer_address(), "thread %u: ipc_buffer() 0x%lx, registered 0x%lx", i,
            r.ipc_buffer, thread.ipc_buffer_address());
    t.check(r.block_self == thread.ipc_buffer_address() + sys::kThreadLocalOffset, "thread %u: block at 0x%lx", i,
            r.block_self);
    t.check(r.stack_local < thread.stack_top() && r.stack_local >= thread.stack_top() - 4 * sys::kPageBytes,
            "thread %u: a local at 0x%lx, stack top 0x%lx", i, r.stack_local, thread.stack_top());
    auto regs = env.tcb(thread.tcb()).read_registers(false, 19);
    if (expect_ok(t, regs, "read the thread's registers")) {
      t.check(regs->fs_base() == r.block_self, "fs_base 0x%lx", regs->fs_base());
    }
  }
  t.check(reinterpret_cast<uint64_t>(sys::ipc_buffer()) == env.info.ipc_buffer, "the root's ipc_buffer() is 0x%lx",
          reinterpret_cast<uint64_t>(sys::ipc_buffer()));
}

TESSERA_USER_TEST(THREAD0002, pass, "Thread::create refuses bad windows and stack sizes and leaks nothing; destroy is idempotent") {
  Env env(t);
  sys::ThreadOptions options;
  const uint64_t bad_windows[] = {0, 0x30000800, 0x00007FFFFFFFE000ull, ~uint64_t{0} & ~uint64_t{0xFFF}};
  for (uint64_t window : bad_windows) {
    options.window = window;
    auto thread = Thread::create(env.memory, &env.tables, options);
    expect_error(t, thread, Error::InvalidArgument, "a bad window");
  }
  options.window = 0x30000000;
  const uint32_t bad_stacks[] = {0, sys::kMaxStackPages + 1};
  for (uint32_t pages : bad_stacks) {
    options.stack_pages = pages;
    auto thread = Thread::create(env.memory, &env.tables, options);
    expect_error(t, thread, Error::InvalidArgument, "a bad stack size");
  }
  // A failure half-way (the window is already in use) deletes what was made.
  options.stack_pages = 2;
  auto first = Thread::create(env.memory, &env.tables, options);
  if (!expect_ok(t, first, "create")) return;
  const uint64_t free_before = env.slots.available();
  auto clash = Thread::create(env.memory, &env.tables, options);
  t.check(!clash.ok(), "a second thread in the same window was created");
  t.check(env.slots.available() == free_before, "the failed create kept %lu slots", free_before - env.slots.available());
  expect_ok(t, first->destroy(), "destroy");
  expect_ok(t, first->destroy(), "destroy again");
  expect_error(t, first->start(report_self, 0), Error::IllegalOperation, "start after destroy");
}

TESSERA_USER_TEST(THREAD0003, pass, "restarting a thread blocked in Recv takes it out of the queue first") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job old_recv, new_recv;
  old_recv.op = new_recv.op = Job::Op::Recv;
  old_recv.cap = new_recv.cap = ep;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(old_recv) || !peer.run(new_recv)) return;
  expect_is(t, sys::send(ep, MessageInfo{42, 0, 0, 0}), Error::Ok, "send");
  t.check(wait_done(new_recv) && new_recv.received.info.label == 42, "the restarted thread got label %lu",
          new_recv.received.info.label);
  t.check(!old_recv.is_done(), "the abandoned Recv completed");
  Received r{};
  expect_is(t, sys::nb_recv(ep, &r), Error::WouldBlock, "nothing else queued");
}
