// A checker for every structural invariant of the capability core, for tests and kernel
// self-tests. It walks the whole derivation forest; cost is quadratic in the number of caps,
// so it is a debugging tool, not something to run on every syscall.
#pragma once

#include <stdint.h>

#include "cap/context.h"

namespace tessera::cap {

struct InvariantReport {
  const char* failure = nullptr;  // what is broken (a static string), or nullptr
  const CapSlot* slot = nullptr;  // where it was found
  uint64_t cap_count = 0;         // caps in the forest (valid when ok())
  bool ok() const { return failure == nullptr; }
};

// Verifies, for the forest reachable from ctx.first_root():
//  - tree links: sibling links are mutual, every child points to its parent, roots have none,
//    no slot in the tree is empty, the walk terminates (no cycles);
//  - rings: ring links are mutual, a ring holds exactly the caps naming one object;
//  - caps: memory objects aligned to their size, CNode radix and guard in range, untyped
//    watermark within the region and 0 when the untyped has no children;
//  - derivation: a child of an Untyped is a memory object inside the untyped's used region
//    (device untyped: frames and untyped only); a child of a control cap is an object it issues;
//    any other child names its parent's object;
//  - memory: two different objects that overlap are an Untyped and a descendant of it lying in
//    its used region (so no two live objects overlap and no object is in free memory);
//  - slots: every cap lives in a slot of a live container (CNode or embedded slots), every
//    occupied slot of a live container is in the forest, and empty slots have no links.
InvariantReport check_invariants(const CapContext& ctx);

}  // namespace tessera::cap
