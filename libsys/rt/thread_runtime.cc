// Thread records, exit/join and thread-local keys (tessera/sys/thread_runtime.h).
#include <tessera/abi/kernel.capnp.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/thread_runtime.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;

uint32_t next_key = 0;  // keys handed out so far (process-wide)

// First code of a JoinableThread: installs its record, runs the entry, reports the end.
void joinable_entry(uint64_t record) {
  auto* runtime = reinterpret_cast<ThreadRuntime*>(record);
  set_current_runtime(runtime);
  runtime->entry(runtime->argument);
  exit_thread(0);
}
}  // namespace

ThreadRuntime* current_runtime() {
  IpcBuffer* buffer = ipc_buffer();
  return buffer == nullptr ? nullptr : reinterpret_cast<ThreadRuntime*>(buffer->user_data);
}

void set_current_runtime(ThreadRuntime* runtime) { ipc_buffer()->user_data = reinterpret_cast<uint64_t>(runtime); }

void exit_thread(int64_t code) {
  ThreadRuntime* self = current_runtime();
  if (self != nullptr && self->done != 0) {
    self->exit_code = code;
    __atomic_store_n(&self->finished, true, __ATOMIC_RELEASE);
    (void)signal(self->done);
  }
  suspend_self();
}

Result<ThreadLocalKey> ThreadLocalKey::create() {
  uint32_t index = __atomic_load_n(&next_key, __ATOMIC_RELAXED);
  do {
    if (index >= kThreadLocalSlots) return Error::NotEnoughMemory;
  } while (!__atomic_compare_exchange_n(&next_key, &index, index + 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return ThreadLocalKey(index);
}

uint64_t ThreadLocalKey::get() const {
  const ThreadRuntime* self = current_runtime();
  return self == nullptr || index_ >= kThreadLocalSlots ? 0 : self->locals[index_];
}

Result<void> ThreadLocalKey::set(uint64_t value) const {
  ThreadRuntime* self = current_runtime();
  if (self == nullptr || index_ >= kThreadLocalSlots) return Error::IllegalOperation;
  self->locals[index_] = value;
  return {};
}

Result<JoinableThread> JoinableThread::create(UntypedAllocator& memory, CreatedTables* tables,
                                              const ThreadOptions& options) {
  Result<Thread> thread = Thread::create(memory, tables, options);
  if (!thread.ok()) return thread.error();
  JoinableThread joinable(memory, move(*thread));
  joinable.runtime_ = new (std::nothrow) ThreadRuntime;
  if (joinable.runtime_ == nullptr) return Error::NotEnoughMemory;  // the destructor cleans up
  Result<CPtr> done = memory.allocate(ObjectType::Notification);
  if (!done.ok()) return done.error();
  joinable.runtime_->done = *done;
  Result<CPtr> park = memory.allocate(ObjectType::Notification);
  if (!park.ok()) return park.error();
  joinable.runtime_->park = *park;
  return joinable;
}

JoinableThread::JoinableThread(JoinableThread&& other)
    : memory_(other.memory_),
      thread_(move(other.thread_)),
      runtime_(other.runtime_),
      started_(other.started_),
      joined_(other.joined_) {
  other.runtime_ = nullptr;
  other.started_ = false;
}

JoinableThread::~JoinableThread() { (void)destroy(); }

Result<void> JoinableThread::start(void (*entry)(uint64_t), uint64_t argument) {
  if (runtime_ == nullptr || thread_.tcb() == 0) return Error::IllegalOperation;
  if (started_ && !joined_) return Error::Busy;
  // Drain a signal a previous run may have left, then describe the new run.
  uint64_t stale = 0;
  (void)poll(runtime_->done, &stale);
  runtime_->entry = entry;
  runtime_->argument = argument;
  runtime_->exit_code = 0;
  for (uint64_t& local : runtime_->locals) local = 0;
  __atomic_store_n(&runtime_->finished, false, __ATOMIC_RELEASE);
  TRY(thread_.start(joinable_entry, reinterpret_cast<uint64_t>(runtime_)));
  started_ = true;
  joined_ = false;
  return {};
}

bool JoinableThread::finished() const {
  return runtime_ != nullptr && __atomic_load_n(&runtime_->finished, __ATOMIC_ACQUIRE);
}

Result<int64_t> JoinableThread::join() {
  if (runtime_ == nullptr || !started_) return Error::IllegalOperation;
  while (!finished()) {
    uint64_t word = 0;
    if (const Error e = wait(runtime_->done, &word); e != Error::Ok) return e;
  }
  joined_ = true;
  return runtime_->exit_code;
}

Result<void> JoinableThread::destroy() {
  Result<void> first_error = thread_.destroy();  // first: nothing may run on the record any more
  if (runtime_ != nullptr) {
    const CPtr caps[] = {runtime_->done, runtime_->park};
    for (CPtr cap : caps) {
      if (cap == 0) continue;
      if (Result<void> r = memory_->free(cap); !r.ok() && first_error.ok()) first_error = r;
    }
    delete runtime_;
    runtime_ = nullptr;
  }
  started_ = false;
  return first_error;
}

}  // namespace tessera::sys
