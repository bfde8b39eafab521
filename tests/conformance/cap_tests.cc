// Capability tests of the root task (suite `user`): Untyped.retype (RETYPE), the CNode operations
// (CNODE) and one test per error the kernel reports for a bad request (ERROR). Each test checks
// real effects: objects answer the invocations of their type, frames report the addresses the
// watermark rules predict, moved and revoked caps are really gone.
#include <stdint.h>

#include <tessera/sys/ipc.h>
#include <tessera/sys/testing.h>

#include "cap_test_env.h"

namespace {
using namespace captest;
using tessera::abi::CNode;

// The slot the invocation `Env::root()` cannot name: beyond the 4096 slots of the root CNode.
constexpr CPtr kBeyondRootCNode = uint64_t{1} << tessera::kRootCNodeRadix;

// A Call on `cap` with `label` and `words` message words already in the IPC buffer, bypassing the
// generated client: the system call's own error, or else the error in the reply label.
Error raw_invoke(Env& env, CPtr cap, uint64_t label, uint32_t words) {
  const auto* buffer = reinterpret_cast<const tessera::IpcBuffer*>(env.info.ipc_buffer);
  tessera::sys::SyscallRegisters regs{};
  regs.cap = cap;
  regs.info = tessera::capnp::MessageInfo{label, words, 0, 0}.encode();
  for (uint32_t i = 0; i < tessera::kMessageRegisters; ++i) regs.mr[i] = buffer->msg[i];
  const Error e = tessera::sys::raw_syscall(tessera::Syscall::Call, regs);
  if (e != Error::Ok) return e;
  return tessera::capnp::error_from_label(tessera::capnp::MessageInfo::decode(regs.info).label, tessera::kErrorCount);
}

}  // namespace

TESSERA_USER_TEST(RETYPE0001, pass, "Untyped.retype makes every object type, each answering its own invocations") {
  Env env(t);
  const CPtr untyped = env.make(ObjectType::Untyped, 16);
  const CPtr tcb = env.make(ObjectType::Tcb);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  const CPtr notification = env.make(ObjectType::Notification);
  const CPtr cnode = env.make(ObjectType::Cnode, 4);
  const CPtr pml4 = env.make(ObjectType::Pml4);
  const CPtr pdpt = env.make(ObjectType::Pdpt);
  const CPtr pd = env.make(ObjectType::PageDirectory);
  const CPtr pt = env.make(ObjectType::PageTable);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr big_frame = env.make(ObjectType::Frame2m);
  if (t.failed()) return;

  // Untyped: can itself be retyped, and its children come from its memory.
  const CPtr child = env.slot();
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, child, 1), "retype child");
  t.check(env.address_of(frame) % 4096 == 0, "4 KiB frame not aligned");
  t.check(env.address_of(big_frame) % (2u << 20) == 0, "2 MiB frame at 0x%lx", env.address_of(big_frame));
  // TCB: registers can be read; CNode: a cap can be copied into it.
  expect_ok(t, env.tcb(tcb).read_registers(false, 1), "tcb readRegisters");
  expect_ok(t, Client<CNode>(env.kernel, cnode).copy(3, 4, kRootCNodeRef, frame, kSlotDepth, kAllRights),
            "copy into the new cnode");
  expect_ok(t, Client<CNode>(env.kernel, cnode).delete_(3, 4), "delete from the new cnode");
  // Endpoint and notification: IPC objects. With nobody on the other side, a non-blocking receive
  // on the endpoint finds nothing, and a signalled notification is collected by a poll.
  tessera::sys::Received got{};
  t.check(tessera::sys::nb_recv(endpoint, &got) == Error::WouldBlock, "endpoint nbRecv");
  const CPtr badged = env.slot();
  expect_ok(t, Client<CNode>(env.kernel, tessera::kSlotRootCNode).mint(badged, kSlotDepth, kRootCNodeRef, notification,
                                                                      kSlotDepth, kAllRights, 0x5),
            "mint a badged notification");
  uint64_t word = 0;
  t.check(tessera::sys::signal(badged) == Error::Ok, "signal");
  t.check(tessera::sys::poll(notification, &word) == Error::Ok && word == 0x5, "poll returned 0x%lx", word);
  env.drop(badged);
  // Paging structures: a PDPT, PD and PT chain into the new PML4, and a frame maps under them.
  constexpr uint64_t kVaddr = 0x0000'0040'0000'0000ull;
  expect_ok(t, env.pdpt(pdpt).map(CapRef{pml4}, kVaddr, 0), "map pdpt");
  expect_ok(t, env.page_directory(pd).map(CapRef{pml4}, kVaddr, 0), "map page directory");
  expect_ok(t, env.page_table(pt).map(CapRef{pml4}, kVaddr, 0), "map page table");
  expect_ok(t, env.frame(frame).map(CapRef{pml4}, kVaddr, kRead, kExecuteNever), "map frame");

  const CPtr objects[] = {child, frame, big_frame, pt, pd, pdpt, pml4, cnode, notification, endpoint, tcb, untyped};
  for (CPtr c : objects) env.drop(c);
}

TESSERA_USER_TEST(RETYPE0002, pass, "retype places objects at the aligned watermark, in order, inside the untyped") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(16, 30);
  if (untyped == 0) return;
  const uint64_t base = env.describe_untyped(untyped).phys;
  const CPtr first = env.slot(), endpoint = env.slot(), second = env.slot(), batch = env.slot();
  for (int i = 0; i < 3; ++i) (void)env.slot();  // batch + 1 .. batch + 3 (slots come in order)
  auto retype = [&](ObjectType type, CPtr slot, uint32_t count) {
    return env.untyped(untyped).retype(type, 0, kRootCNodeRef, 0, 0, slot, count);
  };
  expect_ok(t, retype(ObjectType::Frame4k, first, 1), "first frame");
  expect_ok(t, retype(ObjectType::Endpoint, endpoint, 1), "endpoint");
  expect_ok(t, retype(ObjectType::Frame4k, second, 1), "second frame");
  expect_ok(t, retype(ObjectType::Frame4k, batch, 4), "four frames at once");
  t.check(env.address_of(first) == base, "first frame at 0x%lx, untyped at 0x%lx", env.address_of(first), base);
  // The endpoint took 64 bytes at base + 4 KiB; the next frame is aligned up past it.
  t.check(env.address_of(second) == base + 2 * 4096, "second frame at 0x%lx", env.address_of(second));
  for (uint64_t i = 0; i < 4; ++i) {
    t.check(env.address_of(batch + i) == base + (3 + i) * 4096, "batch frame %lu at 0x%lx", i,
            env.address_of(batch + i));
  }
  for (CPtr c = first; c < batch + 4; ++c) env.drop(c);
  // The last child gone, the watermark is back at the start.
  const CPtr again = env.slot();
  expect_ok(t, retype(ObjectType::Frame4k, again, 1), "frame after the untyped emptied");
  t.check(env.address_of(again) == base, "watermark not reset: frame at 0x%lx", env.address_of(again));
  env.drop(again);
}

TESSERA_USER_TEST(RETYPE0003, pass, "a full untyped reports NotEnoughMemory and changes nothing") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(12, 20);
  if (untyped == 0) return;
  const uint8_t bits = env.describe_untyped(untyped).size_bits;
  const CPtr whole = env.slot(), extra = env.slot();
  expect_error(t, env.untyped(untyped).retype(ObjectType::Untyped, static_cast<uint8_t>(bits + 1), kRootCNodeRef, 0, 0, whole, 1),
               Error::NotEnoughMemory, "child larger than the untyped");
  t.check(env.is_empty(whole), "a failed retype filled its slot");
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Untyped, bits, kRootCNodeRef, 0, 0, whole, 1), "whole child");
  expect_error(t, env.untyped(untyped).retype(ObjectType::Endpoint, 0, kRootCNodeRef, 0, 0, extra, 1),
               Error::NotEnoughMemory, "endpoint from a full untyped");
  t.check(env.is_empty(extra), "a failed retype filled its slot");
  // Many objects at once: all or nothing.
  expect_error(t, env.untyped(whole).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, extra,
                                            (uint32_t{1} << (bits - 12)) + 1),
               Error::NotEnoughMemory, "one frame too many");
  t.check(env.is_empty(extra), "a failed batch retype filled its first slot");
  env.drop(whole);
}

TESSERA_USER_TEST(RETYPE0004, pass, "revoking an untyped frees all of it for reuse, at the same addresses") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(14, 30);
  if (untyped == 0) return;
  const uint64_t base = env.describe_untyped(untyped).phys;
  CPtr frames[4];
  for (CPtr& f : frames) f = env.slot();
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, frames[0], 4), "4 frames");
  const CPtr copy = env.copy(frames[2]);
  expect_ok(t, env.root().revoke(untyped, kSlotDepth), "revoke the untyped");
  for (CPtr f : frames) t.check(env.is_empty(f), "slot %lu survived the revoke", f);
  t.check(copy != 0 && env.is_empty(copy), "a copy of a child survived the revoke");
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, frames[0], 4), "reuse");
  t.check(env.address_of(frames[3]) == base + 3 * 4096, "reused frame at 0x%lx", env.address_of(frames[3]));
  expect_ok(t, env.root().revoke(untyped, kSlotDepth), "second revoke");
  for (CPtr f : frames) (void)env.slots.free(f);
  if (copy != 0) (void)env.slots.free(copy);
}

TESSERA_USER_TEST(RETYPE0006, pass, "Untyped.describe: address, size and device flag as BootInfo says; the watermark follows retype") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(16, 30);
  if (untyped == 0) return;
  const tessera::UntypedDescriptor& d = env.describe_untyped(untyped);
  auto before = env.untyped(untyped).describe();
  if (!expect_ok(t, before, "describe")) return;
  t.check(before->paddr() == d.phys && before->size_bits() == d.size_bits && !before->is_device(),
          "describe says 0x%lx, 2^%u, device %d; BootInfo 0x%lx, 2^%u", before->paddr(), before->size_bits(),
          before->is_device() ? 1 : 0, d.phys, d.size_bits);
  t.check(before->watermark() == 0, "an unused untyped has watermark %lu", before->watermark());
  const CPtr endpoint = env.slot();
  const CPtr frame = env.slot();
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Endpoint, 0, kRootCNodeRef, 0, 0, endpoint, 1), "endpoint");
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, frame, 1), "frame");
  auto after = env.untyped(untyped).describe();
  // The endpoint at offset 0, the frame aligned to 4 KiB after it.
  if (expect_ok(t, after, "describe after retype")) t.check(after->watermark() == 8192, "watermark %lu", after->watermark());
  t.check(env.address_of(frame) == d.phys + 4096, "the frame is not where the watermark says");
  env.drop(frame);
  env.drop(endpoint);
  auto reset = env.untyped(untyped).describe();
  if (expect_ok(t, reset, "describe after delete")) t.check(reset->watermark() == 0, "watermark %lu", reset->watermark());
  for (uint64_t i = 0; i < env.info.untyped.end - env.info.untyped.start && i < tessera::kMaxBootUntypeds; ++i) {
    if (env.info.untyped_list[i].is_device == 0) continue;
    auto device = env.untyped(env.info.untyped.start + i).describe();
    if (expect_ok(t, device, "describe a device untyped")) t.check(device->is_device(), "not marked as device memory");
  }
}

TESSERA_USER_TEST(BOOTINFO0001, pass, "a test's process has the root task's layout: fixed slots, regions, BootInfo") {
  Env env(t);
  const BootInfo& info = env.info;
  t.check(info.version == tessera::kBootInfoVersion && info.root_cnode_radix == tessera::kRootCNodeRadix,
          "version %u radix %lu", info.version, info.root_cnode_radix);
  t.check(info.ipc_buffer == tessera::kRootIpcBufferAddress, "ipc buffer 0x%lx", info.ipc_buffer);
  // Each fixed slot holds a capability of its type: an invocation of another type's interface is
  // refused with IllegalOperation only when the slot holds that type.
  t.check(env.tcb(tessera::kSlotRootTcb).get_stats().ok(), "slot 1 is not its TCB");
  t.check(!env.is_empty(tessera::kSlotRootVSpace) && !env.is_empty(tessera::kSlotSchedControl), "slots 3, 6");
  t.check(env.frame(tessera::kSlotBootInfoFrame).get_address().ok(), "slot 7 is not a frame");
  t.check(env.frame(tessera::kSlotIpcBufferFrame).get_address().ok(), "slot 8 is not a frame");
  // The regions follow each other and end at the end of the CNode.
  t.check(info.image_frames.start < info.image_frames.end && info.image_frames.end <= info.untyped.start &&
              info.untyped.end == info.empty.start && info.empty.end == uint64_t{1} << tessera::kRootCNodeRadix,
          "regions: image [%lu,%lu) untyped [%lu,%lu) empty [%lu,%lu)", info.image_frames.start, info.image_frames.end,
          info.untyped.start, info.untyped.end, info.empty.start, info.empty.end);
  for (CPtr f = info.image_frames.start; f < info.image_frames.end; ++f) {
    if (!t.check(env.frame(f).get_address().ok(), "image slot %lu is not a frame", f)) break;
  }
  t.check(info.supervisor_endpoint == 0 || !env.is_empty(info.supervisor_endpoint), "no supervisor endpoint in slot %lu",
          info.supervisor_endpoint);
  uint64_t ram = 0;
  for (uint64_t i = 0; i < info.untyped.end - info.untyped.start; ++i) {
    auto d = env.untyped(info.untyped.start + i).describe();
    if (!expect_ok(t, d, "describe a granted untyped")) break;
    t.check(d->paddr() == info.untyped_list[i].phys && d->size_bits() == info.untyped_list[i].size_bits,
            "untyped %lu: describe 0x%lx 2^%u, BootInfo 0x%lx 2^%u", i, d->paddr(), d->size_bits(),
            info.untyped_list[i].phys, info.untyped_list[i].size_bits);
    if (!d->is_device()) ram += uint64_t{1} << d->size_bits();
  }
  t.check(ram == info.free_memory_bytes, "free_memory_bytes %lu, untyped RAM %lu", info.free_memory_bytes, ram);
}

TESSERA_USER_TEST(RETYPE0005, pass, "retype rejects bad types, sizes, counts and destinations") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(16, 30);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr dest = env.slot();
  if (untyped == 0 || frame == 0) return;
  auto retype = [&](ObjectType type, uint8_t bits, uint64_t offset, uint32_t count) {
    return env.untyped(untyped).retype(type, bits, kRootCNodeRef, 0, 0, offset, count);
  };
  expect_error(t, retype(ObjectType::Frame1g, 0, dest, 1), Error::InvalidArgument, "frame1g");
  expect_error(t, retype(ObjectType::Untyped, 3, dest, 1), Error::RangeError, "untyped of 2^3 bytes");
  expect_error(t, retype(ObjectType::Untyped, 48, dest, 1), Error::RangeError, "untyped of 2^48 bytes");
  expect_error(t, retype(ObjectType::Cnode, 0, dest, 1), Error::RangeError, "cnode radix 0");
  expect_error(t, retype(ObjectType::Cnode, 29, dest, 1), Error::RangeError, "cnode radix 29");
  expect_error(t, retype(ObjectType::Endpoint, 0, dest, 0), Error::RangeError, "count 0");
  expect_error(t, retype(ObjectType::Endpoint, 0, dest, 257), Error::RangeError, "count 257");
  expect_error(t, retype(ObjectType::Endpoint, 0, kBeyondRootCNode - 1, 2), Error::RangeError, "past the cnode");
  expect_error(t, retype(ObjectType::Endpoint, 0, tessera::kSlotRootTcb, 1), Error::DeleteFirst, "occupied slot");
  expect_error(t, env.untyped(untyped).retype(ObjectType::Endpoint, 0, CapRef{frame}, 0, 0, dest, 1),
               Error::WrongObjectType, "root is a frame");
  expect_error(t, env.untyped(frame).retype(ObjectType::Endpoint, 0, kRootCNodeRef, 0, 0, dest, 1),
               Error::IllegalOperation, "invoking a frame as an untyped (a label of another interface)");
  t.check(env.is_empty(dest), "a failed retype filled its slot");
  // Device memory holds only frames (when the machine reports any).
  for (uint64_t i = 0; i < env.info.untyped.end - env.info.untyped.start && i < tessera::kMaxBootUntypeds; ++i) {
    if (env.info.untyped_list[i].is_device == 0) continue;
    expect_error(t, env.untyped(env.info.untyped.start + i).retype(ObjectType::Tcb, 0, kRootCNodeRef, 0, 0, dest, 1),
                 Error::InvalidArgument, "tcb from device memory");
    break;
  }
  env.drop(frame);
}

TESSERA_USER_TEST(CNODEOP0001, pass, "CNode.copy: the copy names the same object and outlives a deleted original") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  if (frame == 0) return;
  const uint64_t address = env.address_of(frame);
  const CPtr copy = env.copy(frame);
  const CPtr copy_of_copy = env.copy(copy);
  t.check(env.address_of(copy) == address && env.address_of(copy_of_copy) == address, "copies name another frame");
  env.drop(frame);
  t.check(env.address_of(copy_of_copy) == address, "a copy died with the original");
  env.drop(copy_of_copy);
  env.drop(copy);
}

TESSERA_USER_TEST(CNODEOP0002, pass, "CNode.mint: badges endpoints once, reduces rights, refuses badges elsewhere") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr badged = env.slot(), rebadged = env.slot(), weaker = env.slot(), read_only = env.slot();
  if (t.failed()) return;
  auto mint = [&](CPtr dest, CPtr src, uint8_t rights, uint64_t badge) {
    return env.root().mint(dest, kSlotDepth, kRootCNodeRef, src, kSlotDepth, rights, badge);
  };
  expect_ok(t, mint(badged, endpoint, kAllRights, 0x42), "badge an endpoint");
  expect_error(t, mint(rebadged, badged, kAllRights, 0x43), Error::IllegalOperation, "re-badge");
  t.check(env.is_empty(rebadged), "a refused mint filled its slot");
  expect_ok(t, mint(weaker, badged, kWrite, 0), "mint a badged cap with fewer rights, keeping its badge");
  expect_error(t, mint(rebadged, weaker, kWrite, 7), Error::IllegalOperation, "a minted copy keeps the badge");
  expect_error(t, mint(rebadged, frame, kAllRights, 1), Error::InvalidArgument, "badge a frame");
  // A read-only frame cap cannot make a writable mapping.
  expect_ok(t, mint(read_only, frame, kRead, 0), "read-only frame");
  constexpr uint64_t kVaddr = 0x21000000;
  expect_error(t, env.frame(read_only).map(kRootVSpaceRef, kVaddr, kRead | kWrite, kExecuteNever),
               Error::InsufficientRights, "writable mapping of a read-only cap");
  const CPtr caps[] = {read_only, weaker, badged, frame, endpoint};
  for (CPtr c : caps) env.drop(c);
  (void)env.slots.free(rebadged);
}

TESSERA_USER_TEST(CNODEOP0003, pass, "CNode.move: the cap leaves its slot and keeps its object") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr dest = env.slot();
  if (t.failed()) return;
  const uint64_t address = env.address_of(frame);
  expect_ok(t, env.root().move(dest, kSlotDepth, kRootCNodeRef, frame, kSlotDepth), "move");
  t.check(env.is_empty(frame), "source still occupied");
  t.check(env.address_of(dest) == address, "moved cap names another frame");
  expect_error(t, env.root().move(dest, kSlotDepth, kRootCNodeRef, frame, kSlotDepth), Error::EmptySlot,
               "move from the emptied slot");
  env.drop(dest);
  (void)env.slots.free(frame);
}

TESSERA_USER_TEST(CNODEOP0004, pass, "CNode.mutate: moves an endpoint cap and badges it on the way") {
  Env env(t);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  const CPtr mutated = env.slot(), probe = env.slot();
  if (t.failed()) return;
  expect_ok(t, env.root().mutate(mutated, kSlotDepth, kRootCNodeRef, endpoint, kSlotDepth, 0x99), "mutate");
  t.check(env.is_empty(endpoint), "source still occupied");
  // It carries a badge now: a new one is refused.
  expect_error(t, env.root().mint(probe, kSlotDepth, kRootCNodeRef, mutated, kSlotDepth, kAllRights, 5),
               Error::IllegalOperation, "re-badge the mutated cap");
  env.drop(mutated);
  (void)env.slots.free(endpoint);
  (void)env.slots.free(probe);
}

TESSERA_USER_TEST(CNODEOP0005, pass, "CNode.rotate: pivot to destination and source to pivot; a swap when they coincide") {
  Env env(t);
  const CPtr a = env.make(ObjectType::Frame4k), b = env.make(ObjectType::Frame4k), c = env.make(ObjectType::Frame4k);
  const CPtr dest = env.slot();
  if (t.failed()) return;
  const uint64_t address_a = env.address_of(a), address_b = env.address_of(b);
  // dest <- pivot (a), pivot <- source (b).
  expect_ok(t, env.root().rotate(dest, kSlotDepth, 0, kRootCNodeRef, a, kSlotDepth, 0, kRootCNodeRef, b, kSlotDepth),
            "rotate");
  t.check(env.address_of(dest) == address_a && env.address_of(a) == address_b && env.is_empty(b),
          "rotate moved the wrong caps");
  // Swap: destination == source.
  expect_ok(t, env.root().rotate(dest, kSlotDepth, 0, kRootCNodeRef, a, kSlotDepth, 0, kRootCNodeRef, dest, kSlotDepth),
            "swap");
  t.check(env.address_of(dest) == address_b && env.address_of(a) == address_a, "swap exchanged the wrong caps");
  expect_error(t, env.root().rotate(a, kSlotDepth, 0, kRootCNodeRef, dest, kSlotDepth, 0, kRootCNodeRef, c, kSlotDepth),
               Error::DeleteFirst, "rotate onto an occupied destination");
  t.check(env.address_of(dest) == address_b && !env.is_empty(c), "a refused rotate moved caps");
  env.drop(dest);
  env.drop(a);
  env.drop(c);
  (void)env.slots.free(b);
}

TESSERA_USER_TEST(CNODEOP0006, pass, "CNode.delete empties the slot; deleting the last TCB cap destroys the thread") {
  Env env(t);
  const CPtr tcb = env.make(ObjectType::Tcb);
  if (tcb == 0) return;
  const CPtr copy = env.copy(tcb);
  expect_ok(t, env.root().delete_(tcb, kSlotDepth), "delete the original");
  t.check(env.is_empty(tcb), "slot still occupied");
  expect_ok(t, env.tcb(copy).read_registers(false, 1), "the copy still names a live thread");
  expect_error(t, env.tcb(tcb).read_registers(false, 1), Error::EmptySlot, "invoke the deleted cap");
  env.drop(copy);
  (void)env.slots.free(tcb);
}

TESSERA_USER_TEST(CNODEOP0007, pass, "CNode.revoke deletes every descendant and keeps the cap itself") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  if (frame == 0) return;
  const CPtr child = env.copy(frame), grandchild = env.copy(child);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  const CPtr minted = env.slot();
  expect_ok(t, env.root().mint(minted, kSlotDepth, kRootCNodeRef, endpoint, kSlotDepth, kRead, 1), "mint");
  expect_ok(t, env.root().revoke(frame, kSlotDepth), "revoke frame");
  expect_ok(t, env.root().revoke(endpoint, kSlotDepth), "revoke endpoint");
  t.check(env.is_empty(child) && env.is_empty(grandchild) && env.is_empty(minted), "a descendant survived");
  t.check(!env.is_empty(frame) && !env.is_empty(endpoint), "revoke deleted the cap itself");
  expect_ok(t, env.root().revoke(frame, kSlotDepth), "revoke without descendants");
  env.drop(frame);
  env.drop(endpoint);
  const CPtr revoked[] = {child, grandchild, minted};
  for (CPtr c : revoked) (void)env.slots.free(c);
}

TESSERA_USER_TEST(CNODEOP0008, pass, "CNode operations report empty, occupied, unaddressable and uncopyable slots") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(12, 30);
  const CPtr empty = env.slot(), dest = env.slot(), child = env.slot();
  if (t.failed()) return;
  auto copy = [&](CPtr to, CPtr from) {
    return env.root().copy(to, kSlotDepth, kRootCNodeRef, from, kSlotDepth, kAllRights);
  };
  expect_error(t, copy(dest, empty), Error::EmptySlot, "copy from an empty slot");
  expect_error(t, copy(tessera::kSlotRootTcb, tessera::kSlotRootVSpace), Error::DeleteFirst, "copy onto a used slot");
  expect_error(t, copy(kBeyondRootCNode, tessera::kSlotRootTcb), Error::FailedLookup, "destination beyond the cnode");
  expect_error(t, env.root().copy(dest, 32, kRootCNodeRef, tessera::kSlotRootTcb, kSlotDepth, kAllRights),
               Error::FailedLookup, "depth 32 in a 64-bit cnode");
  expect_error(t, copy(dest, tessera::kSlotIoPortControl), Error::IllegalOperation, "copy the IOPort control cap");
  expect_error(t, copy(dest, tessera::kSlotIrqControl), Error::IllegalOperation, "copy the IRQ control cap");
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Endpoint, 0, kRootCNodeRef, 0, 0, child, 1), "child");
  expect_error(t, copy(dest, untyped), Error::RevokeFirst, "copy an untyped with children");
  t.check(env.is_empty(dest), "a refused copy filled its slot");
  env.drop(child);
  (void)env.slots.free(empty);
  (void)env.slots.free(dest);
}

TESSERA_USER_TEST(CNODEOP0009, pass, "a second-level CNode: retype into it, copy out of it, delete it with its contents") {
  Env env(t);
  constexpr uint8_t kRadix = 4;
  const CPtr cnode = env.make(ObjectType::Cnode, kRadix);
  const CPtr untyped = env.spare_untyped(16, 30);
  const CPtr out = env.slot();
  if (t.failed()) return;
  // Destination (root, index = the CNode's slot, depth 64): slots 2..4 of the new CNode.
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, cnode, kSlotDepth, 2, 3),
            "retype into the second level");
  Client<CNode> level2(env.kernel, cnode);
  expect_ok(t, env.root().copy(out, kSlotDepth, CapRef{cnode}, 3, kRadix, kAllRights), "copy out");
  t.check(env.address_of(out) == env.describe_untyped(untyped).phys + 4096, "copied the wrong frame");
  expect_error(t, level2.copy(5, kRadix, CapRef{cnode}, 1, kRadix, kAllRights), Error::EmptySlot, "empty slot 1");
  expect_error(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, cnode, kSlotDepth, 15, 2),
               Error::RangeError, "past the end of the second level");
  env.drop(out);
  env.drop(cnode);  // destroys the CNode and the three frames in it: the untyped is empty again
  t.check(env.untyped_is_unused(untyped), "deleting the cnode left objects behind");
}

TESSERA_USER_TEST(CNODEOP0010, pass, "copying an untyped lends its memory to the copy until the copy is gone") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(12, 30);
  if (untyped == 0) return;
  const CPtr copy = env.copy(untyped);
  const CPtr child = env.slot();
  if (t.failed()) return;
  expect_error(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, child, 1),
               Error::NotEnoughMemory, "the lender allocates");
  expect_ok(t, env.untyped(copy).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, child, 1), "the copy allocates");
  env.drop(child);
  env.drop(copy);
  const CPtr again = env.slot();
  expect_ok(t, env.untyped(untyped).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, again, 1),
            "the lender after the copy went");
  env.drop(again);
}

// One test per kind of bad request: the error a caller gets back names what was wrong.

TESSERA_USER_TEST(ERROR0001, pass, "bad capability: an empty invoked cap is EmptySlot, an unaddressable one FailedLookup") {
  Env env(t);
  const CPtr empty = env.slot();
  // An empty slot is EmptySlot wherever it is met (docs/capabilities.md, "One error per failure").
  expect_error(t, env.frame(empty).get_address(), Error::EmptySlot, "invoke an empty slot");
  expect_error(t, env.frame(kBeyondRootCNode).get_address(), Error::FailedLookup, "invoke past the root cnode");
  expect_error(t, env.frame(tessera::kSlotNull).get_address(), Error::EmptySlot, "invoke the null slot");
  // A capability parameter that names nothing fails the same way.
  expect_error(t, env.root().copy(empty, kSlotDepth, CapRef{empty}, 1, kSlotDepth, kAllRights), Error::EmptySlot,
               "an empty capability parameter");
  (void)env.slots.free(empty);
}

TESSERA_USER_TEST(ERROR0002, pass, "wrong type: a capability parameter of another type is WrongObjectType") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr tcb = env.make(ObjectType::Tcb);
  if (t.failed()) return;
  expect_error(t, env.frame(frame).map(CapRef{frame}, 0x21000000, kRead, kExecuteNever), Error::WrongObjectType,
               "a frame as the vspace");
  expect_error(t, env.root().copy(tessera::kSlotNull, kSlotDepth, CapRef{frame}, 0, kSlotDepth, kAllRights),
               Error::WrongObjectType, "a frame as the source cnode");
  expect_error(t, env.tcb(tcb).set_priority(CapRef{frame}, 1), Error::WrongObjectType, "a frame as the authority");
  env.drop(tcb);
  env.drop(frame);
}

TESSERA_USER_TEST(ERROR0003, pass, "missing rights: a cap without Write cannot map writable memory") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr reader = frame == 0 ? 0 : env.copy(frame, kRead);
  if (t.failed()) return;
  expect_error(t, env.frame(reader).map(kRootVSpaceRef, 0x21000000, kRead | kWrite, kExecuteNever),
               Error::InsufficientRights, "writable mapping through a read-only cap");
  // A read-only mapping passes the rights check and stops at the missing page table instead.
  expect_error(t, env.frame(reader).map(kRootVSpaceRef, 0x21000000, kRead, kExecuteNever), Error::FailedLookup,
               "read-only mapping through a read-only cap");
  env.drop(reader);
  env.drop(frame);
}

TESSERA_USER_TEST(ERROR0004, pass, "bad size: object sizes outside their range are RangeError") {
  Env env(t);
  const CPtr dest = env.slot();
  const CPtr untyped = env.spare_untyped(12, 30);
  if (t.failed()) return;
  auto retype = [&](ObjectType type, uint8_t bits) {
    return env.untyped(untyped).retype(type, bits, kRootCNodeRef, 0, 0, dest, 1);
  };
  expect_error(t, retype(ObjectType::Untyped, 0), Error::RangeError, "untyped 2^0");
  expect_error(t, retype(ObjectType::Untyped, 255), Error::RangeError, "untyped 2^255");
  expect_error(t, retype(ObjectType::Cnode, 200), Error::RangeError, "cnode radix 200");
  t.check(env.is_empty(dest), "a refused retype filled its slot");
  (void)env.slots.free(dest);
}

TESSERA_USER_TEST(ERROR0005, pass, "misaligned address: frames and IPC buffers at unaligned addresses are AlignmentError") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr tcb = env.make(ObjectType::Tcb);
  if (t.failed()) return;
  expect_error(t, env.frame(frame).map(kRootVSpaceRef, 0x21000010, kRead, kExecuteNever), Error::AlignmentError,
               "frame at +0x10");
  expect_error(t, env.tcb(tcb).set_ipc_buffer(0x21000200, CapRef{frame}), Error::AlignmentError, "ipc buffer at +0x200");
  env.drop(tcb);
  env.drop(frame);
}

TESSERA_USER_TEST(ERROR0006, pass, "occupied slot: placing a cap on a used slot is DeleteFirst and changes nothing") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  if (frame == 0) return;
  const uint64_t address = env.address_of(frame);
  expect_error(t, env.root().copy(frame, kSlotDepth, kRootCNodeRef, tessera::kSlotRootTcb, kSlotDepth, kAllRights),
               Error::DeleteFirst, "copy onto the frame");
  expect_error(t, env.root().move(frame, kSlotDepth, kRootCNodeRef, tessera::kSlotBootInfoFrame, kSlotDepth),
               Error::DeleteFirst, "move onto the frame");
  t.check(env.address_of(frame) == address, "the occupied slot changed");
  t.check(!env.is_empty(tessera::kSlotBootInfoFrame), "a refused move emptied its source");
  env.drop(frame);
}

TESSERA_USER_TEST(ERROR0007, pass, "empty slot: operating on an empty source is EmptySlot") {
  Env env(t);
  const CPtr empty = env.slot(), dest = env.slot();
  auto root = env.root();
  expect_error(t, root.copy(dest, kSlotDepth, kRootCNodeRef, empty, kSlotDepth, kAllRights), Error::EmptySlot, "copy");
  expect_error(t, root.mint(dest, kSlotDepth, kRootCNodeRef, empty, kSlotDepth, kAllRights, 1), Error::EmptySlot, "mint");
  expect_error(t, root.move(dest, kSlotDepth, kRootCNodeRef, empty, kSlotDepth), Error::EmptySlot, "move");
  expect_error(t, root.mutate(dest, kSlotDepth, kRootCNodeRef, empty, kSlotDepth, 1), Error::EmptySlot, "mutate");
  t.check(env.is_empty(dest), "destination filled");
  (void)env.slots.free(empty);
  (void)env.slots.free(dest);
}

TESSERA_USER_TEST(ERROR0008, pass, "out-of-range values: counts, priorities, addresses and message sizes are RangeError") {
  Env env(t);
  const CPtr tcb = env.make(ObjectType::Tcb);
  const CPtr untyped = env.spare_untyped(12, 30);
  const CPtr dest = env.slot();
  if (t.failed()) return;
  expect_error(t, env.untyped(untyped).retype(ObjectType::Endpoint, 0, kRootCNodeRef, 0, 0, dest, 100000),
               Error::RangeError, "retype count 100000");
  expect_error(t, env.tcb(tcb).set_tls_base(0xFFFF'8000'0000'0000ull), Error::RangeError, "TLS base in the kernel half");
  // A new thread's MCP is 0: as the authority it cannot grant priority 1.
  expect_error(t, env.tcb(tcb).set_priority(CapRef{tcb}, 1), Error::RangeError, "priority above the authority's MCP");
  const CPtr frame = env.make(ObjectType::Frame4k);
  expect_error(t, env.frame(frame).map(kRootVSpaceRef, 0xFFFF'8000'0000'0000ull, kRead, kExecuteNever),
               Error::RangeError, "mapping in the kernel half");
  // A message longer than the 120 message words is refused before anything is decoded.
  const Error long_call = raw_invoke(env, tessera::kSlotRootCNode, CNode::label(CNode::Method::Delete), 121);
  t.check(long_call == Error::RangeError, "a 121-word call: %s", error_name(long_call));
  env.drop(frame);
  env.drop(tcb);
  (void)env.slots.free(dest);
}

TESSERA_USER_TEST(ERROR0009, pass, "unknown methods and malformed messages are refused without effect") {
  Env env(t);
  auto* buffer = reinterpret_cast<tessera::IpcBuffer*>(env.info.ipc_buffer);
  auto call = [&](uint64_t label, uint32_t words) { return raw_invoke(env, tessera::kSlotRootCNode, label, words); };
  buffer->msg[0] = 0;
  t.check(call(CNode::label(static_cast<CNode::Method>(99)), 1) == Error::IllegalOperation, "method 99 of CNode");
  t.check(call(tessera::abi::Untyped::label(tessera::abi::Untyped::Method::Retype), 1) == Error::IllegalOperation,
          "an Untyped method on a CNode");
  // A far pointer as the root of a delete request: never valid in a single-segment message.
  buffer->msg[0] = 0x0000'0000'0000'0002ull | (uint64_t{5} << 3);
  const Error far = call(CNode::label(CNode::Method::Delete), 1);
  t.check(far == Error::MalformedMessage, "far-pointer root: %s", error_name(far));
  // A root struct pointer past the end of the message.
  buffer->msg[0] = (uint64_t{40} << 2) | (uint64_t{2} << 32);
  const Error outside = call(CNode::label(CNode::Method::Delete), 1);
  t.check(outside == Error::MalformedMessage, "root outside the message: %s", error_name(outside));
  t.check(!env.is_empty(tessera::kSlotRootTcb), "a malformed delete deleted something");
}
