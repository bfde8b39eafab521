#include "cap/delete.h"

#include <tessera/meta.h>

#include "cap/derivation.h"

namespace tessera::cap {
namespace {

// A container object (CNode, or an object with embedded slots) whose last cap is gone and whose
// slots are being emptied. It lives in the container's own slot 0, which is emptied first, so
// the worklist needs no memory of its own however deep containers nest.
struct DyingContainer {
  DyingContainer* below;  // the container that was being emptied when this one died
  Capability last_cap;
  uint64_t next_index;    // the next slot to empty
};
static_assert(sizeof(DyingContainer) <= sizeof(CapSlot));

class Destroyer {
 public:
  // `watched` (may be null) is a slot the caller will look at afterwards; if destruction empties
  // it, watched_ejected() says so, and the caller must not read it (its memory may be gone).
  Destroyer(CapContext& ctx, const CapSlot* watched) : ctx_(ctx), watched_(watched) {}

  bool watched_ejected() const { return watched_ejected_; }

  // Destroys the object whose last cap `cap` has just been removed, and everything that dies
  // with it.
  void run(const Capability& cap) {
    Capability pending = cap;
    for (;;) {
      if (!pending.is_null()) {
        pending = begin(pending);
      } else if (top_ != nullptr) {
        pending = advance();
      } else {
        return;
      }
    }
  }

 private:
  // Removes the cap in `slot`; returns it if it was the last to its object, else a Null cap.
  Capability eject(CapSlot* slot) {
    if (slot == watched_) watched_ejected_ = true;
    Capability removed = slot->cap;
    return cdt::remove(ctx_, slot) ? removed : Capability();
  }

  // Starts destroying `cap`'s object. Returns a further object to destroy, or Null.
  Capability begin(const Capability& cap) {
    if (cap.type() == ObjectType::Untyped) return Capability();  // memory, nothing to release
    uint64_t count = 0;
    CapSlot* slots = ctx_.container_slots(cap, &count);
    if (count == 0) {
      ctx_.destroyed(cap);
      return Capability();
    }
    Capability orphan = slots[0].empty() ? Capability() : eject(&slots[0]);
    top_ = new (&slots[0]) DyingContainer{top_, cap, 1};
    return orphan;
  }

  // Empties the next occupied slot of the top container; when none is left, pops it and reports
  // it destroyed. Returns an object whose last cap was ejected, or Null.
  Capability advance() {
    uint64_t count = 0;
    CapSlot* slots = ctx_.container_slots(top_->last_cap, &count);
    while (top_->next_index < count) {
      CapSlot* slot = &slots[top_->next_index++];
      if (slot->empty()) continue;
      Capability orphan = eject(slot);
      if (!orphan.is_null()) return orphan;
    }
    DyingContainer* done = top_;
    Capability container = done->last_cap;
    top_ = done->below;
    new (&slots[0]) CapSlot{};
    ctx_.destroyed(container);
    return Capability();
  }

  CapContext& ctx_;
  const CapSlot* watched_;
  bool watched_ejected_ = false;
  DyingContainer* top_ = nullptr;
};

// Deletes the cap in the non-empty `slot`; returns true if that emptied `watched`.
bool delete_watching(CapContext& ctx, CapSlot* slot, const CapSlot* watched) {
  Capability removed = slot->cap;
  if (!cdt::remove(ctx, slot)) return slot == watched;
  Destroyer destroyer(ctx, watched);
  destroyer.run(removed);
  return slot == watched || destroyer.watched_ejected();
}

}  // namespace

Result<void> delete_cap(CapContext& ctx, CapSlot* slot) {
  if (!slot->empty()) delete_watching(ctx, slot, nullptr);
  return {};
}

Result<void> revoke_cap(CapContext& ctx, CapSlot* slot) {
  // Deleting the first child moves its children up to `slot`, so this visits every descendant;
  // each cap is moved up at most once, so the whole revoke is linear in the subtree size. If a
  // deletion empties `slot` itself, its memory may belong to a destroyed object: stop at once.
  if (slot->empty()) return {};
  while (slot->first_child != nullptr) {
    if (delete_watching(ctx, slot->first_child, slot)) break;
  }
  return {};
}

}  // namespace tessera::cap
