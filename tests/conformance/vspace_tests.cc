// How the root task reaches memory and devices (suite `user`): frames and paging structures in its
// own and in a second address space (VSPACE), and I/O-port capabilities (IOPORT). Mappings are
// checked by their effects: bytes written through one mapping are read back through another, a
// freed virtual address takes a new frame, a replaced mapping shows the new frame's contents.
#include <stdint.h>

#include <tessera/sys/testing.h>

#include "cap_test_env.h"

namespace {
using namespace captest;
using tessera::sys::PageSize;

// Free virtual addresses of the root task (below 1 GiB, away from its image at 4 MiB and from
// 0x10000000, which SYSCALL0004 and ISOLATION0003 expect to be unmapped).
constexpr uint64_t kWindowA = 0x24000000;
constexpr uint64_t kWindowB = 0x24001000;
constexpr uint64_t kWindowC = 0x24002000;
constexpr uint64_t kHugeWindow = 0x4000'0000;  // 1 GiB: no page directory there yet
constexpr CPtr kRootVSpace = tessera::kSlotRootVSpace;

volatile uint64_t* words_at(uint64_t vaddr) { return reinterpret_cast<volatile uint64_t*>(vaddr); }
}  // namespace

TESSERA_USER_TEST(VSPACE0001, pass, "a new frame mapped twice: bytes written through one mapping read through the other") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr alias = frame == 0 ? 0 : env.copy(frame, kRead);
  if (t.failed()) return;
  if (!env.map(kRootVSpace, frame, kWindowA) || !env.map(kRootVSpace, alias, kWindowB, kRead)) return;
  t.check(words_at(kWindowA)[0] == 0 && words_at(kWindowA)[511] == 0, "a new frame is not zeroed");
  for (uint64_t i = 0; i < 512; ++i) words_at(kWindowA)[i] = 0xA5A5'0000'0000'0000ull + i;
  bool same = true;
  for (uint64_t i = 0; i < 512; ++i) same = same && words_at(kWindowB)[i] == 0xA5A5'0000'0000'0000ull + i;
  t.check(same, "the alias shows other bytes");
  t.check(env.address_of(frame) == env.address_of(alias), "copy and original name different frames");
  env.drop(alias);
  env.drop(frame);
}

TESSERA_USER_TEST(VSPACE0002, pass, "a second address space is built top-down; each level checks the one above") {
  Env env(t);
  const CPtr pml4 = env.make(ObjectType::Pml4), pdpt = env.make(ObjectType::Pdpt), pdpt2 = env.make(ObjectType::Pdpt);
  const CPtr pd = env.make(ObjectType::PageDirectory), pt = env.make(ObjectType::PageTable);
  const CPtr frame = env.make(ObjectType::Frame4k), other = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  const CapRef space{pml4};
  expect_error(t, env.frame(frame).map(space, kWindowA, kRead, kExecuteNever), Error::FailedLookup, "frame first");
  expect_error(t, env.page_table(pt).map(space, kWindowA, 0), Error::FailedLookup, "page table before its directory");
  expect_error(t, env.page_directory(pd).map(space, kWindowA, 0), Error::FailedLookup, "directory before its PDPT");
  expect_ok(t, env.pdpt(pdpt).map(space, kWindowA, 0), "PDPT");
  expect_error(t, env.pdpt(pdpt).map(space, 0x80'0000'0000ull, 0), Error::InvalidCapability, "the PDPT mapped twice");
  expect_error(t, env.pdpt(pdpt2).map(space, kWindowA, 0), Error::DeleteFirst, "a second PDPT in the same entry");
  expect_ok(t, env.page_directory(pd).map(space, kWindowA, 0), "page directory");
  expect_ok(t, env.page_table(pt).map(space, kWindowA, 0), "page table");
  expect_ok(t, env.frame(frame).map(space, kWindowA, kRead | kWrite, kExecuteNever), "frame");
  expect_error(t, env.frame(other).map(space, kWindowA, kRead, kExecuteNever), Error::DeleteFirst, "a taken address");
  expect_ok(t, env.frame(other).map(space, kWindowB, kRead, kExecuteNever), "the next page");
  // Unmapping the page table cuts everything under it off: the next frame has nowhere to go.
  expect_ok(t, env.page_table(pt).unmap(), "unmap the page table");
  expect_ok(t, env.frame(other).unmap(), "unmap a frame whose table is gone");
  expect_error(t, env.frame(other).map(space, kWindowC, kRead, kExecuteNever), Error::FailedLookup, "map without a table");
  const CPtr caps[] = {frame, other, pt, pd, pdpt2, pdpt, pml4};
  for (CPtr c : caps) env.drop(c);
}

TESSERA_USER_TEST(VSPACE0003, pass, "Frame.map refuses misaligned, kernel, out-of-range addresses and wrong spaces") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k), huge = env.make(ObjectType::Frame2m);
  const CPtr untyped_like = env.make(ObjectType::Endpoint);
  if (t.failed()) return;
  auto map = [&](CPtr f, CapRef space, uint64_t vaddr) { return env.frame(f).map(space, vaddr, kRead, kExecuteNever); };
  expect_error(t, map(frame, kRootVSpaceRef, kWindowA + 8), Error::AlignmentError, "4 KiB frame at +8");
  expect_error(t, map(huge, kRootVSpaceRef, kHugeWindow + 4096), Error::AlignmentError, "2 MiB frame at +4 KiB");
  expect_error(t, map(frame, kRootVSpaceRef, 0xFFFF'FFFF'8000'0000ull), Error::RangeError, "kernel text");
  expect_error(t, map(frame, kRootVSpaceRef, 0x0000'7FFF'FFFF'F000ull), Error::RangeError, "the page past the user limit");
  expect_error(t, map(frame, CapRef{untyped_like}, kWindowA), Error::WrongObjectType, "an endpoint as the vspace");
  expect_error(t, map(frame, CapRef{tessera::kSlotRootCNode}, kWindowA), Error::WrongObjectType, "a cnode as the vspace");
  // A frame cap maps once; its copy may map again.
  if (env.map(kRootVSpace, frame, kWindowA, kRead)) {
    expect_error(t, map(frame, kRootVSpaceRef, kWindowB), Error::InvalidCapability, "the frame mapped twice");
  }
  expect_error(t, map(tessera::kSlotBootInfoFrame, kRootVSpaceRef, kWindowB), Error::InvalidCapability,
               "the boot-info frame, mapped by the kernel");
  const CPtr caps[] = {untyped_like, huge, frame};
  for (CPtr c : caps) env.drop(c);
}

TESSERA_USER_TEST(VSPACE0004, pass, "Frame.unmap frees the address for another frame; contents stay with the frame") {
  Env env(t);
  const CPtr first = env.make(ObjectType::Frame4k), second = env.make(ObjectType::Frame4k);
  if (t.failed() || !env.map(kRootVSpace, first, kWindowA)) return;
  words_at(kWindowA)[7] = 0x1111;
  expect_ok(t, env.frame(first).unmap(), "unmap");
  if (!env.map(kRootVSpace, second, kWindowA)) return;
  // A stale TLB entry would still show the first frame here.
  t.check(words_at(kWindowA)[7] == 0, "the address still shows the unmapped frame (0x%lx)", words_at(kWindowA)[7]);
  if (env.map(kRootVSpace, first, kWindowB)) t.check(words_at(kWindowB)[7] == 0x1111, "the frame lost its contents");
  expect_ok(t, env.frame(second).unmap(), "unmap the second");
  expect_ok(t, env.frame(second).unmap(), "unmapping an unmapped frame");
  env.drop(second);
  env.drop(first);
}

TESSERA_USER_TEST(VSPACE0005, pass, "deleting or revoking a mapped frame cap unmaps exactly that mapping") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k), other = env.make(ObjectType::Frame4k);
  const CPtr copy = frame == 0 ? 0 : env.copy(frame), copy2 = frame == 0 ? 0 : env.copy(frame);
  if (t.failed()) return;
  if (!env.map(kRootVSpace, frame, kWindowA) || !env.map(kRootVSpace, copy, kWindowB) ||
      !env.map(kRootVSpace, copy2, kWindowC)) {
    return;
  }
  words_at(kWindowA)[0] = 0x5151;
  env.drop(copy);
  expect_ok(t, env.frame(other).map(kRootVSpaceRef, kWindowB, kRead | kWrite, kExecuteNever), "reuse the address");
  t.check(words_at(kWindowB)[0] == 0, "the deleted cap's mapping survived");
  t.check(words_at(kWindowA)[0] == 0x5151, "the original's mapping went too");
  expect_ok(t, env.root().revoke(frame, kSlotDepth), "revoke");
  t.check(env.is_empty(copy2), "revoke left a copy");
  expect_ok(t, env.frame(frame).unmap(), "unmap the original");
  expect_ok(t, env.frame(other).unmap(), "unmap the other");
  expect_ok(t, env.frame(other).map(kRootVSpaceRef, kWindowC, kRead, kExecuteNever), "the revoked copy's address is free");
  env.drop(other);
  env.drop(frame);
  (void)env.slots.free(copy2);
}

TESSERA_USER_TEST(VSPACE0006, pass, "a 2 MiB frame maps at a 2 MiB boundary under a new page directory") {
  Env env(t);
  const CPtr huge = env.make(ObjectType::Frame2m), small = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  t.check(env.address_of(huge) % (2u << 20) == 0, "2 MiB frame at 0x%lx", env.address_of(huge));
  if (!env.map(kRootVSpace, huge, kHugeWindow, kRead | kWrite, kExecuteNever, PageSize::k2M)) return;
  words_at(kHugeWindow)[0] = 1;
  words_at(kHugeWindow + (2u << 20) - 8)[0] = 2;
  t.check(words_at(kHugeWindow)[0] == 1 && words_at(kHugeWindow + (2u << 20) - 8)[0] == 2, "2 MiB frame contents");
  // The directory entry holds the large page: no page table fits there.
  const CPtr pt = env.make(ObjectType::PageTable);
  expect_error(t, env.page_table(pt).map(kRootVSpaceRef, kHugeWindow, 0), Error::DeleteFirst, "table under a 2 MiB page");
  expect_error(t, env.frame(small).map(kRootVSpaceRef, kHugeWindow + 4096, kRead, kExecuteNever), Error::FailedLookup,
               "4 KiB frame inside a 2 MiB page");
  const CPtr caps[] = {pt, small, huge};
  for (CPtr c : caps) env.drop(c);
}

TESSERA_USER_TEST(VSPACE0007, fault, "W^X: a writable frame mapped without execute-never still cannot be executed") {
  Env env(t);
  const CPtr frame = env.make(ObjectType::Frame4k);
  if (frame == 0 || !env.map(kRootVSpace, frame, kWindowA, kRead | kWrite, kExecutable)) return;
  *reinterpret_cast<volatile uint8_t*>(kWindowA) = 0xC3;  // ret
  t.expect_fault("page fault at 0x24000000 error 0x15 ");
  reinterpret_cast<void (*)()>(kWindowA)();
}

TESSERA_USER_TEST(IOPORT0001, pass, "an IOPort cap for the CMOS ports reads and writes CMOS RAM") {
  Env env(t);
  const CPtr ports = env.slot();
  if (!expect_ok(t, env.io_port_control().issue(0x70, 0x71, kRootCNodeRef, ports, kSlotDepth), "issue 0x70-0x71")) return;
  auto cmos = env.io_port(ports);
  constexpr uint8_t kScratchRegister = 0x7F;  // general-purpose CMOS RAM, unused by the kernel
  auto read = [&]() -> int {
    if (!cmos.out8(0x70, kScratchRegister).ok()) return -1;
    auto v = cmos.in8(0x71);
    return v.ok() ? v->value() : -1;
  };
  const int original = read();
  t.check(original >= 0, "read CMOS");
  const uint8_t patterns[] = {0x5A, 0xA5};
  for (uint8_t p : patterns) {
    expect_ok(t, cmos.out8(0x70, kScratchRegister), "select");
    expect_ok(t, cmos.out8(0x71, p), "write");
    const int back = read();
    t.check(back == p, "wrote 0x%x, read 0x%x", p, back);
  }
  if (original >= 0) {
    (void)cmos.out8(0x70, kScratchRegister);
    (void)cmos.out8(0x71, static_cast<uint8_t>(original));
  }
  env.drop(ports);
}

TESSERA_USER_TEST(IOPORT0002, pass, "IOPort accesses outside the cap's range, or wider than it, are RangeError") {
  Env env(t);
  const CPtr ports = env.slot();
  if (!expect_ok(t, env.io_port_control().issue(0x70, 0x71, kRootCNodeRef, ports, kSlotDepth), "issue")) return;
  auto cmos = env.io_port(ports);
  expect_error(t, cmos.in8(0x72), Error::RangeError, "in8 past the range");
  expect_error(t, cmos.out8(0x6F, 0), Error::RangeError, "out8 before the range");
  expect_error(t, cmos.in16(0x71), Error::RangeError, "in16 straddling the end");
  expect_error(t, cmos.in32(0x70), Error::RangeError, "in32 wider than the range");
  expect_error(t, cmos.in8(0x3F8), Error::RangeError, "COM1 through the CMOS cap");
  expect_ok(t, cmos.in16(0x70), "in16 covering the range");
  // A copy grants the same ports.
  const CPtr copy = env.copy(ports);
  if (copy != 0) expect_ok(t, env.io_port(copy).out8(0x70, 0x7F), "through a copy");
  env.drop(copy);
  env.drop(ports);
}

TESSERA_USER_TEST(IOPORT0003, pass, "IOPortControl.issue refuses the kernel's ports (not COM1) and ports already issued") {
  Env env(t);
  const CPtr first = env.slot(), second = env.slot();
  auto control = env.io_port_control();
  auto issue = [&](uint16_t from, uint16_t to, CPtr slot) { return control.issue(from, to, kRootCNodeRef, slot, kSlotDepth); };
  const uint16_t kernel_ports[][2] = {{0x40, 0x43}, {0x42, 0x42}, {0x61, 0x61}, {0x20, 0x21},
                                      {0xA0, 0xA1}, {0xF4, 0xF4}, {0x510, 0x511}, {0x0, 0xFFFF}};
  for (const auto& range : kernel_ports) {
    const auto r = issue(range[0], range[1], first);
    t.check(r.error() == Error::RangeError, "ports 0x%x-0x%x: %s", range[0], range[1], error_name(r.error()));
  }
  expect_error(t, issue(0x71, 0x70, first), Error::RangeError, "first > last");
  t.check(env.is_empty(first), "a refused issue filled its slot");
  // COM1 is the console driver's (the kernel's debug output does not need a capability).
  const CPtr com1 = env.slot();
  expect_ok(t, issue(0x3F8, 0x3FF, com1), "COM1");
  env.drop(com1);
  expect_ok(t, issue(0x2F8, 0x2FF, first), "COM2");
  expect_error(t, issue(0x2FF, 0x300, second), Error::DeleteFirst, "overlapping an issued range");
  expect_error(t, issue(0x300, 0x301, first), Error::DeleteFirst, "into an occupied slot");
  env.drop(first);
  expect_ok(t, issue(0x2FF, 0x300, second), "after the first cap is gone");
  env.drop(second);
  // The PIT's channel 0 and mode port are the timer server's, not the kernel's.
  const CPtr channel0 = env.slot(), mode = env.slot();
  expect_ok(t, issue(0x40, 0x40, channel0), "the PIT's channel 0");
  expect_ok(t, issue(0x43, 0x43, mode), "the PIT's mode port");
  env.drop(channel0);
  env.drop(mode);
}

TESSERA_USER_TEST(IOPORT0004, pass, "IOPort.writeFrame sends a frame's bytes to a port in its range; refuses other caps, device frames, frames without Read, lengths over a page or past the frame") {
  Env env(t);
  const CPtr ports = env.slot();
  // 0xE9, QEMU's debugcon: without -debugcon the bytes go nowhere.
  if (!expect_ok(t, env.io_port_control().issue(0xE9, 0xE9, kRootCNodeRef, ports, kSlotDepth), "issue 0xe9")) return;
  auto port = env.io_port(ports);
  const CPtr frame = env.make(ObjectType::Frame4k);
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  if (frame == 0 || endpoint == 0) return;
  const CapRef f{frame};
  expect_ok(t, port.write_frame(0xE9, f, 0, 0), "nothing");
  expect_ok(t, port.write_frame(0xE9, f, 0, 4096), "the whole page");
  expect_ok(t, port.write_frame(0xE9, f, 4095, 1), "the last byte");
  expect_error(t, port.write_frame(0xE9, f, 0, 4097), Error::RangeError, "more than a page");
  expect_error(t, port.write_frame(0xE9, f, 4090, 16), Error::RangeError, "past the frame's end");
  expect_error(t, port.write_frame(0xE9, f, ~uint64_t{0} - 7, 16), Error::RangeError, "an offset that wraps");
  expect_error(t, port.write_frame(0xEA, f, 0, 16), Error::RangeError, "a port outside the cap");
  expect_error(t, port.write_frame(0xE9, CapRef{endpoint}, 0, 16), Error::InvalidCapability, "an endpoint as the frame");
  const CPtr write_only = env.copy(frame, kWrite);
  if (write_only != 0) {
    expect_error(t, port.write_frame(0xE9, CapRef{write_only}, 0, 16), Error::InsufficientRights, "a frame cap without Read");
  }
  // Device memory is not read through the kernel's direct map (it may lie beyond it).
  for (uint64_t i = 0; i < env.info.untyped.end - env.info.untyped.start && i < tessera::kMaxBootUntypeds; ++i) {
    if (env.info.untyped_list[i].is_device == 0) continue;
    const CPtr device_frame = env.slot();
    if (!expect_ok(t, env.untyped(env.info.untyped.start + i).retype(ObjectType::Frame4k, 0, kRootCNodeRef, 0, 0, device_frame, 1),
                   "a device frame")) {
      break;
    }
    expect_error(t, port.write_frame(0xE9, CapRef{device_frame}, 0, 16), Error::InvalidCapability, "a device frame");
    env.drop(device_frame);
    break;
  }
  env.drop(write_only);
  env.drop(endpoint);
  env.drop(frame);
  env.drop(ports);
}
