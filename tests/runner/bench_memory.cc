// Memory benchmarks (`bench=memory`, scripts/bench.d/memory): the runner starts a memory server of
// its own (as init does, with a slice of the runner's memory) and the program membench
// (tests/programs/membench) with a session of it, so the server is membench's pager; membench
// times faults, attach/detach and region creation and prints the BENCH lines. The runner itself
// measures what the kernel's clearing of a new frame costs: Untyped.retype of a 4 KiB frame
// (zeroed) next to a 4 KiB untyped (not zeroed), and the two kernel calls the pager makes besides
// (Frame.map of a 4 KiB frame where the page table exists, Frame.unmap), 10,000 timed iterations
// after 1,000 warm-up each.
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/abi/memory.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/untyped.h>

#include "bench.h"
#include "launch.h"
#include "system.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::abi::ObjectType;
using tessera::capnp::CapRef;

constexpr int kWarmup = 1000;
constexpr int kIterations = 10000;
constexpr uint64_t kEventBadge = uint64_t{1} << 62;   // the server's fault reports (bound notification)
constexpr uint64_t kProgramBadge = 1;                  // membench's exit on the runner's endpoint
constexpr uint64_t kMapAddress = 0x0000500000000000;  // free in the runner's space
constexpr uint64_t kQuota = 24ull << 20;  // membench's session: 1,000 pages a batch, one 2 MiB page

[[gnu::always_inline]] inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

uint64_t samples[kIterations];

void sort(uint64_t* v, int n) {
  for (int gap = n / 2; gap > 0; gap /= 2) {
    for (int i = gap; i < n; ++i) {
      const uint64_t x = v[i];
      int j = i;
      for (; j >= gap && v[j - gap] > x; j -= gap) v[j] = v[j - gap];
      v[j] = x;
    }
  }
}

uint64_t median_of_samples() {
  sort(samples, kIterations);
  return samples[kIterations / 2];
}

void error(const char* what, Error e) { sys::print("BENCH-ERROR %s: error %u\n", what, static_cast<unsigned>(e)); }

// Untyped.retype of one `type` object of 4 KiB from a 4 KiB untyped, timed; the child is deleted
// after each (not timed), which resets the untyped.
bool time_retype(const char* name, sys::CallTransport& kernel, sys::CPtr untyped, sys::CPtr slot, ObjectType type,
                 uint8_t size_bits, uint64_t overhead) {
  tessera::abi::Untyped::Client<sys::CallTransport> client(kernel, untyped);
  tessera::abi::CNode::Client<sys::CallTransport> root(kernel, tessera::kSlotRootCNode);
  for (int i = 0; i < kWarmup + kIterations; ++i) {
    const uint64_t start = rdtsc();
    const auto made = client.retype(type, size_bits, CapRef{tessera::kSlotRootCNode}, 0, 0, slot, 1);
    const uint64_t end = rdtsc();
    if (!made.ok()) {
      error(name, made.error());
      return false;
    }
    if (auto r = root.delete_(slot, sys::kSlotDepth); !r.ok()) {
      error("delete", r.error());
      return false;
    }
    if (i >= kWarmup) samples[i - kWarmup] = end - start;
  }
  const uint64_t median = median_of_samples();
  sys::print("BENCH %s median=%lu min=%lu max=%lu overhead=%lu n=%d\n", name, median > overhead ? median - overhead : 0,
             samples[0], samples[kIterations - 1], overhead, kIterations);
  return true;
}

void report(const char* name, uint64_t overhead, uint64_t* v) {
  sort(v, kIterations);
  const uint64_t median = v[kIterations / 2];
  sys::print("BENCH %s median=%lu min=%lu max=%lu overhead=%lu n=%d\n", name, median > overhead ? median - overhead : 0,
             v[0], v[kIterations - 1], overhead, kIterations);
}

uint64_t unmap_samples[kIterations];

// Frame.map (the page table is there) and Frame.unmap of one 4 KiB frame in the runner's space.
void map_unmap(sys::UntypedAllocator& memory, sys::CallTransport& kernel, uint64_t overhead) {
  static sys::CreatedTables tables;
  auto frame = memory.allocate(ObjectType::Frame4k);
  if (!frame.ok()) return error("frame", frame.error());
  if (auto r = sys::map_frame(memory, {tessera::kSlotRootVSpace, *frame, kMapAddress}, &tables); !r.ok()) {
    return error("map_frame", r.error());
  }
  tessera::abi::Frame::Client<sys::CallTransport> client(kernel, *frame);
  for (int i = 0; i < kWarmup + kIterations; ++i) {
    const uint64_t start = rdtsc();
    const auto unmapped = client.unmap();
    const uint64_t middle = rdtsc();
    const auto mapped = client.map(CapRef{tessera::kSlotRootVSpace}, kMapAddress,
                                   tessera::abi::kRightRead | tessera::abi::kRightWrite, tessera::abi::kAttrExecuteNever);
    const uint64_t end = rdtsc();
    if (!unmapped.ok() || !mapped.ok()) return error("Frame.map/unmap", unmapped.ok() ? mapped.error() : unmapped.error());
    if (i >= kWarmup) {
      unmap_samples[i - kWarmup] = middle - start;
      samples[i - kWarmup] = end - middle;
    }
  }
  report("frame_map_4k", overhead, samples);
  report("frame_unmap_4k", overhead, unmap_samples);
  (void)memory.free(*frame);
  (void)sys::free_tables(memory, &tables);
}

void kernel_costs(sys::UntypedAllocator& memory, sys::CallTransport& kernel) {
  for (int i = 0; i < kIterations; ++i) {
    const uint64_t a = rdtsc();
    samples[i] = rdtsc() - a;
  }
  const uint64_t overhead = median_of_samples();
  map_unmap(memory, kernel, overhead);
  auto untyped = memory.allocate(ObjectType::Untyped, 12);
  auto slot = memory.slots().alloc();
  if (!untyped.ok() || !slot.ok()) return error("4 KiB untyped", untyped.ok() ? slot.error() : untyped.error());
  if (time_retype("retype_frame_4k", kernel, *untyped, *slot, ObjectType::Frame4k, 0, overhead)) {
    time_retype("retype_untyped_4k", kernel, *untyped, *slot, ObjectType::Untyped, 12, overhead);
  }
  (void)memory.slots().free(*slot);
  (void)memory.free(*untyped);
}

// Reports the faults the server could not resolve (membench then stops: nothing else will come).
bool take_faults(sys::CallTransport& kernel, sys::CPtr control) {
  tessera::memory::Control::Client<sys::CallTransport> client(kernel, control);
  bool any = false;
  for (;;) {
    auto fault = client.take_fault();
    if (!fault.ok()) return any;
    sys::print("BENCH-ERROR membench faulted: kind %lu at 0x%lx (ip 0x%lx)\n", fault->kind(), fault->address(),
               fault->ip());
    any = true;
    if (!fault->pending()) return any;
  }
}
}  // namespace

void run_memory_benchmarks(const tessera::BootInfo& info) {
  static sys::CallTransport kernel(sys::ipc_buffer());
  static sys::SlotAllocator slots(sys::root_free_slots(info));
  static sys::UntypedAllocator memory(info, kernel, slots);
  kernel_costs(memory, kernel);

  // The memory server, with two 32 MiB untypeds of the runner's memory (less when they are not
  // free: the server keeps some for its own heap; membench's quota needs 24 MiB).
  const init::EmbeddedFile* server_image = init::find_embedded_file("memory");
  const init::EmbeddedFile* program_image = init::find_embedded_file("membench");
  if (server_image == nullptr || program_image == nullptr) return error("embedded images", Error::EmptySlot);
  sys::CPtr untyped[2] = {};
  uint32_t untyped_count = 0;
  for (uint8_t bits = 25; bits >= 23 && untyped_count < 2;) {
    auto handed = memory.allocate(ObjectType::Untyped, bits);
    if (handed.ok()) {
      untyped[untyped_count++] = *handed;
    } else {
      --bits;
    }
  }
  if (untyped_count == 0) return error("untyped for the memory server", Error::NotEnoughMemory);
  memory::LaunchOptions launch;
  launch.untyped = untyped;
  launch.untyped_count = untyped_count;
  static memory::MemoryServer server;
  if (auto r = memory::launch_memory_server(memory, server_image->data, server_image->size, launch, &server); !r.ok()) {
    return error("launch the memory server", r.error());
  }

  // Where membench's exit arrives, and the server's reports of faults it could not resolve (a
  // notification bound to the runner's TCB, signalled through a badged copy).
  auto endpoint = memory.allocate(ObjectType::Endpoint);
  auto events = memory.allocate(ObjectType::Notification);
  auto events_copy = slots.alloc();
  if (!endpoint.ok() || !events.ok() || !events_copy.ok()) return error("endpoint", Error::NotEnoughMemory);
  tessera::abi::Tcb::Client<sys::CallTransport> self(kernel, tessera::kSlotRootTcb);
  tessera::abi::CNode::Client<sys::CallTransport> root(kernel, tessera::kSlotRootCNode);
  tessera::memory::Control::Client<sys::CallTransport> control(kernel, server.control);
  if (auto r = self.bind_notification(CapRef{*events}); !r.ok()) return error("bind", r.error());
  if (auto r = root.mint(*events_copy, sys::kSlotDepth, CapRef{tessera::kSlotRootCNode}, *events, sys::kSlotDepth,
                         tessera::abi::kRightWrite, kEventBadge);
      !r.ok()) {
    return error("mint", r.error());
  }
  if (auto r = control.events(CapRef{*events_copy}); !r.ok()) return error("events", r.error());

  sys::ProcessMemory pager{server.control, kQuota, 1};
  sys::ProcessOptions options;
  options.name = "membench";
  options.memory = &pager;
  options.fault_endpoint = *endpoint;
  options.fault_badge = kProgramBadge;
  auto program = sys::Process::spawn(memory, program_image->data, program_image->size, options);
  if (!program.ok()) return error("spawn membench", program.error());
  for (;;) {
    sys::Received received{};
    if (const Error e = sys::recv(*endpoint, &received); e != Error::Ok) {
      error("receive", e);
      break;
    }
    if ((received.badge & kEventBadge) != 0) {
      if (take_faults(kernel, server.control)) break;
      continue;
    }
    if (received.badge == kProgramBadge && received.info.label == sys::kProcessExitLabel) {
      const int64_t status = static_cast<int64_t>(sys::ipc_buffer()->msg[0]);
      if (status != 0) sys::print("BENCH-ERROR membench exited with status %ld\n", status);
      break;
    }
    if (received.badge == kProgramBadge) {  // a fault the kernel sent here (no pager: not expected)
      sys::print("BENCH-ERROR membench: message %lx on its supervisor endpoint\n", received.info.label);
      break;
    }
  }
  (void)program->destroy();
}
