// Notification tests of the root task (suite `user`): signal (Send) ORs a cap's badge into the
// notification word or wakes a waiter with it; wait (Recv) collects and clears the word or blocks;
// poll (NBRecv) collects without blocking; Write signals, Read waits.
#include <stdint.h>

#include <tessera/sys/testing.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;

Job waiter(CPtr notification) {
  Job job;
  job.op = Job::Op::Wait;
  job.cap = notification;
  return job;
}

// Polls `notification` and checks the word it returns.
bool expect_word(Context& t, CPtr notification, uint64_t expected, const char* what) {
  uint64_t word = ~uint64_t{0};
  if (!expect_is(t, sys::poll(notification, &word), Error::Ok, what)) return false;
  return t.check(word == expected, "%s: word 0x%lx, expected 0x%lx", what, word, expected);
}
}  // namespace

TESSERA_USER_TEST(NOTIFICATION0001, pass, "signal then wait: wait returns the badge at once and clears the word") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, 0x5)};
  if (t.failed()) return;
  expect_is(t, sys::signal(badged), Error::Ok, "signal");
  uint64_t word = 0;
  expect_is(t, sys::wait(notification, &word), Error::Ok, "wait");
  t.check(word == 0x5, "wait returned 0x%lx", word);
  expect_word(t, notification, 0, "poll after the wait");
}

TESSERA_USER_TEST(NOTIFICATION0002, pass, "wait then signal: the blocked waiter wakes with the signalling cap's badge") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, 0x40)};
  Job wait = waiter(notification);
  Peer peer(env, 0);
  if (t.failed() || !peer.run(wait)) return;
  t.check(!wait.is_done(), "wait returned with the word empty (0x%lx)", wait.received.badge);
  expect_is(t, sys::signal(badged), Error::Ok, "signal");
  if (!t.check(wait_done(wait), "the waiter did not wake")) return;
  expect_is(t, wait.error, Error::Ok, "the wait");
  t.check(wait.received.badge == 0x40, "the waiter got 0x%lx", wait.received.badge);
  expect_word(t, notification, 0, "the signal went to the waiter, not the word");
}

TESSERA_USER_TEST(NOTIFICATION0003, pass, "signals through differently badged caps are ORed until collected") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap c0{env, mint(env, notification, kWrite, 0x1)}, c1{env, mint(env, notification, kWrite, 0x2)},
      c2{env, mint(env, notification, kWrite, 0x8)}, c3{env, mint(env, notification, kWrite, 0x100000000ull)};
  if (t.failed()) return;
  const CPtr via[] = {c0, c1, c2, c0, c3};  // 0x1 twice: ORing is idempotent
  for (CPtr cap : via) expect_is(t, sys::signal(cap), Error::Ok, "signal");
  uint64_t word = 0;
  expect_is(t, sys::wait(notification, &word), Error::Ok, "wait");
  t.check(word == 0x10000000Bull, "wait returned 0x%lx, expected 0x10000000b", word);
  // Collected: a new round starts from zero.
  expect_is(t, sys::signal(c1), Error::Ok, "signal again");
  expect_word(t, notification, 0x2, "the next round");
}

TESSERA_USER_TEST(NOTIFICATION0004, pass, "poll: Ok and 0 when nothing was signalled, the word (then cleared) otherwise") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, 0x30)};
  if (t.failed()) return;
  expect_word(t, notification, 0, "poll of a fresh notification");
  expect_is(t, sys::signal(badged), Error::Ok, "signal");
  expect_word(t, notification, 0x30, "poll after a signal");
  expect_word(t, notification, 0, "poll after the word was collected");
}

TESSERA_USER_TEST(NOTIFICATION0005, pass, "signal needs Write, wait and poll need Read: InsufficientRights, word untouched") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap read_only{env, mint(env, notification, kRead, 0x1)};
  OwnedCap write_only{env, mint(env, notification, kWrite, 0x2)};
  if (t.failed()) return;
  expect_is(t, sys::signal(read_only), Error::InsufficientRights, "signal without Write");
  uint64_t word = 0;
  expect_is(t, sys::wait(write_only, &word), Error::InsufficientRights, "wait without Read");
  expect_is(t, sys::poll(write_only, &word), Error::InsufficientRights, "poll without Read");
  expect_word(t, notification, 0, "the refused signal left no bits");
  expect_is(t, sys::signal(write_only), Error::Ok, "signal with Write");
  expect_word(t, read_only, 0x2, "poll with Read");
}

TESSERA_USER_TEST(NOTIFICATION0006, pass, "waiters wake one per signal, in the order they waited") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap one{env, mint(env, notification, kWrite, 0x1)};
  OwnedCap two{env, mint(env, notification, kWrite, 0x2)};
  Job first = waiter(notification), second = waiter(notification);
  Peer p1(env, 1), p0(env, 0);
  if (t.failed() || !p1.run(first) || !p0.run(second)) return;
  expect_is(t, sys::signal(one), Error::Ok, "first signal");
  let_run();
  t.check(first.is_done() && first.received.badge == 0x1, "the first waiter: done %d word 0x%lx", first.is_done(),
          first.received.badge);
  t.check(!second.is_done(), "one signal woke two waiters");
  expect_is(t, sys::signal(two), Error::Ok, "second signal");
  t.check(wait_done(second) && second.received.badge == 0x2, "the second waiter got 0x%lx", second.received.badge);
}

TESSERA_USER_TEST(NOTIFICATION0007, pass, "deleting a notification wakes its waiters with ObjectDeleted") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  Job first = waiter(notification), second = waiter(notification);
  Peer p0(env, 0), p1(env, 1);
  if (t.failed() || !p0.run(first) || !p1.run(second)) return;
  t.check(!first.is_done() && !second.is_done(), "a waiter returned early");
  notification.drop();
  const Job* jobs[] = {&first, &second};
  for (const Job* job : jobs) {
    if (t.check(wait_done(*job), "a waiter is still blocked")) expect_is(t, job->error, Error::ObjectDeleted, "wait");
  }
}

// --- notifications bound to a thread (Tcb.bindNotification) ---

namespace {
Job receiver_on(CPtr endpoint) {
  Job job;
  job.op = Job::Op::Recv;
  job.cap = endpoint;
  return job;
}

// A signal through a cap badged `badge` (0: the unbadged cap itself) before the bound thread
// receives ends its first Recv at once with that badge and no message; its second Recv then waits
// for a real message.
void pending_signal_ends_next_recv(Context& t, uint64_t badge) {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, badge == 0 ? 0 : mint(env, notification, kAllRights, badge)};
  Job first = receiver_on(endpoint), second = receiver_on(endpoint);
  first.next = &second;
  Peer peer(env, 0);
  if (t.failed() || !peer.ok()) return;
  expect_ok(t, env.tcb(peer.tcb()).bind_notification(CapRef{notification}), "bind");
  expect_is(t, sys::signal(badge == 0 ? CPtr{notification} : CPtr{badged}), Error::Ok, "signal");
  if (!peer.run(first)) return;
  if (!t.check(wait_done(first), "the receive after the signal blocked: the signal was lost")) return;
  t.check(first.received.badge == badge && first.received.info.length_words == 0,
          "first receive: badge 0x%lx, %u words", first.received.badge, first.received.info.length_words);
  t.check(!second.is_done(), "the second receive returned without a message or signal");
  expect_is(t, sys::send(endpoint, MessageInfo{77, 0, 0, 0}), Error::Ok, "send");
  if (!t.check(wait_done(second), "the message did not arrive")) return;
  t.check(second.received.info.label == 77, "label %lu", second.received.info.label);
}
}  // namespace

TESSERA_USER_TEST(NOTIFICATION0008, pass, "a signal through an unbadged cap stays pending: the next wait returns at once, once") {
  Env env(t);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  Job first = waiter(notification), second = waiter(notification);
  first.next = &second;
  Peer peer(env, 0);
  if (t.failed() || !peer.ok()) return;
  // Nobody waits yet: the signal carries badge 0, yet it must not be lost (seL4's Active state).
  expect_is(t, sys::signal(notification), Error::Ok, "signal through the unbadged cap");
  if (!peer.run(first)) return;
  if (!t.check(wait_done(first), "the wait after an unbadged signal blocked: the signal was lost")) return;
  expect_is(t, first.error, Error::Ok, "the first wait");
  t.check(first.received.badge == 0, "the first wait returned 0x%lx", first.received.badge);
  // The first wait collected the signal: the second one sleeps until the next.
  t.check(!second.is_done(), "the second wait returned without a second signal");
  expect_is(t, sys::signal(notification), Error::Ok, "second signal");
  if (!t.check(wait_done(second), "the second waiter did not wake")) return;
  expect_is(t, second.error, Error::Ok, "the second wait");
  expect_word(t, notification, 0, "poll after both signals were collected");
}

TESSERA_USER_TEST(BIND0001, pass, "a signal ends a bound thread's Recv on an endpoint, with the badge as its badge") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kAllRights, 0x100)};
  Job recv = receiver_on(endpoint);
  Peer peer(env, 0);
  if (t.failed() || !peer.ok()) return;
  expect_ok(t, env.tcb(peer.tcb()).bind_notification(CapRef{notification}), "bind");
  if (!peer.run(recv)) return;
  t.check(!recv.is_done(), "the receive returned before anything happened");
  expect_is(t, sys::signal(badged), Error::Ok, "signal");
  if (!t.check(wait_done(recv), "the bound receiver did not wake")) return;
  expect_is(t, recv.error, Error::Ok, "the receive");
  t.check(recv.received.badge == 0x100, "badge 0x%lx", recv.received.badge);
  t.check(recv.received.info.length_words == 0 && recv.received.info.label == 0, "a notification carries no message");
  // Only the bound thread may poll it (seL4); unbound, anyone with Read may.
  uint64_t stolen = 0;
  expect_is(t, sys::poll(notification, &stolen), Error::IllegalOperation, "a poll by another thread while bound");
  expect_ok(t, env.tcb(peer.tcb()).unbind_notification(), "unbind");
  expect_word(t, notification, 0, "the word was handed over");
}

TESSERA_USER_TEST(BIND0002, pass, "a bound thread still receives endpoint messages; a pending signal comes first") {
  pending_signal_ends_next_recv(t, 0x2);
}

TESSERA_USER_TEST(BIND0005, pass, "an unbadged signal before a bound thread receives ends its next Recv at once") {
  pending_signal_ends_next_recv(t, 0);
}

TESSERA_USER_TEST(BIND0003, pass, "one notification per thread and one thread per notification; unbind undoes it") {
  Env env(t);
  OwnedCap a{env, env.make(ObjectType::Notification)};
  OwnedCap b{env, env.make(ObjectType::Notification)};
  const CPtr tcb = env.make(ObjectType::Tcb), other = env.make(ObjectType::Tcb);
  if (t.failed()) return;
  expect_ok(t, env.tcb(tcb).bind_notification(CapRef{a}), "bind a");
  expect_error(t, env.tcb(tcb).bind_notification(CapRef{b}), Error::IllegalOperation, "a second notification");
  expect_error(t, env.tcb(other).bind_notification(CapRef{a}), Error::IllegalOperation, "a bound notification");
  expect_error(t, env.tcb(tcb).bind_notification(CapRef{tcb}), Error::WrongObjectType, "not a notification");
  expect_ok(t, env.tcb(tcb).unbind_notification(), "unbind");
  expect_error(t, env.tcb(tcb).unbind_notification(), Error::IllegalOperation, "unbind twice");
  expect_ok(t, env.tcb(other).bind_notification(CapRef{a}), "bind a elsewhere");
  env.drop(other);
  env.drop(tcb);
}

TESSERA_USER_TEST(BIND0004, pass, "deleting a bound notification or its thread leaves no dangling binding") {
  Env env(t);
  const CPtr notification = env.make(ObjectType::Notification), tcb = env.make(ObjectType::Tcb);
  const CPtr second = env.make(ObjectType::Notification);
  if (t.failed()) return;
  expect_ok(t, env.tcb(tcb).bind_notification(CapRef{notification}), "bind");
  env.drop(notification);  // the notification dies: the thread is free to bind another
  expect_ok(t, env.tcb(tcb).bind_notification(CapRef{second}), "bind a new notification");
  env.drop(tcb);           // the thread dies: the notification is free again
  const CPtr other = env.make(ObjectType::Tcb);
  if (t.failed()) return;
  expect_ok(t, env.tcb(other).bind_notification(CapRef{second}), "bind the survivor to another thread");
  env.drop(other);
  env.drop(second);
}
