// The CNode operations on capabilities: Copy, Mint, Move, Mutate, Rotate, and the two ways the
// kernel itself places caps (boot roots and caps issued from control caps). Revoke and Delete
// are in delete.h, Retype in untyped.h. Slots come from lookup_slot (never null). Every
// operation either succeeds completely or returns an error and changes nothing.
#pragma once

#include <stdint.h>
#include <tessera/result.h>

#include "cap/context.h"

namespace tessera::cap {

// What a Mint/Mutate data word does to a cap (seL4's updateCapData):
//  - Endpoint, Notification: the badge. 0 keeps the current badge; a non-zero badge may only be
//    set on an unbadged cap (IllegalOperation otherwise: a badged cap cannot be re-badged).
//  - CNode: the guard, encoded as guard_bits in bits 0..5 and the guard value above (seL4's
//    format). RangeError if guard_bits + radix > 64 or the value does not fit in guard_bits.
//  - Every other type: must be 0 (InvalidArgument).
Result<Capability> apply_cap_data(const Capability& cap, uint64_t data);

// Encodes a CNode guard as a Mint/Mutate data word (the inverse of what apply_cap_data reads).
constexpr uint64_t cnode_guard_data(uint64_t guard, uint8_t guard_bits) {
  return (guard << 6) | (guard_bits & 0x3Fu);
}

// Copies the cap in `src` into `dest` as a child of `src` (same rights, badge, guard).
// Errors: EmptySlot (src), DeleteFirst (dest occupied), IllegalOperation (Reply, IrqControl,
// IoPortControl caps cannot be copied), RevokeFirst (an Untyped with children).
// Copying an Untyped lends it: the copy starts empty and the source's watermark moves to its end,
// so the source can allocate again only once the copy (its child) is gone.
Result<void> copy_cap(CapContext& ctx, CapSlot* src, CapSlot* dest);

// As copy_cap, with `rights` & src's rights; nothing else changes (a CNode keeps its guard).
Result<void> copy_cap(CapContext& ctx, CapSlot* src, CapSlot* dest, CapRights rights);

// As copy_cap, but the copy gets `rights` & src's rights and `data` applied (apply_cap_data).
// Errors: those of copy_cap and apply_cap_data.
Result<void> mint_cap(CapContext& ctx, CapSlot* src, CapSlot* dest, CapRights rights,
                      uint64_t data);

// Moves the cap, unchanged, from `src` to `dest`, keeping its place in the derivation tree and
// its children.
// Errors: EmptySlot (src), DeleteFirst (dest occupied, including dest == src).
Result<void> move_cap(CapContext& ctx, CapSlot* src, CapSlot* dest);

// As move_cap, applying `data` (apply_cap_data) on the way; for a CNode the data word replaces
// the guard (so 0 removes it), as in seL4. Rights are unchanged.
Result<void> mutate_cap(CapContext& ctx, CapSlot* src, CapSlot* dest, uint64_t data);

// Moves the cap in `pivot` to `dest` (applying dest_data) and the cap in `src` to `pivot`
// (applying pivot_data), atomically. dest may equal src: the two caps are swapped.
// Errors: IllegalOperation (pivot == src or pivot == dest), EmptySlot (src or pivot empty),
// DeleteFirst (dest occupied and not src), and those of apply_cap_data.
Result<void> rotate_caps(CapContext& ctx, CapSlot* src, CapSlot* pivot, CapSlot* dest,
                         uint64_t pivot_data, uint64_t dest_data);

// Boot only: places an original cap with no parent (initial untyped, control caps, the root
// CNode's cap to itself). Errors: DeleteFirst (dest occupied), InvalidArgument (a Null cap or a
// CNode with a radix out of range).
Result<void> insert_root_cap(CapContext& ctx, CapSlot* dest, const Capability& cap);

// Places `issued` in `dest` as a child of the control cap in `control`: an IrqHandler from
// IrqControl, an IoPort from IoPortControl. If another cap already names the same object (the
// same IRQ or port range), `dest` joins its ring; otherwise ObjectHooks::object_created runs.
// The kernel checks that the IRQ or ports are free before issuing them.
// Errors: EmptySlot, WrongObjectType (control/issued pair not as above), DeleteFirst.
Result<void> issue_cap(CapContext& ctx, CapSlot* control, CapSlot* dest, const Capability& issued);

}  // namespace tessera::cap
