#include <tessera/abi/kernel.capnp.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/thread.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;
using TcbClient = abi::Tcb::Client<CallTransport>;

constexpr uint64_t kUserAddressLimit = 0x00007FFFFFFFF000ull;  // the kernel's is_user_address bound
constexpr uint64_t kUserRflags = 0x202;                          // IF and the always-one bit

// The root thread's block: static, so it exists before anything else runs.
ThreadLocalBlock root_thread_block;

}  // namespace

// First code of every libsys thread (Thread::start points rip here; rdi, rsi, rdx carry the
// arguments). The thread-local block lives in the IPC-buffer page, which only this thread's
// address space may map, so the thread fills it in itself before any IPC.
namespace detail {
[[noreturn]] void thread_entry(uint64_t argument, void (*entry)(uint64_t), IpcBuffer* buffer) {
  auto* block = reinterpret_cast<ThreadLocalBlock*>(reinterpret_cast<uint64_t>(buffer) + kThreadLocalOffset);
  block->ipc_buffer = buffer;
  block->self = block;
  entry(argument);
  suspend_self();
}
}  // namespace detail

Result<Thread> Thread::create(UntypedAllocator& memory, CreatedTables* tables, const ThreadOptions& options) {
  uint64_t window_end = 0;
  if (options.stack_pages == 0 || options.stack_pages > kMaxStackPages || !is_aligned(options.window, kPageBytes) ||
      options.window == 0 || add_overflows(options.window, options.window_bytes(), &window_end) ||
      window_end > kUserAddressLimit || tables == nullptr) {
    return Error::InvalidArgument;
  }
  Thread thread(memory);
  if (Result<void> r = thread.build(tables, options); !r.ok()) {
    (void)thread.destroy();
    return r.error();
  }
  return thread;
}

Result<void> Thread::build(CreatedTables* tables, const ThreadOptions& options) {
  window_ = options.window;
  tcb_ = TRY(memory_->allocate(ObjectType::Tcb));
  ipc_frame_ = TRY(make_mapped_frame(tables, options.vspace, window_));
  for (uint32_t i = 0; i < options.stack_pages; ++i) {
    stack_frames_[i] = TRY(make_mapped_frame(tables, options.vspace, window_ + (2 + uint64_t{i}) * kPageBytes));
    stack_pages_ = i + 1;
  }
  TcbClient tcb(memory_->kernel(), tcb_);
  TRY(tcb.configure(0, capnp::CapRef{options.cspace}, 0, capnp::CapRef{options.vspace}, 0, window_,
                    capnp::CapRef{ipc_frame_}));
  TRY(tcb.set_tls_base(window_ + kThreadLocalOffset));
  TRY(tcb.set_priority(capnp::CapRef{options.authority}, options.priority));
  return {};
}

Result<CPtr> Thread::make_mapped_frame(CreatedTables* tables, CPtr vspace, uint64_t vaddr) {
  const CPtr frame = TRY(memory_->allocate(ObjectType::Frame4k));
  const MapRequest request{vspace, frame, vaddr};
  if (Result<void> r = map_frame(*memory_, request, tables); !r.ok()) {
    (void)memory_->free(frame);
    return r.error();
  }
  return frame;
}

Thread::Thread(Thread&& other)
    : memory_(other.memory_),
      tcb_(other.tcb_),
      ipc_frame_(other.ipc_frame_),
      stack_pages_(other.stack_pages_),
      window_(other.window_) {
  for (uint32_t i = 0; i < kMaxStackPages; ++i) {
    stack_frames_[i] = other.stack_frames_[i];
    other.stack_frames_[i] = 0;
  }
  other.tcb_ = 0;
  other.ipc_frame_ = 0;
  other.stack_pages_ = 0;
}

Thread::~Thread() { (void)destroy(); }

Result<void> Thread::start(void (*entry)(uint64_t), uint64_t argument) {
  if (tcb_ == 0) return Error::IllegalOperation;
  TcbClient tcb(memory_->kernel(), tcb_);
  // A thread blocked in IPC is taken out of it first, so the restart cannot leave it queued.
  TRY(tcb.suspend());
  const uint64_t rip = reinterpret_cast<uint64_t>(&detail::thread_entry);
  // As if thread_entry had been called: the return-address slot makes rsp + 8 16-byte aligned.
  const uint64_t rsp = stack_top() - 8;
  return tcb.write_registers(true, 9, rip, rsp, kUserRflags, 0, 0, 0, ipc_buffer_address(),
                             reinterpret_cast<uint64_t>(entry), argument, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

Result<void> Thread::destroy() {
  Result<void> first_error;
  auto note = [&first_error](Result<void> r) {
    if (!r.ok() && first_error.ok()) first_error = r;
  };
  if (tcb_ != 0) {
    note(TcbClient(memory_->kernel(), tcb_).suspend());
    note(memory_->free(tcb_));
    tcb_ = 0;
  }
  if (ipc_frame_ != 0) {
    note(memory_->free(ipc_frame_));
    ipc_frame_ = 0;
  }
  while (stack_pages_ > 0) {
    --stack_pages_;
    note(memory_->free(stack_frames_[stack_pages_]));
    stack_frames_[stack_pages_] = 0;
  }
  return first_error;
}

Result<void> set_thread_name(CallTransport& kernel, CPtr tcb, const char* name) {
  uint64_t words[3] = {};
  auto* bytes = reinterpret_cast<char*>(words);
  for (size_t i = 0; name != nullptr && i + 1 < sizeof(words) && name[i] != '\0'; ++i) bytes[i] = name[i];
  return TcbClient(kernel, tcb).set_name(words[0], words[1], words[2]);
}

Result<void> init_root_thread(IpcBuffer* buffer, CPtr own_tcb) {
  root_thread_block.ipc_buffer = buffer;
  root_thread_block.self = &root_thread_block;
  CallTransport kernel(buffer);
  return TcbClient(kernel, own_tcb).set_tls_base(reinterpret_cast<uint64_t>(&root_thread_block));
}

}  // namespace tessera::sys
