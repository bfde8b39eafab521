// Scaffolding of the MEMORY tests (tests/memory/): the memory server the runner started for the
// test (its Control capability in kBootInfoServiceSlot), sessions on PML4s the test makes (no
// thread runs in them: the test calls their Session methods itself), and proctest children whose
// every page comes from a session (ProcessOptions::memory), supervised by the test: their exits
// arrive on the test's supervision endpoint, the server's fault reports through a notification
// bound to the test's thread (Control.events, Control.takeFault).
#pragma once

#include <stdint.h>

#include <tessera/abi/memory.capnp.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>

#include "cap_test_env.h"

namespace memtest {

using namespace captest;
namespace sys = tessera::sys;
namespace proto = tessera::memory;
using ControlClient = proto::Control::Client<CallTransport>;
using SessionClient = proto::Session::Client<CallTransport>;

constexpr uint8_t kR = proto::kRightRead;
constexpr uint8_t kRW = proto::kRightRead | proto::kRightWrite;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiB = uint64_t{1} << 20;
// Where the test maps frames of regions to look at their bytes.
constexpr uint64_t kPeekAddress = 0x0000300000000000ull;

struct ServerStatus {
  uint64_t total = 0, free = 0, promised = 0, frames = 0;
  uint32_t sessions = 0, regions = 0;
  bool operator==(const ServerStatus& o) const {
    return total == o.total && free == o.free && promised == o.promised && frames == o.frames &&
           sessions == o.sessions && regions == o.regions;
  }
};

// A session whose address space is a PML4 the test made (nothing runs in it).
struct Dummy {
  CPtr pml4 = 0;
  sys::OpenedSession opened;
  sys::MemorySession session;
};

// A fault the server reported (Control.takeFault).
struct Report {
  uint32_t session = 0;
  uint64_t kind = 0, ip = 0, address = 0, detail = 0;
};

struct Child {
  sys::Process process;
  uint32_t session = 0;  // its session's id
  bool ended = false;
  bool exited = false;   // ended with exit_process (status below), not by a reported fault
  int64_t status = -1;
  bool faulted = false;
  Report fault;
  uint64_t used_at_fault = 0, limit_at_fault = 0;  // its session's used and quota + granted then
};

class MemEnv {
 public:
  static constexpr uint32_t kMaxChildren = 4;
  static constexpr uint32_t kMaxReports = 8;

  explicit MemEnv(Context& t);
  // Destroys the children still alive, unbinds the notification, deletes what it made.
  ~MemEnv();
  MemEnv(const MemEnv&) = delete;
  MemEnv& operator=(const MemEnv&) = delete;

  bool ready() const { return ready_; }
  ControlClient control() { return ControlClient(env.kernel, sys::kBootInfoServiceSlot); }
  ServerStatus server_status();

  // A session on a new PML4 (checked); close_dummy closes it and deletes the PML4.
  bool open_dummy(Dummy* d, const char* name, uint64_t quota, uint64_t weight = 1);
  void close_dummy(Dummy* d);

  // Starts proctest with `argument` on a session of `quota` bytes; the child's index or -1.
  int spawn(const char* name, const char* argument, uint64_t quota, const sys::Grant* grants = nullptr,
            uint32_t grant_count = 0);
  // Supervises until every child in `mask` (bit i: child i) has ended (exit or reported fault);
  // a reported fault ends its program (the supervisor's part). False after a failed check when
  // they did not end while anything could still run.
  bool wait(uint32_t mask);
  // Supervises until a message arrives on `endpoint` (a capability into `cap_slot` when not 0);
  // its first words are in received_words (the IPC buffer is reused by later calls).
  bool receive(CPtr endpoint, sys::Received* in, CPtr cap_slot = 0);
  // Forgets every child (all must have ended), so more can be started.
  void forget_children() {
    for (uint32_t i = 0; i < child_count_; ++i) end(i);
    child_count_ = 0;
  }
  // Destroys child i (its session is closed).
  void end(uint32_t i);
  Child& child(uint32_t i) { return children_[i]; }
  // The session of child i, as the test sees it (status, describe of its regions).
  sys::MemorySession child_session(uint32_t i) {
    return sys::MemorySession(children_[i].process.session(), env.slots, tessera::kSlotRootCNode);
  }

  // Faults reported and not matched to a child.
  uint32_t stray_reports() const { return stray_; }

  // Maps a copy of page `page` of `region` (through `session`) at kPeekAddress + offset in the
  // test's space; the copy's slot (delete it to unmap), 0 after a failed check.
  CPtr peek(sys::MemorySession& session, CPtr region, uint64_t page, uint64_t offset = 0);

  Env env;
  Context& t;
  uint64_t received_words[4] = {};
  CPtr supervisor = 0;  // children's exits
  CPtr events = 0;      // bound to this thread; the server signals a badged copy

 private:
  void take_faults();
  // One poll of the supervision endpoint; true when something happened.
  bool poll_once();

  bool ready_ = false;
  bool bound_ = false;
  Child children_[kMaxChildren];
  uint32_t child_count_ = 0;
  uint32_t stray_ = 0;
};

// Runs the test's thread at priority 1 while it exists, so children and the server run first.
class Lowered {
 public:
  explicit Lowered(Env& env);
  ~Lowered();

 private:
  Env& env_;
};

}  // namespace memtest
