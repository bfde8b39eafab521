// shell: the system's interactive shell on the console (docs/shell.md). Started by init from
// boot/system.conf as the last program; reads the console in raw mode and edits lines itself
// (line_editor.h), runs commands from one table (kCommands below: adding a command is one entry),
// asks init for programs, threads and memory through init's control protocol (abi/init.capnp) and
// reaches files through FsOps (fs.h).
//
// Granted: endpoint:console (write + grant), control:init, and endpoint:timer (optional: to let the
// boot log settle before the first prompt).
#include <stdarg.h>
#include <stdint.h>

#include <tessera/abi/init.capnp.h>
#include <tessera/console/client.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/timer.h>

#include "fs.h"
#include "fs_server.h"
#include "line_editor.h"
#include "path.h"

namespace {
namespace sys = tessera::sys;
namespace ctl = tessera::initctl;
using tessera::Error;
using tessera::Result;
using shell::FsOps;
using shell::kMaxPath;

constexpr uint32_t kMaxArgs = 16;

tessera::console::ConsoleClient out;
sys::CPtr control = 0;  // init's control protocol (0: not granted)
shell::NoFilesystem no_filesystem;
shell::FsServer fs_server;
FsOps* fs = &no_filesystem;
char cwd[kMaxPath] = "/";
const char* own_name = "shell";  // this program's name in the description (its start-up block)
sys::TimerClient* shell_timer = nullptr;  // the timer server's channel (nullptr: none granted)

__attribute__((format(printf, 1, 2))) void say(const char* format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  size_t n = tessera::vformat_to(text, sizeof(text), format, args);
  va_end(args);
  if (n >= sizeof(text)) n = sizeof(text) - 1;
  // The console client turns LF into CR LF (the terminal is in raw mode).
  if (!out.is_open() || !out.write(text, n).ok()) sys::print("%s", text);
}

// ---- init's control protocol -----------------------------------------------------------------------
using InitClient = ctl::Init::Client<sys::CallTransport>;
sys::CallTransport& transport() {
  static sys::CallTransport t(sys::ipc_buffer());
  return t;
}
InitClient init_client() { return InitClient(transport(), control); }

const char* state_name(ctl::ProgramState s) {
  switch (s) {
    case ctl::ProgramState::NotStarted: return "not-started";
    case ctl::ProgramState::Running: return "running";
    case ctl::ProgramState::Exited: return "exited";
    case ctl::ProgramState::Failed: return "failed";
    case ctl::ProgramState::GivenUp: return "given-up";
    case ctl::ProgramState::Restarting: return "restarting";
  }
  return "?";
}

const char* thread_state_text(ctl::ThreadState s) {
  switch (s) {
    case ctl::ThreadState::Inactive: return "inactive";
    case ctl::ThreadState::Runnable: return "runnable";
    case ctl::ThreadState::Blocked: return "blocked";
    case ctl::ThreadState::Faulted: return "faulted";
  }
  return "?";
}

struct ProgramInfo {
  char name[32] = {};
  ctl::ProgramState state = ctl::ProgramState::NotStarted;
  uint32_t pid = 0, restarts = 0, threads = 0, faults = 0;
  uint8_t priority = 0;
  bool restart_policy = false;
  uint64_t quota = 0, used = 0, up_ms = 0;
  int64_t exit_status = 0;
};

Result<uint32_t> program_count() {
  InitClient init = init_client();
  const auto r = init.program_count();
  if (!r.ok()) return r.error();
  return r->count();
}

Result<ProgramInfo> program_info(uint32_t index) {
  InitClient init = init_client();  // the reply's reader lives as long as the client
  const auto r = init.program(index);
  if (!r.ok()) return r.error();
  ProgramInfo p;
  const auto name = r->name();
  if (name.ok()) {
    const uint32_t n = name->size < sizeof(p.name) - 1 ? name->size : sizeof(p.name) - 1;
    memcpy(p.name, name->data, n);
    p.name[n] = '\0';
  }
  p.state = r->state();
  p.pid = r->pid();
  p.restarts = r->restarts();
  p.threads = r->threads();
  p.faults = r->faults();
  p.priority = r->priority();
  p.restart_policy = r->restart_policy();
  p.quota = r->mem_quota();
  p.used = r->mem_used();
  p.up_ms = r->up_ms();
  p.exit_status = r->exit_status();
  return p;
}

struct ThreadInfo {
  uint64_t cpu_ns = 0, scheduled = 0, wakeups = 0, sent = 0, received = 0, syscalls = 0, faults = 0;
  uint8_t priority = 0;
  ctl::ThreadState state = ctl::ThreadState::Inactive;
};

Result<ThreadInfo> thread_info(uint32_t program, uint32_t index) {
  InitClient init = init_client();
  const auto r = init.thread(program, index);
  if (!r.ok()) return r.error();
  // The reply's reader is valid until the next call: copy it all at once.
  return ThreadInfo{.cpu_ns = r->cpu_time_ns(), .scheduled = r->times_scheduled(), .wakeups = r->wakeups(),
                    .sent = r->messages_sent(), .received = r->messages_received(), .syscalls = r->syscalls(),
                    .faults = r->faults(), .priority = r->priority(), .state = r->state()};
}

const char* init_error(Error e) {
  switch (e) {
    case Error::EmptySlot: return "no such program";
    case Error::Busy: return "already running";
    case Error::IllegalOperation: return "not running";
    case Error::NotSupported: return "not possible";
    default: return tessera::error_name(e);
  }
}

const char* fs_error(Error e) {
  switch (e) {
    case Error::NotFound:
    case Error::EmptySlot:
    case Error::FailedLookup: return "not found";
    case Error::Exists: return "already exists";
    case Error::NotDirectory: return "not a directory";
    case Error::IsDirectory: return "is a directory";
    case Error::NotEmpty: return "directory not empty";
    case Error::NameTooLong: return "name too long";
    case Error::NoSpace: return "no space left";
    case Error::Corrupted: return "filesystem corrupted";
    case Error::TooLarge: return "too large";
    case Error::SymlinkLoop: return "too many levels of symbolic links";
    case Error::ReadOnly: return "read-only filesystem";
    case Error::IoError: return "I/O error";
    case Error::NotSupported: return "no filesystem";
    case Error::RangeError: return "path too long";
    case Error::IllegalOperation: return "not allowed";
    case Error::InvalidArgument: return "invalid argument";
    case Error::Busy: return "busy";
    case Error::NotEnoughMemory:
    case Error::OutOfMemory: return "out of memory";
    default: return tessera::error_name(e);
  }
}

bool need_init(const char* command) {
  if (control != 0) return true;
  say("%s: no control:init granted to the shell\n", command);
  return false;
}

// Whether program `name` of the description is running (true when init cannot say).
bool program_running(const char* name) {
  if (control == 0) return true;
  InitClient init = init_client();
  const auto found = init.find(tessera::capnp::Text(name, static_cast<uint32_t>(strlen(name))));
  if (!found.ok()) return true;
  const uint32_t index = found->index();
  const auto p = init.program(index);
  return !p.ok() || p->state() == ctl::ProgramState::Running;
}

bool need_fs(const char* command) {
  if (!fs->available()) {
    say("%s: no filesystem\n", command);
    return false;
  }
  // A call to a filesystem server that is not running would wait until one runs again.
  if (!program_running("fs")) {
    say("%s: the filesystem server is not running (run fs)\n", command);
    return false;
  }
  return true;
}

// A path argument made absolute; says so when it is too long.
bool resolve(const char* command, const char* path, char* out_path) {
  if (shell::resolve_path(cwd, path, out_path)) return true;
  say("%s: %s: path too long\n", command, path);
  return false;
}

void print_ms(char* text, size_t capacity, uint64_t ns) {
  tessera::format_to(text, capacity, "%lu.%03lu", ns / 1'000'000, (ns / 1000) % 1000);
}

// ---- Commands ----------------------------------------------------------------------------------------
struct Redirect {
  const char* path = nullptr;  // nullptr: the console
  bool append = false;
};

using Handler = void (*)(int argc, char** argv, const Redirect& redirect);
struct Command {
  const char* name;
  const char* usage;
  const char* summary;
  Handler run;
  bool redirects;  // accepts > FILE / >> FILE
  bool writes;     // changes the disk: the shell syncs after it (a crash then loses nothing it did)
};
extern const Command kCommands[];
extern const uint32_t kCommandCount;

void cmd_help(int, char**, const Redirect&) {
  say("Commands (line editing: Backspace, Ctrl-U erases the line, Ctrl-C cancels it):\n");
  for (uint32_t i = 0; i < kCommandCount; ++i) say("  %-27s %s\n", kCommands[i].usage, kCommands[i].summary);
}

void cmd_echo(int argc, char** argv, const Redirect& redirect) {
  char text[shell::LineEditor::kMaxLine + 2];
  size_t n = 0;
  for (int i = 1; i < argc; ++i) {
    for (const char* p = argv[i]; *p != 0 && n + 2 < sizeof(text); ++p) text[n++] = *p;
    if (i + 1 < argc && n + 2 < sizeof(text)) text[n++] = ' ';
  }
  text[n++] = '\n';
  text[n] = '\0';
  if (redirect.path == nullptr) {
    say("%s", text);
    return;
  }
  if (!need_fs("echo")) return;
  char path[kMaxPath];
  if (!resolve("echo", redirect.path, path)) return;
  Result<void> r = fs->write(path, text, n, redirect.append);
  if (!r.ok()) say("echo: %s: %s\n", redirect.path, fs_error(r.error()));
}

void cmd_ps(int argc, char** argv, const Redirect&) {
  if (!need_init("ps")) return;
  if (argc > 1) {
    say("ps: unexpected argument %s (usage: ps)\n", argv[1]);
    return;
  }
  Result<uint32_t> count = program_count();
  if (!count.ok()) {
    say("ps: init does not answer (%s)\n", tessera::error_name(count.error()));
    return;
  }
  say("%5s %-12s %-11s %4s %8s %9s\n", "PID", "PROGRAM", "STATE", "PRIO", "RESTARTS", "UP(ms)");
  for (uint32_t i = 0; i < *count; ++i) {
    Result<ProgramInfo> p = program_info(i);
    if (!p.ok()) {
      say("ps: program %u: %s\n", i, tessera::error_name(p.error()));
      continue;
    }
    say("%5u %-12s %-11s %4u %8u %9lu\n", p->pid, p->name, state_name(p->state), p->priority, p->restarts, p->up_ms);
    for (uint32_t t = 0; t < p->threads; ++t) {
      Result<ThreadInfo> r = thread_info(i, t);
      if (!r.ok()) {
        say("      thread %u: %s\n", t, tessera::error_name(r.error()));
        continue;
      }
      char cpu[32];
      print_ms(cpu, sizeof(cpu), r->cpu_ns);
      say("      thread %u: cpu %s ms, scheduled %lu times, priority %u, %s\n", t, cpu, r->scheduled, r->priority,
          thread_state_text(r->state));
    }
  }
}

void cmd_mem(int, char**, const Redirect&) {
  if (!need_init("mem")) return;
  Result<uint32_t> count = program_count();
  if (!count.ok()) {
    say("mem: init does not answer (%s)\n", tessera::error_name(count.error()));
    return;
  }
  say("%-12s %-11s %10s %10s\n", "PROGRAM", "STATE", "QUOTA(KiB)", "USED(KiB)");
  uint64_t quota = 0, used = 0;
  for (uint32_t i = 0; i < *count; ++i) {
    Result<ProgramInfo> p = program_info(i);
    if (!p.ok()) continue;
    if (p->state != ctl::ProgramState::Running) {
      say("%-12s %-11s %10s %10s\n", p->name, state_name(p->state), "-", "-");
      continue;
    }
    say("%-12s %-11s %10lu %10lu\n", p->name, state_name(p->state), p->quota / 1024, p->used / 1024);
    quota += p->quota;
    used += p->used;
  }
  say("%-12s %-11s %10lu %10lu\n", "total", "", quota / 1024, used / 1024);
  InitClient init = init_client();
  const auto machine = init.memory();
  if (machine.ok()) {
    say("memory server: %lu KiB managed, %lu KiB free, %lu KiB promised as quotas\n", machine->total_bytes() / 1024,
        machine->free_bytes() / 1024, machine->promised_bytes() / 1024);
  }
}

// ---- top: per-program and per-thread counters ------------------------------------------------------
// `top` samples every program and thread twice, kTopIntervalNs apart (sleeping on the timer), and
// shows what happened in between: CPU time and its share of the interval, wake-ups, messages,
// faults, system calls. `top -n` shows one sample: the totals since each thread started. Memory is
// the program's bytes in use now (its memory session, as `mem` shows).
constexpr uint32_t kTopPrograms = 16, kTopThreads = 8;
constexpr uint64_t kTopIntervalNs = 200'000'000;

struct TopProgram {
  ProgramInfo info;
  uint32_t threads = 0;  // sampled (at most kTopThreads)
  ThreadInfo thread[kTopThreads];
};

struct TopSample {
  uint32_t count = 0;  // programs sampled (at most kTopPrograms)
  uint64_t start_ns = 0, end_ns = 0;
  TopProgram program[kTopPrograms];
};

Result<void> take_sample(TopSample* sample) {
  sample->start_ns = sys::now_ns();
  Result<uint32_t> count = program_count();
  if (!count.ok()) return count.error();
  sample->count = *count < kTopPrograms ? *count : kTopPrograms;
  for (uint32_t i = 0; i < sample->count; ++i) {
    TopProgram& p = sample->program[i];
    Result<ProgramInfo> info = program_info(i);
    if (!info.ok()) return info.error();
    p.info = *info;
    p.threads = 0;
    if (p.info.state != ctl::ProgramState::Running) continue;
    for (uint32_t t = 0; t < p.info.threads && t < kTopThreads; ++t) {
      Result<ThreadInfo> thread = thread_info(i, t);
      if (!thread.ok()) break;  // it ended meanwhile
      p.thread[p.threads++] = *thread;
    }
  }
  sample->end_ns = sys::now_ns();
  return {};
}

// A counter's growth since `before` (the whole value when the thread is new: a restarted program,
// a thread made in between).
uint64_t grown(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

ThreadInfo thread_delta(const ThreadInfo& now, const ThreadInfo* before) {
  if (before == nullptr) return now;
  ThreadInfo d = now;
  d.cpu_ns = grown(now.cpu_ns, before->cpu_ns);
  d.wakeups = grown(now.wakeups, before->wakeups);
  d.sent = grown(now.sent, before->sent);
  d.received = grown(now.received, before->received);
  d.syscalls = grown(now.syscalls, before->syscalls);
  d.faults = grown(now.faults, before->faults);
  return d;
}

void add_counters(ThreadInfo* sum, const ThreadInfo& t) {
  sum->cpu_ns += t.cpu_ns;
  sum->wakeups += t.wakeups;
  sum->sent += t.sent;
  sum->received += t.received;
  sum->syscalls += t.syscalls;
  sum->faults += t.faults;
}

// One row: `pid` may be empty, `mem` is KiB (-1: none, on thread rows); the CPU share in tenths of
// a percent (-1: none).
void top_row(const char* pid, const char* label, const ThreadInfo& c, int64_t permille, int64_t mem) {
  char cpu[32], share[16], memory[24] = "";
  print_ms(cpu, sizeof(cpu), c.cpu_ns);
  if (permille < 0) {
    tessera::format_to(share, sizeof(share), "-");
  } else {
    tessera::format_to(share, sizeof(share), "%ld.%ld", permille / 10, permille % 10);
  }
  if (mem >= 0) tessera::format_to(memory, sizeof(memory), " %8ld", mem);
  say("%5s %-14s %10s %5s %8lu %8lu %8lu %6lu %9lu%s\n", pid, label, cpu, share, c.wakeups, c.sent, c.received,
      c.faults, c.syscalls, memory);
}

void cmd_top(int argc, char** argv, const Redirect&) {
  if (!need_init("top")) return;
  const bool once = argc >= 2 && strcmp(argv[1], "-n") == 0;
  if (argc > (once ? 2 : 1)) {
    say("top: unexpected argument %s (usage: top [-n])\n", argv[once ? 2 : 1]);
    return;
  }
  if (!once && shell_timer == nullptr) {
    say("top: no timer to measure an interval with (top -n shows the totals)\n");
    return;
  }
  static TopSample first, second;
  TopSample* before = nullptr;
  if (!once) {
    if (Result<void> r = take_sample(&first); !r.ok()) {
      say("top: init does not answer (%s)\n", tessera::error_name(r.error()));
      return;
    }
    before = &first;
    (void)shell_timer->sleep_ns(kTopIntervalNs);
  }
  if (Result<void> r = take_sample(&second); !r.ok()) {
    say("top: init does not answer (%s)\n", tessera::error_name(r.error()));
    return;
  }
  // Every thread's figures lie between the first sample's start and the second's end.
  const uint64_t interval = before != nullptr ? second.end_ns - before->start_ns : 0;
  if (once) {
    say("top -n: totals since each thread started; MEM(KiB) in use now\n");
  } else {
    say("top: the last %lu ms (CPU%% of that time); MEM(KiB) in use now\n", interval / 1'000'000);
  }
  say("%5s %-14s %10s %5s %8s %8s %8s %6s %9s %8s\n", "PID", "PROGRAM", "CPU(ms)", "CPU%", "WAKEUPS", "SENT", "RECV",
      "FAULTS", "SYSCALLS", "MEM(KiB)");
  auto share = [&](uint64_t ns) -> int64_t {
    return interval == 0 ? -1 : static_cast<int64_t>(ns * 1000 / interval);
  };
  ThreadInfo total;
  uint64_t total_used = 0;  // bytes, as mem sums them
  for (uint32_t i = 0; i < second.count; ++i) {
    const TopProgram& p = second.program[i];
    char pid[16];
    tessera::format_to(pid, sizeof(pid), "%u", p.info.pid);
    if (p.info.state != ctl::ProgramState::Running) {
      say("%5s %-14s (%s)\n", pid, p.info.name, state_name(p.info.state));
      continue;
    }
    // The same instance in both samples: its threads' growth; a new instance: all of it.
    const TopProgram* old = before != nullptr ? &before->program[i] : nullptr;
    const bool same = old != nullptr && old->info.state == ctl::ProgramState::Running && old->info.pid == p.info.pid;
    ThreadInfo rows[kTopThreads], sum;
    for (uint32_t t = 0; t < p.threads; ++t) {
      rows[t] = thread_delta(p.thread[t], same && t < old->threads ? &old->thread[t] : nullptr);
      add_counters(&sum, rows[t]);
    }
    const int64_t mem = static_cast<int64_t>(p.info.used / 1024);
    top_row(pid, p.info.name, sum, share(sum.cpu_ns), mem);
    for (uint32_t t = 0; t < p.threads; ++t) {
      char label[24];
      tessera::format_to(label, sizeof(label), "  thread %u", t);
      top_row("", label, rows[t], share(rows[t].cpu_ns), -1);
    }
    add_counters(&total, sum);
    total_used += p.info.used;
  }
  top_row("", "total", total, share(total.cpu_ns), static_cast<int64_t>(total_used / 1024));
}

// run / kill / restart PROGRAM
void program_command(int argc, char** argv, const char* verb) {
  if (!need_init(verb)) return;
  if (argc != 2) {
    say("%s: usage: %s PROGRAM\n", verb, verb);
    return;
  }
  const char* name = argv[1];
  if (strcmp(verb, "run") != 0 && strcmp(name, own_name) == 0) {
    say("%s: %s: the shell cannot %s itself\n", verb, name, verb);
    return;
  }
  const tessera::capnp::Text text(name, static_cast<uint32_t>(strlen(name)));
  InitClient init = init_client();
  if (strcmp(verb, "run") == 0) {
    const auto r = init.run(text);
    if (!r.ok()) {
      say("run: %s: %s\n", name, init_error(r.error()));
    } else {
      say("run: %s started (pid %u)\n", name, r->pid());
    }
  } else if (strcmp(verb, "kill") == 0) {
    const auto r = init.kill(text);
    if (!r.ok()) {
      say("kill: %s: %s\n", name, init_error(r.error()));
    } else {
      say("kill: %s stopped\n", name);
    }
  } else {
    const auto r = init.restart(text);
    if (!r.ok()) {
      say("restart: %s: %s\n", name, init_error(r.error()));
    } else {
      say("restart: %s restarted (pid %u)\n", name, r->pid());
    }
  }
}
void cmd_run(int argc, char** argv, const Redirect&) { program_command(argc, argv, "run"); }
void cmd_kill(int argc, char** argv, const Redirect&) { program_command(argc, argv, "kill"); }
void cmd_restart(int argc, char** argv, const Redirect&) { program_command(argc, argv, "restart"); }

// ---- Filesystem commands ----------------------------------------------------------------------------
char kind_letter(shell::FileKind kind) {
  switch (kind) {
    case shell::FileKind::Directory: return 'd';
    case shell::FileKind::Symlink: return 'l';
    case shell::FileKind::File: return '-';
    default: return '?';
  }
}

void list_entry(const char* directory, const char* name, bool long_format) {
  if (!long_format) {
    say("%s\n", name);
    return;
  }
  char path[kMaxPath];
  if (!shell::resolve_path(directory, name, path)) {
    say("? %s\n", name);
    return;
  }
  Result<shell::FileStat> st = fs->lstat(path);
  if (!st.ok()) {
    say("?  %s (%s)\n", name, fs_error(st.error()));
    return;
  }
  char target[kMaxPath] = {};
  if (st->kind == shell::FileKind::Symlink) {
    Result<size_t> n = fs->readlink(path, target, sizeof(target));
    if (!n.ok()) target[0] = '\0';
  }
  char mode[10];
  for (int bit = 0; bit < 9; ++bit) mode[bit] = (st->mode & (0400 >> bit)) != 0 ? "rwxrwxrwx"[bit] : '-';
  mode[9] = '\0';
  say("%c%s %3u %10lu %s%s%s\n", kind_letter(st->kind), mode, st->links, st->size, name,
      st->kind == shell::FileKind::Symlink ? " -> " : "", target);
}

struct ListContext {
  const char* directory;
  bool long_format;
  uint32_t count;
};

void list_one(void* context, const shell::DirEntry& entry) {
  auto* c = static_cast<ListContext*>(context);
  if (strcmp(entry.name, ".") == 0 || strcmp(entry.name, "..") == 0) return;
  ++c->count;
  list_entry(c->directory, entry.name, c->long_format);
}

void cmd_ls(int argc, char** argv, const Redirect&) {
  bool long_format = false;
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "-l") == 0) {
    long_format = true;
    first = 2;
  }
  if (!need_fs("ls")) return;
  char* dot[] = {const_cast<char*>(".")};
  char** paths = first < argc ? argv + first : dot;
  const int count = first < argc ? argc - first : 1;
  for (int i = 0; i < count; ++i) {
    char path[kMaxPath];
    if (!resolve("ls", paths[i], path)) continue;
    Result<shell::FileStat> st = fs->stat(path);
    if (!st.ok()) {
      say("ls: %s: %s\n", paths[i], fs_error(st.error()));
      continue;
    }
    if (count > 1) say("%s:\n", paths[i]);
    if (st->kind != shell::FileKind::Directory) {
      char parent[kMaxPath];
      (void)shell::resolve_path(path, "..", parent);
      list_entry(parent, path + strlen(parent) + (strcmp(parent, "/") == 0 ? 0 : 1), long_format);
      continue;
    }
    ListContext context{path, long_format, 0};
    Result<void> r = fs->list(path, list_one, &context);
    if (!r.ok()) say("ls: %s: %s\n", paths[i], fs_error(r.error()));
  }
}

void print_bytes(void*, const char* bytes, size_t length) {
  if (out.is_open()) {
    (void)out.write(bytes, length);
  }
}

void cmd_cat(int argc, char** argv, const Redirect&) {
  if (!need_fs("cat")) return;
  if (argc < 2) {
    say("cat: usage: cat FILE...\n");
    return;
  }
  for (int i = 1; i < argc; ++i) {
    char path[kMaxPath];
    if (!resolve("cat", argv[i], path)) continue;
    Result<void> r = fs->read(path, print_bytes, nullptr);
    if (!r.ok()) say("cat: %s: %s\n", argv[i], fs_error(r.error()));
  }
}

// mkdir / rm / rmdir: one operation per argument.
void each_path(int argc, char** argv, const char* verb, Result<void> (FsOps::*op)(const char*)) {
  if (!need_fs(verb)) return;
  if (argc < 2) {
    say("%s: usage: %s PATH...\n", verb, verb);
    return;
  }
  for (int i = 1; i < argc; ++i) {
    char path[kMaxPath];
    if (!resolve(verb, argv[i], path)) continue;
    Result<void> r = (fs->*op)(path);
    if (!r.ok()) say("%s: %s: %s\n", verb, argv[i], fs_error(r.error()));
  }
}
void cmd_mkdir(int argc, char** argv, const Redirect&) { each_path(argc, argv, "mkdir", &FsOps::mkdir); }
void cmd_rm(int argc, char** argv, const Redirect&) { each_path(argc, argv, "rm", &FsOps::unlink); }
void cmd_rmdir(int argc, char** argv, const Redirect&) { each_path(argc, argv, "rmdir", &FsOps::rmdir); }

void cmd_mv(int argc, char** argv, const Redirect&) {
  if (!need_fs("mv")) return;
  if (argc != 3) {
    say("mv: usage: mv FROM TO\n");
    return;
  }
  char from[kMaxPath], to[kMaxPath];
  if (!resolve("mv", argv[1], from) || !resolve("mv", argv[2], to)) return;
  Result<void> r = fs->rename(from, to);
  if (!r.ok()) say("mv: %s: %s\n", argv[1], fs_error(r.error()));
}

void cmd_ln(int argc, char** argv, const Redirect&) {
  if (!need_fs("ln")) return;
  const bool symbolic = argc == 4 && strcmp(argv[1], "-s") == 0;
  if (argc != 3 && !symbolic) {
    say("ln: usage: ln [-s] TARGET LINK\n");
    return;
  }
  const char* target = argv[symbolic ? 2 : 1];
  char link_path[kMaxPath];
  if (!resolve("ln", argv[symbolic ? 3 : 2], link_path)) return;
  Result<void> r;
  if (symbolic) {
    r = fs->symlink(target, link_path);  // the target as written (relative targets stay relative)
  } else {
    char target_path[kMaxPath];
    if (!resolve("ln", target, target_path)) return;
    r = fs->link(target_path, link_path);
  }
  if (!r.ok()) say("ln: %s: %s\n", argv[symbolic ? 3 : 2], fs_error(r.error()));
}

void cmd_stat(int argc, char** argv, const Redirect&) {
  if (!need_fs("stat")) return;
  if (argc < 2) {
    say("stat: usage: stat PATH...\n");
    return;
  }
  for (int i = 1; i < argc; ++i) {
    char path[kMaxPath];
    if (!resolve("stat", argv[i], path)) continue;
    Result<shell::FileStat> st = fs->lstat(path);
    if (!st.ok()) {
      say("stat: %s: %s\n", argv[i], fs_error(st.error()));
      continue;
    }
    const char* kind = st->kind == shell::FileKind::Directory ? "directory"
                       : st->kind == shell::FileKind::Symlink ? "symbolic link"
                       : st->kind == shell::FileKind::File    ? "regular file"
                                                              : "other";
    say("  File: %s\n  Type: %s\n  Size: %lu\n  Blocks: %lu\n  Inode: %lu\n  Links: %u\n  Mode: %04o\n  Modified: %u\n",
        path, kind, st->size, st->blocks, st->inode, st->links, st->mode, st->mtime);
  }
}

void cmd_df(int, char**, const Redirect&) {
  if (!need_fs("df")) return;
  Result<shell::FsUsage> u = fs->usage();
  if (!u.ok()) {
    say("df: %s\n", fs_error(u.error()));
    return;
  }
  say("%12s %12s %12s %10s %10s\n", "SIZE(KiB)", "USED(KiB)", "FREE(KiB)", "INODES", "IFREE");
  say("%12lu %12lu %12lu %10lu %10lu\n", u->total_bytes / 1024, (u->total_bytes - u->free_bytes) / 1024,
      u->free_bytes / 1024, u->total_inodes, u->free_inodes);
}

void cmd_sync(int argc, char**, const Redirect&) {
  if (!need_fs("sync")) return;
  if (argc > 1) {
    say("sync: usage: sync\n");
    return;
  }
  Result<void> r = fs->sync();
  if (!r.ok()) say("sync: %s\n", fs_error(r.error()));
}

void cmd_cd(int argc, char** argv, const Redirect&) {
  if (argc > 2) {
    say("cd: usage: cd [DIRECTORY]\n");
    return;
  }
  char path[kMaxPath];
  if (!resolve("cd", argc == 2 ? argv[1] : "/", path)) return;
  if (strcmp(path, "/") != 0) {
    if (!need_fs("cd")) return;
    Result<shell::FileStat> st = fs->stat(path);
    if (!st.ok()) {
      say("cd: %s: %s\n", argv[1], fs_error(st.error()));
      return;
    }
    if (st->kind != shell::FileKind::Directory) {
      say("cd: %s: not a directory\n", argv[1]);
      return;
    }
  }
  memcpy(cwd, path, strlen(path) + 1);
}

void cmd_pwd(int, char**, const Redirect&) { say("%s\n", cwd); }

// The commands: adding one is one entry (and a line in docs/shell.md).
const Command kCommands[] = {
    {"help", "help", "this list", cmd_help, false, false},
    {"echo", "echo [WORD...] [>|>> FILE]", "print the words (or write them to FILE)", cmd_echo, true, false},
    {"ps", "ps", "programs (pid, state, priority, restarts) and their threads", cmd_ps, false, false},
    {"mem", "mem", "memory quota and use of every program", cmd_mem, false, false},
    {"top", "top [-n]", "CPU, wake-ups, messages, faults, memory per program and thread", cmd_top, false, false},
    {"run", "run PROGRAM", "start a program of the system description", cmd_run, false, false},
    {"kill", "kill PROGRAM", "stop a program (init does not restart it)", cmd_kill, false, false},
    {"restart", "restart PROGRAM", "stop a program and start it again", cmd_restart, false, false},
    {"ls", "ls [-l] [PATH...]", "list a directory", cmd_ls, false, false},
    {"cat", "cat FILE...", "print files", cmd_cat, false, false},
    {"mkdir", "mkdir DIR...", "make directories", cmd_mkdir, false, true},
    {"rm", "rm FILE...", "remove files", cmd_rm, false, true},
    {"rmdir", "rmdir DIR...", "remove empty directories", cmd_rmdir, false, true},
    {"mv", "mv FROM TO", "rename or move", cmd_mv, false, true},
    {"ln", "ln [-s] TARGET LINK", "make a (symbolic) link", cmd_ln, false, true},
    {"stat", "stat PATH...", "what a path is", cmd_stat, false, false},
    {"df", "df", "filesystem size and free space", cmd_df, false, false},
    {"sync", "sync", "write everything to the disk now", cmd_sync, false, false},
    {"cd", "cd [DIR]", "change the working directory", cmd_cd, false, false},
    {"pwd", "pwd", "print the working directory", cmd_pwd, false, false},
};
const uint32_t kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

// Splits `line` in place into words (spaces and tabs separate; "double quotes" group); false when
// there are too many or a quote is not closed (said why).
bool split(char* line, int* argc, char** argv) {
  *argc = 0;
  char* p = line;
  while (*p != 0) {
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == 0) break;
    if (*argc == static_cast<int>(kMaxArgs)) {
      say("shell: too many words (at most %u)\n", kMaxArgs);
      return false;
    }
    if (*p == '"') {
      argv[(*argc)++] = ++p;
      while (*p != 0 && *p != '"') ++p;
      if (*p != '"') {
        say("shell: unterminated quote\n");
        return false;
      }
      *p++ = '\0';
      continue;
    }
    argv[(*argc)++] = p;
    while (*p != 0 && *p != ' ' && *p != '\t') ++p;
    if (*p != 0) *p++ = '\0';
  }
  return true;
}

void execute(char* line) {
  int argc = 0;
  char* argv[kMaxArgs + 1] = {};
  if (!split(line, &argc, argv) || argc == 0) return;
  // > FILE / >> FILE at the end.
  Redirect redirect;
  if (argc >= 2 && (strcmp(argv[argc - 2], ">") == 0 || strcmp(argv[argc - 2], ">>") == 0)) {
    redirect.path = argv[argc - 1];
    redirect.append = argv[argc - 2][1] == '>';
    argc -= 2;
  } else if (argc >= 1 && (strcmp(argv[argc - 1], ">") == 0 || strcmp(argv[argc - 1], ">>") == 0)) {
    say("shell: %s needs a file name\n", argv[argc - 1]);
    return;
  }
  argv[argc] = nullptr;
  if (argc == 0) {
    say("shell: nothing to redirect\n");
    return;
  }
  for (uint32_t i = 0; i < kCommandCount; ++i) {
    if (strcmp(argv[0], kCommands[i].name) != 0) continue;
    if (redirect.path != nullptr && !kCommands[i].redirects) {
      say("%s: output cannot be redirected (only echo's can)\n", argv[0]);
      return;
    }
    kCommands[i].run(argc, argv, redirect);
    if ((kCommands[i].writes || redirect.path != nullptr) && fs->available()) (void)fs->sync();
    return;
  }
  say("%s: unknown command (try help)\n", argv[0]);
}

void prompt() { say("tessera:%s$ ", cwd); }

// Lets the boot log settle before the first prompt: waits (at most ~3 s) until every program has
// been started and the ones init does not restart (kvclient) have ended.
void settle(sys::TimerClient* timer) {
  if (control == 0 || timer == nullptr) return;
  for (int round = 0; round < 60; ++round) {
    Result<uint32_t> count = program_count();
    if (!count.ok()) return;
    bool busy = false;
    for (uint32_t i = 0; i < *count && !busy; ++i) {
      Result<ProgramInfo> p = program_info(i);
      if (!p.ok()) return;
      if (strcmp(p->name, "shell") == 0) continue;
      busy = p->state == ctl::ProgramState::NotStarted || (p->state == ctl::ProgramState::Running && !p->restart_policy);
    }
    if (!busy) break;
    (void)timer->sleep_ns(50'000'000);
  }
  (void)timer->sleep_ns(100'000'000);  // the last log lines of init
}

[[noreturn]] void fail(const char* what, Error e) {
  sys::print("shell: %s (error %s)\n", what, tessera::error_name(e));
  sys::exit_process(1);
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr || sys::process_memory() == nullptr) {
    sys::print("shell: not started as a process\n");
    return 1;
  }
  own_name = block->name;
  static sys::SlotAllocator slots(block->empty);
  static sys::MemorySession session(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  Result<sys::CPtr> console = sys::find_grant(*block, "endpoint:console");
  if (!console.ok()) fail("no endpoint:console granted", console.error());
  if (Result<sys::CPtr> c = sys::find_grant(*block, "control:init"); c.ok()) control = *c;
  static sys::TimerClient timer;
  if (Result<sys::CPtr> t = sys::find_grant(*block, "endpoint:timer"); t.ok()) {
    Result<sys::TimerClient> opened = sys::TimerClient::open(session, *t);
    if (opened.ok()) {
      timer = static_cast<sys::TimerClient&&>(*opened);
      shell_timer = &timer;
    }
  }
  if (Result<void> r = out.open(session, slots, *console); !r.ok()) fail("cannot open the console", r.error());
  if (Result<sys::CPtr> f = sys::find_grant(*block, "endpoint:fs"); f.ok()) {
    Result<void> connected = fs_server.connect(session, slots, *f);
    if (connected.ok()) {
      fs = &fs_server;
    } else {
      say("shell: no filesystem (connecting to fs: %s)\n", tessera::error_name(connected.error()));
    }
  }
  if (Result<void> r = out.set_raw(true); !r.ok()) fail("cannot switch the console to raw mode", r.error());
  settle(shell_timer);
  say("\nTessera shell. Type help for the commands.\n");
  static shell::LineEditor editor;
  prompt();
  for (;;) {
    uint8_t input[64];
    Result<size_t> n = out.read(input, sizeof(input));
    if (!n.ok()) {
      if (n.error() == Error::Busy) continue;
      fail("reading the console", n.error());
    }
    char echo[shell::LineEditor::kMaxEcho + 64];
    size_t echo_length = 0;
    for (size_t i = 0; i < *n; ++i) {
      const shell::LineEditor::Event event = editor.feed(input[i], echo, &echo_length, sizeof(echo));
      if (event == shell::LineEditor::Event::None) {
        if (echo_length + 8 > sizeof(echo)) {
          (void)out.write(echo, echo_length);
          echo_length = 0;
        }
        continue;
      }
      if (echo_length != 0) (void)out.write(echo, echo_length);
      echo_length = 0;
      if (event == shell::LineEditor::Event::Line) {
        execute(editor.line());
      } else if (event == shell::LineEditor::Event::TooLong) {
        say("shell: line too long (at most %zu characters); ignored\n", shell::LineEditor::kMaxLine);
      }
      prompt();
    }
    if (echo_length != 0) (void)out.write(echo, echo_length);
  }
}
