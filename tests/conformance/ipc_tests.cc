// IPC tests of the root task (suite `user`): every endpoint system call between the root task
// and peer threads of its address space; message labels, lengths and contents; badges; one-shot
// replies. Queues, deletion, suspension and priorities are in ipc_queue_tests.cc, capability
// transfer and rights in ipc_cap_tests.cc, other address spaces in ipc_space_tests.cc.
#include <stdint.h>

#include <tessera/sys/testing.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;
}  // namespace

TESSERA_USER_TEST(IPC0001, pass, "Send + Recv: a blocked sender's label, length and words reach the receiver") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job send;
  send.op = Job::Op::Send;
  send.cap = ep;
  send.info = MessageInfo{0x1234, 4, 0, 0};
  send.seed = 1;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(send)) return;
  t.check(!send.is_done(), "Send returned before anyone received");
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv")) return;
  check_message(t, r, 0x1234, 4, 0, "received");
  check_pattern(t, buffer().msg, 1, 4, "received words");
  t.check(wait_done(send) && send.error == Error::Ok, "the sender did not return Ok (%s)", error_name(send.error));
}

TESSERA_USER_TEST(IPC0002, pass, "Recv + Send: a blocked receiver gets words in registers and in its IPC buffer") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job recv;
  recv.op = Job::Op::Recv;
  recv.cap = ep;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(recv)) return;
  t.check(!recv.is_done(), "Recv returned with nobody sending");
  put_pattern(2, 9);
  expect_is(t, sys::send(ep, MessageInfo{77, 9, 0, 0}), Error::Ok, "send to a waiting receiver");
  if (!t.check(wait_done(recv), "the receiver did not wake")) return;
  expect_is(t, recv.error, Error::Ok, "the receiver's Recv");
  check_message(t, recv.received, 77, 9, 0, "peer received");
  check_pattern(t, recv.words, 2, 9, "peer's words");
}

TESSERA_USER_TEST(IPC0003, pass, "Call + ReplyRecv: a server loop answers each call with its own reply") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Peer server(env, 0);
  if (t.failed() || !server.start(echo_server, make_argument(ep, 0))) return;
  let_run();
  for (uint32_t round = 0; round < 5; ++round) call_echo(t, ep, 100 + round, round * 2, 30 + round);
}

TESSERA_USER_TEST(IPC0004, pass, "Call + Reply + Recv: Reply answers the caller, Recv takes the next call") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Peer server(env, 0);
  if (t.failed() || !server.start(echo_server, make_argument(ep, 1))) return;
  let_run();
  for (uint32_t round = 0; round < 3; ++round) call_echo(t, ep, 7, 3 + round, 40 + round);
}

TESSERA_USER_TEST(IPC0005, pass, "the root task serves a call: Recv sees the call, Reply carries label and words back") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job call;
  call.op = Job::Op::Call;
  call.cap = ep;
  call.info = MessageInfo{0x51, 2, 0, 0};
  call.seed = 5;
  Peer client(env, 0);
  if (t.failed() || !client.run(call)) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv the call")) return;
  check_message(t, r, 0x51, 2, 0, "call");
  check_pattern(t, buffer().msg, 5, 2, "call words");
  t.check(!call.is_done(), "the caller returned before the reply");
  put_pattern(6, 6);
  expect_is(t, sys::reply(MessageInfo{0x99, 6, 0, 0}), Error::Ok, "reply");
  if (!t.check(wait_done(call), "the caller did not wake")) return;
  expect_is(t, call.error, Error::Ok, "the Call");
  check_message(t, call.received, 0x99, 6, 0, "reply");
  check_pattern(t, call.words, 6, 6, "reply words");
}

TESSERA_USER_TEST(IPC0006, pass, "NBSend reaches a waiting receiver; with nobody waiting it is Ok and the message is dropped") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job first, second;
  first.op = second.op = Job::Op::Recv;
  first.cap = second.cap = ep;
  Peer early(env, 0), late(env, 1);
  if (t.failed() || !early.run(first)) return;
  put_pattern(7, 5);
  expect_is(t, sys::nb_send(ep, MessageInfo{3, 5, 0, 0}), Error::Ok, "NBSend to a waiting receiver");
  if (t.check(wait_done(first), "the waiting receiver did not get the NBSend")) {
    check_message(t, first.received, 3, 5, 0, "NBSend message");
    check_pattern(t, first.words, 7, 5, "NBSend words");
  }
  expect_is(t, sys::nb_send(ep, MessageInfo{4, 0, 0, 0}), Error::Ok, "NBSend with nobody waiting");
  Received r{};
  expect_is(t, sys::nb_recv(ep, &r), Error::WouldBlock, "NBRecv after a dropped NBSend");
  if (!late.run(second)) return;
  t.check(!second.is_done(), "a later receiver got the dropped message (label %lu)", second.received.info.label);
}

TESSERA_USER_TEST(IPC0007, pass, "NBRecv: WouldBlock on an empty endpoint, the message of a blocked sender otherwise") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Received r{};
  expect_is(t, sys::nb_recv(ep, &r), Error::WouldBlock, "NBRecv on an empty endpoint");
  Job send;
  send.op = Job::Op::Send;
  send.cap = ep;
  send.info = MessageInfo{8, 8, 0, 0};
  send.seed = 8;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(send)) return;
  if (!expect_is(t, sys::nb_recv(ep, &r), Error::Ok, "NBRecv with a blocked sender")) return;
  check_message(t, r, 8, 8, 0, "NBRecv");
  check_pattern(t, buffer().msg, 8, 8, "NBRecv words");
  t.check(wait_done(send) && send.error == Error::Ok, "the sender was not released");
  expect_is(t, sys::nb_recv(ep, &r), Error::WouldBlock, "NBRecv once the queue is empty again");
}

TESSERA_USER_TEST(IPC0008, pass, "a ReplyRecv loop in the root task serves five calls in order") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  constexpr uint32_t kCalls = 5;
  Job calls[kCalls];
  for (uint32_t i = 0; i < kCalls; ++i) {
    calls[i].op = Job::Op::Call;
    calls[i].cap = ep;
    calls[i].info = MessageInfo{i, i + 1, 0, 0};
    calls[i].seed = 80 + i;
    calls[i].next = i + 1 < kCalls ? &calls[i + 1] : nullptr;
  }
  Peer client(env, 0);
  if (t.failed() || !client.run(calls[0])) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "first recv")) return;
  for (uint32_t i = 0; i < kCalls; ++i) {
    if (!check_message(t, r, i, i + 1, 0, "request") || !check_pattern(t, buffer().msg, 80 + i, i + 1, "request")) {
      return;
    }
    buffer().msg[0] = 1000 + i;
    const MessageInfo answer{0x700 + i, 1, 0, 0};
    // The last request gets a plain Reply: nobody would call again.
    const Error e = i + 1 < kCalls ? sys::reply_recv(ep, answer, &r) : sys::reply(answer);
    if (!expect_is(t, e, Error::Ok, "replyRecv")) return;
  }
  t.check(wait_done(calls[kCalls - 1]), "the client did not finish");
  for (uint32_t i = 0; i < kCalls; ++i) {
    t.check(calls[i].error == Error::Ok && calls[i].received.info.label == 0x700 + i && calls[i].words[0] == 1000 + i,
            "call %u: %s, label 0x%lx, word %lu", i, error_name(calls[i].error), calls[i].received.info.label,
            calls[i].words[0]);
  }
}

TESSERA_USER_TEST(IPC0009, pass, "120-word messages arrive whole in both directions, and longer lengths are cut to 120") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job send, recv;
  send.op = Job::Op::Send;
  send.cap = ep;
  send.info = MessageInfo{9, kMessageWords, 0, 0};
  send.seed = 9;
  send.next = &recv;
  recv.op = Job::Op::Recv;
  recv.cap = ep;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(send)) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv 120 words")) return;
  check_message(t, r, 9, kMessageWords, 0, "120-word message");
  check_pattern(t, buffer().msg, 9, kMessageWords, "received 120 words");
  let_run();  // the peer now waits in Recv
  put_pattern(10, kMessageWords);
  expect_is(t, sys::send(ep, MessageInfo{10, 127, 0, 0}), Error::Ok, "send with length 127");
  if (!t.check(wait_done(recv), "the peer did not receive")) return;
  check_message(t, recv.received, 10, kMessageWords, 0, "length 127 delivered as");
  check_pattern(t, recv.words, 10, kMessageWords, "peer's 120 words");
}

TESSERA_USER_TEST(IPC0010, pass, "labels up to 52 bits and every length 0..120 are delivered exactly") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Peer server(env, 0);
  if (t.failed() || !server.start(echo_server, make_argument(ep, 0))) return;
  let_run();
  constexpr uint64_t kLabels[] = {0, 1, 0xABCDE, (uint64_t{1} << 52) - 2};
  for (uint64_t label : kLabels) call_echo(t, ep, label, 3, label & 0xFFFF);
  for (uint32_t length = 0; length <= kMessageWords && !t.failed(); ++length) call_echo(t, ep, length, length, length);
}

TESSERA_USER_TEST(IPC0011, pass, "the receiver sees the badge of the cap each sender used; unbadged is 0") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap first{env, mint(env, ep, kAllRights, 0x1111)};
  OwnedCap second{env, mint(env, ep, kAllRights, 0xBADC0FFEEull)};
  if (t.failed()) return;
  const CPtr spare = env.slot();
  auto rebadge = env.root().mint(spare, kSlotDepth, kRootCNodeRef, first, kSlotDepth, kAllRights, 0x2);
  expect_error(t, rebadge, Error::IllegalOperation, "re-badging a badged cap");
  if (rebadge.ok()) env.drop(spare);
  else (void)env.slots.free(spare);
  const CPtr via[] = {first, second, ep};
  const uint64_t badges[] = {0x1111, 0xBADC0FFEEull, 0};
  Job sends[3];
  for (uint32_t i = 0; i < 3; ++i) {
    sends[i].op = Job::Op::Send;
    sends[i].cap = via[i];
    sends[i].info = MessageInfo{i, 1, 0, 0};
  }
  Peer p0(env, 0), p1(env, 1), p2(env, 2);
  Peer* peers[] = {&p0, &p1, &p2};
  for (uint32_t i = 0; i < 3; ++i) {
    if (!peers[i]->run(sends[i])) return;
  }
  for (uint32_t i = 0; i < 3; ++i) {
    Received r{};
    if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv")) return;
    t.check(r.badge == badges[r.info.label % 3], "message %lu arrived with badge 0x%lx, expected 0x%lx", r.info.label,
            r.badge, badges[r.info.label % 3]);
  }
}

TESSERA_USER_TEST(IPC0012, pass, "a reply right is one-shot: a second Reply is Ok and answers nobody") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  Job first, second, other_server;
  first.op = second.op = Job::Op::Call;
  first.cap = second.cap = other_server.cap = ep;
  first.info = MessageInfo{1, 0, 0, 0};
  second.info = MessageInfo{2, 0, 0, 0};
  first.next = &second;
  other_server.op = Job::Op::Recv;
  Peer client(env, 0), server(env, 1);
  if (t.failed() || !client.run(first)) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv the first call") || !t.check(r.info.label == 1, "first")) return;
  expect_is(t, sys::reply(MessageInfo{100, 0, 0, 0}), Error::Ok, "first reply");
  t.check(wait_done(first) && first.received.info.label == 100, "the first call got label %lu", first.received.info.label);
  let_run();  // the client's second call now waits in the endpoint's queue
  expect_is(t, sys::reply(MessageInfo{200, 0, 0, 0}), Error::Ok, "second reply, with the caller queued");
  let_run();
  t.check(!second.is_done(), "the second Reply answered a call that was never received (label %lu)",
          second.received.info.label);
  // Another server takes the second call: the client now waits for a reply again, but not from us.
  if (!server.run(other_server)) return;
  t.check(other_server.is_done() && other_server.received.info.label == 2, "the other server got label %lu",
          other_server.received.info.label);
  expect_is(t, sys::reply(MessageInfo{300, 0, 0, 0}), Error::Ok, "a stale reply");
  let_run();
  t.check(!second.is_done(), "a used reply right answered a call made to another server (label %lu)",
          second.received.info.label);
}

TESSERA_USER_TEST(IPC0013, pass, "Reply with no caller (never received, or after a plain Send) is Ok and reaches nobody") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap other{env, env.make(ObjectType::Endpoint)};
  Job waiting, send;
  waiting.op = Job::Op::Recv;
  waiting.cap = other;
  send.op = Job::Op::Send;
  send.cap = ep;
  send.info = MessageInfo{13, 0, 0, 0};
  Peer receiver(env, 0), sender(env, 1);
  if (t.failed() || !receiver.run(waiting)) return;
  expect_is(t, sys::reply(MessageInfo{1, 0, 0, 0}), Error::Ok, "reply before any receive");
  if (!sender.run(send)) return;
  Received r{};
  expect_is(t, sys::recv(ep, &r), Error::Ok, "recv a plain Send");
  t.check(wait_done(send), "the sender was not released");
  expect_is(t, sys::reply(MessageInfo{2, 0, 0, 0}), Error::Ok, "reply after a Send");
  let_run();
  t.check(!waiting.is_done(), "a Reply reached a thread waiting in Recv (label %lu)", waiting.received.info.label);
}

TESSERA_USER_TEST(IPC0014, pass, "Recv on a non-endpoint is WrongObjectType; on an empty slot it fails; nothing blocks") {
  Env env(t);
  OwnedCap tcb{env, env.make(ObjectType::Tcb)};
  OwnedCap frame{env, env.make(ObjectType::Frame4k)};
  const CPtr empty = env.slot();
  if (t.failed()) return;
  Received r{};
  expect_is(t, sys::recv(tcb, &r), Error::WrongObjectType, "Recv on a TCB");
  expect_is(t, sys::nb_recv(frame, &r), Error::WrongObjectType, "NBRecv on a frame");
  expect_is(t, sys::reply_recv(frame, MessageInfo{}, &r), Error::WrongObjectType, "ReplyRecv on a frame");
  const Error on_empty = sys::recv(empty, &r);
  t.check(on_empty != Error::Ok, "Recv on an empty slot returned Ok");
  (void)env.slots.free(empty);
}

namespace {
// The system calls `tcb` has made (Tcb.getStats), itself one more system call of the caller.
uint64_t syscalls_of(Env& env, CPtr tcb) {
  auto stats = env.tcb(tcb).get_stats();
  return stats.ok() ? stats->syscalls() : 0;
}
}  // namespace

TESSERA_USER_TEST(IPC0025, pass, "getStats counts each Call, Send, ReplyRecv and Recv exactly once, on either path") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap queue{env, env.make(ObjectType::Endpoint)};
  Job sender;  // queued on `queue` before the root receives: the root's Recv takes the general path
  sender.op = Job::Op::Send;
  sender.cap = queue;
  sender.info = MessageInfo{5, 1, 0, 0};
  Peer server(env, 0);
  Peer peer(env, 1);
  if (t.failed() || !server.start(echo_server, make_argument(ep, 0))) return;
  let_run();
  if (!peer.run(sender)) return;
  // Nothing between the two counts but the system calls counted: getStats itself is one each time.
  const uint64_t root_before = syscalls_of(env, tessera::kSlotRootTcb);
  const uint64_t server_before = syscalls_of(env, server.tcb());
  Received r{};
  const Error call1 = sys::call(ep, MessageInfo{1, 2, 0, 0}, &r);
  const Error call2 = sys::call(ep, MessageInfo{2, 0, 0, 0}, &r);
  const Error sent = sys::send(ep, MessageInfo{3, 1, 0, 0});      // to the waiting server
  const Error call3 = sys::call(ep, MessageInfo{4, 4, 0, 0}, &r);  // a server that was busy until now
  const Error received = sys::recv(queue, &r);
  const uint64_t server_after = syscalls_of(env, server.tcb());
  const uint64_t root_after = syscalls_of(env, tessera::kSlotRootTcb);
  expect_is(t, call1, Error::Ok, "call 1");
  expect_is(t, call2, Error::Ok, "call 2");
  expect_is(t, sent, Error::Ok, "send");
  expect_is(t, call3, Error::Ok, "call 3");
  expect_is(t, received, Error::Ok, "recv");
  // Root: 3 Calls, 1 Send, 1 Recv, and the getStats calls for the server (2) and itself (1).
  t.check(root_after - root_before == 8, "the root made 8 system calls; getStats counted %lu",
          root_after - root_before);
  // Server: one ReplyRecv per message (3 calls and the send), each returning with the next message.
  t.check(server_after - server_before == 4, "the server made 4 ReplyRecvs; getStats counted %lu",
          server_after - server_before);
  t.check(wait_done(sender), "the queued sender did not finish");
}
