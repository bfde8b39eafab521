#include "memory_env.h"

#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>

extern "C" {
struct EmbeddedFile {
  const char* name;
  const uint8_t* data;
  uint64_t size;
};
extern const EmbeddedFile tessera_embedded_files[];
extern const uint64_t tessera_embedded_file_count;
}

namespace memtest {
namespace {
constexpr uint64_t kEventBadge = uint64_t{1} << 62;
constexpr uint32_t kIdlePolls = 3000;

const EmbeddedFile* proctest_image() {
  for (uint64_t i = 0; i < tessera_embedded_file_count; ++i) {
    if (strcmp(tessera_embedded_files[i].name, "proctest") == 0) return &tessera_embedded_files[i];
  }
  return nullptr;
}
}  // namespace

Lowered::Lowered(Env& env) : env_(env) {
  expect_ok(env.t, env.tcb(tessera::kSlotRootTcb).set_priority(kRootTcbRef, 1), "lower the test's priority");
}
Lowered::~Lowered() {
  expect_ok(env_.t, env_.tcb(tessera::kSlotRootTcb).set_priority(kRootTcbRef, 255), "restore the test's priority");
}

MemEnv::MemEnv(Context& context) : env(context), t(context) {
  auto st = control().status();
  if (!t.check(st.ok(), "no memory server in kBootInfoServiceSlot (Control.status: %s)", error_name(st.error()))) return;
  supervisor = env.make(ObjectType::Endpoint);
  events = env.make(ObjectType::Notification);
  if (t.failed()) return;
  if (!expect_ok(t, env.tcb(tessera::kSlotRootTcb).bind_notification(CapRef{events}), "bind the events notification")) {
    return;
  }
  bound_ = true;
  // The server signals a badged, write-only copy: the word says "memory" on the supervision endpoint.
  const CPtr copy = env.slot();
  if (copy == 0 || !expect_ok(t, env.root().mint(copy, kSlotDepth, kRootCNodeRef, events, kSlotDepth,
                                                 tessera::abi::kRightWrite, kEventBadge),
                              "mint the events copy")) {
    return;
  }
  const auto registered = control().events(CapRef{copy});
  env.drop(copy);  // the server keeps its own
  ready_ = expect_ok(t, registered, "Control.events");
}

MemEnv::~MemEnv() {
  for (uint32_t i = 0; i < child_count_; ++i) end(i);
  if (bound_) (void)env.tcb(tessera::kSlotRootTcb).unbind_notification();
  env.drop(events);
  env.drop(supervisor);
}

ServerStatus MemEnv::server_status() {
  auto st = control().status();
  if (!t.check(st.ok(), "Control.status: %s", error_name(st.error()))) return {};
  return ServerStatus{st->total_bytes(), st->free_bytes(), st->promised_bytes(), st->frames(), st->sessions(),
                      st->regions()};
}

bool MemEnv::open_dummy(Dummy* d, const char* name, uint64_t quota, uint64_t weight) {
  d->pml4 = env.make(ObjectType::Pml4);
  if (d->pml4 == 0) return false;
  auto opened = sys::open_session(sys::kBootInfoServiceSlot, env.slots, tessera::kSlotRootCNode, name, quota, weight,
                                  d->pml4);
  if (!expect_ok(t, opened, "open a session")) {
    env.drop(d->pml4);
    d->pml4 = 0;
    return false;
  }
  d->opened = *opened;
  d->session = sys::MemorySession(opened->session, env.slots, tessera::kSlotRootCNode);
  return true;
}

void MemEnv::close_dummy(Dummy* d) {
  if (d->opened.session != 0) {
    expect_ok(t, sys::close_session(sys::kBootInfoServiceSlot, d->opened.id), "close a session");
    env.drop(d->opened.session);
  }
  env.drop(d->pml4);
  *d = Dummy{};
}

int MemEnv::spawn(const char* name, const char* argument, uint64_t quota, const sys::Grant* grants,
                  uint32_t grant_count) {
  const EmbeddedFile* image = proctest_image();
  if (!t.check(image != nullptr, "proctest is not embedded") || !t.check(child_count_ < kMaxChildren, "children")) {
    return -1;
  }
  const uint32_t i = child_count_;
  sys::ProcessMemory memory{sys::kBootInfoServiceSlot, quota, 1};
  sys::ProcessOptions options;
  options.name = name;
  options.argument = argument;
  options.memory = &memory;
  options.mcp = 100;  // threads it makes (mem-thread) may run up to its own priority
  options.fault_endpoint = supervisor;
  options.fault_badge = i + 1;
  options.grants = grants;
  options.grant_count = grant_count;
  auto process = sys::Process::spawn(env.memory, image->data, image->size, options);
  if (!expect_ok(t, process, "spawn proctest")) return -1;
  children_[i] = Child{};
  children_[i].process = process.take();
  children_[i].session = children_[i].process.session_id();
  ++child_count_;
  return static_cast<int>(i);
}

void MemEnv::end(uint32_t i) {
  if (children_[i].process.alive()) expect_ok(t, children_[i].process.destroy(), "destroy a child");
  children_[i].ended = true;
}

void MemEnv::take_faults() {
  for (;;) {
    auto f = control().take_fault();
    if (!f.ok()) {
      t.check(f.error() == Error::WouldBlock, "takeFault: %s", error_name(f.error()));
      return;
    }
    const Report r{f->id(), f->kind(), f->ip(), f->address(), f->detail()};
    bool matched = false;
    for (uint32_t i = 0; i < child_count_; ++i) {
      Child& c = children_[i];
      if (c.ended || !c.process.alive() || c.session != r.session) continue;
      c.faulted = true;
      c.fault = r;
      sys::MemorySession session = child_session(i);
      if (auto st = session.status(); st.ok()) {
        c.used_at_fault = st->used;
        c.limit_at_fault = st->quota + st->granted;
      }
      matched = true;
      end(i);  // the supervisor ends the program that faulted
    }
    if (!matched) ++stray_;
    if (!f->pending()) return;
  }
}

bool MemEnv::poll_once() {
  sys::Received in{};
  const Error e = sys::nb_recv(supervisor, &in);
  if (e == Error::WouldBlock) return false;
  if (!t.check(e == Error::Ok, "receive on the supervision endpoint: %s", error_name(e))) return false;
  if ((in.badge & kEventBadge) != 0) {
    take_faults();
    return true;
  }
  const uint64_t i = in.badge - 1;
  if (i < child_count_ && in.info.label == sys::kProcessExitLabel) {
    Child& c = children_[i];
    c.exited = true;
    c.status = static_cast<int64_t>(sys::ipc_buffer()->msg[0]);
    end(static_cast<uint32_t>(i));
  } else {
    t.note("supervision message with badge %lu label 0x%lx", in.badge, in.info.label);
  }
  return true;
}

bool MemEnv::wait(uint32_t mask) {
  auto done = [&] {
    for (uint32_t i = 0; i < child_count_; ++i) {
      if ((mask & (1u << i)) != 0 && !children_[i].ended) return false;
    }
    return true;
  };
  Lowered lowered(env);
  uint32_t idle = 0;
  while (!done() && idle < kIdlePolls) {
    if (poll_once()) {
      idle = 0;
    } else {
      ++idle;
      (void)sys::yield();
    }
  }
  return t.check(done(), "the children did not end");
}

bool MemEnv::receive(CPtr endpoint, sys::Received* in, CPtr cap_slot) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  Lowered lowered(env);
  uint32_t idle = 0;
  while (idle < kIdlePolls) {
    buffer->receive_cnode = cap_slot != 0 ? tessera::kSlotRootCNode : 0;
    buffer->receive_index = cap_slot;
    buffer->receive_depth = cap_slot != 0 ? kSlotDepth : 0;
    const Error e = sys::nb_recv(endpoint, in);
    buffer->receive_cnode = buffer->receive_index = buffer->receive_depth = 0;
    if (e == Error::Ok) {
      for (uint32_t w = 0; w < 4; ++w) received_words[w] = buffer->msg[w];
      return true;
    }
    if (!t.check(e == Error::WouldBlock, "receive: %s", error_name(e))) return false;
    if (poll_once()) {
      idle = 0;
    } else {
      ++idle;
      (void)sys::yield();
    }
  }
  return t.check(false, "no message arrived");
}

CPtr MemEnv::peek(sys::MemorySession& session, CPtr region, uint64_t page, uint64_t offset) {
  auto frame = session.frame(region, page);
  if (!expect_ok(t, frame, "Session.frame")) return 0;
  if (!env.map(tessera::kSlotRootVSpace, *frame, kPeekAddress + offset)) {
    env.drop(*frame);
    return 0;
  }
  return *frame;
}

}  // namespace memtest
