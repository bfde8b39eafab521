// A capability: {object type, rights, badge or type data, object}. 24 bytes, and the all-zero
// value is the Null cap, so zeroed CNode memory is a CNode full of empty slots.
#pragma once

#include <stdint.h>

#include "cap/object_type.h"
#include "cap/rights.h"

namespace tessera::cap {

class Capability {
 public:
  constexpr Capability() = default;

  // --- Construction (for the kernel's boot code, Retype and tests) ---

  // A cap to a memory object of a fixed-size type at physical address `phys`, all rights.
  static constexpr Capability object(ObjectType type, uint64_t phys) {
    return Capability(type, phys, 0, object_size_bits(type, 0));
  }
  // A cap to a CNode of 2^radix slots at `phys`, with no guard.
  static constexpr Capability cnode(uint64_t phys, uint8_t radix) {
    return Capability(ObjectType::CNode, phys, 0, radix);
  }
  // A cap to untyped memory [phys, phys + 2^size_bits), nothing allocated yet.
  static constexpr Capability untyped(uint64_t phys, uint8_t size_bits, bool device) {
    Capability c(ObjectType::Untyped, phys, 0, size_bits);
    c.flags_ = device ? kFlagDevice : 0;
    return c;
  }
  // A scheduling context of 2^size_bits bytes at `phys`.
  static constexpr Capability sched_context(uint64_t phys, uint8_t size_bits) {
    return Capability(ObjectType::SchedContext, phys, 0, size_bits);
  }
  // A cap to a kernel-made object with no memory: IRQ/I-O-port/scheduling control caps
  // (`id` = CPU or 0) and IRQ handlers (`id` = IRQ number).
  static constexpr Capability control(ObjectType type, uint64_t id) {
    return Capability(type, id, 0, 0);
  }
  // A cap to the I/O ports [first, last].
  static constexpr Capability io_ports(uint16_t first, uint16_t last) {
    return Capability(ObjectType::IoPort, first | (uint64_t{last} << 16), 0, 0);
  }

  // --- Generic view ---

  constexpr ObjectType type() const { return type_; }
  constexpr bool is_null() const { return type_ == ObjectType::Null; }
  constexpr CapRights rights() const { return CapRights(rights_); }
  // The object word: a physical address for memory objects, an id otherwise.
  constexpr uint64_t object_word() const { return object_; }
  // True when both caps name the same object (same type, same object word, same size).
  constexpr bool same_object(const Capability& other) const {
    return type_ == other.type_ && object_ == other.object_ && size_bits_ == other.size_bits_;
  }

  // --- Memory objects ---

  // Physical base address (memory objects only).
  constexpr uint64_t phys() const { return object_; }
  // log2 of the bytes the object occupies (memory objects only).
  constexpr uint8_t memory_size_bits() const { return object_size_bits(type_, size_bits_); }
  // The user-visible size parameter: radix for CNodes, size_bits for Untyped and SchedContext.
  constexpr uint8_t size_bits() const { return size_bits_; }

  // --- Endpoint / Notification ---
  constexpr uint64_t badge() const { return is_badgeable(type_) ? data_ : 0; }

  // --- CNode ---
  constexpr uint8_t radix() const { return size_bits_; }
  constexpr uint8_t guard_bits() const { return guard_bits_; }
  constexpr uint64_t guard() const { return data_; }

  // --- Untyped ---
  // Bytes from the base that have been handed out; only grows until the untyped has no children.
  constexpr uint64_t watermark() const { return data_; }
  // Untyped and frames: the memory is device memory (from a device untyped).
  constexpr bool is_device() const { return (flags_ & kFlagDevice) != 0; }

  // --- I/O ports ---
  constexpr uint16_t first_port() const { return static_cast<uint16_t>(object_ & 0xFFFF); }
  constexpr uint16_t last_port() const { return static_cast<uint16_t>((object_ >> 16) & 0xFFFF); }

  // --- Modifiers (callers enforce the derivation rules: see cnode_ops.h) ---
  constexpr Capability with_rights(CapRights rights) const {
    Capability c = *this;
    c.rights_ = rights.bits();
    return c;
  }
  constexpr Capability with_badge(uint64_t badge) const {
    Capability c = *this;
    c.data_ = badge;
    return c;
  }
  constexpr Capability with_guard(uint64_t guard, uint8_t guard_bits) const {
    Capability c = *this;
    c.data_ = guard;
    c.guard_bits_ = guard_bits;
    return c;
  }
  // Marks an Untyped or Frame cap as device memory (not RAM: never zeroed, never kernel objects).
  constexpr Capability with_device(bool device) const {
    Capability c = *this;
    c.flags_ = device ? kFlagDevice : 0;
    return c;
  }
  constexpr Capability with_watermark(uint64_t watermark) const {
    Capability c = *this;
    c.data_ = watermark;
    return c;
  }

  constexpr bool operator==(const Capability&) const = default;

 private:
  static constexpr uint8_t kFlagDevice = 1;

  constexpr Capability(ObjectType type, uint64_t object, uint64_t data, uint8_t size_bits)
      : object_(object), data_(data), type_(type), rights_(CapRights::kAllBits),
        size_bits_(size_bits) {}

  uint64_t object_ = 0;
  uint64_t data_ = 0;  // badge, CNode guard, or untyped watermark
  ObjectType type_ = ObjectType::Null;
  uint8_t rights_ = 0;
  uint8_t size_bits_ = 0;
  uint8_t guard_bits_ = 0;
  uint8_t flags_ = 0;
};

static_assert(sizeof(Capability) == 24);

}  // namespace tessera::cap
