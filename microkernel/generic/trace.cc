#include "generic/trace.h"

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>
#include <tessera/string.h>

#include "arch/x86_64/timer.h"
#include "generic/kernel_layout.h"
#include "object/tcb.h"
#include "object/vspace.h"

namespace tessera::kernel::tracing {
namespace {

constinit uint32_t next_id = 1;
// Every live thread, through Tcb::all_next/all_prev (for nameThreads).
constinit Tcb* all_threads = nullptr;
// What a CPU without a ring points at: its counts still have somewhere to go.
constinit trace::RingHeader no_ring_header{};
constinit uint64_t ring_frames[kMaxCpus] = {};

uint32_t space_of(const Tcb* t) {
  if (t->vspace_root == 0) return 0;
  auto id = vspace::space_id(t->vspace_root);
  return id ? static_cast<uint32_t>(id->asid & 0xFFFFFF) : 0;
}
}  // namespace

constinit uint32_t categories = 0;

uint32_t new_id() {
  // Ids wrap after 2^32 objects; 0 stays "nobody".
  uint32_t id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
  if (id == 0) id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
  return id;
}

void emit_payload(Cpu& cpu, const uint64_t* words, uint32_t count) {
  constexpr uint32_t kMax = trace::kMaxPayloadRecords * trace::kPayloadWordsPerRecord;
  if (count > kMax) count = kMax;
  for (uint32_t chunk = 0; chunk * trace::kPayloadWordsPerRecord < count; ++chunk) {
    uint64_t w[3] = {};
    for (uint32_t i = 0; i < 3 && chunk * 3 + i < count; ++i) w[i] = words[chunk * 3 + i];
    // Payload records have no timestamp: word 0 holds the chunk number and the count.
    const uint64_t n = cpu.trace.written;
    if (full(cpu.trace, n)) continue;
    trace::Record* record = cpu.trace.records + cpu.trace.slot;
    record->word[0] = static_cast<uint8_t>(Kind::Payload) | (uint64_t{chunk} << 8) | (uint64_t{count} << 16);
    record->word[1] = w[0];
    record->word[2] = w[1];
    record->word[3] = w[2];
    commit(cpu.trace, n);
  }
}

void emit_message_payload(Cpu& cpu, const SyscallRegs& regs, const IpcBuffer* buffer, uint64_t info_word) {
  constexpr uint32_t kMax = trace::kMaxPayloadRecords * trace::kPayloadWordsPerRecord;
  uint32_t length = capnp::MessageInfo::decode(info_word).length_words;
  if (length > kMax) length = kMax;
  uint64_t words[kMax];
  for (uint32_t i = 0; i < length; ++i) {
    if (i < kMessageRegisters) words[i] = regs.mr(i);
    else words[i] = buffer != nullptr ? buffer->msg[i] : 0;
  }
  emit_payload(cpu, words, length);
}

void emit_thread_name(Cpu& cpu, Tcb* t) {
  const uint64_t n = cpu.trace.written;
  if (full(cpu.trace, n)) return;
  trace::Record* record = cpu.trace.records + cpu.trace.slot;
  record->word[0] = static_cast<uint8_t>(Kind::ThreadName) | (uint64_t{space_of(t)} << 8) |
                    (uint64_t{t->trace_id} << 32);
  uint64_t name[3] = {};
  memcpy(name, t->name, sizeof(t->name) < sizeof(name) ? sizeof(t->name) : sizeof(name));
  record->word[1] = name[0];
  record->word[2] = name[1];
  record->word[3] = name[2];
  commit(cpu.trace, n);
}

void thread_created(Tcb* t) {
  t->trace_id = new_id();
  t->all_prev = nullptr;
  t->all_next = all_threads;
  if (all_threads != nullptr) all_threads->all_prev = t;
  all_threads = t;
}

void thread_destroyed(Tcb* t) {
  if (t->all_prev != nullptr) t->all_prev->all_next = t->all_next;
  else if (all_threads == t) all_threads = t->all_next;
  if (t->all_next != nullptr) t->all_next->all_prev = t->all_prev;
  t->all_next = t->all_prev = nullptr;
}

uint32_t name_all_threads(Cpu& cpu) {
  uint32_t count = 0;
  for (Tcb* t = all_threads; t != nullptr; t = t->all_next) {
    emit_thread_name(cpu, t);
    ++count;
  }
  return count;
}

void init_ring(Cpu& cpu, uint64_t ring_phys) {
  TraceRing& r = cpu.trace;
  r = TraceRing{};
  r.header = &no_ring_header;
  if (ring_phys == 0) return;
  auto* base = static_cast<uint8_t*>(layout::phys_to_virt(ring_phys));
  memset(base, 0, kRingBytes);
  r.phys = ring_phys;
  r.header = reinterpret_cast<trace::RingHeader*>(base);
  r.records = reinterpret_cast<trace::Record*>(base + trace::kRingHeaderBytes);
  r.capacity = kMaxRecords;
  r.limit = kMaxRecords;
  r.header->capacity = kMaxRecords;
  r.header->max_capacity = kMaxRecords;
  r.header->cpu = cpu.index;
  r.header->tsc_hz = timer::tsc_per_second();
  // Categories switched on by `trace=` on the command line were set before the ring existed: the
  // header must say so from the start (a reader checks what it is recording).
  r.header->categories = categories;
  if (cpu.index < kMaxCpus) ring_frames[cpu.index] = ring_phys;
}

uint64_t ring_phys(uint32_t index) { return index < kMaxCpus ? ring_frames[index] : 0; }

void publish(Cpu& cpu) {
  TraceRing& r = cpu.trace;
  r.header->written = r.written;
  r.header->consumed = r.consumed;
  r.header->dropped = r.dropped;
  r.header->capacity = r.capacity;
  r.header->base = r.base;
  r.header->categories = categories;
}

}  // namespace tessera::kernel::tracing
