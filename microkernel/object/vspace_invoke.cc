// Paging-structure and frame invocations (seL4 x86-64 style): a PDPT, page directory or page
// table is installed into an address space with map(); frames are mapped with rights and
// attributes. Each cap maps at most once; the mapping is recorded in its slot so that unmap and
// deleting the cap clear exactly that entry.
#include <tessera/abi/kernel.capnp.h>

#include "cap/cspace.h"
#include "generic/invocation.h"
#include "object/address_space.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
namespace {
using namespace tessera::abi;  // the generated invocation interfaces

constexpr uint8_t kRightRead = 1, kRightWrite = 2;
constexpr uint8_t kAttrCacheDisabled = 1, kAttrExecuteNever = 4;

struct Space {
  uint64_t root;
  vspace::SpaceId id;
};

Result<Space> space_param(const Invocation& inv, capnp::CapIndex index) {
  cap::CapSlot* slot = TRY(inv.cap_param(index));
  TRY(cap::check_cap(slot, cap::ObjectType::Pml4, cap::CapRights::none()));
  const vspace::SpaceId id = TRY(vspace::space_id(slot->cap.phys()));
  return Space{slot->cap.phys(), id};
}

void record(cap::CapSlot* slot, const Space& space, uint64_t vaddr) {
  mapping_of(slot) = MappingRecord{vaddr, space.id.generation, space.id.asid, 0};
}

Result<void> unmap(cap::CapSlot* slot) {
  unmap_cap(slot);
  return {};
}

// The bytes of address space one table of this type covers (its map address is aligned down to it).
uint64_t table_coverage_bits(cap::ObjectType type) {
  switch (type) {
    case cap::ObjectType::Pdpt: return 39;
    case cap::ObjectType::PageDirectory: return 30;
    default: return 21;  // page table
  }
}
}  // namespace

Result<void> invoke_paging(Invocation& inv) {
  cap::CapSlot* self = inv.target;
  const cap::ObjectType type = self->cap.type();
  // The three table interfaces share method numbers (map = 0, unmap = 1); check the interface code.
  uint32_t code = 0;
  if (type == cap::ObjectType::Pdpt) code = Pdpt::kInterfaceCode;
  if (type == cap::ObjectType::PageDirectory) code = PageDirectory::kInterfaceCode;
  if (type == cap::ObjectType::PageTable) code = PageTable::kInterfaceCode;
  if (capnp::label_interface(inv.request.label) != code || (inv.request.label >> 48) != 0) {
    return Error::IllegalOperation;
  }
  switch (capnp::label_method(inv.request.label)) {
    case 0: {  // map(vspace, vaddr, attributes)
      const auto a = TRY(PageTable::MapArgs::decode(inv.request));
      const Space space = TRY(space_param(inv, a.vspace));
      if (is_mapped(self)) return Error::InvalidCapability;  // unmap first, even if its space is gone
      const uint64_t vaddr = align_down(a.vaddr, uint64_t{1} << table_coverage_bits(type));
      if (!is_user_address(a.vaddr)) return Error::RangeError;
      TRY(vspace::install_table(space.root, vaddr, entry_level(type) - 1, self->cap.phys()));
      record(self, space, vaddr);
      return {};
    }
    case 1:  // unmap()
      TRY(PageTable::UnmapArgs::decode(inv.request));
      return unmap(self);
    default:
      return Error::IllegalOperation;
  }
}

Result<void> invoke_frame(Invocation& inv) {
  cap::CapSlot* self = inv.target;
  switch (TRY(Frame::method_of(inv.request.label))) {
    case Frame::Method::Map: {
      const auto a = TRY(Frame::MapArgs::decode(inv.request));
      const Space space = TRY(space_param(inv, a.vspace));
      if (is_mapped(self)) return Error::InvalidCapability;  // unmap first, even if its space is gone
      const cap::CapRights rights = self->cap.rights();
      if ((a.rights & kRightRead) != 0 && !rights.includes(cap::CapRights::read())) return Error::InsufficientRights;
      if ((a.rights & kRightWrite) != 0 && !rights.includes(cap::CapRights::write())) return Error::InsufficientRights;
      const bool writable = (a.rights & kRightWrite) != 0;
      const bool executable = (a.attributes & kAttrExecuteNever) == 0;
      const bool uncached = (a.attributes & kAttrCacheDisabled) != 0 || self->cap.is_device();
      TRY(vspace::map_frame(space.root, a.vaddr, self->cap.memory_size_bits(), self->cap.phys(), writable,
                            executable, uncached));
      record(self, space, a.vaddr);
      return {};
    }
    case Frame::Method::Unmap:
      TRY(Frame::UnmapArgs::decode(inv.request));
      return unmap(self);
    case Frame::Method::GetAddress: {
      TRY(Frame::GetAddressArgs::decode(inv.request));
      const Frame::GetAddressReturn r{self->cap.phys()};
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
