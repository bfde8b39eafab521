// console: the COM1 driver and the system's console (protocol abi/console.capnp, docs/drivers.md).
//
// Two threads share the state below under one mutex:
// - the control thread (main) serves Console on "endpoint:console": open, doorbell, setMode,
//   status, close;
// - the worker waits on one notification, `work`, whose word says what happened: the UART's
//   interrupt (bit 0), a keyboard event ring (bit 1) or a client's doorbell (bit 2 + client). It
//   drives the UART (RDA and THRE interrupts, FIFOs on), moves client output from the shared data
//   areas into a private transmit buffer, edits input lines (echo, backspace) and completes reads.
//
// Nothing a client writes in its region is trusted: the ring views check every index and
// descriptor; a client whose completion ring has no room is not read from until it has (its
// requests wait in its own ring), so it cannot stall the driver or the other clients.
#include <stdint.h>

#include <tessera/abi/console.capnp.h>
#include <tessera/abi/kernel.capnp.h>
#include <tessera/abi/keyboard.capnp.h>
#include <tessera/ring.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/device.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/ring.h>
#include <tessera/sys/server.h>
#include <tessera/sys/sync.h>

namespace {
namespace sys = tessera::sys;
namespace con = tessera::console;
using tessera::Error;
using tessera::LockGuard;
using tessera::Result;
using tessera::RingDescriptor;
using Console = con::Console;

// ---- The UART (a 16550A at 0x3F8) ------------------------------------------------------------------
constexpr uint16_t kCom1 = 0x3F8;
constexpr uint16_t kData = 0, kInterruptEnable = 1, kInterruptId = 2, kFifoControl = 2,
                   kModemControl = 4, kLineStatus = 5, kModemStatus = 6;
constexpr uint8_t kIerReceive = 0x01, kIerTransmit = 0x02, kIerLineStatus = 0x04;
constexpr uint8_t kLsrDataReady = 0x01, kLsrTransmitEmpty = 0x20;
constexpr uint32_t kFifoBytes = 16;

// ---- Notification badges of `work` ---------------------------------------------------------------
constexpr uint64_t kIrqBit = 1u << 0;
constexpr uint64_t kKeyboardBit = 1u << 1;
constexpr uint32_t kClientBitShift = 2;

constexpr uint32_t kMaxClients = con::kMaxClients;
constexpr auto kLayout = tessera::ring_pair_layout(con::kRingSlots, con::kDataBytes);
constexpr uint32_t kMaxReadsPerClient = 4;
constexpr uint32_t kTxBytes = 32768;   // more than a client's whole data area: every write fits
constexpr uint32_t kReadyBytes = 2048; // input edited and waiting for readers
constexpr uint32_t kLineBytes = 256;

struct Client {
  bool open = false;
  bool broken = false;     // its ring was corrupted: ignored until its next call revokes it
  uint64_t badge = 0;
  sys::Region region;      // the driver's (creator's) capability
  sys::Region shared;      // the capability handed to the client (kept to revoke)
  sys::CPtr notify = 0;    // the client's notification
  sys::CPtr doorbell = 0;  // the badged copy of `work` handed out (0: none yet)
  sys::DataArea data;
  sys::RingConsumer requests;
  sys::RingProducer completions;
  bool raw = false;
  bool stalled = false;    // `pending` waits: a write for room, a flush for the transmit buffer to drain
  RingDescriptor pending{};
  bool held = false;       // its completion ring had no room: not read from
  uint32_t reads = 0;      // reads of this client in the read queue
  uint64_t written = 0, read = 0, refused = 0;
};

struct PendingRead {
  uint32_t client;
  RingDescriptor request;
};

// ---- State (the mutex guards everything below) --------------------------------------------------
sys::SlotAllocator* slots = nullptr;
sys::MemorySession session;
sys::IoPorts uart;
sys::Interrupt irq;
sys::CPtr work = 0;
constinit sys::Mutex* lock = nullptr;
Client clients[kMaxClients];
PendingRead reads[kMaxClients * kMaxReadsPerClient];
uint32_t read_count = 0;
uint8_t tx[kTxBytes];
uint32_t tx_head = 0, tx_tail = 0;  // free-running: bytes queued / bytes handed to the UART
uint8_t ready[kReadyBytes];
uint32_t ready_head = 0, ready_tail = 0;
char line[kLineBytes];
uint32_t line_length = 0;
bool last_was_cr = false;
// The client that last asked for input (a read or setMode): its mode is the console's input mode.
uint32_t foreground = kMaxClients;
uint64_t dropped_input = 0;
uint8_t ier = 0;
// The keyboard (servers/kbd), when one is granted and answered. The keyboard thread subscribes
// again when kbd's watch notification says that driver instance ended.
bool have_keyboard = false;
sys::Region keyboard_region;
sys::RingConsumer keyboard_events;
sys::CPtr keyboard_watch = 0;        // kbd's Keyboard.watch notification (read-only copy)
uint64_t keyboard_subscriptions = 0;
bool test_mode = false;              // arg=test: Console.crash faults on purpose
sys::CPtr watch_copy = 0;            // Console.watch: read-only copy of a notification of ours

uint8_t in(uint16_t reg) { return uart.in8(static_cast<uint16_t>(kCom1 + reg)).value_or(0); }
void out(uint16_t reg, uint8_t value) { (void)uart.out8(static_cast<uint16_t>(kCom1 + reg), value); }

uint32_t tx_used() { return tx_head - tx_tail; }
uint32_t tx_free() { return kTxBytes - tx_used(); }
void tx_put(uint8_t byte) {
  if (tx_free() == 0) return;  // echo when the buffer is full is lost, never waited for
  tx[tx_head++ % kTxBytes] = byte;
}
void tx_puts(const char* text) {
  for (; *text != 0; ++text) tx_put(static_cast<uint8_t>(*text));
}

// Hands the UART what its FIFO takes and asks for THRE only while bytes wait.
void transmit() {
  if (tx_used() != 0 && (in(kLineStatus) & kLsrTransmitEmpty) != 0) {
    for (uint32_t i = 0; i < kFifoBytes && tx_used() != 0; ++i) out(kData, tx[tx_tail++ % kTxBytes]);
  }
  const uint8_t want = static_cast<uint8_t>(kIerReceive | kIerLineStatus | (tx_used() != 0 ? kIerTransmit : 0));
  if (want != ier) {
    ier = want;
    out(kInterruptEnable, ier);
  }
}

// ---- Completions ---------------------------------------------------------------------------------
void drop_client(Client& c);

void complete(Client& c, const RingDescriptor& request, uint32_t length, Error status) {
  // A refused request's buffer may lie outside the data area: its completion names none.
  const bool ok = status == Error::Ok;
  const RingDescriptor done{ok ? request.offset : 0, ok ? length : 0, request.opcode, static_cast<uint16_t>(status),
                            request.cookie, 0};
  Result<bool> pushed = c.completions.push(done);
  if (!pushed.ok()) {
    drop_client(c);  // room was checked before the request was taken: only a corrupted ring fails
    return;
  }
  if (*pushed) (void)sys::signal(c.notify);
}

void remove_reads(uint32_t index) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < read_count; ++i) {
    if (reads[i].client != index) reads[kept++] = reads[i];
  }
  read_count = kept;
  clients[index].reads = 0;
}

void drop_client(Client& c) {
  c.broken = true;
  c.stalled = false;
  remove_reads(static_cast<uint32_t>(&c - clients));
}

// ---- Input ---------------------------------------------------------------------------------------
uint32_t ready_used() { return ready_head - ready_tail; }

// Completes the oldest reads while input is there for them.
void deliver() {
  while (read_count != 0 && ready_used() != 0) {
    const PendingRead r = reads[0];
    Client& c = clients[r.client];
    uint32_t n = 0;
    const uint32_t limit = static_cast<uint32_t>(r.request.length);
    if (c.raw) {
      n = ready_used() < limit ? ready_used() : limit;
    } else {
      bool whole_line = false;
      for (uint32_t i = 0; i < ready_used() && i < limit; ++i) {
        if (ready[(ready_tail + i) % kReadyBytes] == '\n') {
          n = i + 1;
          whole_line = true;
          break;
        }
      }
      if (!whole_line) {
        if (ready_used() < limit) return;  // the line is not finished yet
        n = limit;
      }
    }
    for (uint32_t i = 0; i < read_count - 1; ++i) reads[i] = reads[i + 1];
    --read_count;
    --c.reads;
    const Result<sys::SharedBytes> span = c.data.span(r.request.offset, n);
    if (!span.ok()) {
      complete(c, r.request, 0, Error::RangeError);
      continue;
    }
    for (uint32_t i = 0; i < n; ++i) span->data[i] = ready[ready_tail++ % kReadyBytes];
    c.read += n;
    complete(c, r.request, n, Error::Ok);
  }
}

void ready_put(const char* bytes, uint32_t n) {
  if (kReadyBytes - ready_used() < n) {
    ++dropped_input;  // nobody reads: the oldest input stays, the newest goes
    return;
  }
  for (uint32_t i = 0; i < n; ++i) ready[ready_head++ % kReadyBytes] = static_cast<uint8_t>(bytes[i]);
}

// One byte of input, from the serial port or the keyboard.
void input(uint8_t byte) {
  const bool raw = foreground < kMaxClients && clients[foreground].open && !clients[foreground].broken &&
                   clients[foreground].raw;
  if (raw) {
    ready_put(reinterpret_cast<const char*>(&byte), 1);
    deliver();
    return;
  }
  const bool was_cr = last_was_cr;
  last_was_cr = byte == '\r';
  if (byte == '\n' && was_cr) return;  // CR LF from a terminal is one Enter
  if (byte == '\r' || byte == '\n') {
    line[line_length++] = '\n';
    tx_puts("\r\n");
    ready_put(line, line_length);
    line_length = 0;
    deliver();
  } else if (byte == 0x08 || byte == 0x7F) {
    if (line_length != 0) {
      --line_length;
      tx_puts("\b \b");
    }
  } else if ((byte >= 0x20 && byte < 0x7F) || byte == '\t') {
    if (line_length < kLineBytes - 1) {
      line[line_length++] = static_cast<char>(byte);
      tx_put(byte);
    }
  }
}

// Everything the UART has for us; bounded, so a babbling line cannot hold the worker for ever.
void service_uart() {
  for (uint32_t round = 0; round < 64; ++round) {
    const uint8_t id = in(kInterruptId);
    if ((in(kLineStatus) & kLsrDataReady) != 0) {
      for (uint32_t i = 0; i < 64 && (in(kLineStatus) & kLsrDataReady) != 0; ++i) input(in(kData));
    }
    if ((id & 0x0F) == 0x00) (void)in(kModemStatus);
    transmit();
    if ((id & 0x01) != 0 && (in(kLineStatus) & kLsrDataReady) == 0) break;  // nothing pending
  }
}

// ---- Client rings --------------------------------------------------------------------------------
// Tries the request the client waits on; true when it is done.
bool finish_stalled(Client& c) {
  if (!c.stalled) return true;
  const RingDescriptor& d = c.pending;
  if (d.opcode == con::kOpFlush) {
    if (tx_used() != 0) return false;
    c.stalled = false;
    complete(c, d, 0, Error::Ok);
    return true;
  }
  if (tx_free() < d.length) return false;
  const Result<sys::SharedBytes> span = c.data.span(d);
  c.stalled = false;
  if (!span.ok()) {
    complete(c, d, 0, Error::RangeError);
    return true;
  }
  for (uint32_t i = 0; i < span->size; ++i) tx[tx_head++ % kTxBytes] = span->data[i];
  c.written += span->size;
  complete(c, d, static_cast<uint32_t>(span->size), Error::Ok);
  return true;
}

void handle(Client& c, uint32_t index, const RingDescriptor& d) {
  switch (d.opcode) {
    case con::kOpWrite:
    case con::kOpFlush:
      c.stalled = true;
      c.pending = d;
      (void)finish_stalled(c);
      return;
    case con::kOpRead:
      if (d.length == 0 || c.reads >= kMaxReadsPerClient || read_count >= kMaxClients * kMaxReadsPerClient) {
        ++c.refused;
        complete(c, d, 0, d.length == 0 ? Error::InvalidArgument : Error::Busy);
        return;
      }
      reads[read_count++] = PendingRead{index, d};
      ++c.reads;
      foreground = index;
      deliver();
      return;
    default:
      ++c.refused;
      complete(c, d, 0, Error::InvalidArgument);
      return;
  }
}

void process_client(uint32_t index) {
  Client& c = clients[index];
  if (!c.open || c.broken) return;
  // Bounded: at most a ring's worth of requests per visit.
  for (uint32_t n = 0; n < 2 * con::kRingSlots && !c.broken; ++n) {
    if (!finish_stalled(c)) break;
    Result<uint32_t> room = c.completions.free_slots();
    if (!room.ok()) {
      drop_client(c);
      break;
    }
    // Every read it has queued may need a slot: take a request only when its answer has one too.
    c.held = *room <= c.reads;
    if (c.held) break;
    Result<RingDescriptor> r = c.requests.pop();
    if (r.ok()) {
      handle(c, index, *r);
    } else if (r.error() == Error::RangeError) {
      ++c.refused;
      complete(c, c.requests.rejected(), 0, Error::RangeError);
    } else if (r.error() == Error::WouldBlock) {
      break;
    } else {
      drop_client(c);
    }
  }
  if (!c.broken && c.requests.should_signal_producer()) (void)sys::signal(c.notify);
}

void process_keyboard() {
  if (!have_keyboard) return;
  for (uint32_t n = 0; n < tessera::keyboard::kRingSlots; ++n) {
    Result<RingDescriptor> e = keyboard_events.pop();
    if (!e.ok()) {
      if (e.error() == Error::MalformedMessage) have_keyboard = false;
      if (e.error() != Error::RangeError) break;
      continue;
    }
    const uint8_t character = static_cast<uint8_t>(e->argument >> 32);
    if (e->opcode == tessera::keyboard::kEventPress && character != 0) input(character);
  }
}

void worker(uint64_t) {
  for (;;) {
    uint64_t word = 0;
    if (sys::wait(work, &word) != Error::Ok) continue;
    lock->lock();
    service_uart();
    if ((word & kIrqBit) != 0) {
      (void)irq.ack();
      service_uart();  // what arrived while the line was masked (an edge then is lost)
    }
    process_keyboard();  // every pass: the first one arms the ring's wake flag
    for (uint32_t i = 0; i < kMaxClients; ++i) process_client(i);
    service_uart();
    lock->unlock();
  }
}

// ---- Capabilities ---------------------------------------------------------------------------------
Result<sys::CPtr> mint(sys::CPtr source, uint64_t badge, uint8_t rights) {
  const sys::CPtr slot = TRY(slots->alloc());
  sys::CallTransport kernel(sys::ipc_buffer());
  const auto r = tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode)
                     .mint(slot, sys::kSlotDepth, {sys::kProcessSlotCNode}, source, sys::kSlotDepth, rights, badge);
  if (!r.ok()) {
    (void)slots->free(slot);
    return r.error();
  }
  return slot;
}

void delete_cap(sys::CPtr slot, bool revoke) {
  if (slot == 0) return;
  sys::CallTransport kernel(sys::ipc_buffer());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
  if (revoke) (void)cnode.revoke(slot, sys::kSlotDepth);
  (void)cnode.delete_(slot, sys::kSlotDepth);
  (void)slots->free(slot);
}

// Ends a session (under the lock): nothing of the region is used any more, the client's
// capabilities to it are revoked, and the slot can be opened again.
void release_client(Client& c) {
  remove_reads(static_cast<uint32_t>(&c - clients));
  (void)c.shared.close();
  (void)c.region.revoke();
  (void)c.region.release();
  delete_cap(c.notify, false);
  delete_cap(c.doorbell, true);
  c = Client{};
}

// ---- The control protocol --------------------------------------------------------------------------
class ConsoleServer : public Console::Server<ConsoleServer> {
 public:
  Result<void> open(Console::OpenParams::Reader params, Console::OpenResults::Builder results) {
    if (!params.has_notify()) return Error::InvalidArgument;
    (void)TRY(params.notify());
    LockGuard guard(*lock);
    const uint64_t badge = sys::current_request().badge();
    Client* free_client = nullptr;
    for (Client& c : clients) {
      if (c.open && c.badge == badge) {
        // A client restarted (same badge) left a notification that is gone: replace its session.
        if (!c.broken && sys::signal(c.notify) == Error::Ok) return Error::Busy;
        release_client(c);
      }
    }
    for (Client& c : clients) {
      if (!c.open && free_client == nullptr) free_client = &c;
    }
    if (free_client == nullptr) return Error::NotEnoughMemory;
    Client& c = *free_client;
    c = Client{};
    c.notify = TRY(sys::current_request().keep_cap());
    c.badge = badge;
    const Result<void> made = make_rings(c);
    if (!made.ok()) {
      release_client(c);
      return made.error();
    }
    c.open = true;
    (void)sys::signal(work);  // the worker's first look at the ring arms its wake flag
    results.set_region(c.shared.ref());
    results.set_ring_slots(con::kRingSlots);
    results.set_data_bytes(con::kDataBytes);
    return {};
  }

  Result<void> doorbell(Console::DoorbellParams::Reader, Console::DoorbellResults::Builder results) {
    LockGuard guard(*lock);
    Client& c = *TRY(find());
    if (c.doorbell == 0) {
      const uint64_t bit = uint64_t{1} << (kClientBitShift + static_cast<uint32_t>(&c - clients));
      c.doorbell = TRY(mint(work, bit, tessera::abi::kRightWrite));
    }
    results.set_doorbell(tessera::capnp::CapRef{c.doorbell});
    return {};
  }

  Result<void> set_mode(Console::SetModeParams::Reader params, Console::SetModeResults::Builder) {
    LockGuard guard(*lock);
    Client& c = *TRY(find());
    const con::Mode mode = params.mode();
    if (mode != con::Mode::Line && mode != con::Mode::Raw) return Error::InvalidArgument;
    c.raw = mode == con::Mode::Raw;
    foreground = static_cast<uint32_t>(&c - clients);
    return {};
  }

  Result<void> status(Console::StatusParams::Reader, Console::StatusResults::Builder results) {
    LockGuard guard(*lock);
    Client& c = *TRY(find());
    results.set_written(c.written);
    results.set_read(c.read);
    results.set_refused(c.refused);
    results.set_held(c.held);
    return {};
  }

  Result<void> close(Console::CloseParams::Reader, Console::CloseResults::Builder) {
    LockGuard guard(*lock);
    Client& c = *TRY(find());
    release_client(c);
    return {};
  }

  Result<void> watch(Console::WatchParams::Reader, Console::WatchResults::Builder results) {
    results.set_notification(tessera::capnp::CapRef{watch_copy});
    return {};
  }

  Result<void> crash(Console::CrashParams::Reader, Console::CrashResults::Builder) {
    if (!test_mode) return Error::IllegalOperation;
    sys::print("console: crashing on request (test hook)\n");
    __builtin_trap();
  }

  Result<void> keyboard_status(Console::KeyboardStatusParams::Reader,
                               Console::KeyboardStatusResults::Builder results) {
    LockGuard guard(*lock);
    results.set_subscribed(have_keyboard);
    results.set_subscriptions(keyboard_subscriptions);
    return {};
  }

 private:
  // The caller's session; a broken one is ended here (MalformedMessage from now on).
  Result<Client*> find() {
    const uint64_t badge = sys::current_request().badge();
    for (Client& c : clients) {
      if (!c.open || c.badge != badge) continue;
      if (c.broken) {
        release_client(c);
        return Error::MalformedMessage;
      }
      return &c;
    }
    return Error::EmptySlot;
  }

  static Result<void> make_rings(Client& c) {
    sys::RegionOptions eager;
    eager.eager = true;
    c.region = TRY(sys::Region::create(session, kLayout.total_bytes, eager));
    uint8_t* base = TRY(c.region.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    TRY(sys::ring_format(base + kLayout.request_offset, kLayout.completion_offset, con::kRingSlots));
    TRY(sys::ring_format(base + kLayout.completion_offset, kLayout.data_offset - kLayout.completion_offset,
                         con::kRingSlots));
    c.data = sys::DataArea(base + kLayout.data_offset, kLayout.data_bytes);
    c.requests = TRY(sys::RingConsumer::attach(base + kLayout.request_offset, kLayout.completion_offset,
                                               con::kRingSlots, c.data));
    c.completions = TRY(sys::RingProducer::attach(base + kLayout.completion_offset,
                                                  kLayout.data_offset - kLayout.completion_offset, con::kRingSlots));
    c.shared = TRY(c.region.share(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    return {};
  }
};

// Subscribes to the keyboard driver: its events arrive on `work` with kKeyboardBit. Called without
// the lock (the calls to kbd may wait for a kbd being restarted); takes it for what is shared.
Result<void> subscribe_keyboard(sys::CPtr endpoint) {
  sys::CPtr notify = 0, slot = 0, watch_slot = 0;
  {
    LockGuard guard(*lock);
    notify = TRY(mint(work, kKeyboardBit, tessera::abi::kRightWrite));
    slot = TRY(slots->alloc());
    watch_slot = TRY(slots->alloc());
  }
  uint32_t capacity = 0;
  Error e = Error::Ok;
  {
    sys::ReceivingCallTransport transport(sys::ipc_buffer(), sys::kProcessSlotCNode, watch_slot);
    tessera::keyboard::Keyboard::Client<sys::ReceivingCallTransport> keyboard(transport, endpoint);
    auto watched = keyboard.watch();
    e = watched.ok() ? (transport.received() ? Error::Ok : Error::MissingCapability) : watched.error();
  }
  if (e == Error::Ok) {
    sys::ReceivingCallTransport transport(sys::ipc_buffer(), sys::kProcessSlotCNode, slot);
    tessera::keyboard::Keyboard::Client<sys::ReceivingCallTransport> keyboard(transport, endpoint);
    auto reply = keyboard.subscribe(tessera::capnp::CapRef{notify});
    capacity = reply.ok() ? reply->ring_slots() : 0;  // before the next call reuses the buffer
    e = reply.ok() ? (transport.received() ? Error::Ok : Error::MissingCapability) : reply.error();
  }
  LockGuard guard(*lock);
  delete_cap(notify, false);  // the driver has its copy
  if (e != Error::Ok) {
    delete_cap(watch_slot, false);
    delete_cap(slot, false);
    return e;
  }
  keyboard_region = TRY(sys::Region::adopt(session, slot));
  uint8_t* base = TRY(keyboard_region.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
  if (tessera::ring_bytes(capacity) > keyboard_region.bytes()) return Error::RangeError;
  keyboard_events = TRY(sys::RingConsumer::attach(base, keyboard_region.bytes(), capacity, sys::DataArea()));
  keyboard_watch = watch_slot;
  have_keyboard = true;
  ++keyboard_subscriptions;
  (void)sys::signal(work);  // the worker's first look at the ring arms its wake flag
  return {};
}

// The keyboard thread: waits on kbd's watch notification; when that driver instance has ended it
// drops the old ring and subscribes to the restarted kbd (the call waits on kbd's endpoint until
// init has started it). Serial input and the clients are served meanwhile.
void keyboard_thread(uint64_t endpoint) {
  for (;;) {
    uint64_t word = 0;
    if (keyboard_watch != 0 && sys::wait(keyboard_watch, &word) == Error::Ok) continue;  // never signalled
    {
      LockGuard guard(*lock);
      have_keyboard = false;
      keyboard_events = sys::RingConsumer();
      (void)keyboard_region.release();
      keyboard_region = sys::Region();
      delete_cap(keyboard_watch, false);
      keyboard_watch = 0;
    }
    for (uint32_t attempt = 0;; ++attempt) {
      const Result<void> r = subscribe_keyboard(endpoint);
      if (r.ok()) break;
      // NoReply: kbd ended during the call; anything else several times over: give up on it.
      if (r.error() != Error::NoReply && attempt >= 8) {
        sys::print("console: no keyboard any more (error %s)\n", tessera::error_name(r.error()));
        return;
      }
    }
  }
}

Result<void> start_uart() {
  out(kInterruptEnable, 0);
  out(kFifoControl, 0x07);    // FIFOs on and cleared, receive interrupt at every byte
  out(kModemControl, 0x0B);   // DTR, RTS, OUT2 (the interrupt gate of PC serial ports)
  (void)in(kLineStatus);
  (void)in(kModemStatus);
  (void)in(kInterruptId);
  ier = kIerReceive | kIerLineStatus;
  out(kInterruptEnable, ier);
  return {};
}

[[noreturn]] void fail(const char* what, Error e) {
  sys::print("console: %s (error %s)\n", what, tessera::error_name(e));
  sys::exit_process(1);
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) fail(what, r.error());
  return static_cast<T&&>(*r);
}
void must(Result<void> r, const char* what) {
  if (!r.ok()) fail(what, r.error());
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr || sys::process_memory() == nullptr) {
    sys::print("console: not started as a process\n");
    return 1;
  }
  const sys::CPtr endpoint = must(sys::find_grant(*block, "endpoint:console"), "no endpoint:console granted");
  uart = sys::IoPorts(must(sys::find_grant(*block, "ioports:com1"), "no ioports:com1 granted"));
  const sys::CPtr handler = must(sys::find_grant(*block, "irq:com1-irq"), "no irq:com1-irq granted");
  static sys::SlotAllocator own_slots(block->empty);
  slots = &own_slots;
  session = sys::MemorySession(sys::process_memory()->cap(), own_slots, sys::kProcessSlotCNode);

  work = must(session.create_object(tessera::abi::ObjectType::Notification), "a notification").cap;
  static sys::Mutex mutex(must(session.create_object(tessera::abi::ObjectType::Notification), "a notification").cap);
  lock = &mutex;
  must(start_uart(), "the UART");
  irq = must(sys::Interrupt::bind(handler, must(mint(work, kIrqBit, tessera::abi::kRightWrite), "a badge")),
             "binding IRQ 4");
  test_mode = strcmp(block->argument, "test") == 0;
  {
    // Console.watch: a notification only this instance holds (deleted when the console ends).
    const sys::CPtr watched = must(session.create_object(tessera::abi::ObjectType::Notification), "a notification").cap;
    watch_copy = must(mint(watched, 0, tessera::abi::kRightRead), "the watch notification");
  }
  Result<sys::CPtr> kbd = sys::find_grant(*block, "endpoint:kbd");
  if (kbd.ok()) {
    const Result<void> subscribed = subscribe_keyboard(*kbd);
    if (!subscribed.ok()) sys::print("console: no keyboard (error %s)\n", tessera::error_name(subscribed.error()));
  }
  static sys::SessionThread thread;
  thread = must(sys::SessionThread::create(session, sys::SessionThreadOptions{4, 100}), "the worker thread");
  static sys::SessionThread keyboard;
  if (kbd.ok() && keyboard_watch != 0) {
    keyboard = must(sys::SessionThread::create(session, sys::SessionThreadOptions{4, 100, "keyboard"}), "the keyboard thread");
    must(keyboard.start(keyboard_thread, *kbd), "starting the keyboard thread");
  }
  {
    LockGuard guard(*lock);
    tx_puts(have_keyboard ? "console: serving COM1 (irq 4) and the keyboard\r\n" : "console: serving COM1 (irq 4)\r\n");
  }
  must(thread.start(worker, 0), "starting the worker");
  (void)sys::signal(work);  // a first pass prints the banner
  static ConsoleServer server;
  const Error e = sys::serve(server, endpoint, sys::ServeOptions{&own_slots, sys::kProcessSlotCNode, "console"});
  sys::print("console: receive failed (error %s)\n", tessera::error_name(e));
  sys::exit_process(1);
}
