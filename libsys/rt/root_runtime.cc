// The main thread's runtime, made by the start-up code: heap, heap lock, the main thread's park
// notification and record (tessera/sys/thread_runtime.h) — for the root task (and processes
// started like it) from BootInfo, for a spawned process from what its parent made.
#include <tessera/abi/kernel.capnp.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread_runtime.h>

namespace tessera::sys {
namespace {
constinit ThreadRuntime root_runtime{};
}  // namespace

Result<void> init_root_runtime(const BootInfo& info) {
  // The allocators only live while the runtime is made: the heap never grows and the caps made
  // here live as long as the process. Their slots are the reserved tail of BootInfo.empty.
  CallTransport kernel(ipc_buffer());
  SlotAllocator slots(root_runtime_slots(info));
  UntypedAllocator memory(info, kernel, slots);
  CreatedTables tables;
  const CPtr heap_lock = TRY(memory.allocate(abi::ObjectType::Notification));
  root_runtime.park = TRY(memory.allocate(abi::ObjectType::Notification));
  set_current_runtime(&root_runtime);
  return init_process_heap(memory, &tables, kSlotRootVSpace, kRootHeapAddress, kRootHeapBytes, heap_lock);
}

Result<void> init_process_runtime(const StartupBlock& block) {
  // The record first: the heap's lock may park this thread (a condition variable needs it).
  root_runtime.park = block.park;
  set_current_runtime(&root_runtime);
  if (block.memory != 0) return init_process_memory(block);
  return adopt_process_heap(block.heap_address, block.heap_bytes, block.heap_lock);
}

}  // namespace tessera::sys
