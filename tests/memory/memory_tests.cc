// MEMORY tests of one program or of sessions the test holds itself (docs/memory.md): regions,
// attachments, the errors of each method, quotas, the allocation model, frames, revoke and
// release, and a storm of malformed messages. Sharing between programs and the supervisor's side
// (fault reports) are in memory_sharing_tests.cc.
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>

#include "memory_env.h"

namespace {
using namespace memtest;

constexpr uint64_t kChildQuota = 6 * kMiB;
constexpr uint64_t kFixed = 0x0000500000000000ull;  // an address outside the placement window

// Runs proctest `argument` on a session of `quota` and checks that it exits with status 0.
void run_child(Context& t, const char* argument, uint64_t quota = kChildQuota) {
  MemEnv m(t);
  if (!m.ready()) return;
  const ServerStatus before = m.server_status();
  const int c = m.spawn("child", argument, quota);
  if (c < 0 || !m.wait(1u << c)) return;
  const Child& child = m.child(static_cast<uint32_t>(c));
  if (child.faulted) {
    t.check(false, "the child faulted: kind %lu at 0x%lx (ip 0x%lx)", child.fault.kind, child.fault.address,
            child.fault.ip);
    return;
  }
  t.check(child.exited && child.status == 0, "%s: status %ld (the number of proctest's failed check)", argument,
          child.status);
  t.check(m.server_status() == before, "the server's memory is not back after the child ended");
}

TESSERA_USER_TEST(MEMORY0001, pass, "a lazy region reads zero on first touch, keeps writes, one resolved fault a page") {
  run_child(t, "mem-lazy");
}

TESSERA_USER_TEST(MEMORY0002, pass, "an eager region is backed when made and mapped by attach: touching it faults no more") {
  run_child(t, "mem-eager");
}

TESSERA_USER_TEST(MEMORY0003, pass, "attach, detach, reattach elsewhere sees the same bytes; two attachments alias; double detach is EmptySlot") {
  run_child(t, "mem-reattach");
}

TESSERA_USER_TEST(MEMORY0004, pass, "attach and createRegion refuse bad addresses and sizes: AlignmentError, DeleteFirst, RangeError") {
  MemEnv m(t);
  Dummy d;
  if (!m.ready() || !m.open_dummy(&d, "errors", 4 * kMiB)) return;
  sys::MemorySession& s = d.session;
  auto region = s.create_region(4 * kPage, proto::PageSize::Small, false);
  auto large = s.create_region(proto::kLargePageBytes, proto::PageSize::Large, false);
  if (expect_ok(t, region, "createRegion") && expect_ok(t, large, "createRegion of 2 MiB pages")) {
    const CPtr r = region->cap();
    expect_error(t, s.attach(r, kFixed + 0x800, kRW), Error::AlignmentError, "an unaligned address");
    expect_error(t, s.attach(large->cap(), kFixed + 0x201000, kRW), Error::AlignmentError,
                 "2 MiB pages at a 4 KiB boundary");
    auto at = s.attach(r, kFixed, kRW);
    t.check(at.ok() && *at == kFixed, "attach at 0x%lx: %s", kFixed, error_name(at.error()));
    expect_error(t, s.attach(r, kFixed + 2 * kPage, kRW), Error::DeleteFirst, "overlapping the attachment");
    expect_error(t, s.attach(r, kFixed - kPage, kRW), Error::DeleteFirst, "overlapping from below");
    expect_error(t, s.attach(r, proto::kAttachLimit, kRW), Error::RangeError, "at the attach limit");
    expect_error(t, s.attach(r, proto::kAttachLimit - 2 * kPage, kRW), Error::RangeError, "across the attach limit");
    expect_error(t, s.attach(r, 0x0000800000000000ull, kRW), Error::RangeError, "a non-canonical address");
    expect_error(t, s.attach(r, 0xFFFF800000000000ull, kRW), Error::RangeError, "the kernel's half");
    expect_error(t, s.attach(r, 0xFFFFFFFFFFFFF000ull, kRW), Error::RangeError, "the last page of the address space");
    auto st = s.status();
    t.check(st.ok() && st->attachments == 1, "%u attachments after the refusals", st.ok() ? st->attachments : 0);
    expect_ok(t, s.detach(kFixed), "detach");
  }
  expect_error(t, s.create_region(0, proto::PageSize::Small, false), Error::RangeError, "0 bytes");
  expect_error(t, s.create_region(uint64_t{1} << 63, proto::PageSize::Small, false), Error::RangeError, "2^63 bytes");
  expect_error(t, s.create_region(proto::kMaxRegionBytes + 1, proto::PageSize::Small, false), Error::RangeError,
               "one byte over the largest region");
  if (region.ok()) expect_ok(t, region->release(), "release");
  if (large.ok()) expect_ok(t, large->release(), "release the large region");
  m.close_dummy(&d);
}

TESSERA_USER_TEST(MEMORY0005, pass, "W^X: write and execute together is InvalidArgument; rights beyond the capability's are refused") {
  MemEnv m(t);
  Dummy d;
  if (!m.ready() || !m.open_dummy(&d, "wx", 4 * kMiB)) return;
  sys::MemorySession& s = d.session;
  auto region = s.create_region(2 * kPage, proto::PageSize::Small, true);
  if (expect_ok(t, region, "createRegion")) {
    const CPtr r = region->cap();
    expect_error(t, s.attach(r, kFixed, proto::kRightsAll), Error::InvalidArgument, "read+write+execute");
    expect_error(t, s.attach(r, kFixed, proto::kRightWrite | proto::kRightExecute), Error::InvalidArgument,
                 "write+execute");
    expect_error(t, s.attach(r, kFixed, 0), Error::InvalidArgument, "no rights");
    expect_error(t, s.attach(r, kFixed, 8 | kR), Error::InvalidArgument, "an unknown right");
    auto rx = s.attach(r, kFixed, proto::kRightRead | proto::kRightExecute);
    expect_ok(t, rx, "read+execute");
    auto rw = s.attach(r, kFixed + kMiB, kRW);
    expect_ok(t, rw, "read+write (a second attachment)");
    auto read_only = s.share(r, kR);
    if (expect_ok(t, read_only, "share read-only")) {
      expect_error(t, s.attach(read_only->cap(), kFixed + 2 * kMiB, kRW), Error::InvalidCapability,
                   "write through a read-only capability");
      expect_error(t, s.attach(read_only->cap(), kFixed + 2 * kMiB, kR | proto::kRightExecute),
                   Error::InvalidCapability, "execute through a read-only capability");
      expect_error(t, s.share(read_only->cap(), kRW), Error::InvalidArgument, "share more than the capability has");
      auto info = s.describe(read_only->cap());
      t.check(info.ok() && info->rights == kR, "describe: rights %u", info.ok() ? info->rights : 0);
      expect_error(t, s.frame(read_only->cap(), 0), Error::InvalidCapability, "frame needs write");
      expect_error(t, s.resize(read_only->cap(), 4 * kPage), Error::InvalidCapability, "resize needs write");
      expect_ok(t, read_only->close(), "close the read-only capability");
    }
    expect_ok(t, region->release(), "release");
  }
  m.close_dummy(&d);
}

TESSERA_USER_TEST(MEMORY0008, pass, "an eager region beyond the quota is OutOfMemory and takes nothing; another session's requests succeed") {
  MemEnv m(t);
  Dummy a, b;
  if (!m.ready() || !m.open_dummy(&a, "poor", 1 * kMiB) || !m.open_dummy(&b, "other", 1 * kMiB)) return;
  const ServerStatus before = m.server_status();
  auto a_before = a.session.status();
  expect_error(t, a.session.create_region(2 * kMiB, proto::PageSize::Small, true), Error::OutOfMemory,
               "an eager region twice the quota");
  expect_error(t, a.session.create_region(proto::kLargePageBytes, proto::PageSize::Large, true), Error::OutOfMemory,
               "an eager 2 MiB page on a 1 MiB quota");
  auto a_after = a.session.status();
  t.check(a_before.ok() && a_after.ok() && a_before->used == a_after->used && a_after->regions == 0,
          "the refused session was charged: used %lu -> %lu", a_before.ok() ? a_before->used : 0,
          a_after.ok() ? a_after->used : 0);
  t.check(m.server_status() == before, "a refused request took memory");
  auto fits = b.session.create_region(256 * 1024, proto::PageSize::Small, true);
  if (expect_ok(t, fits, "the other session's eager region")) {
    auto info = fits->describe();
    t.check(info.ok() && info->backed_pages == 64, "backed %lu pages", info.ok() ? info->backed_pages : 0);
    t.check(m.server_status().frames == before.frames + 64, "64 frames made");
    expect_ok(t, fits->release(), "release");
  }
  // A lazy region larger than the quota costs only its records: it can be made.
  auto lazy = a.session.create_region(2 * kMiB, proto::PageSize::Small, false);
  if (expect_ok(t, lazy, "a lazy region larger than the quota")) expect_ok(t, lazy->release(), "release");
  t.check(m.server_status() == before, "memory is back after the releases");
  m.close_dummy(&a);
  m.close_dummy(&b);
}

TESSERA_USER_TEST(MEMORY0012, pass, "100 programs started and ended leave the server's memory, frames, regions and sessions as they were") {
  MemEnv m(t);
  if (!m.ready()) return;
  const ServerStatus before = m.server_status();
  for (uint32_t round = 0; round < 100 && !t.failed(); ++round) {
    const int c = m.spawn("cycle", "exit=0", 4 * kMiB);
    if (c < 0 || !m.wait(1u << c)) break;
    t.check(m.child(static_cast<uint32_t>(c)).exited && m.child(static_cast<uint32_t>(c)).status == 0,
            "round %u: status %ld", round, m.child(static_cast<uint32_t>(c)).status);
    m.forget_children();
  }
  const ServerStatus after = m.server_status();
  t.check(after == before, "before: free %lu frames %lu regions %u sessions %u; after: free %lu frames %lu regions %u sessions %u",
          before.free, before.frames, before.regions, before.sessions, after.free, after.frames, after.regions,
          after.sessions);
}

TESSERA_USER_TEST(MEMORY0013, pass, "a program without a heap option grows its heap past 64 MiB through its session") {
  run_child(t, "mem-bigheap", 72 * kMiB);
}

TESSERA_USER_TEST(MEMORY0014, pass, "resize: grows with room after the attachment, not into the next (DeleteFirst), not below a touched page (Busy)") {
  run_child(t, "mem-resize");
}

TESSERA_USER_TEST(MEMORY0015, pass, "revoke: the other session's capability is refused and its attachment gone; a non-creator's revoke is IllegalOperation") {
  MemEnv m(t);
  Dummy a, b;
  if (!m.ready()) return;
  const ServerStatus at_start = m.server_status();
  if (!m.open_dummy(&a, "creator", 2 * kMiB) || !m.open_dummy(&b, "holder", 2 * kMiB)) return;
  const ServerStatus before = m.server_status();
  auto region = a.session.create_region(4 * kPage, proto::PageSize::Small, true);
  auto other = a.session.create_region(kPage, proto::PageSize::Small, false);
  if (!expect_ok(t, region, "createRegion") || !expect_ok(t, other, "createRegion")) return;
  auto shared = region->share(kRW);
  auto shared_other = other->share(kR);
  if (expect_ok(t, shared, "share") && expect_ok(t, shared_other, "share")) {
    expect_ok(t, b.session.attach(shared->cap(), kFixed, kRW), "the holder attaches");
    expect_ok(t, b.session.attach(shared_other->cap(), kFixed + kMiB, kR), "the holder attaches the other");
    expect_error(t, b.session.revoke(shared_other->cap()), Error::IllegalOperation, "revoke by a non-creator");
    expect_error(t, b.session.revoke(shared->cap()), Error::IllegalOperation, "revoke by a non-creator");
    expect_ok(t, region->revoke(), "revoke by the creator");
    expect_error(t, b.session.attach(shared->cap(), kFixed + 2 * kMiB, kR), Error::InvalidCapability,
                 "attach with the revoked capability");
    expect_error(t, b.session.describe(shared->cap()), Error::InvalidCapability, "describe with it");
    expect_error(t, b.session.release(shared->cap()), Error::InvalidCapability, "release with it");
    expect_error(t, b.session.detach(kFixed), Error::EmptySlot, "the holder's attachment is gone");
    auto st = b.session.status();
    t.check(st.ok() && st->attachments == 1 && st->regions == 1, "the holder: %u attachments, %u regions",
            st.ok() ? st->attachments : 0, st.ok() ? st->regions : 0);
    auto info = region->describe();
    t.check(info.ok() && info->backed_pages == 4, "the creator's new capability works: %s", error_name(info.error()));
    expect_ok(t, b.session.detach(kFixed + kMiB), "detach the other");
    expect_ok(t, shared->close(), "close");
    expect_ok(t, b.session.release(shared_other->cap()), "the holder releases the other");
    expect_ok(t, shared_other->close(), "close");
  }
  expect_ok(t, region->release(), "release");
  expect_ok(t, other->release(), "release");
  const ServerStatus after = m.server_status();
  t.check(after.frames == before.frames && after.regions == before.regions, "frames or regions not back");
  m.close_dummy(&a);
  m.close_dummy(&b);
  // The page tables made in the sessions' spaces go with the sessions.
  t.check(m.server_status() == at_start, "memory back after the sessions closed");
}

TESSERA_USER_TEST(MEMORY0016, pass, "release: a shared region stays with the other holder after its creator lets go; its frames come back after the last") {
  MemEnv m(t);
  Dummy a, b;
  if (!m.ready()) return;
  const ServerStatus at_start = m.server_status();
  if (!m.open_dummy(&a, "creator", 2 * kMiB) || !m.open_dummy(&b, "holder", 2 * kMiB)) return;
  const ServerStatus before = m.server_status();
  auto region = a.session.create_region(4 * kPage, proto::PageSize::Small, true);
  if (!expect_ok(t, region, "createRegion")) return;
  t.check(m.server_status().frames == before.frames + 4, "4 frames made");
  if (const CPtr page = m.peek(a.session, region->cap(), 3); page != 0) {
    memset(reinterpret_cast<void*>(kPeekAddress), 0x3C, kPage);
    m.env.drop(page);
  }
  auto shared = region->share(kRW);
  if (!expect_ok(t, shared, "share")) return;
  expect_ok(t, b.session.attach(shared->cap(), kFixed, kRW), "the holder attaches");
  auto b_before = b.session.status();
  expect_ok(t, region->release(), "the creator releases");
  auto a_st = a.session.status();
  t.check(a_st.ok() && a_st->regions == 0, "the creator still holds %u regions", a_st.ok() ? a_st->regions : 0);
  t.check(m.server_status().frames == before.frames + 4, "the frames stay while the holder holds the region");
  auto info = b.session.describe(shared->cap());
  t.check(info.ok() && info->backed_pages == 4, "the holder's capability: %s", error_name(info.error()));
  if (const CPtr page = m.peek(b.session, shared->cap(), 3); page != 0) {
    t.check(reinterpret_cast<volatile uint8_t*>(kPeekAddress)[kPage - 1] == 0x3C, "the holder sees the bytes");
    m.env.drop(page);
  }
  auto b_after = b.session.status();
  t.check(b_before.ok() && b_after.ok() && b_after->used >= b_before->used + 4 * kPage,
          "the remaining holder pays for the frames now: used %lu -> %lu", b_before.ok() ? b_before->used : 0,
          b_after.ok() ? b_after->used : 0);
  expect_ok(t, b.session.release(shared->cap()), "the holder releases");
  t.check(m.server_status().frames == before.frames, "the frames come back after the last holder");
  expect_error(t, b.session.describe(shared->cap()), Error::InvalidCapability, "a released region's capability");
  expect_ok(t, shared->close(), "close");
  const ServerStatus after = m.server_status();
  t.check(after.frames == before.frames && after.regions == before.regions, "frames or regions not back");
  m.close_dummy(&a);
  m.close_dummy(&b);
  // The page tables made in the sessions' spaces go with the sessions.
  t.check(m.server_status() == at_start, "memory back after the sessions closed");
}

TESSERA_USER_TEST(MEMORY0018, pass, "the allocation model: spare memory goes cheapest weight first, sums to the spare memory, setWeight changes the split") {
  MemEnv m(t);
  Dummy s[3];
  const uint64_t weights[3] = {1, 2, 3};
  for (uint32_t i = 0; i < 3; ++i) {
    if (!m.ready() || !m.open_dummy(&s[i], "weighted", 2 * kMiB, weights[i])) return;
  }
  const ServerStatus st = m.server_status();
  const uint64_t spare = st.total - st.promised;
  t.note("total %lu MiB, promised %lu MiB, spare %lu bytes", st.total >> 20, st.promised >> 20, spare);
  // Each asks for more than there is: the cheapest gets all of it.
  uint64_t replies[3] = {};
  for (uint32_t i = 0; i < 3; ++i) {
    auto g = s[i].session.reserve(spare + (i + 1) * kMiB);
    if (expect_ok(t, g, "reserve")) replies[i] = *g;
  }
  t.check(replies[0] == spare, "the first (weight 1) was granted %lu of %lu", replies[0], spare);
  auto granted = [&](uint32_t i) {
    auto r = s[i].session.status();
    return r.ok() ? r->granted : ~uint64_t{0};
  };
  t.check(granted(0) == spare && granted(1) == 0 && granted(2) == 0, "grants %lu %lu %lu (spare %lu)", granted(0),
          granted(1), granted(2), spare);
  // Smaller requests: weight 1 gets its request, weight 2 the rest, weight 3 nothing.
  const uint64_t r0 = spare / 4, r1 = spare / 2;
  expect_ok(t, s[0].session.reserve(r0), "reserve");
  expect_ok(t, s[1].session.reserve(r1), "reserve");
  t.check(granted(0) == r0 && granted(1) == r1 && granted(2) == spare - r0 - r1, "grants %lu %lu %lu", granted(0),
          granted(1), granted(2));
  t.check(granted(0) + granted(1) + granted(2) == spare, "the grants sum to the spare memory");
  // Weight 1 becomes the most expensive: weights 2 and 3 are served first.
  ControlClient control = m.control();
  expect_ok(t, control.set_weight(s[0].opened.id, 10), "setWeight");
  t.check(granted(1) == r1 && granted(2) == spare - r1 && granted(0) == 0, "after setWeight: %lu %lu %lu",
          granted(0), granted(1), granted(2));
  // Equal weights: session order breaks the tie (the first session is served first again).
  expect_ok(t, control.set_weight(s[0].opened.id, 2), "setWeight");
  t.check(granted(0) == r0 && granted(1) == r1 && granted(2) == spare - r0 - r1, "a tie goes by session order: %lu %lu %lu",
          granted(0), granted(1), granted(2));
  expect_error(t, control.set_weight(s[2].opened.id, 0), Error::InvalidArgument, "weight 0");
  expect_error(t, control.set_weight(63, 1), Error::EmptySlot, "setWeight of no session");
  // Giving back: reserve(0).
  for (uint32_t i = 0; i < 3; ++i) {
    auto g = s[i].session.reserve(0);
    t.check(g.ok() && *g == 0, "reserve(0) leaves %lu", g.ok() ? *g : 0);
  }
  // A grant is usable: an eager region above the quota fits only with it.
  expect_error(t, s[0].session.create_region(3 * kMiB, proto::PageSize::Small, true), Error::OutOfMemory,
               "3 MiB on a 2 MiB quota");
  if (expect_ok(t, s[0].session.reserve(2 * kMiB), "reserve 2 MiB")) {
    auto region = s[0].session.create_region(3 * kMiB, proto::PageSize::Small, true);
    if (expect_ok(t, region, "3 MiB with 2 MiB granted")) expect_ok(t, region->release(), "release");
  }
  for (uint32_t i = 0; i < 3; ++i) m.close_dummy(&s[i]);
}

TESSERA_USER_TEST(MEMORY0021, pass, "frame(): a page's frame capability has a physical address and is refused once the region is released") {
  MemEnv m(t);
  Dummy d;
  if (!m.ready() || !m.open_dummy(&d, "frames", 2 * kMiB)) return;
  const ServerStatus before = m.server_status();
  auto region = d.session.create_region(2 * kPage, proto::PageSize::Small, false);
  if (!expect_ok(t, region, "createRegion")) return;
  auto frame = region->frame(1);
  if (expect_ok(t, frame, "frame of page 1")) {
    auto address = m.env.frame(*frame).get_address();
    t.check(address.ok() && address->paddr() != 0 && (address->paddr() & (kPage - 1)) == 0,
            "Frame.getAddress: %s, 0x%lx", error_name(address.error()), address.ok() ? address->paddr() : 0);
  }
  auto info = region->describe();
  t.check(info.ok() && info->backed_pages == 1, "frame() backs the page: %lu", info.ok() ? info->backed_pages : 0);
  expect_error(t, region->frame(2), Error::RangeError, "a page past the end");
  const CPtr old = region->cap();
  auto copy = m.env.copy(old);  // the region capability, kept to try after the release
  expect_ok(t, region->release(), "release");
  if (frame.ok()) {
    auto address = m.env.frame(*frame).get_address();
    t.check(!address.ok(), "the frame capability still works after the release");
    (void)m.env.root().delete_(*frame, kSlotDepth);
    (void)m.env.slots.free(*frame);
  }
  if (copy != 0) {
    expect_error(t, d.session.frame(copy, 0), Error::InvalidCapability, "frame() of a released region");
    m.env.drop(copy);
  }
  t.check(m.server_status() == before, "memory back");
  m.close_dummy(&d);
}

TESSERA_USER_TEST(MEMORY0022, pass, "sessions: a closed session's capability is refused, Control methods need the Control capability, quotas are bounded by memory") {
  MemEnv m(t);
  Dummy d;
  if (!m.ready() || !m.open_dummy(&d, "short", 2 * kMiB)) return;
  const CPtr old = m.env.copy(d.opened.session);
  const uint32_t id = d.opened.id;
  SessionClient session(m.env.kernel, d.opened.session);
  // Control's methods on a session capability, Session's on the Control capability.
  ControlClient wrong(m.env.kernel, d.opened.session);
  expect_error(t, wrong.status(), Error::IllegalOperation, "Control.status on a session");
  expect_error(t, wrong.close_session(id), Error::IllegalOperation, "Control.closeSession on a session");
  expect_error(t, wrong.take_fault(), Error::IllegalOperation, "Control.takeFault on a session");
  expect_error(t, wrong.set_weight(id, 5), Error::IllegalOperation, "Control.setWeight on a session");
  SessionClient on_control(m.env.kernel, sys::kBootInfoServiceSlot);
  expect_error(t, on_control.status(), Error::IllegalOperation, "Session.status on the Control capability");
  expect_error(t, on_control.create_region(kPage, proto::PageSize::Small, false), Error::IllegalOperation,
               "Session.createRegion on the Control capability");
  expect_error(t, m.control().take_fault(), Error::WouldBlock, "takeFault with nothing reported");
  // A region capability is not callable.
  auto region = d.session.create_region(kPage, proto::PageSize::Small, false);
  if (expect_ok(t, region, "createRegion")) {
    SessionClient on_region(m.env.kernel, region->cap());
    // Region capabilities carry Write only: the kernel refuses a call through one.
    expect_error(t, on_region.status(), Error::InsufficientRights, "a call on a region capability");
  }
  // Quotas: no more than the memory there is.
  const ServerStatus st = m.server_status();
  Dummy big;
  big.pml4 = m.env.make(ObjectType::Pml4);
  expect_error(t,
               sys::open_session(sys::kBootInfoServiceSlot, m.env.slots, tessera::kSlotRootCNode, "big",
                                 st.total - st.promised + kPage, 1, big.pml4),
               Error::OutOfMemory, "a quota above the memory not promised");
  m.env.drop(big.pml4);
  expect_error(t, sys::close_session(sys::kBootInfoServiceSlot, 60), Error::EmptySlot, "closeSession of no session");
  if (region.ok()) (void)region->close();  // closing the session releases it
  m.close_dummy(&d);
  if (old != 0) {
    // Refused: the server revokes the session's capabilities when it closes (the copy's slot is
    // empty then), and a badge of an ended session is InvalidCapability.
    auto refused = [&](Error e) { return e == Error::InvalidCapability || e == Error::EmptySlot; };
    SessionClient stale(m.env.kernel, old);
    Error e = stale.status().error();
    t.check(refused(e), "the closed session's capability: %s", error_name(e));
    e = stale.create_region(kPage, proto::PageSize::Small, false).error();
    t.check(refused(e), "createRegion on the closed session: %s", error_name(e));
    // A new session in the same place has a new generation: the old capability stays refused.
    Dummy again;
    if (m.open_dummy(&again, "again", 2 * kMiB)) {
      t.check(again.opened.id == id, "the session's index is reused (%u, was %u)", again.opened.id, id);
      e = stale.status().error();
      t.check(refused(e), "the old capability after the index is reused: %s", error_name(e));
      m.close_dummy(&again);
    }
    if (m.env.is_empty(old)) {
      (void)m.env.slots.free(old);
    } else {
      m.env.drop(old);
    }
  }
  const ServerStatus after = m.server_status();
  t.check(after.sessions == st.sessions - 1 && after.promised == st.promised - 2 * kMiB, "sessions %u, promised %lu",
          after.sessions, after.promised);
}

}  // namespace

namespace {
TESSERA_USER_TEST(MEMORY0019, pass, "a lazy region of 2 MiB pages: touching all of its first page is one fault and one backed page") {
  run_child(t, "mem-large");
}
}  // namespace

TESSERA_USER_TEST(MEMORY0023, pass, "a program makes a thread through its session: TCB from createObject, IPC buffer and lazy stack from regions; destroying it gives every byte back") {
  run_child(t, "mem-thread");
}
