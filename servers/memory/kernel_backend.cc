#include "kernel_backend.h"

#include <tessera/abi/kernel.capnp.h>
#include <tessera/sys/heap.h>

namespace memory {
namespace {
using tessera::Error;
using tessera::Result;
using tessera::abi::ObjectType;
using tessera::capnp::CapRef;
using tessera::sys::CallTransport;
using tessera::sys::kSlotDepth;
using CNode = tessera::abi::CNode::Client<CallTransport>;
using Untyped = tessera::abi::Untyped::Client<CallTransport>;

constexpr uint64_t kBlockBytes = uint64_t{1} << kLargeShift;
constexpr uint32_t kPieces = 512;
constexpr ObjectType kTableTypes[3] = {ObjectType::PageTable, ObjectType::PageDirectory, ObjectType::Pdpt};
}  // namespace

// ---- Slots ------------------------------------------------------------------------------------

void SlotSpace::init(uint64_t first, uint64_t end) {
  if (end > (uint64_t{1} << kMaxRadix)) end = uint64_t{1} << kMaxRadix;
  first_ = first;
  end_ = end;
  hint_ = first;
  available_ = end_ > first ? end_ - first : 0;
  for (uint64_t& word : bits_) word = 0;
  for (uint64_t s = 0; s < first && s < end_; ++s) set(s, true);
  for (uint64_t s = end_; s < (uint64_t{1} << kMaxRadix); ++s) set(s, true);
}

Result<Slot> SlotSpace::alloc() {
  for (uint64_t n = 0; n < end_ - first_; ++n) {
    const uint64_t s = hint_ + n < end_ ? hint_ + n : first_ + (hint_ + n - end_);
    if (!used(s)) {
      set(s, true);
      hint_ = s + 1 < end_ ? s + 1 : first_;
      --available_;
      return s;
    }
  }
  return Error::NotEnoughMemory;
}

Result<Slot> SlotSpace::alloc_run() {
  if (end_ < kRun) return Error::NotEnoughMemory;
  for (uint64_t start = (end_ - kRun) / kRun * kRun; start >= first_ && start + kRun <= end_; start -= kRun) {
    bool free_run = true;
    for (uint64_t w = start / 64; w < (start + kRun) / 64 && free_run; ++w) free_run = bits_[w] == 0;
    if (!free_run) continue;
    for (uint64_t w = start / 64; w < (start + kRun) / 64; ++w) bits_[w] = ~uint64_t{0};
    available_ -= kRun;
    return start;
  }
  return Error::NotEnoughMemory;
}

void SlotSpace::free(Slot slot) {
  if (slot < first_ || slot >= end_ || !used(slot)) return;
  set(slot, false);
  ++available_;
}

void SlotSpace::free_run(Slot first) {
  for (uint64_t w = first / 64; w < (first + kRun) / 64; ++w) bits_[w] = 0;
  available_ += kRun;
}

// ---- The pool ---------------------------------------------------------------------------------

uint64_t KernelBackend::adopt(const tessera::BootInfo& info) {
  const uint64_t count = info.untyped.end > info.untyped.start ? info.untyped.end - info.untyped.start : 0;
  for (uint64_t i = 0; i < count && i < tessera::kMaxBootUntypeds; ++i) {
    if (info.untyped_list[i].is_device != 0 || info.untyped_list[i].size_bits < kLargeShift) continue;
    while (block_count_ < kMaxBlocks) {
      const Result<Slot> slot = slots_.alloc();
      if (!slot.ok()) return uint64_t{block_count_} * kBlockBytes;
      const Result<void> r = Untyped(kernel_, info.untyped.start + i)
                                 .retype(ObjectType::Untyped, kLargeShift, CapRef{cnode_}, 0, 0, slot.value(), 1);
      if (!r.ok()) {
        slots_.free(slot.value());
        break;
      }
      blocks_[block_count_++] = Block{slot.value(), false, false, 0, 0, {}};
    }
  }
  return uint64_t{block_count_} * kBlockBytes;
}

uint64_t KernelBackend::free_bytes() const {
  uint64_t bytes = 0;
  for (uint32_t b = 0; b < block_count_; ++b) {
    const Block& block = blocks_[b];
    if (block.split) {
      bytes += uint64_t{block.free_pieces} << kSmallShift;
    } else if (!block.whole_in_use) {
      bytes += kBlockBytes;
    }
  }
  return bytes;
}

Result<Slot> KernelBackend::take_piece(uint32_t* block_index, uint32_t* piece) {
  // Fill split blocks first (so whole blocks stay whole for large pages), starting at the last
  // one that had room.
  for (uint32_t n = 0; n < block_count_; ++n) {
    const uint32_t b = (split_hint_ + n) % block_count_;
    Block& block = blocks_[b];
    if (!block.split || block.free_pieces == 0) continue;
    for (uint32_t w = 0; w < 8; ++w) {
      if (block.piece_used[w] == ~uint64_t{0}) continue;
      const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(~block.piece_used[w]));
      block.piece_used[w] |= uint64_t{1} << bit;
      --block.free_pieces;
      split_hint_ = b;
      *block_index = b;
      *piece = w * 64 + bit;
      return block.pieces + *piece;
    }
  }
  // Split a whole free block into 512 pieces.
  for (uint32_t b = 0; b < block_count_; ++b) {
    Block& block = blocks_[b];
    if (block.split || block.whole_in_use) continue;
    const Slot run = TRY(slots_.alloc_run());
    Untyped untyped(kernel_, block.untyped);
    Result<void> r = untyped.retype(ObjectType::Untyped, kSmallShift, CapRef{cnode_}, 0, 0, run, 256);
    if (r.ok()) r = untyped.retype(ObjectType::Untyped, kSmallShift, CapRef{cnode_}, 0, 0, run + 256, 256);
    if (!r.ok()) {
      revoke_children(block.untyped);
      slots_.free_run(run);
      return r.error();
    }
    block.split = true;
    block.pieces = run;
    block.free_pieces = kPieces - 1;
    for (uint64_t& w : block.piece_used) w = 0;
    block.piece_used[0] = 1;
    split_hint_ = b;
    *block_index = b;
    *piece = 0;
    return run;
  }
  return Error::NotEnoughMemory;
}

void KernelBackend::give_piece(uint32_t b, uint32_t piece) {
  Block& block = blocks_[b];
  block.piece_used[piece / 64] &= ~(uint64_t{1} << (piece % 64));
  ++block.free_pieces;
  if (block.free_pieces < kPieces) return;
  // Every piece is free: delete them (the block's untyped resets) and the block is whole again.
  revoke_children(block.untyped);
  slots_.free_run(block.pieces);
  block.split = false;
  block.pieces = 0;
  block.free_pieces = 0;
}

Result<Slot> KernelBackend::make_small(ObjectType type, uint8_t size_bits, Slot* token) {
  const Slot slot = TRY(slots_.alloc());
  uint32_t b = 0, piece = 0;
  const Result<Slot> untyped = take_piece(&b, &piece);
  if (!untyped.ok()) {
    slots_.free(slot);
    return untyped.error();
  }
  const Result<void> r = Untyped(kernel_, untyped.value()).retype(type, size_bits, CapRef{cnode_}, 0, 0, slot, 1);
  if (!r.ok()) {
    give_piece(b, piece);
    slots_.free(slot);
    return r.error();
  }
  *token = uint64_t{b} * kPieces + piece + 1;
  return slot;
}

void KernelBackend::free_small(Slot object, Slot token) {
  delete_cap(object);
  const uint64_t t = token - 1;
  give_piece(static_cast<uint32_t>(t / kPieces), static_cast<uint32_t>(t % kPieces));
}

Result<Slot> KernelBackend::make_frame(uint8_t shift, Slot* token) {
  if (shift == kSmallShift) return make_small(ObjectType::Frame4k, 0, token);
  for (uint32_t b = 0; b < block_count_; ++b) {
    Block& block = blocks_[b];
    if (block.split || block.whole_in_use) continue;
    const Slot slot = TRY(slots_.alloc());
    const Result<void> r =
        Untyped(kernel_, block.untyped).retype(ObjectType::Frame2m, 0, CapRef{cnode_}, 0, 0, slot, 1);
    if (!r.ok()) {
      slots_.free(slot);
      return r.error();
    }
    block.whole_in_use = true;
    *token = b + 1;
    return slot;
  }
  return Error::NotEnoughMemory;
}

void KernelBackend::free_frame(Slot frame, Slot token, uint8_t shift) {
  if (shift == kSmallShift) return free_small(frame, token);
  delete_cap(frame);
  blocks_[token - 1].whole_in_use = false;
}

// ---- Capabilities and mappings ----------------------------------------------------------------

Result<Slot> KernelBackend::copy_frame(Slot frame) {
  const Slot slot = TRY(slots_.alloc());
  const Result<void> r =
      CNode(kernel_, cnode_).copy(slot, kSlotDepth, CapRef{cnode_}, frame, kSlotDepth, tessera::abi::kRightsAll);
  if (!r.ok()) {
    slots_.free(slot);
    return r.error();
  }
  return slot;
}

Result<Slot> KernelBackend::mint(Slot endpoint, uint64_t badge, uint8_t rights) {
  const Slot slot = TRY(slots_.alloc());
  const Result<void> r = CNode(kernel_, cnode_).mint(slot, kSlotDepth, CapRef{cnode_}, endpoint, kSlotDepth, rights, badge);
  if (!r.ok()) {
    slots_.free(slot);
    return r.error();
  }
  return slot;
}

void KernelBackend::revoke_children(Slot slot) { (void)CNode(kernel_, cnode_).revoke(slot, kSlotDepth); }

void KernelBackend::delete_cap(Slot slot) {
  CNode cnode(kernel_, cnode_);
  (void)cnode.revoke(slot, kSlotDepth);
  (void)cnode.delete_(slot, kSlotDepth);
  slots_.free(slot);
}

Result<void> KernelBackend::make_table(uint32_t level, Slot vspace, uint64_t address, Slot tables[3], uint32_t* made) {
  if (*made == 3) return Error::RangeError;
  Slot token = 0;
  const Slot table = TRY(make_small(kTableTypes[level], 0, &token));
  table_token_[table] = static_cast<uint32_t>(token);
  tables[(*made)++] = table;
  auto map_it = [&]() -> Result<void> {
    switch (kTableTypes[level]) {
      case ObjectType::PageTable:
        return tessera::abi::PageTable::Client<CallTransport>(kernel_, table).map(CapRef{vspace}, address, 0);
      case ObjectType::PageDirectory:
        return tessera::abi::PageDirectory::Client<CallTransport>(kernel_, table).map(CapRef{vspace}, address, 0);
      default: return tessera::abi::Pdpt::Client<CallTransport>(kernel_, table).map(CapRef{vspace}, address, 0);
    }
  };
  Result<void> r = map_it();
  if (!r.ok() && r.error() == Error::FailedLookup && level < 2) {
    TRY(make_table(level + 1, vspace, address, tables, made));
    r = map_it();
  }
  return r;
}

Result<void> KernelBackend::map(Slot frame, Slot vspace, uint64_t address, uint8_t shift, uint8_t rights,
                                Slot tables[3], uint32_t* made) {
  *made = 0;
  tessera::abi::Frame::Client<CallTransport> client(kernel_, frame);
  const uint8_t cap_rights = static_cast<uint8_t>(((rights & kRead) != 0 ? tessera::abi::kRightRead : 0) |
                                                  ((rights & kWrite) != 0 ? tessera::abi::kRightWrite : 0));
  const uint8_t attributes = (rights & kExecute) != 0 ? 0 : tessera::abi::kAttrExecuteNever;
  Result<void> r = client.map(CapRef{vspace}, address, cap_rights, attributes);
  if (r.ok() || r.error() != Error::FailedLookup) return r;
  // A 4 KiB frame needs a page table under it; a 2 MiB frame sits in a page directory entry.
  // Tables made here stay (the Manager records them, even when the frame's map fails after).
  TRY(make_table(shift == kSmallShift ? 0 : 1, vspace, address, tables, made));
  return client.map(CapRef{vspace}, address, cap_rights, attributes);
}

Result<void> KernelBackend::map_tables(Slot vspace, uint64_t address, Slot tables[3], uint32_t* made) {
  *made = 0;
  return make_table(0, vspace, address, tables, made);
}

Result<Slot> KernelBackend::make_object(uint32_t type, uint8_t size_bits) {
  const auto t = static_cast<ObjectType>(type);
  switch (t) {
    case ObjectType::Tcb:
    case ObjectType::Endpoint:
    case ObjectType::Notification: size_bits = 0; break;
    case ObjectType::Cnode:
      if (size_bits < 1 || size_bits > 5) return Error::RangeError;  // at most 32 slots: 4 KiB
      break;
    default: return Error::InvalidArgument;
  }
  Slot token = 0;
  const Slot slot = TRY(make_small(t, size_bits, &token));
  table_token_[slot] = static_cast<uint32_t>(token);  // freed like a table (free_table)
  return slot;
}

void KernelBackend::unmap(Slot frame) { (void)tessera::abi::Frame::Client<CallTransport>(kernel_, frame).unmap(); }

void KernelBackend::free_table(Slot table) {
  const Slot token = table_token_[table];
  table_token_[table] = 0;
  free_small(table, token);
}

void* KernelBackend::allocate(size_t bytes) { return tessera::sys::process_heap().allocate(bytes == 0 ? 1 : bytes); }
void KernelBackend::release(void* pointer) { tessera::sys::process_heap().free(pointer); }

}  // namespace memory
