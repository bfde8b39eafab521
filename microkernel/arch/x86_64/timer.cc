#include "arch/x86_64/timer.h"

#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/pit.h"
#include "arch/x86_64/trap.h"

namespace tessera::kernel::timer {
namespace {
uint64_t lapic_rate = 0;
uint64_t tsc_rate = 0;
bool handler_installed = false;

void on_tick(TrapFrame&, void*) { ++this_cpu().ticks; }
}  // namespace

uint64_t calibrate(uint32_t window_ms) {
  if (window_ms == 0) window_ms = 1;
  const uint64_t window_ticks = static_cast<uint64_t>(window_ms) * pit::kFrequencyHz / 1000;
  apic::timer_start_one_shot_masked(0xFFFFFFFFu);
  pit::Stopwatch watch;
  const uint32_t start = apic::timer_current_count();
  const uint64_t tsc_start = x86::rdtsc();
  uint64_t elapsed = 0;
  while ((elapsed = watch.elapsed_ticks()) < window_ticks) x86::pause();
  const uint32_t end = apic::timer_current_count();
  const uint64_t tsc_end = x86::rdtsc();
  apic::timer_stop();
  tsc_rate = (tsc_end - tsc_start) * pit::kFrequencyHz / elapsed;
  lapic_rate = static_cast<uint64_t>(start - end) * pit::kFrequencyHz / elapsed;
  return lapic_rate;
}

uint64_t lapic_ticks_per_second() { return lapic_rate; }
uint64_t tsc_per_second() { return tsc_rate; }

void start_periodic(uint32_t hz) {
  if (!handler_installed) {
    handler_installed = register_interrupt(vectors::kLapicTimer, on_tick, nullptr);
  }
  if (hz == 0 || lapic_rate == 0) return;
  const uint64_t count = lapic_rate / hz;
  apic::timer_start_periodic(vectors::kLapicTimer, static_cast<uint32_t>(count == 0 ? 1 : count));
}

void stop() { apic::timer_stop(); }
uint64_t ticks() { return this_cpu().ticks; }

}  // namespace tessera::kernel::timer
