#include "cap/untyped.h"

#include <tessera/meta.h>

#include "cap/cspace.h"
#include "cap/derivation.h"

namespace tessera::cap {
namespace {

Capability make_object_cap(ObjectType type, uint64_t phys, uint8_t size_bits, bool device) {
  switch (type) {
    case ObjectType::Untyped: return Capability::untyped(phys, size_bits, device);
    case ObjectType::CNode: return Capability::cnode(phys, size_bits);
    case ObjectType::SchedContext: return Capability::sched_context(phys, size_bits);
    default: return Capability::object(type, phys).with_device(device);
  }
}

}  // namespace

Result<void> retype(CapContext& ctx, CapSlot* untyped_slot, const RetypeRequest& request) {
  const Capability untyped = TRY(lookup_cap<ObjectType::Untyped>(untyped_slot, CapRights::none()))
                                 .cap();
  if (!is_retypable(request.type)) return Error::InvalidArgument;
  if (!valid_user_size(request.type, request.size_bits)) return Error::RangeError;
  if (request.count < 1 || request.count > kMaxRetypeCount) return Error::RangeError;

  const Capability dest = TRY(lookup_cap<ObjectType::CNode>(request.dest_cnode,
                                                            CapRights::none())).cap();
  uint64_t dest_slot_count = uint64_t{1} << dest.radix();
  if (request.dest_offset >= dest_slot_count ||
      request.count > dest_slot_count - request.dest_offset) {
    return Error::RangeError;
  }
  CapSlot* dest_slots = ctx.cnode_slots(dest) + request.dest_offset;
  for (uint64_t i = 0; i < request.count; ++i) {
    if (!dest_slots[i].empty()) return Error::DeleteFirst;
  }
  if (untyped.is_device() && !allowed_from_device_memory(request.type)) {
    return Error::InvalidArgument;
  }

  const uint8_t user_bits = static_cast<uint8_t>(request.size_bits);
  const uint8_t object_bits = object_size_bits(request.type, user_bits);
  const uint8_t untyped_bits = untyped.size_bits();
  if (object_bits > untyped_bits) return Error::NotEnoughMemory;
  // Everything below is bounded by the untyped's size (< 2^48), so it cannot overflow.
  const uint64_t untyped_size = uint64_t{1} << untyped_bits;
  const uint64_t object_size = uint64_t{1} << object_bits;
  const uint64_t first_offset = align_up(untyped.watermark(), object_size);
  if (first_offset > untyped_size ||
      request.count > (untyped_size - first_offset) >> object_bits) {
    return Error::NotEnoughMemory;
  }

  for (uint64_t i = 0; i < request.count; ++i) {
    uint64_t phys = untyped.phys() + first_offset + (i << object_bits);
    // Untyped children are not zeroed: objects made from them will be.
    if (!untyped.is_device() && request.type != ObjectType::Untyped) ctx.zero(phys, object_size);
    Capability cap = make_object_cap(request.type, phys, user_bits, untyped.is_device());
    cdt::insert(ctx, &dest_slots[i], cap, untyped_slot, nullptr);
    if (request.type != ObjectType::Untyped) ctx.created(cap);
  }
  untyped_slot->cap = untyped.with_watermark(first_offset + (request.count << object_bits));
  return {};
}

}  // namespace tessera::cap
