// The boot-information page the kernel maps into the root task (seL4's BootInfo is the model). The
// root task receives its address in rdi at entry. Version 1 carries the kernel command line and the
// layout of the root task's address space; the capability lists come with the capability kernel.
#pragma once

#include <stdint.h>

namespace tessera {

constexpr uint64_t kBootInfoMagic = 0x5445535345524131ull;  // "TESSERA1"
constexpr uint32_t kBootInfoVersion = 1;

// Where the kernel maps the root task's boot pages (user virtual addresses).
constexpr uint64_t kRootBootInfoAddress = 0x00007FFFFFE00000ull;
constexpr uint64_t kRootIpcBufferAddress = 0x00007FFFFFE01000ull;
constexpr uint64_t kRootStackTop = 0x00007FFFFFD00000ull;
constexpr uint64_t kRootStackSize = 64 * 1024;

struct BootInfo {
  uint64_t magic;
  uint32_t version;
  uint32_t cmdline_length;
  uint64_t ipc_buffer;          // user address of the root thread's IPC buffer
  uint64_t free_memory_bytes;   // RAM left for untyped memory after boot
  char cmdline[1024];           // the kernel command line (NUL-terminated)
};
static_assert(sizeof(BootInfo) <= 4096);

}  // namespace tessera
