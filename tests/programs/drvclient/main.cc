// drvclient: the client side of the CONSOLE and KBD tests (tests/devices/console_tests.cc). A test
// starts the console (and/or kbd) driver and one or more drvclients through init's system library;
// the argument chooses what a drvclient does, and it exits with 0 when every check passed,
// otherwise with the number of the first that failed (and a line saying which).
//
// It talks to the test harness (docs/testing.md, "Asking the harness for input") with lines it
// writes through the console itself, so they are never split by other output:
//   HARNESS-INPUT <hex>             the harness writes these bytes to the guest's serial input
//   HARNESS-AWAIT <hex> <hex>       once a later serial line contains the first text, the harness
//                                   writes the second to the serial input
//   HARNESS-SENDKEY <key> ...       the harness presses each key (QEMU monitor `sendkey`)
//
// Modes (console): output, echo, edit, writer1..3, malformed, hostile, good, slow, typed.
// Modes (keyboard): keys, caps, kbdhostile, kbdgood.
#include <stdint.h>

#include <tessera/abi/console.capnp.h>
#include <tessera/abi/kernel.capnp.h>
#include <tessera/abi/keyboard.capnp.h>
#include <tessera/format.h>
#include <tessera/ring.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/ring.h>
#include <tessera/sys/syscall.h>

namespace {
namespace sys = tessera::sys;
namespace con = tessera::console;
namespace kb = tessera::keyboard;
using tessera::Error;
using tessera::error_name;
using tessera::Result;
using tessera::RingDescriptor;

int failed = 0;
const char* name = "drvclient";

bool check(int number, bool ok, const char* what) {
  if (!ok && failed == 0) {
    failed = number;
    sys::print("drvclient %s: check %d failed: %s\n", name, number, what);
  }
  return ok;
}

[[noreturn]] void finish() { sys::exit_process(failed); }

const sys::StartupBlock* block = nullptr;
sys::SlotAllocator* slots = nullptr;
sys::MemorySession session;

Result<sys::CPtr> make_notification() {
  return TRY(session.create_object(tessera::abi::ObjectType::Notification)).cap;
}

// A call whose reply carries one capability, received into a fresh slot.
template <typename Protocol, typename Call>
Result<sys::CPtr> call_receiving(sys::CPtr endpoint, Call&& call) {
  const sys::CPtr slot = TRY(slots->alloc());
  sys::ReceivingCallTransport transport(sys::ipc_buffer(), sys::kProcessSlotCNode, slot);
  typename Protocol::template Client<sys::ReceivingCallTransport> client(transport, endpoint);
  const Error e = call(client);
  if (e != Error::Ok || !transport.received()) {
    (void)slots->free(slot);
    return e != Error::Ok ? e : Error::MissingCapability;
  }
  return slot;
}

// ---- A console client ------------------------------------------------------------------------------
constexpr auto kLayout = tessera::ring_pair_layout(con::kRingSlots, con::kDataBytes);
constexpr uint64_t kReadBuffer = 8192;  // writes use [0, 8192), reads from here

struct ConsoleClient {
  sys::CPtr endpoint = 0;
  sys::CPtr notify = 0, doorbell = 0;
  sys::Region region;
  uint8_t* base = nullptr;
  sys::DataArea data;
  sys::RingProducer requests;
  sys::RingConsumer completions;
  uint64_t cookie = 0;
  RingDescriptor stash[64];
  uint32_t stashed = 0;

  Result<void> open(sys::CPtr console) {
    endpoint = console;
    notify = TRY(make_notification());
    const sys::CPtr cap = TRY(call_receiving<con::Console>(endpoint, [&](auto& c) {
      const auto r = c.open(tessera::capnp::CapRef{notify});
      if (r.ok() && (r->ring_slots() != con::kRingSlots || r->data_bytes() != con::kDataBytes)) return Error::RangeError;
      return r.ok() ? Error::Ok : r.error();
    }));
    region = TRY(sys::Region::adopt(session, cap));
    base = TRY(region.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    data = sys::DataArea(base + kLayout.data_offset, kLayout.data_bytes);
    requests = TRY(sys::RingProducer::attach(base + kLayout.request_offset, kLayout.completion_offset, con::kRingSlots));
    completions = TRY(sys::RingConsumer::attach(base + kLayout.completion_offset,
                                                kLayout.data_offset - kLayout.completion_offset, con::kRingSlots,
                                                sys::DataArea(base + kLayout.data_offset, kLayout.data_bytes)));
    doorbell = TRY(call_receiving<con::Console>(endpoint, [&](auto& c) {
      const auto r = c.doorbell();
      return r.ok() ? Error::Ok : r.error();
    }));
    return {};
  }

  con::Console::Client<sys::CallTransport> control() {
    static sys::CallTransport transport(sys::ipc_buffer());
    return con::Console::Client<sys::CallTransport>(transport, endpoint);
  }

  // Pushes a request (waiting for room), rings the doorbell when the driver asked for it.
  Result<uint64_t> submit(uint64_t offset, uint32_t length, uint16_t opcode) {
    const uint64_t id = ++cookie;
    for (;;) {
      Result<bool> pushed = requests.push(RingDescriptor{offset, length, opcode, 0, id, 0});
      if (pushed.ok()) {
        if (*pushed) (void)sys::signal(doorbell);
        return id;
      }
      if (pushed.error() != Error::WouldBlock) return pushed.error();
      (void)sys::signal(doorbell);
      uint64_t word = 0;
      (void)sys::wait(notify, &word);
    }
  }

  // Waits for the completion of request `id`.
  Result<RingDescriptor> await(uint64_t id) {
    for (uint32_t i = 0; i < stashed; ++i) {
      if (stash[i].cookie == id) {
        const RingDescriptor d = stash[i];
        stash[i] = stash[--stashed];
        return d;
      }
    }
    for (;;) {
      Result<RingDescriptor> d = completions.pop();
      if (d.ok()) {
        if (d->cookie == id) {
          if (completions.should_signal_producer()) (void)sys::signal(doorbell);
          return *d;
        }
        if (stashed < 64) stash[stashed++] = *d;
        continue;
      }
      if (d.error() != Error::WouldBlock) return d.error();
      if (completions.should_signal_producer()) (void)sys::signal(doorbell);
      uint64_t word = 0;
      (void)sys::wait(notify, &word);
    }
  }

  Result<RingDescriptor> write(const void* bytes, uint32_t length) {
    if (length > kReadBuffer) return Error::RangeError;
    memcpy(data.base(), bytes, length);
    return await(TRY(submit(0, length, con::kOpWrite)));
  }
  Result<RingDescriptor> write(const char* text) { return write(text, static_cast<uint32_t>(strlen(text))); }
  Result<RingDescriptor> flush() { return await(TRY(submit(0, 0, con::kOpFlush))); }

  // Reads into `out` (NUL-terminated; at most `capacity` - 1 bytes).
  Result<uint32_t> read(char* out, uint32_t capacity) {
    const RingDescriptor d = TRY(await(TRY(submit(kReadBuffer, capacity - 1, con::kOpRead))));
    if (d.status != 0) return static_cast<Error>(d.status);
    if (d.length > capacity - 1 || d.offset != kReadBuffer) return Error::MalformedMessage;
    memcpy(out, data.base() + kReadBuffer, d.length);
    out[d.length] = 0;
    return static_cast<uint32_t>(d.length);
  }

  // A line to the harness, written through the console (never split by other output).
  void harness(const char* command, const void* first, uint32_t first_bytes, const void* second = nullptr,
               uint32_t second_bytes = 0) {
    char text[600];
    size_t n = tessera::format_to(text, sizeof(text), "HARNESS-%s ", command);
    auto hex = [&](const void* bytes, uint32_t count) {
      for (uint32_t i = 0; i < count && n + 3 < sizeof(text); ++i) {
        n += tessera::format_to(text + n, sizeof(text) - n, "%02x", static_cast<const uint8_t*>(bytes)[i]);
      }
    };
    hex(first, first_bytes);
    if (second != nullptr) {
      text[n++] = ' ';
      hex(second, second_bytes);
    }
    text[n++] = '\n';
    const auto w = write(text, static_cast<uint32_t>(n));
    check(90, w.ok() && w->status == 0 && w->length == n, "a harness line written through the console");
  }
  void input(const char* bytes) { harness("INPUT", bytes, static_cast<uint32_t>(strlen(bytes))); }
  void await_line(const char* text, const char* reply) {
    harness("AWAIT", text, static_cast<uint32_t>(strlen(text)), reply, static_cast<uint32_t>(strlen(reply)));
  }
};

sys::CPtr grant(const char* what) {
  Result<sys::CPtr> g = sys::find_grant(*block, what);
  if (!check(80, g.ok(), what)) finish();
  return *g;
}

bool equals(const char* a, const char* b) { return strcmp(a, b) == 0; }

void open_console(ConsoleClient& c) {
  const Result<void> opened = c.open(grant("endpoint:console"));
  if (!check(1, opened.ok(), "open a console session")) {
    sys::print("drvclient %s: open: %s\n", name, error_name(opened.error()));
    finish();
  }
}

// output: a line through the driver reaches the serial port (the harness sees it and answers).
void output() {
  ConsoleClient c;
  open_console(c);
  c.await_line("console-test: output through the driver, client 1", "seen\r");
  const char* text = "console-test: output through the driver, client 1\n";
  const auto w = c.write(text);
  check(2, w.ok() && w->status == 0 && w->length == strlen(text), "write completes with every byte taken");
  const auto f = c.flush();
  check(3, f.ok() && f->status == 0, "flush completes");
  char line[64];
  const auto r = c.read(line, sizeof(line));
  check(4, r.ok() && equals(line, "seen\n"), "the harness saw the line and answered");
  const auto s = c.control().status();
  check(5, s.ok() && s->written() > strlen(text) && s->read() == 5 && s->refused() == 0, "status counts bytes");
  check(6, c.control().close().ok(), "close");
  check(7, c.control().status().error() == Error::EmptySlot, "no session after close");
}

// echo: a line typed on the serial port is echoed and read as one line.
void echo() {
  ConsoleClient c;
  open_console(c);
  c.await_line("hello console", "y\r");   // the echo of the input is a line of its own
  c.input("hello console\r");
  char line[64];
  const auto r = c.read(line, sizeof(line));
  check(2, r.ok() && equals(line, "hello console\n"), "the typed line is read");
  const auto again = c.read(line, sizeof(line));
  check(3, again.ok() && equals(line, "y\n"), "the echo reached the serial port");
  // A CR LF pair is one Enter; two lines typed at once are two reads.
  c.input("first\r\nsecond\n");
  check(4, c.read(line, sizeof(line)).ok() && equals(line, "first\n"), "first of two lines");
  check(5, c.read(line, sizeof(line)).ok() && equals(line, "second\n"), "second of two lines");
  // A short buffer gets the line in pieces.
  c.input("abcdefgh\r");
  check(6, c.read(line, 5).ok() && equals(line, "abcd"), "a line longer than the buffer: its start");
  check(7, c.read(line, sizeof(line)).ok() && equals(line, "efgh\n"), "then the rest");
}

// edit: backspace and DEL erase (echo "\b \b"); backspace on an empty line does nothing; raw mode.
void edit() {
  ConsoleClient c;
  open_console(c);
  c.await_line("fixxx\b \b\b \bed-line ok", "z\r");
  c.input("\x08\x08" "fixxx\x08\x7f" "ed-line ok\r");
  char line[64];
  check(2, c.read(line, sizeof(line)).ok() && equals(line, "fixed-line ok\n"), "the edited line");
  check(3, c.read(line, sizeof(line)).ok() && equals(line, "z\n"), "the echo of the erasing reached the port");
  check(4, c.control().set_mode(con::Mode::Raw).ok(), "raw mode");
  c.input("r\x08\x7f\x01");
  uint32_t got = 0;
  char raw[8] = {};
  while (got < 4) {
    char piece[8];
    auto r = c.read(piece, sizeof(piece));
    if (!check(5, r.ok() && *r > 0 && got + *r <= 4, "raw reads")) break;
    memcpy(raw + got, piece, *r);
    got += *r;
  }
  check(6, memcmp(raw, "r\x08\x7f\x01", 4) == 0, "raw bytes arrive unedited");
  check(7, c.control().set_mode(con::Mode::Line).ok(), "line mode again");
  check(8, c.control().set_mode_with([](auto p) { p.set_mode(static_cast<con::Mode>(7)); }).error() != Error::Ok,
        "an unknown mode is refused");
}

// writerN: several clients at once, each writing its lines; each line arrives whole.
void writer(uint32_t number) {
  ConsoleClient c;
  open_console(c);
  char text[80];
  tessera::format_to(text, sizeof(text), "console-test: writer %u line 20 -----------------------", number);
  c.await_line(text, "done\r");
  for (uint32_t i = 1; i <= 20; ++i) {
    tessera::format_to(text, sizeof(text), "console-test: writer %u line %02u -----------------------\n", number, i);
    const auto w = c.write(text);
    if (!check(2, w.ok() && w->status == 0, "write")) break;
  }
  char line[16];
  const auto r = c.read(line, sizeof(line));
  check(3, r.ok() && equals(line, "done\n"), "one of the harness's answers");
}

// malformed: 10,000 bad control messages, then the session works.
Error raw_call(sys::CPtr endpoint, uint64_t label, const uint64_t* words, uint32_t length, uint32_t caps) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  for (uint32_t i = 0; i < length; ++i) buffer->msg[i] = words[i];
  sys::Received reply{};
  const Error e = sys::call(endpoint, tessera::capnp::MessageInfo{label, length, caps, 0}, &reply);
  if (e != Error::Ok) return e;
  return tessera::capnp::error_from_label(reply.info.label, tessera::kErrorCount);
}

uint64_t next_random(uint64_t* state) {  // xorshift64*
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 0x2545F4914F6CDD1Dull;
}

void malformed() {
  const sys::CPtr endpoint = grant("endpoint:console");
  using Console = con::Console;
  uint64_t state = 0xc0de5;
  uint64_t words[tessera::kMessageWords];
  uint32_t accepted = 0, call_failures = 0;
  const sys::CPtr stray = make_notification().value_or(0);
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t kind = i % 4;
    Error e = Error::Ok;
    if (kind == 0) {  // random words under each label (no session: everything must fail)
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % 24);
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(endpoint, Console::label(static_cast<Console::Method>(next_random(&state) % 5)), words, length, 0);
    } else if (kind == 1) {  // open with garbage and a capability
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % 8);
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      sys::ipc_buffer()->caps_or_badges[0] = stray;
      e = raw_call(endpoint, Console::label(Console::Method::Open), words, length, 1);
      sys::ipc_buffer()->caps_or_badges[0] = 0;
    } else if (kind == 2) {  // capabilities where none belong
      sys::ipc_buffer()->caps_or_badges[0] = stray;
      e = raw_call(endpoint, Console::label(Console::Method::Status), words, 0, 1);
      sys::ipc_buffer()->caps_or_badges[0] = 0;
    } else {  // any label, any length
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % (tessera::kMessageWords + 1));
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(endpoint, next_random(&state) & 0xFFFFFFFFFFFFull, words, length, 0);
    }
    if (e == Error::Ok) ++accepted;
    if (e == Error::FailedLookup || e == Error::ObjectDeleted || e == Error::InsufficientRights) ++call_failures;
  }
  sys::print("drvclient malformed: 10,000 malformed messages, %u accepted, %u failed calls\n", accepted, call_failures);
  check(2, call_failures == 0, "every call reached the driver");
  check(3, accepted == 0, "no malformed message opened a session or was accepted");
  ConsoleClient c;
  open_console(c);
  c.await_line("console-test: still serving after 10,000 malformed messages", "ok\r");
  check(4, c.write("console-test: still serving after 10,000 malformed messages\n").ok(), "write");
  char line[16];
  check(5, c.read(line, sizeof(line)).ok() && equals(line, "ok\n"), "read");
}

// hostile: descriptors outside the data area and unknown opcodes are refused one by one; an
// index jump ends the session. good: works alongside (started after hostile has broken its ring).
void hostile() {
  ConsoleClient c;
  open_console(c);
  const uint64_t bad_offset = c.submit(kLayout.data_bytes - 4, 100, con::kOpWrite).value_or(0);
  const auto refused = c.await(bad_offset);
  check(2, refused.ok() && refused->status == static_cast<uint16_t>(Error::RangeError), "a write past the data area: RangeError");
  const uint64_t huge = c.submit(~uint64_t{0} - 8, 16, con::kOpRead).value_or(0);
  const auto refused2 = c.await(huge);
  check(3, refused2.ok() && refused2->status == static_cast<uint16_t>(Error::RangeError), "an overflowing offset: RangeError");
  const uint64_t opcode = c.submit(0, 4, 77).value_or(0);
  const auto refused3 = c.await(opcode);
  check(4, refused3.ok() && refused3->status == static_cast<uint16_t>(Error::InvalidArgument), "an unknown opcode: InvalidArgument");
  const auto s = c.control().status();
  check(5, s.ok() && s->refused() == 3, "three refused");
  // The producer index jumps by 1000: the session ends.
  auto* header = reinterpret_cast<tessera::RingHeader*>(c.base + kLayout.request_offset);
  __atomic_store_n(&header->producer.index, header->producer.index + 1000, __ATOMIC_RELEASE);
  (void)sys::signal(c.doorbell);
  Error e = Error::Ok;
  for (uint32_t i = 0; i < 100000; ++i) {
    e = c.control().status().error();
    if (e != Error::Ok) break;
    (void)sys::yield();
  }
  check(6, e == Error::MalformedMessage, "the corrupted session is ended");
  check(7, c.control().status().error() == Error::EmptySlot, "and gone");
  (void)sys::signal(grant("notification:ready"));
  // A fresh session works again (the driver still serves this client too).
  ConsoleClient again;
  open_console(again);
  check(8, again.write("console-test: the hostile client's new session\n").ok(), "a new session writes");
}

void good() {
  uint64_t word = 0;
  (void)sys::wait(grant("notification:ready"), &word);
  ConsoleClient c;
  open_console(c);
  c.await_line("console-test: the good client still served", "fine\r");
  check(2, c.write("console-test: the good client still served\n").ok(), "write");
  char line[16];
  check(3, c.read(line, sizeof(line)).ok() && equals(line, "fine\n"), "read");
  (void)sys::signal(grant("notification:done"));
}

// slow: never consumes a completion; fills its rings until the driver holds its requests.
void slow() {
  ConsoleClient c;
  open_console(c);
  const char* text = "console-test: slow client\n";
  memcpy(c.data.base(), text, strlen(text));
  bool held = false;
  uint32_t pushed = 0;
  for (uint32_t round = 0; round < 200000 && !held; ++round) {
    Result<bool> p = c.requests.push(RingDescriptor{0, static_cast<uint32_t>(strlen(text)),
                                                          con::kOpWrite, 0, ++c.cookie, 0});
    if (p.ok()) {
      ++pushed;
      if (*p) (void)sys::signal(c.doorbell);
      continue;
    }
    (void)sys::signal(c.doorbell);
    const auto s = c.control().status();
    held = s.ok() && s->held();
    (void)sys::yield();
  }
  check(2, held, "the driver holds the requests of a client that does not consume");
  sys::print("drvclient slow: %u requests pushed, none consumed; the driver holds the rest\n", pushed);
  (void)sys::signal(grant("notification:ready"));
  uint64_t word = 0;
  (void)sys::wait(grant("notification:done"), &word);
  const auto s = c.control().status();
  check(3, s.ok() && s->held(), "still held, still a session");
}

// typed: keys pressed on the PS/2 keyboard reach the console (through kbd) as an edited line, and
// merge with serial input.
void typed() {
  ConsoleClient c;
  open_console(c);
  char line[32];
  const auto w = c.write("HARNESS-SENDKEY h i backspace o shift-1 ret\n");
  check(2, w.ok() && w->status == 0, "ask for keys");
  check(3, c.read(line, sizeof(line)).ok() && equals(line, "ho!\n"), "the keys, edited, as a line");
  c.input("ab");
  check(4, c.write("HARNESS-SENDKEY c ret\n").ok(), "ask for keys");
  check(5, c.read(line, sizeof(line)).ok() && equals(line, "abc\n"), "serial and keyboard input in one line");
}

// ---- Keyboard ------------------------------------------------------------------------------------
struct Subscription {
  sys::CPtr endpoint = 0, notify = 0;
  sys::Region region;
  uint8_t* base = nullptr;
  sys::RingConsumer events;

  Result<void> subscribe(sys::CPtr kbd) {
    endpoint = kbd;
    notify = TRY(make_notification());
    uint32_t slots_in_ring = 0;
    const sys::CPtr cap = TRY(call_receiving<kb::Keyboard>(endpoint, [&](auto& c) {
      const auto r = c.subscribe(tessera::capnp::CapRef{notify});
      if (r.ok()) slots_in_ring = r->ring_slots();
      return r.ok() ? Error::Ok : r.error();
    }));
    region = TRY(sys::Region::adopt(session, cap));
    base = TRY(region.attach(tessera::memory::kRightRead | tessera::memory::kRightWrite));
    events = TRY(sys::RingConsumer::attach(base, region.bytes(), slots_in_ring, sys::DataArea()));
    return {};
  }

  kb::Keyboard::Client<sys::CallTransport> control() {
    static sys::CallTransport transport(sys::ipc_buffer());
    return kb::Keyboard::Client<sys::CallTransport>(transport, endpoint);
  }

  RingDescriptor next() {
    for (;;) {
      Result<RingDescriptor> e = events.pop();
      if (e.ok()) return *e;
      if (!check(70, e.error() == Error::WouldBlock, "the event ring")) finish();
      uint64_t word = 0;
      (void)sys::wait(notify, &word);
    }
  }
};

struct Expected {
  uint16_t opcode;
  uint16_t key;
  uint8_t modifiers;
  uint8_t character;
};

void expect_events(Subscription& s, const Expected* expected, uint32_t count, int number) {
  for (uint32_t i = 0; i < count; ++i) {
    const RingDescriptor e = s.next();
    const uint16_t key = static_cast<uint16_t>(e.argument);
    const uint8_t mods = static_cast<uint8_t>(e.argument >> 16), ch = static_cast<uint8_t>(e.argument >> 32);
    const Expected& x = expected[i];
    if (e.opcode != x.opcode || key != x.key || mods != x.modifiers || ch != x.character) {
      sys::print("drvclient %s: event %u: %s key 0x%x mods 0x%x char 0x%x; expected %s key 0x%x mods 0x%x char 0x%x\n",
                 name, i, e.opcode == kb::kEventPress ? "press" : "release", key, mods, ch,
                 x.opcode == kb::kEventPress ? "press" : "release", x.key, x.modifiers, x.character);
      check(number, false, "the events of the keys pressed");
      return;
    }
  }
}

void subscribe(Subscription& s) {
  const Result<void> r = s.subscribe(grant("endpoint:kbd"));
  if (!check(1, r.ok(), "subscribe")) {
    sys::print("drvclient %s: subscribe: %s\n", name, error_name(r.error()));
    finish();
  }
}

constexpr uint16_t P = kb::kEventPress, R = kb::kEventRelease;
constexpr uint8_t S = kb::kModShift, C = kb::kModCtrl, A = kb::kModAlt, L = kb::kModCapsLock;

void keys() {
  Subscription s;
  subscribe(s);
  sys::print("HARNESS-SENDKEY shift-a b ctrl-c alt-x ret\n");
  const Expected expected[] = {
      {P, 0x2A, S, 0}, {P, 0x1E, S, 'A'}, {R, 0x1E, S, 0}, {R, 0x2A, 0, 0},       // shift-a
      {P, 0x30, 0, 'b'}, {R, 0x30, 0, 0},                                       // b
      {P, 0x1D, C, 0}, {P, 0x2E, C, 0x03}, {R, 0x2E, C, 0}, {R, 0x1D, 0, 0},    // ctrl-c
      {P, 0x38, A, 0}, {P, 0x2D, A, 'x'}, {R, 0x2D, A, 0}, {R, 0x38, 0, 0},     // alt-x
      {P, 0x1C, 0, '\n'}, {R, 0x1C, 0, 0},                                      // ret
  };
  expect_events(s, expected, sizeof(expected) / sizeof(expected[0]), 2);
  const auto st = s.control().status();
  check(3, st.ok() && st->dropped() == 0 && st->events() >= 16, "status: no event dropped");
  check(4, s.control().subscribe(tessera::capnp::CapRef{s.notify}).error() == Error::Busy, "a second subscription: Busy");
}

void caps() {
  Subscription s;
  subscribe(s);
  sys::print("HARNESS-SENDKEY caps_lock a shift-a caps_lock a\n");
  const Expected on[] = {{P, 0x3A, L, 0}, {R, 0x3A, L, 0}, {P, 0x1E, L, 'A'}, {R, 0x1E, L, 0},
                         {P, 0x2A, S | L, 0}, {P, 0x1E, S | L, 'a'}, {R, 0x1E, S | L, 0}, {R, 0x2A, L, 0}};
  expect_events(s, on, 8, 2);
  const auto lit = s.control().status();
  const bool led_on = lit.ok() && (lit->leds() & 4) != 0;
  const Expected off[] = {{P, 0x3A, 0, 0}, {R, 0x3A, 0, 0}, {P, 0x1E, 0, 'a'}, {R, 0x1E, 0, 0}};
  expect_events(s, off, 4, 3);
  const auto dark = s.control().status();
  check(4, led_on && dark.ok() && (dark->leds() & 4) == 0, "the caps lock LED follows");
}

void kbd_hostile() {
  Subscription s;
  subscribe(s);
  auto* header = reinterpret_cast<tessera::RingHeader*>(s.base);
  __atomic_store_n(&header->consumer.index, 5000u, __ATOMIC_RELEASE);  // a jump past the producer
  // 10,000 malformed messages too.
  uint64_t state = 0x4b4244;
  uint64_t words[tessera::kMessageWords];
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t length = static_cast<uint32_t>(next_random(&state) % (tessera::kMessageWords + 1));
    for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
    const uint64_t label = i % 2 == 0 ? kb::Keyboard::label(kb::Keyboard::Method::Subscribe) : next_random(&state) & 0xFFFFFFFFFFFFull;
    if (raw_call(s.endpoint, label, words, length, 0) == Error::Ok) ++accepted;
  }
  check(2, accepted == 0, "malformed messages refused");
  (void)sys::signal(grant("notification:ready"));
  uint64_t word = 0;
  (void)sys::wait(grant("notification:done"), &word);
  const Error ended = s.control().status().error();
  if (!check(3, ended == Error::MalformedMessage, "the corrupted subscription is ended")) {
    sys::print("drvclient %s: status: %s\n", name, error_name(ended));
  }
  check(4, s.control().status().error() == Error::EmptySlot, "and gone");
}

void kbd_good() {
  uint64_t word = 0;
  (void)sys::wait(grant("notification:ready"), &word);
  Subscription s;
  subscribe(s);
  sys::print("HARNESS-SENDKEY q\n");
  const Expected q[] = {{P, 0x10, 0, 'q'}, {R, 0x10, 0, 0}};
  expect_events(s, q, 2, 2);
  (void)sys::signal(grant("notification:done"));
}

// ---- Restarts -------------------------------------------------------------------------------------
// kbdcrash: kbd crashes (its test hook); the console subscribes to the restarted kbd and keys typed
// afterwards reach this console client as a line.
void kbd_crash() {
  ConsoleClient c;
  open_console(c);
  const auto before = c.control().keyboard_status();
  check(2, before.ok() && before->subscribed() && before->subscriptions() == 1, "the console has a keyboard");
  sys::CallTransport transport(sys::ipc_buffer());
  kb::Keyboard::Client<sys::CallTransport> kbd(transport, grant("endpoint:kbd"));
  const auto crashed = kbd.crash();
  check(3, !crashed.ok() && crashed.error() == Error::NoReply, "kbd crashed in the call (NoReply)");
  // The console notices through Keyboard.watch and subscribes again (kbd's restart is init's).
  uint64_t polls = 0;
  for (;; ++polls) {
    const auto now = c.control().keyboard_status();
    if (!check(4, now.ok(), "keyboardStatus")) finish();
    if (now->subscribed() && now->subscriptions() == 2) break;
    (void)sys::yield();
  }
  sys::print("drvclient %s: the console subscribed again after %lu polls\n", name, polls);
  // Console output went on meanwhile: a short pause at most.
  const auto w = c.write("HARNESS-SENDKEY o k ret\n");
  check(5, w.ok() && w->status == 0, "ask for keys");
  char line[32];
  check(6, c.read(line, sizeof(line)).ok() && equals(line, "ok\n"), "keys typed after kbd's restart, as a line");
  const auto after = kbd.status();
  check(7, after.error() == Error::EmptySlot, "this client never subscribed to the new kbd");
}

// consolecrash: the console crashes (its test hook) under this client, which notices through
// Console.watch, opens again on the restarted console and writes and reads there.
void console_crash() {
  ConsoleClient c;
  open_console(c);
  const auto w = c.write("console-test: before the console's crash\n");
  check(2, w.ok() && w->status == 0, "write before the crash");
  const Result<sys::CPtr> watch = call_receiving<con::Console>(c.endpoint, [](auto& console) {
    const auto r = console.watch();
    return r.ok() ? Error::Ok : r.error();
  });
  if (!check(3, watch.ok(), "Console.watch")) finish();
  uint64_t word = 0;
  check(4, sys::poll(watch.value(), &word) == Error::Ok && word == 0, "the watch notification is never signalled");
  const auto crashed = c.control().crash();
  check(5, !crashed.ok() && crashed.error() == Error::NoReply, "the console crashed in the call (NoReply)");
  const Error gone = sys::wait(watch.value(), &word);
  sys::print("drvclient %s: the watch wait ended with %s\n", name, error_name(gone));
  check(6, gone != Error::Ok, "the wait on the watch notification ends with an error: the console is gone");
  (void)c.region.release();  // the dead console's region
  ConsoleClient d;
  open_console(d);  // waits on the endpoint until init has restarted the console
  d.await_line("console-test: after the console's restart", "typed\r");
  const auto again = d.write("console-test: after the console's restart\n");
  check(7, again.ok() && again->status == 0, "write after the restart");
  char line[32];
  check(8, d.read(line, sizeof(line)).ok() && equals(line, "typed\n"), "read a line after the restart");
  // The restarted console subscribed to kbd again (replacing its predecessor's subscription).
  const auto k = d.control().keyboard_status();
  check(9, k.ok() && k->subscribed() && k->subscriptions() == 1, "the restarted console has the keyboard");
  check(10, d.write("HARNESS-SENDKEY h i ret\n").ok(), "ask for keys");
  check(11, d.read(line, sizeof(line)).ok() && equals(line, "hi\n"), "keys typed reach the restarted console");
}

}  // namespace

int main(uint64_t argument) {
  block = sys::startup_block(argument);
  if (block == nullptr || sys::process_memory() == nullptr) return 99;
  name = block->argument;
  static sys::SlotAllocator own(block->empty);
  slots = &own;
  session = sys::MemorySession(sys::process_memory()->cap(), own, sys::kProcessSlotCNode);
  const char* mode = block->argument;
  if (equals(mode, "output")) output();
  else if (equals(mode, "echo")) echo();
  else if (equals(mode, "edit")) edit();
  else if (equals(mode, "writer1")) writer(1);
  else if (equals(mode, "writer2")) writer(2);
  else if (equals(mode, "writer3")) writer(3);
  else if (equals(mode, "malformed")) malformed();
  else if (equals(mode, "hostile")) hostile();
  else if (equals(mode, "good")) good();
  else if (equals(mode, "slow")) slow();
  else if (equals(mode, "typed")) typed();
  else if (equals(mode, "keys")) keys();
  else if (equals(mode, "caps")) caps();
  else if (equals(mode, "kbdhostile")) kbd_hostile();
  else if (equals(mode, "kbdgood")) kbd_good();
  else if (equals(mode, "kbdcrash")) kbd_crash();
  else if (equals(mode, "consolecrash")) console_crash();
  else check(98, false, "an unknown mode");
  finish();
}
