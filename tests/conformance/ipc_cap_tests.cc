// Capability transfer and endpoint rights (suite `user`): a cap sent with a message lands in the
// receiver's receive slot and works there; a cap of the endpoint itself is unwrapped to its
// badge; Write, Read, Grant and GrantReply decide who may send, receive, transfer and call.
#include <stdint.h>

#include <tessera/sys/testing.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;

constexpr uint64_t kNotificationBadge = 0x10;

// A job sending `caps` (count of them) through `endpoint`, label 0x33, 3 pattern words.
Job cap_sender(CPtr endpoint, const CPtr* caps, uint32_t count) {
  Job job;
  job.op = Job::Op::Send;
  job.cap = endpoint;
  job.info = MessageInfo{0x33, 3, count, 0};
  job.seed = 0xCA;
  for (uint32_t i = 0; i < count; ++i) job.caps[i] = caps[i];
  return job;
}

// Receives on `ep` with `slot` as the receive slot (0: none), which is reset afterwards.
Error recv_with_slot(CPtr ep, CPtr slot, Received* r) {
  receive_into(slot);
  const Error e = sys::recv(ep, r);
  receive_into(0);
  return e;
}

// Whether `slot` holds a cap to `notification` that signals `badge`: signal through it, then
// poll the original.
bool signals_badge(Context& t, CPtr slot, CPtr notification, uint64_t badge) {
  uint64_t word = 0;
  if (!expect_is(t, sys::signal(slot), Error::Ok, "signal through the received cap")) return false;
  if (!expect_is(t, sys::poll(notification, &word), Error::Ok, "poll")) return false;
  return t.check(word == badge, "the received cap signalled 0x%lx, expected 0x%lx", word, badge);
}
}  // namespace

TESSERA_USER_TEST(IPC0021, pass, "a cap sent with Grant lands in the receive slot and can be used there") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, kNotificationBadge)};
  OwnedCap received{env, env.slot()};
  if (t.failed()) return;
  const CPtr caps[] = {badged};
  Job send = cap_sender(ep, caps, 1);
  Peer peer(env, 0);
  if (!peer.run(send)) return;
  Received r{};
  const Error e = recv_with_slot(ep, received, &r);
  if (!expect_is(t, e, Error::Ok, "recv")) return;
  t.check(r.info.extra_caps == 1 && r.info.caps_unwrapped == 0 && r.info.label == 0x33 && r.info.length_words == 3,
          "info: caps %u unwrapped %u label 0x%lx length %u", r.info.extra_caps, r.info.caps_unwrapped, r.info.label,
          r.info.length_words);
  check_pattern(t, buffer().msg, 0xCA, 3, "words with a cap");
  if (!t.check(!env.is_empty(received), "the receive slot is empty")) return;
  signals_badge(t, received, notification, kNotificationBadge);
  // The sender kept its own cap.
  signals_badge(t, badged, notification, kNotificationBadge);
}

TESSERA_USER_TEST(IPC0022, pass, "no receive slot, or an occupied one: the message arrives without the cap") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap occupant{env, mint(env, notification, kAllRights, 0x1)};
  OwnedCap badged{env, mint(env, notification, kAllRights, kNotificationBadge)};
  if (t.failed()) return;
  const CPtr caps[] = {badged};
  Job first = cap_sender(ep, caps, 1), second = cap_sender(ep, caps, 1);
  first.next = &second;
  Peer peer(env, 0);
  if (!peer.run(first)) return;
  const CPtr targets[] = {0, occupant};
  for (CPtr target : targets) {
    Received r{};
    const Error e = recv_with_slot(ep, target, &r);
    if (!expect_is(t, e, Error::Ok, "recv")) return;
    t.check(r.info.extra_caps == 0 && r.info.label == 0x33 && r.info.length_words == 3,
            "receive slot %lu: caps %u label 0x%lx length %u", target, r.info.extra_caps, r.info.label,
            r.info.length_words);
    check_pattern(t, buffer().msg, 0xCA, 3, "words");
    let_run();
  }
  // The occupant is still the cap it was.
  signals_badge(t, occupant, notification, 0x1);
}

TESSERA_USER_TEST(IPC0023, pass, "a cap of the endpoint itself is unwrapped to its badge; the next cap still moves") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap self{env, mint(env, ep, kAllRights, 0x77)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, kNotificationBadge)};
  OwnedCap received{env, env.slot()};
  if (t.failed()) return;
  const CPtr caps[] = {self, badged, self};
  Job send = cap_sender(ep, caps, 3);
  Peer peer(env, 0);
  if (!peer.run(send)) return;
  Received r{};
  const Error e = recv_with_slot(ep, received, &r);
  if (!expect_is(t, e, Error::Ok, "recv")) return;
  const IpcBuffer& b = buffer();
  t.check(r.info.extra_caps == 3 && r.info.caps_unwrapped == 0b101, "caps %u unwrapped 0x%x", r.info.extra_caps,
          r.info.caps_unwrapped);
  t.check(b.caps_or_badges[0] == 0x77 && b.caps_or_badges[2] == 0x77, "unwrapped badges 0x%lx 0x%lx",
          b.caps_or_badges[0], b.caps_or_badges[2]);
  if (t.check(!env.is_empty(received), "the notification cap did not arrive")) {
    signals_badge(t, received, notification, kNotificationBadge);
  }
}

TESSERA_USER_TEST(IPC0024, pass, "only the first real cap moves; the count stops at the first cap not delivered") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap first{env, mint(env, notification, kAllRights, 0x1)};
  OwnedCap second{env, mint(env, notification, kAllRights, 0x2)};
  OwnedCap received{env, env.slot()};
  if (t.failed()) return;
  const CPtr caps[] = {first, second};
  Job send = cap_sender(ep, caps, 2);
  Peer peer(env, 0);
  if (!peer.run(send)) return;
  Received r{};
  const Error e = recv_with_slot(ep, received, &r);
  if (!expect_is(t, e, Error::Ok, "recv")) return;
  t.check(r.info.extra_caps == 1 && r.info.caps_unwrapped == 0, "caps %u unwrapped %u", r.info.extra_caps,
          r.info.caps_unwrapped);
  if (t.check(!env.is_empty(received), "the first cap did not arrive")) signals_badge(t, received, notification, 0x1);
}

TESSERA_USER_TEST(IPCRIGHTS0001, pass, "Send, NBSend and Call need Write: InsufficientRights, nothing delivered") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap no_write{env, mint(env, ep, kRead | kGrant | kGrantReply)};
  Job recv;
  recv.op = Job::Op::Recv;
  recv.cap = ep;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(recv)) return;
  Received r{};
  expect_is(t, sys::send(no_write, MessageInfo{1, 0, 0, 0}), Error::InsufficientRights, "Send without Write");
  expect_is(t, sys::nb_send(no_write, MessageInfo{2, 0, 0, 0}), Error::InsufficientRights, "NBSend without Write");
  expect_is(t, sys::call(no_write, MessageInfo{3, 0, 0, 0}, &r), Error::InsufficientRights, "Call without Write");
  let_run();
  t.check(!recv.is_done(), "a refused send reached the receiver (label %lu)", recv.received.info.label);
  // The same endpoint through a cap with Write delivers.
  expect_is(t, sys::send(ep, MessageInfo{4, 0, 0, 0}), Error::Ok, "Send with Write");
  t.check(wait_done(recv) && recv.received.info.label == 4, "the receiver got label %lu", recv.received.info.label);
}

TESSERA_USER_TEST(IPCRIGHTS0002, pass, "Recv, NBRecv and ReplyRecv need Read: InsufficientRights, the sender stays queued") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap no_read{env, mint(env, ep, kWrite | kGrant | kGrantReply)};
  Job send;
  send.op = Job::Op::Send;
  send.cap = ep;
  send.info = MessageInfo{5, 0, 0, 0};
  Peer peer(env, 0);
  if (t.failed() || !peer.run(send)) return;
  Received r{};
  expect_is(t, sys::recv(no_read, &r), Error::InsufficientRights, "Recv without Read");
  expect_is(t, sys::nb_recv(no_read, &r), Error::InsufficientRights, "NBRecv without Read");
  expect_is(t, sys::reply_recv(no_read, MessageInfo{}, &r), Error::InsufficientRights, "ReplyRecv without Read");
  let_run();
  t.check(!send.is_done(), "a refused receive released the sender");
  if (expect_is(t, sys::nb_recv(ep, &r), Error::Ok, "NBRecv with Read")) t.check(r.info.label == 5, "label %lu", r.info.label);
}

TESSERA_USER_TEST(IPCRIGHTS0003, pass, "without Grant, caps (even ones to unwrap) are not transferred; the words are") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap no_grant{env, mint(env, ep, kWrite | kGrantReply, 0x5)};
  OwnedCap self{env, mint(env, ep, kAllRights, 0x77)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap received{env, env.slot()};
  if (t.failed()) return;
  const CPtr caps[] = {notification, self};
  Job send = cap_sender(no_grant, caps, 2);
  Peer peer(env, 0);
  if (!peer.run(send)) return;
  Received r{};
  const Error e = recv_with_slot(ep, received, &r);
  if (!expect_is(t, e, Error::Ok, "recv")) return;
  t.check(r.info.extra_caps == 0 && r.info.caps_unwrapped == 0 && r.badge == 0x5 && r.info.length_words == 3,
          "caps %u unwrapped %u badge 0x%lx length %u", r.info.extra_caps, r.info.caps_unwrapped, r.badge,
          r.info.length_words);
  check_pattern(t, buffer().msg, 0xCA, 3, "words");
  t.check(env.is_empty(received), "a cap arrived through an endpoint cap without Grant");
}

TESSERA_USER_TEST(IPCRIGHTS0004, pass, "Call needs Grant or GrantReply besides Write: InsufficientRights, nobody called") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap write_only{env, mint(env, ep, kWrite | kRead)};
  Job recv;
  recv.op = Job::Op::Recv;
  recv.cap = ep;
  Peer peer(env, 0);
  if (t.failed() || !peer.run(recv)) return;
  Received r{};
  expect_is(t, sys::call(write_only, MessageInfo{1, 0, 0, 0}, &r), Error::InsufficientRights, "Call with Read|Write");
  let_run();
  t.check(!recv.is_done(), "a refused Call reached the receiver");
  // Send through the same cap is fine: it needs only Write.
  expect_is(t, sys::send(write_only, MessageInfo{2, 0, 0, 0}), Error::Ok, "Send with Write");
  t.check(wait_done(recv) && recv.received.info.label == 2, "the receiver got label %lu", recv.received.info.label);
}

TESSERA_USER_TEST(IPCRIGHTS0005, pass, "Call with Write|GrantReply, or Write|Grant, is answered") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap grant_reply{env, mint(env, ep, kWrite | kGrantReply)};
  OwnedCap grant{env, mint(env, ep, kWrite | kGrant)};
  Peer server(env, 0);
  if (t.failed() || !server.start(echo_server, make_argument(ep, 0))) return;
  let_run();
  const CPtr via[] = {grant_reply, grant};
  for (CPtr cap : via) {
    put_pattern(cap, 4);
    Received reply{};
    if (!expect_is(t, sys::call(cap, MessageInfo{40, 4, 0, 0}, &reply), Error::Ok, "call")) continue;
    t.check(reply.info.label == 41 && reply.info.length_words == 4 && buffer().msg[3] == ~pattern(cap, 3),
            "reply label %lu length %u", reply.info.label, reply.info.length_words);
  }
}
