// The TIMER tests (docs/drivers.md, "The timer server"; TIMER0001-0002 are the kernel's LAPIC
// timer self-tests). Like the DEV tests they play init: each runs a system description through
// init's system library — the timer server (servers/timer) with the PIT's interrupt and ports, as
// boot/system.conf declares it, and one or more timercli programs (tests/programs/timercli/) as
// its clients — serves it until every client has ended, and checks that each exited with 0 and
// that the server never faulted or exited. Tests assert only on order and "not before the
// deadline", never on how late.
#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/untyped.h>

#include "system.h"
#include "system_description.h"

namespace {
namespace sys = tessera::sys;
using tessera::error_name;
using tessera::testing::Context;

const tessera::BootInfo& boot_info() { return *reinterpret_cast<const tessera::BootInfo*>(tessera::kRootBootInfoAddress); }

void log_line(void*, const char* line) { sys::print("# %s\n", line); }

constinit init::System timer_system;
constinit init::SystemDescription timer_description;

// The timer server's declarations, as in boot/system.conf.
constexpr const char* kTimer =
    "endpoint timer\n"
    "irq pit-irq line=2\n"
    "ioports pit first=0x40 last=0x40\n"
    "ioports pit-mode first=0x43 last=0x43\n"
    "program timer prio=200 mem=8M grants=irq:pit-irq,ioports:pit,ioports:pit-mode,endpoint:timer:r\n";

// Runs kTimer plus `clients` (program lines of timercli) until every client has ended; checks the
// clients' statuses and the server's health.
void run_timer_system(Context& t, const char* clients) {
  char conf[1024];
  tessera::format_to(conf, sizeof(conf), "%s%s", kTimer, clients);
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  init::ParseError parse_error;
  if (!t.check(init::parse_system_description(conf, strlen(conf), &timer_description, &parse_error).ok(),
               "the description: line %u: %s", parse_error.line, parse_error.reason)) {
    return;
  }
  timer_system.set_log(log_line, nullptr);
  timer_system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const tessera::Result<void> started = timer_system.start(memory, timer_description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return;
  const uint32_t programs = timer_description.program_count;
  for (;;) {
    const auto event = timer_system.handle_next(true);
    if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
    const init::ProgramStatus& server = timer_system.status(0);
    if (!t.check(server.state == init::ProgramState::Running && server.faults == 0,
                 "the timer server is running (faults %u, exit status %ld, fault kind %lu at 0x%lx ip 0x%lx)",
                 server.faults, server.exit_status, server.last_fault_kind, server.last_fault_detail,
                 server.last_fault_ip)) {
      break;
    }
    bool all_ended = true;
    for (uint32_t p = 1; p < programs; ++p) {
      const init::ProgramState s = timer_system.status(p).state;
      if (s != init::ProgramState::Exited && s != init::ProgramState::Failed) all_ended = false;
    }
    if (all_ended) break;
  }
  for (uint32_t p = 1; p < programs; ++p) {
    const init::ProgramStatus& c = timer_system.status(p);
    t.check(c.faults == 0 && c.state == init::ProgramState::Exited && c.exit_status == 0,
            "client %u exited with %ld (the number of its failed check; faults %u)", p, c.exit_status, c.faults);
  }
  t.check(timer_system.stop().ok(), "System::stop");
}
}  // namespace

TESSERA_USER_TEST(TIMER0003, pass, "100 deadlines pending at once on 4 threads' channels fire in deadline order, none before its deadline, each thread woken after it") {
  run_timer_system(t, "program c image=timercli prio=100 mcp=100 mem=8M arg=order grants=endpoint:timer:wg\n");
}

TESSERA_USER_TEST(TIMER0004, pass, "cancel: a cancelled deadline never fires; cancelling twice, after firing, stale or unknown ids is false; another's channel refused") {
  run_timer_system(t, "program c image=timercli prio=100 mem=8M arg=cancel grants=endpoint:timer:wg\n");
}

TESSERA_USER_TEST(TIMER0005, pass, "a deadline in the past fires before arm returns; sleep_ns and sleep_until never return early; now() agrees with the TSC") {
  run_timer_system(t, "program c image=timercli prio=100 mem=8M arg=past grants=endpoint:timer:wg\n");
}

TESSERA_USER_TEST(TIMER0006, pass, "10,000 malformed messages refused while the timer server keeps serving; nothing of them left in its table") {
  run_timer_system(t, "program c image=timercli prio=100 mem=8M arg=malformed grants=endpoint:timer:wg\n");
}

TESSERA_USER_TEST(TIMER0007, pass, "a client filling its share (4 channels, 32 deadlines or uncollected events each) is refused while another client's deadlines fire in order") {
  run_timer_system(t, "program hog image=timercli prio=100 mem=8M arg=hog grants=endpoint:timer:wg\n"
                      "program victim image=timercli prio=100 mem=8M arg=victim grants=endpoint:timer:wg\n");
}

TESSERA_USER_TEST(TIMER0008, pass, "a client that ends with armed deadlines and uncollected events leaves nothing in the timer server") {
  run_timer_system(t, "program ghost image=timercli prio=100 mem=8M arg=ghost grants=endpoint:timer:wg\n"
                      "program watcher image=timercli prio=90 mem=8M arg=watcher grants=endpoint:timer:wg\n");
}

namespace {
// TIMER0009's log: every line of init's system library with the TSC at which it was written.
struct TimedLog {
  static constexpr uint32_t kLines = 48;
  char lines[kLines][160] = {};
  uint64_t tsc[kLines] = {};
  uint32_t count = 0;
};
constinit TimedLog timed_log;

void timed_log_line(void*, const char* line) {
  sys::print("# %s\n", line);
  if (timed_log.count == TimedLog::kLines) return;
  tessera::format_to(timed_log.lines[timed_log.count], sizeof(timed_log.lines[0]), "%s", line);
  timed_log.tsc[timed_log.count++] = sys::rdtsc();
}

bool contains(const char* haystack, const char* needle) {
  const size_t n = strlen(needle);
  for (; *haystack != '\0'; ++haystack) {
    if (strncmp(haystack, needle, n) == 0) return true;
  }
  return false;
}

// The first logged line at or after `from` that contains `text`, or kLines.
uint32_t find_line(uint32_t from, const char* text) {
  for (uint32_t i = from; i < timed_log.count; ++i) {
    if (contains(timed_log.lines[i], text)) return i;
  }
  return TimedLog::kLines;
}
}  // namespace

TESSERA_USER_TEST(TIMER0009, pass, "init's restart back-off: a program failing at once 3 times is restarted at once, after 10 ms, after 40 ms (waited through the timer server), then given up") {
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  char conf[1024];
  tessera::format_to(conf, sizeof(conf), "%s%s", kTimer,
                     "program quitter image=timercli prio=100 mem=8M restart=yes arg=fail grants=endpoint:timer:wg\n");
  init::ParseError parse_error;
  if (!t.check(init::parse_system_description(conf, strlen(conf), &timer_description, &parse_error).ok(),
               "the description: line %u: %s", parse_error.line, parse_error.reason)) {
    return;
  }
  timed_log.count = 0;
  timer_system.set_log(timed_log_line, nullptr);
  timer_system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const tessera::Result<void> started = timer_system.start(memory, timer_description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return;
  const tessera::Result<void> backoff = timer_system.use_timer_for_backoff("timer", "timer");
  if (t.check(backoff.ok(), "use_timer_for_backoff: %s", error_name(backoff.error()))) {
    for (;;) {
      const auto event = timer_system.handle_next(true);
      if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
      const init::ProgramStatus& quitter = timer_system.status(1);
      if (quitter.state != init::ProgramState::Running && !quitter.restart_pending &&
          quitter.quick_restarts == init::kMaxRestarts) {
        break;
      }
    }
  }
  const init::ProgramStatus& quitter = timer_system.status(1);
  t.check(quitter.starts == 1 + init::kMaxRestarts && quitter.restarts == init::kMaxRestarts,
          "the quitter started %u times, restarted %u", quitter.starts, quitter.restarts);
  t.check(timer_system.status(0).state == init::ProgramState::Running && timer_system.status(0).faults == 0,
          "the timer server still runs");
  // The order of init's lines: exit, immediate restart, exit, restart in 10 ms, the restart after
  // it, exit, restart in 40 ms, the restart after it, exit, giving up.
  struct Step {
    const char* text;
    bool measured;  // the restart after a back-off: print how long it took since the exit before
  };
  const Step steps[] = {{"quitter exited with status 1", false},
                        {"restarting quitter (1 in a row", false},
                        {"started quitter", false},
                        {"quitter exited with status 1", false},
                        {"restarting quitter in 10 ms (2 in a row", false},
                        {"restarting quitter after its back-off of 10 ms", true},
                        {"started quitter", false},
                        {"quitter exited with status 1", false},
                        {"restarting quitter in 40 ms (3 in a row", false},
                        {"restarting quitter after its back-off of 40 ms", true},
                        {"started quitter", false},
                        {"quitter exited with status 1", false},
                        {"giving up on quitter after 3 restarts in a row", false}};
  uint32_t at = 0, exited = 0;
  for (const Step& step : steps) {
    const uint32_t line = find_line(at, step.text);
    if (!t.check(line != TimedLog::kLines, "init logged \"%s\" (in order)", step.text)) break;
    if (contains(step.text, "exited")) exited = line;
    if (step.measured && info.tsc_hz != 0) {
      // Informational only (tests never assert on time): the back-off measured with the TSC.
      sys::print("# back-off: \"%s\" %lu us after the exit\n", step.text,
                 (timed_log.tsc[line] - timed_log.tsc[exited]) / (info.tsc_hz / 1'000'000));
    }
    at = line + 1;
  }
  t.check(timer_system.stop().ok(), "System::stop");
  timer_system.set_log(log_line, nullptr);
}
