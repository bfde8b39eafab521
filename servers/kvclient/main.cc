// kvclient: calls the example key-value server (servers/kv) through the generated client stubs and
// prints one `kvclient: ok ...` line per check, then reports its status to init (exit_process).
// Granted (boot/system.conf): "endpoint:kv" and "notification:kvwatch" (for watch()), and
// "endpoint:console": it prints through the console driver (tessera/console/client.h); without
// that grant (or when the console cannot be opened) through the kernel's debug write.
#include <stdint.h>

#include <stdarg.h>

#include <tessera/abi/kv.capnp.h>
#include <tessera/console/client.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

namespace {
namespace sys = tessera::sys;
using tessera::capnp::Data;
using tessera::capnp::Text;
using Client = tessera::kv::Store::Client<sys::CallTransport>;

int failures = 0;
tessera::console::ConsoleClient console;

// One line, through the console driver when there is a session, else the kernel's debug write.
__attribute__((format(printf, 1, 2))) void say(const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  tessera::vformat_to(line, sizeof(line), format, args);
  va_end(args);
  if (!console.is_open() || !console.write(line).ok()) sys::print("%s", line);
}
constexpr uint64_t kWatchBadge = 0x1;

void expect(bool condition, const char* what) {
  if (condition) {
    say("kvclient: ok %s\n", what);
  } else {
    say("kvclient: FAILED %s\n", what);
    ++failures;
  }
}

bool holds(Client& kv, Text key, const char* expected) {
  auto reply = kv.get(key);
  if (!reply.ok() || !reply->found()) return false;
  auto value = reply->value();
  return value.ok() && value->size == strlen(expected) && memcmp(value->data, expected, value->size) == 0;
}

Data bytes(const char* text) { return Data{reinterpret_cast<const uint8_t*>(text), static_cast<uint32_t>(strlen(text))}; }

// A copy of the granted notification carrying badge `badge` in a free slot of this process's CNode:
// a signal ORs the signaller's badge into the word, so only a badged cap makes a visible bit.
tessera::Result<sys::CPtr> badged_copy(sys::SlotAllocator& slots, sys::CPtr notification, uint64_t badge) {
  sys::CallTransport kernel(sys::ipc_buffer());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
  const sys::CPtr slot = TRY(slots.alloc());
  TRY(cnode.mint(slot, sys::kSlotDepth, {sys::kProcessSlotCNode}, notification, sys::kSlotDepth,
                 tessera::abi::kRightRead | tessera::abi::kRightWrite, badge));
  return slot;
}

void exercise(Client& kv, sys::CPtr notification) {
  auto put = kv.put("greeting", bytes("hello"));
  expect(put.ok() && !put->replaced(), "put greeting=hello");
  expect(holds(kv, "greeting", "hello"), "get greeting -> hello");
  auto again = kv.put("greeting", bytes("hello again"));
  expect(again.ok() && again->replaced(), "put replaces the value");

  expect(kv.watch("greeting", tessera::capnp::CapRef{notification}).ok(), "watch greeting (passes a notification)");
  uint64_t word = 0;
  (void)sys::poll(notification, &word);  // nothing pending yet
  (void)kv.put("greeting", bytes("changed"));
  (void)sys::poll(notification, &word);
  expect(word == kWatchBadge, "the server signalled the watched key's change");

  auto removed = kv.delete_("greeting");
  expect(removed.ok() && removed->existed(), "delete greeting");
  auto missing = kv.get("greeting");
  expect(missing.ok() && !missing->found(), "get after delete finds nothing");
  expect(kv.put("", bytes("x")).error() == tessera::Error::RangeError, "an empty key is refused");
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  auto endpoint = sys::find_grant(*block, "endpoint:kv");
  auto notification = sys::find_grant(*block, "notification:kvwatch");
  if (!endpoint.ok() || !notification.ok()) {
    sys::print("kvclient: needs endpoint:kv and notification:kvwatch\n");
    sys::exit_process(1);
  }
  static sys::SlotAllocator slots(block->empty);
  static sys::MemorySession session;
  auto console_endpoint = sys::find_grant(*block, "endpoint:console");
  if (console_endpoint.ok() && sys::process_memory() != nullptr) {
    session = sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
    (void)console.open(session, slots, *console_endpoint);
  }
  auto badged = badged_copy(slots, *notification, kWatchBadge);
  if (!badged.ok()) {
    sys::print("kvclient: cannot mint a badged notification (error %u)\n", static_cast<unsigned>(badged.error()));
    sys::exit_process(1);
  }
  sys::CallTransport transport(sys::ipc_buffer());
  Client kv(transport, *endpoint);
  exercise(kv, *badged);
  say("kvclient: done, %d failed\n", failures);
  if (console.is_open()) (void)console.flush();
  sys::exit_process(failures == 0 ? 0 : 1);
}
