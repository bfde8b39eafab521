// Scaffolding of the TRACE tests (trace_tests.cc): the test process's TraceControl capability
// (slot kSlotTraceControl, given to TRACE tests only by the runner) and a reader of the boot CPU's
// trace ring (BootInfo.trace_rings, mapped read-only), following the protocol of tessera/trace.h:
// records [consumed, written), record n in slot (n - base) % capacity, then TraceControl.consume.
//
// A recording: start(categories) empties the ring (consume up to written) and switches the
// categories on; stop() switches them off again, so nothing more is written and the records of
// the recording stay still while the test looks at them in place (at(i), i < count()). The
// destructor switches tracing off, gives the ring its full capacity again and consumes what is
// left: the kernel's state is shared by every test of the boot.
#pragma once

#include <stdint.h>

#include <tessera/trace.h>

#include "cap_test_env.h"

namespace tracetest {

using namespace captest;
using tessera::trace::Kind;
using tessera::trace::Record;
using tessera::trace::RingHeader;

// Where the ring is mapped (2 MiB aligned, a GiB of its own).
constexpr uint64_t kRingWindow = 0x4000'0000;
// TraceControl methods as raw labels (interface code 15).
constexpr uint64_t kTraceControlInterface = 15;
constexpr uint64_t trace_label(uint64_t method) { return kTraceControlInterface << 16 | method; }

class Trace {
 public:
  explicit Trace(Env& env);
  ~Trace();
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  bool ok() const { return ok_; }
  Client<tessera::abi::TraceControl> control() { return {env_.kernel, tessera::kSlotTraceControl}; }
  CPtr ring_cap() const { return env_.info.trace_rings.start; }
  const volatile RingHeader& header() const { return *reinterpret_cast<const volatile RingHeader*>(kRingWindow); }

  // Empties the ring and switches `categories` on (checked).
  bool start(uint32_t categories);
  // Switches tracing off (checked); the unread records stay in the ring.
  bool stop();
  // The unread records, read in place: [consumed, written) as the header says now.
  uint64_t count() const;
  const Record& at(uint64_t i) const;
  // Releases every unread record (TraceControl.consume up to written; checked).
  bool release();
  // The index of the first record from `from` on of `kind` (and thread, when not 0) that `match`
  // accepts; count() when there is none.
  template <typename Match>
  uint64_t find(uint64_t from, Kind kind, Match match) const {
    for (uint64_t i = from; i < count(); ++i) {
      if (tessera::trace::kind_of(at(i)) == kind && match(at(i))) return i;
    }
    return count();
  }
  uint64_t find(uint64_t from, Kind kind) const {
    return find(from, kind, [](const Record&) { return true; });
  }
  uint64_t count_of(Kind kind) const;
  // Prints the unread records (diagnostics of a failing test).
  void dump(uint64_t from = 0, uint64_t max = 64) const;

 private:
  Env& env_;
  bool ok_ = false;
  bool mapped_ = false;
};

// A thread's trace id (Tcb.getStats); 0 after a failed check.
uint32_t trace_id_of(Env& env, CPtr tcb);

}  // namespace tracetest
