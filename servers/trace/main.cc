// trace: the trace server (docs/tracing.md). Drains the kernel's event ring and streams it out of
// the machine through QEMU's debugcon (I/O port 0xe9; `-debugcon file:PATH`), in the stream format
// of tessera/trace.h: a StreamHeader, then for each drain a Batch record followed by the ring's
// records, and an End record when it stops. scripts/trace records and converts the stream.
//
// The ring's records never pass through this program: IoPort.writeFrame sends them to the port
// straight from the read-only ring frame, so draining costs two invocations per contiguous piece
// of the ring and nothing per record. Only the Batch/StreamHeader/End records are written here.
//
// Started by init only when the kernel command line has `trace=CATEGORIES` (the kernel switched
// them on at boot); `trace_ms=N` stops it after N ms of this program's run, else it drains until
// the machine stops. Granted: trace:tracing (TraceControl), trace:tracering (the ring of CPU 0),
// ioports:debugcon, endpoint:timer (it sleeps between drains).
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/cmdline.h>
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/timer.h>
#include <tessera/trace.h>

namespace {
namespace sys = tessera::sys;
namespace trace = tessera::trace;
using tessera::Error;
using tessera::Result;

constexpr uint16_t kDebugconPort = 0xE9;
constexpr uint64_t kDrainPeriodNs = 2'000'000;  // 2 ms

class Streamer {
 public:
  Streamer(sys::CallTransport& kernel, sys::CPtr control, sys::CPtr ring, sys::CPtr port, sys::CPtr scratch_frame,
           trace::Record* scratch)
      : control_(kernel, control), port_(kernel, port), ring_(ring), scratch_frame_(scratch_frame), scratch_(scratch) {}

  // A record of this program's own (StreamHeader, Batch, End): through the scratch page.
  Result<void> put(const trace::Record& r) {
    *scratch_ = r;
    return port_.write_frame(kDebugconPort, tessera::capnp::CapRef{scratch_frame_}, 0, trace::kRecordBytes);
  }

  Result<void> header(uint64_t tsc_hz) {
    return put(trace::Record{{static_cast<uint64_t>(trace::Kind::StreamHeader) | (uint64_t{trace::kStreamVersion} << 8),
                              trace::kStreamMagic, tsc_hz, 1}});
  }

  // Sends every record written since the last drain, as Batches of contiguous pieces of the ring.
  Result<void> drain() {
    auto s = TRY(control_.status(0));
    if (s.capacity() == 0) return Error::NotSupported;  // the kernel had no memory for a ring
    uint64_t next = s.consumed();
    const uint64_t written = s.written();
    while (next < written) {
      const uint64_t slot = (next - s.base()) % s.capacity();
      uint64_t count = written - next;
      if (count > s.capacity() - slot) count = s.capacity() - slot;  // up to the ring's end
      constexpr uint64_t kMaxRecordsPerWrite = tessera::abi::kMaxWriteFrameBytes / trace::kRecordBytes;
      if (count > kMaxRecordsPerWrite) count = kMaxRecordsPerWrite;
      TRY(put(trace::Record{{static_cast<uint64_t>(trace::Kind::Batch) | (count << 32), next, s.dropped(),
                             s.categories()}}));
      TRY(port_.write_frame(kDebugconPort, tessera::capnp::CapRef{ring_}, trace::kRingHeaderBytes + slot * trace::kRecordBytes,
                            static_cast<uint32_t>(count * trace::kRecordBytes)));
      next += count;
      streamed_ += count;
    }
    dropped_ = s.dropped();
    if (next != s.consumed()) TRY(control_.consume(0, next));
    return {};
  }

  Result<void> end() {
    return put(trace::Record{{static_cast<uint64_t>(trace::Kind::End), streamed_, dropped_, 0}});
  }

  tessera::abi::TraceControl::Client<sys::CallTransport>& control() { return control_; }

 private:
  tessera::abi::TraceControl::Client<sys::CallTransport> control_;
  tessera::abi::IoPort::Client<sys::CallTransport> port_;
  sys::CPtr ring_;
  sys::CPtr scratch_frame_;
  trace::Record* scratch_;
  uint64_t streamed_ = 0;
  uint64_t dropped_ = 0;
};

Result<int> run(const sys::StartupBlock& block, sys::SlotAllocator& slots) {
  tessera::CommandLine words(tessera::StringView(block.argument));
  uint32_t categories = 0;
  tessera::StringView list;
  if (!words.get(tessera::StringView("trace"), &list) || !trace::parse_categories(list, &categories)) {
    sys::print("trace: no trace=CATEGORIES in the argument (%s)\n", block.argument);
    return 1;
  }
  const Result<uint64_t> limit_ms = words.get_u64(tessera::StringView("trace_ms"));
  const sys::CPtr control = TRY(sys::find_grant(block, "trace:tracing"));
  const sys::CPtr ring = TRY(sys::find_grant(block, "trace:tracering"));
  const sys::CPtr port = TRY(sys::find_grant(block, "ioports:debugcon"));
  const sys::CPtr timer_endpoint = TRY(sys::find_grant(block, "endpoint:timer"));

  static sys::MemorySession session(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  static sys::Region scratch = TRY(sys::Region::create(session, 4096, sys::RegionOptions{.eager = true}));
  auto* scratch_records = reinterpret_cast<trace::Record*>(
      TRY(scratch.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite)));
  const sys::CPtr scratch_frame = TRY(scratch.frame(0));
  static sys::TimerClient timer = TRY(sys::TimerClient::open(session, timer_endpoint));

  sys::CallTransport kernel(sys::ipc_buffer());
  Streamer out(kernel, control, ring, port, scratch_frame, scratch_records);
  TRY(out.header(sys::tsc_hz()));
  // The kernel switched the categories on at boot (trace= on its command line); name every
  // thread that exists now, so the stream can name the threads its records mention.
  (void)out.control().set_categories(categories);
  TRY(out.control().name_threads());
  sys::print("trace: streaming to port 0xe9 (categories 0x%x%s)\n", categories, limit_ms.ok() ? ", timed" : "");
  const uint64_t start = sys::now_ns();
  for (;;) {
    TRY(out.drain());
    if (limit_ms.ok() && sys::now_ns() - start >= limit_ms.value() * 1'000'000) break;
    TRY(timer.sleep_ns(kDrainPeriodNs));
  }
  TRY(out.control().set_categories(0));
  TRY(out.drain());
  TRY(out.end());
  sys::print("trace: stopped after %lu ms\n", limit_ms.value());
  return 0;
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  static sys::SlotAllocator slots(block->empty);
  const Result<int> r = run(*block, slots);
  if (!r.ok()) {
    sys::print("trace: %s\n", tessera::error_name(r.error()));
    return 2;
  }
  return r.value();
}
