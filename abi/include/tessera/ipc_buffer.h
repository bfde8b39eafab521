// The IPC buffer: one per thread, at a user address registered with the kernel (TCB.configure /
// setIpcBuffer; the root task's is at BootInfo::ipc_buffer). Layout follows seL4's.
#pragma once

#include <stdint.h>

namespace tessera {

constexpr uint32_t kMessageWords = 120;   // message words 0-3 travel in registers, the rest here
constexpr uint32_t kMessageRegisters = 4;
constexpr uint32_t kMaxTransferCaps = 3;

struct IpcBuffer {
  uint64_t tag;                               // message info of the last message (library use)
  uint64_t msg[kMessageWords];                // message words at their own indices
  uint64_t user_data;                         // free for the thread library (e.g. TLS pointer)
  uint64_t caps_or_badges[kMaxTransferCaps];  // send: cap pointers of extra caps; receive: badges
  uint64_t receive_cnode;                     // where received caps go: CNode cptr,
  uint64_t receive_index;                     //   slot index in it,
  uint64_t receive_depth;                     //   and depth
};
static_assert(sizeof(IpcBuffer) <= 4096);
static_assert(__builtin_offsetof(IpcBuffer, msg) == 8);

}  // namespace tessera
