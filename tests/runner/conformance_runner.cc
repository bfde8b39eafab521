// The conformance runner. Every test gets a process started like the root task (libsys
// ProcessOptions::boot_info): its own CNode with the root task's slots, its own PML4, a BootInfo,
// 4 untyped caps (16 MiB, 4 MiB, 1 MiB, 64 KiB) and a 4 KiB device untyped, IRQControl and
// IOPortControl (moved in and taken back afterwards: they cannot be copied) and a copy of
// SchedControl. Its fault endpoint is a badged copy of the runner's endpoint, so the runner hears
// how it ended: an exit (main's status: 0 passed, 1 failed, 2 no such test) or a fault — which a
// `fault` test expects (it first sends the text the fault's description must contain).
//
// All of a test's memory is carved from one 32 MiB untyped: after the test the runner destroys
// the process, revokes that untyped (whatever the test made, wherever it put it, is gone) and
// checks that it is whole again, so no test sees another's leftovers and a leak is a failure.
//
// The MEMORY tests (tests/memory/, the program `memtest`) get a memory server of their own
// (servers/memory, docs/memory.md): before each one the runner launches the server, its kernel
// objects (TCB, CNode, image, endpoint) carved from the test's 32 MiB like the test's own, and
// hands it a child untyped of each untyped of the runner's memory pool (the RAM left after the
// test memory, set aside at setup and used by nothing else); the test gets the server's Control
// capability in kBootInfoServiceSlot. Afterwards the runner destroys the server, revokes the pool
// untypeds (every frame the server made, wherever its caps went) and checks each is whole again.
//
// The DEV, CONSOLE and KBD tests (tests/devices/, the program `devtest`) get a memory server the same way and,
// instead of the 4 KiB device untyped, a child as large as each boot device untyped (the PCI
// memory window: they play init, which carves BARs from them), revoked afterwards. The BLK tests
// (the program `blktest`: the virtio-blk driver and its client) are run the same way.
#include "conformance_runner.h"

#include <tessera/abi/kernel.capnp.h>
#include <tessera/cmdline.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/syscall.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/syscall.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/untyped.h>

#include "launch.h"
#include "system.h"

namespace init {
namespace {
namespace sys = tessera::sys;
namespace testing = tessera::sys::testing;
using tessera::BootInfo;
using tessera::Error;
using tessera::Result;
using tessera::abi::ObjectType;
using tessera::capnp::CapRef;
using sys::CPtr;
using sys::kSlotDepth;
using CNodeClient = tessera::abi::CNode::Client<sys::CallTransport>;
using UntypedClient = tessera::abi::Untyped::Client<sys::CallTransport>;

constexpr uint8_t kTestMemoryBits = 25;
constexpr uint8_t kGrantBits[] = {24, 22, 20, 16};  // largest first: each is aligned in turn
constexpr uint8_t kDeviceGrantBits = 12;
constexpr uint32_t kStackPages = 16;  // as the root task's 64 KiB
constexpr uint8_t kTestPriority = 255;  // the root task's priority and MCP
// The memory server's pool for the MEMORY tests: the runner's RAM after the test memory, in
// untypeds of 2 MiB to 32 MiB (the server manages 2 MiB blocks).
constexpr uint8_t kPoolBits[] = {25, 24, 23, 22, 21};
constexpr uint32_t kMaxPoolUntypeds = 24;
constexpr uint64_t kServerBadge = uint64_t{1} << 62;  // the memory server's faults, apart from tests'

using testing::Outcome;

bool contains(const char* text, const char* part) {
  const size_t n = strlen(part);
  for (const char* p = text; *p != '\0'; ++p) {
    if (strncmp(p, part, n) == 0) return true;
  }
  return n == 0;
}

struct Runner {
  const BootInfo& info;
  sys::CallTransport kernel;
  sys::SlotAllocator slots;
  sys::UntypedAllocator memory;
  const EmbeddedFile* image = nullptr;
  const EmbeddedFile* memtest = nullptr;  // the MEMORY tests' program
  const EmbeddedFile* devtest = nullptr;  // the DEV tests' program
  const EmbeddedFile* blktest = nullptr;  // the BLK tests' program
  const EmbeddedFile* timertest = nullptr;  // the TIMER tests' program
  const EmbeddedFile* ctltest = nullptr;    // the INITCTL tests' program
  const EmbeddedFile* fstest = nullptr;     // the FS tests' program
  CPtr devices[sys::kMaxBootInfoStartUntypeds] = {};  // every boot device untyped (DEV tests)
  uint8_t device_bits[sys::kMaxBootInfoStartUntypeds] = {};
  uint32_t device_count = 0;
  CPtr endpoint = 0;
  CPtr test_memory = 0;      // kTestMemoryBits of RAM, lent to one test at a time
  CPtr device_parent = 0;    // a boot device untyped the device grants are carved from (0: none)
  CPtr scratch = 0;          // for the wholeness probe
  CPtr pool[kMaxPoolUntypeds] = {};  // the memory server's untyped memory, lent per MEMORY test
  uint8_t pool_bits[kMaxPoolUntypeds] = {};
  uint32_t pool_count = 0;
  bool have_irq_control = true;
  bool have_io_port_control = true;
  uint64_t tests_run = 0;  // also the badge of the current test's process

  explicit Runner(const BootInfo& boot)
      : info(boot),
        kernel(reinterpret_cast<tessera::IpcBuffer*>(boot.ipc_buffer)),
        slots(sys::root_free_slots(boot)),
        memory(boot, kernel, slots) {}
};

// The per-test allocator's view: a BootInfo naming only the test memory.
constinit BootInfo test_memory_info{};

// init's command line without its `test=` word, then ` test=NAME`: the test sees every other
// option (selftest=, fastpath=, ...).
void child_command_line(const char* cmdline, const char* name, char* out, size_t capacity) {
  size_t n = 0;
  auto put = [&](char c) {
    if (n + 1 < capacity) out[n++] = c;
  };
  tessera::CommandLine(tessera::StringView(cmdline)).for_each_word([&](tessera::StringView word) {
    if (word.starts_with("test=")) return;
    for (size_t i = 0; i < word.size; ++i) put(word.data[i]);
    put(' ');
  });
  for (const char* c = "test="; *c != '\0'; ++c) put(*c);
  for (const char* c = name; *c != '\0'; ++c) put(*c);
  out[n] = '\0';
}

void describe_fault(uint64_t label, const uint64_t* words, char* out, size_t capacity) {
  switch (static_cast<tessera::FaultKind>(label)) {
    case tessera::FaultKind::PageFault:
      tessera::format_to(out, capacity, "page fault at 0x%lx error 0x%lx ip 0x%lx", words[1], words[2], words[0]);
      return;
    case tessera::FaultKind::Exception:
      tessera::format_to(out, capacity, "exception vector %lu error 0x%lx ip 0x%lx", words[1], words[2], words[0]);
      return;
    case tessera::FaultKind::UnknownSyscall:
      tessera::format_to(out, capacity, "unknown system call %lu ip 0x%lx", words[1], words[0]);
      return;
  }
  tessera::format_to(out, capacity, "message with label 0x%lx", label);
}

Result<void> setup(Runner& r) {
  r.image = find_embedded_file("conformance");
  if (r.image == nullptr) {
    sys::print("# conformance: the conformance program is not embedded in init\n");
    return Error::EmptySlot;
  }
  r.memtest = find_embedded_file("memtest");
  r.devtest = find_embedded_file("devtest");
  r.blktest = find_embedded_file("blktest");
  r.timertest = find_embedded_file("timertest");
  r.ctltest = find_embedded_file("ctltest");
  r.fstest = find_embedded_file("fstest");
  r.endpoint = TRY(r.memory.allocate(ObjectType::Endpoint));
  r.test_memory = TRY(r.memory.allocate(ObjectType::Untyped, kTestMemoryBits));
  r.scratch = TRY(r.slots.alloc());
  // Everything else of 2 MiB or more is the memory server's pool (only MEMORY tests use it).
  for (const uint8_t bits : kPoolBits) {
    while (r.pool_count < kMaxPoolUntypeds) {
      Result<CPtr> u = r.memory.allocate(ObjectType::Untyped, bits);
      if (!u.ok()) break;
      r.pool[r.pool_count] = *u;
      r.pool_bits[r.pool_count++] = bits;
    }
  }
  test_memory_info.untyped = tessera::SlotRegion{r.test_memory, r.test_memory + 1};
  test_memory_info.untyped_list[0] = TRY(sys::describe_untyped(r.kernel, r.test_memory));
  const uint64_t count = tessera::min<uint64_t>(r.info.untyped.end - r.info.untyped.start, tessera::kMaxBootUntypeds);
  for (uint64_t i = 0; i < count; ++i) {
    const tessera::UntypedDescriptor& u = r.info.untyped_list[i];
    if (u.is_device != 0 && u.size_bits >= kDeviceGrantBits && r.device_parent == 0) {
      r.device_parent = r.info.untyped.start + i;
    }
    if (u.is_device != 0 && r.device_count < sys::kMaxBootInfoStartUntypeds - sizeof(kGrantBits)) {
      r.device_bits[r.device_count] = u.size_bits;
      r.devices[r.device_count++] = r.info.untyped.start + i;
    }
  }
  return {};
}

// Takes the test's messages until it exits or faults. `expected` collects a `fault` test's text.
Outcome await_end(Runner& r, uint64_t badge) {
  char expected[testing::kMaxExpectedFaultText + 1] = {};
  bool expecting = false;
  for (;;) {
    sys::Received in{};
    if (const Error e = sys::recv(r.endpoint, &in); e != Error::Ok) {
      sys::print("# runner: receive failed (error %u)\n", static_cast<unsigned>(e));
      return Outcome::failed;
    }
    const tessera::IpcBuffer* buffer = sys::ipc_buffer();
    if (in.badge == kServerBadge) {
      char description[160];
      const uint64_t server_words[3] = {buffer->msg[0], buffer->msg[1], buffer->msg[2]};
      describe_fault(in.info.label, server_words, description, sizeof(description));
      sys::print("# the memory server faulted: %s\n", description);
      return Outcome::failed;
    }
    if (in.badge != badge) continue;  // cannot happen: every earlier test's objects are gone
    const uint64_t label = in.info.label;
    if (label == testing::kExpectFaultLabel && in.info.length_words >= 1) {
      const uint64_t length = tessera::min<uint64_t>(buffer->msg[0], testing::kMaxExpectedFaultText);
      const uint64_t room = (in.info.length_words - 1) * 8;
      memcpy(expected, &buffer->msg[1], tessera::min(length, room));
      expected[tessera::min(length, room)] = '\0';
      expecting = true;
      continue;  // the sender was blocked in Send only until this receive
    }
    if (label == sys::kProcessExitLabel && in.info.length_words >= 1) {
      const auto status = static_cast<int64_t>(buffer->msg[0]);
      if (status == 2) return Outcome::missing;
      if (expecting && status == 0) {
        sys::print("# check failed: the test expected a fault containing \"%s\" but ended normally\n", expected);
        return Outcome::failed;
      }
      if (status != 0 && status != 1) sys::print("# the test's process exited with status %ld\n", status);
      return status == 0 ? Outcome::passed : Outcome::failed;
    }
    const uint64_t words[3] = {buffer->msg[0], buffer->msg[1], buffer->msg[2]};
    char description[160];
    describe_fault(label, words, description, sizeof(description));
    sys::print("# the test's process faulted: %s\n", description);
    if (!expecting) return Outcome::failed;
    if (!contains(description, expected)) {
      sys::print("# check failed: expected a fault containing \"%s\"\n", expected);
      return Outcome::failed;
    }
    return Outcome::passed;
  }
}

bool is_memory_test(const char* name) { return strncmp(name, "MEMORY", 6) == 0; }
// DEV, TIMER and the drivers' CONSOLE and KBD tests run in devtest, BLK in blktest, FS in fstest,
// INITCTL in ctltest (tests/devices/; TIMER0001-0002 are kernel self-tests, never asked for here),
// all with the hardware lent.
bool is_device_test(const char* name) {
  return strncmp(name, "DEV", 3) == 0 || strncmp(name, "CONSOLE", 7) == 0 || strncmp(name, "KBD", 3) == 0 ||
         strncmp(name, "TIMER", 5) == 0 || strncmp(name, "BLK", 3) == 0 || strncmp(name, "FS", 2) == 0 ||
         strncmp(name, "INITCTL", 7) == 0;
}

// Starts the memory server for a MEMORY test: its kernel objects from the test's memory, a child
// untyped of each pool untyped to manage (revoked with the pool afterwards).
Result<void> start_memory_server(Runner& r, sys::UntypedAllocator& test_memory, memory::MemoryServer* server) {
  const EmbeddedFile* image = find_embedded_file("memory");
  if (image == nullptr || r.pool_count == 0) {
    sys::print("# runner: no memory server image or no memory for it (%u untypeds)\n", r.pool_count);
    return Error::NotEnoughMemory;
  }
  CPtr handed[kMaxPoolUntypeds] = {};
  uint32_t count = 0;
  Result<void> result;
  for (uint32_t i = 0; i < r.pool_count && result.ok(); ++i) {
    Result<CPtr> slot = r.slots.alloc();
    if (!slot.ok()) {
      result = slot.error();
      break;
    }
    result = UntypedClient(r.kernel, r.pool[i])
                 .retype(ObjectType::Untyped, r.pool_bits[i], CapRef{tessera::kSlotRootCNode}, 0, 0, *slot, 1);
    if (result.ok()) {
      handed[count++] = *slot;
    } else {
      (void)r.slots.free(*slot);
    }
  }
  if (result.ok()) {
    memory::LaunchOptions launch;
    launch.untyped = handed;
    launch.untyped_count = count;
    launch.fault_endpoint = r.endpoint;
    launch.fault_badge = kServerBadge;
    result = memory::launch_memory_server(test_memory, image->data, image->size, launch, server);
  }
  // Moved into the server (or, when the launch failed, still here: deleted; the pool is revoked anyway).
  CNodeClient root(r.kernel, tessera::kSlotRootCNode);
  for (uint32_t i = 0; i < count; ++i) {
    (void)root.delete_(handed[i], kSlotDepth);
    (void)r.slots.free(handed[i]);
  }
  if (!result.ok()) sys::print("# runner: the memory server did not start (error %u)\n", static_cast<unsigned>(result.error()));
  return result;
}

// After a MEMORY test: the server stops, every object made from the pool goes (revoke), the
// server's own objects go back to the test memory; false when the pool is not whole again.
bool stop_memory_server(Runner& r, sys::UntypedAllocator& test_memory, memory::MemoryServer& server) {
  bool ok = true;
  if (server.process.alive()) {
    (void)tessera::abi::Tcb::Client<sys::CallTransport>(r.kernel, server.process.tcb()).suspend();
  }
  CNodeClient root(r.kernel, tessera::kSlotRootCNode);
  for (uint32_t i = 0; i < r.pool_count; ++i) {
    if (!root.revoke(r.pool[i], kSlotDepth).ok()) ok = false;
  }
  if (Result<void> d = server.process.destroy(); !d.ok()) {
    sys::print("# runner: destroying the memory server failed (error %u)\n", static_cast<unsigned>(d.error()));
    ok = false;
  }
  if (server.control != 0) (void)test_memory.free(server.control);
  server.control = 0;
  for (uint32_t i = 0; i < r.pool_count; ++i) {
    if (!UntypedClient(r.kernel, r.pool[i])
             .retype(ObjectType::Untyped, r.pool_bits[i], CapRef{tessera::kSlotRootCNode}, 0, 0, r.scratch, 1)
             .ok()) {
      sys::print("# runner: the memory server's untyped %u is not whole after revoke\n", i);
      ok = false;
      continue;
    }
    (void)root.delete_(r.scratch, kSlotDepth);
  }
  if (!ok) sys::print("# runner: the memory server's memory did not all come back\n");
  return ok;
}

// Gives the runner's IRQControl/IOPortControl back and everything else of the test to the kernel;
// false (with a diagnostic) when something did not come back.
bool clean_up(Runner& r, sys::Process& process, CPtr* grants, uint32_t grant_count, bool devices) {
  bool ok = true;
  if (r.have_irq_control && !process.reclaim(tessera::kSlotIrqControl, tessera::kSlotIrqControl).ok()) {
    sys::print("# runner: the test did not leave IRQControl in its slot; later tests go without it\n");
    r.have_irq_control = ok = false;
  }
  if (r.have_io_port_control && !process.reclaim(tessera::kSlotIoPortControl, tessera::kSlotIoPortControl).ok()) {
    sys::print("# runner: the test did not leave IOPortControl in its slot; later tests go without it\n");
    r.have_io_port_control = ok = false;
  }
  if (const Result<void> d = process.destroy(); !d.ok()) {
    sys::print("# runner: destroying the test's process failed (error %u)\n", static_cast<unsigned>(d.error()));
    ok = false;
  }
  for (uint32_t i = 0; i < grant_count; ++i) (void)r.slots.free(grants[i]);  // moved out: empty
  CNodeClient root(r.kernel, tessera::kSlotRootCNode);
  if (!root.revoke(r.test_memory, kSlotDepth).ok() ||
      (r.device_parent != 0 && !root.revoke(r.device_parent, kSlotDepth).ok())) {
    sys::print("# runner: revoking the test's memory failed\n");
    return false;
  }
  for (uint32_t i = 0; devices && i < r.device_count; ++i) {
    if (!root.revoke(r.devices[i], kSlotDepth).ok()) {
      sys::print("# runner: revoking the test's device memory failed\n");
      return false;
    }
  }
  // Whole again: a child as large as the untyped fits only when nothing else is carved from it.
  UntypedClient untyped(r.kernel, r.test_memory);
  if (!untyped.retype(ObjectType::Untyped, kTestMemoryBits, CapRef{tessera::kSlotRootCNode}, 0, 0, r.scratch, 1).ok()) {
    sys::print("# runner: the test's memory is not whole after revoke\n");
    return false;
  }
  (void)root.delete_(r.scratch, kSlotDepth);
  return ok;
}

Outcome run_one(Runner& r, const char* name, uint64_t badge) {
  static char cmdline[sizeof(BootInfo::cmdline)];
  child_command_line(r.info.cmdline, name, cmdline, sizeof(cmdline));
  sys::UntypedAllocator test_memory(test_memory_info, r.kernel, r.slots);
  CPtr grants[sys::kMaxBootInfoStartUntypeds] = {};
  uint32_t grant_count = 0;
  for (const uint8_t bits : kGrantBits) {
    Result<CPtr> g = test_memory.allocate(ObjectType::Untyped, bits);
    if (!g.ok()) {
      sys::print("# runner: cannot carve the test's untyped (error %u)\n", static_cast<unsigned>(g.error()));
      return Outcome::failed;
    }
    grants[grant_count++] = *g;
  }
  const bool device_test = is_device_test(name);
  for (uint32_t i = 0; device_test && i < r.device_count; ++i) {
    // A child as large as the boot device untyped: revoking the parent afterwards takes back
    // everything the test carved from it.
    Result<CPtr> slot = r.slots.alloc();
    if (slot.ok() && UntypedClient(r.kernel, r.devices[i])
                         .retype(ObjectType::Untyped, r.device_bits[i], CapRef{tessera::kSlotRootCNode}, 0, 0, *slot, 1)
                         .ok()) {
      grants[grant_count++] = *slot;
    } else if (slot.ok()) {
      (void)r.slots.free(*slot);
    }
  }
  if (r.device_parent != 0 && !device_test) {
    Result<CPtr> slot = r.slots.alloc();
    if (slot.ok() && UntypedClient(r.kernel, r.device_parent)
                         .retype(ObjectType::Untyped, kDeviceGrantBits, CapRef{tessera::kSlotRootCNode}, 0, 0, *slot, 1)
                         .ok()) {
      grants[grant_count++] = *slot;
    }
  }
  // A MEMORY test runs the memtest program against a memory server of its own, a DEV test devtest.
  const bool memory_test = is_memory_test(name) || device_test;
  static memory::MemoryServer server;
  server = memory::MemoryServer{};
  const bool blk_test = strncmp(name, "BLK", 3) == 0;
  const bool timer_test = strncmp(name, "TIMER", 5) == 0;
  const bool ctl_test = strncmp(name, "INITCTL", 7) == 0;
  const bool fs_test = strncmp(name, "FS", 2) == 0;
  const EmbeddedFile* image = blk_test     ? r.blktest
                              : fs_test    ? r.fstest
                              : timer_test ? r.timertest
                              : ctl_test   ? r.ctltest
                              : device_test ? r.devtest
                              : memory_test ? r.memtest
                                            : r.image;
  bool server_started = false;
  if (memory_test) {
    if (image == nullptr) sys::print("# runner: the %s program is not embedded\n",
                                     blk_test ? "blktest" : fs_test ? "fstest" : timer_test ? "timertest" : ctl_test ? "ctltest" : device_test ? "devtest" : "memtest");
    server_started = image != nullptr && start_memory_server(r, test_memory, &server).ok();
  }
  sys::BootInfoStart start;
  start.cmdline = cmdline;
  start.service_endpoint = server_started ? server.control : 0;
  start.untyped = grants;
  start.untyped_count = grant_count;
  start.irq_control = r.have_irq_control ? tessera::kSlotIrqControl : 0;
  start.io_port_control = r.have_io_port_control ? tessera::kSlotIoPortControl : 0;
  start.sched_control = tessera::kSlotSchedControl;
  // TRACE tests get the kernel's TraceControl and (read-only) the trace rings; nobody else does.
  CPtr rings[8] = {};
  if (strncmp(name, "TRACE", 5) == 0) {
    start.trace_control = tessera::kSlotTraceControl;
    for (CPtr c = r.info.trace_rings.start; c < r.info.trace_rings.end && start.trace_ring_count < 8; ++c) {
      rings[start.trace_ring_count++] = c;
    }
    start.trace_rings = rings;
  }
  start.tsc_hz = r.info.tsc_hz;
  sys::ProcessOptions options;
  options.name = name;
  options.priority = kTestPriority;
  options.mcp = kTestPriority;
  options.fault_endpoint = r.endpoint;
  options.fault_badge = badge;
  options.stack_pages = kStackPages;
  options.boot_info = &start;
  Result<sys::Process> process = !memory_test || server_started
                                     ? sys::Process::spawn(test_memory, image->data, image->size, options)
                                     : Result<sys::Process>(Error::EmptySlot);
  Outcome outcome = Outcome::failed;
  sys::Process dead;
  if (process.ok()) {
    outcome = await_end(r, badge);
  } else if (!memory_test || server_started) {
    sys::print("# runner: cannot start the test's process (error %u)\n", static_cast<unsigned>(process.error()));
  }
  bool clean = true;
  if (process.ok()) {
    // The test's process stops first, so it cannot call the server while the server goes.
    (void)tessera::abi::Tcb::Client<sys::CallTransport>(r.kernel, process->tcb()).suspend();
  }
  if (server_started && !stop_memory_server(r, test_memory, server)) clean = false;
  if (!clean_up(r, process.ok() ? *process : dead, grants, grant_count, device_test)) clean = false;
  if (!clean && outcome == Outcome::passed) outcome = Outcome::failed;
  return outcome;
}

[[noreturn]] void list(Runner& r) {
  // The programs print their own TEST lines: the conformance program's, then memtest's (run
  // without a server: listing needs none).
  Outcome o = run_one(r, "list", ++r.tests_run);
  const EmbeddedFile* more[] = {r.memtest, r.devtest, r.blktest, r.timertest, r.fstest, r.ctltest};
  for (const EmbeddedFile* program : more) {
    if (program == nullptr || o != Outcome::passed) continue;
    const EmbeddedFile* conformance = r.image;
    r.image = program;
    o = run_one(r, "list", ++r.tests_run);
    r.image = conformance;
  }
  sys::print("TESTS-END\n");
  sys::exit_machine(o == Outcome::passed ? 0 : 1);
}

}  // namespace

void run_conformance(const BootInfo& info) {
  alignas(Runner) static uint8_t storage[sizeof(Runner)];  // no global constructors
  Runner& r = *new (storage) Runner(info);
  const tessera::CommandLine cmdline{tessera::StringView(info.cmdline)};
  tessera::StringView selection;
  if (!cmdline.get("test", &selection) || selection.empty()) {
    sys::print("# conformance: no test= on the command line\nTESTS-DONE passed=0 failed=0\n");
    sys::exit_machine(0);
  }
  if (const Result<void> s = setup(r); !s.ok()) {
    sys::print("# conformance: setup failed (error %u)\nTESTS-DONE passed=0 failed=1\n",
               static_cast<unsigned>(s.error()));
    sys::exit_machine(1);
  }
  if (selection == "list") list(r);
  // Each test's process is badged with the test's number, so the runner knows who speaks.
  const int failed = testing::run_selection(
      selection,
      [](const char* name, void* context) {
        Runner& runner = *static_cast<Runner*>(context);
        return run_one(runner, name, ++runner.tests_run);
      },
      &r);
  sys::exit_machine(failed == 0 ? 0 : 1);
}

}  // namespace init
