// Kernel object types and the memory each one occupies. One table, used by Retype, by the
// invariant checker and by the kernel when it lays objects out in memory.
#pragma once

#include <stdint.h>

namespace tessera::cap {

// Every type a capability can name. Null (0) is the empty slot: a zeroed slot holds a Null cap.
enum class ObjectType : uint8_t {
  Null = 0,
  Untyped,
  CNode,
  Tcb,
  Endpoint,
  Notification,
  Reply,
  SchedContext,
  SchedControl,
  IrqControl,
  IrqHandler,
  IoPortControl,
  IoPort,
  Pml4,
  Pdpt,
  PageDirectory,
  PageTable,
  Frame4K,
  Frame2M,
  // Control capability for the machine itself: powering it off (DebugExitMachine). Only the root
  // task gets one at boot; it may pass copies on (a test runner, a shutdown service).
  DebugControl,
  // Control capability for the kernel's event tracing (docs/tracing.md): Write switches categories
  // and sizes the rings, Read drains them. The root task gets one at boot.
  TraceControl,
};
inline constexpr unsigned kObjectTypeCount = 21;

// Bytes of one CNode slot (CapSlot), as a power of two.
inline constexpr uint8_t kSlotSizeBits = 7;

// Limits of the variable-sized types (size_bits as passed to Retype).
inline constexpr uint8_t kMinUntypedBits = 4;
inline constexpr uint8_t kMaxUntypedBits = 47;
inline constexpr uint8_t kMinCNodeRadix = 1;
inline constexpr uint8_t kMaxCNodeRadix = 28;
inline constexpr uint8_t kMinSchedContextBits = 8;
inline constexpr uint8_t kMaxSchedContextBits = 16;

// Sizes of the fixed-size objects, log2 bytes. TCBs hold registers, FPU state and the
// scheduling links; the others hold a queue head and a word or two (with room to grow).
inline constexpr uint8_t kTcbBits = 11;
inline constexpr uint8_t kEndpointBits = 6;
inline constexpr uint8_t kNotificationBits = 6;
inline constexpr uint8_t kReplyBits = 6;
inline constexpr uint8_t kPageTableBits = 12;  // PML4, PDPT, PD, PT: one 4 KiB table each
inline constexpr uint8_t kFrame4KBits = 12;
inline constexpr uint8_t kFrame2MBits = 21;

// At most this many objects per Retype call (seL4's fan-out limit).
inline constexpr uint64_t kMaxRetypeCount = 256;

// The name of a type, for logs and test failure messages.
const char* object_type_name(ObjectType type);

// True for types Retype can create (Untyped, CNode, TCB, IPC objects, paging structures, frames).
// Control caps, IRQ handlers and I/O ports are made by the kernel, never from memory.
constexpr bool is_retypable(ObjectType type) {
  switch (type) {
    case ObjectType::Untyped: case ObjectType::CNode: case ObjectType::Tcb:
    case ObjectType::Endpoint: case ObjectType::Notification: case ObjectType::Reply:
    case ObjectType::SchedContext: case ObjectType::Pml4: case ObjectType::Pdpt:
    case ObjectType::PageDirectory: case ObjectType::PageTable: case ObjectType::Frame4K:
    case ObjectType::Frame2M:
      return true;
    default:
      return false;
  }
}

// True when the object occupies physical memory (its cap's `object` word is a physical address).
constexpr bool has_memory(ObjectType type) { return is_retypable(type); }

// True for types whose size is chosen by the Retype caller.
constexpr bool is_variable_size(ObjectType type) {
  return type == ObjectType::Untyped || type == ObjectType::CNode ||
         type == ObjectType::SchedContext;
}

// True for the types a device untyped may be retyped into (memory the kernel must not zero or
// use for its own objects).
constexpr bool allowed_from_device_memory(ObjectType type) {
  return type == ObjectType::Untyped || type == ObjectType::Frame4K ||
         type == ObjectType::Frame2M;
}

// True for the types whose caps carry a badge.
constexpr bool is_badgeable(ObjectType type) {
  return type == ObjectType::Endpoint || type == ObjectType::Notification;
}

// True for the types whose caps may be copied (Copy/Mint). Reply caps and the IRQ and I/O-port
// control caps exist once (seL4's deriveCap refuses them); they can only be moved.
// PDPTs, page directories and page tables: installed into an address space by their one cap.
constexpr bool is_paging_structure(ObjectType type) {
  return type == ObjectType::Pdpt || type == ObjectType::PageDirectory || type == ObjectType::PageTable;
}

// Paging structures are not derivable: a table has exactly one cap (moved, never copied), so it is
// mapped in at most one place and its mapping record is the only way to it (seL4 allows only
// copies of a mapped table cap, which share its mapping; we keep it simpler).
constexpr bool is_derivable(ObjectType type) {
  return type != ObjectType::Null && type != ObjectType::Reply &&
         type != ObjectType::IrqControl && type != ObjectType::IoPortControl && !is_paging_structure(type);
}

// True when `user_size_bits` is in the allowed range for `type` (ignored for fixed sizes).
constexpr bool valid_user_size(ObjectType type, uint64_t user_size_bits) {
  switch (type) {
    case ObjectType::Untyped:
      return user_size_bits >= kMinUntypedBits && user_size_bits <= kMaxUntypedBits;
    case ObjectType::CNode:
      return user_size_bits >= kMinCNodeRadix && user_size_bits <= kMaxCNodeRadix;
    case ObjectType::SchedContext:
      return user_size_bits >= kMinSchedContextBits && user_size_bits <= kMaxSchedContextBits;
    default:
      return true;
  }
}

// log2 of the bytes an object occupies; objects are aligned to their size. For a CNode,
// `user_size_bits` is the radix (log2 of the slot count). Precondition: is_retypable(type)
// and valid_user_size(type, user_size_bits).
constexpr uint8_t object_size_bits(ObjectType type, uint8_t user_size_bits) {
  switch (type) {
    case ObjectType::Untyped: return user_size_bits;
    case ObjectType::CNode: return static_cast<uint8_t>(user_size_bits + kSlotSizeBits);
    case ObjectType::SchedContext: return user_size_bits;
    case ObjectType::Tcb: return kTcbBits;
    case ObjectType::Endpoint: return kEndpointBits;
    case ObjectType::Notification: return kNotificationBits;
    case ObjectType::Reply: return kReplyBits;
    case ObjectType::Pml4: case ObjectType::Pdpt: case ObjectType::PageDirectory:
    case ObjectType::PageTable:
      return kPageTableBits;
    case ObjectType::Frame4K: return kFrame4KBits;
    case ObjectType::Frame2M: return kFrame2MBits;
    default: return 0;
  }
}

}  // namespace tessera::cap
