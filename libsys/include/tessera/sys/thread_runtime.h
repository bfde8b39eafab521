// What a thread needs beyond its TCB, stack and IPC buffer to join, exit, sleep in a condition
// variable and keep thread-local values: a ThreadRuntime record, found through the `user_data`
// word of the thread's IPC buffer (so every thread reaches its own in one load from %fs).
//
// JoinableThread wraps tessera::sys::Thread (whose API is unchanged) and gives its thread a
// record with two notifications: `done`, signalled when the thread's entry returns or it calls
// exit_thread(), and `park`, which the thread sleeps on in ConditionVariable/Barrier. The root
// thread gets its record from the start-up code (init_root_runtime). Plain Threads have none.
#pragma once

#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/result.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/thread.h>
#include <tessera/sys/untyped.h>

namespace tessera::sys {

// Thread-local slots per thread (keys are process-wide; see ThreadLocalKey).
constexpr uint32_t kThreadLocalSlots = 16;

struct ThreadRuntime {
  void (*entry)(uint64_t) = nullptr;
  uint64_t argument = 0;
  CPtr done = 0;        // notification: signalled once when the thread ends (0: root thread)
  CPtr park = 0;        // notification the thread sleeps on while parked
  int64_t exit_code = 0;
  bool finished = false;  // written with release order before `done` is signalled
  uint64_t locals[kThreadLocalSlots] = {};
};

// The calling thread's record, or nullptr for a thread without one.
ThreadRuntime* current_runtime();
// Installs `runtime` as the calling thread's record (start-up code and JoinableThread use this).
void set_current_runtime(ThreadRuntime* runtime);

// Ends the calling thread with `code`: a JoinableThread's joiner then gets `code`. In a thread
// without a record (or the root thread) this just stops the thread.
[[noreturn]] void exit_thread(int64_t code);

// A process-wide key naming one thread-local slot: every thread sees its own value (0 until it
// sets one). Keys are never reused; at most kThreadLocalSlots exist per process.
class ThreadLocalKey {
 public:
  // A new key; NotEnoughMemory when all kThreadLocalSlots keys are taken.
  static Result<ThreadLocalKey> create();
  // The calling thread's value; 0 in a thread without a record.
  uint64_t get() const;
  // Sets the calling thread's value; IllegalOperation in a thread without a record.
  Result<void> set(uint64_t value) const;
  uint32_t index() const { return index_; }

 private:
  explicit ThreadLocalKey(uint32_t index) : index_(index) {}
  uint32_t index_;
};

class JoinableThread {
 public:
  // A Thread (Thread::create with the same arguments and errors) plus its record (from the
  // process heap: NotEnoughMemory without one) and its two notifications (from `memory`).
  // On failure nothing is left behind.
  static Result<JoinableThread> create(UntypedAllocator& memory, CreatedTables* tables, const ThreadOptions& options);

  JoinableThread(JoinableThread&& other);
  JoinableThread(const JoinableThread&) = delete;
  JoinableThread& operator=(const JoinableThread&) = delete;
  JoinableThread& operator=(JoinableThread&&) = delete;
  ~JoinableThread();  // destroy(), errors ignored

  // Runs entry(argument) in the thread; the thread ends when entry returns (exit code 0) or
  // calls exit_thread(code). Restarting a thread that has not been joined is Busy;
  // IllegalOperation after destroy().
  Result<void> start(void (*entry)(uint64_t), uint64_t argument);
  // Waits (asleep on `done`) until the thread has ended and returns its exit code. Joining
  // again returns the same code; IllegalOperation when it was never started.
  Result<int64_t> join();
  // Whether the thread has ended (never blocks).
  bool finished() const;

  // Stops the thread and deletes its TCB, frames, notifications and record. Idempotent.
  Result<void> destroy();

  Thread& thread() { return thread_; }
  const ThreadRuntime* runtime() const { return runtime_; }

 private:
  JoinableThread(UntypedAllocator& memory, Thread&& thread) : memory_(&memory), thread_(move(thread)) {}

  UntypedAllocator* memory_;
  Thread thread_;
  ThreadRuntime* runtime_ = nullptr;
  bool started_ = false;
  bool joined_ = false;
};

// The root task's runtime: creates its heap (kRootHeapBytes at kRootHeapAddress, tessera/sys/
// heap.h), the heap's lock notification and the root thread's park notification, all in the
// slots root_runtime_slots(info), and installs the root thread's record. Called once by the
// start-up code after init_root_thread.
Result<void> init_root_runtime(const BootInfo& info);

struct StartupBlock;
// A spawned process's runtime: installs the main thread's record with the parent-made park
// notification and adopts the heap its parent mapped (StartupBlock::heap_*) or, with a memory
// session (StartupBlock::memory), sets up process_memory() and the growing heap
// (init_process_memory, tessera/sys/memory.h). Called by the start-up code when the block names
// a heap or a session.
Result<void> init_process_runtime(const StartupBlock& block);

}  // namespace tessera::sys
