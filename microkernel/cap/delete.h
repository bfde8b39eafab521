// Delete and Revoke, and the destruction of objects whose last cap is deleted.
#pragma once

#include <tessera/result.h>

#include "cap/context.h"

namespace tessera::cap {

// Empties `slot`. The cap's children move up to its parent (they are not deleted). If it was the
// last cap to its object, the object is destroyed: the caps in its slots (a CNode's, or those
// the kernel embeds in e.g. a TCB) are deleted in turn, then ObjectHooks::object_destroyed runs.
// Destruction uses an explicit worklist kept in the dying CNodes' own memory, so nesting depth
// never grows the kernel stack, and a CNode holding a cap to itself is handled. Deleting an empty
// slot succeeds and does nothing (as in seL4). Never fails.
Result<void> delete_cap(CapContext& ctx, CapSlot* slot);

// Deletes every descendant of the cap in `slot` (copies, mints, retyped objects and their own
// descendants, in any CSpace), destroying objects whose last cap goes. The cap itself stays
// (for an Untyped, its watermark is reset). If the cap's own slot lies in an object that only
// its descendants kept alive, that object is destroyed too and the revoke ends there, as in
// seL4. Revoking an empty slot succeeds. Never fails.
Result<void> revoke_cap(CapContext& ctx, CapSlot* slot);

}  // namespace tessera::cap
