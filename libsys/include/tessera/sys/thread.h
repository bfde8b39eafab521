// Threads: a TCB made from untyped memory, with a stack and an IPC buffer mapped in an address
// space (the caller's or a given one), started at `void entry(uint64_t argument)`.
//
// Every libsys thread has a thread-local block at its FS base whose first word is its IpcBuffer*;
// tessera::sys::ipc_buffer() reads it from %fs:0, so IPC wrappers always use the calling
// thread's own buffer. The root thread's block is set up by the start-up code (init_root_thread).
//
// A thread occupies a window of virtual memory chosen by the caller, laid out as
//   [IPC buffer + thread-local block: 1 page][guard: 1 page, unmapped][stack: stack_pages pages]
// so a stack overflow faults on the guard page instead of overwriting the IPC buffer.
#pragma once

#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/ipc_buffer.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/untyped.h>

namespace tessera::sys {

// What %fs points at in a libsys thread. `ipc_buffer` must stay the first member.
struct ThreadLocalBlock {
  IpcBuffer* ipc_buffer;
  ThreadLocalBlock* self;  // the block's own address (for code that wants a plain pointer)
  void* current_request = nullptr;  // serve(): the request this thread is handling (server.h)
};
static_assert(__builtin_offsetof(ThreadLocalBlock, ipc_buffer) == 0);

constexpr uint64_t kPageBytes = 4096;
constexpr uint32_t kMaxStackPages = 16;
// Where the thread-local block sits in the IPC-buffer page (the IpcBuffer takes the first KiB).
constexpr uint64_t kThreadLocalOffset = 2048;
static_assert(sizeof(IpcBuffer) <= kThreadLocalOffset);

struct ThreadOptions {
  CPtr vspace = kSlotRootVSpace;  // PML4 the thread runs in and its frames are mapped in
  CPtr cspace = kSlotRootCNode;   // its CSpace root
  uint64_t window = 0;            // page-aligned start of window_bytes() of free virtual memory
  uint32_t stack_pages = 4;       // 1..kMaxStackPages
  CPtr authority = kSlotRootTcb;  // TCB whose maximum controlled priority bounds `priority`
  uint8_t priority = 255;

  uint64_t window_bytes() const { return (2 + uint64_t{stack_pages}) * kPageBytes; }
};

class Thread {
 public:
  // Makes the TCB, the IPC-buffer frame and the stack frames from `memory`, maps the frames in
  // options.vspace (page tables it had to make are appended to `tables`, which belongs to whoever
  // owns that address space and must outlive the mappings), configures the TCB (CSpace, VSpace,
  // IPC buffer), sets its TLS base to the thread-local block and its priority. The thread does not
  // run until start(). On failure everything made so far is deleted again and the error returned:
  // InvalidArgument (window not page-aligned or not below the user limit, stack_pages out of
  // range), NotEnoughMemory, or the kernel's errors.
  static Result<Thread> create(UntypedAllocator& memory, CreatedTables* tables, const ThreadOptions& options);

  Thread(Thread&& other);
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  Thread& operator=(Thread&&) = delete;
  // destroy(), errors ignored.
  ~Thread();

  // Starts the thread at entry(argument) on its own stack with its own IPC buffer. When `entry`
  // returns the thread stops for good. IllegalOperation after destroy(); the kernel's errors.
  // Starting a started thread restarts it from the beginning.
  Result<void> start(void (*entry)(uint64_t), uint64_t argument);

  // Stops the thread, deletes its TCB (taking it out of any IPC it is blocked in) and then its
  // frames (which unmaps them), returning every slot. Idempotent; returns the first error met.
  Result<void> destroy();

  CPtr tcb() const { return tcb_; }
  // Addresses in the thread's address space.
  uint64_t ipc_buffer_address() const { return window_; }
  uint64_t stack_top() const { return window_ + (2 + uint64_t{stack_pages_}) * kPageBytes; }

 private:
  explicit Thread(UntypedAllocator& memory) : memory_(&memory) {}
  Result<void> build(CreatedTables* tables, const ThreadOptions& options);
  Result<CPtr> make_mapped_frame(CreatedTables* tables, CPtr vspace, uint64_t vaddr);

  UntypedAllocator* memory_;
  CPtr tcb_ = 0;
  CPtr ipc_frame_ = 0;
  CPtr stack_frames_[kMaxStackPages] = {};
  uint32_t stack_pages_ = 0;
  uint64_t window_ = 0;
};

// Gives the calling (root) thread its thread-local block, pointing at `buffer`, and sets its TLS
// base through `own_tcb` (a Tcb.setTlsBase invocation using `buffer`). Called once by the start-up
// code for the root task; until then ipc_buffer() must not be used.
Result<void> init_root_thread(IpcBuffer* buffer, CPtr own_tcb);

// Names the thread `tcb` for logs and traces (Tcb.setName): the first 23 bytes of `name`.
Result<void> set_thread_name(CallTransport& kernel, CPtr tcb, const char* name);

namespace detail {
// First code of every libsys thread (rip of Thread::start and SessionThread::start; rdi, rsi, rdx
// carry the argument, the entry and the IPC buffer): fills in the thread-local block, runs the
// entry, suspends the thread when it returns.
[[noreturn]] void thread_entry(uint64_t argument, void (*entry)(uint64_t), IpcBuffer* buffer);
}  // namespace detail

}  // namespace tessera::sys
