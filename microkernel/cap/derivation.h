// The capability derivation tree (CDT) and the same-object rings: the low-level link operations
// every CNode operation is built from. They keep all links consistent but enforce no policy
// (rights, emptiness of destinations...): callers in cnode_ops / delete / untyped do that.
//
// Costs: insert O(1); remove O(1 + children) (children are re-pointed to the new parent);
// transfer O(1 + children) (children's parent pointer follows the cap).
#pragma once

#include <stdint.h>

#include "cap/context.h"

namespace tessera::cap::cdt {

// Puts `cap` into the empty slot `dest` as the first child of `parent` (nullptr: a new root).
// `same_object` (nullptr: none) is a slot naming the same object, whose ring `dest` joins;
// otherwise `dest` starts a ring of its own.
void insert(CapContext& ctx, CapSlot* dest, const Capability& cap, CapSlot* parent,
            CapSlot* same_object);

// Removes the cap in the non-empty `slot` and empties the slot. The cap's children take its
// place, in order, among its parent's children (seL4: they stay in the tree under the closest
// remaining ancestor). If the parent is an Untyped that is left without children, its watermark
// resets to 0. Returns true when the removed cap was the last one naming its object.
bool remove(CapContext& ctx, CapSlot* slot);

// Moves the cap in the non-empty `src` to the empty `dest` with its place in the tree, its
// children and its ring; `src` is left empty.
void transfer(CapContext& ctx, CapSlot* src, CapSlot* dest);

// The slot after `slot` in a pre-order walk of the subtree rooted at `root`, or nullptr when the
// walk is over. With root == nullptr, walks the whole forest.
const CapSlot* next_preorder(const CapSlot* slot, const CapSlot* root);

// True when `ancestor` is a proper ancestor of `slot` in the tree. O(depth).
bool is_ancestor(const CapSlot* ancestor, const CapSlot* slot);

}  // namespace tessera::cap::cdt
