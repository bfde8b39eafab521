// IRQControl and IRQHandler invocations: decoding only; the line table is object/irq.cc.
// IRQControl issues an IRQHandler capability per IOAPIC line; a handler is bound to a notification.
#include <tessera/abi/kernel.capnp.h>

#include "arch/x86_64/ioapic.h"
#include "cap/cnode_ops.h"
#include "cap/cspace.h"
#include "generic/invocation.h"
#include "object/irq.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
using namespace tessera::abi;

Result<void> invoke_irq_control(Invocation& inv) {
  switch (TRY(IrqControl::method_of(inv.request.label))) {
    case IrqControl::Method::GetIoapic: {
      const auto a = TRY(IrqControl::GetIoapicArgs::decode(inv.request));
      // One IOAPIC; the vector is the kernel's choice (32 + line), the argument is ignored.
      if (a.ioapic != 0 || a.pin >= ioapic::line_count() || a.pin >= irq::kMaxLines) return Error::RangeError;
      const auto root = TRY(inv.typed_param<cap::ObjectType::CNode>(a.root));
      cap::CapSlot* dest = TRY(cap::lookup_slot(capabilities(), root.cap(), a.index, a.depth));
      if (!dest->empty() || irq::issued(a.pin)) return Error::DeleteFirst;
      TRY(irq::open(a.pin, a.level, a.active_low));
      if (auto r = cap::issue_cap(capabilities(), inv.target, dest, cap::Capability::control(cap::ObjectType::IrqHandler, a.pin)); !r) {
        irq::release(a.pin);
        return r.error();
      }
      return {};
    }
    case IrqControl::Method::GetMsi:
      return Error::NotSupported;  // no PCI MSI yet
  }
  return Error::IllegalOperation;
}

Result<void> invoke_irq_handler(Invocation& inv) {
  const uint32_t line = irq::line_of(inv.target->cap);
  if (!irq::issued(line)) return Error::InvalidCapability;
  switch (TRY(IrqHandler::method_of(inv.request.label))) {
    case IrqHandler::Method::Ack:
      TRY(IrqHandler::AckArgs::decode(inv.request));
      return irq::ack(line);
    case IrqHandler::Method::SetNotification: {
      const auto a = TRY(IrqHandler::SetNotificationArgs::decode(inv.request));
      const auto n = TRY(inv.typed_param<cap::ObjectType::Notification>(a.notification, cap::CapRights::write()));
      return irq::bind(line, n->phys(), n->badge());
    }
    case IrqHandler::Method::Clear:
      TRY(IrqHandler::ClearArgs::decode(inv.request));
      return irq::unbind(line);
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
