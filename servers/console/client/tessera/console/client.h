// The console client library (servers/console/client): how a program prints to and reads from the
// system console through the console driver (abi/console.capnp, docs/drivers.md) instead of the
// kernel's debug write (which stays for early boot and panics).
//
//   tessera::console::ConsoleClient out;
//   TRY(out.open(session, slots, TRY(sys::find_grant(*block, "endpoint:console"))));
//   out.printf("kv: %u keys\n", n);          // queued in the shared data area, returns at once
//   char line[128];
//   const size_t n = TRY(out.read_line(line, sizeof(line)));   // an edited line, '\n' included
//   TRY(out.flush());                         // every byte written so far has left the driver
//
// Output is buffered in the shared data area: write() copies the bytes there and pushes one
// request (the driver never splits one request with another client's output, so write a whole
// line at a time), and waits only when the write half of the data area or the ring is full. A
// request's completion means the driver has the bytes; flush() waits for those and then for
// the driver's transmit buffer to drain. Reads are one at a time (read_line in line mode, read in
// raw mode: whatever bytes have arrived, unechoed).
//
// A restarted driver: when the doorbell cannot be signalled (the old driver's notification is
// gone) or a control call fails because the driver ended, the library opens a new session (the
// restarted driver answers; the call waits until init has started it) and resubmits the writes
// that had not completed. A read waiting when the driver ends stays blocked (nothing tells the
// library: its notification is its own) until the next write notices the restart.
//
// Not thread-safe: one thread per client.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/abi/console.capnp.h>
#include <tessera/result.h>
#include <tessera/ring.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/ring.h>

namespace tessera::console {

class ConsoleClient {
 public:
  // The data area's split: writes use [0, kWriteBytes), the read buffer the rest.
  static constexpr uint32_t kWriteBytes = 12288;
  static constexpr uint32_t kReadBytes = kDataBytes - kWriteBytes;
  static constexpr uint32_t kMaxWrites = 16;  // writes outstanding at once (of the ring's 32 slots)

  ConsoleClient() = default;
  ConsoleClient(const ConsoleClient&) = delete;
  ConsoleClient& operator=(const ConsoleClient&) = delete;

  // Opens a session on the driver's `endpoint` (write + grant rights). The region capability and
  // the doorbell arrive in slots of `slots` (of `cnode`); the notification the driver signals is
  // made from `session`. A session of this client's badge left open (a previous instance of the
  // program) is closed and opened anew.
  Result<void> open(sys::MemorySession& session, sys::SlotAllocator& slots, sys::CPtr endpoint,
                    sys::CPtr cnode = sys::kProcessSlotCNode);
  bool is_open() const { return base_ != nullptr; }

  // Queues `length` bytes (one request per kWriteBytes; with LF -> CR LF, one per 2 KiB).
  // Returns when they are in the data area.
  Result<void> write(const void* bytes, size_t length);
  // Whether write() turns a LF (not after a CR) into CR LF, as the kernel's debug write does
  // (default on: terminals in raw mode, like QEMU's stdio, need the CR).
  void set_crlf(bool on) { crlf_ = on; }
  Result<void> write(const char* text);
  // Formats (tessera/format.h, at most 1 KiB) and writes it as one request.
  Result<void> printf(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // Waits until every write has completed and the driver has handed every byte to the UART.
  Result<void> flush();

  // Line mode (the default): one edited line ('\n' included; at most capacity - 1 bytes, NUL
  // added). Raw mode: the bytes that arrived (at least one), unechoed, unedited; no NUL added.
  Result<size_t> read_line(char* out, size_t capacity);
  Result<size_t> read(void* out, size_t capacity);
  Result<void> set_raw(bool raw);
  bool raw() const { return raw_; }

  // Ends the session (outstanding writes are waited for first).
  Result<void> close();

  uint64_t reopens() const { return reopens_; }
  sys::CPtr endpoint() const { return endpoint_; }

 private:
  struct Pending {
    uint64_t cookie = 0;
    uint32_t offset = 0, length = 0;
  };
  Result<void> attach();
  Result<void> adopt(sys::CPtr region_cap);
  Result<void> reopen();
  Result<sys::CPtr> receive_cap(bool doorbell);
  Result<uint64_t> submit(uint32_t offset, uint32_t length, uint16_t opcode);
  Result<void> ring_doorbell();
  // Takes completions until `cookie` has completed (0: until no write is outstanding).
  Result<RingDescriptor> await(uint64_t cookie);
  void reap(const RingDescriptor& d);
  Result<void> wait_for_room(uint32_t length);
  Result<void> write_raw(const void* bytes, size_t length);

  sys::MemorySession* session_ = nullptr;
  sys::SlotAllocator* slots_ = nullptr;
  sys::CPtr cnode_ = 0;
  sys::CPtr endpoint_ = 0;
  sys::CPtr notify_ = 0;
  sys::CPtr doorbell_ = 0;
  sys::Region region_;
  uint8_t* base_ = nullptr;
  sys::DataArea data_;
  sys::RingProducer requests_;
  sys::RingConsumer completions_;
  uint64_t next_cookie_ = 0;
  uint32_t write_offset_ = 0;  // where the next write goes in [0, kWriteBytes)
  Pending writes_[kMaxWrites];
  uint32_t write_count_ = 0;   // outstanding, oldest first
  uint64_t read_cookie_ = 0;   // the read outstanding (0: none)
  RingDescriptor read_done_{};
  bool read_completed_ = false;
  bool raw_ = false;
  bool crlf_ = true;
  uint64_t reopens_ = 0;
};

}  // namespace tessera::console
