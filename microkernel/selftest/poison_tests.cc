// The kernel_poison debug option (object/poison.h): destroying an object poisons its memory, and a
// reference that is still followed afterwards panics with "dangling reference". These tests break
// the reference discipline on purpose (they call the destroy hook while a reference is kept) to
// show the check fires; the conformance suite and the fuzzer run with it on.
#include <tessera/string.h>

#include "cap/capability.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"
#include "object/endpoint.h"
#include "object/notification.h"
#include "object/kernel_objects.h"
#include "object/poison.h"
#include "selftest/selftest.h"

namespace tessera::kernel {
namespace {

#ifdef TESSERA_KERNEL_POISON
// A zeroed frame from the boot allocator standing in for an object retyped from untyped memory.
// Self-tests run before the capability context is set up (and the boot ends after them).
uint64_t fresh_object_memory() {
  init_capabilities();
  const uint64_t phys = *boot_state().frames.alloc();
  memset(layout::phys_to_virt(phys), 0, 4096);
  return phys;
}

TESSERA_SELFTEST(POISON0001, pass, "a destroyed endpoint's memory is poisoned; a live one passes the check") {
  const uint64_t phys = fresh_object_memory();
  (void)Endpoint::at(phys);  // live: no panic
  capabilities().destroyed(cap::Capability::object(cap::ObjectType::Endpoint, phys));
  const auto* words = static_cast<const uint64_t*>(layout::phys_to_virt(phys));
  t.check(words[0] == kPoisonWord && words[7] == kPoisonWord, "endpoint memory after destroy: 0x%lx 0x%lx",
          words[0], words[7]);
}

TESSERA_SELFTEST(POISON0002, panic, "following a kept reference into a destroyed notification panics") {
  t.expect_panic("dangling reference: a notification at");
  const uint64_t phys = fresh_object_memory();
  capabilities().destroyed(cap::Capability::object(cap::ObjectType::Notification, phys));
  notification_signal(phys, 1);  // what an IRQ line still bound to it would do
}

TESSERA_SELFTEST(POISON0003, panic, "a thread kept on a queue after its TCB was destroyed panics when dequeued") {
  t.expect_panic("dangling reference: a thread at");
  const uint64_t endpoint = fresh_object_memory();
  const uint64_t tcb = fresh_object_memory();
  // The endpoint's queue keeps the thread, as it would if destruction forgot to unlink it.
  Endpoint::at(endpoint)->enqueue_sender(tcb_at(tcb));
  auto* words = static_cast<uint64_t*>(layout::phys_to_virt(tcb));
  for (int i = 0; i < 512; ++i) words[i] = kPoisonWord;
  endpoint_destroyed(endpoint);  // wakes (dequeues) every queued thread
}
#endif

}  // namespace
}  // namespace tessera::kernel
