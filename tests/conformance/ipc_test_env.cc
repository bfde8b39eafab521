#include "ipc_test_env.h"

namespace ipctest {
namespace {
namespace sys = tessera::sys;

constexpr uint64_t kImageBase = 0x400000;        // where libsys/rt/user.ld links init
constexpr uint64_t kPeerWindows = 0x30000000;    // peer i's window starts at kPeerWindows + i * kWindowStride
constexpr uint64_t kWindowStride = 0x10000;
constexpr uint32_t kMaxPeers = 8;

uint64_t finished_jobs = 0;  // completion counter shared by the root task's peers

extern "C" const char __init_array_end[];  // end of init's read-only segments (user.ld)

sys::ThreadOptions peer_options(CPtr vspace, uint32_t index, uint8_t priority) {
  sys::ThreadOptions options;
  options.vspace = vspace;
  options.window = kPeerWindows + (index % kMaxPeers) * kWindowStride;
  options.priority = priority;
  return options;
}

// Runs one job on the calling thread and records its outcome.
void perform(Job& job) {
  IpcBuffer& b = buffer();
  const uint32_t length = tessera::min(job.info.length_words, kMessageWords);
  for (uint32_t i = 0; i < length; ++i) b.msg[i] = pattern(job.seed, i);
  for (uint32_t i = 0; i < tessera::kMaxTransferCaps; ++i) b.caps_or_badges[i] = job.caps[i];
  receive_into(job.receive_slot);
  Received r{};
  uint64_t word = 0;
  switch (job.op) {
    case Job::Op::Send: job.error = sys::send(job.cap, job.info); break;
    case Job::Op::NBSend: job.error = sys::nb_send(job.cap, job.info); break;
    case Job::Op::Call: job.error = sys::call(job.cap, job.info, &r); break;
    case Job::Op::Recv: job.error = sys::recv(job.cap, &r); break;
    case Job::Op::NBRecv: job.error = sys::nb_recv(job.cap, &r); break;
    case Job::Op::Signal: job.error = sys::signal(job.cap); break;
    case Job::Op::Wait: job.error = sys::wait(job.cap, &word); break;
    case Job::Op::Poll: job.error = sys::poll(job.cap, &word); break;
  }
  if (job.op == Job::Op::Wait || job.op == Job::Op::Poll) r.badge = word;
  job.received = r;
  const uint32_t received = tessera::min(r.info.length_words, kMessageWords);
  for (uint32_t i = 0; i < received; ++i) job.words[i] = b.msg[i];
  for (uint32_t i = 0; i < tessera::kMaxTransferCaps; ++i) job.caps_or_badges[i] = b.caps_or_badges[i];
  receive_into(0);
  job.finished = __atomic_add_fetch(&finished_jobs, 1, __ATOMIC_SEQ_CST);
  __atomic_store_n(&job.done, true, __ATOMIC_RELEASE);
}
}  // namespace

void receive_into(CPtr slot) {
  IpcBuffer& b = buffer();
  b.receive_cnode = slot == 0 ? 0 : tessera::kSlotRootCNode;
  b.receive_index = slot;
  b.receive_depth = slot == 0 ? 0 : kSlotDepth;
}

void put_pattern(uint64_t seed, uint32_t count) {
  IpcBuffer& b = buffer();
  for (uint32_t i = 0; i < count && i < kMessageWords; ++i) b.msg[i] = pattern(seed, i);
}

bool check_pattern(Context& t, const uint64_t* words, uint64_t seed, uint32_t count, const char* what) {
  for (uint32_t i = 0; i < count; ++i) {
    if (words[i] != pattern(seed, i)) {
      return t.check(false, "%s: word %u is 0x%lx, expected 0x%lx", what, i, words[i], pattern(seed, i));
    }
  }
  return true;
}

bool check_message(Context& t, const Received& r, uint64_t label, uint32_t length, uint64_t badge, const char* what) {
  return t.check(r.info.label == label && r.info.length_words == length && r.info.extra_caps == 0 &&
                     r.info.caps_unwrapped == 0 && r.badge == badge,
                 "%s: label 0x%lx length %u caps %u/%u badge 0x%lx; expected label 0x%lx length %u badge 0x%lx", what,
                 r.info.label, r.info.length_words, r.info.extra_caps, r.info.caps_unwrapped, r.badge, label, length,
                 badge);
}

tessera::Result<tessera::sys::JoinableThread> spawn_joinable(Env& env, uint64_t windows, uint32_t index) {
  tessera::sys::ThreadOptions options;
  options.window = windows + uint64_t{index} * 0x10000;
  auto thread = tessera::sys::JoinableThread::create(env.memory, &env.tables, options);
  env.t.check(thread.ok(), "create thread %u: %s", index, error_name(thread.error()));
  return thread;
}

void call_echo(Context& t, CPtr endpoint, uint64_t label, uint32_t length, uint64_t seed) {
  put_pattern(seed, length);
  Received reply{};
  if (!expect_is(t, sys::call(endpoint, MessageInfo{label, length, 0, 0}, &reply), Error::Ok, "call")) return;
  if (!check_message(t, reply, label + 1, length, 0, "echo reply")) return;
  for (uint32_t i = 0; i < length; ++i) {
    const uint64_t got = buffer().msg[i];
    if (!t.check(got == ~pattern(seed, i), "reply word %u of %u is 0x%lx", i, length, got)) return;
  }
}

CPtr mint(Env& env, CPtr source, uint8_t rights, uint64_t badge) {
  const CPtr dest = env.slot();
  if (dest == 0) return 0;
  auto r = env.root().mint(dest, kSlotDepth, kRootCNodeRef, source, kSlotDepth, rights, badge);
  if (env.t.check(r.ok(), "mint slot %lu (rights %u, badge 0x%lx): %s", source, rights, badge, error_name(r.error()))) {
    return dest;
  }
  (void)env.slots.free(dest);
  return 0;
}

void run_jobs(uint64_t first_job) {
  for (Job* job = reinterpret_cast<Job*>(first_job); job != nullptr; job = job->next) perform(*job);
}

Peer::Peer(Env& env, uint32_t index, uint8_t priority)
    : env_(env),
      thread_(Thread::create(env.memory, &env.tables, peer_options(tessera::kSlotRootVSpace, index, priority))) {
  env.t.check(thread_.ok(), "create peer thread %u: %s", index, error_name(thread_.error()));
}

bool Peer::start(void (*entry)(uint64_t), uint64_t argument) {
  if (!thread_.ok()) return false;
  return expect_ok(env_.t, thread_->start(entry, argument), "start a peer");
}

bool Peer::run(Job& job) {
  if (!start(run_jobs, reinterpret_cast<uint64_t>(&job))) return false;
  let_run();
  return true;
}

void let_run(int yields) {
  for (int i = 0; i < yields; ++i) (void)sys::yield();
}

bool wait_done(const Job& job, int yields) {
  for (int i = 0; i < yields && !job.is_done(); ++i) (void)sys::yield();
  return job.is_done();
}

ChildSpace::ChildSpace(Env& env) : env_(env) {
  pml4 = env.make(ObjectType::Pml4);
  if (pml4 == 0) return;
  const uint64_t end = tessera::align_up(reinterpret_cast<uint64_t>(__init_array_end), 4096);
  const uint64_t pages = (end - kImageBase) / 4096;
  const uint64_t available = env.info.image_frames.end - env.info.image_frames.start;
  if (!env.t.check(pages <= kMaxImagePages && pages <= available, "read-only image of %lu pages", pages)) return;
  for (uint32_t i = 0; i < pages; ++i) {
    image_[i] = env.copy(env.info.image_frames.start + i, kRead);
    if (image_[i] == 0) return;
    image_pages_ = i + 1;
    const sys::MapRequest request{pml4, image_[i], kImageBase + uint64_t{i} * 4096, sys::PageSize::k4K, kRead, 0};
    auto r = sys::map_frame(env.memory, request, &tables_);
    if (!env.t.check(r.ok(), "map image page %u in the child space: %s", i, error_name(r.error()))) return;
  }
  ok_ = true;
}

ChildSpace::~ChildSpace() {
  const auto freed = sys::free_tables(env_.memory, &tables_);
  env_.t.check(freed.ok(), "delete the child space's tables: %s", error_name(freed.error()));
  while (image_pages_ > 0) env_.drop(image_[--image_pages_]);
  env_.drop(pml4);
}

tessera::Result<Thread> ChildSpace::thread(uint32_t index, uint8_t priority) {
  if (!ok_) return Error::IllegalOperation;
  auto thread = Thread::create(env_.memory, &tables_, peer_options(pml4, index, priority));
  env_.t.check(thread.ok(), "create a thread in the child space: %s", error_name(thread.error()));
  return thread;
}

void echo_server(uint64_t argument) {
  const CPtr endpoint = argument & 0xFFFFFFFF;
  const bool split = (argument >> 32) == 1;
  Received r{};
  Error e = sys::recv(endpoint, &r);
  while (e == Error::Ok) {
    IpcBuffer& b = buffer();
    const uint32_t length = tessera::min(r.info.length_words, kMessageWords);
    for (uint32_t i = 0; i < length; ++i) b.msg[i] = ~b.msg[i];
    const MessageInfo answer{r.info.label + 1, length, 0, 0};
    if (split) {
      e = sys::reply(answer);
      if (e == Error::Ok) e = sys::recv(endpoint, &r);
    } else {
      e = sys::reply_recv(endpoint, answer, &r);
    }
  }
}

void pattern_sender(uint64_t argument) {
  const CPtr endpoint = argument & 0xFFFFFFFF;
  const uint32_t length = tessera::min(static_cast<uint32_t>(argument >> 32), kMessageWords);
  put_pattern(0x5EED, length);
  (void)sys::send(endpoint, MessageInfo{0xC0DE, length, 0, 0});
}

void doubling_client(uint64_t argument) {
  const CPtr endpoint = argument & 0xFFFFFFFF;
  buffer().msg[0] = argument >> 32;
  Received reply{};
  if (sys::call(endpoint, MessageInfo{1, 1, 0, 0}, &reply) != Error::Ok || reply.info.length_words < 1) return;
  buffer().msg[0] = buffer().msg[0] * 2;
  (void)sys::call(endpoint, MessageInfo{2, 1, 0, 0}, &reply);
}

}  // namespace ipctest
