#include "cap/derivation.h"

namespace tessera::cap::cdt {
namespace {

// The pointer that holds the first child of `parent`, or the context's root list.
CapSlot** child_list_head(CapContext& ctx, CapSlot* parent) {
  return parent != nullptr ? &parent->first_child : ctx.root_list_head();
}

}  // namespace

void insert(CapContext& ctx, CapSlot* dest, const Capability& cap, CapSlot* parent,
            CapSlot* same_object) {
  *dest = CapSlot{};
  dest->cap = cap;
  CapSlot** head = child_list_head(ctx, parent);
  dest->parent = parent;
  dest->next_sibling = *head;
  if (*head != nullptr) (*head)->prev_sibling = dest;
  *head = dest;
  if (same_object != nullptr) {
    dest->ring_prev = same_object;
    dest->ring_next = same_object->ring_next;
    same_object->ring_next->ring_prev = dest;
    same_object->ring_next = dest;
  } else {
    dest->ring_prev = dest;
    dest->ring_next = dest;
  }
}

bool remove(CapContext& ctx, CapSlot* slot) {
  ctx.cap_deleted(slot);  // per-cap kernel state (e.g. a frame's mapping) goes first
  CapSlot* parent = slot->parent;
  CapSlot** head = child_list_head(ctx, parent);

  // The run of siblings that replaces `slot`: its children, or nothing.
  CapSlot* first = slot->first_child;
  CapSlot* last = nullptr;
  for (CapSlot* child = first; child != nullptr; child = child->next_sibling) {
    child->parent = parent;
    last = child;
  }
  CapSlot* before = slot->prev_sibling;
  CapSlot* after = slot->next_sibling;
  if (first != nullptr) {
    first->prev_sibling = before;
    last->next_sibling = after;
  } else {
    first = after;
    last = before;
  }
  if (before != nullptr) before->next_sibling = first; else *head = first;
  if (after != nullptr) after->prev_sibling = last;

  bool last_cap = slot->ring_next == slot;
  if (!last_cap) {
    slot->ring_prev->ring_next = slot->ring_next;
    slot->ring_next->ring_prev = slot->ring_prev;
  }
  *slot = CapSlot{};

  if (parent != nullptr && parent->cap.type() == ObjectType::Untyped &&
      parent->first_child == nullptr) {
    parent->cap = parent->cap.with_watermark(0);
  }
  return last_cap;
}

void transfer(CapContext& ctx, CapSlot* src, CapSlot* dest) {
  *dest = *src;
  if (src->prev_sibling != nullptr) {
    src->prev_sibling->next_sibling = dest;
  } else {
    *child_list_head(ctx, src->parent) = dest;
  }
  if (src->next_sibling != nullptr) src->next_sibling->prev_sibling = dest;
  for (CapSlot* child = dest->first_child; child != nullptr; child = child->next_sibling) {
    child->parent = dest;
  }
  if (src->ring_next == src) {
    dest->ring_next = dest;
    dest->ring_prev = dest;
  } else {
    src->ring_prev->ring_next = dest;
    src->ring_next->ring_prev = dest;
  }
  *src = CapSlot{};
}

const CapSlot* next_preorder(const CapSlot* slot, const CapSlot* root) {
  if (slot->first_child != nullptr) return slot->first_child;
  while (slot != root) {
    if (slot->next_sibling != nullptr) return slot->next_sibling;
    slot = slot->parent;
    if (slot == nullptr) return nullptr;
  }
  return nullptr;
}

bool is_ancestor(const CapSlot* ancestor, const CapSlot* slot) {
  for (const CapSlot* up = slot->parent; up != nullptr; up = up->parent) {
    if (up == ancestor) return true;
  }
  return false;
}

}  // namespace tessera::cap::cdt
