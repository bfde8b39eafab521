// A host stand-in for the kernel around the capability core: an aligned arena playing physical
// memory, recording hooks that catch double destruction and leaks, and a booted root CNode.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cap/cnode_ops.h"
#include "cap/context.h"
#include "cap/cspace.h"
#include "cap/delete.h"
#include "cap/derivation.h"
#include "cap/invariants.h"
#include "cap/untyped.h"

namespace captest {

using namespace tessera::cap;
using tessera::Error;
using tessera::Result;

// Physical layout of the arena (8 MiB at 1 GiB):
//   [base, +32 KiB)        the root CNode, radix 8 (boot memory, not from an untyped)
//   [base + 1 MiB, +1 MiB) a device untyped
//   [base + 4 MiB, +4 MiB) the boot untyped
inline constexpr uint64_t kPhysBase = uint64_t{1} << 30;
inline constexpr uint8_t kArenaBits = 23;
inline constexpr uint8_t kRootRadix = 8;
inline constexpr uint64_t kDevicePhys = kPhysBase + (uint64_t{1} << 20);
inline constexpr uint8_t kDeviceBits = 20;
inline constexpr uint64_t kUntypedPhys = kPhysBase + (uint64_t{4} << 20);
inline constexpr uint8_t kUntypedBits = 22;

// Fixed slots of the root CNode after boot.
inline constexpr uint64_t kRootSelf = 1;
inline constexpr uint64_t kBootUntyped = 2;
inline constexpr uint64_t kDeviceUntyped = 3;
inline constexpr uint64_t kIrqControl = 4;
inline constexpr uint64_t kIoPortControl = 5;
inline constexpr uint64_t kSchedControl = 6;
inline constexpr uint64_t kFirstFree = 8;

// Each TCB embeds this many cap slots at the start of its memory (like seL4's TCB CNode).
inline constexpr uint64_t kTcbSlots = 2;

struct ObjectKey {
  ObjectType type;
  uint64_t object;
  uint8_t size_bits;
  bool operator<(const ObjectKey& o) const {
    if (type != o.type) return type < o.type;
    if (object != o.object) return object < o.object;
    return size_bits < o.size_bits;
  }
};
ObjectKey key_of(const Capability& cap);

class TestKernel {
 public:
  TestKernel();
  ~TestKernel();
  TestKernel(const TestKernel&) = delete;
  TestKernel& operator=(const TestKernel&) = delete;

  CapContext& ctx() { return ctx_; }
  const Capability& root_cap() const { return root_slots_[kRootSelf].cap; }
  CapSlot* slot(uint64_t index) { return &root_slots_[index]; }
  // Slot `index` of the CNode whose cap is in `cnode_slot`.
  CapSlot* slot_in(CapSlot* cnode_slot, uint64_t index);
  void* virt(uint64_t phys);

  // Retype shorthand into the root CNode.
  Error retype(uint64_t untyped_index, ObjectType type, uint64_t size_bits, uint64_t dest_offset,
               uint64_t count = 1);

  // Lifetime records: every object created and destroyed, in order.
  const std::vector<Capability>& created() const { return created_; }
  const std::vector<Capability>& destroyed() const { return destroyed_; }
  size_t live_objects() const { return live_.size(); }
  bool is_live(const Capability& cap) const { return live_.count(key_of(cap)) != 0; }
  // Problems the hooks saw (double destruction, zeroing outside memory...), empty if none.
  const std::vector<std::string>& hook_errors() const { return hook_errors_; }

  // Runs check_invariants plus the hook-level checks: the live objects are exactly the objects
  // named by caps in the forest. Returns an empty string when all hold.
  std::string check();
  // Revokes every top-level untyped (checking that the boot untyped, if it survived, has all its
  // memory back), then deletes every remaining cap wherever it lives, and checks that no object
  // is left alive and none was destroyed twice. Returns an empty string when all hold.
  std::string tear_down();

 private:
  static void* hook_phys_to_virt(void* cookie, uint64_t phys);
  static void hook_zero(void* cookie, uint64_t phys, uint64_t bytes);
  static void hook_created(void* cookie, const Capability& cap);
  static void hook_destroyed(void* cookie, const Capability& cap);
  static CapSlot* hook_embedded(void* cookie, const Capability& cap, uint64_t* count);

  uint8_t* arena_;
  CapContext ctx_;
  CapSlot* root_slots_;
  std::map<ObjectKey, Capability> live_;
  std::vector<Capability> created_;
  std::vector<Capability> destroyed_;
  std::vector<std::string> hook_errors_;
};

}  // namespace captest
