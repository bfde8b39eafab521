#include "object/irq.h"

#include "arch/x86_64/ioapic.h"
#include "arch/x86_64/trap.h"
#include "generic/trace.h"
#include "object/tcb.h"
#include "object/notification.h"

namespace tessera::kernel::irq {
namespace {

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
  if (tracing::on(trace::kCategoryInterrupts)) {
    Cpu& cpu = this_cpu();
    const uint32_t notification = l.bound ? layout::phys_to<Notification>(l.notification)->trace_id : 0;
    tracing::emit(cpu, tracing::Kind::Interrupt, cpu.current != nullptr ? cpu.current->trace_id : 0,
                  vector_for(line), notification, 0);
  }
  if (l.bound) {
    ++l.delivered;
    notification_signal(l.notification, l.badge);
  }
}
}  // namespace

bool issued(uint32_t line) { return line < kMaxLines && lines[line].issued; }

Result<void> open(uint32_t line, bool level_triggered, bool active_low) {
  if (line >= kMaxLines) return Error::RangeError;
  TRY(ioapic::route(line, vector_for(line), static_cast<uint8_t>(0),
                    level_triggered ? ioapic::Trigger::Level : ioapic::Trigger::Edge,
                    active_low ? ioapic::Polarity::ActiveLow : ioapic::Polarity::ActiveHigh));
  if (!register_interrupt(vector_for(line), on_interrupt, reinterpret_cast<void*>(uintptr_t{line}))) {
    return Error::Busy;
  }
  lines[line] = IrqLine{true, false, 0, 0, 0};
  return {};
}

Result<void> bind(uint32_t line, uint64_t notification, uint64_t badge) {
  IrqLine& l = lines[line];
  l.bound = true;
  l.notification = notification;
  l.badge = badge;
  return ioapic::unmask(line);
}

Result<void> unbind(uint32_t line) {
  lines[line].bound = false;
  return ioapic::mask(line);
}

Result<void> ack(uint32_t line) { return ioapic::unmask(line); }

void release(uint32_t line) {
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

}  // namespace tessera::kernel::irq
