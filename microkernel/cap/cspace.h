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

// A slot known to hold a cap of type kType with the rights its lookup asked for: what lookup_cap
// returns to the kernel.
template <ObjectType kType>
class TypedCap {
 public:
  explicit TypedCap(CapSlot* slot) : slot_(slot) {}
  CapSlot* slot() const { return slot_; }
  const Capability& cap() const { return slot_->cap; }
  const Capability* operator->() const { return &slot_->cap; }
  // Whether the cap also has `rights` (what an operation records, e.g. whether a send may grant).
  bool has(CapRights rights) const { return slot_->cap.rights().includes(rights); }

 private:
  CapSlot* slot_;
};

// The one check every invocation and IPC operation goes through: `slot` must hold a kType cap with
// every right in `required` and, when `any_of` is not empty, at least one right of `any_of` (a Call
// needs Write and Grant or GrantReply). Errors, in this order: EmptySlot, WrongObjectType,
// InsufficientRights. Inline so that the IPC fastpath can use it at no cost.
template <ObjectType kType>
[[gnu::always_inline]] inline Result<TypedCap<kType>> lookup_cap(CapSlot* slot, CapRights required,
                                                                CapRights any_of = CapRights::none()) {
  if (slot->empty()) return Error::EmptySlot;
  const Capability& c = slot->cap;
  if (c.type() != kType) return Error::WrongObjectType;
  if (!c.rights().includes(required)) return Error::InsufficientRights;
  if (any_of != CapRights::none() && (c.rights() & any_of) == CapRights::none()) return Error::InsufficientRights;
  return TypedCap<kType>(slot);
}

// Looks up a cap the way a system call names it: `cptr` resolved through `root` using up to 64
// bits, stopping early at the first slot that does not hold a CNode (seL4's lookupCap). The cap
// may be of any type (the caller dispatches on it, or checks it with lookup_cap above). Errors:
// FailedLookup (the cptr does not address a slot), EmptySlot (it addresses an empty one).
inline Result<CapSlot*> lookup_cap(const CapContext& ctx, const Capability& root, uint64_t cptr,
                                   LookupFailure* failure = nullptr) {
  const ResolvedSlot resolved = TRY(resolve_address_bits(ctx, root, cptr, kWordBits, failure));
  if (resolved.slot->empty()) {
    if (failure != nullptr) {
      *failure = LookupFailure{LookupFailureKind::MissingCapability, resolved.bits_remaining, 0, 0};
    }
    return Error::EmptySlot;
  }
  return resolved.slot;
}

// Both steps: the slot `cptr` names, checked as a kType cap with `required` rights. Errors:
// FailedLookup, EmptySlot, WrongObjectType, InsufficientRights.
template <ObjectType kType>
Result<TypedCap<kType>> lookup_cap(const CapContext& ctx, const Capability& root, uint64_t cptr,
                                   CapRights required, LookupFailure* failure = nullptr) {
  return lookup_cap<kType>(TRY(lookup_cap(ctx, root, cptr, failure)), required);
}

}  // namespace tessera::cap
