// Scaffolding shared by the root task's capability tests (cap_tests.cc, vspace_tests.cc,
// tcb_tests.cc): typed clients for the kernel objects, a slot and untyped allocator over the
// root task's BootInfo, and a clean-up sweep. Every `pass` test runs in one boot after the
// others, so each test must leave the root CNode and the untypeds as it found them; Env checks
// that for the slots it handed out and deletes what a failing test left behind.
#pragma once

#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/ipc_buffer.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/untyped.h>

namespace captest {

using tessera::BootInfo;
using tessera::Error;
using tessera::abi::ObjectType;
using tessera::capnp::CapRef;
using tessera::sys::CPtr;
using tessera::sys::CallTransport;
using tessera::sys::kSlotDepth;
using Context = tessera::sys::testing::Context;
template <typename Object>
using Client = typename Object::template Client<CallTransport>;

constexpr uint8_t kRead = tessera::abi::kRightRead;
constexpr uint8_t kWrite = tessera::abi::kRightWrite;
constexpr uint8_t kAllRights = tessera::abi::kRightsAll;
constexpr uint8_t kExecuteNever = tessera::abi::kAttrExecuteNever;
constexpr uint8_t kExecutable = 0;
constexpr CapRef kRootCNodeRef{tessera::kSlotRootCNode};
constexpr CapRef kRootVSpaceRef{tessera::kSlotRootVSpace};
constexpr CapRef kRootTcbRef{tessera::kSlotRootTcb};

inline const BootInfo& boot_info() { return *reinterpret_cast<const BootInfo*>(tessera::kRootBootInfoAddress); }

// Checks that `result` (any Result) failed with `expected` (or succeeded, for Error::Ok).
template <typename R>
bool expect_error(Context& t, const R& result, Error expected, const char* what) {
  return t.check(result.error() == expected, "%s: expected %s, got %s", what, error_name(expected),
                 error_name(result.error()));
}
template <typename R>
bool expect_ok(Context& t, const R& result, const char* what) {
  return expect_error(t, result, Error::Ok, what);
}

class Env {
 public:
  explicit Env(Context& context);
  // Deletes whatever is left in the slots this Env handed out; each leftover fails the test.
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  Client<tessera::abi::CNode> root() { return {kernel, tessera::kSlotRootCNode}; }
  Client<tessera::abi::Untyped> untyped(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::Frame> frame(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::Tcb> tcb(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::PageTable> page_table(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::PageDirectory> page_directory(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::Pdpt> pdpt(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::IoPort> io_port(CPtr c) { return {kernel, c}; }
  Client<tessera::abi::IoPortControl> io_port_control() { return {kernel, tessera::kSlotIoPortControl}; }

  // A fresh empty slot; 0 (the null slot) after a failed check.
  CPtr slot();
  // A new object in a fresh slot; 0 after a failed check.
  CPtr make(ObjectType type, uint8_t size_bits = 0);
  // Deletes the capability in `slot` (checked) and returns the slot to the allocator.
  void drop(CPtr slot);
  // Copies the capability in `source` to a fresh slot (all rights); 0 after a failed check.
  CPtr copy(CPtr source, uint8_t rights = kAllRights);
  // Whether `slot` of the root CNode is empty, probed by copying from it.
  bool is_empty(CPtr slot);
  // The physical address of a frame; 0 after a failed check.
  uint64_t address_of(CPtr frame);
  // Maps `frame` at `vaddr` in `vspace`, making page tables as needed (recorded in `tables` and
  // deleted by the destructor, after every slot of the test has been swept).
  bool map(CPtr vspace, CPtr frame, uint64_t vaddr, uint8_t rights = kRead | kWrite,
           uint8_t attributes = kExecuteNever, tessera::sys::PageSize size = tessera::sys::PageSize::k4K);
  // A boot untyped (its slot) of 2^min_bits..2^max_bits bytes, from the end of the list (the
  // untyped allocator takes from the front), whose memory is not in use. 0 when there is none.
  CPtr spare_untyped(uint8_t min_bits, uint8_t max_bits);
  // Whether nothing is carved from the boot untyped in `slot` (probed by retyping all of it).
  bool untyped_is_unused(CPtr slot);
  // Size and address of the boot untyped in `slot`.
  const tessera::UntypedDescriptor& describe_untyped(CPtr slot) const {
    return info.untyped_list[slot - info.untyped.start];
  }

  Context& t;
  const BootInfo& info;
  CallTransport kernel;
  tessera::sys::SlotAllocator slots;
  tessera::sys::UntypedAllocator memory;
  tessera::sys::CreatedTables tables;

 private:
  CPtr scratch_ = 0;  // destination of is_empty's probe copies
};

}  // namespace captest
