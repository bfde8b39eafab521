// TRACE: the kernel's event tracing seen from a trace reader (docs/tracing.md, tessera/trace.h):
// the TraceControl capability (slot 10; the runner gives it and the read-only ring frame to TRACE
// tests only), categories switched at run time, the records of known IPC sessions, notifications,
// faults, system calls and invocations, thread names, exact drop counts with tiny rings, rights,
// and hostile readers. Every test leaves tracing off and the ring at full capacity (Trace's
// destructor): the kernel's tracing state is shared by every test of the boot.
#include <stdint.h>

#include <tessera/capnp/transport.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/testing.h>

#include "ipc_test_env.h"
#include "trace_test_env.h"

namespace {
using namespace ipctest;
using namespace tracetest;
namespace sys = tessera::sys;
namespace tr = tessera::trace;
using tessera::capnp::MessageInfo;

constexpr uint32_t kIpc = tr::kCategoryIpc;
constexpr uint32_t kTcbType = 3;           // microkernel/cap/object_type.h order
constexpr uint32_t kTraceControlType = 20;

using tr::object_of;
using tr::thread_of;
MessageInfo info_of(uint64_t word) { return MessageInfo::decode(word); }

// The ids of a client/server session: who called whom through which endpoint.
struct Session {
  uint32_t client = 0, server = 0;
  uint64_t badge = 0;
  uint64_t label = 0;
  uint32_t length = 0;
  uint32_t caps = 0;
};

// Checks Call (client) → Receive (server) → Reply (server to client) from `from` on; returns the
// index after the Reply (trace.count() on failure) and the endpoint id the Call named.
uint64_t check_session(Context& t, const Trace& trace, uint64_t from, const Session& s, uint32_t* endpoint) {
  const uint64_t call = trace.find(from, Kind::Call, [&](const Record& r) { return thread_of(r) == s.client; });
  if (!t.check(call < trace.count(), "no Call record by the client (thread %u)", s.client)) return trace.count();
  const Record& c = trace.at(call);
  const MessageInfo ci = info_of(c.word[2]);
  *endpoint = object_of(c);
  t.check(*endpoint != 0, "Call names endpoint 0");
  t.check(ci.label == s.label && ci.length_words == s.length && ci.extra_caps == s.caps,
          "Call info: label 0x%lx length %u caps %u, expected 0x%lx %u %u", ci.label, ci.length_words, ci.extra_caps,
          s.label, s.length, s.caps);
  t.check(c.word[3] == s.badge, "Call badge 0x%lx, expected 0x%lx", c.word[3], s.badge);
  const uint64_t receive = trace.find(call + 1, Kind::Receive, [&](const Record& r) { return thread_of(r) == s.server; });
  if (!t.check(receive < trace.count(), "no Receive record by the server (thread %u) after the Call", s.server)) {
    return trace.count();
  }
  const Record& rv = trace.at(receive);
  t.check(object_of(rv) == s.client, "Receive: sender %u, expected the client %u", object_of(rv), s.client);
  t.check(rv.word[3] == *endpoint, "Receive: endpoint %lu, the Call said %u", rv.word[3], *endpoint);
  t.check(info_of(rv.word[2]).label == s.label && info_of(rv.word[2]).length_words == s.length,
          "Receive info: label 0x%lx length %u", info_of(rv.word[2]).label, info_of(rv.word[2]).length_words);
  const uint64_t reply = trace.find(receive + 1, Kind::Reply, [&](const Record& r) { return thread_of(r) == s.server; });
  if (!t.check(reply < trace.count(), "no Reply record by the server after the Receive")) return trace.count();
  const Record& rp = trace.at(reply);
  t.check(object_of(rp) == s.client, "Reply: caller %u, expected the client %u", object_of(rp), s.client);
  t.check(info_of(rp.word[2]).label == s.label + 1, "Reply label 0x%lx, expected 0x%lx (the echo's)",
          info_of(rp.word[2]).label, s.label + 1);
  t.check(tr::timestamp_of(c) <= tr::timestamp_of(rv) && tr::timestamp_of(rv) <= tr::timestamp_of(rp),
          "timestamps out of order");
  return reply + 1;
}

// The echo server of another address space, the endpoint it serves and a badged client cap.
struct EchoSession {
  explicit EchoSession(Env& env)
      : ep(env, env.make(ObjectType::Endpoint)), client(env, mint(env, ep, kWrite | kGrant | kGrantReply, 0xBADE)),
        space(env), server(space.ok() ? space.thread(0) : tessera::Result<Thread>(Error::InvalidArgument)) {
    if (env.t.failed() || !space.ok() || !server.ok()) return;
    if (!expect_ok(env.t, server->start(echo_server, make_argument(ep, 0)), "start the echo server")) return;
    let_run();
    started = true;
  }
  OwnedCap ep, client;
  ChildSpace space;
  tessera::Result<Thread> server;
  bool started = false;
};
}  // namespace

TESSERA_USER_TEST(TRACE0001, pass, "setCategories returns the previous set, unknown bits RangeError; status and header agree") {
  Env env(t);
  Trace trace(env);
  if (!trace.ok()) return;
  auto c = trace.control();
  auto p = c.set_categories(kIpc);
  if (!expect_ok(t, p, "set ipc")) return;
  t.check(p->previous() == 0, "previous %u at the start (tracing left on?)", p->previous());
  auto p2 = c.set_categories(tr::kCategoryScheduling | tr::kCategoryFaults);
  t.check(p2.ok() && p2->previous() == kIpc, "previous after ipc: %u", p2.ok() ? p2->previous() : 99);
  t.check(trace.header().categories == (tr::kCategoryScheduling | tr::kCategoryFaults), "header categories %u",
          trace.header().categories);
  expect_error(t, c.set_categories(1u << 8), Error::RangeError, "bit 8");
  expect_error(t, c.set_categories(0x80000000u | kIpc), Error::RangeError, "bit 31");
  auto s = c.status(0);
  if (expect_ok(t, s, "status")) {
    t.check(s->categories() == (tr::kCategoryScheduling | tr::kCategoryFaults), "a refused set changed categories to %u",
            s->categories());
    t.check(s->cpus() == 1 && s->capacity() == trace.header().max_capacity, "cpus %u capacity %u", s->cpus(),
            s->capacity());
    const uint64_t written = s->written(), consumed = s->consumed(), dropped = s->dropped();
    t.check(written == trace.header().written && consumed == trace.header().consumed &&
                dropped == trace.header().dropped,
            "status %lu/%lu/%lu, header %lu/%lu/%lu", written, consumed, dropped, trace.header().written,
            trace.header().consumed, trace.header().dropped);
  }
  auto p3 = c.set_categories(tr::kCategoryAll);
  t.check(p3.ok() && p3->previous() == (tr::kCategoryScheduling | tr::kCategoryFaults), "previous before all");
  auto p4 = c.set_categories(0);
  t.check(p4.ok() && p4->previous() == tr::kCategoryAll, "previous before off");
  t.check(trace.header().categories == 0, "header categories %u after off", trace.header().categories);
}

TESSERA_USER_TEST(TRACE0002, pass, "IPC category at run time: off, a round trip leaves no Call/Receive/Reply; on, it does") {
  Env env(t);
  Trace trace(env);
  EchoSession session(env);
  if (!trace.ok() || !session.started) return;
  if (!trace.start(tr::kCategoryScheduling)) return;  // something on, but not IPC
  call_echo(t, session.client, 0x21, 2, 0x2002);
  if (!trace.stop()) return;
  t.check(trace.count_of(Kind::Call) == 0 && trace.count_of(Kind::Receive) == 0 && trace.count_of(Kind::Reply) == 0,
          "IPC off: %lu Call, %lu Receive, %lu Reply records", trace.count_of(Kind::Call), trace.count_of(Kind::Receive),
          trace.count_of(Kind::Reply));
  t.check(trace.count_of(Kind::Switch) > 0, "no Switch records with Scheduling on");
  if (!trace.start(kIpc)) return;
  call_echo(t, session.client, 0x22, 2, 0x2003);
  if (!trace.stop()) return;
  t.check(trace.count_of(Kind::Call) == 1 && trace.count_of(Kind::Receive) == 1 && trace.count_of(Kind::Reply) == 1,
          "IPC on: %lu Call, %lu Receive, %lu Reply records", trace.count_of(Kind::Call), trace.count_of(Kind::Receive),
          trace.count_of(Kind::Reply));
  t.check(trace.count_of(Kind::Switch) == 0, "Switch records with Scheduling off");
  if (t.failed()) trace.dump();
}

namespace {
// A session with the echo server in another space: Call, Receive, Reply in order, with the ids
// getStats gives, for `length` words (≤ 4: the fastpath when it is on) and `caps` extra caps.
void session_test(Context& t, uint32_t length, bool with_cap) {
  Env env(t);
  Trace trace(env);
  EchoSession session(env);
  OwnedCap gift{env, env.make(ObjectType::Notification)};
  if (!trace.ok() || !session.started || t.failed()) return;
  const uint32_t client = trace_id_of(env, tessera::kSlotRootTcb);
  const uint32_t server = trace_id_of(env, session.server->tcb());
  t.check(client != server, "client and server have the same trace id %u", client);
  if (!trace.start(kIpc)) return;
  for (uint32_t round = 0; round < 2; ++round) {
    put_pattern(0x3000 + round, length);
    buffer().caps_or_badges[0] = gift;
    Received reply{};
    expect_is(t, sys::call(session.client, MessageInfo{0x30 + round, length, with_cap ? 1u : 0u, 0}, &reply), Error::Ok,
              "call");
  }
  if (!trace.stop()) return;
  Session s{client, server, 0xBADE, 0x30, length, with_cap ? 1u : 0u};
  uint32_t ep0 = 0, ep1 = 0;
  const uint64_t next = check_session(t, trace, 0, s, &ep0);
  s.label = 0x31;
  check_session(t, trace, next, s, &ep1);
  t.check(ep0 == ep1 && ep0 != 0, "endpoint ids %u and %u for the same endpoint", ep0, ep1);
  t.check(ep0 != client && ep0 != server, "endpoint id %u is a thread's", ep0);
  t.check(trace.count_of(Kind::Call) == 2 && trace.count_of(Kind::Reply) == 2, "%lu Calls, %lu Replies",
          trace.count_of(Kind::Call), trace.count_of(Kind::Reply));
  if (t.failed()) trace.dump();
}
}  // namespace

TESSERA_USER_TEST(TRACE0003, pass, "a short Call across spaces (fastpath): Call, Receive, Reply with ids, badge and info") {
  session_test(t, 3, false);
}

TESSERA_USER_TEST(TRACE0004, pass, "a 6-word Call and a Call with a cap (general path): the same records") {
  session_test(t, 6, false);
  if (!t.failed()) session_test(t, 2, true);
}

TESSERA_USER_TEST(TRACE0005, pass, "Payload records after Call and Reply carry the message words; none without Payload") {
  Env env(t);
  Trace trace(env);
  EchoSession session(env);
  if (!trace.ok() || !session.started) return;
  const uint32_t lengths[] = {2u, 7u, 20u};
  for (uint32_t length : lengths) {
    if (!trace.start(kIpc | tr::kCategoryPayload)) return;
    call_echo(t, session.client, 0x50, length, 0x5000 + length);
    if (!trace.stop()) return;
    const uint32_t recorded = length < 12 ? length : 12;
    const uint32_t chunks = (recorded + 2) / 3;
    const Kind kinds[] = {Kind::Call, Kind::Reply};
    for (Kind kind : kinds) {
      const uint64_t at = trace.find(0, kind);
      if (!t.check(at + chunks < trace.count(), "length %u: no %u payload records after kind %u", length, chunks,
                   static_cast<unsigned>(kind))) {
        break;
      }
      for (uint32_t c = 0; c < chunks; ++c) {
        const Record& p = trace.at(at + 1 + c);
        if (!t.check(tr::kind_of(p) == Kind::Payload && ((p.word[0] >> 8) & 0xFF) == c &&
                         ((p.word[0] >> 16) & 0xFF) == recorded,
                     "length %u kind %u: record %u after it is 0x%lx, not payload chunk %u of %u", length,
                     static_cast<unsigned>(kind), c, p.word[0], c, recorded)) {
          break;
        }
        for (uint32_t i = 0; i < 3; ++i) {
          const uint32_t w = c * 3 + i;
          uint64_t expected = w >= recorded ? 0 : pattern(0x5000 + length, w);
          if (kind == Kind::Reply && w < recorded) expected = ~expected;
          t.check(p.word[1 + i] == expected, "length %u kind %u: word %u is 0x%lx, expected 0x%lx", length,
                  static_cast<unsigned>(kind), w, p.word[1 + i], expected);
        }
      }
    }
  }
  if (!trace.start(kIpc)) return;
  call_echo(t, session.client, 0x51, 6, 0x5100);
  if (!trace.stop()) return;
  t.check(trace.count_of(Kind::Payload) == 0 && trace.count_of(Kind::Call) == 1, "Payload off: %lu payload records",
          trace.count_of(Kind::Payload));
  if (t.failed()) trace.dump();
}

TESSERA_USER_TEST(TRACE0006, pass, "Switch records name both threads; Syscall records carry number, cptr and info") {
  Env env(t);
  Trace trace(env);
  Job wait;
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  wait.op = Job::Op::Wait;
  wait.cap = notification;
  Peer peer(env, 0);
  if (!trace.ok() || t.failed()) return;
  const uint32_t me = trace_id_of(env, tessera::kSlotRootTcb);
  const uint32_t other = trace_id_of(env, peer.tcb());
  if (!trace.start(tr::kCategoryScheduling | tr::kCategorySyscalls)) return;
  (void)sys::null_syscall();
  if (!peer.run(wait)) return;  // the peer runs (a switch to it) and blocks (a switch back)
  (void)sys::syscall2(tessera::Syscall::Null, 0x1234, 0x5678);
  if (!trace.stop()) return;
  const uint64_t to_peer = trace.find(0, Kind::Switch, [&](const Record& r) { return thread_of(r) == other; });
  if (t.check(to_peer < trace.count(), "no Switch to the peer %u", other)) {
    t.check(object_of(trace.at(to_peer)) == me, "the switch to the peer came from %u, not %u",
            object_of(trace.at(to_peer)), me);
    // The peer may be preempted by a tick before it blocks (a switch back with state 1, runnable):
    // the switch that matters is the one after it blocked.
    const uint64_t back = trace.find(to_peer, Kind::Switch, [&](const Record& r) {
      return thread_of(r) == me && object_of(r) == other && r.word[2] == 2;
    });
    t.check(back < trace.count(), "no Switch back from the blocked peer (state 2)");
  }
  const uint64_t null =
      trace.find(0, Kind::Syscall, [&](const Record& r) { return object_of(r) == 16 && r.word[2] == 0x1234; });
  t.check(null < trace.count() && thread_of(trace.at(null)) == me && trace.at(null).word[3] == 0x5678,
          "no Syscall record of Null(0x1234, 0x5678) by %u", me);
  const uint64_t wait_call = trace.find(0, Kind::Syscall, [&](const Record& r) {
    return thread_of(r) == other && object_of(r) == static_cast<uint32_t>(tessera::Syscall::Recv) &&
           r.word[2] == notification;
  });
  t.check(wait_call < trace.count(), "no Syscall record of the peer's Wait (Recv on %lu)", static_cast<uint64_t>(notification));
  (void)sys::signal(notification);
  t.check(wait_done(wait), "the peer did not wake");
  if (t.failed()) trace.dump();
}

TESSERA_USER_TEST(TRACE0007, pass, "Signal and WaitDone for a notification; Invocation records with label and error") {
  Env env(t);
  Trace trace(env);
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap badged{env, mint(env, notification, kWrite, 0x70)};
  Job wait;
  wait.op = Job::Op::Wait;
  wait.cap = notification;
  Peer peer(env, 0);
  if (!trace.ok() || t.failed()) return;
  const uint32_t me = trace_id_of(env, tessera::kSlotRootTcb);
  const uint32_t waiter = trace_id_of(env, peer.tcb());
  if (!trace.start(tr::kCategoryNotifications | tr::kCategoryInvocations)) return;
  expect_is(t, sys::signal(badged), Error::Ok, "signal nobody waits for");
  uint64_t word = 0;
  expect_is(t, sys::poll(notification, &word), Error::Ok, "poll");
  if (!peer.run(wait)) return;
  expect_is(t, sys::signal(badged), Error::Ok, "signal the waiter");
  t.check(wait_done(wait), "the waiter did not wake");
  (void)env.tcb(tessera::kSlotRootTcb).get_stats();
  expect_error(t, trace.control().set_capacity(7, 8), Error::RangeError, "setCapacity on cpu 7");
  if (!trace.stop()) return;
  const uint64_t s1 = trace.find(0, Kind::Signal);
  if (t.check(s1 < trace.count(), "no Signal record")) {
    const Record& r = trace.at(s1);
    t.check(thread_of(r) == me && object_of(r) != 0 && r.word[2] == 0x70 && r.word[3] == 0,
            "first Signal: thread %u object %u badge 0x%lx woken %lu", thread_of(r), object_of(r), r.word[2], r.word[3]);
    const uint32_t id = object_of(r);
    const uint64_t poll = trace.find(s1, Kind::WaitDone);
    t.check(poll < trace.count() && thread_of(trace.at(poll)) == me && object_of(trace.at(poll)) == id &&
                trace.at(poll).word[2] == 0x70,
            "no WaitDone of the poll with 0x70");
    const uint64_t s2 = trace.find(s1 + 1, Kind::Signal);
    t.check(s2 < trace.count() && trace.at(s2).word[3] == waiter && object_of(trace.at(s2)) == id,
            "second Signal does not name the woken waiter %u", waiter);
    const uint64_t done = trace.find(s2, Kind::WaitDone, [&](const Record& x) { return thread_of(x) == waiter; });
    t.check(done < trace.count() && trace.at(done).word[2] == 0x70 && object_of(trace.at(done)) == id,
            "no WaitDone of the waiter with 0x70");
  }
  const uint64_t stats = trace.find(0, Kind::Invocation, [&](const Record& r) {
    return object_of(r) == kTcbType && r.word[2] == (3u << 16 | 14u);
  });
  t.check(stats < trace.count() && thread_of(trace.at(stats)) == me && trace.at(stats).word[3] == 0,
          "no Invocation record of Tcb.getStats (Ok)");
  const uint64_t bad = trace.find(0, Kind::Invocation, [&](const Record& r) {
    return object_of(r) == kTraceControlType && r.word[2] == trace_label(1);
  });
  t.check(bad < trace.count() && trace.at(bad).word[3] == static_cast<uint64_t>(Error::RangeError),
          "no Invocation record of the refused setCapacity with RangeError");
  if (t.failed()) trace.dump();
}

namespace {
// Reads an unmapped address: a page fault for the thread's fault endpoint.
constexpr uint64_t kUnmapped = 0x7654'3000;
void touch_unmapped(uint64_t) {
  (void)*reinterpret_cast<volatile uint64_t*>(kUnmapped);
  for (;;) (void)sys::yield();
}
}  // namespace

TESSERA_USER_TEST(TRACE0008, pass, "a page fault: a Fault record (vector, ip, address), then FaultMessage to the endpoint") {
  Env env(t);
  Trace trace(env);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  Peer peer(env, 0);
  if (!trace.ok() || t.failed()) return;
  if (!expect_ok(t, env.tcb(peer.tcb()).set_space(endpoint, kRootCNodeRef, 0, kRootVSpaceRef, 0), "fault endpoint")) return;
  const uint32_t faulter = trace_id_of(env, peer.tcb());
  if (!trace.start(tr::kCategoryFaults | kIpc)) return;
  if (!peer.start(touch_unmapped, 0)) return;
  Received fault{};
  Error e = Error::WouldBlock;
  for (int i = 0; i < 200 && e == Error::WouldBlock; ++i) {
    e = sys::nb_recv(endpoint, &fault);
    if (e == Error::WouldBlock) (void)sys::yield();
  }
  const uint64_t fault_ip = buffer().msg[0];
  if (!trace.stop()) return;
  expect_is(t, e, Error::Ok, "the fault message");
  t.check(fault.info.label == static_cast<uint64_t>(tessera::FaultKind::PageFault), "fault label %lu", fault.info.label);
  const uint64_t f = trace.find(0, Kind::Fault);
  if (t.check(f < trace.count(), "no Fault record")) {
    const Record& r = trace.at(f);
    t.check(thread_of(r) == faulter && object_of(r) == 14 && r.word[3] == kUnmapped &&
                r.word[2] == fault_ip,
            "Fault: thread %u vector %u ip 0x%lx address 0x%lx", thread_of(r), object_of(r), r.word[2], r.word[3]);
    const uint64_t m = trace.find(f, Kind::FaultMessage);
    t.check(m < trace.count() && thread_of(trace.at(m)) == faulter && object_of(trace.at(m)) != 0 &&
                info_of(trace.at(m).word[2]).label == static_cast<uint64_t>(tessera::FaultKind::PageFault),
            "no FaultMessage of the page fault after the Fault record");
  }
  expect_ok(t, env.tcb(peer.tcb()).suspend(), "suspend the faulter");
  if (t.failed()) trace.dump();
}

namespace {
uint64_t name_word(const char* s, uint32_t word) {
  uint64_t w = 0;
  for (uint32_t i = 0; i < 8; ++i) {
    const char c = s[word * 8 + i];
    if (c == 0) break;
    w |= static_cast<uint64_t>(static_cast<uint8_t>(c)) << (8 * i);
    if (i == 7) break;
  }
  return w;
}
uint32_t name_thread(const Record& r) { return static_cast<uint32_t>(r.word[0] >> 32); }
}  // namespace

TESSERA_USER_TEST(TRACE0009, pass, "ThreadName: setName records name and id; nameThreads one per live thread; 24 bytes RangeError") {
  Env env(t);
  Trace trace(env);
  Peer peer(env, 0);
  if (!trace.ok() || t.failed()) return;
  const uint32_t me = trace_id_of(env, tessera::kSlotRootTcb);
  const uint32_t other = trace_id_of(env, peer.tcb());
  // Switching on names every thread, these two among them.
  if (!trace.start(tr::kCategorySyscalls)) return;
  const uint64_t named = trace.count_of(Kind::ThreadName);
  t.check(named >= 2, "switching on named %lu threads", named);
  const char* name = "trace-peer-0009";  // 15 bytes
  expect_ok(t, env.tcb(peer.tcb()).set_name(name_word(name, 0), name_word(name, 1), 0), "setName");
  auto full = env.tcb(peer.tcb()).set_name(~0ull, ~0ull, ~0ull);
  expect_error(t, full, Error::RangeError, "24 non-NUL bytes");
  expect_error(t, env.tcb(peer.tcb()).set_name(0, 0, 0x4100000000000000ull), Error::RangeError, "byte 23 not NUL");
  if (!trace.stop()) return;
  const uint64_t at = trace.find(named, Kind::ThreadName, [&](const Record& r) { return name_thread(r) == other; });
  if (t.check(at < trace.count(), "no ThreadName record after setName")) {
    const Record& r = trace.at(at);
    t.check(r.word[1] == name_word(name, 0) && r.word[2] == name_word(name, 1) && r.word[3] == 0,
            "name words 0x%lx 0x%lx 0x%lx", r.word[1], r.word[2], r.word[3]);
    t.check(((r.word[0] >> 8) & 0xFFFFFF) != 0, "space id 0");
  }
  t.check(trace.find(at + 1, Kind::ThreadName) == trace.count(), "a refused setName left a ThreadName record");
  if (!trace.release()) return;
  // nameThreads (tracing off): one record per live thread, each id once, the caller among them.
  auto n = trace.control().name_threads();
  if (!expect_ok(t, n, "nameThreads")) return;
  const uint32_t threads = n->threads();
  t.check(trace.count() == threads && threads == named, "nameThreads: %u threads, %lu records, %lu at switch-on",
          threads, trace.count(), named);
  bool found_me = false, found_other = false;
  for (uint64_t i = 0; i < trace.count(); ++i) {
    const Record& r = trace.at(i);
    if (!t.check(tr::kind_of(r) == Kind::ThreadName, "record %lu is kind %u", i, static_cast<unsigned>(tr::kind_of(r)))) break;
    for (uint64_t j = 0; j < i; ++j) t.check(name_thread(trace.at(j)) != name_thread(r), "thread %u named twice", name_thread(r));
    found_me |= name_thread(r) == me;
    if (name_thread(r) == other) {
      found_other = true;
      t.check(r.word[1] == name_word(name, 0), "the peer's name is not the one set");
    }
  }
  t.check(found_me && found_other, "nameThreads missed the test thread or the peer");
}

TESSERA_USER_TEST(TRACE0010, pass, "a ring of 8: written - consumed == 8, dropped exactly the surplus; setCapacity discards and counts") {
  Env env(t);
  Trace trace(env);
  if (!trace.ok() || !trace.release()) return;
  auto c = trace.control();
  // nameThreads writes one record per thread; setCapacity discards them and says how many.
  auto n = c.name_threads();
  if (!expect_ok(t, n, "nameThreads")) return;
  const uint64_t threads = n->threads();
  auto s0 = c.status(0);
  if (!expect_ok(t, s0, "status")) return;
  const uint64_t dropped0 = s0->dropped();
  auto d = c.set_capacity(0, 8);
  if (!expect_ok(t, d, "setCapacity 8")) return;
  t.check(d->discarded() == threads, "discarded %lu, expected %lu unread", d->discarded(), threads);
  t.check(trace.header().dropped == dropped0 + threads && trace.header().capacity == 8 &&
              trace.header().written == trace.header().consumed && trace.header().base == trace.header().written,
          "after setCapacity: dropped %lu (was %lu) capacity %lu written %lu consumed %lu base %lu", trace.header().dropped,
          dropped0, trace.header().capacity, trace.header().written, trace.header().consumed, trace.header().base);
  const uint64_t start = trace.header().written;
  // Switching on: one ThreadName per thread; then 40 Null calls and the switch-off: one Syscall record each.
  constexpr uint64_t kCalls = 40;
  if (!expect_ok(t, c.set_categories(tr::kCategorySyscalls), "on")) return;
  for (uint64_t i = 0; i < kCalls; ++i) (void)sys::syscall2(tessera::Syscall::Null, i, 0);
  if (!expect_ok(t, c.set_categories(0), "off")) return;
  const uint64_t events = threads + kCalls + 1;
  t.check(trace.header().written - start == 8 && trace.header().written - trace.header().consumed == 8,
          "written %lu of %lu events into a ring of 8", trace.header().written - start, events);
  t.check(trace.header().dropped - (dropped0 + threads) == events - 8, "dropped %lu, expected exactly %lu",
          trace.header().dropped - (dropped0 + threads), events - 8);
  // The ring holds the first 8 events, in order.
  for (uint64_t i = 0; i < 8; ++i) {
    const Kind k = tr::kind_of(trace.at(i));
    const Kind expected = i < threads ? Kind::ThreadName : Kind::Syscall;
    t.check(k == expected, "record %lu is kind %u, expected %u", i, static_cast<unsigned>(k), static_cast<unsigned>(expected));
  }
  // consume: backwards and beyond written are refused; part of it frees exactly that much room.
  const uint64_t written = trace.header().written, consumed = trace.header().consumed;
  expect_error(t, c.consume(0, written + 1), Error::RangeError, "consume beyond written");
  expect_error(t, c.consume(0, consumed - 1), Error::RangeError, "consume backwards");
  expect_error(t, c.consume(0, ~0ull), Error::RangeError, "consume 2^64-1");
  if (!expect_ok(t, c.consume(0, consumed + 3), "consume 3")) return;
  expect_error(t, c.consume(0, consumed + 2), Error::RangeError, "consume before the last consume");
  const uint64_t dropped1 = trace.header().dropped;
  if (!expect_ok(t, c.set_categories(tr::kCategorySyscalls), "on again")) return;  // threads more names
  for (uint64_t i = 0; i < kCalls; ++i) (void)sys::syscall2(tessera::Syscall::Null, 0x100 + i, 0);
  if (!expect_ok(t, c.set_categories(0), "off again")) return;
  t.check(trace.header().written == written + 3 && trace.header().dropped == dropped1 + threads + kCalls + 1 - 3,
          "after consuming 3: written +%lu (expected 3), dropped +%lu (expected %lu)", trace.header().written - written,
          trace.header().dropped - dropped1, threads + kCalls + 1 - 3);
  // The slots wrapped: records 8..10 went to slots 0..2.
  t.check(tr::kind_of(trace.at(7)) != Kind::Invalid && trace.count() == 8, "after the wrap: %lu unread", trace.count());
  // setCapacity with 8 unread: discarded 8, counted as dropped.
  const uint64_t dropped2 = trace.header().dropped;
  auto d4 = c.set_capacity(0, 4);
  t.check(d4.ok() && d4->discarded() == 8 && trace.header().dropped == dropped2 + 8 && trace.header().capacity == 4,
          "setCapacity with 8 unread: discarded %lu dropped +%lu", d4.ok() ? d4->discarded() : 0,
          trace.header().dropped - dropped2);
  auto s = c.status(0);
  if (expect_ok(t, s, "status")) {
    t.check(s->capacity() == 4 && s->written() == trace.header().written && s->consumed() == s->written() &&
                s->base() == s->written() && s->dropped() == trace.header().dropped,
            "status: capacity %u written %lu consumed %lu base %lu", s->capacity(), s->written(), s->consumed(), s->base());
  }
}

TESSERA_USER_TEST(TRACE0011, pass, "setCapacity bounds 4..65408; a bogus cpu index RangeError for every per-CPU method") {
  Env env(t);
  Trace trace(env);
  if (!trace.ok()) return;
  auto c = trace.control();
  const uint32_t max = static_cast<uint32_t>(trace.header().max_capacity);
  expect_error(t, c.set_capacity(0, 0), Error::RangeError, "capacity 0");
  expect_error(t, c.set_capacity(0, 3), Error::RangeError, "capacity 3");
  expect_error(t, c.set_capacity(0, max + 1), Error::RangeError, "capacity max + 1");
  expect_error(t, c.set_capacity(0, ~0u), Error::RangeError, "capacity 2^32-1");
  t.check(trace.header().capacity == max, "a refused setCapacity changed the capacity to %lu", trace.header().capacity);
  expect_ok(t, c.set_capacity(0, 4), "capacity 4");
  t.check(trace.header().capacity == 4, "capacity %lu", trace.header().capacity);
  expect_ok(t, c.set_capacity(0, max), "capacity max");
  const uint32_t cpus[] = {1u, 2u, 255u, 0x80000000u, ~0u};
  for (uint32_t cpu : cpus) {
    expect_error(t, c.set_capacity(cpu, 8), Error::RangeError, "setCapacity, bad cpu");
    expect_error(t, c.consume(cpu, 0), Error::RangeError, "consume, bad cpu");
    expect_error(t, c.status(cpu), Error::RangeError, "status, bad cpu");
  }
  t.check(trace.header().capacity == max, "capacity %lu after bad cpus", trace.header().capacity);
}

TESSERA_USER_TEST(TRACE0012, pass, "rights: Read-only and Write-only TraceControl; the ring frame stays read-only") {
  Env env(t);
  Trace trace(env);
  if (!trace.ok()) return;
  OwnedCap read_only{env, env.copy(tessera::kSlotTraceControl, kRead)};
  OwnedCap write_only{env, env.copy(tessera::kSlotTraceControl, kWrite)};
  OwnedCap none{env, env.copy(tessera::kSlotTraceControl, tessera::abi::kRightGrant)};
  if (t.failed()) return;
  Client<tessera::abi::TraceControl> ro{env.kernel, read_only}, wo{env.kernel, write_only}, no{env.kernel, none};
  expect_error(t, ro.set_categories(kIpc), Error::InsufficientRights, "setCategories without Write");
  expect_error(t, ro.set_capacity(0, 8), Error::InsufficientRights, "setCapacity without Write");
  t.check(trace.header().categories == 0 && trace.header().capacity == trace.header().max_capacity,
          "a refused call changed the ring");
  expect_ok(t, ro.status(0), "status with Read");
  expect_ok(t, ro.consume(0, trace.header().written), "consume with Read");
  expect_error(t, wo.status(0), Error::InsufficientRights, "status without Read");
  expect_error(t, wo.consume(0, trace.header().written), Error::InsufficientRights, "consume without Read");
  expect_error(t, wo.name_threads(), Error::InsufficientRights, "nameThreads without Read");
  auto p = wo.set_categories(0);
  expect_ok(t, p, "setCategories with Write");
  expect_error(t, no.set_categories(kIpc), Error::InsufficientRights, "setCategories with Grant only");
  expect_error(t, no.status(0), Error::InsufficientRights, "status with Grant only");
  // The ring frame: never writable, however it is copied.
  OwnedCap minted{env, mint(env, trace.ring_cap(), kAllRights)};
  OwnedCap copied{env, env.copy(trace.ring_cap())};
  if (t.failed()) return;
  constexpr uint64_t kOther = kRingWindow + (2u << 20);
  const CPtr rings[] = {CPtr{minted}, CPtr{copied}};  // (the original is mapped already)
  for (CPtr ring : rings) {
    expect_error(t, env.frame(ring).map(kRootVSpaceRef, kOther, kRead | kWrite, kExecuteNever), Error::InsufficientRights,
                 "map the ring writable");
  }
  if (env.map(tessera::kSlotRootVSpace, minted, kOther, kRead, kExecuteNever, tessera::sys::PageSize::k2M)) {
    t.check(reinterpret_cast<const volatile RingHeader*>(kOther)->max_capacity == trace.header().max_capacity,
            "the second mapping shows another header");
    expect_ok(t, env.frame(minted).unmap(), "unmap the second mapping");
  }
  // Other objects do not answer TraceControl's methods, and TraceControl not theirs.
  OwnedCap endpoint_free{env, env.make(ObjectType::Notification)};
  const CPtr others[] = {CPtr{tessera::kSlotRootTcb}, trace.ring_cap(), CPtr{endpoint_free},
                         CPtr{tessera::kSlotRootCNode}, CPtr{tessera::kSlotSchedControl}};
  for (CPtr other : others) {
    for (uint64_t method = 0; method < 5; ++method) {
      buffer().msg[0] = 0;
      buffer().msg[1] = 0;
      Received r{};
      const Error e = sys::call(other, MessageInfo{trace_label(method), 2, 0, 0}, &r);
      t.check(e != Error::Ok || r.info.label != 0, "TraceControl method %lu on slot %lu answered Ok", method, other);
    }
  }
  Received r{};
  const Error e = sys::call(tessera::kSlotTraceControl, MessageInfo{3u << 16 | 14u, 0, 0, 0}, &r);
  t.check(e != Error::Ok || r.info.label != 0, "Tcb.getStats on TraceControl answered Ok");
  t.check(trace.header().categories == 0, "categories %u", trace.header().categories);
}

TESSERA_USER_TEST(TRACE0013, pass, "malformed TraceControl messages: errors, never a panic; the state is unchanged") {
  Env env(t);
  Trace trace(env);
  if (!trace.ok()) return;
  uint64_t state = 0x13579BDF2468ACE0ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const uint64_t capacity = trace.header().capacity;
  uint32_t ok = 0;
  for (uint32_t i = 0; i < 3000; ++i) {
    const uint64_t method = i < 1000 ? next() % 8 : next() & 0xFFFF;
    const uint64_t label = i % 7 == 0 ? (next() & 0xFFFFF) : trace_label(method);
    const uint32_t length = static_cast<uint32_t>(next() % 10);
    for (uint32_t w = 0; w < kMessageWords; ++w) buffer().msg[w] = next();
    Received r{};
    const Error e = sys::call(tessera::kSlotTraceControl, MessageInfo{label, length, 0, 0}, &r);
    if (e == Error::Ok && r.info.label == 0) {
      ++ok;
      // Whatever was accepted must have been harmless or is undone here.
      (void)trace.control().set_categories(0);
      if (trace.header().capacity != capacity) (void)trace.control().set_capacity(0, static_cast<uint32_t>(capacity));
    }
  }
  sys::print("# %u of 3000 garbage messages were accepted\n", ok);
  auto s = trace.control().status(0);
  if (expect_ok(t, s, "status after the garbage")) t.check(s->categories() == 0 && s->capacity() == capacity, "state changed");
  // Messages of the right labels with wrong lengths.
  for (uint64_t method = 0; method < 5; ++method) {
    for (uint32_t length = 0; length < 3; ++length) {
      for (uint32_t w = 0; w < kMessageWords; ++w) buffer().msg[w] = ~0ull;
      Received r{};
      const Error e = sys::call(tessera::kSlotTraceControl, MessageInfo{trace_label(method), length, 1, 0}, &r);
      (void)e;
    }
  }
  (void)trace.control().set_categories(0);
  expect_ok(t, trace.control().status(0), "status at the end");
}

TESSERA_USER_TEST(TRACE0014, pass, "hostile: the mapped ring's cap deleted and revoked while tracing goes on; a reader that never consumes") {
  Env env(t);
  Trace trace(env);
  EchoSession session(env);
  if (!trace.ok() || !session.started) return;
  auto c = trace.control();
  // A copy of the ring mapped elsewhere, deleted while everything is traced.
  constexpr uint64_t kOther = kRingWindow + (2u << 20);
  const CPtr copy = env.copy(trace.ring_cap());
  if (copy == 0 || !env.map(tessera::kSlotRootVSpace, copy, kOther, kRead, kExecuteNever, tessera::sys::PageSize::k2M)) return;
  if (!trace.start(tr::kCategoryAll)) return;
  call_echo(t, session.client, 0x60, 8, 0x6000);
  env.drop(copy);  // unmaps it
  call_echo(t, session.client, 0x61, 8, 0x6001);
  // A copy of the copy, revoked from the parent while mapped.
  const CPtr parent = env.copy(trace.ring_cap());
  const CPtr child = parent != 0 ? env.copy(parent) : 0;
  if (child != 0 && env.map(tessera::kSlotRootVSpace, child, kOther, kRead, kExecuteNever, tessera::sys::PageSize::k2M)) {
    expect_ok(t, env.root().revoke(parent, kSlotDepth), "revoke the mapped copy");
    t.check(env.is_empty(child), "revoke left the child");
    (void)env.slots.free(child);
  }
  if (parent != 0) env.drop(parent);
  call_echo(t, session.client, 0x62, 8, 0x6002);
  if (!trace.stop()) return;
  t.check(trace.count_of(Kind::Call) == 3, "%lu Call records through the hostile part", trace.count_of(Kind::Call));
  // A reader that never consumes: the full ring fills, the system goes on, every event is counted.
  if (!trace.start(tr::kCategorySyscalls)) return;
  const uint64_t max = trace.header().max_capacity;
  for (uint64_t i = 0; i < max + 1000; ++i) (void)sys::null_syscall();
  const uint64_t dropped0 = trace.header().dropped;
  for (uint32_t i = 0; i < 10; ++i) call_echo(t, session.client, 0x70 + i, 3, 0x7000 + i);
  if (!trace.stop()) return;
  t.check(trace.count() == max, "a full ring holds %lu of %lu", trace.count(), max);
  t.check(trace.header().dropped >= dropped0 + 21, "dropped +%lu while the ring was full", trace.header().dropped - dropped0);
  // Emptying it by setCapacity with everything unread.
  const uint64_t dropped1 = trace.header().dropped;
  auto d = c.set_capacity(0, static_cast<uint32_t>(max));
  t.check(d.ok() && d->discarded() == max && trace.header().dropped == dropped1 + max, "discarded %lu of a full ring",
          d.ok() ? d->discarded() : 0);
  call_echo(t, session.client, 0x7F, 3, 0x7F00);
}
