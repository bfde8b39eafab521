#include "cap_test_env.h"

#include <tessera/sys/heap.h>

namespace captest {

Env::Env(Context& context)
    : t(context),
      info(boot_info()),
      kernel(reinterpret_cast<tessera::IpcBuffer*>(boot_info().ipc_buffer)),
      slots(tessera::sys::root_free_slots(boot_info())),  // BootInfo.empty less the runtime's slots
      memory(boot_info(), kernel, slots) {
  // The scratch slot is the first free slot that really is empty. A slot an earlier test leaked is
  // noted and kept out of this test's way (it stays allocated and is not swept).
  for (;;) {
    auto s = slots.alloc();
    if (!t.check(s.ok(), "no empty slot in BootInfo.empty")) return;
    auto probe = root().copy(*s, kSlotDepth, kRootCNodeRef, tessera::kSlotRootTcb, kSlotDepth, kAllRights);
    if (probe.ok()) {
      (void)root().delete_(*s, kSlotDepth);
      scratch_ = *s;
      return;
    }
    t.note("slot %lu is occupied before the test (%s): an earlier test leaked it", *s, error_name(probe.error()));
  }
}

Env::~Env() {
  const auto freed = tessera::sys::free_tables(memory, &tables);
  t.check(freed.ok(), "deleting page tables: %s", error_name(freed.error()));
  if (scratch_ == 0) return;
  for (CPtr s = scratch_ + 1; s < slots.high_water(); ++s) {
    if (is_empty(s)) continue;
    t.check(false, "slot %lu still holds a capability at the end of the test", s);
    (void)root().revoke(s, kSlotDepth);
    (void)root().delete_(s, kSlotDepth);
  }
}

CPtr Env::slot() {
  auto s = slots.alloc();
  return t.check(s.ok(), "slot allocator: %s", error_name(s.error())) ? *s : 0;
}

CPtr Env::make(ObjectType type, uint8_t size_bits) {
  auto s = memory.allocate(type, size_bits);
  return t.check(s.ok(), "retype of object type %u (size %u): %s", static_cast<unsigned>(type), size_bits,
                 error_name(s.error()))
             ? *s
             : 0;
}

void Env::drop(CPtr s) {
  if (s == 0) return;
  auto r = memory.free(s);
  t.check(r.ok(), "delete slot %lu: %s", s, error_name(r.error()));
}

CPtr Env::copy(CPtr source, uint8_t rights) {
  const CPtr dest = slot();
  if (dest == 0) return 0;
  auto r = root().copy(dest, kSlotDepth, kRootCNodeRef, source, kSlotDepth, rights);
  if (t.check(r.ok(), "copy slot %lu: %s", source, error_name(r.error()))) return dest;
  (void)slots.free(dest);
  return 0;
}

bool Env::is_empty(CPtr s) {
  auto r = root().copy(scratch_, kSlotDepth, kRootCNodeRef, s, kSlotDepth, kAllRights);
  if (r.ok()) (void)root().delete_(scratch_, kSlotDepth);
  return r.error() == Error::EmptySlot;
}

uint64_t Env::address_of(CPtr f) {
  auto r = frame(f).get_address();
  return t.check(r.ok(), "getAddress of slot %lu: %s", f, error_name(r.error())) ? r->paddr() : 0;
}

bool Env::map(CPtr vspace, CPtr f, uint64_t vaddr, uint8_t rights, uint8_t attributes, tessera::sys::PageSize size) {
  const tessera::sys::MapRequest request{vspace, f, vaddr, size, rights, attributes};
  auto r = tessera::sys::map_frame(memory, request, &tables);
  return t.check(r.ok(), "map slot %lu at 0x%lx: %s", f, vaddr, error_name(r.error()));
}

CPtr Env::spare_untyped(uint8_t min_bits, uint8_t max_bits) {
  const uint64_t count = tessera::min<uint64_t>(info.untyped.end - info.untyped.start, tessera::kMaxBootUntypeds);
  for (uint64_t i = count; i-- > 0;) {
    const tessera::UntypedDescriptor& d = info.untyped_list[i];
    if (d.is_device != 0 || d.size_bits < min_bits || d.size_bits > max_bits) continue;
    if (untyped_is_unused(info.untyped.start + i)) return info.untyped.start + i;
  }
  t.check(false, "no unused untyped of 2^%u..2^%u bytes", min_bits, max_bits);
  return 0;
}

bool Env::untyped_is_unused(CPtr u) {
  // A child as large as the untyped fits only while nothing else is carved from it.
  const uint8_t bits = describe_untyped(u).size_bits;
  if (!untyped(u).retype(ObjectType::Untyped, bits, kRootCNodeRef, 0, 0, scratch_, 1).ok()) return false;
  (void)root().delete_(scratch_, kSlotDepth);
  return true;
}

}  // namespace captest
