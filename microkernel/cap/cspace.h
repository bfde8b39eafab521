// CSpace addressing: resolving a capability pointer (cptr) through guarded, radix-indexed CNodes
// (seL4's resolveAddressBits), and the one place where a cap's type and rights are checked.
#pragma once

#include <stdint.h>
#include <tessera/result.h>

#include "cap/context.h"

namespace tessera::cap {

inline constexpr uint64_t kWordBits = 64;

// Why a lookup failed, for the fault message / IPC buffer (seL4's lookup failure). The Error
// returned alongside is FailedLookup (or EmptySlot / RangeError where documented).
enum class LookupFailureKind : uint8_t {
  None = 0,
  InvalidRoot,        // the root cap is not a CNode
  MissingCapability,  // the addressed slot is empty
  DepthMismatch,      // depth ended inside a CNode level, or a non-CNode was met with bits left
  GuardMismatch,      // the cptr's bits do not match a CNode's guard
};

struct LookupFailure {
  LookupFailureKind kind = LookupFailureKind::None;
  uint8_t bits_left = 0;     // bits of the cptr not yet resolved where the failure happened
  uint8_t bits_found = 0;    // DepthMismatch: bits the level needed; GuardMismatch: guard size
  uint64_t guard_found = 0;  // GuardMismatch: the bits of the cptr compared with the guard
};

// Where a resolution stopped: `slot`, with `bits_remaining` bits of the cptr unresolved (non-zero
// when the walk reached a slot that does not hold a CNode before using up the depth).
struct ResolvedSlot {
  CapSlot* slot;
  uint8_t bits_remaining;
};

// Resolves the low `depth` bits of `cptr` starting at the CNode cap `root`, most significant bit
// first: at each CNode, guard_bits bits must equal the guard, the next radix bits index a slot;
// the walk continues into that slot if it holds a CNode cap and bits remain. Never reads outside
// a CNode. Errors: RangeError if depth is not in [1, 64]; FailedLookup (with *failure, if given,
// saying why) for a non-CNode root, a guard mismatch, or a level wider than the bits left.
Result<ResolvedSlot> resolve_address_bits(const CapContext& ctx, const Capability& root,
                                          uint64_t cptr, uint64_t depth,
                                          LookupFailure* failure = nullptr);

// The slot addressed by exactly `depth` bits of `cptr` (the slot may be empty). As
// resolve_address_bits, plus FailedLookup/DepthMismatch if a non-CNode slot (or an empty one)
// is met before `depth` bits are used. This is the lookup for CNode-operation arguments.
Result<CapSlot*> lookup_slot(const CapContext& ctx, const Capability& root, uint64_t cptr,
                             uint64_t depth, LookupFailure* failure = nullptr);

// Checks that `slot` holds a cap of `type` with at least `required` rights. Errors, in order:
// EmptySlot, WrongObjectType, InsufficientRights.
Result<CapSlot*> check_cap(CapSlot* slot, ObjectType type, CapRights required);

// A slot known to hold a cap of type kType: what lookup_cap returns to the kernel.
template <ObjectType kType>
class TypedCap {
 public:
  explicit TypedCap(CapSlot* slot) : slot_(slot) {}
  CapSlot* slot() const { return slot_; }
  const Capability& cap() const { return slot_->cap; }
  const Capability* operator->() const { return &slot_->cap; }

 private:
  CapSlot* slot_;
};

// The one check every invocation goes through: the cap in `slot` must be a kType cap with
// `required` rights (errors as check_cap).
template <ObjectType kType>
Result<TypedCap<kType>> lookup_cap(CapSlot* slot, CapRights required) {
  CapSlot* checked = TRY(check_cap(slot, kType, required));
  return TypedCap<kType>(checked);
}

// Looks up a cap the way an invocation names it: `cptr` resolved through `root` using up to 64
// bits, stopping early at the first slot that does not hold a CNode (seL4's lookupCap), then
// checked as above. Errors: FailedLookup, EmptySlot, WrongObjectType, InsufficientRights.
template <ObjectType kType>
Result<TypedCap<kType>> lookup_cap(const CapContext& ctx, const Capability& root, uint64_t cptr,
                                   CapRights required, LookupFailure* failure = nullptr) {
  ResolvedSlot resolved = TRY(resolve_address_bits(ctx, root, cptr, kWordBits, failure));
  if (resolved.slot->empty() && failure != nullptr) {
    *failure = LookupFailure{LookupFailureKind::MissingCapability, resolved.bits_remaining, 0, 0};
  }
  return lookup_cap<kType>(resolved.slot, required);
}

}  // namespace tessera::cap
