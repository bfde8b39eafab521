// init's control protocol (abi/init.capnp): the programs of the description, their threads and
// memory, and run/kill/restart by name, for a shell. Served from handle_next on the supervision
// endpoint (a `control:NAME` grant is a copy badged kControlBadge | the holder's number), one
// request at a time like the PCI service; the request is copied out of the IPC buffer first, since
// answering it calls the kernel and the memory server.
#include <tessera/abi/init.capnp.h>
#include <tessera/abi/kernel.capnp.h>
#include <tessera/abi/memory.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/ipc.h>

#include "system.h"

namespace init {
namespace {
namespace sys = tessera::sys;
namespace ctl = tessera::initctl;
using tessera::Error;
using tessera::Result;
using Init = ctl::Init;

class ControlServer : public Init::Server<ControlServer> {
 public:
  ControlServer(System& system, uint32_t caller) : system_(system), caller_(caller) {}

  Result<void> program_count(Init::ProgramCountParams::Reader, Init::ProgramCountResults::Builder results) {
    results.set_count(count());
    return {};
  }

  Result<void> program(Init::ProgramParams::Reader params, Init::ProgramResults::Builder results) {
    const uint32_t index = params.index();
    if (index >= count()) return Error::RangeError;
    const ProgramDeclaration& p = system_.description()->programs[index];
    const ProgramStatus& s = system_.status(index);
    const sys::Process& process = system_.process(index);
    results.set_name(tessera::capnp::Text(p.name, static_cast<uint32_t>(strlen(p.name))));
    results.set_state(state_of(s, process.alive()));
    results.set_pid(s.pid);
    results.set_starts(s.starts);
    results.set_restarts(s.restarts);
    results.set_faults(s.faults);
    results.set_exit_status(s.exit_status);
    results.set_restart_policy(p.restart);
    results.set_priority(p.priority);
    results.set_threads(process.alive() ? 1 + made_threads(process) : 0);
    if (process.alive()) {
      const uint64_t hz = system_.tsc_hz();
      results.set_up_ms(hz >= 1000 ? (sys::rdtsc() - s.started_tsc) / (hz / 1000) : 0);
      results.set_mem_quota(p.memory_bytes);
      if (process.has_session()) {
        tessera::memory::Session::Client<sys::CallTransport> session(system_.kernel(), process.session());
        const auto status = session.status();
        if (status.ok()) {
          results.set_mem_quota(status->quota());
          results.set_mem_used(status->used());
        }
      }
    }
    return {};
  }

  Result<void> thread(Init::ThreadParams::Reader params, Init::ThreadResults::Builder results) {
    const uint32_t index = params.program();
    if (index >= count()) return Error::RangeError;
    const sys::Process& process = system_.process(index);
    if (!process.alive()) return Error::IllegalOperation;
    // Thread 0: the one init made; the others the program made itself through its memory session
    // (Session.createObject), which the memory server lends init a copy of.
    sys::CPtr borrowed = 0;
    if (params.index() != 0) {
      if (!process.has_session() || system_.memory_control() == 0) return Error::RangeError;
      borrowed = TRY(borrow_thread(process.session_id(), params.index() - 1));
    }
    tessera::abi::Tcb::Client<sys::CallTransport> tcb(system_.kernel(), borrowed != 0 ? borrowed : process.tcb());
    const auto stats = tcb.get_stats();
    // The reply is in the IPC buffer: copy it into ours before the next kernel call (freeing the copy).
    const Error e = stats.ok() ? Error::Ok : stats.error();
    if (stats.ok()) {
      results.set_cpu_time_ns(stats->cpu_time_ns());
      results.set_times_scheduled(stats->times_scheduled());
      results.set_priority(stats->priority());
      const uint8_t state = stats->state();
      results.set_state(state <= 3 ? static_cast<ctl::ThreadState>(state) : ctl::ThreadState::Inactive);
      results.set_wakeups(stats->wakeups());
      results.set_messages_sent(stats->messages_sent());
      results.set_messages_received(stats->messages_received());
      results.set_syscalls(stats->syscalls());
      results.set_faults(stats->faults());
    }
    if (borrowed != 0) (void)system_.memory().free(borrowed);
    if (e != Error::Ok) return e;
    return {};
  }

  Result<void> find(Init::FindParams::Reader params, Init::FindResults::Builder results) {
    results.set_index(TRY(lookup(TRY(params.name()))));
    return {};
  }

  Result<void> run(Init::RunParams::Reader params, Init::RunResults::Builder results) {
    const uint32_t index = TRY(lookup(TRY(params.name())));
    TRY(system_.run(index));
    results.set_index(index);
    results.set_pid(system_.status(index).pid);
    return {};
  }

  Result<void> kill(Init::KillParams::Reader params, Init::KillResults::Builder) {
    const uint32_t index = TRY(lookup(TRY(params.name())));
    if (index == caller_) return Error::IllegalOperation;  // its reply would go nowhere
    return system_.kill(index);
  }

  Result<void> restart(Init::RestartParams::Reader params, Init::RestartResults::Builder results) {
    const uint32_t index = TRY(lookup(TRY(params.name())));
    if (index == caller_) return Error::IllegalOperation;
    if (system_.process(index).alive()) (void)system_.kill(index);
    TRY(system_.run(index));
    results.set_pid(system_.status(index).pid);
    return {};
  }

  Result<void> memory(Init::MemoryParams::Reader, Init::MemoryResults::Builder results) {
    if (system_.memory_control() == 0) return Error::NotSupported;
    tessera::memory::Control::Client<sys::CallTransport> control(system_.kernel(), system_.memory_control());
    const auto status = control.status();
    if (!status.ok()) return status.error();
    const uint64_t total = status->total_bytes(), free = status->free_bytes(), promised = status->promised_bytes();
    results.set_total_bytes(total);
    results.set_free_bytes(free);
    results.set_promised_bytes(promised);
    return {};
  }

 private:
  uint32_t count() const { return system_.description()->program_count; }

  uint32_t made_threads(const sys::Process& process) {
    if (!process.has_session() || system_.memory_control() == 0) return 0;
    tessera::memory::Control::Client<sys::CallTransport> control(system_.kernel(), system_.memory_control());
    const auto r = control.thread_count(process.session_id());
    return r.ok() ? r->count() : 0;
  }

  // A copy of the TCB of thread `index` the program made, from the memory server (free it after).
  Result<sys::CPtr> borrow_thread(uint32_t session, uint32_t index) {
    const sys::CPtr slot = TRY(system_.memory().slots().alloc());
    sys::ReceivingCallTransport transport(sys::ipc_buffer(), tessera::kSlotRootCNode, slot);
    tessera::memory::Control::Client<sys::ReceivingCallTransport> control(transport, system_.memory_control());
    const auto r = control.thread(session, index);
    const Error e = !r.ok() ? r.error() : transport.received() ? Error::Ok : Error::MissingCapability;
    if (e != Error::Ok) {
      (void)system_.memory().slots().free(slot);
      return e == Error::EmptySlot ? Error::IllegalOperation : e;
    }
    return slot;
  }

  Result<uint32_t> lookup(tessera::capnp::Text name) const {
    if (name.size == 0 || name.size > ctl::kMaxNameBytes) return Error::EmptySlot;
    for (uint32_t i = 0; i < count(); ++i) {
      const char* candidate = system_.description()->programs[i].name;
      if (strlen(candidate) == name.size && memcmp(candidate, name.data, name.size) == 0) return i;
    }
    return Error::EmptySlot;
  }

  static ctl::ProgramState state_of(const ProgramStatus& s, bool alive) {
    if (alive) return ctl::ProgramState::Running;
    if (s.given_up) return ctl::ProgramState::GivenUp;
    if (s.restart_pending) return ctl::ProgramState::Restarting;
    switch (s.state) {
      case ProgramState::NotStarted: return ctl::ProgramState::NotStarted;
      case ProgramState::Running: return ctl::ProgramState::Running;
      case ProgramState::Exited: return ctl::ProgramState::Exited;
      case ProgramState::Failed: return ctl::ProgramState::Failed;
    }
    return ctl::ProgramState::Failed;
  }

  System& system_;
  uint32_t caller_;
};

// The request's words (copied out of the IPC buffer) and the reply under construction.
tessera::capnp::Word request_words[tessera::capnp::kMaxMessageWords];
tessera::capnp::Word reply_words[tessera::capnp::kMaxMessageWords];
uint64_t reply_caps[tessera::capnp::kMaxExtraCaps];
}  // namespace

void serve_control(System& system, uint32_t caller, const sys::Received& received) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  uint32_t length = received.info.length_words;
  if (length > tessera::capnp::kMaxMessageWords) length = tessera::capnp::kMaxMessageWords;
  if (length > tessera::kMessageWords) length = tessera::kMessageWords;
  for (uint32_t i = 0; i < length; ++i) request_words[i] = tessera::capnp::Word{buffer->msg[i]};
  const tessera::capnp::Request request{received.info.label, request_words, length, received.info.extra_caps};
  ControlServer server(system, caller);
  const tessera::capnp::Reply reply = server.dispatch(
      request, tessera::capnp::ReplyBuffer{reply_words, tessera::capnp::kMaxMessageWords, reply_caps, 0});
  const bool ok = reply.error == Error::Ok;
  const uint32_t words = ok ? reply.length_words : 0;
  buffer = sys::ipc_buffer();
  for (uint32_t i = 0; i < words && i < tessera::kMessageWords; ++i) buffer->msg[i] = reply_words[i];
  (void)sys::reply(sys::MessageInfo{static_cast<uint64_t>(reply.error), words, 0, 0});
}

}  // namespace init
