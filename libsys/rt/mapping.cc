#include <tessera/sys/mapping.h>

namespace tessera::sys {
namespace {
using abi::ObjectType;

// Paging levels that map a table, from the lowest: a page table, a page directory, a PDPT.
constexpr ObjectType kTableTypes[] = {ObjectType::PageTable, ObjectType::PageDirectory, ObjectType::Pdpt};

Result<void> map_table(CallTransport& kernel, ObjectType type, CPtr table, CPtr vspace, uint64_t vaddr) {
  const capnp::CapRef space{vspace};
  switch (type) {
    case ObjectType::PageTable: return abi::PageTable::Client<CallTransport>(kernel, table).map(space, vaddr, 0);
    case ObjectType::PageDirectory:
      return abi::PageDirectory::Client<CallTransport>(kernel, table).map(space, vaddr, 0);
    case ObjectType::Pdpt: return abi::Pdpt::Client<CallTransport>(kernel, table).map(space, vaddr, 0);
    default: return Error::InvalidArgument;
  }
}

// Makes and maps the table of kTableTypes[level] for `vaddr`, first making the levels above it
// when they are missing too.
Result<void> install_table(UntypedAllocator& memory, const MapRequest& request, uint32_t level,
                           CreatedTables* created) {
  const ObjectType type = kTableTypes[level];
  const CPtr table = TRY(memory.allocate(type));
  created->slots[created->count++] = table;
  Result<void> r = map_table(memory.kernel(), type, table, request.vspace, request.vaddr);
  if (!r.ok() && r.error() == Error::FailedLookup && level + 1 < 3) {
    TRY(install_table(memory, request, level + 1, created));
    r = map_table(memory.kernel(), type, table, request.vspace, request.vaddr);
  }
  return r;
}
}  // namespace

Result<void> map_frame(UntypedAllocator& memory, const MapRequest& request, CreatedTables* created) {
  abi::Frame::Client<CallTransport> frame(memory.kernel(), request.frame);
  const capnp::CapRef space{request.vspace};
  Result<void> r = frame.map(space, request.vaddr, request.rights, request.attributes);
  if (r.ok() || r.error() != Error::FailedLookup) return r;
  if (created->count + 3 > CreatedTables::kCapacity) return Error::RangeError;

  CreatedTables mine;
  // A 4 KiB frame needs a page table under it; a 2 MiB frame sits in a page directory entry.
  const uint32_t lowest = request.size == PageSize::k4K ? 0 : 1;
  r = install_table(memory, request, lowest, &mine);
  if (r.ok()) r = frame.map(space, request.vaddr, request.rights, request.attributes);
  if (!r.ok()) {
    (void)free_tables(memory, &mine);
    return r;
  }
  for (uint32_t i = 0; i < mine.count; ++i) created->slots[created->count++] = mine.slots[i];
  return {};
}

Result<void> free_tables(UntypedAllocator& memory, CreatedTables* created) {
  Result<void> first_error;
  while (created->count > 0) {
    const CPtr slot = created->slots[--created->count];
    if (Result<void> r = memory.free(slot); !r.ok() && first_error.ok()) first_error = r;
  }
  return first_error;
}

}  // namespace tessera::sys
