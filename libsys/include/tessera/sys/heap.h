// The process heap: a first-fit allocator with boundary tags over one fixed window of memory,
// and the global operator new/delete built on it (libsys/rt/new.cc).
//
// Every block starts with a 16-byte header {size | used bit, size of the previous block}, so
// freeing coalesces with both neighbours in O(1); allocation scans the blocks in address order
// (O(number of blocks), bounded by size / 32). Payloads are 16-byte aligned; larger alignments
// are served by over-allocating. The window grows only at its end (extend): the process heap of a
// program with a memory session grows that way (HeapGrowth); otherwise its size is fixed.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/untyped.h>

#if !__STDC_HOSTED__
namespace std {
enum class align_val_t : size_t {};
struct nothrow_t {
  explicit nothrow_t() = default;
};
extern const nothrow_t nothrow;
}  // namespace std
// The allocation forms libsys defines (libsys/rt/new.cc); the plain ones are implicitly declared.
void* operator new(size_t bytes, const std::nothrow_t&) noexcept;
void* operator new[](size_t bytes, const std::nothrow_t&) noexcept;
void* operator new(size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept;
void* operator new[](size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept;
#endif

namespace tessera::sys {

class Heap {
 public:
  static constexpr size_t kAlignment = 16;
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kMinBlockBytes = 32;  // header + the smallest payload

  // An empty heap: every allocation fails until init().
  constexpr Heap() = default;
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Manages [base, base + bytes) (base 16-byte aligned, bytes >= kMinBlockBytes): one free block.
  // InvalidArgument otherwise. The memory must stay mapped for the heap's lifetime.
  Result<void> init(void* base, size_t bytes);
  // Grows the window by `bytes` at its end (the memory right after it must be mapped read/write
  // now): the last block grows when it is free, otherwise a free block of `bytes` follows it.
  // InvalidArgument for a heap without a window, a size that is not a multiple of kAlignment or
  // smaller than kMinBlockBytes, or a window that would wrap around.
  Result<void> extend(size_t bytes);

  // A payload of at least `bytes` bytes aligned to `alignment` (a power of two; 16 when smaller),
  // disjoint from every other live payload; nullptr when no free block is big enough, for a zero
  // or absurd size, or a bad alignment. Never touches memory outside the window.
  void* allocate(size_t bytes, size_t alignment = kAlignment);
  // Returns a payload from allocate() (nullptr is ignored). Frees of pointers that are not live
  // payloads of this heap are detected where cheaply possible (outside the window, not a used
  // block) and ignored, counted in bad_frees().
  void free(void* payload);

  // Whether `payload` lies inside this heap's window.
  bool contains(const void* payload) const;
  size_t capacity() const { return size_; }
  size_t bytes_in_use() const { return in_use_; }
  size_t live_allocations() const { return live_; }
  uint64_t bad_frees() const { return bad_frees_; }
  // The size of the largest free block's payload (the largest allocation that can succeed now).
  size_t largest_free() const;
  // Walks every block and checks the boundary tags (sizes add up, prev sizes agree, no two free
  // blocks adjacent). For tests and debugging.
  bool check_consistency() const;

 private:
  struct Block;
  Block* first() const;
  Block* next(const Block* b) const;
  void* allocate_aligned16(size_t bytes);

  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t in_use_ = 0;
  size_t live_ = 0;
  uint64_t bad_frees_ = 0;
};

// The process heap behind operator new. Until init_process_heap runs (the root task's start-up
// code does it; other programs call it themselves) every allocation returns nullptr.
Heap& process_heap();

// Where the root task's heap lives and how big it is by default: 4 MiB of 2 MiB frames at
// 16 TiB, far from the image, stacks, peer windows and the boot pages.
constexpr uint64_t kRootHeapAddress = 0x0000100000000000ull;
constexpr uint64_t kRootHeapBytes = 4ull << 20;
// The root task's runtime (heap frames and tables, lock and park notifications) takes the last
// kRootRuntimeSlots slots of BootInfo.empty; everything else may use the rest
// (root_free_slots()).
constexpr uint64_t kRootRuntimeSlots = 16;
SlotRegion root_runtime_slots(const BootInfo& info);
SlotRegion root_free_slots(const BootInfo& info);

// How the process heap gets more memory (a process with a memory session: tessera/sys/memory.h).
// Called under the heap lock when an allocation does not fit, with the number of bytes a free
// block at the heap's end must at least gain for it to fit; maps more memory read/write right
// after the heap's window and returns how many bytes (a multiple of 16, at least
// Heap::kMinBlockBytes), which the heap then adds (Heap::extend). An error (e.g. OutOfMemory from
// the memory server) makes the allocation fail. It must not allocate from the heap, and it must
// leave the calling thread's IPC buffer as it found it (an allocation is no IPC to its caller).
using HeapGrowth = Result<size_t> (*)(size_t at_least);

// Makes `bytes` of memory already mapped read/write at `address` (by the process's parent, e.g.
// ProcessOptions::heap_bytes) the process heap, guarded by a Mutex on `lock_notification` (0: no
// lock, for single-threaded programs), growing through `grow` when it is not null. Busy when
// there is a heap already; InvalidArgument for a null or unaligned range.
Result<void> adopt_process_heap(uint64_t address, uint64_t bytes, CPtr lock_notification, HeapGrowth grow = nullptr);

// Makes `bytes` (a multiple of 2 MiB) of 2 MiB frames from `memory`, maps them read/write at
// `address` (2 MiB aligned) in `vspace`, and makes them the process heap, guarded by a Mutex
// sleeping on `lock_notification` (0: no lock, for single-threaded programs). Page tables made
// on the way go to `tables`. InvalidArgument for bad sizes/addresses, Busy when the heap is
// already initialised, NotEnoughMemory and the kernel's errors otherwise (frames made so far are
// deleted again).
Result<void> init_process_heap(UntypedAllocator& memory, CreatedTables* tables, CPtr vspace, uint64_t address,
                               uint64_t bytes, CPtr lock_notification);

// What `new` does when the heap is exhausted: prints and stops the calling thread (there are no
// exceptions). Code that can cope with failure uses `new (std::nothrow) T`, which returns
// nullptr instead.
[[noreturn]] void out_of_memory(size_t bytes);

}  // namespace tessera::sys
