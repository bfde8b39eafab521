// Fault delivery (docs/ipc.md): a thread that faults sends a fault message to its fault endpoint
// as if it had made a Call, and stops until the handler replies.
#pragma once

#include <stdint.h>

#include "cap/slot.h"
#include "object/tcb.h"

namespace tessera::kernel {

// Sends a fault message `label`/`words` from `t` (which stops) to the endpoint in `slot`. Returns
// false, changing nothing, when the cap cannot take it (not an endpoint, or missing Write and
// Grant/GrantReply).
bool send_fault(Tcb* t, cap::CapSlot* slot, uint64_t label, const uint64_t words[4]);

}  // namespace tessera::kernel
