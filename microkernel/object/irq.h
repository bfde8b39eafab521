// Interrupt lines (IOAPIC pins) forwarded to user space: the kernel's table of lines, one per
// IRQHandler capability issued. When a bound line fires, the kernel masks it and signals the bound
// notification with the binding's badge; the line stays masked until the handler's holder acks it,
// so each interrupt is delivered once per ack. Invocations: object/irq_invoke.cc.
#pragma once

#include <stdint.h>

#include <tessera/result.h>

#include "cap/capability.h"

namespace tessera::kernel::irq {

inline constexpr uint32_t kMaxLines = 24;

// The line an IRQHandler cap names.
inline uint32_t line_of(const cap::Capability& handler) { return static_cast<uint32_t>(handler.object_word()); }

// Whether an IRQHandler cap for `line` exists.
bool issued(uint32_t line);
// Routes `line` to its vector (masked) and takes its interrupts; the line counts as issued from now
// on. Busy when the vector is taken, the IOAPIC's errors for a bad line.
Result<void> open(uint32_t line, bool level_triggered, bool active_low);
// Binds the issued `line` to the notification at `notification` with `badge`, and unmasks it.
Result<void> bind(uint32_t line, uint64_t notification, uint64_t badge);
// Forgets the issued `line`'s binding and masks it.
Result<void> unbind(uint32_t line);
// The holder handled the interrupt: the line may fire again.
Result<void> ack(uint32_t line);
// The last IRQHandler cap to `line` is gone (or issuing it failed): mask it, stop taking its
// interrupts, forget it.
void release(uint32_t line);
// The notification at `notification` is being destroyed: every line bound to it is unbound and
// masked, so no interrupt can signal its memory once it is reused.
void unbind_irqs_from(uint64_t notification);

}  // namespace tessera::kernel::irq
