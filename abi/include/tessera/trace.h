// The trace format: the kernel's event records, the per-CPU ring they are written into, and the
// stream the trace server sends out of the machine (docs/tracing.md). Everything here is wire
// format, shared by the kernel, the trace server and the host tool (scripts/trace), and pinned by
// the static_asserts below.
//
// A record is 32 bytes, four little-endian 64-bit words. Byte 0 (the low byte of word 0) is always
// the record's Kind, so a reader can walk any sequence of records; Kind 0 never appears in a valid
// record (a zeroed or torn record is damage). Event records carry a timestamp:
//
//   word 0   kind (8) | TSC ticks (56) << 8     (under QEMU -icount the TSC counts instructions)
//   word 1   thread (32) | object (32) << 32     (thread: trace id of the thread the event is about,
//                                                 0 = the CPU was idle; object: per kind, below)
//   word 2   arg0 (per kind)
//   word 3   arg1 (per kind)
//
// Ids: every TCB, endpoint and notification gets a trace id when it is created (a counter from 1,
// 32 bits, never 0); a Tcb's id is also returned by Tcb.getStats. A CPU's records are in the order
// they happened on that CPU; the ring a record came from names the CPU.
#pragma once

#include <stdint.h>

#include <tessera/string_view.h>

namespace tessera::trace {

constexpr uint32_t kRecordBytes = 32;
constexpr uint32_t kPayloadWordsPerRecord = 3;
// IPC events are followed by at most this many Payload records (the first 12 message words) when
// the Payload category is on.
constexpr uint32_t kMaxPayloadRecords = 4;

enum class Kind : uint8_t {
  Invalid = 0,
  // --- kernel events (category in brackets) ---
  // [Scheduling] this CPU switched threads. thread = the thread now running (0: idle),
  // object = the thread that ran before (0: idle), arg0 = that thread's state then
  // (0 inactive, 1 runnable (preempted or yielded), 2 blocked, 3 faulted), arg1 = 0.
  Switch = 1,
  // [Ipc] a message was sent. thread = sender, object = endpoint id, arg0 = the message info word
  // (label << 12 | caps unwrapped << 9 | extra caps << 7 | length), arg1 = badge of the sender's cap.
  // Call: the sender waits for a reply; Send: Send or NBSend (delivered or queued; an NBSend
  // dropped because nobody waits is not recorded).
  Call = 2,
  Send = 3,
  // [Ipc] a message was received. thread = receiver, object = sender's thread id,
  // arg0 = the info word as delivered, arg1 = endpoint id. Links a Call/Send/FaultMessage to its
  // receive.
  Receive = 4,
  // [Ipc] a reply. thread = the replier, object = the caller's thread id, arg0 = info word (label =
  // the Error of the call), arg1 = 0.
  Reply = 5,
  // [Ipc] a fault message was sent to a fault endpoint. thread = faulting thread, object =
  // endpoint id, arg0 = info word (label = FaultKind), arg1 = 0.
  FaultMessage = 6,
  // [Notifications] thread = signaller (0: the kernel, for an interrupt), object = notification
  // id, arg0 = badge of the cap used, arg1 = the thread woken (0: none, the word was accumulated).
  Signal = 7,
  // [Notifications] a Wait or Poll completed. thread = waiter, object = notification id,
  // arg0 = the word received, arg1 = 0.
  WaitDone = 8,
  // [Interrupts] thread = the thread interrupted (0: idle), object = vector, arg0 = the
  // notification id signalled (0: none), arg1 = 0.
  Interrupt = 9,
  // [Faults] a user fault. thread = faulting thread, object = vector, arg0 = instruction pointer,
  // arg1 = fault address (page faults) or error code.
  Fault = 10,
  // [Syscalls] a system call entered the kernel. thread = caller, object = system call number,
  // arg0 = cptr (rdi), arg1 = info word (rsi).
  Syscall = 11,
  // [Invocations] a kernel object invocation completed. thread = caller, object = the object
  // type (tessera::abi::ObjectType order of microkernel/cap/object_type.h), arg0 = label
  // (interface code << 16 | method), arg1 = the Error it returned.
  Invocation = 12,
  // [Payload] message words of the IPC event (Call, Send, Reply; never FaultMessage) just before
  // it in the same ring: word 0 = kind | chunk (8) << 8 | words recorded (8) << 16, where words
  // recorded = min(message length, 12) (the event's info word has the full length); words 1..3 =
  // message words 3*chunk .. 3*chunk+2 (unused words are 0). No timestamp.
  Payload = 13,
  // [always, when tracing is switched on, a thread is named, or TraceControl.nameThreads] a
  // thread's name and address space: word 0 = kind | space id (24) << 8 | thread id (32) << 32;
  // words 1..3 = the name (24 bytes, NUL-padded). Threads in the same space form one program. In
  // a stream it comes inside a Batch (from the ring); a reader may also accept it outside one.
  ThreadName = 14,

  // --- stream records (written by the trace server, never in a ring) ---
  // First record of a stream: word 0 = kind | version (8) << 8; word 1 = kStreamMagic;
  // word 2 = TSC ticks per second; word 3 = number of CPUs.
  StreamHeader = 0x40,
  // Precedes the records drained from one ring: word 0 = kind | cpu (8) << 8 | count (32) << 32;
  // word 1 = the sequence number of the first record (records ever written to that ring);
  // word 2 = events dropped on that CPU so far (exact, cumulative); word 3 = categories enabled.
  Batch = 0x41,
  // A program's name (from init): word 0 = kind | space id (24) << 8; words 1..3 = name.
  ProgramName = 0x42,
  // The end of a recording (the trace server stopped draining): word 1 = ring records streamed in
  // all (the sum of the Batch counts), word 2 = events dropped in all. A stream without it was cut
  // short.
  End = 0x43,
};

// Categories, a bit set (TraceControl.setCategories).
enum Category : uint32_t {
  kCategoryScheduling = 1u << 0,
  kCategoryIpc = 1u << 1,
  kCategoryNotifications = 1u << 2,
  kCategoryInterrupts = 1u << 3,
  kCategoryFaults = 1u << 4,
  kCategorySyscalls = 1u << 5,
  kCategoryInvocations = 1u << 6,
  kCategoryPayload = 1u << 7,  // message words after IPC events (needs kCategoryIpc)
  kCategoryAll = (1u << 8) - 1,
};

// The categories named by a comma-separated list (`trace=ipc,sched` on the kernel command line):
// sched, ipc, notif, irq, fault, syscall, invoke, payload, all. Returns false for an unknown name.
constexpr bool parse_categories(StringView list, uint32_t* out) {
  constexpr struct {
    const char* name;
    uint32_t bits;
  } kNames[] = {{"sched", kCategoryScheduling}, {"ipc", kCategoryIpc}, {"notif", kCategoryNotifications},
                {"irq", kCategoryInterrupts}, {"fault", kCategoryFaults}, {"syscall", kCategorySyscalls},
                {"invoke", kCategoryInvocations}, {"payload", kCategoryPayload}, {"all", kCategoryAll}};
  uint32_t bits = 0;
  size_t start = 0;
  while (start <= list.size) {
    size_t end = list.find(',', start);
    if (end == StringView::kNotFound) end = list.size;
    const StringView word = list.substr(start, end - start);
    bool known = word.empty();
    for (const auto& n : kNames) {
      if (word.equals(StringView(n.name))) {
        bits |= n.bits;
        known = true;
      }
    }
    if (!known) return false;
    start = end + 1;
  }
  *out = bits;
  return true;
}

constexpr uint64_t kStreamMagic = 0x4543415254535354ull;  // "TSSTRACE" in memory order
constexpr uint8_t kStreamVersion = 1;

struct Record {
  uint64_t word[4];
};
static_assert(sizeof(Record) == kRecordBytes);

constexpr Kind kind_of(const Record& r) { return static_cast<Kind>(r.word[0] & 0xFF); }
constexpr uint64_t timestamp_of(const Record& r) { return r.word[0] >> 8; }
constexpr uint32_t thread_of(const Record& r) { return static_cast<uint32_t>(r.word[1]); }
constexpr uint32_t object_of(const Record& r) { return static_cast<uint32_t>(r.word[1] >> 32); }

// The ring of one CPU, as mapped (read-only) into the trace reader: a header page, then
// `capacity` records. The kernel writes record n (n = records ever written) at slot
// (n - base) % capacity when n - consumed < capacity, and otherwise counts the event as dropped; the reader
// copies records [consumed, written) and then tells the kernel how far it got
// (TraceControl.consume). `written` is stored after the record, so a reader that loads `written`
// first sees whole records.
struct RingHeader {
  uint64_t written;     // records written (free-running)
  uint64_t consumed;    // records the reader has released (free-running)
  uint64_t dropped;     // events lost because the ring was full (exact, cumulative)
  uint64_t capacity;    // records the ring holds now (TraceControl.setCapacity; ≤ max_capacity)
  uint64_t max_capacity;
  uint32_t categories;  // enabled categories
  uint32_t cpu;
  uint64_t tsc_hz;
  uint64_t base;        // `written` when the capacity was last set: record n is in slot (n - base) % capacity
};
static_assert(sizeof(RingHeader) == 64);
constexpr uint64_t kRingHeaderBytes = 4096;  // records start one page in
// Each CPU's ring is one 2 MiB frame (BootInfo.trace_rings): the header page, then up to
// kMaxRingRecords records (TraceControl.setCapacity's largest).
constexpr uint64_t kRingBytes = uint64_t{1} << 21;
constexpr uint32_t kMaxRingRecords = static_cast<uint32_t>((kRingBytes - kRingHeaderBytes) / kRecordBytes);

}  // namespace tessera::trace
