#include "cap/cspace.h"

namespace tessera::cap {
namespace {

constexpr uint64_t low_bits(uint64_t value, uint64_t bits) {
  return bits >= kWordBits ? value : value & ((uint64_t{1} << bits) - 1);
}

// value >> shift, defined for shift == 64 (yields 0).
constexpr uint64_t shift_right(uint64_t value, uint64_t shift) {
  return shift >= kWordBits ? 0 : value >> shift;
}

Error fail(LookupFailure* failure, LookupFailure why) {
  if (failure != nullptr) *failure = why;
  return Error::FailedLookup;
}

}  // namespace

Result<ResolvedSlot> resolve_address_bits(const CapContext& ctx, const Capability& root,
                                          uint64_t cptr, uint64_t depth,
                                          LookupFailure* failure) {
  if (depth < 1 || depth > kWordBits) return Error::RangeError;
  if (root.type() != ObjectType::CNode) {
    return fail(failure, {LookupFailureKind::InvalidRoot, static_cast<uint8_t>(depth), 0, 0});
  }
  Capability node = root;
  uint64_t bits_left = depth;
  for (;;) {
    uint64_t guard_bits = node.guard_bits();
    uint64_t radix = node.radix();
    uint64_t level_bits = guard_bits + radix;
    if (guard_bits > bits_left) {
      return fail(failure, {LookupFailureKind::GuardMismatch, static_cast<uint8_t>(bits_left),
                            static_cast<uint8_t>(guard_bits), low_bits(cptr, bits_left)});
    }
    uint64_t guard = low_bits(shift_right(cptr, bits_left - guard_bits), guard_bits);
    if (guard != node.guard()) {
      return fail(failure, {LookupFailureKind::GuardMismatch, static_cast<uint8_t>(bits_left),
                            static_cast<uint8_t>(guard_bits), guard});
    }
    if (level_bits > bits_left) {
      return fail(failure, {LookupFailureKind::DepthMismatch, static_cast<uint8_t>(bits_left),
                            static_cast<uint8_t>(level_bits), 0});
    }
    uint64_t index = low_bits(shift_right(cptr, bits_left - level_bits), radix);
    CapSlot* slot = ctx.cnode_slots(node) + index;
    bits_left -= level_bits;
    if (bits_left == 0 || slot->cap.type() != ObjectType::CNode) {
      return ResolvedSlot{slot, static_cast<uint8_t>(bits_left)};
    }
    node = slot->cap;
  }
}

Result<CapSlot*> lookup_slot(const CapContext& ctx, const Capability& root, uint64_t cptr,
                             uint64_t depth, LookupFailure* failure) {
  ResolvedSlot resolved = TRY(resolve_address_bits(ctx, root, cptr, depth, failure));
  if (resolved.bits_remaining != 0) {
    return fail(failure, {LookupFailureKind::DepthMismatch, resolved.bits_remaining, 0, 0});
  }
  return resolved.slot;
}

}  // namespace tessera::cap
