// A fake kernel for the memory server's Manager (servers/memory/manager.h): it behaves like the
// kernel would and keeps its own truth (docs/memory.md). Frames come from a pool of N frames of each
// size (page tables are 4 KiB and come from the small pool too); every frame capability, copy,
// mapping and page table is tracked; the server's heap is malloc with a byte counter and optional
// failure injection. Anything the kernel would refuse or that shows a bug in the Manager (a copy
// of a dead frame, freeing a frame that is still mapped, a table with live mappings under it, a
// double release) is a protocol violation: counted, logged and reported as a failed check.
#pragma once

#include <catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "manager.h"

namespace fake {

using memory::Slot;
using tessera::Error;
using tessera::Result;

// The kernel's user address limit (x86-64 lower half).
constexpr uint64_t kUserLimit = 0x0000800000000000ull;

class FakeBackend final : public memory::Backend {
 public:
  struct Mapping {
    Slot cap = 0;
    uint8_t shift = 0;
    uint8_t rights = 0;
  };

  FakeBackend(uint64_t small_frames, uint64_t large_frames)
      : small_total_(small_frames), large_total_(large_frames), small_left_(small_frames), large_left_(large_frames) {}
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;
  ~FakeBackend() {
    for (auto& entry : heap_) std::free(entry.first);
  }

  // ---- Test controls ----
  uint64_t fail_allocation_at = 0;  // the Nth allocate() from now returns nullptr (1: the next); 0: never
  bool fail_all_allocations = false;
  bool fail_copies = false;         // copy_frame: NotEnoughMemory (no slot left)

  Slot new_vspace() {
    const Slot s = next_++;
    vspaces_.insert(s);
    return s;
  }
  Slot new_cap() {
    const Slot s = next_++;
    other_caps_.insert(s);
    return s;
  }
  // A slot the Manager refused to take (open_session failed): the test deletes it itself.
  void drop_vspace(Slot s) { vspaces_.erase(s); }
  // Leaves `n` free small frames (the rest are held elsewhere, as other users of the machine
  // would); a larger `n` gives held frames back (never more than there are).
  void set_small_left(uint64_t n) {
    const uint64_t free = small_left_ + held_small_;
    small_left_ = n < free ? n : free;
    held_small_ = free - small_left_;
  }
  uint64_t small_left() const { return small_left_; }
  uint64_t large_left() const { return large_left_; }

  // ---- Truth ----
  uint64_t violations() const { return violations_; }
  const std::vector<std::string>& log() const { return log_; }
  uint64_t live_frames() const { return originals_.size(); }
  uint64_t live_frames(uint8_t shift) const {
    uint64_t n = 0;
    for (auto& o : originals_) n += o.second.shift == shift ? 1 : 0;
    return n;
  }
  uint64_t copies() const { return frame_caps_.size() - originals_.size(); }
  uint64_t tables() const { return table_slots_.size(); }
  uint64_t mappings() const { return mappings_.size(); }
  uint64_t heap_bytes() const { return heap_bytes_; }
  uint64_t heap_blocks() const { return heap_.size(); }
  uint64_t allocations() const { return allocations_; }
  uint64_t live_vspaces() const { return vspaces_.size(); }
  uint64_t live_other_caps() const { return other_caps_.size(); }
  // Every small frame is either free, backing a region, or a page table.
  bool pools_balanced() const {
    return small_left_ + held_small_ + live_frames(12) + tables() == small_total_ &&
           large_left_ + live_frames(21) == large_total_;
  }
  bool pools_full() const { return small_left_ + held_small_ == small_total_ && large_left_ == large_total_; }

  // The mapping covering `address` in `vspace`, if any.
  const Mapping* mapping_at(Slot vspace, uint64_t address) const {
    auto small = mappings_.find({vspace, address & ~uint64_t{0xFFF}});
    if (small != mappings_.end() && small->second.shift == 12) return &small->second;
    auto large = mappings_.find({vspace, address & ~uint64_t{0x1FFFFF}});
    if (large != mappings_.end() && large->second.shift == 21) return &large->second;
    return nullptr;
  }
  // The original frame behind a frame capability (itself or the one it copies); 0 if none.
  Slot original_of(Slot cap) const {
    auto it = frame_caps_.find(cap);
    return it == frame_caps_.end() ? 0 : it->second.original;
  }
  bool is_live_frame(Slot frame) const { return originals_.count(frame) != 0; }

  // ---- memory::Backend ----
  Result<Slot> make_frame(uint8_t shift, Slot* untyped) override {
    if (shift != 12 && shift != 21) {
      violation("make_frame: bad shift");
      return Error::InvalidArgument;
    }
    uint64_t& left = shift == 12 ? small_left_ : large_left_;
    if (left == 0) return Error::NotEnoughMemory;
    --left;
    const Slot ut = next_++;
    const Slot frame = next_++;
    originals_[frame] = Original{ut, shift, {}};
    frame_caps_[frame] = FrameCap{frame, shift};
    *untyped = ut;
    return frame;
  }

  void free_frame(Slot frame, Slot untyped, uint8_t shift) override {
    auto it = originals_.find(frame);
    if (it == originals_.end()) return violation("free_frame: not a live frame");
    if (it->second.untyped != untyped || it->second.shift != shift) violation("free_frame: wrong untyped or size");
    for (Slot copy : it->second.copies) {
      // The kernel revokes copies (unmapping them); the Manager must have deleted its own first.
      if (frame_caps_[copy].mapped) {
        violation("free_frame: a copy of the frame is still mapped");
        drop_mapping(copy);
      }
      frame_caps_.erase(copy);
    }
    if (frame_caps_[frame].mapped) {
      violation("free_frame: the frame is still mapped");
      drop_mapping(frame);
    }
    frame_caps_.erase(frame);
    (shift == 12 ? small_left_ : large_left_) += 1;
    originals_.erase(it);
  }

  Result<Slot> copy_frame(Slot frame) override {
    auto it = originals_.find(frame);
    if (it == originals_.end()) {
      violation("copy_frame: not a live frame");
      return Error::InvalidCapability;
    }
    if (fail_copies) return Error::NotEnoughMemory;
    const Slot copy = next_++;
    frame_caps_[copy] = FrameCap{frame, it->second.shift};
    it->second.copies.insert(copy);
    return copy;
  }

  void delete_cap(Slot slot) override {
    if (auto it = frame_caps_.find(slot); it != frame_caps_.end()) {
      if (it->second.original == slot) return violation("delete_cap: an original frame (free_frame frees it)");
      if (it->second.mapped) drop_mapping(slot);
      originals_[it->second.original].copies.erase(slot);
      frame_caps_.erase(it);
      return;
    }
    if (vspaces_.count(slot) != 0) {
      for (auto& t : tables_) {
        if (std::get<0>(t.first) == slot) {
          violation("delete_cap: a vspace whose page tables were not freed");
          break;
        }
      }
      vspaces_.erase(slot);
      return;
    }
    if (other_caps_.erase(slot) != 0) return;
    if (table_slots_.count(slot) != 0) return violation("delete_cap: a page table (free_table frees it)");
    violation("delete_cap: an empty slot");
  }

  Result<void> map(Slot frame, Slot vspace, uint64_t address, uint8_t shift, uint8_t rights, Slot tables[3],
                   uint32_t* made) override {
    *made = 0;
    auto it = frame_caps_.find(frame);
    if (it == frame_caps_.end()) {
      violation("map: not a frame capability");
      return Error::InvalidCapability;
    }
    if (vspaces_.count(vspace) == 0) {
      violation("map: not a vspace");
      return Error::InvalidCapability;
    }
    FrameCap& cap = it->second;
    if (cap.shift != shift) {
      violation("map: wrong page size");
      return Error::InvalidArgument;
    }
    if (cap.mapped) {
      // The kernel refuses (a frame cap maps once); the Manager must use a copy.
      violation("map: the frame capability is mapped already");
      return Error::InvalidCapability;
    }
    if ((rights & memory::kRead) == 0 || (rights & ~memory::kRightsAll) != 0 ||
        ((rights & memory::kWrite) != 0 && (rights & memory::kExecute) != 0)) {
      violation("map: bad rights");
      return Error::InvalidArgument;
    }
    const uint64_t size = uint64_t{1} << shift;
    if ((address & (size - 1)) != 0) return Error::AlignmentError;
    if (address >= kUserLimit || size > kUserLimit - address) return Error::RangeError;
    // A huge page occupies the PD entry a page table would need.
    if (shift == 12) {
      auto large = mappings_.find({vspace, address & ~uint64_t{0x1FFFFF}});
      if (large != mappings_.end() && large->second.shift == 21) return Error::DeleteFirst;
    }
    // The tables on the way: PDPT (512 GiB), PD (1 GiB), and for a 4 KiB page a PT (2 MiB).
    for (unsigned level = 3; level >= (shift == 12 ? 1u : 2u); --level) {
      const TableKey key{vspace, level, address >> (12 + 9 * level)};
      if (tables_.count(key) != 0) continue;
      if (small_left_ == 0) return Error::NotEnoughMemory;
      --small_left_;
      const Slot table = next_++;
      tables_[key] = table;
      table_slots_[table] = key;
      tables[(*made)++] = table;
    }
    if (shift == 21 && tables_.count(TableKey{vspace, 1, address >> 21}) != 0) return Error::DeleteFirst;
    if (mappings_.count({vspace, address}) != 0) return Error::DeleteFirst;
    mappings_[{vspace, address}] = Mapping{frame, shift, rights};
    cap.mapped = true;
    cap.vspace = vspace;
    cap.address = address;
    return {};
  }

  void unmap(Slot frame) override {
    auto it = frame_caps_.find(frame);
    if (it == frame_caps_.end()) return violation("unmap: not a frame capability");
    if (it->second.original != frame) violation("unmap: a copy (the Manager deletes its copies)");
    if (!it->second.mapped) return violation("unmap: not mapped");
    drop_mapping(frame);
  }

  void free_table(Slot table) override {
    auto it = table_slots_.find(table);
    if (it == table_slots_.end()) return violation("free_table: not a live page table");
    const TableKey key = it->second;
    const Slot vspace = std::get<0>(key);
    const unsigned level = std::get<1>(key);
    const uint64_t index = std::get<2>(key);
    // Deleting a table unmaps everything under it: the Manager never does that to a live mapping.
    for (auto m = mappings_.begin(); m != mappings_.end();) {
      if (m->first.first == vspace && (m->first.second >> (12 + 9 * level)) == index) {
        violation("free_table: a frame is still mapped under the table");
        frame_caps_[m->second.cap].mapped = false;
        m = mappings_.erase(m);
      } else {
        ++m;
      }
    }
    tables_.erase(key);
    table_slots_.erase(it);
    ++small_left_;
  }

  // A kernel object: a small piece of the pool, freed like a table (a key no mapping lies under).
  Result<Slot> make_object(uint32_t type, uint8_t) override {
    if (type == 0 || type > 13) return tessera::Error::InvalidArgument;
    if (small_left_ == 0) return tessera::Error::NotEnoughMemory;
    --small_left_;
    const Slot slot = next_++;
    const TableKey key{0, 7, next_object_++};
    tables_[key] = slot;
    table_slots_[slot] = key;
    return slot;
  }

  Result<void> map_tables(Slot vspace, uint64_t address, Slot tables[3], uint32_t* made) override {
    *made = 0;
    if (vspaces_.count(vspace) == 0) {
      violation("map_tables: not a vspace");
      return Error::InvalidCapability;
    }
    if (tables_.count(TableKey{vspace, 1, address >> 21}) != 0) return Error::DeleteFirst;
    for (unsigned level = 3; level >= 1; --level) {
      const TableKey key{vspace, level, address >> (12 + 9 * level)};
      if (tables_.count(key) != 0) continue;
      if (small_left_ == 0) return Error::NotEnoughMemory;
      --small_left_;
      const Slot table = next_++;
      tables_[key] = table;
      table_slots_[table] = key;
      tables[(*made)++] = table;
    }
    return {};
  }

  void* allocate(size_t bytes) override {
    ++allocations_;
    if (fail_all_allocations) return nullptr;
    if (fail_allocation_at != 0 && --fail_allocation_at == 0) return nullptr;
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    heap_[p] = bytes;
    heap_bytes_ += bytes;
    return p;
  }

  void release(void* pointer) override {
    auto it = heap_.find(pointer);
    if (it == heap_.end()) return violation("release: not allocated (double free?)");
    heap_bytes_ -= it->second;
    std::free(pointer);
    heap_.erase(it);
  }

 private:
  struct Original {
    Slot untyped = 0;
    uint8_t shift = 0;
    std::set<Slot> copies;
  };
  struct FrameCap {
    Slot original = 0;
    uint8_t shift = 0;
    bool mapped = false;
    Slot vspace = 0;
    uint64_t address = 0;
  };
  using TableKey = std::tuple<Slot, unsigned, uint64_t>;  // vspace, level (1 PT .. 3 PDPT), index

  void violation(const std::string& what) {
    ++violations_;
    log_.push_back(what);
    FAIL_CHECK("fake kernel: " << what);
  }
  void drop_mapping(Slot cap) {
    FrameCap& c = frame_caps_[cap];
    auto m = mappings_.find({c.vspace, c.address});
    if (m != mappings_.end() && m->second.cap == cap) mappings_.erase(m);
    c.mapped = false;
  }

  uint64_t small_total_, large_total_, small_left_, large_left_;
  uint64_t held_small_ = 0;
  Slot next_ = 1000;
  std::map<Slot, Original> originals_;
  std::map<Slot, FrameCap> frame_caps_;  // originals and copies
  std::map<std::pair<Slot, uint64_t>, Mapping> mappings_;
  std::map<TableKey, Slot> tables_;
  std::map<Slot, TableKey> table_slots_;
  uint64_t next_object_ = 1;
  std::set<Slot> vspaces_, other_caps_;
  std::map<void*, size_t> heap_;
  uint64_t heap_bytes_ = 0;
  uint64_t allocations_ = 0;
  uint64_t violations_ = 0;
  std::vector<std::string> log_;
};

}  // namespace fake
