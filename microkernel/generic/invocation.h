// Kernel object invocations: a Call on a capability that is not an endpoint. The message is the
// method's Cap'n Proto parameter struct (docs/abi.md); the generated decoders (abi/kernel.capnp)
// turn it into typed arguments, and one handler per object type acts on them.
#pragma once

#include <stdint.h>

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>
#include <tessera/result.h>

#include "cap/cspace.h"
#include "cap/slot.h"
#include "object/tcb.h"

namespace tessera::kernel {

struct Invocation {
  Tcb* caller;
  cap::CapSlot* target;                         // the invoked capability
  capnp::Request request;                       // label and message words
  cap::CapSlot* extra[kMaxTransferCaps];        // the transferred capabilities, looked up
  uint32_t extra_count;
  capnp::ReplyBuffer reply_buffer;              // results go here: a handler sets reply_length to
  uint32_t reply_length;                        //   what its generated *Return::encode() wrote

  // The slot of capability parameter `index` (a cap of any type); InvalidCapability when no such
  // cap was sent.
  Result<cap::CapSlot*> cap_param(capnp::CapIndex index) const;
  // Capability parameter `index` as a kType cap with `required` rights (cap::lookup_cap's errors).
  template <cap::ObjectType kType>
  Result<cap::TypedCap<kType>> typed_param(capnp::CapIndex index,
                                           cap::CapRights required = cap::CapRights::none()) const {
    return cap::lookup_cap<kType>(TRY(cap_param(index)), required);
  }
  // The caller's CSpace root cap.
  const cap::Capability& cspace_root() const;
};

// Handles Call / Send on `target`, a capability that is not an endpoint or notification, and
// resumes (or reschedules).
[[noreturn]] void handle_invocation(Tcb* caller, cap::CapSlot* target, bool wants_reply);

// Per-type handlers (object/*_invoke.cc).
Result<void> invoke_untyped(Invocation& inv);
Result<void> invoke_cnode(Invocation& inv);
Result<void> invoke_tcb(Invocation& inv);
Result<void> invoke_paging(Invocation& inv);   // PDPT, page directory, page table
Result<void> invoke_frame(Invocation& inv);
Result<void> invoke_io_port_control(Invocation& inv);
Result<void> invoke_io_port(Invocation& inv);
Result<void> invoke_irq_control(Invocation& inv);
Result<void> invoke_irq_handler(Invocation& inv);
Result<void> invoke_sched_control(Invocation& inv);
Result<void> invoke_sched_context(Invocation& inv);
Result<void> invoke_trace_control(Invocation& inv);

}  // namespace tessera::kernel
