#include "system.h"

#include <stdarg.h>

#include <tessera/cmdline.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/syscall.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/abi/memory.capnp.h>
#include <tessera/abi/timer.capnp.h>

#include "launch.h"

// Written by servers/init/embed_files.py (the generated embedded_files.S).
extern "C" const init::EmbeddedFile tessera_embedded_files[];
extern "C" const uint64_t tessera_embedded_file_count;

namespace init {
namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Result;
using tessera::capnp::CapRef;

const char* fault_name(uint64_t kind) {
  switch (static_cast<tessera::FaultKind>(kind)) {
    case tessera::FaultKind::PageFault: return "page fault";
    case tessera::FaultKind::Exception: return "exception";
    case tessera::FaultKind::UnknownSyscall: return "unknown system call";
  }
  return nullptr;
}

void print_line(void*, const char* line) { sys::print("%s\n", line); }

// A program declared with cmdline=KEY,...: the words `KEY=VALUE` of the kernel command line for
// each key present, space-separated, in `out`. False when the first key is absent (the program is
// not wanted in this boot) or the words do not fit.
bool cmdline_argument(const tessera::BootInfo* boot, const char* keys, char* out, size_t capacity) {
  if (boot == nullptr) return false;
  const size_t length = boot->cmdline_length < sizeof(boot->cmdline) ? boot->cmdline_length : sizeof(boot->cmdline);
  const tessera::CommandLine cmdline(tessera::StringView(boot->cmdline, length));
  size_t used = 0;
  out[0] = '\0';
  bool first = true;
  for (const char* k = keys; *k != '\0';) {
    const char* end = k;
    while (*end != '\0' && *end != ',') ++end;
    const tessera::StringView key(k, static_cast<size_t>(end - k));
    tessera::StringView value;
    if (cmdline.get(key, &value)) {
      const size_t n = tessera::format_to(out + used, capacity - used, "%s%.*s=%.*s", used == 0 ? "" : " ",
                                       static_cast<int>(key.size), key.data, static_cast<int>(value.size), value.data);
      if (used + n >= capacity) return false;
      used += n;
    } else if (first) {
      return false;
    }
    first = false;
    k = *end == ',' ? end + 1 : end;
  }
  return true;
}
}  // namespace

const EmbeddedFile* find_embedded_file(const char* name) {
  for (uint64_t i = 0; i < tessera_embedded_file_count; ++i) {
    if (strcmp(tessera_embedded_files[i].name, name) == 0) return &tessera_embedded_files[i];
  }
  return nullptr;
}

void System::log(const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  tessera::vformat_to(line, sizeof(line), format, args);
  va_end(args);
  (log_sink_ != nullptr ? log_sink_ : print_line)(log_context_, line);
}

uint32_t System::program_index(const char* name) const {
  for (uint32_t i = 0; description_ != nullptr && i < description_->program_count; ++i) {
    if (strcmp(description_->programs[i].name, name) == 0) return i;
  }
  return kMaxSystemPrograms;
}

Result<void> System::start(sys::UntypedAllocator& memory, const SystemDescription& description,
                           sys::CPtr memory_control, sys::CPtr init_tcb) {
  if (memory_ != nullptr) return Error::Busy;
  memory_ = &memory;
  description_ = &description;
  auto supervisor = memory.allocate(tessera::abi::ObjectType::Endpoint);
  if (!supervisor.ok()) {
    memory_ = nullptr;
    return supervisor.error();
  }
  supervisor_ = *supervisor;
  memory_control_ = memory_control;
  if (memory_control_ != 0) {
    if (Result<void> r = watch_memory_faults(init_tcb); !r.ok()) {
      log("init: cannot receive the memory server's fault reports (error %u)", static_cast<unsigned>(r.error()));
      (void)stop();
      return r.error();
    }
  }
  for (uint32_t i = 0; i < description.object_count; ++i) {
    if (description.objects[i].kind == ObjectKind::Control) continue;  // a badged copy at each spawn
    if (is_hardware(description.objects[i].kind)) {
      if (Result<void> r = create_hardware(i); !r.ok()) {
        log("init: cannot create %s %s (error %u)", kind_name(description.objects[i].kind), description.objects[i].name,
            static_cast<unsigned>(r.error()));
        (void)stop();
        return r.error();
      }
      continue;
    }
    const bool endpoint = description.objects[i].kind == ObjectKind::Endpoint;
    auto object = memory.allocate(endpoint ? tessera::abi::ObjectType::Endpoint : tessera::abi::ObjectType::Notification);
    if (!object.ok()) {
      log("init: cannot create %s %s (error %u)", kind_name(description.objects[i].kind), description.objects[i].name,
          static_cast<unsigned>(object.error()));
      (void)stop();
      return object.error();
    }
    objects_[i] = *object;
  }
  for (uint32_t i = 0; i < description.program_count; ++i) {
    status_[i] = ProgramStatus{};
    if (!spawn(i).ok()) status_[i].state = ProgramState::Failed;
  }
  return {};
}

Result<void> System::spawn(uint32_t program) {
  const ProgramDeclaration& p = description_->programs[program];
  const EmbeddedFile* image = find_embedded_file(p.image);
  if (image == nullptr) {
    log("init: cannot start %s: no image %s is embedded in init", p.name, p.image);
    return Error::EmptySlot;
  }
  sys::Grant grants[sys::kMaxProcessGrants];
  char grant_names[sys::kMaxProcessGrants][kNameBytes];
  for (uint32_t i = 0; i < p.grant_count; ++i) {
    const ObjectDeclaration& object = description_->objects[p.grants[i].object];
    tessera::format_to(grant_names[i], kNameBytes, "%s:%s", kind_name(object.kind), object.name);
    grants[i] = sys::Grant{grant_names[i], objects_[p.grants[i].object], p.grants[i].rights,
                           grant_badge(object.kind, p.grants[i], program)};
    // A pci capability is init's endpoint, already badged with its function: call, nothing more.
    if (object.kind == ObjectKind::Pci) grants[i].rights = tessera::abi::kRightWrite | tessera::abi::kRightGrantReply;
    // A control capability: the supervision endpoint badged with the control bit and this program.
    if (object.kind == ObjectKind::Control) {
      grants[i] = sys::Grant{grant_names[i], supervisor_, tessera::abi::kRightWrite | tessera::abi::kRightGrantReply,
                             kControlBadge | (program + 1)};
    }
  }
  sys::ProcessOptions options;
  options.name = p.name;
  options.argument = p.argument;
  char from_cmdline[sys::kProcessArgumentBytes];
  if (p.cmdline_keys[0] != '\0') {
    if (!cmdline_argument(hardware_.boot, p.cmdline_keys, from_cmdline, sizeof(from_cmdline))) return {};  // not asked for
    options.argument = from_cmdline;
  }
  options.priority = p.priority;
  options.mcp = p.mcp;
  options.budget_us = p.budget_us;
  options.period_us = p.period_us;
  sys::ProcessMemory pager{memory_control_, p.memory_bytes, 1};
  if (memory_control_ != 0) options.memory = &pager;
  options.fault_endpoint = supervisor_;
  options.fault_badge = program + 1;
  options.grants = grants;
  options.grant_count = p.grant_count;
  const uint64_t spawned_at = sys::rdtsc();  // the program may run (and end) before spawn returns
  auto process = sys::Process::spawn(*memory_, image->data, image->size, options);
  if (!process.ok()) {
    log("init: cannot start %s: error %u", p.name, static_cast<unsigned>(process.error()));
    return process.error();
  }
  processes_[program] = process.take();
  status_[program].state = ProgramState::Running;
  status_[program].given_up = false;
  status_[program].pid = next_pid_++;
  ++status_[program].starts;
  status_[program].started_tsc = spawned_at;
  log("init: started %s (priority %u, %u pages)", p.name, p.priority, processes_[program].page_count());
  if (program == timer_program_ && waker_ != nullptr) {
    // A new timer server: the waker attaches to it (the deadline it armed died with the old one).
    __atomic_add_fetch(&timer_generation_, 1, __ATOMIC_RELEASE);
    (void)sys::signal(waker_request_);
  }
  return {};
}

Result<SupervisionEvent> System::handle_next(bool blocking) {
  if (memory_ == nullptr) return Error::IllegalOperation;
  sys::Received received{};
  const Error e = blocking ? sys::recv(supervisor_, &received) : sys::nb_recv(supervisor_, &received);
  if (e != Error::Ok) return e;
  const tessera::IpcBuffer* buffer = sys::ipc_buffer();
  const uint64_t words[3] = {buffer->msg[0], buffer->msg[1], buffer->msg[2]};
  SupervisionEvent event;
  if (memory_events_ != 0 && (received.badge & (kMemoryEventBadge | kRestartTimerBadge)) != 0) {
    if ((received.badge & kRestartTimerBadge) != 0) run_due_restarts(false, nullptr, &event);
    if ((received.badge & kMemoryEventBadge) != 0 && memory_control_ != 0) handle_memory_faults(&event);
    return event;
  }
  if ((received.badge & kPciServiceBadge) != 0) {
    const uint64_t index = received.badge & ~kPciServiceBadge;
    event.kind = SupervisionEvent::Kind::Service;
    if (index < description_->object_count && description_->objects[index].kind == ObjectKind::Pci) {
      serve_pci(static_cast<uint32_t>(index), received);
    }
    return event;
  }
  if ((received.badge & kControlBadge) != 0) {
    const uint64_t caller = received.badge & ~kControlBadge;
    event.kind = SupervisionEvent::Kind::Service;
    if (caller >= 1 && caller <= description_->program_count && control_handler_ != nullptr) {
      control_handler_(*this, static_cast<uint32_t>(caller - 1), received);
    } else {
      const Error why = control_handler_ == nullptr ? Error::NotSupported : Error::IllegalOperation;
      (void)sys::reply(sys::MessageInfo{static_cast<uint64_t>(why), 0, 0, 0});
    }
    return event;
  }
  if (received.badge == 0 || received.badge > description_->program_count) {
    log("init: supervision message with unknown badge %lu ignored", received.badge);
    event.kind = SupervisionEvent::Kind::Unknown;
    return event;
  }
  event.program = static_cast<uint32_t>(received.badge - 1);
  const char* name = description_->programs[event.program].name;
  ProgramStatus& status = status_[event.program];
  if (!processes_[event.program].alive()) {
    // From a process already ended (killed through the control protocol while its message waited).
    event.kind = SupervisionEvent::Kind::Unknown;
    return event;
  }
  const uint64_t label = received.info.label;
  if (label == sys::kProcessExitLabel && received.info.length_words >= 1) {
    event.kind = SupervisionEvent::Kind::Exit;
    status.exit_status = static_cast<int64_t>(words[0]);
    log("init: %s exited with status %ld", name, status.exit_status);
    handle_end(event.program, status.exit_status != 0, &event);
  } else if (fault_name(label) != nullptr) {
    event.kind = SupervisionEvent::Kind::Fault;
    ++status.faults;
    status.last_fault_kind = label;
    status.last_fault_ip = words[0];
    status.last_fault_detail = words[1];
    if (label == static_cast<uint64_t>(tessera::FaultKind::PageFault)) {
      log("init: %s faulted: page fault at 0x%lx (ip 0x%lx, error 0x%lx)", name, words[1], words[0], words[2]);
    } else {
      log("init: %s faulted: %s %lu (ip 0x%lx)", name, fault_name(label), words[1], words[0]);
    }
    handle_end(event.program, true, &event);
  } else {
    // Anything else on the fault endpoint is the program's mistake; it stays as it is.
    log("init: %s sent an unexpected message (label 0x%lx) to its fault endpoint", name, label);
    event.kind = SupervisionEvent::Kind::Unknown;
  }
  return event;
}

Result<void> System::bind_events(sys::CPtr init_tcb) {
  if (memory_events_ != 0) return {};
  const sys::CPtr events = TRY(memory_->allocate(tessera::abi::ObjectType::Notification));
  memory_events_ = events;
  tessera::abi::Tcb::Client<sys::CallTransport> tcb(memory_->kernel(), init_tcb);
  TRY(tcb.bind_notification(tessera::capnp::CapRef{events}));
  memory_events_tcb_ = init_tcb;
  return {};
}

Result<sys::CPtr> System::mint_copy(sys::CPtr object, uint64_t badge) {
  const sys::CPtr copy = TRY(memory_->slots().alloc());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(memory_->kernel(), tessera::kSlotRootCNode);
  const Result<void> r = cnode.mint(copy, sys::kSlotDepth, tessera::capnp::CapRef{tessera::kSlotRootCNode}, object,
                                    sys::kSlotDepth, tessera::abi::kRightWrite, badge);
  if (!r.ok()) {
    (void)memory_->slots().free(copy);
    return r.error();
  }
  return copy;
}

Result<void> System::watch_memory_faults(sys::CPtr init_tcb) {
  TRY(bind_events(init_tcb));
  // The server signals a badged copy (write only): the word says "memory", apart from every
  // program's badge on the supervision endpoint.
  const sys::CPtr copy = TRY(mint_copy(memory_events_, kMemoryEventBadge));
  tessera::memory::Control::Client<sys::CallTransport> control(memory_->kernel(), memory_control_);
  const Result<void> r = control.events(tessera::capnp::CapRef{copy});
  (void)memory_->free(copy);  // the server has its own copy now
  return r;
}

// ---- Restart back-off ----------------------------------------------------------------------------

namespace {
constexpr uint64_t kWakerRequest = 1;  // init: the earliest restart due changed, or a new timer server
constexpr uint64_t kWakerFired = 2;    // the timer server: a deadline passed
}  // namespace

Result<void> System::use_timer_for_backoff(const char* timer_program, const char* timer_endpoint, uint64_t window,
                                           sys::CPtr init_tcb) {
  if (memory_ == nullptr) return Error::IllegalOperation;
  if (waker_ != nullptr) return Error::Busy;
  const uint32_t program = program_index(timer_program);
  uint32_t endpoint = kMaxSystemObjects;
  for (uint32_t i = 0; i < description_->object_count; ++i) {
    if (description_->objects[i].kind == ObjectKind::Endpoint && strcmp(description_->objects[i].name, timer_endpoint) == 0) {
      endpoint = i;
    }
  }
  if (program == kMaxSystemPrograms || endpoint == kMaxSystemObjects) return Error::EmptySlot;
  TRY(bind_events(init_tcb));
  Result<void> r = [&]() -> Result<void> {
    waker_notify_ = TRY(memory_->allocate(tessera::abi::ObjectType::Notification));
    waker_request_ = TRY(mint_copy(waker_notify_, kWakerRequest));
    waker_fired_ = TRY(mint_copy(waker_notify_, kWakerFired));
    waker_to_init_ = TRY(mint_copy(memory_events_, kRestartTimerBadge));
    sys::ThreadOptions options;
    options.window = window;
    options.stack_pages = 2;
    auto thread = TRY(sys::Thread::create(*memory_, &waker_tables_, options));
    timer_program_ = program;
    timer_endpoint_ = objects_[endpoint];
    waker_ = new sys::Thread(static_cast<sys::Thread&&>(thread));
    return waker_->start(&System::waker_entry, reinterpret_cast<uint64_t>(this));
  }();
  if (!r.ok()) stop_waker();
  return r;
}

void System::waker_entry(uint64_t system) { reinterpret_cast<System*>(system)->waker_main(); }

// The waker thread: the only code of init that calls the timer server. It may block there (a
// timer server being restarted); init goes on meanwhile.
void System::waker_main() {
  sys::CallTransport transport(sys::ipc_buffer());
  tessera::timer::Timer::Client<sys::CallTransport> timer(transport, timer_endpoint_);
  bool attached = false;
  uint32_t channel = 0;
  uint64_t attached_generation = 0, armed_for = 0;
  for (;;) {
    uint64_t word = 0;
    if (sys::wait(waker_notify_, &word) != Error::Ok) sys::suspend_self();
    const uint64_t generation = __atomic_load_n(&timer_generation_, __ATOMIC_ACQUIRE);
    if (attached && attached_generation != generation) attached = false;  // that server is gone
    if ((word & kWakerFired) != 0) {
      // Take the fired events (their share of the channel) and tell init.
      for (bool more = attached; more;) {
        auto collected = timer.collect(channel);
        more = collected.ok() && collected->more();
        if (!collected.ok()) attached = false;
      }
      armed_for = 0;
      (void)sys::signal(waker_to_init_);
    }
    const uint64_t due = __atomic_load_n(&waker_due_ns_, __ATOMIC_ACQUIRE);
    if (due == 0 || (attached && due == armed_for)) continue;
    if (!attached) {
      auto r = timer.attach(tessera::capnp::CapRef{waker_fired_});
      if (!r.ok()) continue;  // the server died meanwhile: init signals again once it is back
      channel = r->channel();
      attached = true;
      attached_generation = generation;
    }
    if (timer.arm(channel, due, 0).ok()) {
      armed_for = due;
    } else {
      attached = false;
    }
  }
}

bool System::timer_running() const {
  return waker_ != nullptr && timer_program_ < kMaxSystemPrograms &&
         status_[timer_program_].state == ProgramState::Running;
}

void System::run_due_restarts(bool all, const char* why, SupervisionEvent* event) {
  const uint64_t now = sys::now_ns();
  uint64_t next = 0;
  for (uint32_t i = 0; description_ != nullptr && i < description_->program_count; ++i) {
    ProgramStatus& status = status_[i];
    if (!status.restart_pending) continue;
    if (!all && status.restart_due_ns > now) {
      if (next == 0 || status.restart_due_ns < next) next = status.restart_due_ns;
      continue;
    }
    status.restart_pending = false;
    if (why != nullptr) {
      log("init: restarting %s now: %s", description_->programs[i].name, why);
    } else {
      log("init: restarting %s after its back-off of %lu ms", description_->programs[i].name,
          status.last_delay_ns / 1'000'000);
    }
    event->kind = SupervisionEvent::Kind::Restart;
    event->program = i;
    event->restarted = spawn(i).ok();
  }
  if (waker_ != nullptr) {
    __atomic_store_n(&waker_due_ns_, next, __ATOMIC_RELEASE);
    if (next != 0) (void)sys::signal(waker_request_);
  }
}

void System::stop_waker() {
  if (waker_ != nullptr) {
    (void)waker_->destroy();
    delete waker_;
    waker_ = nullptr;
  }
  (void)sys::free_tables(*memory_, &waker_tables_);
  waker_tables_ = sys::CreatedTables{};
  sys::CPtr* caps[] = {&waker_request_, &waker_fired_, &waker_to_init_, &waker_notify_};
  for (sys::CPtr* cap : caps) {
    if (*cap != 0) (void)memory_->free(*cap);
    *cap = 0;
  }
  timer_program_ = kMaxSystemPrograms;
  timer_endpoint_ = 0;
  waker_due_ns_ = 0;
}

void System::handle_memory_faults(SupervisionEvent* event) {
  event->kind = SupervisionEvent::Kind::Unknown;
  tessera::memory::Control::Client<sys::CallTransport> control(memory_->kernel(), memory_control_);
  for (;;) {
    auto fault = control.take_fault();
    if (!fault.ok()) return;
    const uint32_t session = fault.value().id();
    const uint64_t kind = fault.value().kind(), ip = fault.value().ip(), address = fault.value().address(),
                   detail = fault.value().detail();
    const bool pending = fault.value().pending();
    uint32_t program = kMaxSystemPrograms;
    for (uint32_t i = 0; i < description_->program_count; ++i) {
      if (processes_[i].alive() && processes_[i].session() != 0 && processes_[i].session_id() == session) program = i;
    }
    if (program != kMaxSystemPrograms) {
      const char* name = description_->programs[program].name;
      ProgramStatus& status = status_[program];
      ++status.faults;
      status.last_fault_kind = kind;
      status.last_fault_ip = ip;
      status.last_fault_detail = kind == static_cast<uint64_t>(tessera::FaultKind::PageFault) ? address : detail;
      if (kind == static_cast<uint64_t>(tessera::FaultKind::PageFault)) {
        log("init: %s faulted: page fault at 0x%lx (ip 0x%lx, error 0x%lx): outside its memory, not allowed, or "
            "beyond its quota",
            name, address, ip, detail);
      } else {
        log("init: %s faulted: %s %lu (ip 0x%lx)", name, fault_name(kind) != nullptr ? fault_name(kind) : "fault",
            detail, ip);
      }
      event->kind = SupervisionEvent::Kind::Fault;
      event->program = program;
      handle_end(program, true, event);
    }
    if (!pending) return;
  }
}

void System::handle_end(uint32_t program, bool failed, SupervisionEvent* event) {
  const ProgramDeclaration& p = description_->programs[program];
  ProgramStatus& status = status_[program];
  if (Result<void> r = processes_[program].destroy(); !r.ok()) {
    log("init: tearing down %s left something behind (error %u)", p.name, static_cast<unsigned>(r.error()));
  }
  status.state = failed ? ProgramState::Failed : ProgramState::Exited;
  if (!failed || !p.restart) {
    // The timer server gone for good: the restarts waiting for it happen now.
    if (program == timer_program_) run_due_restarts(true, "no timer server for its back-off", event);
    return;
  }
  // A life long enough was a healthy one: its failure starts a new count.
  const uint64_t lived = sys::rdtsc() - status.started_tsc;
  if (tsc_hz_ != 0 && lived >= (tsc_hz_ / 1000) * (healthy_life_ns_ / 1'000'000)) status.quick_restarts = 0;
  if (status.quick_restarts == kMaxRestarts) {
    log("init: giving up on %s after %u restarts in a row", p.name, status.quick_restarts);
    status.given_up = true;
    if (program == timer_program_) run_due_restarts(true, "no timer server for its back-off", event);
    return;
  }
  ++status.quick_restarts;
  ++status.restarts;
  const uint64_t lived_ms = tsc_hz_ != 0 ? lived / (tsc_hz_ / 1000) : 0;
  uint64_t delay = program == timer_program_ ? 0 : restart_delay_ns(status.quick_restarts);
  const bool no_timer = delay != 0 && !timer_running();
  if (no_timer) delay = 0;
  status.last_delay_ns = delay;
  if (delay == 0) {
    log("init: restarting %s (%u in a row of at most %u; %u in all; it lived %lu ms)%s", p.name,
        status.quick_restarts, kMaxRestarts, status.restarts, lived_ms,
        no_timer ? " at once: no timer server for its back-off" : "");
    event->restarted = spawn(program).ok();
    if (program == timer_program_ && status.state != ProgramState::Running) {
      run_due_restarts(true, "no timer server for its back-off", event);
    }
    return;
  }
  log("init: restarting %s in %lu ms (%u in a row of at most %u; %u in all; it lived %lu ms)", p.name,
      delay / 1'000'000, status.quick_restarts, kMaxRestarts, status.restarts, lived_ms);
  status.restart_pending = true;
  status.restart_due_ns = sys::now_ns() + delay;
  run_due_restarts(false, nullptr, event);  // tells the waker the earliest due
}

Result<void> System::kill(uint32_t program) {
  if (memory_ == nullptr || program >= description_->program_count) return Error::RangeError;
  if (!processes_[program].alive()) {
    if (!status_[program].restart_pending) return Error::IllegalOperation;
    // Waiting out its restart back-off: killing it cancels the restart.
    status_[program].restart_pending = false;
    status_[program].state = ProgramState::Exited;
    log("init: %s's restart cancelled", description_->programs[program].name);
    return {};
  }
  const Result<void> r = processes_[program].destroy();
  status_[program].state = ProgramState::Exited;
  status_[program].exit_status = 0;
  log("init: %s killed", description_->programs[program].name);
  return r;
}

Result<void> System::run(uint32_t program) {
  if (memory_ == nullptr || program >= description_->program_count) return Error::RangeError;
  if (processes_[program].alive()) return Error::Busy;
  status_[program].quick_restarts = 0;
  status_[program].restart_pending = false;  // started now, not after its back-off
  const Result<void> r = spawn(program);
  if (!r.ok()) status_[program].state = ProgramState::Failed;
  return r;
}

void System::supervise() {
  for (;;) {
    auto event = handle_next(true);
    if (!event.ok()) {
      log("init: supervision receive failed (error %u)", static_cast<unsigned>(event.error()));
      sys::suspend_self();
    }
  }
}

Result<void> System::stop() {
  if (memory_ == nullptr) return {};
  Result<void> first_error;
  auto note = [&first_error](Result<void> r) {
    if (!r.ok() && first_error.ok()) first_error = r;
  };
  stop_waker();
  for (uint32_t i = 0; i < kMaxSystemPrograms; ++i) note(processes_[i].destroy());
  for (tessera::sys::CPtr& object : objects_) {
    if (object != 0) note(memory_->free(object));
    object = 0;
  }
  if (supervisor_ != 0) note(memory_->free(supervisor_));
  supervisor_ = 0;
  if (memory_events_ != 0) {
    (void)tessera::abi::Tcb::Client<sys::CallTransport>(memory_->kernel(), memory_events_tcb_).unbind_notification();
    note(memory_->free(memory_events_));
  }
  stop_hardware();
  memory_events_ = 0;
  memory_control_ = 0;
  memory_ = nullptr;
  return first_error;
}

// ---- Hardware ------------------------------------------------------------------------------------

Result<void> System::create_hardware(uint32_t index) {
  const ObjectDeclaration& o = description_->objects[index];
  if (hardware_.boot == nullptr) return Error::NotSupported;
  sys::CallTransport& kernel = memory_->kernel();
  const CapRef root{tessera::kSlotRootCNode};
  switch (o.kind) {
    case ObjectKind::Irq: {
      if (hardware_.irq_control == 0) return Error::NotSupported;
      const sys::CPtr slot = TRY(memory_->slots().alloc());
      const Result<void> r = tessera::abi::IrqControl::Client<sys::CallTransport>(kernel, hardware_.irq_control)
                                 .get_ioapic(root, slot, sys::kSlotDepth, 0, o.line, o.level, o.active_low, 0);
      if (!r.ok()) {
        (void)memory_->slots().free(slot);
        return r.error();
      }
      objects_[index] = slot;
      return {};
    }
    case ObjectKind::IoPorts: {
      if (hardware_.io_port_control == 0) return Error::NotSupported;
      const sys::CPtr slot = TRY(memory_->slots().alloc());
      const Result<void> r = tessera::abi::IoPortControl::Client<sys::CallTransport>(kernel, hardware_.io_port_control)
                                 .issue(o.first, o.last, root, slot, sys::kSlotDepth);
      if (!r.ok()) {
        (void)memory_->slots().free(slot);
        return r.error();
      }
      objects_[index] = slot;
      return {};
    }
    case ObjectKind::Pci: {
      TRY(find_pci(index));
      // The program's capability: init's supervision endpoint badged with this object; its
      // requests arrive in handle_next like faults and exits do.
      const sys::CPtr slot = TRY(memory_->slots().alloc());
      const Result<void> r = tessera::abi::CNode::Client<sys::CallTransport>(kernel, tessera::kSlotRootCNode)
                                 .mint(slot, sys::kSlotDepth, root, supervisor_, sys::kSlotDepth,
                                       tessera::abi::kRightWrite | tessera::abi::kRightGrantReply,
                                       kPciServiceBadge | index);
      if (!r.ok()) {
        (void)memory_->slots().free(slot);
        return r.error();
      }
      objects_[index] = slot;
      return {};
    }
    case ObjectKind::Trace: {
      // A copy of init's TraceControl cap, or of a CPU's ring frame (read-only, as the kernel made it).
      const tessera::BootInfo& boot = *hardware_.boot;
      const sys::CPtr source = o.ring ? boot.trace_rings.start + o.cpu : sys::CPtr{tessera::kSlotTraceControl};
      if (o.ring && source >= boot.trace_rings.end) return Error::NotSupported;
      const sys::CPtr slot = TRY(memory_->slots().alloc());
      const Result<void> r = tessera::abi::CNode::Client<sys::CallTransport>(kernel, tessera::kSlotRootCNode)
                                 .copy(slot, sys::kSlotDepth, root, source, sys::kSlotDepth, tessera::abi::kRightsAll);
      if (!r.ok()) {
        (void)memory_->slots().free(slot);
        return r.error();
      }
      objects_[index] = slot;
      return {};
    }
    default: return Error::InvalidArgument;
  }
}

Result<void> System::find_pci(uint32_t index) {
  const ObjectDeclaration& o = description_->objects[index];
  if (hardware_.io_port_control == 0) return Error::NotSupported;
  sys::CallTransport& kernel = memory_->kernel();
  if (pci_ports_ == 0) {
    const sys::CPtr slot = TRY(memory_->slots().alloc());
    const Result<void> r = tessera::abi::IoPortControl::Client<sys::CallTransport>(kernel, hardware_.io_port_control)
                               .issue(sys::kPciConfigAddressPort, sys::kPciConfigLastPort,
                                      CapRef{tessera::kSlotRootCNode}, slot, sys::kSlotDepth);
    if (!r.ok()) {
      (void)memory_->slots().free(slot);
      return r.error();
    }
    pci_ports_ = slot;
  }
  const sys::PciConfigPorts config(pci_ports_);
  // Bus 0 holds every function of QEMU's pc machine (no bridges); a function behind a bridge is
  // not found yet.
  sys::PciAddress found{};
  bool have = false;
  uint32_t seen = 0;
  for (uint8_t device = 0; device < 32 && !have; ++device) {
    for (uint8_t function = 0; function < 8 && !have; ++function) {
      const sys::PciAddress a{0, device, function};
      const uint32_t id = TRY(config.read(a, sys::kPciVendorId, 4));
      if ((id & 0xFFFF) == 0xFFFF) {
        if (function == 0) break;  // no device here
        continue;
      }
      const bool match = o.by_slot ? (a.bus == o.bus && device == o.slot && function == o.function)
                                   : ((id & 0xFFFF) == o.vendor && (id >> 16) == o.device && seen++ == o.index);
      if (match) {
        found = a;
        have = true;
      }
      if (function == 0 && (TRY(config.read(a, sys::kPciHeaderType, 1)) & 0x80u) == 0) break;  // one function
    }
  }
  if (!have) {
    log("init: pci %s: no such function", o.name);
    return Error::EmptySlot;
  }
  PciRecord& record = pci_[index];
  record = PciRecord{};
  record.info = TRY(config.describe(found));
  for (uint32_t b = 0; b < sys::kPciBars; ++b) {
    const sys::PciBar& bar = record.info.bars[b];
    if (bar.kind != sys::PciBarKind::Memory32 && bar.kind != sys::PciBarKind::Memory64) continue;
    // A BAR is aligned to its size; one smaller than a page comes with the rest of its page.
    uint8_t bits = 12;
    while (bits < 47 && (uint64_t{1} << bits) < bar.size) ++bits;
    const uint64_t base = bar.base & ~((uint64_t{1} << bits) - 1);
    const Result<sys::CPtr> untyped = carve_device(base, bits);
    if (untyped.ok()) {
      record.bar_untyped[b] = untyped.value();
    } else {
      log("init: pci %s: BAR %u at 0x%lx (%lu bytes) is outside the device memory init holds", o.name, b, bar.base,
          bar.size);
    }
  }
  // INTx through the IOAPIC line the firmware routed it to: level-triggered, active high as
  // QEMU's PCI interrupt links are.
  if (record.info.irq_pin != 0 && record.info.irq_line <= kMaxIrqLine && hardware_.irq_control != 0) {
    const sys::CPtr slot = TRY(memory_->slots().alloc());
    const Result<void> r = tessera::abi::IrqControl::Client<sys::CallTransport>(kernel, hardware_.irq_control)
                               .get_ioapic(CapRef{tessera::kSlotRootCNode}, slot, sys::kSlotDepth, 0,
                                           record.info.irq_line, true, false, 0);
    if (r.ok()) {
      record.irq_handler = slot;
    } else {
      (void)memory_->slots().free(slot);
      log("init: pci %s: its interrupt line %u is taken (error %u)", o.name, record.info.irq_line,
          static_cast<unsigned>(r.error()));
    }
  }
  log("init: pci %s is %02x:%02x.%x (%04x:%04x)", o.name, found.bus, found.device, found.function,
      record.info.vendor, record.info.device);
  return {};
}

Result<sys::CPtr> System::carve_device(uint64_t paddr, uint8_t bits) {
  if (piece_count_ == 0 && hardware_.boot != nullptr) {
    const tessera::BootInfo& info = *hardware_.boot;
    for (uint64_t i = 0; i < info.untyped.end - info.untyped.start && i < tessera::kMaxBootUntypeds; ++i) {
      const tessera::UntypedDescriptor& d = info.untyped_list[i];
      if (d.is_device == 0 || piece_count_ == kMaxDevicePieces) continue;
      pieces_[piece_count_++] = DevicePiece{info.untyped.start + i, d.phys, d.size_bits, true, false, false};
    }
  }
  const uint64_t end = paddr + (uint64_t{1} << bits);
  uint32_t at = piece_count_;
  for (uint32_t i = 0; i < piece_count_; ++i) {
    const DevicePiece& p = pieces_[i];
    if (!p.split && !p.taken && p.bits >= bits && p.paddr <= paddr && end <= p.paddr + (uint64_t{1} << p.bits)) at = i;
  }
  if (at == piece_count_) return Error::NotSupported;
  // Halve until the piece is the size asked for: the half without the target stays free.
  while (pieces_[at].bits > bits) {
    if (piece_count_ + 2 > kMaxDevicePieces) return Error::NotEnoughMemory;
    DevicePiece& parent = pieces_[at];
    const uint8_t half = static_cast<uint8_t>(parent.bits - 1);
    DevicePiece halves[2];
    for (uint32_t h = 0; h < 2; ++h) {
      const sys::CPtr slot = TRY(memory_->slots().alloc());
      // Retype places each child at the watermark: the first call makes the lower half.
      const Result<void> r = tessera::abi::Untyped::Client<sys::CallTransport>(memory_->kernel(), parent.cap)
                                 .retype(tessera::abi::ObjectType::Untyped, half, CapRef{tessera::kSlotRootCNode}, 0,
                                         0, slot, 1);
      if (!r.ok()) {
        (void)memory_->slots().free(slot);
        return r.error();
      }
      halves[h] = DevicePiece{slot, parent.paddr + h * (uint64_t{1} << half), half, false, false, false};
    }
    parent.split = true;
    pieces_[piece_count_++] = halves[0];
    pieces_[piece_count_++] = halves[1];
    at = paddr >= halves[1].paddr ? piece_count_ - 1 : piece_count_ - 2;
  }
  pieces_[at].taken = true;
  return pieces_[at].cap;
}

void System::serve_pci(uint32_t index, const sys::Received& request) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  const PciRecord& record = pci_[index];
  const sys::PciConfigPorts config(pci_ports_);
  Error status = Error::Ok;
  uint32_t words = 0;
  sys::CPtr cap = 0;
  const uint64_t op = buffer->msg[0], a = buffer->msg[1], b = buffer->msg[2], c = buffer->msg[3];
  if (request.info.label != sys::kPciRequestLabel || request.info.length_words < 4) {
    status = Error::MalformedMessage;
  } else {
    switch (static_cast<sys::PciOp>(op)) {
      case sys::PciOp::Info:
        sys::pci_info_to_words(record.info, buffer->msg);
        words = sys::kPciInfoWords;
        break;
      case sys::PciOp::Read: {
        if (a > 0xFFFF || b > 4) {
          status = a > 0xFFFF ? Error::RangeError : Error::InvalidArgument;
          break;
        }
        const Result<uint32_t> value = config.read(record.info.address, static_cast<uint16_t>(a), static_cast<uint8_t>(b));
        if (value.ok()) {
          buffer->msg[0] = value.value();
          words = 1;
        } else {
          status = value.error();
        }
        break;
      }
      case sys::PciOp::Write: {
        if (a > 0xFFFF || b > 4 || c > 0xFFFFFFFFu) {
          status = a > 0xFFFF ? Error::RangeError : Error::InvalidArgument;
          break;
        }
        const auto offset = static_cast<uint16_t>(a);
        const auto width = static_cast<uint8_t>(b);
        // A malformed access gets the same error a read would; a well-formed one outside what a
        // driver may write is refused.
        if (!sys::pci_write_allowed(offset, width)) {
          status = width != 1 && width != 2 && width != 4 ? Error::InvalidArgument
                   : offset >= sys::kPciConfigBytes       ? Error::RangeError
                   : (offset & (width - 1)) != 0          ? Error::AlignmentError
                                                          : Error::IllegalOperation;
          break;
        }
        const Result<void> r = config.write(record.info.address, offset, width, static_cast<uint32_t>(c));
        if (!r.ok()) status = r.error();
        break;
      }
      case sys::PciOp::Bar:
        if (a >= sys::kPciBars) {
          status = Error::RangeError;
        } else if (record.info.bars[a].kind != sys::PciBarKind::Memory32 &&
                   record.info.bars[a].kind != sys::PciBarKind::Memory64) {
          status = Error::InvalidArgument;
        } else if (record.bar_untyped[a] == 0) {
          status = Error::NotSupported;
        } else {
          cap = record.bar_untyped[a];
        }
        break;
      case sys::PciOp::Irq:
        if (record.irq_handler == 0) {
          status = Error::EmptySlot;
        } else {
          cap = record.irq_handler;
        }
        break;
      default: status = Error::InvalidArgument;
    }
  }
  if (cap != 0) buffer->caps_or_badges[0] = cap;
  // An untyped is lent to one holder at a time (a copy of an untyped with children is refused):
  // the reply then carries no capability, which the caller sees as MissingCapability.
  (void)sys::reply(sys::MessageInfo{static_cast<uint64_t>(status), status == Error::Ok ? words : 0,
                                    cap != 0 ? 1u : 0u, 0});
}

void System::stop_hardware() {
  if (memory_ == nullptr) return;
  tessera::abi::CNode::Client<sys::CallTransport> root(memory_->kernel(), tessera::kSlotRootCNode);
  for (PciRecord& record : pci_) {
    if (record.irq_handler != 0) (void)memory_->free(record.irq_handler);
    record = PciRecord{};
  }
  // Revoking the boot untyped a piece came from deletes every piece and every frame made from it.
  for (uint32_t i = 0; i < piece_count_; ++i) {
    if (pieces_[i].boot && pieces_[i].split) (void)root.revoke(pieces_[i].cap, sys::kSlotDepth);
  }
  for (uint32_t i = 0; i < piece_count_; ++i) {
    if (!pieces_[i].boot) (void)memory_->slots().free(pieces_[i].cap);
  }
  piece_count_ = 0;
  if (pci_ports_ != 0) (void)memory_->free(pci_ports_);
  pci_ports_ = 0;
}

Result<void> carve_reserve(const tessera::BootInfo& info, sys::CallTransport& kernel, sys::SlotAllocator& slots,
                           tessera::BootInfo* reserve) {
  // The reserve is a child untyped of the largest RAM untyped: the memory server later retypes
  // that untyped's remainder, past the reserve.
  const uint64_t count = info.untyped.end - info.untyped.start;
  uint64_t largest = count;
  for (uint64_t i = 0; i < count && i < tessera::kMaxBootUntypeds; ++i) {
    const tessera::UntypedDescriptor& d = info.untyped_list[i];
    if (d.is_device == 0 && (largest == count || d.size_bits > info.untyped_list[largest].size_bits)) largest = i;
  }
  if (largest == count || info.untyped_list[largest].size_bits <= kInitReserveBits) return Error::NotEnoughMemory;
  // Two halves, so the memory server's CNode (exactly one half, aligned to its size) never pushes
  // the small objects made before it out of the reserve: retype is first fit over the list, and an
  // untyped's free space is only what lies past its last object.
  const sys::CPtr first = TRY(slots.alloc());
  const sys::CPtr second = TRY(slots.alloc());
  if (second != first + 1) return Error::NotEnoughMemory;  // fresh allocator: always consecutive
  TRY(tessera::abi::Untyped::Client<sys::CallTransport>(kernel, info.untyped.start + largest)
          .retype(tessera::abi::ObjectType::Untyped, kInitReserveBits - 1,
                  tessera::capnp::CapRef{tessera::kSlotRootCNode}, 0, 0, first, 2));
  *reserve = info;
  reserve->untyped = tessera::SlotRegion{first, first + 2};
  reserve->untyped_list[0] = TRY(sys::describe_untyped(kernel, first));
  reserve->untyped_list[1] = TRY(sys::describe_untyped(kernel, second));
  reserve->free_memory_bytes = uint64_t{1} << kInitReserveBits;
  return {};
}

uint32_t memory_server_untypeds(const tessera::BootInfo& info, sys::CPtr* out) {
  // Every RAM untyped of at least 2 MiB (smaller ones stay unused), largest first.
  uint32_t n = 0;
  for (uint8_t bits = 63; bits >= 21 && n < sys::kMaxBootInfoStartUntypeds; --bits) {
    for (uint64_t i = 0; i < info.untyped.end - info.untyped.start && i < tessera::kMaxBootUntypeds; ++i) {
      const tessera::UntypedDescriptor& d = info.untyped_list[i];
      if (d.is_device == 0 && d.size_bits == bits && n < sys::kMaxBootInfoStartUntypeds) out[n++] = info.untyped.start + i;
    }
  }
  return n;
}

}  // namespace init
