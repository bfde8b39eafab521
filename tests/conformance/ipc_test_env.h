// Scaffolding for the root task's IPC, notification and thread tests (ipc_tests.cc,
// ipc_queue_tests.cc, ipc_cap_tests.cc, ipc_space_tests.cc, notification_tests.cc,
// thread_tests.cc): peer threads made with tessera::sys::Thread, the IPC operations they perform
// (Job), a second address space that can run libsys code (ChildSpace), and message helpers.
// Builds on captest::Env (cap_test_env.h) for slots and untyped memory.
//
// Peers of the root task share its address space and CSpace; they run at the root's priority
// (255) unless told otherwise, so the root lets them run by yielding or by blocking in IPC.
// Declare the Jobs and OwnedCaps of a test before its Peers: a Peer's destructor stops its thread
// before anything it writes to goes away.
#pragma once

#include <stdint.h>

#include <tessera/ipc_buffer.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/thread.h>
#include <tessera/sys/thread_runtime.h>

#include "cap_test_env.h"

namespace ipctest {

using namespace captest;
using tessera::IpcBuffer;
using tessera::kMessageWords;
using tessera::sys::MessageInfo;
using tessera::sys::Received;
using tessera::sys::Thread;

constexpr uint8_t kGrant = tessera::abi::kRightGrant;
constexpr uint8_t kGrantReply = tessera::abi::kRightGrantReply;

// The calling thread's IPC buffer (the root's, or a peer's when called on a peer).
inline IpcBuffer& buffer() { return *tessera::sys::ipc_buffer(); }

// The word `index` of the test pattern `seed`: distinct for every (seed, index) pair in use.
constexpr uint64_t pattern(uint64_t seed, uint64_t index) { return (seed << 32) ^ (index * 0x9E3779B97F4A7C15ull) ^ index; }
// Writes `count` pattern words to the calling thread's IPC buffer.
void put_pattern(uint64_t seed, uint32_t count);
// Checks `count` words of `words` against the pattern; reports the first mismatch.
bool check_pattern(Context& t, const uint64_t* words, uint64_t seed, uint32_t count, const char* what);

// Checks a system call's own error.
inline bool expect_is(Context& t, Error got, Error expected, const char* what) {
  return t.check(got == expected, "%s: expected %s, got %s", what, error_name(expected), error_name(got));
}

// Checks a received message's info (no caps) and badge.
bool check_message(Context& t, const Received& r, uint64_t label, uint32_t length, uint64_t badge, const char* what);
// A JoinableThread of the test whose window is `windows + index * 0x10000`; a failed check (and
// the error) when it cannot be made.
tessera::Result<tessera::sys::JoinableThread> spawn_joinable(Env& env, uint64_t windows, uint32_t index);

// Calls an echo_server on `endpoint` with `length` pattern(seed) words and checks its answer.
void call_echo(Context& t, CPtr endpoint, uint64_t label, uint32_t length, uint64_t seed);

// A capability slot of the test, deleted (checked) when it goes out of scope.
class OwnedCap {
 public:
  OwnedCap(Env& env, CPtr slot) : env_(env), slot_(slot) {}
  ~OwnedCap() { drop(); }
  OwnedCap(const OwnedCap&) = delete;
  OwnedCap& operator=(const OwnedCap&) = delete;
  operator CPtr() const { return slot_; }  // NOLINT: used where a cptr is expected
  // Deletes the capability now.
  void drop() {
    env_.drop(slot_);
    slot_ = 0;
  }

 private:
  Env& env_;
  CPtr slot_;
};

// A copy of `source` with `rights` and `badge` (0: none) in a fresh slot; 0 after a failed check.
CPtr mint(Env& env, CPtr source, uint8_t rights, uint64_t badge = 0);

// One IPC operation a peer performs, and what came of it. A peer runs a chain of Jobs (`next`).
struct Job {
  enum class Op : uint8_t { Send, NBSend, Call, Recv, NBRecv, Signal, Wait, Poll };
  Op op = Op::Send;
  CPtr cap = 0;
  MessageInfo info{};          // sent (Send, NBSend, Call)
  uint64_t seed = 0;           // the sent words are pattern(seed, i)
  uint64_t caps[tessera::kMaxTransferCaps] = {};
  CPtr receive_slot = 0;       // a root CNode slot for a received cap (0: none)
  Job* next = nullptr;

  // Written by the peer when the operation returns.
  bool done = false;
  Error error = Error::Ok;
  Received received{};
  uint64_t words[kMessageWords] = {};
  uint64_t caps_or_badges[tessera::kMaxTransferCaps] = {};
  uint64_t finished = 0;       // completion order among all Jobs (1, 2, ...)

  bool is_done() const { return __atomic_load_n(&done, __ATOMIC_ACQUIRE); }
};

// A thread in the root task's address space and CSpace, stopped and deleted by the destructor.
class Peer {
 public:
  // `index` (0..7) picks the peer's virtual-memory window; peers of one test need distinct ones.
  Peer(Env& env, uint32_t index, uint8_t priority = 255);
  bool ok() const { return thread_.ok(); }
  // Starts entry(argument); checked.
  bool start(void (*entry)(uint64_t), uint64_t argument);
  // Starts the chain of jobs beginning at `job`, then lets it run until it blocks or finishes.
  bool run(Job& job);
  CPtr tcb() const { return thread_.ok() ? thread_->tcb() : 0; }
  // The thread (only when ok()).
  Thread& thread() { return *thread_; }

 private:
  Env& env_;
  tessera::Result<Thread> thread_;
};

// Points the calling thread's receive slot at root CNode slot `slot` (0: receive no caps).
void receive_into(CPtr slot);
// Gives the CPU to peers of the root's priority until they block or finish.
void let_run(int yields = 20);
// Yields until `job` is done (at most `yields` times); returns whether it is.
bool wait_done(const Job& job, int yields = 200);

// A second address space for peers: a PML4 with init's code and read-only data mapped from
// copies of the image frames (read-only and executable: user.ld exports no symbol for where code
// ends; init's writable data is not there, so code running in it must not use globals). Threads made in it with `thread()` use the root CNode as CSpace.
class ChildSpace {
 public:
  explicit ChildSpace(Env& env);
  ~ChildSpace();
  ChildSpace(const ChildSpace&) = delete;
  ChildSpace& operator=(const ChildSpace&) = delete;
  bool ok() const { return ok_; }
  // A thread in this space (window `index`, 0..7), not started; check .ok().
  tessera::Result<Thread> thread(uint32_t index, uint8_t priority = 255);

  CPtr pml4 = 0;

 private:
  static constexpr uint32_t kMaxImagePages = 192;  // the conformance image is about 130 pages
  Env& env_;
  CPtr image_[kMaxImagePages] = {};
  uint32_t image_pages_ = 0;
  tessera::sys::CreatedTables tables_;
  bool ok_ = false;
};

// Peer programs that use only IPC (no globals), so they run in a ChildSpace too. The argument is
// an endpoint cptr in the low 32 bits and a parameter in the high 32 (make_argument).
constexpr uint64_t make_argument(CPtr endpoint, uint32_t parameter) { return endpoint | (uint64_t{parameter} << 32); }
// Receives and answers each message (label + 1, every word inverted) with ReplyRecv; a parameter
// of 1 answers with Reply and then Recv instead. Stops when a receive fails.
void echo_server(uint64_t argument);
// Sends one message: label 0xC0DE, `parameter` words (at most 120) of pattern(seed 0x5EED).
void pattern_sender(uint64_t argument);
// Calls twice: first with word 0 = `parameter`, then with word 0 = twice the first reply's word 0,
// so the second request proves the first reply arrived intact.
void doubling_client(uint64_t argument);
// Jobs run by Peer::run.
void run_jobs(uint64_t first_job);

}  // namespace ipctest
