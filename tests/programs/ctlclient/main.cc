// ctlclient: the client side of the INITCTL tests (tests/devices/initctl_tests.cc): a program that
// ctltest (playing init with init's system library) starts next to kv, granted `control:ctl`. It
// checks init's control protocol (abi/init.capnp) and exits with 0, or with the number of the
// first check that failed (and a line saying which).
//
// Modes (its argument): protocol (the methods, unknown names and indices), hostile (500 random
// and malformed messages, then the protocol still answers).
#include <stdint.h>

#include <tessera/abi/init.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>

namespace {
namespace sys = tessera::sys;
namespace ctl = tessera::initctl;
using tessera::Error;
using Init = ctl::Init;

int failed = 0;
bool check(int number, bool ok, const char* what) {
  if (!ok && failed == 0) {
    failed = number;
    sys::print("ctlclient: check %d failed: %s\n", number, what);
  }
  return ok;
}

sys::CPtr control = 0;

struct Client {
  sys::CallTransport transport{sys::ipc_buffer()};
  Init::Client<sys::CallTransport> init{transport, control};
};

bool name_is(uint32_t index, const char* expected) {
  Client c;
  const auto r = c.init.program(index);
  if (!r.ok()) return false;
  const auto name = r->name();
  return name.ok() && name->size == strlen(expected) && memcmp(name->data, expected, name->size) == 0;
}

ctl::ProgramState state_of(uint32_t index) {
  Client c;
  const auto r = c.init.program(index);
  return r.ok() ? r->state() : ctl::ProgramState::NotStarted;
}

void protocol() {
  Client c;
  const auto count = c.init.program_count();
  check(1, count.ok() && count->count() == 2, "programCount is 2 (kv, c1)");
  check(2, name_is(0, "kv") && name_is(1, "c1"), "program names in description order");
  {
    const auto kv = c.init.program(0);
    check(3, kv.ok() && kv->state() == ctl::ProgramState::Running && kv->pid() != 0 && kv->threads() == 1 &&
                 kv->priority() == 100 && kv->mem_quota() == (uint64_t{4} << 20) && kv->mem_used() > 0,
          "kv: running, pid, one thread, priority 100, 4 MiB quota, memory used");
  }
  {
    const auto t = c.init.thread(0, 0);
    // kv waits for requests on its endpoint: blocked (the kernel's state, through init).
    check(4, t.ok() && t->times_scheduled() > 0 && t->priority() == 100 && t->state() == ctl::ThreadState::Blocked,
          "kv's thread 0: scheduled, priority 100, blocked");
  }
  check(5, c.init.program(2).error() == Error::RangeError, "program 2: RangeError");
  check(6, c.init.program(0xFFFFFFFFu).error() == Error::RangeError, "program 2^32-1: RangeError");
  check(7, c.init.thread(0, 1).error() == Error::RangeError, "thread 1 of kv: RangeError");
  check(8, c.init.thread(7, 0).error() == Error::RangeError, "thread of program 7: RangeError");
  check(9, c.init.find("nope").error() == Error::EmptySlot, "find nope: EmptySlot");
  check(10, c.init.find("").error() == Error::EmptySlot, "find of an empty name: EmptySlot");
  check(11, c.init.kill("kvx").error() == Error::EmptySlot, "kill kvx: EmptySlot");
  check(12, c.init.run("k").error() == Error::EmptySlot, "run k: EmptySlot");
  check(13, c.init.restart("0123456789012345678901234567890123456789").error() == Error::EmptySlot,
        "restart of a 40-byte name: EmptySlot");
  {
    const auto f = c.init.find("kv");
    check(14, f.ok() && f->index() == 0, "find kv: 0");
  }
  check(15, c.init.run("kv").error() == Error::Busy, "run kv while it runs: Busy");
  check(16, c.init.kill("c1").error() == Error::IllegalOperation, "kill itself: IllegalOperation");
  check(17, c.init.restart("c1").error() == Error::IllegalOperation, "restart itself: IllegalOperation");
  uint32_t first_pid = 0;
  {
    const auto kv = c.init.program(0);
    first_pid = kv.ok() ? kv->pid() : 0;
  }
  check(18, c.init.kill("kv").ok(), "kill kv");
  check(19, state_of(0) == ctl::ProgramState::Exited, "kv exited after kill");
  check(20, c.init.kill("kv").error() == Error::IllegalOperation, "kill kv again: IllegalOperation");
  check(21, c.init.thread(0, 0).error() == Error::IllegalOperation, "threads of a stopped program: IllegalOperation");
  {
    const auto r = c.init.run("kv");
    check(22, r.ok() && r->index() == 0 && r->pid() > first_pid, "run kv: a new pid");
  }
  check(23, state_of(0) == ctl::ProgramState::Running, "kv running again");
  uint32_t second_pid = 0;
  {
    const auto r = c.init.restart("kv");
    check(24, r.ok() && r->pid() > first_pid + 1, "restart kv: a newer pid");
    second_pid = r.ok() ? r->pid() : 0;
  }
  {
    const auto kv = c.init.program(0);
    check(25, kv.ok() && kv->state() == ctl::ProgramState::Running && kv->pid() == second_pid && kv->starts() == 3,
          "kv running, started three times");
  }
  {
    const auto m = c.init.memory();
    check(26, m.ok() && m->total_bytes() > 0 && m->free_bytes() <= m->total_bytes() && m->promised_bytes() >= (8u << 20),
          "memory: the memory server's totals (two 4 MiB quotas promised at least)");
  }
}

// xorshift64*
uint64_t state = 0x9E3779B97F4A7C15ull;
uint64_t next() {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

void hostile() {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  uint32_t errors = 0, answered = 0;
  for (uint32_t i = 0; i < 600; ++i) {
    const uint64_t r = next();
    uint64_t label = 0;
    switch (r % 4) {
      case 0: label = next(); break;                                                        // anything
      case 1: label = tessera::capnp::make_label(Init::kInterfaceCode, static_cast<uint16_t>(next() % 12)); break;
      case 2: label = tessera::capnp::make_label(static_cast<uint32_t>(next()), 1); break;  // another interface
      default: label = tessera::capnp::make_label(Init::kInterfaceCode, static_cast<uint16_t>(next())); break;
    }
    // Never kill/run/restart with a valid message by chance: those methods get garbage only.
    const uint32_t words = static_cast<uint32_t>(next() % (tessera::kMessageWords + 1));
    for (uint32_t w = 0; w < words; ++w) {
      const uint64_t kind = next() % 4;
      buffer->msg[w] = kind == 0 ? 0 : kind == 1 ? next() : kind == 2 ? (next() & 0xFFFFFFFFull) : ~uint64_t{0};
    }
    label &= (uint64_t{1} << 52) - 1;  // what a message label holds
    sys::Received reply{};
    const Error e = sys::call(control, sys::MessageInfo{label, words, 0, 0}, &reply);
    if (!check(40, e == Error::Ok, "every hostile call is answered")) {
      sys::print("ctlclient: message %u: call error %s\n", i, tessera::error_name(e));
      break;
    }
    ++answered;
    if (reply.info.label != 0) ++errors;
    check(41, reply.info.label <= static_cast<uint64_t>(Error::ReadOnly), "the reply label is an Error");
  }
  sys::print("ctlclient: %u hostile messages answered, %u with an error\n", answered, errors);
  check(42, errors >= answered / 2, "most hostile messages are refused");
  Client c;
  const auto count = c.init.program_count();
  check(43, count.ok() && count->count() == 2, "programCount still answers");
  check(44, state_of(0) == ctl::ProgramState::Running, "kv still running");
  check(45, name_is(0, "kv"), "program 0 still kv");
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 99;
  const auto grant = sys::find_grant(*block, "control:ctl");
  if (!check(80, grant.ok(), "control:ctl granted")) sys::exit_process(failed);
  control = grant.value();
  const char* mode = block->argument;
  if (strcmp(mode, "hostile") == 0) {
    hostile();
  } else {
    protocol();
  }
  sys::exit_process(failed);
}
