// IPC queue tests of the root task (suite `user`): FIFO order of senders and receivers, deleting
// an endpoint under blocked threads, suspending threads in the middle of IPC, and which thread
// runs first when IPC wakes a thread of another priority.
#include <stdint.h>

#include <tessera/sys/testing.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;

// Lowers the root thread's priority for one test and restores it (255) however the test ends.
class RootPriority {
 public:
  RootPriority(Env& env, uint8_t priority) : env_(env) {
    expect_ok(env.t, env.tcb(tessera::kSlotRootTcb).set_priority(kRootTcbRef, priority), "lower the root's priority");
  }
  ~RootPriority() {
    expect_ok(env_.t, env_.tcb(tessera::kSlotRootTcb).set_priority(kRootTcbRef, 255), "restore the root's priority");
  }

 private:
  Env& env_;
};
}  // namespace

TESSERA_USER_TEST(IPC0015, pass, "three blocked senders are received in the order they blocked") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job sends[3];
  for (uint32_t i = 0; i < 3; ++i) {
    sends[i].op = i == 1 ? Job::Op::Call : Job::Op::Send;  // a caller queues like a sender
    sends[i].cap = ep;
    sends[i].info = MessageInfo{10 + i, 2, 0, 0};
    sends[i].seed = 150 + i;
  }
  // Started in reverse window order, so the queue order is not the order the threads were made.
  Peer p2(env, 2), p1(env, 1), p0(env, 0);
  Peer* order[] = {&p2, &p0, &p1};
  const uint32_t job_of[] = {0, 1, 2};
  for (uint32_t i = 0; i < 3; ++i) {
    if (!order[i]->run(sends[job_of[i]])) return;
  }
  for (uint32_t i = 0; i < 3; ++i) {
    Received r{};
    if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv")) return;
    t.check(r.info.label == 10 + i, "message %u came from sender %lu", i, r.info.label - 10);
    check_pattern(t, buffer().msg, 150 + i, 2, "words");
    if (i == 1) expect_is(t, sys::reply(MessageInfo{}), Error::Ok, "reply to the caller");
  }
  for (const Job& job : sends) t.check(wait_done(job) && job.error == Error::Ok, "a sender did not finish");
}

TESSERA_USER_TEST(IPC0016, pass, "three blocked receivers get messages in the order they blocked") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job recvs[3];
  for (Job& job : recvs) {
    job.op = Job::Op::Recv;
    job.cap = ep;
  }
  Peer p0(env, 0), p1(env, 1), p2(env, 2);
  Peer* order[] = {&p1, &p2, &p0};
  for (uint32_t i = 0; i < 3; ++i) {
    if (!order[i]->run(recvs[i])) return;
  }
  for (uint32_t i = 0; i < 3; ++i) {
    put_pattern(160 + i, 3);
    expect_is(t, sys::send(ep, MessageInfo{20 + i, 3, 0, 0}), Error::Ok, "send");
  }
  for (uint32_t i = 0; i < 3; ++i) {
    if (!t.check(wait_done(recvs[i]), "receiver %u did not wake", i)) continue;
    t.check(recvs[i].received.info.label == 20 + i, "receiver %u got message %lu", i, recvs[i].received.info.label - 20);
    check_pattern(t, recvs[i].words, 160 + i, 3, "receiver's words");
  }
  // (Which woken receiver finishes first is up to the scheduler: equal priorities share the CPU
  // round robin on the timer tick. The FIFO property is which message each one got, above.)
}

TESSERA_USER_TEST(IPC0017, pass, "deleting an endpoint wakes its blocked senders, callers and receivers with ObjectDeleted") {
  Env env(t);
  OwnedCap receivers_ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap senders_ep{env, env.make(ObjectType::Endpoint)};
  Job jobs[4];
  const Job::Op ops[] = {Job::Op::Recv, Job::Op::Recv, Job::Op::Send, Job::Op::Call};
  for (uint32_t i = 0; i < 4; ++i) {
    jobs[i].op = ops[i];
    jobs[i].cap = i < 2 ? CPtr{receivers_ep} : CPtr{senders_ep};
  }
  Peer p0(env, 0), p1(env, 1), p2(env, 2), p3(env, 3);
  Peer* peers[] = {&p0, &p1, &p2, &p3};
  for (uint32_t i = 0; i < 4; ++i) {
    if (!peers[i]->run(jobs[i])) return;
  }
  for (const Job& job : jobs) {
    if (!t.check(!job.is_done(), "a job finished before the delete (%s)", error_name(job.error))) return;
  }
  receivers_ep.drop();
  senders_ep.drop();
  for (uint32_t i = 0; i < 4; ++i) {
    if (!t.check(wait_done(jobs[i]), "thread %u is still blocked after the delete", i)) continue;
    expect_is(t, jobs[i].error, Error::ObjectDeleted, "the woken thread's system call");
  }
}

TESSERA_USER_TEST(IPC0018, pass, "a thread suspended in Call or Send leaves the queue; the next sender is received") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job call, send, last;
  call.op = Job::Op::Call;
  send.op = last.op = Job::Op::Send;
  call.cap = send.cap = last.cap = ep;
  call.info = MessageInfo{1, 0, 0, 0};
  send.info = MessageInfo{2, 0, 0, 0};
  last.info = MessageInfo{3, 0, 0, 0};
  Peer caller(env, 0), sender(env, 1), tail(env, 2);
  if (t.failed() || !caller.run(call) || !sender.run(send) || !tail.run(last)) return;
  // Take out the head and the middle of the queue: 1 2 3 becomes 3.
  expect_ok(t, env.tcb(caller.tcb()).suspend(), "suspend the caller");
  expect_ok(t, env.tcb(sender.tcb()).suspend(), "suspend the sender");
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv")) return;
  t.check(r.info.label == 3, "received message %lu from a suspended thread", r.info.label);
  expect_is(t, sys::nb_recv(ep, &r), Error::WouldBlock, "the queue is empty after the suspensions");
  let_run();
  t.check(!call.is_done() && !send.is_done(), "a suspended thread returned from its system call");
}

TESSERA_USER_TEST(IPC0019, pass, "suspending a caller waiting for its reply makes the Reply a no-op; the server goes on") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job call, next;
  call.op = next.op = Job::Op::Call;
  call.cap = next.cap = ep;
  call.info = MessageInfo{1, 0, 0, 0};
  next.info = MessageInfo{2, 0, 0, 0};
  Peer caller(env, 0), other(env, 1);
  if (t.failed() || !caller.run(call)) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv the call")) return;
  expect_ok(t, env.tcb(caller.tcb()).suspend(), "suspend the caller");
  expect_is(t, sys::reply(MessageInfo{5, 0, 0, 0}), Error::Ok, "reply to a suspended caller");
  let_run();
  t.check(!call.is_done(), "the suspended caller got a reply");
  // The server is not stuck with a stale reply right: the next caller is served normally.
  if (!other.run(next)) return;
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv the next call")) return;
  t.check(r.info.label == 2, "received message %lu", r.info.label);
  expect_is(t, sys::reply(MessageInfo{6, 0, 0, 0}), Error::Ok, "reply to the next caller");
  t.check(wait_done(next) && next.received.info.label == 6, "the next caller got label %lu", next.received.info.label);
}

TESSERA_USER_TEST(IPC0020, pass, "IPC that wakes a more urgent thread switches to it; a less urgent one waits its turn") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap low_ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap low_ep2{env, env.make(ObjectType::Endpoint)};
  Job high_recv, low_send, low_send2;
  high_recv.op = Job::Op::Recv;
  high_recv.cap = ep;
  low_send.op = low_send2.op = Job::Op::Send;
  low_send.cap = low_ep;
  low_send2.cap = low_ep2;
  low_send.next = &low_send2;
  if (t.failed()) return;
  RootPriority lowered(env, 200);
  Peer high(env, 0, 250), low(env, 1, 100);
  if (t.failed() || !high.run(high_recv)) return;  // it runs at once (above the root) and waits
  t.check(!high_recv.is_done(), "the high-priority receiver did not block");
  // Waking the high-priority receiver runs it before Send returns here.
  expect_is(t, sys::send(ep, MessageInfo{1, 0, 0, 0}), Error::Ok, "send to the high-priority receiver");
  t.check(high_recv.is_done(), "the woken high-priority thread had not run when Send returned");
  // The low-priority sender runs only while the root waits; its Send wakes the root, which runs first.
  if (!low.start(run_jobs, reinterpret_cast<uint64_t>(&low_send))) return;
  Received r{};
  expect_is(t, sys::recv(low_ep, &r), Error::Ok, "recv from the low-priority sender");
  t.check(!low_send.is_done(), "the low-priority sender returned before the woken root ran");
  expect_is(t, sys::recv(low_ep2, &r), Error::Ok, "recv the low-priority sender's second message");
  t.check(low_send.is_done() && !low_send2.is_done(), "the low-priority sender's progress: first %d second %d",
          low_send.is_done(), low_send2.is_done());
}
