#include "cap_test_env.h"

#include <cstdlib>
#include <cstring>
#include <set>

namespace captest {
namespace {

constexpr uint8_t kPoison = 0xA5;

ObjectHooks hooks_for(void* cookie, void* (*p2v)(void*, uint64_t),
                      void (*zero)(void*, uint64_t, uint64_t),
                      void (*created)(void*, const Capability&),
                      void (*destroyed)(void*, const Capability&),
                      CapSlot* (*embedded)(void*, const Capability&, uint64_t*)) {
  ObjectHooks hooks;
  hooks.cookie = cookie;
  hooks.phys_to_virt = p2v;
  hooks.zero_memory = zero;
  hooks.object_created = created;
  hooks.object_destroyed = destroyed;
  hooks.embedded_slots = embedded;
  return hooks;
}

// One arena for the whole test run: allocating 8 MiB per property-test sequence would dominate.
// It is poisoned once here, and objects are poisoned again when destroyed, so memory the core
// forgets to zero, or reads after destroying it, shows up.
uint8_t* shared_arena() {
  static uint8_t* arena = [] {
    auto* memory = static_cast<uint8_t*>(
        std::aligned_alloc(uint64_t{1} << kArenaBits, uint64_t{1} << kArenaBits));
    std::memset(memory, kPoison, uint64_t{1} << kArenaBits);
    return memory;
  }();
  return arena;
}

}  // namespace

ObjectKey key_of(const Capability& cap) {
  return {cap.type(), cap.object_word(), cap.size_bits()};
}

TestKernel::TestKernel()
    : arena_(shared_arena()),
      ctx_(hooks_for(this, hook_phys_to_virt, hook_zero, hook_created, hook_destroyed,
                     hook_embedded)) {
  uint64_t root_bytes = uint64_t{1} << (kRootRadix + kSlotSizeBits);
  std::memset(arena_, 0, root_bytes);
  root_slots_ = static_cast<CapSlot*>(virt(kPhysBase));

  Capability root = Capability::cnode(kPhysBase, kRootRadix);
  Capability boot_caps[] = {
      root,
      Capability::untyped(kUntypedPhys, kUntypedBits, false),
      Capability::untyped(kDevicePhys, kDeviceBits, true),
      Capability::control(ObjectType::IrqControl, 0),
      Capability::control(ObjectType::IoPortControl, 0),
      Capability::control(ObjectType::SchedControl, 0),
  };
  uint64_t index = kRootSelf;
  for (const Capability& cap : boot_caps) {
    if (!insert_root_cap(ctx_, &root_slots_[index++], cap).ok()) std::abort();
    if (cap.type() != ObjectType::Untyped) live_[key_of(cap)] = cap;
  }
}

TestKernel::~TestKernel() = default;

void* TestKernel::virt(uint64_t phys) {
  if (phys < kPhysBase || phys - kPhysBase >= (uint64_t{1} << kArenaBits)) {
    hook_errors_.push_back("phys_to_virt outside the arena: " + std::to_string(phys));
    std::abort();  // the core must never ask for memory that does not exist
  }
  return arena_ + (phys - kPhysBase);
}

CapSlot* TestKernel::slot_in(CapSlot* cnode_slot, uint64_t index) {
  return static_cast<CapSlot*>(virt(cnode_slot->cap.phys())) + index;
}

Error TestKernel::retype(uint64_t untyped_index, ObjectType type, uint64_t size_bits,
                         uint64_t dest_offset, uint64_t count) {
  RetypeRequest request{type, size_bits, slot(kRootSelf), dest_offset, count};
  return tessera::cap::retype(ctx_, slot(untyped_index), request).error();
}

void* TestKernel::hook_phys_to_virt(void* cookie, uint64_t phys) {
  return static_cast<TestKernel*>(cookie)->virt(phys);
}

void TestKernel::hook_zero(void* cookie, uint64_t phys, uint64_t bytes) {
  auto* self = static_cast<TestKernel*>(cookie);
  if (bytes == 0 || phys + bytes > kPhysBase + (uint64_t{1} << kArenaBits)) {
    self->hook_errors_.push_back("zero_memory outside the arena");
    return;
  }
  std::memset(self->virt(phys), 0, bytes);
}

void TestKernel::hook_created(void* cookie, const Capability& cap) {
  auto* self = static_cast<TestKernel*>(cookie);
  self->created_.push_back(cap);
  if (!self->live_.emplace(key_of(cap), cap).second) {
    self->hook_errors_.push_back(std::string("object created twice: ") +
                                 object_type_name(cap.type()));
  }
  if (has_memory(cap.type()) && cap.type() != ObjectType::Untyped && !cap.is_device()) {
    // Memory of a new object must have been zeroed.
    const uint8_t* bytes = static_cast<const uint8_t*>(self->virt(cap.phys()));
    uint64_t size = uint64_t{1} << cap.memory_size_bits();
    for (uint64_t i = 0; i < size; i += 64) {
      if (bytes[i] != 0) {
        self->hook_errors_.push_back("new object memory not zeroed");
        break;
      }
    }
  }
}

void TestKernel::hook_destroyed(void* cookie, const Capability& cap) {
  auto* self = static_cast<TestKernel*>(cookie);
  self->destroyed_.push_back(cap);
  if (cap.type() == ObjectType::Untyped) self->hook_errors_.push_back("untyped destroyed");
  if (self->live_.erase(key_of(cap)) == 0) {
    self->hook_errors_.push_back(std::string("destroyed an object that is not live: ") +
                                 object_type_name(cap.type()));
  }
  uint64_t count = 0;
  CapSlot* slots = self->ctx_.container_slots(cap, &count);
  for (uint64_t i = 0; i < count; ++i) {
    if (!slots[i].empty()) {
      self->hook_errors_.push_back("container destroyed with occupied slots");
      break;
    }
  }
  if (has_memory(cap.type()) && !cap.is_device() && cap.type() != ObjectType::Untyped) {
    std::memset(self->virt(cap.phys()), kPoison, uint64_t{1} << cap.memory_size_bits());
  }
}

CapSlot* TestKernel::hook_embedded(void* cookie, const Capability& cap, uint64_t* count) {
  if (cap.type() != ObjectType::Tcb) return nullptr;
  *count = kTcbSlots;
  return static_cast<CapSlot*>(static_cast<TestKernel*>(cookie)->virt(cap.phys()));
}

std::string TestKernel::check() {
  if (!hook_errors_.empty()) return "hook: " + hook_errors_.front();
  InvariantReport report = check_invariants(ctx_);
  if (!report.ok()) return std::string("invariant: ") + report.failure;
  // Every live object is named by at least one cap, and every cap names a live object
  // (untyped regions are not objects with a lifetime).
  std::set<ObjectKey> named;
  for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
    if (s->cap.type() == ObjectType::Untyped) continue;
    ObjectKey key = key_of(s->cap);
    if (live_.count(key) == 0) return std::string("cap to a dead object: ") +
                                      object_type_name(s->cap.type());
    named.insert(key);
  }
  if (named.size() != live_.size()) return "a live object has no cap (leak)";
  return "";
}

std::string TestKernel::tear_down() {
  // 1. Revoke every untyped at the top of the forest: all memory-derived objects below go.
  for (bool again = true; again;) {
    again = false;
    for (CapSlot* s = ctx_.first_root(); s != nullptr; s = s->next_sibling) {
      if (s->cap.type() == ObjectType::Untyped && s->has_children()) {
        (void)revoke_cap(ctx_, s);
        again = true;
        break;
      }
    }
  }
  std::string problem = check();
  if (!problem.empty()) return "after revoking the untyped: " + problem;
  // 2. If the boot untyped survived, all of its memory must be usable again.
  CapSlot* boot = slot(kBootUntyped);
  if (boot->cap.type() == ObjectType::Untyped && boot->cap.phys() == kUntypedPhys &&
      boot->parent == nullptr) {
    if (boot->cap.watermark() != 0) return "boot untyped watermark not reset by revoke";
    for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
      if (has_memory(s->cap.type()) && s->cap.phys() >= kUntypedPhys &&
          s->cap.phys() < kUntypedPhys + (uint64_t{1} << kUntypedBits) &&
          s->cap.type() != ObjectType::Untyped) {
        return "object left inside the revoked boot untyped";
      }
    }
  }
  // 3. Delete every cap that is left, wherever it lives.
  while (ctx_.first_root() != nullptr) (void)delete_cap(ctx_, ctx_.first_root());
  if (!hook_errors_.empty()) return "hook: " + hook_errors_.front();
  if (!live_.empty()) {
    return std::string("objects leaked: ") + std::to_string(live_.size()) + ", first " +
           object_type_name(live_.begin()->second.type());
  }
  return "";
}

}  // namespace captest
