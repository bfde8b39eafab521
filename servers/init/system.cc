#include "system.h"

#include <stdarg.h>

#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/syscall.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>

// Written by servers/init/embed_files.py (the generated embedded_files.S).
extern "C" const init::EmbeddedFile tessera_embedded_files[];
extern "C" const uint64_t tessera_embedded_file_count;

namespace init {
namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Result;

const char* fault_name(uint64_t kind) {
  switch (static_cast<tessera::FaultKind>(kind)) {
    case tessera::FaultKind::PageFault: return "page fault";
    case tessera::FaultKind::Exception: return "exception";
    case tessera::FaultKind::UnknownSyscall: return "unknown system call";
  }
  return nullptr;
}

void print_line(void*, const char* line) { sys::print("%s\n", line); }
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

Result<void> System::start(sys::UntypedAllocator& memory, const SystemDescription& description) {
  if (memory_ != nullptr) return Error::Busy;
  memory_ = &memory;
  description_ = &description;
  auto supervisor = memory.allocate(tessera::abi::ObjectType::Endpoint);
  if (!supervisor.ok()) {
    memory_ = nullptr;
    return supervisor.error();
  }
  supervisor_ = *supervisor;
  for (uint32_t i = 0; i < description.object_count; ++i) {
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
  }
  sys::ProcessOptions options;
  options.name = p.name;
  options.argument = p.argument;
  options.priority = p.priority;
  options.mcp = p.mcp;
  options.budget_us = p.budget_us;
  options.period_us = p.period_us;
  options.heap_bytes = p.heap_bytes;
  options.fault_endpoint = supervisor_;
  options.fault_badge = program + 1;
  options.grants = grants;
  options.grant_count = p.grant_count;
  auto process = sys::Process::spawn(*memory_, image->data, image->size, options);
  if (!process.ok()) {
    log("init: cannot start %s: error %u", p.name, static_cast<unsigned>(process.error()));
    return process.error();
  }
  processes_[program] = process.take();
  status_[program].state = ProgramState::Running;
  ++status_[program].starts;
  log("init: started %s (priority %u, %u pages)", p.name, p.priority, processes_[program].page_count());
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
  if (received.badge == 0 || received.badge > description_->program_count) {
    log("init: supervision message with unknown badge %lu ignored", received.badge);
    event.kind = SupervisionEvent::Kind::Unknown;
    return event;
  }
  event.program = static_cast<uint32_t>(received.badge - 1);
  const char* name = description_->programs[event.program].name;
  ProgramStatus& status = status_[event.program];
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

void System::handle_end(uint32_t program, bool failed, SupervisionEvent* event) {
  const ProgramDeclaration& p = description_->programs[program];
  ProgramStatus& status = status_[program];
  if (Result<void> r = processes_[program].destroy(); !r.ok()) {
    log("init: tearing down %s left something behind (error %u)", p.name, static_cast<unsigned>(r.error()));
  }
  status.state = failed ? ProgramState::Failed : ProgramState::Exited;
  if (!failed || !p.restart) return;
  if (status.restarts == kMaxRestarts) {
    log("init: giving up on %s after %u restarts", p.name, status.restarts);
    return;
  }
  ++status.restarts;
  log("init: restarting %s (%u of %u)", p.name, status.restarts, kMaxRestarts);
  event->restarted = spawn(program).ok();
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
  for (uint32_t i = 0; i < kMaxSystemPrograms; ++i) note(processes_[i].destroy());
  for (tessera::sys::CPtr& object : objects_) {
    if (object != 0) note(memory_->free(object));
    object = 0;
  }
  if (supervisor_ != 0) note(memory_->free(supervisor_));
  supervisor_ = 0;
  memory_ = nullptr;
  return first_error;
}

int run_system(const tessera::BootInfo& info) {
  const EmbeddedFile* conf = find_embedded_file("system.conf");
  if (conf == nullptr) {
    sys::print("init: no system.conf embedded; nothing to start\n");
    return 1;
  }
  static SystemDescription description;
  ParseError error;
  if (Result<void> r = parse_system_description(reinterpret_cast<const char*>(conf->data), conf->size, &description,
                                                &error);
      !r.ok()) {
    if (error.subject[0] != '\0') {
      sys::print("init: boot/system.conf:%u: %s: %s\n", error.line, error.subject, error.reason);
    } else {
      sys::print("init: boot/system.conf:%u: %s\n", error.line, error.reason);
    }
    return 1;
  }
  // The root task's free slots (the runtime keeps the tail of BootInfo.empty) and its untypeds.
  static sys::SlotAllocator slots(sys::root_free_slots(info));
  static sys::CallTransport kernel(sys::ipc_buffer());
  static sys::UntypedAllocator memory(info, kernel, slots);
  static System system;
  if (Result<void> r = system.start(memory, description); !r.ok()) {
    sys::print("init: the system did not start (error %u)\n", static_cast<unsigned>(r.error()));
    return 1;
  }
  system.supervise();
}

}  // namespace init
