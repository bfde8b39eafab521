// MEMORY tests of several programs on one server: sharing regions (read-write and read-only),
// faults the pager cannot resolve and how the supervisor hears of them, a hostile program
// exhausting its own quota, a client vanishing mid-use, and a storm of malformed messages.
#include <tessera/capnp/builder.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>

#include "memory_env.h"

namespace {
using namespace memtest;

constexpr uint64_t kChildQuota = 6 * kMiB;
constexpr uint64_t kFixed = 0x0000500000000000ull;

// proctest's fill pattern (tests/programs/proctest/main.cc).
uint8_t pattern(uint64_t i, uint8_t salt) { return static_cast<uint8_t>((i * 131 + salt) ^ (i >> 9)); }

bool sent(Context& t, Error e, const char* what) { return t.check(e == Error::Ok, "%s: %s", what, error_name(e)); }

bool exited_ok(Context& t, const Child& c, const char* who) {
  if (c.faulted) {
    return t.check(false, "%s faulted: kind %lu at 0x%lx (ip 0x%lx)", who, c.fault.kind, c.fault.address, c.fault.ip);
  }
  return t.check(c.exited && c.status == 0, "%s: status %ld (proctest's failed check)", who, c.status);
}

TESSERA_USER_TEST(MEMORY0006, pass, "a region shared read-write between two programs: each sees the other's bytes") {
  MemEnv m(t);
  if (!m.ready()) return;
  const CPtr peer = m.env.make(ObjectType::Endpoint);
  const ServerStatus before = m.server_status();
  const sys::Grant grants[] = {{"endpoint:peer", peer, kAllRights, 0}};
  const int b = m.spawn("sharer-b", "mem-share-b", kChildQuota, grants, 1);
  const int a = m.spawn("sharer-a", "mem-share-a", kChildQuota, grants, 1);
  if (a >= 0 && b >= 0 && m.wait((1u << a) | (1u << b))) {
    exited_ok(t, m.child(static_cast<uint32_t>(a)), "A");
    exited_ok(t, m.child(static_cast<uint32_t>(b)), "B");
  }
  t.check(m.server_status() == before, "memory back after both ended");
  m.env.drop(peer);
}

TESSERA_USER_TEST(MEMORY0007, pass, "read-only sharing: write access is refused; a write through it ends only the writer, the creator finishes") {
  MemEnv m(t);
  if (!m.ready()) return;
  const CPtr peer = m.env.make(ObjectType::Endpoint);
  const ServerStatus before = m.server_status();
  const sys::Grant grants[] = {{"endpoint:peer", peer, kAllRights, 0}};
  const int b = m.spawn("reader", "mem-ro-b", kChildQuota, grants, 1);
  const int a = m.spawn("creator", "mem-ro-a", kChildQuota, grants, 1);
  if (a < 0 || b < 0 || !m.wait(1u << b)) {
    m.env.drop(peer);
    return;
  }
  const Child& reader = m.child(static_cast<uint32_t>(b));
  if (t.check(reader.faulted, "the reader was not reported (exited %d, status %ld)", reader.exited, reader.status)) {
    t.check(reader.fault.session == reader.session, "reported session %u, the reader's is %u", reader.fault.session,
            reader.session);
    t.check(reader.fault.kind == static_cast<uint64_t>(tessera::FaultKind::PageFault), "kind %lu", reader.fault.kind);
    t.check(reader.fault.address == proto::kPlacementBase + 100 && (reader.fault.detail & 2) != 0,
            "a write at 0x%lx (error 0x%lx), expected at 0x%lx", reader.fault.address, reader.fault.detail,
            proto::kPlacementBase + 100);
  }
  const Child& creator = m.child(static_cast<uint32_t>(a));
  t.check(!creator.ended, "the creator ended with the reader");
  t.check(m.server_status().sessions == before.sessions + 1, "only the reader's session is gone");
  sent(t, sys::send(peer, sys::MessageInfo{9, 0, 0, 0}), "tell the creator");
  if (m.wait(1u << a)) exited_ok(t, creator, "the creator");
  t.check(m.stray_reports() == 0, "%u fault reports of no child", m.stray_reports());
  t.check(m.server_status() == before, "memory back after both ended");
  m.env.drop(peer);
}

TESSERA_USER_TEST(MEMORY0009, pass, "a program making regions in a loop exhausts only its own share and quota; the others are untouched and served; all comes back") {
  MemEnv m(t);
  Dummy other;
  if (!m.ready()) return;
  const ServerStatus at_start = m.server_status();
  if (!m.open_dummy(&other, "bystander", 2 * kMiB)) return;
  auto kept = other.session.create_region(4 * kPage, proto::PageSize::Small, true);
  if (!expect_ok(t, kept, "the bystander's region")) return;
  expect_ok(t, other.session.attach(kept->cap(), kFixed, kRW), "attach");
  auto other_before = other.session.status();
  const CPtr peer = m.env.make(ObjectType::Endpoint);
  const ServerStatus before = m.server_status();
  const sys::Grant grants[] = {{"endpoint:peer", peer, kAllRights, 0}};
  constexpr uint64_t kQuota = 4 * kMiB;
  const int h = m.spawn("hostile", "mem-hostile", kQuota, grants, 1);
  sys::Received in{};
  if (h >= 0 && m.receive(peer, &in)) {
    const uint64_t count = m.received_words[0], frames = m.received_words[2];
    const auto error = static_cast<Error>(m.received_words[1]);
    const auto frames_error = static_cast<Error>(m.received_words[3]);
    t.note("the hostile program made %lu regions, then %s; backed %lu frames, then %s", count, error_name(error), frames,
           error_name(frames_error));
    t.check(in.info.label == 2 && error == Error::OutOfMemory && frames_error == Error::OutOfMemory,
            "label %lu, it ended with %s and %s", in.info.label, error_name(error), error_name(frames_error));
    sys::MemorySession hostile = m.child_session(static_cast<uint32_t>(h));
    auto hs = hostile.status();
    if (expect_ok(t, hs, "the hostile session's status")) {
      t.note("used %lu of %lu (+%lu granted), %u regions, %u attachments", hs->used, hs->quota, hs->granted,
             hs->regions, hs->attachments);
      // Within one page (and its records) of the limit.
      t.check(hs->used <= hs->quota + hs->granted && hs->used + kPage + 1024 > hs->quota + hs->granted,
              "the hostile program stopped at %lu of %lu: not at its quota", hs->used, hs->quota + hs->granted);
      t.check(hs->regions < 1024 / 4, "the hostile program holds %u regions", hs->regions);
    }
    auto other_now = other.session.status();
    t.check(other_before.ok() && other_now.ok() && other_now->used == other_before->used &&
                other_now->regions == other_before->regions && other_now->attachments == other_before->attachments,
            "the bystander's status changed");
    auto more = other.session.create_region(8 * kPage, proto::PageSize::Small, true);
    if (expect_ok(t, more, "the bystander makes a region while the hostile one holds everything it could")) {
      expect_ok(t, other.session.attach(more->cap(), kFixed + kMiB, kRW), "and attaches it");
      expect_ok(t, more->release(), "release");
    }
    sent(t, sys::send(peer, sys::MessageInfo{0, 0, 0, 0}), "let the hostile program go");
    if (m.wait(1u << h)) exited_ok(t, m.child(static_cast<uint32_t>(h)), "the hostile program");
  }
  const ServerStatus after = m.server_status();
  t.check(after == before, "free %lu -> %lu, frames %lu -> %lu, regions %u -> %u", before.free, after.free,
          before.frames, after.frames, before.regions, after.regions);
  m.env.drop(peer);
  expect_ok(t, kept->release(), "release");
  m.close_dummy(&other);
  t.check(m.server_status() == at_start, "memory back after the bystander's session closed");
}

TESSERA_USER_TEST(MEMORY0010, pass, "a fault outside every region is reported with the program's session and ends only that program") {
  MemEnv m(t);
  if (!m.ready()) return;
  const CPtr peer = m.env.make(ObjectType::Endpoint);
  const ServerStatus before = m.server_status();
  const sys::Grant grants[] = {{"endpoint:peer", peer, kAllRights, 0}};
  const int w = m.spawn("waiter", "mem-wait", kChildQuota, grants, 1);
  const int f = m.spawn("faulter", "fault", kChildQuota);
  if (w >= 0 && f >= 0 && m.wait(1u << f)) {
    const Child& faulter = m.child(static_cast<uint32_t>(f));
    t.check(faulter.faulted && faulter.fault.session == faulter.session &&
                faulter.fault.kind == static_cast<uint64_t>(tessera::FaultKind::PageFault) &&
                faulter.fault.address == 0x10,
            "report: faulted %d, session %u (the faulter's %u), kind %lu, address 0x%lx", faulter.faulted,
            faulter.fault.session, faulter.session, faulter.fault.kind, faulter.fault.address);
    t.check(!m.child(static_cast<uint32_t>(w)).ended, "the other program ended too");
    t.check(m.server_status().sessions == before.sessions + 1, "the faulter's session is not closed");
    sent(t, sys::send(peer, sys::MessageInfo{1, 0, 0, 0}), "wake the other program");
    if (m.wait(1u << w)) exited_ok(t, m.child(static_cast<uint32_t>(w)), "the other program");
  }
  t.check(m.stray_reports() == 0, "%u fault reports of no child", m.stray_reports());
  t.check(m.server_status() == before, "memory back");
  m.env.drop(peer);
}

TESSERA_USER_TEST(MEMORY0011, pass, "touching a lazy region larger than the quota: the fault beyond it goes to the supervisor") {
  MemEnv m(t);
  if (!m.ready()) return;
  const ServerStatus before = m.server_status();
  constexpr uint64_t kQuota = 4 * kMiB;
  const int g = m.spawn("greedy", "mem-overquota", kQuota);
  if (g >= 0 && m.wait(1u << g)) {
    const Child& c = m.child(static_cast<uint32_t>(g));
    if (t.check(c.faulted, "not reported (exited %d with %ld)", c.exited, c.status)) {
      t.check(c.fault.session == c.session && c.fault.kind == static_cast<uint64_t>(tessera::FaultKind::PageFault),
              "session %u kind %lu", c.fault.session, c.fault.kind);
      t.check(c.fault.address > proto::kPlacementBase && c.fault.address < proto::kPlacementBase + 2 * kQuota,
              "the fault at 0x%lx is not inside the region", c.fault.address);
      t.check(c.used_at_fault <= c.limit_at_fault && c.used_at_fault + 3 * (kPage + 1024) > c.limit_at_fault,
              "used %lu of %lu when it faulted", c.used_at_fault, c.limit_at_fault);
    }
  }
  t.check(m.server_status() == before, "memory back");
}

TESSERA_USER_TEST(MEMORY0020, pass, "a program destroyed mid-use: the other holder keeps the shared region, everything else comes back") {
  MemEnv m(t);
  Dummy other;
  if (!m.ready()) return;
  const ServerStatus at_start = m.server_status();
  if (!m.open_dummy(&other, "survivor", 2 * kMiB)) return;
  const CPtr peer = m.env.make(ObjectType::Endpoint);
  const CPtr shared = m.env.slot();
  const ServerStatus before = m.server_status();
  const sys::Grant grants[] = {{"endpoint:peer", peer, kAllRights, 0}};
  const int v = m.spawn("vanisher", "mem-vanish", kChildQuota, grants, 1);
  sys::Received in{};
  if (v >= 0 && m.receive(peer, &in, shared)) {
    t.check(in.info.label == 3 && in.info.extra_caps == 1, "label %lu with %u caps", in.info.label, in.info.extra_caps);
    expect_ok(t, other.session.attach(shared, kFixed, kRW), "the survivor attaches the shared region");
    // No receive from here on: the vanisher is still in its call when it is destroyed.
    m.end(static_cast<uint32_t>(v));
    const ServerStatus now = m.server_status();
    t.check(now.sessions == before.sessions && now.frames == before.frames + 4 && now.regions == before.regions + 1,
            "after the vanisher: %u sessions (%u before), %lu frames (%lu + 4), %u regions", now.sessions,
            before.sessions, now.frames, before.frames, now.regions);
    auto info = other.session.describe(shared);
    t.check(info.ok() && info->backed_pages == 4, "the shared region: %s", error_name(info.error()));
    if (const CPtr page = m.peek(other.session, shared, 2); page != 0) {
      const auto* bytes = reinterpret_cast<const volatile uint8_t*>(kPeekAddress);
      bool same = true;
      for (uint64_t i = 0; i < kPage; ++i) same = same && bytes[i] == pattern(2 * kPage + i, 0xC);
      t.check(same, "the survivor sees the vanisher's bytes");
      m.env.drop(page);
    }
    auto st = other.session.status();
    t.check(st.ok() && st->attachments == 1 && st->regions == 1, "the survivor: %u attachments, %u regions",
            st.ok() ? st->attachments : 0, st.ok() ? st->regions : 0);
    expect_ok(t, other.session.release(shared), "the survivor releases it");
  }
  m.env.drop(shared);
  const ServerStatus after = m.server_status();
  t.check(after.frames == before.frames && after.regions == before.regions && after.sessions == before.sessions,
          "frames, regions or sessions not back");
  m.env.drop(peer);
  m.close_dummy(&other);
  t.check(m.server_status() == at_start, "memory back after the survivor's session closed");
}

// ---- Malformed messages ---------------------------------------------------------------------------

Error raw_call(CPtr cap, uint64_t label, const uint64_t* words, uint32_t length, uint32_t caps) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  for (uint32_t i = 0; i < length; ++i) buffer->msg[i] = words[i];
  sys::Received reply{};
  const Error e = sys::call(cap, tessera::capnp::MessageInfo{label, length, caps, 0}, &reply);
  if (e != Error::Ok) return e;
  return tessera::capnp::error_from_label(reply.info.label, tessera::kErrorCount);
}

uint64_t next_random(uint64_t* state) {  // xorshift64*
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 0x2545F4914F6CDD1Dull;
}

TESSERA_USER_TEST(MEMORY0017, pass, "10,000 malformed and hostile messages on a session: refused, the server keeps serving, no frame lost") {
  MemEnv m(t);
  Dummy d;
  if (!m.ready() || !m.open_dummy(&d, "storm", 4 * kMiB)) return;
  using Session = proto::Session;
  using Control = proto::Control;
  auto region = d.session.create_region(4 * kPage, proto::PageSize::Small, true);
  const CPtr stray_frame = m.env.make(ObjectType::Frame4k), stray_note = m.env.make(ObjectType::Notification);
  const CPtr stray_endpoint = m.env.make(ObjectType::Endpoint);
  if (!expect_ok(t, region, "createRegion") || t.failed()) return;
  expect_ok(t, d.session.attach(region->cap(), kFixed, kRW), "attach");
  const ServerStatus before = m.server_status();
  auto session_before = d.session.status();
  const CPtr session = d.opened.session;

  // A valid attach (a region argument) and a valid createRegion, to cut short and to decorate.
  uint64_t attach_words[16] = {};
  tessera::capnp::MessageBuilder attach_builder(attach_words, 16);
  auto attach = attach_builder.init_root_as<Session::AttachParams>();
  attach.set_address(kFixed + kMiB);
  attach.set_rights(kRW);
  // The region travels as the message's capability (caps_or_badges), which the server reads.
  const uint32_t attach_length = attach_builder.finish().value_or(0);
  uint64_t create_words[16] = {};
  tessera::capnp::MessageBuilder create_builder(create_words, 16);
  auto create = create_builder.init_root_as<Session::CreateRegionParams>();
  create.set_bytes(kPage);
  create.set_eager(true);
  const uint32_t create_length = create_builder.finish().value_or(0);
  t.check(attach_length > 1 && create_length > 1, "encode the messages (%u and %u words)", attach_length, create_length);

  const CPtr bogus[] = {stray_frame, stray_note, stray_endpoint, session, sys::kBootInfoServiceSlot,
                        tessera::kSlotRootCNode};
  uint64_t state = 0x3e30f7;
  uint64_t words[tessera::kMessageWords];
  uint32_t refused = 0, accepted_bad = 0, call_failures = 0, wrong_error = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t kind = i % 6;
    Error e = Error::Ok;
    if (kind == 0) {  // random words under a Session label
      const uint32_t length = 1 + static_cast<uint32_t>(next_random(&state) % 24);
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      // Not reserve (random words there are a valid request) nor createRegion.
      const auto method = static_cast<Session::Method>(1 + next_random(&state) % 9);
      e = raw_call(session, Session::label(method), words, length, 0);
    } else if (kind == 1) {  // a label of no method; never 1..3, the pager's fault labels
      uint64_t label = next_random(&state) & 0xFFFFFFFFFFull;
      if (Session::method_of(label).ok() || label <= 3) label |= 0x0F0000000000ull;
      e = raw_call(session, label, create_words, create_length, 0);
    } else if (kind == 2) {  // a valid createRegion cut short
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % create_length);
      e = raw_call(session, Session::label(Session::Method::CreateRegion), create_words, length, 0);
    } else if (kind == 3) {  // a capability that is no region of this server
      sys::ipc_buffer()->caps_or_badges[0] = bogus[next_random(&state) % (sizeof(bogus) / sizeof(bogus[0]))];
      e = raw_call(session, Session::label(Session::Method::Attach), attach_words, attach_length, 1);
      if (e != Error::InvalidCapability) {
        if (wrong_error == 0) t.note("a bogus region capability: %s", error_name(e));
        ++wrong_error;
      }
    } else if (kind == 4) {  // Control's methods on a session
      const auto method = static_cast<Control::Method>(next_random(&state) % Control::kMethodCount);
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % 8);
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(session, Control::label(method), words, length, 0);
      if (e != Error::IllegalOperation) ++wrong_error;
    } else {  // Session's methods on a region capability
      const auto method = static_cast<Session::Method>(next_random(&state) % Session::kMethodCount);
      e = raw_call(region->cap(), Session::label(method), create_words, create_length, 0);
      // A region capability has Write only: the kernel refuses a call through it.
      if (e != Error::InsufficientRights) ++wrong_error;
    }
    if (e != Error::Ok) ++refused;
    if (kind != 0 && e == Error::Ok) ++accepted_bad;
    if (e == Error::FailedLookup || e == Error::EmptySlot || e == Error::ObjectDeleted || e == Error::NoReply ||
        (e == Error::InsufficientRights && kind != 5)) {
      ++call_failures;
    }
  }
  sys::ipc_buffer()->caps_or_badges[0] = 0;
  t.note("%u of 10,000 messages refused", refused);
  t.check(accepted_bad == 0, "%u malformed messages were accepted", accepted_bad);
  t.check(wrong_error == 0, "%u answered with the wrong error", wrong_error);
  t.check(call_failures == 0, "%u calls failed at the system-call level (server gone?)", call_failures);
  t.check(refused >= 9000, "only %u refused", refused);
  const ServerStatus after = m.server_status();
  t.check(after == before, "free %lu -> %lu, frames %lu -> %lu, regions %u -> %u", before.free, after.free,
          before.frames, after.frames, before.regions, after.regions);
  auto session_after = d.session.status();
  t.check(session_before.ok() && session_after.ok() && session_after->used == session_before->used &&
              session_after->regions == session_before->regions &&
              session_after->attachments == session_before->attachments,
          "the session's books changed");
  // Still serving.
  auto fresh = d.session.create_region(kPage, proto::PageSize::Small, true);
  if (expect_ok(t, fresh, "createRegion after the storm")) expect_ok(t, fresh->release(), "release");
  expect_ok(t, region->release(), "release");
  m.env.drop(stray_endpoint);
  m.env.drop(stray_note);
  m.env.drop(stray_frame);
  m.close_dummy(&d);
}

}  // namespace
