// Property tests: thousands of random operation sequences (valid and invalid arguments) from a
// seeded PRNG. After every step the invariant checker and the lifetime records must agree, and
// a failed operation must leave the structure exactly as it was. Each sequence ends by revoking
// and deleting everything: all objects must be destroyed exactly once and all memory returned.
//
// Reproduce a failure with the printed seed:
//   CAP_PROPERTY_SEED=<seed> CAP_PROPERTY_SEQUENCES=1 build/tests/host/cap/cap_tests "[property]"
#include <catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "cap_test_env.h"
#include "seeded.h"

using namespace captest;

namespace {

constexpr uint64_t kDefaultSeed = 0x7E55E7A0C0FFEEull;
constexpr uint64_t kDefaultSequences = 10000;
constexpr int kStepsPerSequence = 32;
constexpr uint64_t kPlaySlots = 24;  // root slots the sequences play with (collisions wanted)



// A hash of every cap and link in the forest: equal before and after a failed operation.
uint64_t fingerprint(const CapContext& ctx) {
  uint64_t hash = 0xCBF29CE484222325ull;
  auto mix = [&hash](uint64_t value) {
    hash ^= value;
    hash *= 0x100000001B3ull;
  };
  auto ptr = [](const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); };
  mix(ptr(ctx.first_root()));
  for (const CapSlot* s = ctx.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
    const Capability& c = s->cap;
    mix(ptr(s));
    mix(static_cast<uint64_t>(c.type()) | uint64_t{c.rights().bits()} << 8 |
        uint64_t{c.size_bits()} << 16 | uint64_t{c.guard_bits()} << 24 |
        uint64_t{c.is_device()} << 32);
    mix(c.object_word());
    mix(c.guard());  // the data word: badge, guard or watermark
    for (const CapSlot* link : {s->parent, s->first_child, s->prev_sibling, s->next_sibling,
                                s->ring_prev, s->ring_next}) {
      mix(ptr(link));
    }
  }
  return hash;
}

// How often each error came out, over all sequences (printed to show the coverage).
uint64_t outcomes[32];

class Sequence {
 public:
  Sequence(uint64_t seed, bool protect_boot)
      : rng_(seed), protect_boot_(protect_boot), root_(k_.root_cap()) {}

  // Runs the sequence; returns an empty string or a description of the first failure.
  std::string run() {
    for (int step = 0; step < kStepsPerSequence; ++step) {
      if (!k_.is_live(root_)) break;  // the root CNode was destroyed: nothing is addressable
      op_.str("");
      uint64_t before = fingerprint(k_.ctx());
      size_t created = k_.created().size();
      size_t destroyed = k_.destroyed().size();
      Error result = random_operation();
      op_ << " -> " << error_name(result);
      ++outcomes[static_cast<size_t>(result)];
      if (result != Error::Ok && (fingerprint(k_.ctx()) != before ||
                                  k_.created().size() != created ||
                                  k_.destroyed().size() != destroyed)) {
        return describe(step, "a failed operation changed the structure");
      }
      if (!broken_.empty()) return describe(step, broken_);
      std::string problem = k_.check();
      if (!problem.empty()) return describe(step, problem);
    }
    op_.str("tear-down");
    std::string problem = k_.tear_down();
    return problem.empty() ? problem : describe(kStepsPerSequence, problem);
  }

 private:
  std::string describe(int step, const std::string& problem) {
    std::ostringstream out;
    out << "step " << step << " (" << op_.str() << "): " << problem;
    return out.str();
  }

  // A slot named by a random capability address: mostly valid one- or two-level addresses,
  // sometimes random bits and depths (which may fail to resolve: then nullptr).
  CapSlot* pick_slot() {
    if (rng_.percent(8)) {
      uint64_t cptr = rng_.next();
      uint64_t depth = rng_.below(70);
      auto slot = lookup_slot(k_.ctx(), root_, cptr, depth);
      op_ << " rand(" << cptr << "/" << depth << (slot.ok() ? ")" : ")!");
      return slot.ok() ? *slot : nullptr;
    }
    uint64_t index = rng_.below(kPlaySlots);
    uint64_t cptr = index;
    uint64_t depth = kRootRadix;
    const Capability& cap = k_.slot(index)->cap;
    if (cap.type() == ObjectType::Tcb && rng_.percent(40)) {
      // A TCB's embedded slots are not in any CSpace; the kernel fills them (TCB Configure).
      uint64_t embedded = rng_.below(kTcbSlots);
      op_ << " [" << index << ".tcb" << embedded << "]";
      return static_cast<CapSlot*>(k_.virt(cap.phys())) + embedded;
    }
    if (cap.type() == ObjectType::CNode && rng_.percent(60)) {
      uint64_t level = uint64_t{cap.guard_bits()} + cap.radix();
      if (depth + level <= 64) {
        uint64_t index_in_cnode = rng_.below(uint64_t{1} << cap.radix());
        cptr = (cptr << level) | (cap.guard() << cap.radix()) | index_in_cnode;
        depth += level;
      }
    }
    auto slot = lookup_slot(k_.ctx(), root_, cptr, depth);
    op_ << " [" << index << (depth > kRootRadix ? "+" : "") << "]";
    return slot.ok() ? *slot : nullptr;
  }

  // A slot that most likely holds a cap: a few tries at pick_slot.
  CapSlot* pick_source() {
    CapSlot* slot = nullptr;
    for (int attempt = 0; attempt < 4; ++attempt) {
      slot = pick_slot();
      if (slot != nullptr && !slot->empty()) break;
    }
    return slot;
  }

  // Records a broken postcondition of a successful operation (reported after the step).
  void expect(bool holds, const char* what) {
    if (!holds && broken_.empty()) broken_ = what;
  }

  bool protected_slot(const CapSlot* slot) {
    return protect_boot_ && (slot == k_.slot(kBootUntyped) || slot == k_.slot(kRootSelf));
  }

  uint64_t random_data() {
    switch (rng_.below(5)) {
      case 0: case 1: return 0;
      case 2: return 1 + rng_.below(1000);  // a badge
      case 3: {                              // a CNode guard, sometimes too wide for its bits
        uint8_t bits = static_cast<uint8_t>(rng_.below(5));
        return cnode_guard_data(rng_.below(uint64_t{1} << (bits + 1)), bits);
      }
      default: return rng_.next();
    }
  }

  uint64_t random_size_bits(ObjectType type) {
    switch (type) {
      case ObjectType::Untyped: return 3 + rng_.below(22);
      case ObjectType::CNode: return rng_.below(7);
      case ObjectType::SchedContext: return 7 + rng_.below(4);
      default: return rng_.below(3);
    }
  }

  ObjectType random_type() {
    // Fewer 2 MiB frames: each one is 2 MiB of zeroing.
    ObjectType type = static_cast<ObjectType>(rng_.below(kObjectTypeCount + 1));
    if (type == ObjectType::Frame2M && rng_.percent(80)) type = ObjectType::Frame4K;
    return type;
  }

  CapSlot* untyped_slot() {
    if (rng_.percent(40)) {
      for (uint64_t i = 0; i < kPlaySlots; ++i) {
        uint64_t index = (i + rng_.below(kPlaySlots)) % kPlaySlots;
        if (k_.slot(index)->cap.type() == ObjectType::Untyped) return k_.slot(index);
      }
    }
    return pick_slot();
  }

  Error random_operation() {
    CapContext& ctx = k_.ctx();
    uint64_t choice = rng_.below(100);
    if (choice < 28) {
      CapSlot* untyped = untyped_slot();
      ObjectType type = random_type();
      uint64_t size_bits = random_size_bits(type);
      CapSlot* dest = rng_.percent(80) ? k_.slot(kRootSelf) : pick_slot();
      uint64_t count = rng_.percent(90) ? 1 + rng_.below(3) : rng_.below(300);
      uint64_t offset = rng_.percent(90) ? rng_.below(kPlaySlots) : rng_.next();
      op_ << " retype " << object_type_name(type) << "/" << size_bits << " x" << count << " @"
          << offset;
      if (untyped == nullptr || dest == nullptr) return Error::FailedLookup;
      Error result = retype(ctx, untyped, {type, size_bits, dest, offset, count}).error();
      if (result == Error::Ok) {
        CapSlot* made = static_cast<CapSlot*>(k_.virt(dest->cap.phys())) + offset;
        for (uint64_t i = 0; i < count; ++i) {
          expect(made[i].cap.type() == type && made[i].parent == untyped &&
                     made[i].cap.rights() == CapRights::all() &&
                     made[i].cap.phys() + (uint64_t{1} << made[i].cap.memory_size_bits()) <=
                         untyped->cap.phys() + untyped->cap.watermark(),
                 "Retype made caps that are not children below the watermark");
        }
      }
      return result;
    }
    CapSlot* a = pick_source();
    CapSlot* b = choice >= 67 && choice < 74 ? pick_source() : pick_slot();  // rotate: a pivot
    if (choice < 40) {
      op_ << " copy";
      if (a == nullptr || b == nullptr) return Error::FailedLookup;
      Capability before = a->cap;
      Error result = copy_cap(ctx, a, b).error();
      if (result == Error::Ok) {
        expect(b->parent == a && b->cap.same_object(before) && b->cap.rights() == before.rights() &&
                   b->cap.badge() == before.badge() && b->cap.guard_bits() == before.guard_bits(),
               "Copy did not make an identical child");
      }
      return result;
    }
    if (choice < 52) {
      CapRights rights(rng_.below(16));
      uint64_t data = random_data();
      op_ << " mint " << unsigned{rights.bits()} << " " << data;
      if (a == nullptr || b == nullptr) return Error::FailedLookup;
      Capability before = a->cap;
      Error result = mint_cap(ctx, a, b, rights, data).error();
      if (result == Error::Ok) {
        expect(b->parent == a && b->cap.same_object(before) &&
                   b->cap.rights() == (before.rights() & rights) &&
                   (before.badge() == 0 || b->cap.badge() == before.badge()),
               "Mint raised rights, changed a badge, or named another object");
      }
      return result;
    }
    if (choice < 60) {
      op_ << " move";
      if (a == nullptr || b == nullptr || protected_slot(a)) return Error::FailedLookup;
      Capability before = a->cap;
      Error result = move_cap(ctx, a, b).error();
      if (result == Error::Ok) {
        expect(a->empty() && b->cap == before, "Move changed the cap or left the source");
      }
      return result;
    }
    if (choice < 67) {
      uint64_t data = random_data();
      op_ << " mutate " << data;
      if (a == nullptr || b == nullptr || protected_slot(a)) return Error::FailedLookup;
      Capability before = a->cap;
      Error result = mutate_cap(ctx, a, b, data).error();
      if (result == Error::Ok) {
        expect(a->empty() && b->cap.same_object(before) && b->cap.rights() == before.rights() &&
                   (before.badge() == 0 || b->cap.badge() == before.badge()),
               "Mutate changed rights, re-badged, or named another object");
      }
      return result;
    }
    if (choice < 74) {
      CapSlot* dest = rng_.percent(30) ? a : pick_slot();
      uint64_t pivot_data = rng_.percent(70) ? 0 : random_data();
      uint64_t dest_data = rng_.percent(70) ? 0 : random_data();
      op_ << " rotate " << pivot_data << " " << dest_data;
      if (a == nullptr || b == nullptr || dest == nullptr || protected_slot(a) ||
          protected_slot(b)) {
        return Error::FailedLookup;
      }
      return rotate_caps(ctx, a, b, dest, pivot_data, dest_data).error();
    }
    if (choice < 82) {
      op_ << " revoke";
      if (a == nullptr) return Error::FailedLookup;
      return revoke_cap(ctx, a).error();
    }
    if (choice < 95) {
      op_ << " delete";
      if (a == nullptr || protected_slot(a)) return Error::FailedLookup;
      return delete_cap(ctx, a).error();
    }
    uint64_t irq = rng_.below(4);
    op_ << " issue irq " << irq;
    if (b == nullptr) return Error::FailedLookup;
    CapSlot* control = rng_.percent(80) ? k_.slot(kIrqControl) : a;
    if (control == nullptr) return Error::FailedLookup;
    return issue_cap(ctx, control, b, Capability::control(ObjectType::IrqHandler, irq)).error();
  }

  TestKernel k_;
  Rng rng_;
  bool protect_boot_;
  Capability root_;
  std::ostringstream op_;
  std::string broken_;
};

}  // namespace

TEST_CASE("random operation sequences keep every invariant", "[cap][property]") {
  uint64_t base_seed = env_or("CAP_PROPERTY_SEED", kDefaultSeed);
  uint64_t sequences = env_or("CAP_PROPERTY_SEQUENCES", kDefaultSequences);
  for (uint64_t i = 0; i < sequences; ++i) {
    uint64_t seed = base_seed + i;
    std::string failure = Sequence(seed, seed % 2 == 0).run();
    if (!failure.empty()) {
      FAIL("seed " << seed << " (CAP_PROPERTY_SEED=" << seed
                   << " CAP_PROPERTY_SEQUENCES=1): " << failure);
    }
  }
  std::ostringstream summary;
  for (size_t e = 0; e < 32; ++e) {
    if (outcomes[e] != 0) summary << error_name(static_cast<Error>(e)) << "=" << outcomes[e] << " ";
  }
  if (std::getenv("CAP_PROPERTY_VERBOSE") != nullptr) std::printf("%s\n", summary.str().c_str());
  // Every kind of outcome must actually occur, or the generator has gone blind somewhere.
  for (Error e : {Error::Ok, Error::EmptySlot, Error::DeleteFirst, Error::FailedLookup,
                  Error::RangeError, Error::InvalidArgument, Error::IllegalOperation,
                  Error::RevokeFirst, Error::NotEnoughMemory, Error::WrongObjectType}) {
    if (sequences >= 1000) CHECK(outcomes[static_cast<size_t>(e)] != 0);
  }
  SUCCEED("ran " << sequences << " sequences from seed " << base_seed << ": " << summary.str());
}
