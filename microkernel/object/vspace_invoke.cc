// Paging-structure and frame invocations (seL4 x86-64 style): a PDPT, page directory or page
// table is installed into an address space with map(); frames are mapped with rights and
// attributes. Each cap maps at most once; the mapping is recorded in its slot so that unmap and
// deleting the cap clear exactly that entry. The rules live in lib/vspace_tables (vspace::Tables);
// this file decodes the invocations.
#include <tessera/abi/kernel.capnp.h>

#include "cap/cspace.h"
#include "generic/invocation.h"
#include "object/vspace.h"
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
  const auto pml4 = TRY(inv.typed_param<cap::ObjectType::Pml4>(index));
  const vspace::SpaceId id = TRY(vspace::space_id(pml4->phys()));
  return Space{pml4->phys(), id};
}

Result<void> unmap(cap::CapSlot* slot) {
  unmap_cap(slot);
  return {};
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
      return vspace::tables().map_table_cap(self, space.root, space.id, a.vaddr);
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
      const vspace::FrameMapping m{a.vaddr, (a.rights & kRightRead) != 0, (a.rights & kRightWrite) != 0,
                                   (a.attributes & kAttrExecuteNever) == 0, (a.attributes & kAttrCacheDisabled) != 0};
      return vspace::tables().map_frame_cap(self, space.root, space.id, m);
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
