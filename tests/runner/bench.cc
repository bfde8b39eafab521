// Measurements run by the root task under `bench=NAME` (scripts/bench.d/syscall): each operation is
// timed with rdtsc in user space, 10,000 timed iterations after 1,000 warm-up, median reported.
// Under QEMU `-icount shift=0` one rdtsc tick is one guest instruction.
#include <stdint.h>

#include <tessera/sys/debug.h>
#include <tessera/sys/syscall.h>

#include "bench.h"

namespace {
constexpr int kWarmup = 1000;
constexpr int kIterations = 10000;

inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

uint64_t samples[kIterations];

void sort(uint64_t* v, int n) {  // insertion sort is fine for 10,000 mostly equal values
  for (int i = 1; i < n; ++i) {
    const uint64_t x = v[i];
    int j = i - 1;
    while (j >= 0 && v[j] > x) {
      v[j + 1] = v[j];
      --j;
    }
    v[j + 1] = x;
  }
}

template <typename Op>
void measure(const char* name, Op op) {
  for (int i = 0; i < kWarmup; ++i) op();
  for (int i = 0; i < kIterations; ++i) {
    const uint64_t start = rdtsc();
    op();
    samples[i] = rdtsc() - start;
  }
  // The empty measurement: rdtsc pairs alone, subtracted so figures count the operation only.
  static uint64_t overhead[kIterations];
  for (int i = 0; i < kIterations; ++i) {
    const uint64_t start = rdtsc();
    overhead[i] = rdtsc() - start;
  }
  sort(samples, kIterations);
  sort(overhead, kIterations);
  const uint64_t median = samples[kIterations / 2];
  const uint64_t base = overhead[kIterations / 2];
  tessera::sys::print("BENCH %s median=%lu min=%lu max=%lu overhead=%lu\n", name, median > base ? median - base : 0,
                      samples[0], samples[kIterations - 1], base);
}
}  // namespace

void run_benchmarks(tessera::StringView which) {
  if (which == "syscall" || which == "all") {
    measure("null_syscall", [] { tessera::sys::null_syscall(); });
    measure("yield", [] { tessera::sys::yield(); });
  }
}
