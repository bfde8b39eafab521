// The boot-information page the kernel maps into the root task (seL4's BootInfo is the model). The
// root task receives its address in rdi at entry. It says which capabilities the root task holds
// in its root CNode and what memory the untyped capabilities cover.
#pragma once

#include <stdint.h>

namespace tessera {

constexpr uint64_t kBootInfoMagic = 0x5445535345524131ull;  // "TESSERA1"
constexpr uint32_t kBootInfoVersion = 5;  // 5: slot 10 is the TraceControl cap, trace_rings

// Where the kernel maps the root task's boot pages (user virtual addresses).
constexpr uint64_t kRootBootInfoAddress = 0x00007FFFFFE00000ull;
constexpr uint64_t kRootIpcBufferAddress = 0x00007FFFFFE01000ull;
constexpr uint64_t kRootStackTop = 0x00007FFFFFD00000ull;
constexpr uint64_t kRootStackSize = 64 * 1024;

// The root CNode has 2^kRootCNodeRadix slots and a guard of (64 - radix) zero bits, so a
// capability pointer is simply the slot index (depth 64).
constexpr uint8_t kRootCNodeRadix = 12;

// Fixed slots of the root CNode.
enum RootSlot : uint64_t {
  kSlotNull = 0,
  kSlotRootTcb = 1,           // the root task's thread
  kSlotRootCNode = 2,         // the root CNode itself
  kSlotRootVSpace = 3,        // the root task's PML4
  kSlotIrqControl = 4,
  kSlotIoPortControl = 5,
  kSlotSchedControl = 6,
  kSlotBootInfoFrame = 7,     // the frame holding this page
  kSlotIpcBufferFrame = 8,    // the root thread's IPC buffer frame
  kSlotDebugControl = 9,      // the machine's control cap: DebugExitMachine needs it (root task only)
  kSlotTraceControl = 10,     // the kernel's event tracing (docs/tracing.md)
  kFirstVariableSlot = 11,
};

struct SlotRegion {
  uint64_t start;  // first slot
  uint64_t end;    // one past the last slot
};

struct UntypedDescriptor {
  uint64_t phys;
  uint8_t size_bits;
  uint8_t is_device;
  uint8_t padding[6];
};

constexpr uint32_t kMaxBootUntypeds = 128;

struct BootInfo {
  uint64_t magic;
  uint32_t version;
  uint32_t cmdline_length;
  uint64_t ipc_buffer;          // user address of the root thread's IPC buffer
  uint64_t free_memory_bytes;   // bytes of RAM the untyped capabilities cover
  uint64_t root_cnode_radix;
  uint64_t tsc_hz;              // the TSC rate the kernel measured (for timing in user space)
  // 0 for the root task. A process a supervisor starts with this same layout (libsys
  // ProcessOptions::boot_info, e.g. each conformance test) finds its supervisor's endpoint here:
  // its faults go there, and so does its exit status when main returns (exit_process).
  uint64_t supervisor_endpoint;
  SlotRegion image_frames;      // 4 KiB frame caps of the image, stack (mapped, in address order)
  SlotRegion paging;            // PDPT / page directory / page table caps of the root VSpace
  SlotRegion untyped;           // untyped caps; untyped_list[i] describes slot untyped.start + i
  SlotRegion trace_rings;       // read-only 2 MiB frame caps of the trace rings, one per CPU (tessera/trace.h)
  SlotRegion empty;             // free slots, up to the end of the root CNode
  UntypedDescriptor untyped_list[kMaxBootUntypeds];
  char cmdline[1024];           // the kernel command line (NUL-terminated)
};
static_assert(sizeof(BootInfo) <= 4096);

}  // namespace tessera
