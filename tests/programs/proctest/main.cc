// proctest: a program for init's process tests (servers/init/proc_tests.cc). What it does is
// chosen by the argument its parent puts in the start-up block:
//   fault        reads an unmapped address (a page fault for its supervisor)
//   exit=N       reports status N with exit_process
//   startup      checks its start-up block and CSpace layout, reports 0 when they are right
//   heap         uses operator new: 0 when the heap its parent gave it works, 3 when there is
//                none (new returns nullptr), 4 when allocations overlap or lose their bytes
//   impersonate  a client trying to pass for another: mints its "endpoint:svc" grant with the
//                badge 999 and, if that worked, sends through the copy; then sends through the
//                grant itself. Exits 0 when the mint was refused, 5 when it succeeded.
//   serve        a server on "endpoint:svc" that faults in the middle of a request with label 1
//                (it received the call and owes the reply) and answers any other label L with L + 1
//   memory       started with a memory session (ProcessOptions::memory, quota >= 80 MiB): checks
//                the block, a heap that grows past 64 MiB, a region shared read-only, and that an
//                allocation beyond the quota returns nullptr. 0 when all is well, 10-29 otherwise
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace {
namespace sys = tessera::sys;

constexpr uint64_t kUnmappedAddress = 0x10;

int parse_status(const char* text) {
  int value = 0;
  for (; *text >= '0' && *text <= '9'; ++text) value = value * 10 + (*text - '0');
  return value;
}

// 0 when the start-up block and the CSpace are as tessera/sys/process.h promises.
int check_startup(const sys::StartupBlock& block) {
  int errors = 0;
  if (block.ipc_buffer != reinterpret_cast<uint64_t>(sys::ipc_buffer())) ++errors;
  if (block.empty.start != sys::kProcessFirstGrantSlot + block.grant_count) ++errors;
  if (block.empty.end != uint64_t{1} << block.cnode_radix) ++errors;
  // Its own CNode is in slot 1: copying a cap within it must work (and be undone).
  sys::CallTransport kernel(sys::ipc_buffer());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
  const sys::CPtr spare = block.empty.start;
  if (!cnode.copy(spare, sys::kSlotDepth, {sys::kProcessSlotCNode}, sys::kProcessSlotCNode, sys::kSlotDepth,
                  tessera::abi::kRightRead)
           .ok() ||
      !cnode.delete_(spare, sys::kSlotDepth).ok()) {
    ++errors;
  }
  // Every grant is where the block says.
  for (uint32_t i = 0; i < block.grant_count; ++i) {
    auto slot = sys::find_grant(block, block.grants[i].name);
    if (!slot.ok() || *slot != sys::kProcessFirstGrantSlot + i) ++errors;
  }
  return errors;
}
// Allocates blocks of many sizes, fills each with its own pattern, checks them all, frees them,
// then takes most of the heap in one block.
int check_heap(const sys::StartupBlock& block) {
  auto* probe = new (std::nothrow) uint8_t[16];
  if (probe == nullptr) return 3;
  delete[] probe;
  constexpr int kBlocks = 64;
  uint8_t* blocks[kBlocks] = {};
  for (int i = 0; i < kBlocks; ++i) {
    const size_t size = 16 + static_cast<size_t>(i) * 97;
    blocks[i] = new (std::nothrow) uint8_t[size];
    if (blocks[i] == nullptr) return 4;
    memset(blocks[i], i + 1, size);
  }
  for (int i = 0; i < kBlocks; ++i) {
    const size_t size = 16 + static_cast<size_t>(i) * 97;
    for (size_t b = 0; b < size; ++b) {
      if (blocks[i][b] != static_cast<uint8_t>(i + 1)) return 4;
    }
    delete[] blocks[i];
  }
  const auto address = reinterpret_cast<uint64_t>(blocks[0]);
  if (address < block.heap_address || address >= block.heap_address + block.heap_bytes) return 4;
  auto* large = new (std::nothrow) uint8_t[block.heap_bytes - block.heap_bytes / 4];
  if (large == nullptr) return 4;
  large[0] = 1;
  large[block.heap_bytes - block.heap_bytes / 4 - 1] = 2;
  delete[] large;
  return sys::process_heap().live_allocations() == 0 ? 0 : 4;
}
}  // namespace

// Tries to forge badge 999 on the grant "endpoint:svc", then sends one message through whatever it
// has (label 2 through a forged copy, label 1 through the grant as given).
int impersonate(const sys::StartupBlock& block) {
  auto grant = sys::find_grant(block, "endpoint:svc");
  if (!grant.ok()) return 6;
  sys::CallTransport kernel(sys::ipc_buffer());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
  const sys::CPtr forged = block.empty.start;
  const bool minted = cnode.mint(forged, sys::kSlotDepth, {sys::kProcessSlotCNode}, *grant, sys::kSlotDepth,
                                 tessera::abi::kRightsAll, 999).ok();
  if (minted) (void)sys::send(forged, sys::MessageInfo{2, 0, 0, 0});
  (void)sys::send(*grant, sys::MessageInfo{1, 0, 0, 0});
  return minted ? 5 : 0;
}

// Serves "endpoint:svc" until a receive fails; faults while it owes the reply to a label-1 call.
int serve_then_fault(const sys::StartupBlock& block) {
  auto endpoint = sys::find_grant(block, "endpoint:svc");
  if (!endpoint.ok()) return 6;
  sys::Received r{};
  tessera::Error e = sys::recv(*endpoint, &r);
  while (e == tessera::Error::Ok) {
    if (r.info.label == 1) (void)*reinterpret_cast<volatile uint64_t*>(kUnmappedAddress);
    e = sys::reply_recv(*endpoint, sys::MessageInfo{r.info.label + 1, 0, 0, 0}, &r);
  }
  return 7;
}

// The memory-session checks (argument "memory").
int check_memory(const sys::StartupBlock& block) {
  namespace mem = tessera::memory;
  if (block.memory != sys::kProcessSlotFaultEndpoint) return 10;
  if (block.supervisor != sys::kProcessFirstGrantSlot + block.grant_count) return 11;
  if (block.runtime.end != uint64_t{1} << block.cnode_radix || block.empty.end > block.runtime.start) return 12;
  sys::MemorySession* session = sys::process_memory();
  if (session == nullptr) return 13;
  // More than 64 MiB in one allocation: the heap region grows from 2 MiB.
  constexpr size_t kBig = size_t{65} << 20;
  auto* big = new (std::nothrow) uint8_t[kBig];
  if (big == nullptr) return 14;
  for (size_t i = 0; i < kBig; i += 4096) big[i] = static_cast<uint8_t>(i >> 12);
  for (size_t i = 0; i < kBig; i += 4096) {
    if (big[i] != static_cast<uint8_t>(i >> 12)) return 15;
  }
  delete[] big;
  // Shared memory: a region, written through one attachment and read through a read-only share.
  auto region = sys::Region::create(*session, 3 * 4096);
  if (!region.ok()) return 16;
  auto writable = region.value().attach(mem::kRightRead | mem::kRightWrite);
  if (!writable.ok()) return 17;
  memcpy(writable.value() + 4096, "shared", 7);
  auto read_only = region.value().share(mem::kRightRead);
  if (!read_only.ok()) return 18;
  auto view = read_only.value().attach(mem::kRightRead);
  if (!view.ok() || view.value() == writable.value() || memcmp(view.value() + 4096, "shared", 7) != 0) return 19;
  // A read-only capability grants no write.
  if (session->attach(read_only.value().cap(), 0, mem::kRightRead | mem::kRightWrite).ok()) return 20;
  auto info = read_only.value().describe();
  if (!info.ok() || info.value().bytes != 3 * 4096 || info.value().rights != mem::kRightRead) return 21;
  if (!read_only.value().detach().ok() || !read_only.value().close().ok()) return 22;
  if (!region.value().release().ok()) return 23;
  auto status = session->status();
  if (!status.ok() || status.value().used > status.value().quota + status.value().granted) return 24;
  // Beyond the quota: new returns nullptr and the program goes on.
  auto* huge = new (std::nothrow) uint8_t[size_t{1} << 30];
  if (huge != nullptr) return 25;
  auto* small = new (std::nothrow) uint8_t[64];
  if (small == nullptr) return 26;
  delete[] small;
  return 0;
}

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  sys::print("proctest: %s started (%s)\n", block->name, block->argument);
  if (strcmp(block->argument, "fault") == 0) {
    const uint64_t value = *reinterpret_cast<volatile uint64_t*>(kUnmappedAddress);
    sys::print("proctest: read %lu from an unmapped page\n", value);  // never reached
  } else if (strncmp(block->argument, "exit=", 5) == 0) {
    sys::exit_process(parse_status(block->argument + 5));
  } else if (strcmp(block->argument, "startup") == 0) {
    sys::exit_process(check_startup(*block));
  } else if (strcmp(block->argument, "heap") == 0) {
    sys::exit_process(check_heap(*block));
  } else if (strcmp(block->argument, "impersonate") == 0) {
    sys::exit_process(impersonate(*block));
  } else if (strcmp(block->argument, "serve") == 0) {
    sys::exit_process(serve_then_fault(*block));
  } else if (strcmp(block->argument, "memory") == 0) {
    sys::exit_process(check_memory(*block));
  }
  sys::exit_process(100);  // an argument this program does not know
}
