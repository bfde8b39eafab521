// Interrupt forwarding: IRQControl issues an IRQHandler capability per IOAPIC line; a handler is
// bound to a notification. When the line fires, the kernel masks it, signals the notification with
// the binding cap's badge and acknowledges the LAPIC; the line stays masked until the handler's
// holder calls ack(), so each interrupt is delivered once per ack.
#include <tessera/abi/kernel.capnp.h>

#include "arch/x86_64/ioapic.h"
#include "arch/x86_64/trap.h"
#include "cap/cnode_ops.h"
#include "cap/cspace.h"
#include "generic/invocation.h"
#include "object/ipc.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
namespace {
using namespace tessera::abi;

constexpr uint32_t kMaxLines = 24;

struct IrqLine {
  bool issued;
  bool bound;
  uint64_t notification;  // physical address of the bound notification
  uint64_t badge;
  uint64_t delivered;     // interrupts forwarded (accounting)
};
IrqLine lines[kMaxLines];

uint8_t vector_for(uint32_t line) { return static_cast<uint8_t>(vectors::kFirstIrq + line); }

void on_interrupt(TrapFrame&, void* context) {
  const auto line = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(context));
  IrqLine& l = lines[line];
  (void)ioapic::mask(line);  // until the handler acks
  if (l.bound) {
    ++l.delivered;
    notification_signal(l.notification, l.badge);
  }
}

uint32_t line_of(const cap::Capability& handler) { return static_cast<uint32_t>(handler.object_word()); }
}  // namespace

void release_irq(const cap::Capability& handler) {
  const uint32_t line = line_of(handler);
  if (line >= kMaxLines) return;
  (void)ioapic::mask(line);
  unregister_interrupt(vector_for(line));
  lines[line] = IrqLine{};
}

void unbind_irqs_from(uint64_t notification) {
  for (uint32_t line = 0; line < kMaxLines; ++line) {
    IrqLine& l = lines[line];
    if (!l.bound || l.notification != notification) continue;
    (void)ioapic::mask(line);
    l.bound = false;
    l.notification = 0;
    l.badge = 0;
  }
}

Result<void> invoke_irq_control(Invocation& inv) {
  switch (TRY(IrqControl::method_of(inv.request.label))) {
    case IrqControl::Method::GetIoapic: {
      const auto a = TRY(IrqControl::GetIoapicArgs::decode(inv.request));
      // One IOAPIC; the vector is the kernel's choice (32 + line), the argument is ignored.
      if (a.ioapic != 0 || a.pin >= ioapic::line_count() || a.pin >= kMaxLines) return Error::RangeError;
      cap::CapSlot* root = TRY(inv.cap_param(a.root));
      TRY(cap::check_cap(root, cap::ObjectType::CNode, cap::CapRights::none()));
      cap::CapSlot* dest = TRY(cap::lookup_slot(capabilities(), root->cap, a.index, a.depth));
      if (!dest->empty() || lines[a.pin].issued) return Error::DeleteFirst;
      TRY(ioapic::route(a.pin, vector_for(a.pin), static_cast<uint8_t>(0),
                        a.level ? ioapic::Trigger::Level : ioapic::Trigger::Edge,
                        a.active_low ? ioapic::Polarity::ActiveLow : ioapic::Polarity::ActiveHigh));
      if (!register_interrupt(vector_for(a.pin), on_interrupt, reinterpret_cast<void*>(uintptr_t{a.pin}))) {
        return Error::Busy;
      }
      if (auto r = cap::issue_cap(capabilities(), inv.target, dest, cap::Capability::control(cap::ObjectType::IrqHandler, a.pin)); !r) {
        unregister_interrupt(vector_for(a.pin));
        return r.error();
      }
      lines[a.pin] = IrqLine{true, false, 0, 0, 0};
      return {};
    }
    case IrqControl::Method::GetMsi:
      return Error::NotSupported;  // no PCI MSI yet
  }
  return Error::IllegalOperation;
}

Result<void> invoke_irq_handler(Invocation& inv) {
  const uint32_t line = line_of(inv.target->cap);
  if (line >= kMaxLines || !lines[line].issued) return Error::InvalidCapability;
  IrqLine& l = lines[line];
  switch (TRY(IrqHandler::method_of(inv.request.label))) {
    case IrqHandler::Method::Ack:
      TRY(IrqHandler::AckArgs::decode(inv.request));
      return ioapic::unmask(line);
    case IrqHandler::Method::SetNotification: {
      const auto a = TRY(IrqHandler::SetNotificationArgs::decode(inv.request));
      cap::CapSlot* n = TRY(inv.cap_param(a.notification));
      TRY(cap::check_cap(n, cap::ObjectType::Notification, cap::CapRights::write()));
      l.bound = true;
      l.notification = n->cap.phys();
      l.badge = n->cap.badge();
      return ioapic::unmask(line);
    }
    case IrqHandler::Method::Clear:
      TRY(IrqHandler::ClearArgs::decode(inv.request));
      l.bound = false;
      return ioapic::mask(line);
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
