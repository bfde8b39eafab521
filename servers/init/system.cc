#include "system.h"

#include <stdarg.h>

#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/syscall.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/abi/memory.capnp.h>

#include "launch.h"

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
  sys::ProcessMemory pager{memory_control_, p.memory_bytes, 1};
  if (memory_control_ != 0) options.memory = &pager;
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
  if (memory_events_ != 0 && (received.badge & kMemoryEventBadge) != 0) {
    handle_memory_faults(&event);
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

Result<void> System::watch_memory_faults(sys::CPtr init_tcb) {
  const sys::CPtr events = TRY(memory_->allocate(tessera::abi::ObjectType::Notification));
  memory_events_ = events;
  tessera::abi::Tcb::Client<sys::CallTransport> tcb(memory_->kernel(), init_tcb);
  TRY(tcb.bind_notification(tessera::capnp::CapRef{events}));
  memory_events_tcb_ = init_tcb;
  // The server signals a badged copy (write only): the word says "memory", apart from every
  // program's badge on the supervision endpoint.
  const sys::CPtr copy = TRY(memory_->slots().alloc());
  tessera::abi::CNode::Client<sys::CallTransport> cnode(memory_->kernel(), tessera::kSlotRootCNode);
  Result<void> r = cnode.mint(copy, sys::kSlotDepth, tessera::capnp::CapRef{tessera::kSlotRootCNode}, events,
                              sys::kSlotDepth, tessera::abi::kRightWrite, kMemoryEventBadge);
  if (r.ok()) {
    tessera::memory::Control::Client<sys::CallTransport> control(memory_->kernel(), memory_control_);
    r = control.events(tessera::capnp::CapRef{copy});
  }
  (void)memory_->free(copy);  // the server has its own copy now
  return r;
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
  if (memory_events_ != 0) {
    (void)tessera::abi::Tcb::Client<sys::CallTransport>(memory_->kernel(), memory_events_tcb_).unbind_notification();
    note(memory_->free(memory_events_));
  }
  memory_events_ = 0;
  memory_control_ = 0;
  memory_ = nullptr;
  return first_error;
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
  // The root task's free slots (the runtime keeps the tail of BootInfo.empty).
  static sys::SlotAllocator slots(sys::root_free_slots(info));
  static sys::CallTransport kernel(sys::ipc_buffer());
  // init keeps a reserve for the kernel objects it makes (the memory server's CNode and image,
  // every program's TCB, CNode, PML4 and notifications) and hands the rest to the memory server.
  static tessera::BootInfo reserve_info;
  auto reserve = carve_reserve(info, kernel, slots, &reserve_info);
  if (!reserve.ok()) {
    sys::print("init: cannot set aside init's reserve of memory (error %u)\n", static_cast<unsigned>(reserve.error()));
    return 1;
  }
  static sys::UntypedAllocator memory(reserve_info, kernel, slots);
  static memory::MemoryServer memory_server;
  const EmbeddedFile* image = find_embedded_file("memory");
  if (image == nullptr) {
    sys::print("init: no memory server is embedded\n");
    return 1;
  }
  sys::CPtr handed[sys::kMaxBootInfoStartUntypeds];
  const uint32_t handed_count = memory_server_untypeds(info, handed);
  memory::LaunchOptions launch;
  launch.untyped = handed;
  launch.untyped_count = handed_count;
  if (Result<void> r = memory::launch_memory_server(memory, image->data, image->size, launch, &memory_server); !r.ok()) {
    sys::print("init: the memory server did not start (error %u)\n", static_cast<unsigned>(r.error()));
    return 1;
  }
  static System system;
  if (Result<void> r = system.start(memory, description, memory_server.control); !r.ok()) {
    sys::print("init: the system did not start (error %u)\n", static_cast<unsigned>(r.error()));
    return 1;
  }
  system.supervise();
}

}  // namespace init
