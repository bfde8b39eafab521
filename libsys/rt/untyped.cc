#include <tessera/sys/untyped.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;
}  // namespace

uint8_t object_size_bits(ObjectType type, uint8_t size_bits) {
  switch (type) {
    case ObjectType::Untyped:
    case ObjectType::SchedContext: return size_bits;
    case ObjectType::Cnode: return static_cast<uint8_t>(size_bits + 7);  // 128-byte slots
    case ObjectType::Tcb: return 11;
    case ObjectType::Endpoint:
    case ObjectType::Notification:
    case ObjectType::Reply: return 6;
    case ObjectType::Pml4:
    case ObjectType::Pdpt:
    case ObjectType::PageDirectory:
    case ObjectType::PageTable:
    case ObjectType::Frame4k: return 12;
    case ObjectType::Frame2m: return 21;
    case ObjectType::Frame1g: return 0;
  }
  return 0;
}

Result<UntypedDescriptor> describe_untyped(CallTransport& kernel, CPtr untyped) {
  const auto d = TRY(abi::Untyped::Client<CallTransport>(kernel, untyped).describe());
  return UntypedDescriptor{d.paddr(), d.size_bits(), static_cast<uint8_t>(d.is_device() ? 1 : 0), {}};
}

UntypedAllocator::UntypedAllocator(const BootInfo& info, CallTransport& kernel, SlotAllocator& slots,
                                   CPtr root_cnode)
    : info_(info), kernel_(kernel), slots_(slots), root_cnode_(root_cnode) {}

Result<CPtr> UntypedAllocator::allocate(ObjectType type, uint8_t size_bits) {
  const uint8_t bits = object_size_bits(type, size_bits);
  if (bits == 0) return Error::InvalidArgument;
  const CPtr slot = TRY(slots_.alloc());
  const uint64_t untyped_count =
      info_.untyped.end > info_.untyped.start ? min<uint64_t>(info_.untyped.end - info_.untyped.start, kMaxBootUntypeds)
                                              : 0;
  Error error = Error::NotEnoughMemory;
  for (uint64_t i = 0; i < untyped_count; ++i) {
    const UntypedDescriptor& d = info_.untyped_list[i];
    if (d.is_device != 0 || d.size_bits < bits) continue;
    abi::Untyped::Client<CallTransport> untyped(kernel_, info_.untyped.start + i);
    const Result<void> r = untyped.retype(type, size_bits, capnp::CapRef{root_cnode_}, 0, 0, slot, 1);
    if (r.ok()) return slot;
    if (r.error() != Error::NotEnoughMemory) {
      error = r.error();
      break;
    }
  }
  (void)slots_.free(slot);
  return error;
}

Result<void> UntypedAllocator::free(CPtr slot) {
  abi::CNode::Client<CallTransport> cnode(kernel_, root_cnode_);
  TRY(cnode.delete_(slot, kSlotDepth));
  return slots_.free(slot);
}

}  // namespace tessera::sys
