// The kernel's event tracing (docs/tracing.md): one ring of 32-byte records per CPU
// (tessera/trace.h), written by that CPU only, mapped read-only into a trace reader that holds the
// TraceControl capability. The kernel keeps the ring's state here, in the CPU's own memory, and
// only publishes it in the ring's header page: nothing the reader can see or do changes where the
// kernel writes.
//
// Cost: a switched-off category costs one test of `categories` at the call site (and nothing on
// the IPC fastpath, which is chosen once per system call by fastpath_mode, object/fastpath.h); a
// record costs the stores of four words, a TSC read and the ring's bookkeeping.
#pragma once

#include <stdint.h>

#include <tessera/ipc_buffer.h>
#include <tessera/trace.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/syscall_regs.h"

namespace tessera::kernel {

struct Tcb;

namespace tracing {

using tessera::trace::Kind;

// The categories switched on (tessera::trace::Category bits), for every CPU.
extern uint32_t categories;

[[gnu::always_inline]] inline bool on(uint32_t category) { return (categories & category) != 0; }

// A new trace id for a thread, endpoint or notification (never 0).
uint32_t new_id();

// Allocates this CPU's ring (boot, before the root task takes the remaining memory). The ring is
// a 2 MiB frame: a header page, then up to kMaxRecords records (the ABI's, tessera/trace.h).
constexpr uint64_t kRingBytes = trace::kRingBytes;
constexpr uint32_t kMaxRecords = trace::kMaxRingRecords;
constexpr uint32_t kMinRecords = 4;

// True, and the event counted as dropped, when record `n` (= r.written, passed in so that it
// stays in a register) does not fit: the reader has not made room. Otherwise the record goes to
// r.records + r.slot.
[[gnu::always_inline]] inline bool full(TraceRing& r, uint64_t n) {
  if (n >= r.limit) [[unlikely]] {
    ++r.dropped;
    if (r.header != nullptr) r.header->dropped = r.dropped;
    return true;
  }
  return false;
}

// Publishes record `n` (written at r.records + r.slot): the next slot, and `written` in the header.
[[gnu::always_inline]] inline void commit(TraceRing& r, uint64_t n) {
  r.slot = r.slot + 1 == r.capacity ? 0 : r.slot + 1;
  const uint64_t written = n + 1;
  r.written = written;
  // The record before the count: a reader that loads `written` first sees whole records (x86
  // keeps stores in order; the barrier keeps the compiler from reordering them).
  asm volatile("" : : : "memory");
  r.header->written = written;
}

// Appends one record to this CPU's ring, or counts it as dropped when the reader has not made
// room. `tsc` is the event's time (callers that read the TSC anyway pass it on).
[[gnu::always_inline]] inline void emit(Cpu& cpu, Kind kind, uint64_t tsc, uint32_t thread, uint32_t object,
                                        uint64_t arg0, uint64_t arg1) {
  TraceRing& r = cpu.trace;
  const uint64_t n = r.written;
  if (full(r, n)) return;
  trace::Record* record = r.records + r.slot;
  record->word[0] = (tsc << 8) | static_cast<uint8_t>(kind);
  record->word[1] = thread | (static_cast<uint64_t>(object) << 32);
  record->word[2] = arg0;
  record->word[3] = arg1;
  commit(r, n);
}
[[gnu::always_inline]] inline void emit(Cpu& cpu, Kind kind, uint32_t thread, uint32_t object, uint64_t arg0,
                                        uint64_t arg1) {
  emit(cpu, kind, x86::rdtsc(), thread, object, arg0, arg1);
}

// Payload records for the IPC event just emitted: the first `count` of `words` (at most
// trace::kMaxPayloadRecords * 3), when the Payload category is on.
void emit_payload(Cpu& cpu, const uint64_t* words, uint32_t count);
// The message in `regs` (words 0-3) and `buffer` (the rest; may be null), as payload records.
void emit_message_payload(Cpu& cpu, const SyscallRegs& regs, const IpcBuffer* buffer, uint64_t info_word);

// A thread's name record (ThreadName), when tracing is on.
void emit_thread_name(Cpu& cpu, Tcb* t);

// Every live thread, for name records: gives `t` its trace id and lists it / takes it off.
void thread_created(Tcb* t);
void thread_destroyed(Tcb* t);
// A ThreadName record for every live thread; returns how many.
uint32_t name_all_threads(Cpu& cpu);
// Copies the ring's state into its header page (after the kernel changed more than `written`).
void publish(Cpu& cpu);

// Sets up this CPU's ring in the 2 MiB frame at `ring_phys` (0: this CPU traces nothing).
void init_ring(Cpu& cpu, uint64_t ring_phys);
// Physical address of CPU `index`'s ring (0: none).
uint64_t ring_phys(uint32_t index);

}  // namespace tracing
}  // namespace tessera::kernel
