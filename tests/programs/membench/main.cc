// membench: the memory server's costs as a program sees them (`bench=memory`, started by the test
// runner's tests/runner/bench_memory.cc with ProcessOptions::memory, so the memory server is its
// pager). Each operation is timed with rdtsc in user space, 10,000 timed iterations after 1,000
// warm-up, median with the rdtsc overhead subtracted (as tests/runner/bench_ipc.cc), and printed
// as a BENCH line. What each case times is listed in scripts/bench.d/memory.
#include <stddef.h>
#include <stdint.h>

#include <tessera/abi/memory.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace {
namespace sys = tessera::sys;
namespace mem = tessera::memory;
using tessera::Error;
using tessera::Result;

constexpr int kWarmup = 1000;
constexpr int kIterations = 10000;
// Eager 2 MiB regions: the kernel clears 2 MiB per iteration (2 million counted instructions).
constexpr int kEagerLargeWarmup = 10;
constexpr int kEagerLargeIterations = 100;
// First touches: a fresh lazy region of this many pages per batch; the first batch is the warm-up.
constexpr uint64_t kBatchPages = 1000;
constexpr uint64_t kPage = mem::kPageBytes;
constexpr uint8_t kReadWrite = mem::kRightRead | mem::kRightWrite;

[[gnu::always_inline]] inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

uint64_t samples[kIterations];
uint64_t second_samples[kIterations];
uint64_t overhead = 0;
bool failed = false;

void sort(uint64_t* v, int n) {
  for (int gap = n / 2; gap > 0; gap /= 2) {  // Shell sort: quick enough for 10,000 values
    for (int i = gap; i < n; ++i) {
      const uint64_t x = v[i];
      int j = i;
      for (; j >= gap && v[j - gap] > x; j -= gap) v[j] = v[j - gap];
      v[j] = x;
    }
  }
}

void report(const char* name, uint64_t* v, int n) {
  sort(v, n);
  const uint64_t median = v[n / 2];
  sys::print("BENCH %s median=%lu min=%lu max=%lu overhead=%lu n=%d\n", name, median > overhead ? median - overhead : 0,
             v[0], v[n - 1], overhead, n);
}

bool fail(const char* what, Error e) {
  sys::print("BENCH-ERROR membench: %s: error %u\n", what, static_cast<unsigned>(e));
  failed = true;
  return false;
}

uint64_t rdtsc_overhead() {
  for (int i = 0; i < kIterations; ++i) {
    const uint64_t a = rdtsc();
    samples[i] = rdtsc() - a;
  }
  sort(samples, kIterations);
  return samples[kIterations / 2];
}

// Times `op` (returns false on an error, which ends the case).
template <typename Op>
bool measure(const char* name, int warmup, int iterations, Op op) {
  for (int i = 0; i < warmup + iterations; ++i) {
    const uint64_t start = rdtsc();
    if (!op()) return false;
    const uint64_t end = rdtsc();
    if (i >= warmup) samples[i - warmup] = end - start;
  }
  report(name, samples, iterations);
  return true;
}

// first_touch_fault_4k and second_touch_4k: one store per page of a fresh lazy region (fault,
// pager, frame, map, reply, the store again), then one more store per page (mapped: no fault).
bool touches(sys::MemorySession& session) {
  int first = 0, second = 0;
  for (uint64_t batch = 0; first < kIterations; ++batch) {
    auto region = sys::Region::create(session, kBatchPages * kPage);
    if (!region.ok()) return fail("createRegion (lazy)", region.error());
    auto base = region->attach(kReadWrite);
    if (!base.ok()) return fail("attach", base.error());
    for (uint64_t p = 0; p < kBatchPages; ++p) {
      volatile uint64_t* word = reinterpret_cast<volatile uint64_t*>(*base + p * kPage);
      const uint64_t start = rdtsc();
      *word = p;
      const uint64_t end = rdtsc();
      if (batch > 0 && first < kIterations) samples[first++] = end - start;
    }
    for (uint64_t p = 0; p < kBatchPages; ++p) {
      volatile uint64_t* word = reinterpret_cast<volatile uint64_t*>(*base + p * kPage + 8);
      const uint64_t start = rdtsc();
      *word = p;
      const uint64_t end = rdtsc();
      if (batch > 0 && second < kIterations) second_samples[second++] = end - start;
    }
    if (auto r = region->release(); !r.ok()) return fail("release", r.error());
  }
  report("first_touch_fault_4k", samples, kIterations);
  report("second_touch_4k", second_samples, kIterations);
  return true;
}

// The kernel's clear loop run in user space: the same memset (shared/string.cc: rep stosq, then rep stosb for a tail) over
// one mapped 4 KiB page.
bool clear_page(sys::MemorySession& session) {
  auto region = sys::Region::create(session, kPage, sys::RegionOptions{mem::PageSize::Small, true});
  if (!region.ok()) return fail("createRegion (eager)", region.error());
  auto base = region->attach(kReadWrite);
  if (!base.ok()) return fail("attach", base.error());
  void* (*volatile clear)(void*, int, size_t) = memset;  // a call, as the kernel's zero hook makes
  uint8_t* page = *base;
  const bool ok = measure("clear_4k_memset", kWarmup, kIterations, [&] {
    clear(page, 0, kPage);
    return true;
  });
  if (auto r = region->release(); !r.ok()) return fail("release", r.error());
  return ok;
}

bool attach_detach(sys::MemorySession& session) {
  auto region = sys::Region::create(session, kPage, sys::RegionOptions{mem::PageSize::Small, true});
  if (!region.ok()) return fail("createRegion (eager)", region.error());
  const sys::CPtr cap = region->cap();
  // The pair, then each half on its own (the halves' medians need not add up to the pair's).
  bool ok = measure("attach_detach_4k", kWarmup, kIterations, [&] {
    auto address = session.attach(cap, 0, kReadWrite);
    if (!address.ok()) return fail("attach", address.error());
    if (auto r = session.detach(*address); !r.ok()) return fail("detach", r.error());
    return true;
  });
  int n = 0;
  for (int i = 0; ok && i < kWarmup + kIterations; ++i) {
    const uint64_t start = rdtsc();
    auto address = session.attach(cap, 0, kReadWrite);
    const uint64_t middle = rdtsc();
    if (!address.ok()) return fail("attach", address.error());
    auto r = session.detach(*address);
    const uint64_t end = rdtsc();
    if (!r.ok()) return fail("detach", r.error());
    if (i >= kWarmup) {
      samples[n] = middle - start;
      second_samples[n++] = end - middle;
    }
  }
  if (ok) {
    report("attach_4k", samples, kIterations);
    report("detach_4k", second_samples, kIterations);
  }
  if (auto r = region->release(); !r.ok()) return fail("release", r.error());
  return ok;
}

// A region's whole life, as mmap + munmap: createRegion (lazy 4 KiB) + attach [+ one store] + release.
bool lifecycle(sys::MemorySession& session, const char* name, bool touch) {
  return measure(name, kWarmup, kIterations, [&] {
    auto region = sys::Region::create(session, kPage);
    if (!region.ok()) return fail("createRegion", region.error());
    auto base = region->attach(kReadWrite);
    if (!base.ok()) return fail("attach", base.error());
    if (touch) *reinterpret_cast<volatile uint64_t*>(*base) = 1;
    if (auto r = region->release(); !r.ok()) return fail("release", r.error());
    return true;
  });
}

bool create_release(sys::MemorySession& session, const char* name, bool eager, int warmup, int iterations) {
  return measure(name, warmup, iterations, [&] {
    auto region = sys::Region::create(session, mem::kLargePageBytes, sys::RegionOptions{mem::PageSize::Large, eager});
    if (!region.ok()) return fail("createRegion (2 MiB)", region.error());
    if (auto r = region->release(); !r.ok()) return fail("release", r.error());
    return true;
  });
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  sys::MemorySession* session = sys::process_memory();
  if (block == nullptr || session == nullptr) {
    sys::print("BENCH-ERROR membench: started without a memory session\n");
    return 1;
  }
  overhead = rdtsc_overhead();
  touches(*session);
  clear_page(*session);
  attach_detach(*session);
  lifecycle(*session, "map_unmap_4k_untouched", false);
  lifecycle(*session, "map_touch_unmap_4k", true);
  create_release(*session, "region_create_2m", false, kWarmup, kIterations);
  create_release(*session, "region_create_2m_eager", true, kEagerLargeWarmup, kEagerLargeIterations);
  return failed ? 1 : 0;
}
