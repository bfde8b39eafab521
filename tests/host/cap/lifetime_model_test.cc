// Object-lifetime model test: thousands of seeded random sequences of retype (from small untypeds,
// so memory is reused), map / unmap of paging structures and frames into several PML4s at colliding
// addresses, copy / mint / move / delete / revoke, destroying a PML4 with tables still mapped,
// remapping stale tables, configuring threads' VSpace and IPC-buffer slots, switching the current
// space, and an "attacker" filling frames with plausible page-table entries. The kernel's own
// paging-structure logic runs here (lib/vspace_tables.cc, the code in the kernel) on top of the real
// capability core (microkernel/cap), with the kernel's hooks re-created over a memory arena.
//
// After every step:
//  (a) walk: every present entry of every table reachable from a live PML4 (user half) leads to a
//      live object of the right type (a table of the next level, a 4 KiB frame from a PT, a 2 MiB
//      frame from a huge PD entry), never into freed memory or an untyped's free part; a table
//      whose cap says unmapped holds no entry at all; a live thread reaches only a live PML4;
//  (b) the capability core's invariants (cap/invariants.h) and the lifetime records: the live
//      objects are exactly those named by caps, nothing destroyed twice;
//  (c) a reference model (below: which table entry refers to which object, and each cap's mapping
//      record, plus each thread's VSpace reference) predicts every map/unmap result and agrees
//      entry for entry and record for record with the kernel logic's state.
// Each sequence ends by revoking everything: all objects are destroyed, the untyped memory returned
// and every ASID released.
//
// Reproduce a failure with the printed seed:
//   LIFETIME_SEED=<seed> LIFETIME_SEQUENCES=1 build/tests/host/cap/cap_tests "[lifetime]"
#include <catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cap/cnode_ops.h"
#include "cap/context.h"
#include "cap/cspace.h"
#include "cap/delete.h"
#include "cap/derivation.h"
#include "cap/invariants.h"
#include "cap/untyped.h"
#include "cap_test_env.h"
#include "seeded.h"
#include "lib/page_table.h"
#include "lib/vspace_tables.h"
#include "object/poison.h"

namespace {

using namespace tessera::cap;
using tessera::Error;
using tessera::Result;
using tessera::kernel::entry_level;
using tessera::kernel::is_mapped;
using tessera::kernel::mapping_of;
using tessera::kernel::MappingRecord;
using tessera::kernel::root_through_slot;
namespace vs = tessera::kernel::vspace;
using captest::env_or;
using captest::Rng;
namespace pt = tessera::kernel::pt;

constexpr uint64_t kDefaultSeed = 0x11FE7113E5EEDull;
constexpr uint64_t kDefaultSequences = 3000;
constexpr int kSteps = 100;

// Arena (1 MiB at 1 GiB) playing physical memory:
//   [base, +16 KiB)          the root CNode, radix 7 (boot memory)
//   [base + 16 KiB, +4 KiB)  the kernel's PML4 (its upper half is shared by every space)
//   [base + 128 KiB, +128 KiB) the boot untyped; each sequence first cuts four 16 KiB untypeds
//                            from it, so objects die and their memory is reused all the time
// and a device untyped of 4 MiB outside the arena (2 MiB and 4 KiB device frames: never touched).
constexpr uint64_t kBase = uint64_t{1} << 30;
constexpr uint8_t kArenaBits = 20;
constexpr uint8_t kRootRadix = 7;
constexpr uint64_t kKernelRoot = kBase + (16 << 10);
constexpr uint64_t kUntypedPhys = kBase + (128 << 10);
constexpr uint8_t kUntypedBits = 17;
constexpr uint64_t kDevicePhys = uint64_t{1} << 32;
constexpr uint8_t kDeviceBits = 22;
constexpr uint8_t kSmallUntypedBits = 14;

constexpr uint64_t kRootSelf = 1, kBootUntyped = 2, kDeviceUntyped = 3, kSmallUntyped0 = 4;
constexpr uint64_t kSmallUntypedCount = 4;
constexpr uint64_t kFirstPlay = 8, kPlayCount = 20;

// The kernel's TCB layout (object/kernel_objects.h): the Tcb at offset 0 (here only its
// vspace_root word), three embedded cap slots at offset 1024.
constexpr uint64_t kTcbSlotsOffset = 1024;
constexpr uint64_t kTcbSlotCount = 3;
constexpr uint64_t kTcbVSpace = 1, kTcbIpcBuffer = 2;

// What a destroyed object's memory and an untyped's free part hold: the kernel's own poison word
// (present bit set, so following it as an entry is caught).
using tessera::kernel::kPoisonWord;



uint8_t* arena() {
  static uint8_t* memory = static_cast<uint8_t*>(std::aligned_alloc(uint64_t{1} << kArenaBits, uint64_t{1} << kArenaBits));
  return memory;
}

unsigned index_at(uint64_t vaddr, unsigned level) { return static_cast<unsigned>((vaddr >> (12 + 9 * (level - 1))) & 511); }

// Level of a paging-structure object: 4 = PML4 ... 1 = PT; 0 otherwise.
unsigned table_level(ObjectType type) {
  switch (type) {
    case ObjectType::Pml4: return 4;
    case ObjectType::Pdpt: return 3;
    case ObjectType::PageDirectory: return 2;
    case ObjectType::PageTable: return 1;
    default: return 0;
  }
}
bool is_frame(ObjectType t) { return t == ObjectType::Frame4K || t == ObjectType::Frame2M; }
uint64_t coverage_bits(ObjectType type) {
  return type == ObjectType::Pdpt ? 39 : type == ObjectType::PageDirectory ? 30 : 21;
}

// ---------------------------------------------------------------------------------------------
// The reference model: what references may exist.
struct ModelRecord {
  uint64_t space;  // model space token (one per PML4 lifetime)
  uint64_t vaddr;
};

struct Model {
  // Present entries of every live table (user half for a PML4): index -> the whole entry.
  std::map<uint64_t, std::map<unsigned, uint64_t>> entries;
  // Live spaces: token -> PML4 phys; and the token of each live PML4.
  std::map<uint64_t, uint64_t> spaces;
  std::map<uint64_t, uint64_t> token_of_root;
  uint64_t next_token = 1;
  // Mapping record of each frame/table cap, by slot.
  std::map<const CapSlot*, ModelRecord> records;
  // Threads: the PML4 configure recorded, and whether the VSpace slot still holds that cap.
  struct Thread {
    uint64_t root = 0;
    bool holds = false;
  };
  std::map<uint64_t, Thread> threads;

  uint64_t root_of_token(uint64_t token) const {
    auto it = spaces.find(token);
    return it == spaces.end() ? 0 : it->second;
  }
  // The table at `level` covering vaddr in the space rooted at `root` (0 when the walk stops).
  uint64_t walk(uint64_t root, uint64_t vaddr, unsigned level) const {
    uint64_t table = root;
    for (unsigned l = 4; l > level; --l) {
      auto t = entries.find(table);
      if (t == entries.end()) return 0;
      auto e = t->second.find(index_at(vaddr, l));
      if (e == t->second.end() || (e->second & pt::kHuge) != 0) return 0;
      table = e->second & pt::kAddressMask;
    }
    return table;
  }
  void unmap(const CapSlot* slot) {
    auto r = records.find(slot);
    if (r == records.end()) return;
    const uint64_t phys = slot->cap.phys();
    const unsigned level = entry_level(slot->cap.type());
    const uint64_t root = root_of_token(r->second.space);
    if (root != 0) {
      const uint64_t table = walk(root, r->second.vaddr, level);
      if (table != 0) {
        auto& t = entries[table];
        auto e = t.find(index_at(r->second.vaddr, level));
        if (e != t.end() && (e->second & pt::kAddressMask) == phys) t.erase(e);
      }
    }
    if (is_paging_structure(slot->cap.type())) entries[phys].clear();
    records.erase(r);
  }
};

// ---------------------------------------------------------------------------------------------
class Sequence {
 public:
  explicit Sequence(uint64_t seed)
      : rng_(seed), nx_(rng_.percent(50)), ctx_(hooks()), tables_(std::make_unique<vs::Tables>(table_env())) {}

  std::string run() {
    std::string problem = boot();
    if (!problem.empty()) return describe(-1, problem);
    for (int step = 0; step < kSteps; ++step) {
      op_.str("");
      random_operation();
      log_.push_back(op_.str());
      if (!broken_.empty()) return describe(step, broken_);
      problem = check();
      if (!problem.empty()) return describe(step, problem);
    }
    op_.str("tear-down");
    log_.push_back("tear-down");
    problem = tear_down();
    if (problem.empty() && std::getenv("LIFETIME_TRACE") != nullptr) std::printf("%s\n", describe(kSteps, "trace").c_str());
    return problem.empty() ? problem : describe(kSteps, problem);
  }

  uint64_t ok_maps() const { return ok_maps_; }

 private:
  // ----- environment -----------------------------------------------------------------------
  static void* hook_p2v(void* self, uint64_t phys) { return static_cast<Sequence*>(self)->virt(phys); }
  static void hook_zero(void* self, uint64_t phys, uint64_t bytes) {
    std::memset(static_cast<Sequence*>(self)->virt(phys), 0, bytes);
  }
  static void hook_created(void* self, const Capability& c) { static_cast<Sequence*>(self)->created(c); }
  static void hook_destroyed(void* self, const Capability& c) { static_cast<Sequence*>(self)->destroyed(c); }
  static CapSlot* hook_embedded(void* self, const Capability& c, uint64_t* count) {
    if (c.type() != ObjectType::Tcb) return nullptr;
    *count = kTcbSlotCount;
    return static_cast<Sequence*>(self)->tcb_slots(c.phys());
  }
  // The kernel's cap_deleted hook: unmap what the cap mapped. The model applies its own unmap first.
  static void hook_cap_deleted(void* cookie, CapSlot* slot) {
    auto* self = static_cast<Sequence*>(cookie);
    self->model_.unmap(slot);
    self->tables_->unmap_cap(slot);
    for (auto& [tcb, thread] : self->model_.threads) {
      if (slot == self->tcb_slots(tcb) + kTcbVSpace) thread.holds = false;
    }
  }

  ObjectHooks hooks() {
    ObjectHooks h;
    h.cookie = this;
    h.phys_to_virt = hook_p2v;
    h.zero_memory = hook_zero;
    h.object_created = hook_created;
    h.object_destroyed = hook_destroyed;
    h.embedded_slots = hook_embedded;
    h.cap_deleted = hook_cap_deleted;
    return h;
  }

  static uint64_t* env_table(void* self, uint64_t phys) {
    auto* s = static_cast<Sequence*>(self);
    if ((phys & 0xfff) != 0) s->fail("the table logic asked for an unaligned table");
    return static_cast<uint64_t*>(s->virt(phys));
  }
  static uint64_t env_current(void* self) { return static_cast<Sequence*>(self)->current_root_; }
  static void env_invalidate(void* self, uint64_t) { ++static_cast<Sequence*>(self)->flushes_; }
  static void env_load(void* self, uint64_t root) { static_cast<Sequence*>(self)->current_root_ = root; }
  static uint64_t env_kernel_root(void*) { return kKernelRoot; }
  static bool env_nx(void* self) { return static_cast<Sequence*>(self)->nx_; }
  static void env_entry_read(void* self, uint64_t entry, const uint64_t*) {
    if (entry == kPoisonWord) static_cast<Sequence*>(self)->fail("a walk followed an entry of freed memory");
  }

  vs::TableEnv table_env() {
    vs::TableEnv env;
    env.cookie = this;
    env.table = env_table;
    env.current_root = env_current;
    env.invalidate_page = env_invalidate;
    env.load_root = env_load;
    env.kernel_root = env_kernel_root;
    env.nx_enabled = env_nx;
    env.entry_read = env_entry_read;
    return env;
  }

  void* virt(uint64_t phys) {
    if (phys < kBase || phys - kBase >= (uint64_t{1} << kArenaBits)) {
      std::fprintf(stderr, "access outside the arena: %#llx\n", static_cast<unsigned long long>(phys));
      std::abort();  // device memory and wild pointers are never touched
    }
    return arena() + (phys - kBase);
  }
  CapSlot* tcb_slots(uint64_t tcb) { return reinterpret_cast<CapSlot*>(static_cast<uint8_t*>(virt(tcb)) + kTcbSlotsOffset); }
  uint64_t& tcb_vspace_root(uint64_t tcb) { return *static_cast<uint64_t*>(virt(tcb)); }
  CapSlot* slot(uint64_t index) { return static_cast<CapSlot*>(virt(kBase)) + index; }

  void fail(const std::string& what) {
    if (broken_.empty()) broken_ = what;
  }

  void created(const Capability& c) {
    if (!live_.emplace(c.phys(), c).second && c.type() != ObjectType::Untyped) fail("object created twice");
    switch (c.type()) {
      case ObjectType::Pml4: {
        tables_->init_root(c.phys());
        const uint64_t token = model_.next_token++;
        model_.spaces[token] = c.phys();
        model_.token_of_root[c.phys()] = token;
        model_.entries[c.phys()];
        auto id = tables_->space_id(c.phys());
        if (!id) fail("a new PML4 has no ASID");
        else ids_.push_back(*id);
        break;
      }
      case ObjectType::Pdpt: case ObjectType::PageDirectory: case ObjectType::PageTable:
        model_.entries[c.phys()];
        break;
      case ObjectType::Tcb:
        model_.threads[c.phys()] = Model::Thread{};
        break;
      default:
        break;
    }
  }

  void destroyed(const Capability& c) {
    if (live_.erase(c.phys()) == 0) fail("destroyed an object that is not live");
    switch (c.type()) {
      case ObjectType::Pml4:
        tables_->destroy_root(c.phys());
        model_.spaces.erase(model_.token_of_root[c.phys()]);
        model_.token_of_root.erase(c.phys());
        model_.entries.erase(c.phys());
        break;
      case ObjectType::Pdpt: case ObjectType::PageDirectory: case ObjectType::PageTable:
        model_.entries.erase(c.phys());
        break;
      case ObjectType::Tcb:
        model_.threads.erase(c.phys());
        break;
      default:
        break;
    }
    if (!c.is_device()) poison(c.phys(), uint64_t{1} << c.memory_size_bits());
  }

  void poison(uint64_t phys, uint64_t bytes) {
    auto* words = static_cast<uint64_t*>(virt(phys));
    for (uint64_t i = 0; i < bytes / 8; ++i) words[i] = kPoisonWord;
  }

  // ----- boot --------------------------------------------------------------------------------
  std::string boot() {
    poison(kBase, uint64_t{1} << kArenaBits);
    std::memset(virt(kBase), 0, uint64_t{1} << (kRootRadix + kSlotSizeBits));
    std::memset(virt(kKernelRoot), 0, 4096);
    auto* kernel = static_cast<uint64_t*>(virt(kKernelRoot));
    for (unsigned i = 256; i < 512; ++i) kernel[i] = (0x200000ull * i) | pt::kPresent | pt::kWritable | pt::kGlobal;
    current_root_ = kKernelRoot;
    const Capability caps[] = {Capability::cnode(kBase, kRootRadix), Capability::untyped(kUntypedPhys, kUntypedBits, false),
                               Capability::untyped(kDevicePhys, kDeviceBits, true)};
    for (uint64_t i = 0; i < 3; ++i) {
      if (!insert_root_cap(ctx_, slot(kRootSelf + i), caps[i]).ok()) return "boot: insert_root_cap failed";
    }
    live_.emplace(kBase, caps[0]);
    RetypeRequest request{ObjectType::Untyped, kSmallUntypedBits, slot(kRootSelf), kSmallUntyped0, kSmallUntypedCount};
    if (!retype(ctx_, slot(kBootUntyped), request).ok()) return "boot: cutting the small untypeds failed";
    // Two spaces to start with (they die and come back like everything else).
    RetypeRequest spaces{ObjectType::Pml4, 0, slot(kRootSelf), kFirstPlay + rng_.below(kPlayCount / 2), 1};
    if (!retype(ctx_, slot(kBootUntyped), spaces).ok()) return "boot: making a PML4 failed";
    spaces.dest_offset = kFirstPlay + kPlayCount / 2 + rng_.below(kPlayCount / 2);
    if (!retype(ctx_, slot(kSmallUntyped0), spaces).ok()) return "boot: making a PML4 failed";
    return check();
  }

  // ----- picking -----------------------------------------------------------------------------
  CapSlot* play_slot() { return slot(kFirstPlay + rng_.below(kPlayCount)); }
  uint64_t empty_play_slot() {
    const uint64_t start = rng_.below(kPlayCount);
    for (uint64_t i = 0; i < kPlayCount; ++i) {
      if (slot(kFirstPlay + (start + i) % kPlayCount)->empty()) return kFirstPlay + (start + i) % kPlayCount;
    }
    return kFirstPlay + start;
  }
  std::string name(const CapSlot* s) {
    const auto* base = static_cast<const CapSlot*>(virt(kBase));
    if (s >= base && s < base + (1u << kRootRadix)) return "[" + std::to_string(s - base) + "]";
    for (auto& [tcb, thread] : model_.threads) {
      CapSlot* slots = tcb_slots(tcb);
      if (s >= slots && s < slots + kTcbSlotCount) return "[tcb@" + std::to_string((tcb - kBase) >> 10) + "k." + std::to_string(s - slots) + "]";
    }
    return "[?]";
  }
  // A slot holding a cap of one of `types` (play slots; sometimes any slot at all). `mapped`:
  // -1 prefers caps whose record says unmapped, 1 mapped ones, 0 either.
  CapSlot* find(std::initializer_list<ObjectType> types, uint64_t any_percent = 4, int mapped = 0) {
    if (rng_.percent(any_percent)) return play_slot();
    std::vector<CapSlot*> all, preferred;
    for (uint64_t i = 0; i < kPlayCount; ++i) {
      CapSlot* s = slot(kFirstPlay + i);
      for (ObjectType t : types) {
        if (s->cap.type() != t) continue;
        all.push_back(s);
        if (mapped != 0 && is_mapped(s) == (mapped > 0)) preferred.push_back(s);
      }
    }
    if (!preferred.empty() && rng_.percent(80)) return preferred[rng_.below(preferred.size())];
    if (!all.empty()) return all[rng_.below(all.size())];
    return play_slot();
  }
  CapSlot* any_untyped() {
    if (rng_.percent(6)) return slot(kDeviceUntyped);
    if (rng_.percent(20)) return slot(kBootUntyped);
    if (rng_.percent(15)) return find({ObjectType::Untyped}, 0);
    return slot(kSmallUntyped0 + rng_.below(kSmallUntypedCount));
  }
  // An address whose path down to `level` exists in `space` as far as possible (so maps succeed
  // often), at the same few colliding indices as colliding_vaddr.
  uint64_t guided_vaddr(const CapSlot* space, unsigned level) {
    if (space->cap.type() != ObjectType::Pml4 || rng_.percent(30)) return colliding_vaddr();
    uint64_t v = 0;
    uint64_t table = space->cap.phys();
    for (unsigned l = 4; l >= 1; --l) {
      unsigned index = static_cast<unsigned>(rng_.below(2));
      if (l > level && table != 0) {
        auto t = model_.entries.find(table);
        std::vector<std::pair<unsigned, uint64_t>> present;
        if (t != model_.entries.end()) {
          for (auto& [i, e] : t->second) {
            if ((e & pt::kHuge) == 0) present.emplace_back(i, e);
          }
        }
        table = 0;
        if (!present.empty()) {
          const auto& pick = present[rng_.below(present.size())];
          index = pick.first;
          table = pick.second & pt::kAddressMask;
        }
      }
      v |= uint64_t{index} << (12 + 9 * (l - 1));
    }
    return v;
  }
  uint64_t colliding_vaddr() {
    if (rng_.percent(4)) return rng_.next();                           // mostly out of range
    if (rng_.percent(3)) return tessera::kernel::kUserAddressLimit - 4096;
    uint64_t v = 0;
    for (unsigned level = 4; level >= 1; --level) v |= rng_.below(2) << (12 + 9 * (level - 1));
    if (rng_.percent(5)) v |= 0x1000 * (1 + rng_.below(3)) + rng_.below(4096);  // misaligned
    return v;
  }

  // ----- operations ----------------------------------------------------------------------------
  void expect(Error actual, Error predicted) {
    op_ << " -> " << tessera::error_name(actual);
    if (actual != predicted) {
      fail(std::string("the model predicted ") + tessera::error_name(predicted) + " but the kernel logic returned " +
           tessera::error_name(actual));
    }
  }

  // The space argument as vspace_invoke's space_param takes it; the model's token for it.
  Result<vs::SpaceId> space_of(CapSlot* pml4) {
    TRY(lookup_cap<ObjectType::Pml4>(pml4, CapRights::none()));
    return tables_->space_id(pml4->cap.phys());
  }

  // Picks a space and, most of the time, an unmapped cap of the type its tree can take next
  // (following existing entries at the colliding indices), then maps it.
  void map() {
    CapSlot* space = find({ObjectType::Pml4});
    CapSlot* self = nullptr;
    if (space->cap.type() == ObjectType::Pml4 && rng_.percent(75)) {
      unsigned depth = 4;  // the level of the deepest table reached by following present entries
      uint64_t table = space->cap.phys();
      uint64_t vaddr = 0;
      for (; depth > 1; --depth) {
        auto t = model_.entries.find(table);
        if (t == model_.entries.end() || t->second.empty() || rng_.percent(15)) break;
        auto e = t->second.begin();
        std::advance(e, rng_.below(t->second.size()));
        if ((e->second & pt::kHuge) != 0) break;
        vaddr |= uint64_t{e->first} << (12 + 9 * (depth - 1));
        table = e->second & pt::kAddressMask;
      }
      for (unsigned l = depth; l >= 1; --l) vaddr |= rng_.below(2) << (12 + 9 * (l - 1));
      static constexpr ObjectType kNext[] = {ObjectType::Null, ObjectType::Frame4K, ObjectType::PageTable,
                                             ObjectType::PageDirectory, ObjectType::Pdpt};
      ObjectType want = kNext[depth];
      if (depth == 2 && rng_.percent(30)) want = ObjectType::Frame2M;
      self = find({want}, 0, -1);
      if ((self->cap.type() != want || is_mapped(self)) && rng_.percent(70)) {
        // None to hand: make one (from any untyped, reusing whatever memory is free there).
        CapSlot* untyped = want == ObjectType::Frame2M ? slot(kDeviceUntyped) : any_untyped();
        const uint64_t offset = empty_play_slot();
        op_ << "retype " << name(untyped) << " " << object_type_name(want) << " @" << offset << " -> "
            << tessera::error_name(retype(ctx_, untyped, {want, 0, slot(kRootSelf), offset, 1}).error()) << "; ";
        self = slot(offset);
      }
      if (is_frame(self->cap.type())) return map_frame(self, space, vaddr);
      if (is_paging_structure(self->cap.type())) return map_table(self, space, vaddr);
    } else {
      self = find({ObjectType::Pdpt, ObjectType::PageDirectory, ObjectType::PageTable, ObjectType::Frame4K,
                   ObjectType::Frame2M}, 4, -1);
    }
    if (is_frame(self->cap.type()) || (!is_paging_structure(self->cap.type()) && rng_.percent(50))) {
      map_frame(self, space, guided_vaddr(space, entry_level(self->cap.type())));
    } else {
      map_table(self, space, guided_vaddr(space, entry_level(self->cap.type())));
    }
  }

  void map_table(CapSlot* self, CapSlot* space, uint64_t vaddr) {
    op_ << "map-table " << name(self) << " " << object_type_name(self->cap.type()) << " into " << name(space) << " @"
        << std::hex << vaddr << std::dec;
    if (!is_paging_structure(self->cap.type())) return;  // invoke_paging is only reached for tables
    const Error predicted = predict_map(self, space, vaddr, nullptr);
    Error actual = Error::Ok;
    if (auto id = space_of(space); !id) {
      actual = id.error();
    } else {
      actual = tables_->map_table_cap(self, space->cap.phys(), *id, vaddr).error();
    }
    expect(actual, predicted);
    if (actual == Error::Ok) ++ok_maps_;
  }

  void map_frame(CapSlot* self, CapSlot* space, uint64_t vaddr) {
    if (self->cap.type() == ObjectType::Frame2M && rng_.percent(70)) vaddr &= ~((uint64_t{1} << 21) - 1);
    vs::FrameMapping m{vaddr, rng_.percent(80), rng_.percent(50), rng_.percent(50), rng_.percent(10)};
    op_ << "map-frame " << name(self) << " " << object_type_name(self->cap.type()) << " into " << name(space) << " @"
        << std::hex << vaddr << std::dec << (m.write ? " w" : "") << (m.executable ? " x" : "");
    if (!is_frame(self->cap.type())) return;
    const Error predicted = predict_map(self, space, vaddr, &m);
    Error actual = Error::Ok;
    if (auto id = space_of(space); !id) {
      actual = id.error();
    } else {
      actual = tables_->map_frame_cap(self, space->cap.phys(), *id, m).error();
    }
    expect(actual, predicted);
    if (actual == Error::Ok) ++ok_maps_;
  }

  // The model's own account of Frame.map / PageTable.map: the error it must give, and on success
  // the entry and the record it must write (applied to the model here).
  Error predict_map(CapSlot* self, CapSlot* space, uint64_t vaddr, const vs::FrameMapping* frame) {
    if (space->cap.type() != ObjectType::Pml4) return space->empty() ? Error::EmptySlot : Error::WrongObjectType;
    if (model_.records.count(self) != 0) return Error::InvalidCapability;
    const uint64_t root = space->cap.phys();
    const uint64_t phys = self->cap.phys();
    const unsigned level = entry_level(self->cap.type());
    uint64_t at = vaddr;
    uint64_t entry = phys | pt::kPresent | pt::kUser;
    if (frame == nullptr) {
      at = vaddr & ~((uint64_t{1} << coverage_bits(self->cap.type())) - 1);
      if (vaddr >= tessera::kernel::kUserAddressLimit) return Error::RangeError;
      entry |= pt::kWritable;
    } else {
      const CapRights rights = self->cap.rights();
      if (frame->read && !rights.includes(CapRights::read())) return Error::InsufficientRights;
      if (frame->write && !rights.includes(CapRights::write())) return Error::InsufficientRights;
      const uint64_t size = uint64_t{1} << self->cap.memory_size_bits();
      if ((vaddr & (size - 1)) != 0) return Error::AlignmentError;
      if (vaddr >= tessera::kernel::kUserAddressLimit || tessera::kernel::kUserAddressLimit - vaddr < size) {
        return Error::RangeError;
      }
      if (frame->write) entry |= pt::kWritable;
      if ((!frame->executable || frame->write) && nx_) entry |= pt::kNoExecute;
      if (frame->uncached || self->cap.is_device()) entry |= pt::kCacheDisable | pt::kWriteThrough;
      if (level == 2) entry |= pt::kHuge;
    }
    const uint64_t table = model_.walk(root, at, level);
    if (table == 0) return Error::FailedLookup;
    auto& t = model_.entries[table];
    if (t.count(index_at(at, level)) != 0) return Error::DeleteFirst;
    t[index_at(at, level)] = entry;
    model_.records[self] = ModelRecord{model_.token_of_root.at(root), at};
    return Error::Ok;
  }

  void unmap() {
    CapSlot* self = find({ObjectType::Pdpt, ObjectType::PageDirectory, ObjectType::PageTable, ObjectType::Frame4K,
                          ObjectType::Frame2M}, 4, 1);
    op_ << "unmap " << name(self) << " " << object_type_name(self->cap.type());
    if (!is_paging_structure(self->cap.type()) && !is_frame(self->cap.type())) return;
    op_ << (is_mapped(self) ? " (mapped)" : "");
    model_.unmap(self);
    tables_->unmap_cap(self);
  }

  void do_retype() {
    static constexpr ObjectType kTypes[] = {
        ObjectType::Pml4, ObjectType::Pml4, ObjectType::Pdpt, ObjectType::Pdpt, ObjectType::PageDirectory,
        ObjectType::PageDirectory, ObjectType::PageTable, ObjectType::PageTable, ObjectType::Frame4K,
        ObjectType::Frame4K, ObjectType::Frame4K, ObjectType::Frame4K, ObjectType::Frame4K, ObjectType::Frame2M,
        ObjectType::Endpoint,
        ObjectType::Notification, ObjectType::Tcb, ObjectType::Untyped};
    const ObjectType type = kTypes[rng_.below(sizeof(kTypes) / sizeof(kTypes[0]))];
    CapSlot* untyped = any_untyped();
    const uint64_t size_bits = type == ObjectType::Untyped ? 12 + rng_.below(3) : 0;
    const uint64_t offset = rng_.percent(85) ? empty_play_slot() : kFirstPlay + rng_.below(kPlayCount);
    const uint64_t count = 1 + (rng_.percent(20) ? rng_.below(3) : 0);
    op_ << "retype " << name(untyped) << " " << object_type_name(type) << " x" << count << " @" << offset;
    RetypeRequest request{type, size_bits, slot(kRootSelf), offset, std::min(count, kFirstPlay + kPlayCount - offset)};
    op_ << " -> " << tessera::error_name(retype(ctx_, untyped, request).error());
  }

  void copy_or_mint() {
    CapSlot* src = rng_.percent(70) ? find({ObjectType::Frame4K, ObjectType::Frame2M, ObjectType::Pml4}) : play_slot();
    CapSlot* dest = play_slot();
    if (rng_.percent(50)) {
      op_ << "copy " << name(src) << " -> " << name(dest);
      op_ << " -> " << tessera::error_name(copy_cap(ctx_, src, dest).error());
    } else {
      const CapRights rights(rng_.below(16));
      op_ << "mint " << name(src) << " -> " << name(dest) << " rights " << unsigned{rights.bits()};
      op_ << " -> " << tessera::error_name(mint_cap(ctx_, src, dest, rights, 0).error());
    }
  }

  void move() {
    CapSlot* src = play_slot();
    CapSlot* dest = play_slot();
    op_ << "move " << name(src) << " -> " << name(dest);
    const bool had = model_.records.count(src) != 0;
    const ModelRecord record = had ? model_.records[src] : ModelRecord{};
    const Error result = move_cap(ctx_, src, dest).error();
    op_ << " -> " << tessera::error_name(result);
    if (result == Error::Ok && had) {  // the mapping moves with the cap
      model_.records.erase(src);
      model_.records[dest] = record;
    }
  }

  void remove() {
    CapSlot* s = rng_.percent(40) ? find({ObjectType::Pml4, ObjectType::Pdpt, ObjectType::PageDirectory,
                                          ObjectType::PageTable, ObjectType::Frame4K, ObjectType::Tcb})
                                  : play_slot();
    if (rng_.percent(5)) s = slot(kSmallUntyped0 + rng_.below(kSmallUntypedCount));
    const bool revoke = rng_.percent(35);
    op_ << (revoke ? "revoke " : "delete ") << name(s) << " " << object_type_name(s->cap.type());
    op_ << " -> " << tessera::error_name((revoke ? revoke_cap(ctx_, s) : delete_cap(ctx_, s)).error());
  }

  // TCB configure (object/tcb_invoke.cc): the VSpace slot gets a copy of a PML4 cap (a space
  // without an ASID is refused), the IPC-buffer slot a copy of a frame cap; the slot's old cap is
  // deleted first.
  void configure() {
    CapSlot* tcb = find({ObjectType::Tcb}, 0);
    CapSlot* pml4 = find({ObjectType::Pml4});
    CapSlot* frame = find({ObjectType::Frame4K});
    op_ << "configure " << name(tcb) << " vspace " << name(pml4) << " buffer " << name(frame);
    if (tcb->cap.type() != ObjectType::Tcb || !space_of(pml4).ok()) return;
    const uint64_t t = tcb->cap.phys();
    CapSlot* vslot = tcb_slots(t) + kTcbVSpace;
    (void)delete_cap(ctx_, vslot);
    if (copy_cap(ctx_, pml4, vslot).ok()) {
      tcb_vspace_root(t) = vslot->cap.phys();
      model_.threads[t] = Model::Thread{pml4->cap.phys(), true};
      op_ << " ok";
    }
    if (frame->cap.type() == ObjectType::Frame4K) {
      CapSlot* bslot = tcb_slots(t) + kTcbIpcBuffer;
      (void)delete_cap(ctx_, bslot);
      (void)copy_cap(ctx_, frame, bslot);
    }
  }

  // The thread whose space the CPU is in: a live PML4 or the kernel's.
  void switch_space() {
    CapSlot* s = find({ObjectType::Pml4}, 0);
    if (s->cap.type() == ObjectType::Pml4 && rng_.percent(80)) {
      current_root_ = s->cap.phys();
    } else {
      current_root_ = kKernelRoot;
    }
    op_ << "switch to " << (current_root_ == kKernelRoot ? "the kernel" : name(s));
  }

  // An attacker owns a frame: it fills it with present|user|rw entries naming tables, frames,
  // freed memory and untyped memory, hoping the kernel will one day walk it as a table.
  void attack() {
    CapSlot* s = find({ObjectType::Frame4K}, 0);
    op_ << "attack " << name(s);
    if (s->cap.type() != ObjectType::Frame4K || s->cap.is_device()) return;
    auto* words = static_cast<uint64_t*>(virt(s->cap.phys()));
    for (unsigned i = 0; i < 512; ++i) {
      const uint64_t target = kUntypedPhys + (rng_.below(uint64_t{1} << (kUntypedBits - 12)) << 12);
      words[i] = target | pt::kPresent | pt::kUser | pt::kWritable | (rng_.percent(10) ? pt::kHuge : 0);
    }
  }

  void random_operation() {
    const uint64_t choice = rng_.below(100);
    if (choice < 24) return do_retype();
    if (choice < 60) return map();
    if (choice < 68) return unmap();
    if (choice < 74) return copy_or_mint();
    if (choice < 78) return move();
    if (choice < 88) return remove();
    if (choice < 93) return configure();
    if (choice < 96) return switch_space();
    return attack();
  }

  // ----- checks --------------------------------------------------------------------------------
  std::string check() {
    if (!broken_.empty()) return broken_;
    InvariantReport report = check_invariants(ctx_);
    if (!report.ok()) return std::string("cap invariant: ") + report.failure;
    // The live objects are exactly those named by caps (untyped regions are not objects).
    std::set<uint64_t> named;
    for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
      if (s->cap.type() == ObjectType::Untyped) continue;
      auto it = live_.find(s->cap.phys());
      if (it == live_.end() || it->second.type() != s->cap.type()) return "a cap names a dead object";
      named.insert(s->cap.phys());
    }
    if (named.size() != live_.size()) return "a live object has no cap";
    if (std::string p = check_walk(); !p.empty()) return "walk: " + p;
    if (std::string p = check_model(); !p.empty()) return "model: " + p;
    return "";
  }

  const Capability* live_of(uint64_t phys) {
    auto it = live_.find(phys);
    return it == live_.end() ? nullptr : &it->second;
  }

  std::string hex(uint64_t v) {
    std::ostringstream out;
    out << std::hex << "0x" << v;
    return out.str();
  }

  // (a) Every present entry reachable from a live PML4 leads to a live object of the next level.
  std::string walk_table(uint64_t table, unsigned level) {
    const auto* e = static_cast<const uint64_t*>(virt(table));
    const unsigned limit = level == 4 ? 256 : 512;
    for (unsigned i = 0; i < limit; ++i) {
      if ((e[i] & pt::kPresent) == 0) continue;
      const uint64_t target = e[i] & pt::kAddressMask;
      const bool huge = level > 1 && (e[i] & pt::kHuge) != 0;
      const Capability* obj = live_of(target);
      ObjectType want = level == 1 ? ObjectType::Frame4K
                        : huge     ? (level == 2 ? ObjectType::Frame2M : ObjectType::Null)
                        : level == 4 ? ObjectType::Pdpt
                        : level == 3 ? ObjectType::PageDirectory
                                     : ObjectType::PageTable;
      if (obj == nullptr || obj->type() != want) {
        return "entry " + std::to_string(i) + " = " + hex(e[i]) + " of the level-" + std::to_string(level) + " table at " +
               hex(table) + " leads to " + (obj == nullptr ? "freed or untyped memory" : object_type_name(obj->type())) +
               ", not a live " + object_type_name(want);
      }
      if (!huge && level > 1) {
        if (std::string p = walk_table(target, level - 1); !p.empty()) return p;
      }
    }
    return "";
  }

  std::string check_walk() {
    if (current_root_ != kKernelRoot) {
      const Capability* c = live_of(current_root_);
      if (c == nullptr || c->type() != ObjectType::Pml4) return "the CPU is in a destroyed space";
    }
    for (auto& [phys, c] : live_) {
      if (c.type() == ObjectType::Pml4) {
        auto id = tables_->space_id(phys);
        if (!id || tables_->root_of(*id) != phys) return "a live PML4 lost its ASID";
        if (std::string p = walk_table(phys, 4); !p.empty()) return p;
      }
    }
    // A table whose cap says unmapped holds no entry (seL4's rule).
    for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
      if (!is_paging_structure(s->cap.type()) || is_mapped(s)) continue;
      const auto* e = static_cast<const uint64_t*>(virt(s->cap.phys()));
      for (unsigned i = 0; i < 512; ++i) {
        if (e[i] != 0) return "the unmapped " + std::string(object_type_name(s->cap.type())) + " " + name(s) + " holds entry " +
                              std::to_string(i);
      }
    }
    // A thread reaches only a live space.
    for (auto& [tcb, thread] : model_.threads) {
      const uint64_t root = root_through_slot(tcb_slots(tcb) + kTcbVSpace, tcb_vspace_root(tcb));
      if (root != 0 && (live_of(root) == nullptr || live_of(root)->type() != ObjectType::Pml4)) {
        return "a thread reaches a destroyed address space";
      }
    }
    return "";
  }

  // (c) The model and the kernel logic agree.
  std::string check_model() {
    for (auto& [phys, c] : live_) {
      if (table_level(c.type()) == 0) continue;
      auto it = model_.entries.find(phys);
      if (it == model_.entries.end()) return "no model of a live table";
      const auto* e = static_cast<const uint64_t*>(virt(phys));
      const unsigned limit = c.type() == ObjectType::Pml4 ? 256 : 512;
      if (c.type() == ObjectType::Pml4) {  // the kernel half is the kernel's; slot 400 holds the ASID
        const auto* kernel = static_cast<const uint64_t*>(virt(kKernelRoot));
        auto id = tables_->space_id(phys);
        for (unsigned i = 256; i < 512; ++i) {
          const uint64_t expected = i == vs::kAsidSlot ? (id ? uint64_t{id->asid} << 1 : 0) : kernel[i];
          if (e[i] != expected) return "kernel-half entry " + std::to_string(i) + " of the PML4 at " + hex(phys) + " changed";
        }
      }
      for (unsigned i = 0; i < limit; ++i) {
        auto m = it->second.find(i);
        const uint64_t expected = m == it->second.end() ? 0 : m->second;
        if (e[i] != expected) {
          return "entry " + std::to_string(i) + " of the " + object_type_name(c.type()) + " at " + hex(phys) + " is " +
                 hex(e[i]) + ", the model says " + hex(expected);
        }
      }
    }
    size_t records = 0;
    for (const CapSlot* s = ctx_.first_root(); s != nullptr; s = cdt::next_preorder(s, nullptr)) {
      if (!is_paging_structure(s->cap.type()) && !is_frame(s->cap.type())) continue;
      const MappingRecord& r = mapping_of(s);
      auto m = model_.records.find(s);
      if (m == model_.records.end()) {
        if (r.asid != 0) return "the cap in " + name(s) + " is mapped, the model says not";
        continue;
      }
      ++records;
      if (r.asid == 0) return "the cap in " + name(s) + " is unmapped, the model says mapped";
      if (r.vaddr != m->second.vaddr) return "the mapping record of " + name(s) + " names another address";
      if (tables_->root_of(vs::SpaceId{r.asid, r.generation}) != model_.root_of_token(m->second.space)) {
        return "the mapping record of " + name(s) + " names another space";
      }
    }
    if (records != model_.records.size()) return "the model keeps a record of a cap that is gone";
    for (auto& [tcb, thread] : model_.threads) {
      const uint64_t root = root_through_slot(tcb_slots(tcb) + kTcbVSpace, tcb_vspace_root(tcb));
      if (root != (thread.holds ? thread.root : 0)) return "a thread's address space is not the model's";
    }
    return "";
  }

  std::string tear_down() {
    for (uint64_t index : {kBootUntyped, kDeviceUntyped}) {
      if (!revoke_cap(ctx_, slot(index)).ok()) return "revoking an untyped failed";
    }
    if (std::string p = check(); !p.empty()) return "after revoking the untypeds: " + p;
    if (slot(kBootUntyped)->cap.watermark() != 0 || slot(kDeviceUntyped)->cap.watermark() != 0) {
      return "memory not returned to the untypeds";
    }
    if (live_.size() != 1) return std::to_string(live_.size() - 1) + " objects survived revoking the untypeds";
    while (ctx_.first_root() != nullptr) (void)delete_cap(ctx_, ctx_.first_root());
    if (!broken_.empty()) return broken_;
    if (!live_.empty()) return "the root CNode survived";
    for (const vs::SpaceId& id : ids_) {
      if (tables_->root_of(id) != 0) return "an ASID was not released";
    }
    if (!model_.records.empty() || !model_.spaces.empty()) return "the model still has references";
    return "";
  }

  std::string describe(int step, const std::string& problem) {
    std::ostringstream out;
    out << "step " << step << ": " << problem << "\n  steps:";
    for (size_t i = 0; i < log_.size(); ++i) out << "\n   " << i << ": " << log_[i];
    return out.str();
  }

  Rng rng_;
  bool nx_;
  CapContext ctx_;
  std::unique_ptr<vs::Tables> tables_;
  Model model_;
  std::map<uint64_t, Capability> live_;  // by physical address
  std::vector<vs::SpaceId> ids_;
  uint64_t current_root_ = 0;
  uint64_t flushes_ = 0;
  uint64_t ok_maps_ = 0;
  std::ostringstream op_;
  std::vector<std::string> log_;
  std::string broken_;
};

}  // namespace

TEST_CASE("random object lifetimes never leave a reachable reference to freed memory", "[lifetime]") {
  const uint64_t base_seed = env_or("LIFETIME_SEED", kDefaultSeed);
  const uint64_t sequences = env_or("LIFETIME_SEQUENCES", kDefaultSequences);
  uint64_t ok_maps = 0;
  for (uint64_t i = 0; i < sequences; ++i) {
    const uint64_t seed = base_seed + i;
    Sequence sequence(seed);
    const std::string failure = sequence.run();
    if (!failure.empty()) {
      FAIL("seed " << seed << " (LIFETIME_SEED=" << seed << " LIFETIME_SEQUENCES=1): " << failure);
    }
    ok_maps += sequence.ok_maps();
  }
  // The generator must actually map things, or it checks nothing.
  if (sequences >= 100) CHECK(ok_maps > sequences);
  SUCCEED("ran " << sequences << " sequences from seed " << base_seed << ", " << ok_maps << " successful maps");
}
