#include "cap/invariants.h"

#include <tessera/meta.h>

#include "cap/derivation.h"

namespace tessera::cap {
namespace {

constexpr uint64_t kMaxWalk = uint64_t{1} << 26;

struct Region {
  uint64_t base;
  uint64_t end;  // exclusive
};

Region region_of(const Capability& cap) {
  return {cap.phys(), cap.phys() + (uint64_t{1} << cap.memory_size_bits())};
}

bool overlaps(Region a, Region b) { return a.base < b.end && b.base < a.end; }

bool used_region_holds(const Capability& untyped, const Capability& inner) {
  Region r = region_of(inner);
  return r.base >= untyped.phys() && r.end <= untyped.phys() + untyped.watermark();
}

class Checker {
 public:
  explicit Checker(const CapContext& ctx) : ctx_(ctx) {}

  InvariantReport run() {
    if (!check_links()) return report_;
    // Each cap on its own and against its parent first, then the cross-cap properties.
    for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
      if (!valid_cap(s) || !check_parent(s)) return report_;
    }
    for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
      if (!check_ring(s) || !check_memory(s) || !check_home(s)) return report_;
    }
    if (!check_containers()) return report_;
    report_.cap_count = count_;
    return report_;
  }

 private:
  bool fail(const char* what, const CapSlot* slot) {
    report_.failure = what;
    report_.slot = slot;
    return false;
  }

  // Sibling and parent links, before anything relies on them for walking.
  bool check_links() {
    if (ctx_.first_root() != nullptr && ctx_.first_root()->prev_sibling != nullptr) {
      return fail("first root has a previous sibling", ctx_.first_root());
    }
    count_ = 0;
    // Walk with an explicit bound so a corrupted (cyclic) structure cannot hang the checker.
    const CapSlot* parent = nullptr;
    const CapSlot* node = ctx_.first_root();
    while (node != nullptr) {
      if (++count_ > kMaxWalk) return fail("derivation tree walk does not end (cycle)", node);
      if (node->empty()) return fail("empty slot in the derivation tree", node);
      if (node->parent != parent) return fail("child does not point to its parent", node);
      if (node->next_sibling != nullptr && node->next_sibling->prev_sibling != node) {
        return fail("sibling links are not mutual", node);
      }
      if (node->first_child != nullptr) {
        if (node->first_child->prev_sibling != nullptr) {
          return fail("first child has a previous sibling", node->first_child);
        }
        parent = node;
        node = node->first_child;
        continue;
      }
      while (node != nullptr && node->next_sibling == nullptr) {
        node = node->parent;
        parent = node != nullptr ? node->parent : nullptr;
      }
      if (node != nullptr) node = node->next_sibling;
    }
    return true;
  }

  bool valid_cap(const CapSlot* s) {
    const Capability& cap = s->cap;
    const uint8_t size_bits = cap.memory_size_bits();
    if (has_memory(cap.type()) &&
        (size_bits >= 64 || !is_aligned(cap.phys(), uint64_t{1} << size_bits))) {
      return fail("object not aligned to its size", s);
    }
    if (cap.type() == ObjectType::CNode) {
      if (cap.radix() < kMinCNodeRadix || cap.radix() > kMaxCNodeRadix) {
        return fail("CNode radix out of range", s);
      }
      if (cap.guard_bits() + cap.radix() > 64) return fail("CNode guard too wide", s);
      if (cap.guard_bits() < 64 && (cap.guard() >> cap.guard_bits()) != 0) {
        return fail("CNode guard value wider than its guard bits", s);
      }
    }
    if (cap.type() == ObjectType::Untyped) {
      if (!valid_user_size(ObjectType::Untyped, cap.size_bits())) {
        return fail("untyped size out of range", s);
      }
      if (cap.watermark() > (uint64_t{1} << cap.size_bits())) {
        return fail("untyped watermark beyond its end", s);
      }
      if (!s->has_children() && cap.watermark() != 0) {
        return fail("untyped without children has a non-zero watermark", s);
      }
    }
    if (cap.is_device() && !allowed_from_device_memory(cap.type())) {
      return fail("device flag on a type that cannot be device memory", s);
    }
    if (!is_badgeable(cap.type()) && cap.type() != ObjectType::CNode &&
        cap.type() != ObjectType::Untyped && cap.guard() != 0) {
      return fail("badge or data word set on a type without one", s);
    }
    return true;
  }

  bool check_parent(const CapSlot* s) {
    const CapSlot* parent = s->parent;
    if (parent == nullptr) return true;
    const Capability& p = parent->cap;
    const Capability& c = s->cap;
    switch (p.type()) {
      case ObjectType::Untyped:
        if (!has_memory(c.type())) return fail("child of an untyped is not a memory object", s);
        if (c.type() == ObjectType::Untyped && c.same_object(p)) {
          return p.watermark() == (uint64_t{1} << p.size_bits())
                     ? true
                     : fail("untyped with a copy does not lend its whole region", parent);
        }
        if (!used_region_holds(p, c)) return fail("child outside its untyped's used region", s);
        if (p.is_device() && !allowed_from_device_memory(c.type())) {
          return fail("kernel object made from device memory", s);
        }
        if (c.is_device() != p.is_device() &&
            (c.type() == ObjectType::Untyped || c.type() == ObjectType::Frame4K ||
             c.type() == ObjectType::Frame2M)) {
          return fail("child does not inherit the device flag", s);
        }
        return true;
      case ObjectType::IrqControl:
        if (c.type() != ObjectType::IrqHandler) return fail("IrqControl child is not an IRQ", s);
        return true;
      case ObjectType::IoPortControl:
        if (c.type() != ObjectType::IoPort) return fail("IoPortControl child is not a port", s);
        return true;
      default:
        if (!c.same_object(p)) return fail("derived cap names another object than its parent", s);
        return true;
    }
  }

  // The ring holds exactly the caps of the forest that name this object.
  bool check_ring(const CapSlot* s) {
    uint64_t ring_length = 0;
    const CapSlot* r = s;
    do {
      if (++ring_length > count_) return fail("ring does not close", s);
      if (r->ring_next == nullptr || r->ring_next->ring_prev != r) {
        return fail("ring links are not mutual", r);
      }
      if (!r->cap.same_object(s->cap)) return fail("ring holds a cap to another object", r);
      r = r->ring_next;
    } while (r != s);
    if (s->cap.type() == ObjectType::Untyped) {
      return ring_length == 1 ? true : fail("untyped cap in a ring with others", s);
    }
    uint64_t same = 0;
    for (const CapSlot* o = ctx_.first_root(); o != nullptr; o = cdt::next_preorder(o, nullptr)) {
      if (o->cap.same_object(s->cap)) ++same;
    }
    return same == ring_length ? true : fail("ring length differs from the caps to its object", s);
  }

  // Overlapping objects are an untyped and a descendant inside its used region.
  bool check_memory(const CapSlot* s) {
    if (!has_memory(s->cap.type())) return true;
    Region mine = region_of(s->cap);
    for (const CapSlot* o = cdt::next_preorder(s, nullptr); o != nullptr;
         o = cdt::next_preorder(o, nullptr)) {
      if (!has_memory(o->cap.type())) continue;
      if (o->cap.same_object(s->cap) && s->cap.type() != ObjectType::Untyped) continue;
      if (!overlaps(mine, region_of(o->cap))) continue;
      bool nested = (s->cap.type() == ObjectType::Untyped && cdt::is_ancestor(s, o) &&
                     used_region_holds(s->cap, o->cap)) ||
                    (o->cap.type() == ObjectType::Untyped && cdt::is_ancestor(o, s) &&
                     used_region_holds(o->cap, s->cap));
      if (!nested) return fail("two live objects overlap", o);
    }
    return true;
  }

  // The slot lies inside a container that is alive (some cap in the forest names it).
  bool check_home(const CapSlot* s) {
    for (const CapSlot* o = ctx_.first_root(); o != nullptr; o = cdt::next_preorder(o, nullptr)) {
      uint64_t count = 0;
      const CapSlot* slots = ctx_.container_slots(o->cap, &count);
      if (count != 0 && s >= slots && s < slots + count) return true;
    }
    return fail("cap in a slot of no live container", s);
  }

  // Each live container's occupied slots are all in the forest: counting each container once
  // (at the ring member with the lowest address), occupied slots must equal the caps walked.
  bool check_containers() {
    uint64_t occupied = 0;
    for (const CapSlot* o = ctx_.first_root(); o != nullptr; o = cdt::next_preorder(o, nullptr)) {
      uint64_t count = 0;
      const CapSlot* slots = ctx_.container_slots(o->cap, &count);
      if (count == 0 || !is_ring_leader(o)) continue;
      for (uint64_t i = 0; i < count; ++i) {
        const CapSlot& slot = slots[i];
        if (!slot.empty()) {
          ++occupied;
        } else if (slot.parent != nullptr || slot.first_child != nullptr ||
                   slot.prev_sibling != nullptr || slot.next_sibling != nullptr ||
                   slot.ring_next != nullptr || slot.ring_prev != nullptr) {
          return fail("empty slot with links", &slot);
        }
      }
    }
    return occupied == count_ ? true : fail("occupied container slots not in the forest", nullptr);
  }

  static bool is_ring_leader(const CapSlot* s) {
    for (const CapSlot* r = s->ring_next; r != s; r = r->ring_next) {
      if (r < s) return false;
    }
    return true;
  }

  const CapContext& ctx_;
  InvariantReport report_;
  uint64_t count_ = 0;
};

}  // namespace

InvariantReport check_invariants(const CapContext& ctx) { return Checker(ctx).run(); }

}  // namespace tessera::cap
