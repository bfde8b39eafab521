// Starting the memory server (docs/memory.md): what init does at boot and the test runner does
// for the MEMORY tests. The server is started like the root task with the untyped caps it is to
// manage (moved into it) and an endpoint the launcher made; the launcher keeps an unbadged copy
// of that endpoint, the Control capability.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>
#include <tessera/sys/process.h>
#include <tessera/sys/untyped.h>

namespace memory {

struct LaunchOptions {
  const tessera::sys::CPtr* untyped = nullptr;  // the parent's untyped caps to hand over (moved)
  uint32_t untyped_count = 0;                   // at most kMaxBootInfoStartUntypeds
  tessera::sys::CPtr fault_endpoint = 0;        // the supervisor's endpoint for its faults
  uint64_t fault_badge = 0;
  uint8_t priority = 200;
  uint8_t cnode_radix = 15;
};

struct MemoryServer {
  tessera::sys::Process process;
  tessera::sys::CPtr control = 0;  // parent's slot: the unbadged endpoint (Control)
};

// Spawns the server from `image` with objects from `memory` (TCB, CNode of 2^cnode_radix slots,
// its stack and image frames, its endpoint). The kernel's and Process::spawn's errors.
tessera::Result<void> launch_memory_server(tessera::sys::UntypedAllocator& memory, const uint8_t* image, size_t size,
                                           const LaunchOptions& options, MemoryServer* out);

}  // namespace memory
