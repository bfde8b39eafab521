// The memory server's kernel side (docs/memory.md, "Memory the server manages"): its CSpace
// slots, the pool of 2 MiB untyped blocks (split into 512 4 KiB untypeds for small pages and
// merged back when every piece is free), and the Backend the Manager runs over.
#pragma once

#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>

#include "manager.h"

namespace memory {

// The slots of the server's own CNode (2^radix of them): single slots from the bottom, aligned
// runs of 512 (a split block's pieces) from the top.
class SlotSpace {
 public:
  static constexpr uint8_t kMaxRadix = 16;
  static constexpr uint64_t kRun = 512;

  // Tracks [first, end) (end at most 2^kMaxRadix).
  void init(uint64_t first, uint64_t end);
  tessera::Result<Slot> alloc();
  tessera::Result<Slot> alloc_run();  // kRun consecutive slots, kRun-aligned
  void free(Slot slot);
  void free_run(Slot first);
  uint64_t available() const { return available_; }

 private:
  bool used(Slot s) const { return (bits_[s / 64] >> (s % 64)) & 1; }
  void set(Slot s, bool on) {
    if (on) {
      bits_[s / 64] |= uint64_t{1} << (s % 64);
    } else {
      bits_[s / 64] &= ~(uint64_t{1} << (s % 64));
    }
  }

  uint64_t first_ = 0, end_ = 0, hint_ = 0, available_ = 0;
  uint64_t bits_[(uint64_t{1} << kMaxRadix) / 64] = {};
};

class KernelBackend final : public Backend {
 public:
  static constexpr uint32_t kMaxBlocks = 1024;  // 2 GiB of 2 MiB blocks

  KernelBackend(tessera::sys::CallTransport& kernel, tessera::sys::CPtr cnode, SlotSpace& slots)
      : kernel_(kernel), cnode_(cnode), slots_(slots) {}

  // Carves every 2 MiB block it can out of the untyped caps `info` lists (non-device ones),
  // after whatever the start-up code already took from them. Returns the bytes it manages.
  uint64_t adopt(const tessera::BootInfo& info);

  tessera::Result<Slot> make_frame(uint8_t shift, Slot* untyped) override;
  void free_frame(Slot frame, Slot untyped, uint8_t shift) override;
  tessera::Result<Slot> copy_frame(Slot frame) override;
  void delete_cap(Slot slot) override;
  tessera::Result<void> map(Slot frame, Slot vspace, uint64_t address, uint8_t shift, uint8_t rights,
                            Slot tables[3], uint32_t* made) override;
  void unmap(Slot frame) override;
  void free_table(Slot table) override;
  tessera::Result<Slot> make_object(uint32_t type, uint8_t size_bits) override;
  tessera::Result<void> map_tables(Slot vspace, uint64_t address, Slot tables[3], uint32_t* made) override;
  void* allocate(size_t bytes) override;
  void release(void* pointer) override;

  // Deletes every capability derived from `slot` (the copies handed out), keeping `slot`.
  void revoke_children(Slot slot);
  // Mints the server's endpoint `endpoint` into a fresh slot with `badge` and `rights`.
  tessera::Result<Slot> mint(Slot endpoint, uint64_t badge, uint8_t rights);

  uint64_t free_bytes() const;
  uint32_t blocks() const { return block_count_; }

 private:
  struct Block {
    Slot untyped = 0;
    bool whole_in_use = false;  // a 2 MiB frame was retyped from it
    bool split = false;         // its 512 pieces live in slots [pieces, pieces + 512)
    Slot pieces = 0;
    uint16_t free_pieces = 0;
    uint64_t piece_used[8] = {};
  };

  // A 4 KiB untyped piece (a split block with a free piece, or a newly split block).
  tessera::Result<Slot> take_piece(uint32_t* block, uint32_t* piece);
  void give_piece(uint32_t block, uint32_t piece);
  // An object of `type` (at most 4 KiB: a small frame, a page table, an object for a session)
  // retyped from a piece.
  tessera::Result<Slot> make_small(tessera::abi::ObjectType type, uint8_t size_bits, Slot* token);
  void free_small(Slot object, Slot token);
  tessera::Result<void> make_table(uint32_t level, Slot vspace, uint64_t address, Slot tables[3], uint32_t* made);

  tessera::sys::CallTransport& kernel_;
  tessera::sys::CPtr cnode_;
  SlotSpace& slots_;
  Block blocks_[kMaxBlocks];
  uint32_t block_count_ = 0;
  uint32_t split_hint_ = 0;
  // The piece a page table was made from, by the table's slot (free_table gets only the slot).
  uint32_t table_token_[uint64_t{1} << SlotSpace::kMaxRadix] = {};
};

}  // namespace memory
