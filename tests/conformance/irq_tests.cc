// Interrupt forwarding, driven by the CMOS real-time clock's periodic interrupt (ISA IRQ 8, IOAPIC
// line 8 on a PC): an IRQHandler bound to a notification receives one signal per ack.
#include <stdint.h>

#include <tessera/sys/ipc.h>
#include <tessera/sys/testing.h>

#include "cap_test_env.h"
#include "rtc.h"

namespace {
using namespace captest;
using tessera::abi::IrqControl;
using tessera::abi::IrqHandler;

constexpr uint64_t kBadge = 0x40;


Client<IrqControl> irq_control(Env& env) { return {env.kernel, tessera::kSlotIrqControl}; }

// Polls `notification` for up to `yields` yields; returns the word seen (0 if none).
uint64_t poll_for(CPtr notification, int yields) {
  uint64_t word = 0;
  for (int i = 0; i < yields && word == 0; ++i) {
    (void)tessera::sys::poll(notification, &word);
    if (word == 0) (void)tessera::sys::yield();
  }
  return word;
}
}  // namespace

TESSERA_USER_TEST(INTERRUPT0001, pass, "the RTC interrupt reaches a notification, with the handler's badge") {
  Env env(t);
  const CPtr notification = env.make(ObjectType::Notification);
  const CPtr badged = env.slot(), handler = env.slot();
  if (t.failed()) return;
  expect_ok(t, env.root().mint(badged, kSlotDepth, kRootCNodeRef, notification, kSlotDepth, kAllRights, kBadge), "mint");
  if (!expect_ok(t, irq_control(env).get_ioapic(kRootCNodeRef, handler, kSlotDepth, 0, kRtcLine, false, false, 0),
                 "IRQControl.getIoapic")) {
    return;
  }
  Client<IrqHandler> irq{env.kernel, handler};
  expect_ok(t, irq.set_notification(CapRef{badged}), "setNotification");
  {
    Rtc rtc(env);
    if (rtc.open()) {
      rtc.acknowledge();
      rtc.set_periodic(true);
      uint64_t word = 0;
      t.check(tessera::sys::wait(notification, &word) == tessera::Error::Ok, "wait");
      t.check(word == kBadge, "notification word 0x%lx", word);
      t.check((rtc.acknowledge() & 0x40) != 0, "RTC register C shows no periodic interrupt");
    }
  }
  expect_ok(t, irq.ack(), "ack");
  env.drop(handler);
  env.drop(badged);
  env.drop(notification);
}

TESSERA_USER_TEST(INTERRUPT0002, pass, "an interrupt is delivered once per ack: the line stays masked until then") {
  Env env(t);
  const CPtr notification = env.make(ObjectType::Notification);
  const CPtr badged = env.slot(), handler = env.slot();
  if (t.failed()) return;
  expect_ok(t, env.root().mint(badged, kSlotDepth, kRootCNodeRef, notification, kSlotDepth, kAllRights, kBadge), "mint");
  if (!expect_ok(t, irq_control(env).get_ioapic(kRootCNodeRef, handler, kSlotDepth, 0, kRtcLine, false, false, 0),
                 "getIoapic")) {
    return;
  }
  Client<IrqHandler> irq{env.kernel, handler};
  expect_ok(t, irq.set_notification(CapRef{badged}), "setNotification");
  {
    Rtc rtc(env);
    if (rtc.open()) {
      rtc.acknowledge();
      rtc.set_periodic(true);
      t.check(poll_for(notification, 10000) == kBadge, "first interrupt");
      // Keep acknowledging the RTC (it would stop raising interrupts otherwise), but not the line.
      int quiet = 0;
      for (int i = 0; i < 2000; ++i) {
        rtc.acknowledge();
        uint64_t word = 0;
        (void)tessera::sys::poll(notification, &word);
        if (word == 0) ++quiet;
      }
      t.check(quiet == 2000, "signals arrived without an ack (%d quiet polls of 2000)", quiet);
      int delivered = 0;
      for (int round = 0; round < 3; ++round) {
        rtc.acknowledge();
        expect_ok(t, irq.ack(), "ack");
        if (poll_for(notification, 10000) == kBadge) ++delivered;
      }
      t.check(delivered == 3, "%d of 3 acks were followed by an interrupt", delivered);
    }
  }
  (void)irq.ack();
  env.drop(handler);
  env.drop(badged);
  env.drop(notification);
}

TESSERA_USER_TEST(INTERRUPT0003, pass, "IRQControl refuses bad lines, a second handler for a line, and MSI") {
  Env env(t);
  const CPtr handler = env.slot(), second = env.slot();
  if (t.failed()) return;
  auto control = irq_control(env);
  expect_error(t, control.get_ioapic(kRootCNodeRef, handler, kSlotDepth, 0, 24, false, false, 0), tessera::Error::RangeError,
               "line 24");
  expect_error(t, control.get_ioapic(kRootCNodeRef, handler, kSlotDepth, 1, 3, false, false, 0), tessera::Error::RangeError,
               "IOAPIC 1");
  expect_error(t, control.get_ioapic(kRootCNodeRef, tessera::kSlotRootTcb, kSlotDepth, 0, 3, false, false, 0),
               tessera::Error::DeleteFirst, "occupied slot");
  expect_ok(t, control.get_ioapic(kRootCNodeRef, handler, kSlotDepth, 0, 3, false, false, 0), "line 3");
  expect_error(t, control.get_ioapic(kRootCNodeRef, second, kSlotDepth, 0, 3, false, false, 0), tessera::Error::DeleteFirst,
               "line 3 again");
  expect_error(t, control.get_msi(kRootCNodeRef, second, kSlotDepth, 0, 0, 0, 0, 0), tessera::Error::NotSupported, "MSI");
  // Deleting the handler frees the line for a new one.
  env.drop(handler);
  expect_ok(t, control.get_ioapic(kRootCNodeRef, second, kSlotDepth, 0, 3, false, false, 0), "line 3 after delete");
  env.drop(second);
}
