// kbd: the PS/2 keyboard driver (protocol abi/keyboard.capnp, docs/drivers.md).
//
// It sets the i8042 up (keyboard port on, its interrupt on, the mouse port off, translation to
// scancode set 1 on), then turns every scancode from IRQ 1 into a key event — press or release,
// the key, the modifiers held (shift, ctrl, alt, caps lock) and the character it types — and
// pushes it into each subscriber's ring (one region per subscriber, made by this driver). Caps
// lock toggles with its LED. The driver never waits for a subscriber: a full ring loses that
// subscriber's event (counted), a corrupted one ends that subscription.
//
// Threads: main serves Keyboard on "endpoint:kbd"; the worker waits for IRQ 1. A mutex guards the
// subscriber table.
#include <stdint.h>

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
namespace kb = tessera::keyboard;
using tessera::Error;
using tessera::LockGuard;
using tessera::Result;
using tessera::RingDescriptor;

constexpr uint16_t kDataPort = 0x60, kStatusPort = 0x64;
constexpr uint8_t kStatusOutputFull = 0x01, kStatusInputFull = 0x02, kStatusAuxData = 0x20;
constexpr uint32_t kSpins = 100000;

struct Subscriber {
  bool active = false;
  uint64_t badge = 0;
  sys::Region region;
  sys::Region shared;
  sys::CPtr notify = 0;
  sys::RingProducer events;
  uint64_t dropped = 0;
};

sys::SlotAllocator* slots = nullptr;
sys::MemorySession session;
sys::IoPorts data_port, status_port_cap;  // 0x60 and 0x64 (0x61, between them, is the kernel's)
sys::Interrupt irq;
constinit sys::Mutex* lock = nullptr;
Subscriber subscribers[kb::kMaxSubscribers];
uint64_t events = 0;
uint8_t leds = 0;
bool test_mode = false;      // arg=test: Keyboard.crash faults on purpose
sys::CPtr watch_copy = 0;    // read-only copy of a notification of ours nobody signals (Keyboard.watch)

// Decoder state.
bool extended = false;
uint32_t skip = 0;  // bytes of a pause sequence still to ignore
bool shift_left = false, shift_right = false, ctrl_left = false, ctrl_right = false, alt_left = false,
     alt_right = false, caps = false, caps_down = false;

uint8_t status_port() { return status_port_cap.in8(kStatusPort).value_or(0); }

bool wait_input_empty() {
  for (uint32_t i = 0; i < kSpins; ++i) {
    if ((status_port() & kStatusInputFull) == 0) return true;
  }
  return false;
}

bool wait_output_full() {
  for (uint32_t i = 0; i < kSpins; ++i) {
    if ((status_port() & kStatusOutputFull) != 0) return true;
  }
  return false;
}

void command(uint8_t value) {
  if (wait_input_empty()) (void)status_port_cap.out8(kStatusPort, value);
}
void send(uint8_t value) {
  if (wait_input_empty()) (void)data_port.out8(kDataPort, value);
}

// US layout, scancode set 1, make codes 0x00-0x39.
constexpr char kPlain[0x3A] = {0,   0x1B, '1', '2',  '3',  '4', '5', '6', '7', '8', '9', '0', '-', '=', '\b', '\t',
                               'q', 'w',  'e', 'r',  't',  'y', 'u', 'i', 'o', 'p', '[', ']', '\n', 0,  'a',  's',
                               'd', 'f',  'g', 'h',  'j',  'k', 'l', ';', '\'', '`', 0,  '\\', 'z', 'x', 'c', 'v',
                               'b', 'n',  'm', ',',  '.',  '/', 0,   '*', 0,   ' '};
constexpr char kShifted[0x3A] = {0,   0x1B, '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', '\b', '\t',
                                 'Q', 'W',  'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\n', 0,  'A',  'S',
                                 'D', 'F',  'G', 'H', 'J', 'K', 'L', ':', '"', '~', 0,   '|', 'Z', 'X', 'C', 'V',
                                 'B', 'N',  'M', '<', '>', '?', 0,   '*', 0,   ' '};

uint8_t modifiers() {
  uint8_t m = 0;
  if (shift_left || shift_right) m |= kb::kModShift;
  if (ctrl_left || ctrl_right) m |= kb::kModCtrl;
  if (alt_left || alt_right) m |= kb::kModAlt;
  if (caps) m |= kb::kModCapsLock;
  return m;
}

uint8_t character(uint16_t key) {
  if (key >= 0x3A) return key == (kb::kExtendedKey | kb::kKeyEnter) ? '\n' : 0;  // keypad Enter
  const bool shift = shift_left || shift_right;
  char c = shift ? kShifted[key] : kPlain[key];
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (letter && caps) c = shift ? kPlain[key] : kShifted[key];
  if (letter && (ctrl_left || ctrl_right)) c = static_cast<char>(c & 0x1F);
  return static_cast<uint8_t>(c);
}

void set_leds() {
  send(0xED);
  send(leds);
}

void publish(uint16_t opcode, uint16_t key, uint8_t typed) {
  ++events;
  const uint64_t argument = uint64_t{key} | (uint64_t{modifiers()} << 16) | (uint64_t{typed} << 32);
  const RingDescriptor event{0, 0, opcode, 0, events, argument};
  for (Subscriber& s : subscribers) {
    if (!s.active || s.events.broken()) continue;
    if (!s.events.free_slots().ok()) continue;  // reads the consumer's index: a corrupted one breaks the view
    Result<bool> pushed = s.events.push(event);
    if (pushed.ok()) {
      if (*pushed) (void)sys::signal(s.notify);
    } else if (pushed.error() == Error::WouldBlock) {
      ++s.dropped;
    }  // MalformedMessage: the view is broken for good; unsubscribe/status ends it
  }
}

void scancode(uint8_t byte) {
  if (skip != 0) {
    --skip;
    return;
  }
  if (byte == 0xE0) {
    extended = true;
    return;
  }
  if (byte == 0xE1) {
    skip = 5;  // Pause: E1 1D 45 E1 9D C5, no release
    return;
  }
  if (byte == 0xFA || byte == 0xFE || byte == 0x00 || byte == 0xFF) return;  // acks, resend, errors
  const bool release = (byte & 0x80) != 0;
  const uint16_t key = static_cast<uint16_t>((byte & 0x7F) | (extended ? kb::kExtendedKey : 0));
  extended = false;
  switch (key) {
    case kb::kKeyLeftShift: shift_left = !release; break;
    case kb::kKeyRightShift: shift_right = !release; break;
    case kb::kKeyLeftCtrl: ctrl_left = !release; break;
    case kb::kExtendedKey | kb::kKeyLeftCtrl: ctrl_right = !release; break;
    case kb::kKeyLeftAlt: alt_left = !release; break;
    case kb::kExtendedKey | kb::kKeyLeftAlt: alt_right = !release; break;
    case kb::kKeyCapsLock:
      if (!release && !caps_down) {  // typematic repeats do not toggle it again
        caps = !caps;
        leds = static_cast<uint8_t>(caps ? leds | 0x04 : leds & ~0x04);
        set_leds();
      }
      caps_down = !release;
      break;
    default: break;
  }
  publish(release ? kb::kEventRelease : kb::kEventPress, key, release ? 0 : character(key));
}

// Everything the controller holds (bounded: a stuck controller cannot hold the worker).
void drain() {
  LockGuard guard(*lock);
  for (uint32_t i = 0; i < 64; ++i) {
    const uint8_t status = status_port();
    if ((status & kStatusOutputFull) == 0) break;
    const uint8_t byte = data_port.in8(kDataPort).value_or(0);
    if ((status & kStatusAuxData) == 0) scancode(byte);
  }
}

// IRQ 1 is an edge: while the line is masked (from the interrupt to the ack) a new byte raises
// no new one, so the buffer is read again after every ack.
void worker(uint64_t) {
  for (;;) {
    drain();
    (void)irq.ack();
    drain();
    (void)irq.wait();
  }
}

// The i8042: both ports off, output flushed, keyboard interrupt and translation on, mouse
// interrupt off, keyboard port on, scanning enabled, LEDs off.
void start_controller() {
  command(0xAD);
  command(0xA7);
  for (uint32_t i = 0; i < 32 && (status_port() & kStatusOutputFull) != 0; ++i) (void)data_port.in8(kDataPort);
  command(0x20);
  uint8_t config = wait_output_full() ? data_port.in8(kDataPort).value_or(0) : 0x40;
  config = static_cast<uint8_t>((config | 0x01 | 0x40 | 0x20) & ~(0x02 | 0x10));
  command(0x60);
  send(config);
  command(0xAE);
  send(0xF4);
  set_leds();
}

class KeyboardServer : public kb::Keyboard::Server<KeyboardServer> {
 public:
  Result<void> subscribe(kb::Keyboard::SubscribeParams::Reader params, kb::Keyboard::SubscribeResults::Builder results) {
    if (!params.has_notify()) return Error::InvalidArgument;
    (void)TRY(params.notify());
    LockGuard guard(*lock);
    const uint64_t badge = sys::current_request().badge();
    Subscriber* slot = nullptr;
    for (Subscriber& s : subscribers) {
      if (s.active && s.badge == badge) {
        // A subscriber restarted (same badge) left a notification that is gone: replace it.
        if (!s.events.broken() && sys::signal(s.notify) == Error::Ok) return Error::Busy;
        end(s);
      }
    }
    for (Subscriber& s : subscribers) {
      if (!s.active && slot == nullptr) slot = &s;
    }
    if (slot == nullptr) return Error::NotEnoughMemory;
    Subscriber& s = *slot;
    s = Subscriber{};
    s.notify = TRY(sys::current_request().keep_cap());
    const Result<void> made = make_ring(s);
    if (!made.ok()) {
      end(s);
      return made.error();
    }
    s.badge = badge;
    s.active = true;
    results.set_region(s.shared.ref());
    results.set_ring_slots(kb::kRingSlots);
    return {};
  }

  Result<void> status(kb::Keyboard::StatusParams::Reader, kb::Keyboard::StatusResults::Builder results) {
    LockGuard guard(*lock);
    Subscriber& s = *TRY(find());
    results.set_events(events);
    results.set_dropped(s.dropped);
    results.set_leds(leds);
    return {};
  }

  Result<void> unsubscribe(kb::Keyboard::UnsubscribeParams::Reader, kb::Keyboard::UnsubscribeResults::Builder) {
    LockGuard guard(*lock);
    end(*TRY(find()));
    return {};
  }

  Result<void> watch(kb::Keyboard::WatchParams::Reader, kb::Keyboard::WatchResults::Builder results) {
    if (watch_copy == 0) return Error::NotSupported;
    results.set_notification(tessera::capnp::CapRef{watch_copy});
    return {};
  }

  Result<void> crash(kb::Keyboard::CrashParams::Reader, kb::Keyboard::CrashResults::Builder) {
    if (!test_mode) return Error::IllegalOperation;
    sys::print("kbd: crashing on request (test hook)\n");
    __builtin_trap();
  }

 private:
  static Result<Subscriber*> find() {
    const uint64_t badge = sys::current_request().badge();
    for (Subscriber& s : subscribers) {
      if (!s.active || s.badge != badge) continue;
      if (s.events.broken()) {
        end(s);
        return Error::MalformedMessage;
      }
      return &s;
    }
    return Error::EmptySlot;
  }

  static void end(Subscriber& s) {
    (void)s.shared.close();
    (void)s.region.revoke();
    (void)s.region.release();
    if (s.notify != 0) {
      sys::CallTransport kernel(sys::ipc_buffer());
      (void)tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode).delete_(s.notify, sys::kSlotDepth);
      (void)slots->free(s.notify);
    }
    s = Subscriber{};
  }

  static Result<void> make_ring(Subscriber& s) {
    sys::RegionOptions eager;
    eager.eager = true;
    const uint64_t bytes = tessera::ring_bytes(kb::kRingSlots);
    s.region = TRY(sys::Region::create(session, bytes, eager));
    uint8_t* base = TRY(s.region.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    TRY(sys::ring_format(base, s.region.bytes(), kb::kRingSlots));
    s.events = TRY(sys::RingProducer::attach(base, s.region.bytes(), kb::kRingSlots));
    s.shared = TRY(s.region.share(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    return {};
  }
};

[[noreturn]] void fail(const char* what, Error e) {
  sys::print("kbd: %s (error %s)\n", what, tessera::error_name(e));
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
    sys::print("kbd: not started as a process\n");
    return 1;
  }
  const sys::CPtr endpoint = must(sys::find_grant(*block, "endpoint:kbd"), "no endpoint:kbd granted");
  data_port = sys::IoPorts(must(sys::find_grant(*block, "ioports:i8042-data"), "no ioports:i8042-data granted"));
  status_port_cap = sys::IoPorts(must(sys::find_grant(*block, "ioports:i8042-cmd"), "no ioports:i8042-cmd granted"));
  const sys::CPtr handler = must(sys::find_grant(*block, "irq:kbd-irq"), "no irq:kbd-irq granted");
  static sys::SlotAllocator own_slots(block->empty);
  slots = &own_slots;
  session = sys::MemorySession(sys::process_memory()->cap(), own_slots, sys::kProcessSlotCNode);
  static sys::Mutex mutex(must(session.create_object(tessera::abi::ObjectType::Notification), "a notification").cap);
  lock = &mutex;
  test_mode = strcmp(block->argument, "test") == 0;
  {
    // Keyboard.watch: a notification only this instance holds (the memory server deletes it when
    // kbd ends, which wakes every wait on a copy with an error); clients get a read-only copy.
    const sys::CPtr watched = must(session.create_object(tessera::abi::ObjectType::Notification), "a notification").cap;
    watch_copy = must(slots->alloc(), "a slot");
    sys::CallTransport kernel(sys::ipc_buffer());
    must(tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode)
             .mint(watch_copy, sys::kSlotDepth, {sys::kProcessSlotCNode}, watched, sys::kSlotDepth,
                   tessera::abi::kRightRead, 0),
         "the watch notification");
  }
  start_controller();
  irq = must(sys::Interrupt::create(session, handler), "binding IRQ 1");
  static sys::SessionThread thread;
  thread = must(sys::SessionThread::create(session, sys::SessionThreadOptions{4, 100}), "the worker thread");
  const Result<void> started = thread.start(worker, 0);
  if (!started.ok()) fail("starting the worker", started.error());
  sys::print("kbd: serving the i8042 keyboard (irq 1)\n");
  static KeyboardServer server;
  const Error e = sys::serve(server, endpoint, sys::ServeOptions{&own_slots, sys::kProcessSlotCNode, "kbd"});
  sys::print("kbd: receive failed (error %s)\n", tessera::error_name(e));
  sys::exit_process(1);
}
