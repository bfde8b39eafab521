// The process heap and the global operator new/delete over it (tessera/sys/heap.h).
#include <tessera/abi/kernel.capnp.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/sync.h>

namespace std {
const nothrow_t nothrow{};
}  // namespace std

namespace tessera::sys {
namespace {
constinit Heap heap;
// The lock is constructed in place by init_process_heap (it needs the notification cap).
alignas(Mutex) constinit unsigned char lock_storage[sizeof(Mutex)] = {};
Mutex* heap_lock = nullptr;
HeapGrowth heap_growth = nullptr;
bool heap_ready = false;

// An allocation, growing the heap once when it does not fit and the heap can grow. The free block
// at the end must then hold the payload, its header, the alignment slack and room to split.
void* allocate_or_grow(size_t bytes, size_t alignment) {
  void* p = heap.allocate(bytes, alignment);
  if (p != nullptr || heap_growth == nullptr || bytes == 0 || !is_power_of_two(alignment)) return p;
  uint64_t need = 0;
  if (add_overflows(bytes, max<size_t>(alignment, Heap::kAlignment) + 2 * Heap::kHeaderBytes + Heap::kMinBlockBytes,
                    &need)) {
    return nullptr;
  }
  const Result<size_t> added = heap_growth(need);
  if (!added.ok() || !heap.extend(added.value()).ok()) return nullptr;
  return heap.allocate(bytes, alignment);
}

void* locked_allocate(size_t bytes, size_t alignment) {
  if (!__atomic_load_n(&heap_ready, __ATOMIC_ACQUIRE)) return nullptr;
  if (heap_lock == nullptr) return allocate_or_grow(bytes, alignment);
  LockGuard guard(*heap_lock);
  return allocate_or_grow(bytes, alignment);
}

void locked_free(void* payload) {
  if (payload == nullptr || !__atomic_load_n(&heap_ready, __ATOMIC_ACQUIRE)) return;
  if (heap_lock == nullptr) return heap.free(payload);
  LockGuard guard(*heap_lock);
  heap.free(payload);
}

void* allocate_or_die(size_t bytes, size_t alignment) {
  void* p = locked_allocate(bytes, alignment);
  if (p == nullptr) out_of_memory(bytes);
  return p;
}
}  // namespace

Heap& process_heap() { return heap; }

SlotRegion root_runtime_slots(const BootInfo& info) {
  const uint64_t size = info.empty.end > info.empty.start ? info.empty.end - info.empty.start : 0;
  return size < kRootRuntimeSlots ? SlotRegion{info.empty.end, info.empty.end}
                                  : SlotRegion{info.empty.end - kRootRuntimeSlots, info.empty.end};
}

SlotRegion root_free_slots(const BootInfo& info) { return {info.empty.start, root_runtime_slots(info).start}; }

Result<void> init_process_heap(UntypedAllocator& memory, CreatedTables* tables, CPtr vspace, uint64_t address,
                               uint64_t bytes, CPtr lock_notification) {
  constexpr uint64_t kFrameBytes = uint64_t{1} << 21;
  constexpr uint64_t kMaxFrames = 64;  // 128 MiB
  if (heap_ready) return Error::Busy;
  uint64_t end = 0;
  if (bytes == 0 || !is_aligned(bytes, kFrameBytes) || bytes / kFrameBytes > kMaxFrames ||
      !is_aligned(address, kFrameBytes) || address == 0 || add_overflows(address, bytes, &end) ||
      end > 0x00007FFFFFFFF000ull || tables == nullptr) {
    return Error::InvalidArgument;
  }
  CPtr frames[kMaxFrames] = {};
  const uint64_t count = bytes / kFrameBytes;
  Result<void> r;
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Result<CPtr> frame = memory.allocate(abi::ObjectType::Frame2m);
    if (!frame.ok()) {
      r = frame.error();
      break;
    }
    frames[i] = *frame;
    r = map_frame(memory, MapRequest{vspace, frames[i], address + i * kFrameBytes, PageSize::k2M}, tables);
  }
  if (r.ok()) r = adopt_process_heap(address, bytes, lock_notification);
  if (!r.ok()) {
    for (uint64_t i = 0; i < count; ++i) {
      if (frames[i] != 0) (void)memory.free(frames[i]);
    }
  }
  return r;
}

Result<void> adopt_process_heap(uint64_t address, uint64_t bytes, CPtr lock_notification, HeapGrowth grow) {
  if (heap_ready) return Error::Busy;
  uint64_t end = 0;
  if (address == 0 || bytes == 0 || !is_aligned(address, uint64_t{4096}) || add_overflows(address, bytes, &end) ||
      end > 0x00007FFFFFFFF000ull) {
    return Error::InvalidArgument;
  }
  TRY(heap.init(reinterpret_cast<void*>(address), bytes));
  if (lock_notification != 0) heap_lock = new (lock_storage) Mutex(lock_notification);
  heap_growth = grow;
  __atomic_store_n(&heap_ready, true, __ATOMIC_RELEASE);
  return {};
}

void out_of_memory(size_t bytes) {
  print("libsys: out of memory (operator new of %zu bytes); stopping this thread\n", bytes);
  suspend_self();
}

}  // namespace tessera::sys

using tessera::sys::Heap;

void* operator new(size_t bytes) { return tessera::sys::allocate_or_die(bytes, Heap::kAlignment); }
void* operator new[](size_t bytes) { return tessera::sys::allocate_or_die(bytes, Heap::kAlignment); }
void* operator new(size_t bytes, std::align_val_t alignment) {
  return tessera::sys::allocate_or_die(bytes, static_cast<size_t>(alignment));
}
void* operator new[](size_t bytes, std::align_val_t alignment) {
  return tessera::sys::allocate_or_die(bytes, static_cast<size_t>(alignment));
}
void* operator new(size_t bytes, const std::nothrow_t&) noexcept {
  return tessera::sys::locked_allocate(bytes, Heap::kAlignment);
}
void* operator new[](size_t bytes, const std::nothrow_t&) noexcept {
  return tessera::sys::locked_allocate(bytes, Heap::kAlignment);
}
void* operator new(size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return tessera::sys::locked_allocate(bytes, static_cast<size_t>(alignment));
}
void* operator new[](size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return tessera::sys::locked_allocate(bytes, static_cast<size_t>(alignment));
}
void operator delete(void* p) noexcept { tessera::sys::locked_free(p); }
void operator delete[](void* p) noexcept { tessera::sys::locked_free(p); }
void operator delete(void* p, size_t) noexcept { tessera::sys::locked_free(p); }
void operator delete[](void* p, size_t) noexcept { tessera::sys::locked_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { tessera::sys::locked_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { tessera::sys::locked_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { tessera::sys::locked_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { tessera::sys::locked_free(p); }
