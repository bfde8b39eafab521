#include "cap/cnode_ops.h"

#include "cap/derivation.h"

namespace tessera::cap {
namespace {

// The checks and cap value shared by Copy and Mint (seL4's deriveCap).
Result<Capability> derive(const CapSlot* src, const CapSlot* dest) {
  if (src->empty()) return Error::EmptySlot;
  if (!dest->empty()) return Error::DeleteFirst;
  const Capability& cap = src->cap;
  if (!is_derivable(cap.type())) return Error::IllegalOperation;
  if (cap.type() == ObjectType::Untyped) {
    if (src->has_children()) return Error::RevokeFirst;
    return cap.with_watermark(0);
  }
  return cap;
}

void insert_derived(CapContext& ctx, CapSlot* src, CapSlot* dest, const Capability& cap) {
  // Untyped caps are never destroyed, so they need no ring: each stays alone in its own (a
  // full-size untyped retyped from an untyped names the same region, yet is a new cap).
  cdt::insert(ctx, dest, cap, src, cap.type() == ObjectType::Untyped ? nullptr : src);
  if (cap.type() == ObjectType::Untyped) {
    src->cap = src->cap.with_watermark(uint64_t{1} << src->cap.size_bits());
  }
}

}  // namespace

Result<Capability> apply_cap_data(const Capability& cap, uint64_t data) {
  if (is_badgeable(cap.type())) {
    if (data == 0) return cap;
    if (cap.badge() != 0) return Error::IllegalOperation;
    return cap.with_badge(data);
  }
  if (cap.type() == ObjectType::CNode) {
    uint8_t guard_bits = static_cast<uint8_t>(data & 0x3F);
    uint64_t guard = data >> 6;
    if (guard_bits + cap.radix() > 64) return Error::RangeError;
    if (guard_bits < 58 && (guard >> guard_bits) != 0) return Error::RangeError;
    return cap.with_guard(guard, guard_bits);
  }
  if (data != 0) return Error::InvalidArgument;
  return cap;
}

Result<void> copy_cap(CapContext& ctx, CapSlot* src, CapSlot* dest) {
  Capability cap = TRY(derive(src, dest));
  insert_derived(ctx, src, dest, cap);
  return {};
}

Result<void> copy_cap(CapContext& ctx, CapSlot* src, CapSlot* dest, CapRights rights) {
  Capability cap = TRY(derive(src, dest));
  insert_derived(ctx, src, dest, cap.with_rights(cap.rights() & rights));
  return {};
}

Result<void> mint_cap(CapContext& ctx, CapSlot* src, CapSlot* dest, CapRights rights,
                      uint64_t data) {
  Capability cap = TRY(derive(src, dest));
  cap = TRY(apply_cap_data(cap.with_rights(cap.rights() & rights), data));
  insert_derived(ctx, src, dest, cap);
  return {};
}

Result<void> move_cap(CapContext& ctx, CapSlot* src, CapSlot* dest) {
  if (src->empty()) return Error::EmptySlot;
  if (!dest->empty()) return Error::DeleteFirst;
  cdt::transfer(ctx, src, dest);  // the cap itself is unchanged (a CNode keeps its guard)
  return {};
}

Result<void> mutate_cap(CapContext& ctx, CapSlot* src, CapSlot* dest, uint64_t data) {
  if (src->empty()) return Error::EmptySlot;
  if (!dest->empty()) return Error::DeleteFirst;
  Capability cap = TRY(apply_cap_data(src->cap, data));
  cdt::transfer(ctx, src, dest);
  dest->cap = cap;
  return {};
}

Result<void> rotate_caps(CapContext& ctx, CapSlot* src, CapSlot* pivot, CapSlot* dest,
                         uint64_t pivot_data, uint64_t dest_data) {
  if (pivot == src || pivot == dest) return Error::IllegalOperation;
  if (src->empty() || pivot->empty()) return Error::EmptySlot;
  if (dest != src && !dest->empty()) return Error::DeleteFirst;
  Capability to_dest = TRY(apply_cap_data(pivot->cap, dest_data));
  Capability to_pivot = TRY(apply_cap_data(src->cap, pivot_data));
  if (dest == src) {
    CapSlot parked;  // holds src's cap for the duration of the swap
    cdt::transfer(ctx, src, &parked);
    cdt::transfer(ctx, pivot, dest);
    cdt::transfer(ctx, &parked, pivot);
  } else {
    cdt::transfer(ctx, pivot, dest);
    cdt::transfer(ctx, src, pivot);
  }
  dest->cap = to_dest;
  pivot->cap = to_pivot;
  return {};
}

Result<void> insert_root_cap(CapContext& ctx, CapSlot* dest, const Capability& cap) {
  if (cap.is_null()) return Error::InvalidArgument;
  if (cap.type() == ObjectType::CNode &&
      (cap.radix() < kMinCNodeRadix || cap.radix() > kMaxCNodeRadix)) {
    return Error::InvalidArgument;
  }
  if (!dest->empty()) return Error::DeleteFirst;
  cdt::insert(ctx, dest, cap, nullptr, nullptr);
  return {};
}

Result<void> issue_cap(CapContext& ctx, CapSlot* control, CapSlot* dest,
                       const Capability& issued) {
  if (control->empty()) return Error::EmptySlot;
  bool pair_ok =
      (control->cap.type() == ObjectType::IrqControl && issued.type() == ObjectType::IrqHandler) ||
      (control->cap.type() == ObjectType::IoPortControl && issued.type() == ObjectType::IoPort);
  if (!pair_ok) return Error::WrongObjectType;
  if (!dest->empty()) return Error::DeleteFirst;
  // Another cap to the same IRQ / port range (only possible if the kernel issues it twice).
  CapSlot* peer = nullptr;
  for (CapSlot* child = control->first_child; child != nullptr; child = child->next_sibling) {
    if (child->cap.same_object(issued)) {
      peer = child;
      break;
    }
  }
  cdt::insert(ctx, dest, issued, control, peer);
  if (peer == nullptr) ctx.created(issued);
  return {};
}

}  // namespace tessera::cap
