// Processes and the system starter: spawning programs embedded in init (tessera/sys/process.h),
// the system description (system_description.h) and supervision (system.h). The programs are
// servers/kv, servers/kvclient and servers/proctest.
//
// While a test waits for its processes it lowers the root task's priority (RootPriority), so they
// run whenever they can and the test's polling never stops them; a broken program therefore ends
// the test with a failed check instead of hanging it.
#include <tessera/abi/kv.capnp.h>
#include <tessera/abi/memory.capnp.h>
#include <tessera/string.h>
#include <tessera/string_view.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/syscall.h>

#include "cap_test_env.h"
#include "ipc_test_env.h"
#include "launch.h"
#include "system.h"

namespace {
using namespace captest;
namespace sys = tessera::sys;
using init::ProgramState;
using init::SupervisionEvent;
using sys::Process;

constexpr uint32_t kPolls = 2000;

const init::EmbeddedFile& image(Context& t, const char* name) {
  static const init::EmbeddedFile missing{"", nullptr, 0};
  const init::EmbeddedFile* file = init::find_embedded_file(name);
  t.check(file != nullptr, "%s is not embedded in init", name);
  return file != nullptr ? *file : missing;
}

// kv from its embedded image, serving `endpoint` (granted with Read, as boot/system.conf does).
tessera::Result<Process> spawn_kv(Env& env, const init::EmbeddedFile& kv_image, CPtr endpoint) {
  const sys::Grant grants[] = {{"endpoint:kv", endpoint, kRead, 0}};
  sys::ProcessOptions options;
  options.name = "kv";
  options.grants = grants;
  options.grant_count = 1;
  return Process::spawn(env.memory, kv_image.data, kv_image.size, options);
}

// Runs the root task at priority 1 while it exists, so every process it waits for runs first.
class RootPriority {
 public:
  explicit RootPriority(Env& env) : env_(env) {
    expect_ok(env.t, env.tcb(tessera::kSlotRootTcb).set_priority(kRootTcbRef, 1), "lower the root's priority");
  }
  ~RootPriority() {
    expect_ok(env_.t, env_.tcb(tessera::kSlotRootTcb).set_priority(kRootTcbRef, 255), "restore the root's priority");
  }

 private:
  Env& env_;
};

// Collects init's log lines (and shows them as diagnostics).
struct LogCapture {
  char text[4096] = {};
  size_t used = 0;

  static void sink(void* context, const char* line) {
    auto* self = static_cast<LogCapture*>(context);
    sys::print("# %s\n", line);
    const size_t length = strlen(line);
    if (self->used + length + 2 > sizeof(self->text)) return;
    memcpy(self->text + self->used, line, length);
    self->used += length;
    self->text[self->used++] = '\n';
    self->text[self->used] = '\0';
  }
  bool contains(const char* needle) const {
    const size_t n = strlen(needle);
    for (size_t i = 0; i + n <= used; ++i) {
      if (memcmp(text + i, needle, n) == 0) return true;
    }
    return false;
  }
};

// One System for the tests (it is large); each test starts and stops it.
init::System& test_system(LogCapture& log) {
  static init::System system;
  system.set_log(LogCapture::sink, &log);
  return system;
}

bool parse(Context& t, const char* text, init::SystemDescription* out) {
  init::ParseError error;
  auto r = init::parse_system_description(text, strlen(text), out, &error);
  return t.check(r.ok(), "description rejected at line %u: %s", error.line, error.reason);
}

// Polls the supervision endpoint until `done` holds or kPolls polls found nothing.
template <typename Done>
void supervise_until(Context& t, init::System& system, Done done) {
  uint32_t idle = 0;
  while (!done() && idle < kPolls) {
    auto event = system.handle_next(false);
    if (event.ok()) {
      idle = 0;
      continue;
    }
    if (!t.check(event.error() == Error::WouldBlock, "handle_next: %s", error_name(event.error()))) return;
    ++idle;
    (void)tessera::sys::yield();
  }
  t.check(done(), "the awaited supervision events did not arrive");
}

// Parses `text` into `description`, starts it in the test system and supervises it until none of
// its programs runs; nullptr (after a failed check) when it did not parse or start.
init::System* run_until_all_ended(Context& t, Env& env, const char* text, init::SystemDescription& description,
                                  LogCapture& log) {
  if (!parse(t, text, &description)) return nullptr;
  log = LogCapture{};
  init::System& system = test_system(log);
  if (!expect_ok(t, system.start(env.memory, description), "start")) return nullptr;
  auto ended = [&] {
    for (uint32_t i = 0; i < description.program_count; ++i) {
      if (system.status(i).state == ProgramState::Running) return false;
    }
    return true;
  };
  RootPriority lowered(env);
  supervise_until(t, system, ended);
  return &system;
}

TESSERA_USER_TEST(PROC0001, pass, "kv spawned from its embedded image answers put/get/delete/watch over IPC") {
  Env env(t);
  const init::EmbeddedFile& kv_image = image(t, "kv");
  const CPtr endpoint = env.make(ObjectType::Endpoint), unbadged = env.make(ObjectType::Notification);
  // A signal ORs the signalling cap's badge into the word: the server gets a badged cap.
  const CPtr notification = env.slot();
  if (t.failed() ||
      !expect_ok(t, env.root().mint(notification, kSlotDepth, kRootCNodeRef, unbadged, kSlotDepth, kAllRights, 0x40),
                 "mint a badged notification")) {
    return;
  }
  auto kv = spawn_kv(env, kv_image, endpoint);
  if (expect_ok(t, kv, "spawn kv")) {
    tessera::kv::Store::Client<CallTransport> store(env.kernel, endpoint);
    const uint8_t value[] = {1, 2, 3};
    auto put = store.put("answer", tessera::capnp::Data{value, 3});
    t.check(put.ok() && !put->replaced(), "put: %s", error_name(put.error()));
    auto got = store.get("answer");
    auto bytes = got.ok() && got->found() ? got->value() : tessera::Result<tessera::capnp::Data>(Error::EmptySlot);
    t.check(bytes.ok() && bytes->size == 3 && memcmp(bytes->data, value, 3) == 0, "get returns the value put");
    expect_error(t, store.put("a-key-that-is-far-too-long-for-the-store", {}), Error::RangeError, "an oversize key");
    expect_ok(t, store.watch("answer", CapRef{notification}), "watch with a notification");
    uint64_t word = 0;
    (void)store.put("answer", {});
    (void)sys::poll(notification, &word);
    t.check(word == 0x40, "the server signalled the notification it was sent (word 0x%lx)", word);
    // A capability sent through an endpoint cap without Grant does not travel (seL4); the server
    // then answers MissingCapability, naming the cause (it used to be MalformedMessage).
    const CPtr no_grant = env.slot();
    if (expect_ok(t, env.root().mint(no_grant, kSlotDepth, kRootCNodeRef, endpoint, kSlotDepth,
                                     tessera::abi::kRightWrite | tessera::abi::kRightGrantReply, 0x9),
                  "a client cap without Grant")) {
      tessera::kv::Store::Client<CallTransport> weak(env.kernel, no_grant);
      expect_error(t, weak.watch("answer", CapRef{notification}), Error::MissingCapability,
                   "watch through a cap without Grant");
      env.drop(no_grant);
    }
    auto removed = store.delete_("answer");
    t.check(removed.ok() && removed->existed(), "delete");
    auto missing = store.get("answer");
    t.check(missing.ok() && !missing->found(), "get after delete");
    expect_ok(t, kv->destroy(), "destroy kv");
    t.check(!kv->alive(), "destroyed");
  }
  env.drop(notification);
  env.drop(unbadged);
  env.drop(endpoint);
}

TESSERA_USER_TEST(PROC0002, pass, "a faulting program is logged by name and restarted, at most 3 times") {
  Env env(t);
  static init::SystemDescription description;
  if (!parse(t, "program crasher image=proctest restart=yes arg=fault\n", &description)) return;
  static LogCapture log;
  log = LogCapture{};
  init::System& system = test_system(log);
  if (!expect_ok(t, system.start(env.memory, description), "start")) return;
  {
    RootPriority lowered(env);
    supervise_until(t, system, [&] { return system.status(0).faults == 1 + init::kMaxRestarts; });
  }
  const init::ProgramStatus& status = system.status(0);
  t.check(status.state == ProgramState::Failed && status.restarts == init::kMaxRestarts && status.starts == 4,
          "state %u, %u restarts, %u starts", static_cast<unsigned>(status.state), status.restarts, status.starts);
  t.check(status.last_fault_kind == static_cast<uint64_t>(tessera::FaultKind::PageFault) &&
              status.last_fault_detail == 0x10,
          "last fault: kind %lu at 0x%lx", status.last_fault_kind, status.last_fault_detail);
  t.check(log.contains("init: crasher faulted: page fault at 0x10"), "the fault is logged with the program's name");
  t.check(log.contains("init: restarting crasher (3 in a row of at most 3; 3 in all"), "the restarts are logged");
  t.check(log.contains("init: giving up on crasher after 3 restarts"), "the supervisor gives up");
  expect_ok(t, system.stop(), "stop");
}

TESSERA_USER_TEST(PROC0003, pass, "exits are reported with their status; a successful exit is not restarted") {
  Env env(t);
  static init::SystemDescription description;
  static LogCapture log;
  init::System* started = run_until_all_ended(t, env,
                                              "endpoint unused\n"
                                              "program ok image=proctest restart=yes arg=exit=0\n"
                                              "program bad image=proctest arg=exit=7 grants=endpoint:unused:w\n"
                                              "program layout image=proctest arg=startup grants=endpoint:unused:r\n",
                                              description, log);
  if (started == nullptr) return;
  init::System& system = *started;
  const init::ProgramStatus& ok = system.status(system.program_index("ok"));
  const init::ProgramStatus& bad = system.status(system.program_index("bad"));
  const init::ProgramStatus& layout = system.status(system.program_index("layout"));
  t.check(ok.state == ProgramState::Exited && ok.exit_status == 0 && ok.restarts == 0, "ok: state %u status %ld",
          static_cast<unsigned>(ok.state), ok.exit_status);
  t.check(bad.state == ProgramState::Failed && bad.exit_status == 7 && bad.restarts == 0, "bad: state %u status %ld",
          static_cast<unsigned>(bad.state), bad.exit_status);
  t.check(layout.state == ProgramState::Exited && layout.exit_status == 0,
          "the start-up block and CSpace layout check found %ld problems", layout.exit_status);
  t.check(log.contains("init: bad exited with status 7"), "the exit is logged");
  expect_ok(t, system.stop(), "stop");
}

// Spawns proctest with `options` (name, argument, heap) reporting to a fresh endpoint and returns
// its exit status (-1000 when it did not exit).
int64_t run_proctest(Context& t, Env& env, sys::ProcessOptions options) {
  const init::EmbeddedFile& program = image(t, "proctest");
  if (program.data == nullptr) return -1000;
  const CPtr supervisor = env.make(ObjectType::Endpoint);
  options.fault_endpoint = supervisor;
  options.fault_badge = 1;
  int64_t status = -1000;
  auto process = Process::spawn(env.memory, program.data, program.size, options);
  if (expect_ok(t, process, "spawn proctest")) {
    RootPriority lowered(env);
    sys::Received r{};
    Error e = Error::WouldBlock;
    for (uint32_t i = 0; i < 20 * kPolls && e == Error::WouldBlock; ++i) {
      e = sys::nb_recv(supervisor, &r);
      if (e == Error::WouldBlock) (void)tessera::sys::yield();
    }
    if (t.check(e == Error::Ok && r.info.label == sys::kProcessExitLabel, "no exit from %s", options.name)) {
      status = static_cast<int64_t>(sys::ipc_buffer()->msg[0]);
    }
    expect_ok(t, process.value().destroy(), "destroy proctest");
  }
  env.drop(supervisor);
  return status;
}

TESSERA_USER_TEST(PROC0009, pass, "heap_bytes gives a program a working operator new; without it new returns nullptr") {
  // init no longer maps heaps (mem= gives every program a growing heap from the memory server:
  // PROC0013); a parent without a memory server still can (ProcessOptions::heap_bytes).
  Env env(t);
  sys::ProcessOptions options;
  options.name = "withheap";
  options.argument = "heap";
  options.heap_bytes = sys::kProcessHeapFrameBytes;
  const int64_t with = run_proctest(t, env, options);
  t.check(with == 0, "withheap: status %ld (3: no heap, 4: the heap lost bytes)", with);
  options.name = "noheap";
  options.heap_bytes = 0;
  const int64_t without = run_proctest(t, env, options);
  t.check(without == 3, "noheap: status %ld, expected 3 (new returned nullptr)", without);
}

// boot/system.conf without its hardware: the declarations of irq, ioports, pci and trace objects
// and the programs granted them (the drivers, tested with their hardware by the DEV, CONSOLE and
// KBD tests; the trace server, by TRACE tests and scripts/trace) are left out, as the test runner
// lends no hardware and no TraceControl to this system.
size_t without_hardware(const char* conf, size_t size, char* out, size_t capacity) {
  size_t n = 0;
  for (size_t start = 0; start < size;) {
    size_t end = start;
    while (end < size && conf[end] != '\n') ++end;
    const tessera::StringView line(conf + start, end - start);
    // The shell needs the console (a driver), and kvclient prints through the console only when
    // granted it: both go, the grant too.
    bool hardware = line.starts_with("irq ") || line.starts_with("ioports ") || line.starts_with("pci ") ||
                    line.starts_with("trace ") || line.starts_with("program shell ");
    for (size_t i = start; i + 4 <= end && !hardware; ++i) {
      hardware = strncmp(conf + i, "irq:", 4) == 0 || strncmp(conf + i, "pci:", 4) == 0 ||
                 (i + 6 <= end && strncmp(conf + i, "trace:", 6) == 0) ||
                 (i + 8 <= end && strncmp(conf + i, "ioports:", 8) == 0);
    }
    if (!hardware && n + (end - start) + 1 < capacity) {
      static constexpr char kConsoleGrant[] = ",endpoint:console:wg";
      constexpr size_t kGrantLength = sizeof(kConsoleGrant) - 1;
      for (size_t i = start; i < end; ++i) {
        if (i + kGrantLength <= end && strncmp(conf + i, kConsoleGrant, kGrantLength) == 0) {
          i += kGrantLength - 1;
          continue;
        }
        out[n++] = conf[i];
      }
    }
    if (n + 1 < capacity) out[n++] = '\n';  // an empty line keeps the line numbers
    start = end + 1;
  }
  return n;
}

TESSERA_USER_TEST(PROC0004, pass, "boot/system.conf (without its drivers) starts kv and kvclient; kvclient's checks pass") {
  Env env(t);
  const init::EmbeddedFile& conf = image(t, "system.conf");
  static init::SystemDescription description;
  static char text[8192];
  const size_t length = t.failed() ? 0 : without_hardware(reinterpret_cast<const char*>(conf.data), conf.size, text, sizeof(text));
  init::ParseError error;
  if (t.failed() || !t.check(init::parse_system_description(text, length, &description, &error).ok(),
                             "system.conf:%u: %s", error.line, error.reason)) {
    return;
  }
  static LogCapture log;
  log = LogCapture{};
  init::System& system = test_system(log);
  if (!expect_ok(t, system.start(env.memory, description), "start")) return;
  const uint32_t client = system.program_index("kvclient"), server = system.program_index("kv");
  t.check(system.program_index("timer") == init::kMaxSystemPrograms, "the drivers (timer, console, kbd) are left out");
  if (t.check(client < init::kMaxSystemPrograms && server < init::kMaxSystemPrograms, "kv and kvclient declared")) {
    {
      RootPriority lowered(env);
      supervise_until(t, system, [&] { return system.status(client).state != ProgramState::Running; });
    }
    t.check(system.status(client).state == ProgramState::Exited && system.status(client).exit_status == 0,
            "kvclient ended in state %u with status %ld", static_cast<unsigned>(system.status(client).state),
            system.status(client).exit_status);
    t.check(system.status(server).state == ProgramState::Running, "kv still serves");
  }
  expect_ok(t, system.stop(), "stop");
}

// A hand-made ELF executable: up to three PT_LOAD segments, their bytes after the headers.
struct TestElf {
  struct Segment {
    uint64_t vaddr, size;
    uint32_t flags;  // 1 = X, 2 = W, 4 = R
  };
  uint8_t bytes[1024] = {};
  size_t size = 0;

  template <typename T>
  void put(size_t offset, T value) {
    memcpy(bytes + offset, &value, sizeof(T));
  }
  TestElf(const Segment* segments, uint16_t count, uint64_t entry) {
    const uint8_t ident[] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    memcpy(bytes, ident, sizeof(ident));
    put<uint16_t>(16, 2);    // ET_EXEC
    put<uint16_t>(18, 62);   // EM_X86_64
    put<uint32_t>(20, 1);
    put<uint64_t>(24, entry);
    put<uint64_t>(32, 64);   // program headers right after this header
    put<uint16_t>(52, 64);
    put<uint16_t>(54, 56);
    put<uint16_t>(56, count);
    uint64_t data = 64 + 56 * uint64_t{count};
    for (uint16_t i = 0; i < count; ++i) {
      const size_t ph = 64 + 56 * size_t{i};
      put<uint32_t>(ph, 1);  // PT_LOAD
      put<uint32_t>(ph + 4, segments[i].flags);
      put<uint64_t>(ph + 8, data);
      put<uint64_t>(ph + 16, segments[i].vaddr);
      put<uint64_t>(ph + 32, segments[i].size);
      put<uint64_t>(ph + 40, segments[i].size);
      data += segments[i].size;
    }
    memset(bytes + 64 + 56 * size_t{count}, 0x0F, data - 64 - 56 * size_t{count});  // filler bytes
    size = data;
  }
};

TESSERA_USER_TEST(PROC0005, pass, "bad ELF images are rejected with errors and leave nothing behind") {
  Env env(t);
  using S = TestElf::Segment;
  constexpr uint64_t kBase = 0x400000;
  const S code[] = {{kBase, 64, 5}};
  const S write_execute[] = {{kBase, 64, 7}};
  const S in_window[] = {{sys::kProcessWindow, 64, 5}};
  const S shared_page[] = {{kBase, 64, 5}, {kBase + 0x800, 64, 6}};
  const S same_page_same_rights[] = {{kBase, 64, 5}, {kBase + 0x800, 64, 5}};
  struct Case {
    TestElf elf;
    Error expected;
    const char* what;
  };
  static Case cases[] = {
      {TestElf(code, 1, kBase), Error::Ok, "a valid image"},
      {TestElf(same_page_same_rights, 2, kBase), Error::Ok, "two code segments in one page"},
      {TestElf(code, 1, kBase + 0x1000), Error::InvalidArgument, "entry outside the code"},
      {TestElf(write_execute, 1, kBase), Error::InvalidArgument, "a writable, executable segment"},
      {TestElf(in_window, 1, sys::kProcessWindow), Error::RangeError, "a segment in the process window"},
      {TestElf(shared_page, 2, kBase), Error::InvalidArgument, "code and data sharing a page"},
  };
  const uint64_t slots_before = env.slots.available();
  sys::ProcessOptions options;
  options.name = "bad";
  for (Case& c : cases) {
    expect_error(t, sys::check_program_image(c.elf.bytes, c.elf.size), c.expected, c.what);
    if (c.expected == Error::Ok) continue;
    expect_error(t, Process::spawn(env.memory, c.elf.bytes, c.elf.size, options), c.expected, c.what);
  }
  // Damaged versions of the valid image.
  TestElf& valid = cases[0].elf;
  expect_error(t, Process::spawn(env.memory, valid.bytes, 40, options), Error::TruncatedMessage, "a cut header");
  expect_error(t, Process::spawn(env.memory, valid.bytes, valid.size - 1, options), Error::TruncatedMessage,
               "a segment past the end of the file");
  valid.bytes[4] = 1;  // ELFCLASS32
  expect_error(t, Process::spawn(env.memory, valid.bytes, valid.size, options), Error::NotSupported, "a 32-bit image");
  valid.bytes[0] = 0;
  expect_error(t, Process::spawn(env.memory, valid.bytes, valid.size, options), Error::MalformedMessage, "no ELF magic");
  expect_error(t, Process::spawn(env.memory, nullptr, 0, options), Error::TruncatedMessage, "no image");
  options.name = "";
  const init::EmbeddedFile& kv = image(t, "kv");
  expect_error(t, Process::spawn(env.memory, kv.data, kv.size, options), Error::InvalidArgument, "an empty name");
  t.check(env.slots.available() == slots_before, "%lu slots leaked", slots_before - env.slots.available());
}

TESSERA_USER_TEST(PROC0006, pass, "destroy returns every object, heap included: the process's untyped is whole again") {
  Env env(t);
  const CPtr untyped = env.spare_untyped(23, 24);  // room for the 2 MiB heap frame and the rest
  const init::EmbeddedFile& kv = image(t, "kv");
  const CPtr endpoint = env.make(ObjectType::Endpoint);
  if (t.failed()) return;
  // An allocator that sees only that untyped.
  static tessera::BootInfo only_one;
  only_one = env.info;
  only_one.untyped = tessera::SlotRegion{untyped, untyped + 1};
  only_one.untyped_list[0] = env.describe_untyped(untyped);
  sys::UntypedAllocator memory(only_one, env.kernel, env.slots);
  const sys::Grant grants[] = {{"endpoint:kv", endpoint, kRead, 0}};
  sys::ProcessOptions options;
  options.name = "kv";
  options.grants = grants;
  options.grant_count = 1;
  const uint64_t slots_before = env.slots.available();
  for (int round = 0; round < 2; ++round) {
    options.heap_bytes = round == 0 ? 0 : sys::kProcessHeapFrameBytes;  // the second time with a heap
    auto process = Process::spawn(memory, kv.data, kv.size, options);
    if (!expect_ok(t, process, "spawn kv from the one untyped")) break;
    t.check(!env.untyped_is_unused(untyped), "the process uses the untyped");
    t.check(process->page_count() > 8, "%u pages", process->page_count());
    expect_ok(t, process->destroy(), "destroy");
    t.check(env.untyped_is_unused(untyped), "round %d: the untyped is whole again after destroy", round);
    t.check(env.slots.available() == slots_before, "round %d: %lu slots not returned", round,
            slots_before - env.slots.available());
  }
  env.drop(endpoint);
}

TESSERA_USER_TEST(PROC0007, pass, "the system description parser reads every option and names bad lines") {
  static init::SystemDescription d;
  const char* good =
      "# comment line\n"
      "endpoint log   # trailing comment\n"
      "notification tick\n"
      "\n"
      "program logger image=proctest prio=7 mcp=6 budget=2000 period=10000 restart=yes arg=x "
      "grants=endpoint:log:rg,notification:tick\n";
  if (!parse(t, good, &d)) return;
  const init::ProgramDeclaration& p = d.programs[0];
  t.check(d.object_count == 2 && d.program_count == 1, "%u objects, %u programs", d.object_count, d.program_count);
  t.check(strcmp(p.name, "logger") == 0 && strcmp(p.image, "proctest") == 0 && strcmp(p.argument, "x") == 0,
          "names: %s %s %s", p.name, p.image, p.argument);
  t.check(p.priority == 7 && p.mcp == 6 && p.budget_us == 2000 && p.period_us == 10000 && p.restart,
          "options of the program");
  t.check(p.grant_count == 2 && p.grants[0].object == 0 && p.grants[0].rights == (kRead | tessera::abi::kRightGrant) &&
              p.grants[1].object == 1 && p.grants[1].rights == kAllRights,
          "grants");
  struct Bad {
    const char* text;
    uint32_t line;
  };
  const Bad bad[] = {
      {"endpoint a\nendpoint a\n", 2},
      {"endpoint Upper\n", 1},
      {"program p grants=endpoint:missing\n", 1},
      {"endpoint a\nprogram p grants=endpoint:a:rx\n", 2},
      {"endpoint a\nprogram p grants=endpoint:a,endpoint:a\n", 2},
      {"program p prio=256\n", 1},
      {"program p budget=1000\n", 1},
      {"program p budget=5000 period=1000\n", 1},
      {"program p restart=maybe\n", 1},
      {"program p colour=blue\n", 1},
      {"program p prio\n", 1},
      {"\n\nprocess p\n", 3},
      {"program p\nprogram p\n", 2},
      {"notification a-very-long-name-indeed\nprogram p grants=notification:a-very-long-name-indeed\n", 2},
  };
  for (const Bad& b : bad) {
    init::ParseError error;
    auto r = init::parse_system_description(b.text, strlen(b.text), &d, &error);
    t.check(!r.ok() && error.line == b.line, "'%s': %s at line %u (%s)", b.text, error_name(r.error()), error.line,
            error.reason);
  }
  char nul[] = "endpoint a\n\0";
  init::ParseError error;
  t.check(!init::parse_system_description(nul, sizeof(nul) - 1, &d, &error).ok() && error.line == 2, "a NUL byte");
}

}  // namespace

namespace {
// One raw Call carrying `words` (0-120), `label` and `caps` extra caps (cptrs in the IPC buffer).
// Returns the reply's error, or the system call's own when the call itself failed.
Error raw_call(CPtr endpoint, uint64_t label, const uint64_t* words, uint32_t length, uint32_t caps) {
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
}  // namespace

TESSERA_USER_TEST(PROC0008, pass, "kv answers 10,000 malformed messages with errors and keeps serving") {
  Env env(t);
  const init::EmbeddedFile& kv_image = image(t, "kv");
  const CPtr endpoint = env.make(ObjectType::Endpoint), stray = env.make(ObjectType::Frame4k);
  if (t.failed()) return;
  auto kv = spawn_kv(env, kv_image, endpoint);
  if (!expect_ok(t, kv, "spawn kv")) return;
  using Store = tessera::kv::Store;

  // A valid put, to truncate and to decorate with capabilities.
  uint64_t put_words[32] = {};
  tessera::capnp::MessageBuilder builder(put_words, 32);
  auto params = builder.init_root_as<Store::PutParams>();
  params.set_key(tessera::capnp::Text{"malformed", 9});
  const uint8_t value[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  params.set_value(tessera::capnp::Data{value, 8});
  const uint32_t put_length = builder.finish().value_or(0);
  t.check(put_length > 2, "encode a put");

  uint64_t state = 0x7e55e2a;
  uint64_t words[tessera::kMessageWords];
  uint32_t errors = 0, must_fail_ok = 0, call_failures = 0;
  tessera::sys::ipc_buffer()->caps_or_badges[0] = stray;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t kind = i % 5;
    Error e = Error::Ok;
    if (kind == 0) {  // random words under a valid label
      const uint32_t length = 1 + static_cast<uint32_t>(next_random(&state) % 24);
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(endpoint, Store::label(static_cast<Store::Method>(next_random(&state) % 4)), words, length, 0);
    } else if (kind == 1) {  // a label of no method of this interface
      const uint64_t label = (next_random(&state) & 0xFFFFFFFFFF) | 0x10000;  // never code 0 method 0..3 alone
      e = raw_call(endpoint, label == Store::label(Store::Method::Put) ? label + 0x10000 : label, put_words,
                   put_length, 0);
    } else if (kind == 2) {  // a valid put cut short
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % put_length);
      e = raw_call(endpoint, Store::label(Store::Method::Put), put_words, length, 0);
    } else if (kind == 3) {  // a capability where none belongs
      e = raw_call(endpoint, Store::label(Store::Method::Put), put_words, put_length, 1);
    } else {  // random words of any length, random label
      const uint32_t length = static_cast<uint32_t>(next_random(&state) % (tessera::kMessageWords + 1));
      for (uint32_t w = 0; w < length; ++w) words[w] = next_random(&state);
      e = raw_call(endpoint, next_random(&state) & 0xFFFFFFFFFFFFull, words, length, 0);
    }
    if (e != Error::Ok) ++errors;
    if ((kind == 1 || kind == 2 || kind == 3) && e == Error::Ok) ++must_fail_ok;
    if (e == Error::FailedLookup || e == Error::EmptySlot || e == Error::ObjectDeleted ||
        e == Error::InsufficientRights) {
      ++call_failures;
    }
  }
  tessera::sys::ipc_buffer()->caps_or_badges[0] = 0;
  t.note("%u of 10,000 malformed messages answered with an error", errors);
  t.check(must_fail_ok == 0, "%u malformed messages were accepted", must_fail_ok);
  t.check(call_failures == 0, "%u calls failed at the system-call level (server gone?)", call_failures);
  t.check(errors >= 6000, "only %u errors", errors);
  // Still serving: a valid put and get work.
  Store::Client<CallTransport> store(env.kernel, endpoint);
  auto put = store.put("still", tessera::capnp::Data{value, 8});
  t.check(put.ok(), "put after the storm: %s", error_name(put.error()));
  auto got = store.get("still");
  t.check(got.ok() && got->found(), "get after the storm");
  t.check(kv->alive(), "kv is alive");
  expect_ok(t, kv->destroy(), "destroy kv");
  env.drop(stray);
  env.drop(endpoint);
}

// Issue: clients got the unbadged endpoint and minted their own badge, so any client could pass for
// any other. Now every endpoint grant is badged (by default with the program's number).
TESSERA_USER_TEST(PROC0010, pass, "a client cannot pass for another: its endpoint cap is badged and cannot be re-badged") {
  Env env(t);
  static init::SystemDescription description;
  static LogCapture log;
  if (!parse(t,
             "endpoint svc\n"
             "program first image=proctest arg=impersonate grants=endpoint:svc:w\n"
             "program second image=proctest arg=impersonate grants=endpoint:svc:w:77\n",
             &description)) {
    return;
  }
  log = LogCapture{};
  init::System& system = test_system(log);
  if (!expect_ok(t, system.start(env.memory, description), "start")) return;
  // The runner (priority 255) receives on its own unbadged cap: each client's message arrives with
  // the badge init gave it, and nothing arrives with the forged one.
  uint64_t badges[2] = {};
  for (uint64_t& badge : badges) {
    sys::Received r{};
    const Error e = sys::recv(system.object(0), &r);
    if (!t.check(e == Error::Ok, "receive a client's message: %s", error_name(e))) break;
    t.check(r.info.label == 1, "a message with label %lu arrived: sent through a forged cap", r.info.label);
    badge = r.badge;
  }
  const bool both = (badges[0] == 1 && badges[1] == 77) || (badges[0] == 77 && badges[1] == 1);
  t.check(both, "badges %lu and %lu, expected 1 (first's default) and 77 (second's badge=)", badges[0], badges[1]);
  auto ended = [&] {
    return system.status(0).state != ProgramState::Running && system.status(1).state != ProgramState::Running;
  };
  {
    RootPriority lowered(env);
    supervise_until(t, system, ended);
  }
  for (uint32_t i = 0; i < 2; ++i) {
    t.check(system.status(i).exit_status == 0, "program %u: status %ld (5: it minted a badge of its choice)", i,
            system.status(i).exit_status);
  }
  expect_ok(t, system.stop(), "stop");
}

// Issue: a client blocked in its Call hung forever when its server faulted mid-request and init
// restarted it. Now the caller wakes with NoReply as soon as the faulted server is destroyed, and
// its retry reaches the restarted server through the same endpoint.
TESSERA_USER_TEST(PROC0011, pass, "a server that faults mid-call: its caller gets NoReply, the retry is answered by the restarted server") {
  Env env(t);
  static init::SystemDescription description;
  static LogCapture log;
  if (!parse(t, "endpoint svc\nprogram srv image=proctest arg=serve restart=yes grants=endpoint:svc:r\n", &description)) {
    return;
  }
  log = LogCapture{};
  init::System& system = test_system(log);
  if (!expect_ok(t, system.start(env.memory, description), "start")) return;
  const CPtr endpoint = system.object(0);
  ipctest::Job retry;
  retry.op = ipctest::Job::Op::Call;
  retry.cap = endpoint;
  retry.info = sys::MessageInfo{2, 0, 0, 0};
  ipctest::Job crash;
  crash.op = ipctest::Job::Op::Call;
  crash.cap = endpoint;
  crash.info = sys::MessageInfo{1, 0, 0, 0};  // the server faults while it owes this reply
  crash.next = &retry;
  {
    RootPriority lowered(env);
    ipctest::Peer client(env, 0, 50);  // below the server (100), above the supervising root (1)
    if (!client.ok() || !client.run(crash)) {
      (void)system.stop();
      return;
    }
    supervise_until(t, system, [&] { return retry.is_done(); });
  }
  if (t.check(crash.is_done(), "the caller of the faulted server never returned")) {
    t.check(crash.error == Error::NoReply, "the interrupted call: %s, expected NoReply", error_name(crash.error));
  }
  if (t.check(retry.is_done(), "the retry never returned")) {
    t.check(retry.error == Error::Ok && retry.received.info.label == 3, "the retry: %s, label %lu (expected 3)",
            error_name(retry.error), retry.received.info.label);
  }
  const init::ProgramStatus& srv = system.status(0);
  t.check(srv.faults == 1 && srv.restarts == 1, "the server faulted %u times, restarted %u times", srv.faults,
          srv.restarts);
  t.check(log.contains("init: restarting srv (1 in a row of at most 3; 1 in all"), "the restart is logged");
  expect_ok(t, system.stop(), "stop");
}

// The root task holds the machine's DebugControl cap in slot 9 (BootInfo v4): with it a bad exit
// code is still refused and the caller goes on; without it (every other program) the call is refused
// (SYSCALL0006 in the conformance suite).
TESSERA_USER_TEST(PROC0012, pass, "the root task's DebugControl cap: DebugExitMachine with a bad code is refused, the caller continues") {
  Env env(t);
  t.check(!env.is_empty(tessera::kSlotDebugControl), "slot 9 of the root task holds no DebugControl cap");
  const Error bad_code = sys::syscall2(tessera::Syscall::DebugExitMachine, tessera::kSlotDebugControl, 7);
  t.check(bad_code == Error::InvalidArgument, "exit code 7: %s", error_name(bad_code));
  // A copy works as the original does (init can pass the authority on).
  const CPtr copy = env.copy(tessera::kSlotDebugControl);
  if (copy != 0) {
    const Error through_copy = sys::syscall2(tessera::Syscall::DebugExitMachine, copy, 9);
    t.check(through_copy == Error::InvalidArgument, "exit code 9 through a copy: %s", error_name(through_copy));
    env.drop(copy);
  }
}

TESSERA_USER_TEST(PROC0013, pass,
                  "a program started with a memory session: every page from the server, a heap past 64 MiB, "
                  "shared regions, new beyond the quota fails; destroy gives every byte back") {
  Env env(t);
  const init::EmbeddedFile& server_image = image(t, "memory");
  const init::EmbeddedFile& program = image(t, "proctest");
  if (server_image.data == nullptr || program.data == nullptr) return;
  // The server's memory: 4 MiB pieces of what the runner has, leaving some for the test's objects
  // and the server's own (three pieces: with two, whether the launch fits depended on how the
  // boot modules happened to fall, e.g. on the size of the test image).
  CPtr pieces[sys::kMaxBootInfoStartUntypeds] = {};
  uint32_t count = 0;
  while (count < sys::kMaxBootInfoStartUntypeds) {
    auto piece = env.memory.allocate(ObjectType::Untyped, 22);
    if (!piece.ok()) break;
    pieces[count++] = piece.value();
  }
  for (int i = 0; i < 3 && count > 0; ++i) (void)env.memory.free(pieces[--count]);
  t.note("%u MiB for the memory server", count * 4);
  static memory::MemoryServer server;
  memory::LaunchOptions launch;
  launch.untyped = pieces;
  launch.untyped_count = count;
  if (!expect_ok(t, memory::launch_memory_server(env.memory, server_image.data, server_image.size, launch, &server),
                 "launch the memory server")) {
    return;
  }
  RootPriority lowered(env);
  tessera::memory::Control::Client<sys::CallTransport> control(env.kernel, server.control);
  auto before = control.status();
  const uint64_t free_before = before.ok() ? before.value().free_bytes() : 0;
  t.check(before.ok() && free_before >= (88ull << 20), "the server manages %lu MiB, needs 88", free_before >> 20);

  const CPtr supervisor = env.make(ObjectType::Endpoint);
  const sys::ProcessMemory quota{server.control, 80ull << 20, 1};
  sys::ProcessOptions options;
  options.name = "memtest";
  options.argument = "memory";
  options.fault_endpoint = supervisor;
  options.fault_badge = 7;
  options.memory = &quota;
  sys::ProcessOptions with_heap = options;
  with_heap.heap_bytes = 2ull << 20;
  t.check(Process::spawn(env.memory, program.data, program.size, with_heap).error() == Error::InvalidArgument,
          "heap_bytes with a memory session is refused");
  auto process = Process::spawn(env.memory, program.data, program.size, options);
  if (expect_ok(t, process, "spawn with a memory session")) {
    t.check(process.value().has_session() && process.value().session() != 0, "the process has a session");
    // Its exit arrives on the supervisor's endpoint (StartupBlock::supervisor), its faults (none
    // expected) go to the pager.
    sys::Received r{};
    Error e = Error::WouldBlock;
    for (uint32_t i = 0; i < 20 * kPolls && e == Error::WouldBlock; ++i) {
      e = sys::nb_recv(supervisor, &r);
      if (e == Error::WouldBlock) (void)tessera::sys::yield();
    }
    if (t.check(e == Error::Ok, "no exit from memtest (error %s)", error_name(e))) {
      t.check(r.badge == 7 && r.info.label == sys::kProcessExitLabel, "exit message: badge %lu label %lu", r.badge,
              r.info.label);
      t.check(sys::ipc_buffer()->msg[0] == 0, "memtest's status %ld (see proctest: memory)",
              static_cast<int64_t>(sys::ipc_buffer()->msg[0]));
    }
    auto status = control.status();
    t.check(status.ok() && status.value().sessions() == 1, "one session while memtest exists");
    expect_ok(t, process.value().destroy(), "destroy memtest (closes its session)");
    auto after = control.status();
    t.check(after.ok() && after.value().free_bytes() == free_before && after.value().sessions() == 0,
            "free bytes %lu after, %lu before", after.ok() ? after.value().free_bytes() : 0, free_before);
  }
  env.drop(supervisor);
  expect_ok(t, server.process.destroy(), "destroy the memory server");
  expect_ok(t, env.memory.free(server.control), "delete Control");
}

TESSERA_USER_TEST(PROC0014, pass,
                  "init on a memory server: a fault outside a program's memory is reported by name, ends that "
                  "program only and restarts it; every session's memory comes back") {
  Env env(t);
  const init::EmbeddedFile& server_image = image(t, "memory");
  if (server_image.data == nullptr) return;
  CPtr pieces[sys::kMaxBootInfoStartUntypeds] = {};
  uint32_t count = 0;
  while (count < 8) {
    auto piece = env.memory.allocate(ObjectType::Untyped, 22);
    if (!piece.ok()) break;
    pieces[count++] = piece.value();
  }
  static memory::MemoryServer server;
  memory::LaunchOptions launch;
  launch.untyped = pieces;
  launch.untyped_count = count;
  if (!expect_ok(t, memory::launch_memory_server(env.memory, server_image.data, server_image.size, launch, &server),
                 "launch the memory server")) {
    return;
  }
  tessera::memory::Control::Client<sys::CallTransport> control(env.kernel, server.control);
  const auto before = control.status();
  const uint64_t free_before = before.ok() ? before.value().free_bytes() : 0;
  static init::SystemDescription description;
  if (parse(t, "program bad image=proctest mem=2M restart=yes arg=fault\n"
               "program good image=proctest mem=2M arg=exit=0\n",
            &description)) {
    static LogCapture log;
    log = LogCapture{};
    init::System& system = test_system(log);
    if (expect_ok(t, system.start(env.memory, description, server.control), "start on the memory server")) {
      {
        RootPriority lowered(env);
        supervise_until(t, system, [&] {
          return system.status(0).faults == 1 + init::kMaxRestarts && system.status(1).state != ProgramState::Running;
        });
      }
      const init::ProgramStatus& bad = system.status(0);
      const init::ProgramStatus& good = system.status(1);
      t.check(bad.state == ProgramState::Failed && bad.restarts == init::kMaxRestarts && bad.starts == 4,
              "bad: state %u, %u restarts, %u starts", static_cast<unsigned>(bad.state), bad.restarts, bad.starts);
      t.check(bad.last_fault_kind == static_cast<uint64_t>(tessera::FaultKind::PageFault) &&
                  bad.last_fault_detail == 0x10,
              "bad's fault: kind %lu at 0x%lx", bad.last_fault_kind, bad.last_fault_detail);
      t.check(log.contains("init: bad faulted: page fault at 0x10"), "the pager's report is logged by name");
      t.check(good.state == ProgramState::Exited && good.exit_status == 0, "good: state %u status %ld",
              static_cast<unsigned>(good.state), good.exit_status);
      expect_ok(t, system.stop(), "stop");
      const auto after = control.status();
      t.check(after.ok() && after.value().sessions() == 0 && after.value().free_bytes() == free_before,
              "after: %u sessions, %lu free bytes (before %lu)", after.ok() ? after.value().sessions() : 99,
              after.ok() ? after.value().free_bytes() : 0, free_before);
    }
  }
  expect_ok(t, server.process.destroy(), "destroy the memory server");
  expect_ok(t, env.memory.free(server.control), "delete Control");
}

TESSERA_USER_TEST(PROC0015, pass,
                  "restart=yes restarts a program that fails after a healthy life as often as it fails; one that "
                  "keeps failing quickly is given up on after kMaxRestarts in a row") {
  Env env(t);
  // Each program alone, so the time until the (lowered) test sees its end is its own life.
  auto run = [&](const char* text, uint32_t restarts_wanted) -> init::ProgramStatus {
    static init::SystemDescription description;
    init::ProgramStatus seen;
    if (!parse(t, text, &description)) return seen;
    static LogCapture log;
    log = LogCapture{};
    init::System& system = test_system(log);
    // A healthy life: 20 ms (the steady program spins longer than that before exiting).
    system.set_tsc_hz(env.info.tsc_hz, 20'000'000);
    if (expect_ok(t, system.start(env.memory, description), "start")) {
      RootPriority lowered(env);
      supervise_until(t, system, [&] {
        return system.status(0).restarts >= restarts_wanted || system.status(0).state == ProgramState::Failed;
      });
      seen = system.status(0);
      if (restarts_wanted > 2 * init::kMaxRestarts) {
        t.check(log.contains("init: giving up on broken after 3 restarts in a row"), "giving up is logged");
      }
    }
    system.set_tsc_hz(0);
    expect_ok(t, system.stop(), "stop");
    return seen;
  };
  const init::ProgramStatus steady =
      run("program steady image=proctest restart=yes arg=late-exit=3\n", 2 * init::kMaxRestarts);
  t.check(steady.restarts >= 2 * init::kMaxRestarts && steady.quick_restarts <= 1,
          "steady: %u restarts, %u in a row (tsc %lu Hz)", steady.restarts, steady.quick_restarts, env.info.tsc_hz);
  // (more restarts than it can get: supervised until init gives up)
  const init::ProgramStatus broken =
      run("program broken image=proctest restart=yes arg=exit=4\n", 4 * init::kMaxRestarts);
  t.check(broken.state == ProgramState::Failed && broken.restarts == init::kMaxRestarts &&
              broken.starts == init::kMaxRestarts + 1,
          "broken: state %u, %u restarts, %u starts", static_cast<unsigned>(broken.state), broken.restarts,
          broken.starts);
}
