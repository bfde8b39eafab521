// Untyped and CNode invocations: thin glue from the decoded arguments to the capability core.
#include <tessera/abi/kernel.capnp.h>

#include "cap/cnode_ops.h"
#include "cap/cspace.h"
#include "cap/delete.h"
#include "cap/untyped.h"
#include "generic/invocation.h"
#include "object/endpoint.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
namespace {
using namespace tessera::abi;  // the generated invocation interfaces

Result<cap::ObjectType> object_type_from_abi(abi::ObjectType type) {
  switch (type) {
    case abi::ObjectType::Untyped: return cap::ObjectType::Untyped;
    case abi::ObjectType::Tcb: return cap::ObjectType::Tcb;
    case abi::ObjectType::Endpoint: return cap::ObjectType::Endpoint;
    case abi::ObjectType::Notification: return cap::ObjectType::Notification;
    case abi::ObjectType::Cnode: return cap::ObjectType::CNode;
    case abi::ObjectType::SchedContext: return cap::ObjectType::SchedContext;
    case abi::ObjectType::Reply: return cap::ObjectType::Reply;
    case abi::ObjectType::Pml4: return cap::ObjectType::Pml4;
    case abi::ObjectType::Pdpt: return cap::ObjectType::Pdpt;
    case abi::ObjectType::PageDirectory: return cap::ObjectType::PageDirectory;
    case abi::ObjectType::PageTable: return cap::ObjectType::PageTable;
    case abi::ObjectType::Frame4k: return cap::ObjectType::Frame4K;
    case abi::ObjectType::Frame2m: return cap::ObjectType::Frame2M;
    default: return Error::InvalidArgument;  // 1 GiB frames are not supported
  }
}

// The CNode cap passed as a parameter must really be a CNode.
Result<cap::CapSlot*> cnode_param(const Invocation& inv, capnp::CapIndex index) {
  const auto cnode = TRY(inv.typed_param<cap::ObjectType::CNode>(index));
  return cnode.slot();
}

// A slot addressed seL4-style: `depth` bits of `index` resolved from the CNode cap in `root`.
Result<cap::CapSlot*> slot_at(const cap::CapSlot* root, uint64_t index, uint8_t depth) {
  return cap::lookup_slot(capabilities(), root->cap, index, depth);
}
}  // namespace

Result<void> invoke_untyped(Invocation& inv) {
  const Untyped::Method method = TRY(Untyped::method_of(inv.request.label));
  if (method == Untyped::Method::Describe) {
    TRY(Untyped::DescribeArgs::decode(inv.request));
    const cap::Capability& c = inv.target->cap;
    const Untyped::DescribeReturn r{c.phys(), c.size_bits(), c.is_device(), c.watermark()};
    inv.reply_length = TRY(r.encode(inv.reply_buffer));
    return {};
  }
  if (method != Untyped::Method::Retype) return Error::IllegalOperation;
  const auto args = TRY(Untyped::RetypeArgs::decode(inv.request));
  const cap::ObjectType type = TRY(object_type_from_abi(args.type));
  cap::CapSlot* root = TRY(cnode_param(inv, args.root));
  // depth 0 names the root CNode itself; otherwise the CNode cap stored at root[index].
  cap::CapSlot* dest = args.depth == 0 ? root : TRY(slot_at(root, args.index, args.depth));
  const cap::RetypeRequest request{type, args.size_bits, dest, args.offset, args.count};
  return cap::retype(capabilities(), inv.target, request);
}

Result<void> invoke_cnode(Invocation& inv) {
  cap::CapContext& ctx = capabilities();
  const cap::CapSlot* self = inv.target;
  switch (TRY(CNode::method_of(inv.request.label))) {
    case CNode::Method::Copy: {
      const auto a = TRY(CNode::CopyArgs::decode(inv.request));
      cap::CapSlot* dest = TRY(slot_at(self, a.dest_index, a.dest_depth));
      cap::CapSlot* src_root = TRY(cnode_param(inv, a.src_root));
      cap::CapSlot* src = TRY(slot_at(src_root, a.src_index, a.src_depth));
      return cap::copy_cap(ctx, src, dest, cap::CapRights(a.rights));
    }
    case CNode::Method::Mint: {
      const auto a = TRY(CNode::MintArgs::decode(inv.request));
      cap::CapSlot* dest = TRY(slot_at(self, a.dest_index, a.dest_depth));
      cap::CapSlot* src_root = TRY(cnode_param(inv, a.src_root));
      cap::CapSlot* src = TRY(slot_at(src_root, a.src_index, a.src_depth));
      return cap::mint_cap(ctx, src, dest, cap::CapRights(a.rights), a.badge);
    }
    case CNode::Method::Move: {
      const auto a = TRY(CNode::MoveArgs::decode(inv.request));
      cap::CapSlot* dest = TRY(slot_at(self, a.dest_index, a.dest_depth));
      cap::CapSlot* src_root = TRY(cnode_param(inv, a.src_root));
      cap::CapSlot* src = TRY(slot_at(src_root, a.src_index, a.src_depth));
      return cap::move_cap(ctx, src, dest);
    }
    case CNode::Method::Mutate: {
      const auto a = TRY(CNode::MutateArgs::decode(inv.request));
      cap::CapSlot* dest = TRY(slot_at(self, a.dest_index, a.dest_depth));
      cap::CapSlot* src_root = TRY(cnode_param(inv, a.src_root));
      cap::CapSlot* src = TRY(slot_at(src_root, a.src_index, a.src_depth));
      return cap::mutate_cap(ctx, src, dest, a.badge);
    }
    case CNode::Method::Rotate: {
      const auto a = TRY(CNode::RotateArgs::decode(inv.request));
      cap::CapSlot* dest = TRY(slot_at(self, a.dest_index, a.dest_depth));
      cap::CapSlot* pivot_root = TRY(cnode_param(inv, a.pivot_root));
      cap::CapSlot* pivot = TRY(slot_at(pivot_root, a.pivot_index, a.pivot_depth));
      cap::CapSlot* src_root = TRY(cnode_param(inv, a.src_root));
      cap::CapSlot* src = TRY(slot_at(src_root, a.src_index, a.src_depth));
      return cap::rotate_caps(ctx, src, pivot, dest, a.pivot_badge, a.dest_badge);
    }
    case CNode::Method::Revoke: {
      const auto a = TRY(CNode::RevokeArgs::decode(inv.request));
      return cap::revoke_cap(ctx, TRY(slot_at(self, a.index, a.depth)));
    }
    case CNode::Method::Delete: {
      const auto a = TRY(CNode::DeleteArgs::decode(inv.request));
      return cap::delete_cap(ctx, TRY(slot_at(self, a.index, a.depth)));
    }
    case CNode::Method::CancelBadgedSends: {
      const auto a = TRY(CNode::CancelBadgedSendsArgs::decode(inv.request));
      cap::CapSlot* slot = TRY(slot_at(self, a.index, a.depth));
      // seL4: an endpoint cap with every right; an unbadged cap cancels nothing.
      const auto ep = TRY(cap::lookup_cap<cap::ObjectType::Endpoint>(slot, cap::CapRights::all()));
      if (ep->badge() != 0) endpoint_cancel_badged_sends(ep->phys(), ep->badge());
      return {};
    }
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
