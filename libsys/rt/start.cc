// C++ start-up: gives the root thread its thread-local block (so ipc_buffer() works), runs main()
// with the start-up argument and, when it returns, reports the status to the supervisor (if the
// process has one) and stops the thread.
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>
#include <tessera/sys/thread_runtime.h>

int main(uint64_t argument);

extern "C" [[noreturn]] void tessera_start(uint64_t argument) {
  // The root task (or a process started like it) is entered with its BootInfo, which names its
  // IPC buffer.
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(argument);
  const bool boot_info = argument == tessera::kRootBootInfoAddress && info->magic == tessera::kBootInfoMagic;
  if (boot_info) {
    // The root task has no supervisor; a process started like it may (ProcessOptions::boot_info).
    tessera::sys::set_supervisor_endpoint(info->supervisor_endpoint);
    tessera::sys::set_tsc_hz(info->tsc_hz);
    auto* buffer = reinterpret_cast<tessera::IpcBuffer*>(info->ipc_buffer);
    const auto r = tessera::sys::init_root_thread(buffer, tessera::kSlotRootTcb);
    if (!r.ok()) tessera::sys::print("start: no thread-local block (error %u)\n", static_cast<unsigned>(r.error()));
    // The heap (operator new) and the root thread's runtime record (join, condition variables).
    const auto runtime = tessera::sys::init_root_runtime(*info);
    if (!runtime.ok()) tessera::sys::print("start: no heap (error %u)\n", static_cast<unsigned>(runtime.error()));
  }
  // A spawned process: its supervisor is named by the block; its heap is the one its parent
  // mapped (ProcessOptions::heap_bytes) or one that grows from its memory session.
  const tessera::sys::StartupBlock* block = tessera::sys::startup_block(argument);
  if (block != nullptr) {
    tessera::sys::set_supervisor_endpoint(block->supervisor);
    tessera::sys::set_tsc_hz(block->tsc_hz);
  }
  if (block != nullptr && (block->heap_bytes != 0 || block->memory != 0)) {
    const auto runtime = tessera::sys::init_process_runtime(*block);
    if (!runtime.ok()) tessera::sys::print("start: no heap (error %u)\n", static_cast<unsigned>(runtime.error()));
  }
  const int status = main(argument);
  // A spawned process tells its supervisor (StartupBlock::supervisor) that it is done.
  if (block != nullptr || (boot_info && info->supervisor_endpoint != 0)) {
    tessera::sys::exit_process(status);
  }
  if (status != 0) tessera::sys::print("process exited with status %d\n", status);
  tessera::sys::suspend_self();
}
