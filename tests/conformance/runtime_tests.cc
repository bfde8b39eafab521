// libsys runtime tests (suite `user`): joinable threads (join, exit, thread-local values), the
// heap and operator new, message queues and pipes between threads.
#include <stdint.h>

#include <tessera/string.h>
#include <tessera/sys/channel.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/thread_runtime.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;
using sys::JoinableThread;

constexpr uint64_t kWindows = 0x39000000;  // thread i's window: kWindows + i * 0x10000

void set_flag(uint64_t argument) { __atomic_store_n(reinterpret_cast<bool*>(argument), true, __ATOMIC_RELEASE); }

[[noreturn]] void exit_deep(uint64_t argument, int depth) {
  if (depth == 0) sys::exit_thread(static_cast<int64_t>(argument));
  exit_deep(argument, depth - 1);
}

uint64_t after_exit = 0;
void exit_with(uint64_t code) {
  exit_deep(code, 3);
  after_exit = 1;  // never reached
}
}  // namespace

TESSERA_USER_TEST(THREADS0001, pass, "join sleeps until the thread's entry returns and reports exit code 0; a thread can run again after join") {
  Env env(t);
  bool ran = false;
  auto thread = spawn_joinable(env, kWindows, 0);
  if (t.failed()) return;
  expect_error(t, thread->join(), Error::IllegalOperation, "join before start");
  if (!expect_ok(t, thread->start(set_flag, reinterpret_cast<uint64_t>(&ran)), "start")) return;
  expect_error(t, thread->start(set_flag, 0), Error::Busy, "restart before join");
  auto code = thread->join();
  if (expect_ok(t, code, "join")) t.check(*code == 0, "exit code %ld", *code);
  t.check(ran && thread->finished(), "the entry did not run before join returned");
  auto again = thread->join();
  t.check(again.ok() && *again == 0, "a second join");
  ran = false;
  expect_ok(t, thread->start(set_flag, reinterpret_cast<uint64_t>(&ran)), "start again");
  expect_ok(t, thread->join(), "join again");
  t.check(ran, "the second run did not happen");
  expect_ok(t, thread->destroy(), "destroy");
  expect_error(t, thread->start(set_flag, 0), Error::IllegalOperation, "start after destroy");
}

TESSERA_USER_TEST(THREADS0002, pass, "exit_thread ends a thread from a nested call with the given code") {
  Env env(t);
  auto a = spawn_joinable(env, kWindows, 0), b = spawn_joinable(env, kWindows, 1);
  if (t.failed()) return;
  expect_ok(t, a->start(exit_with, 42), "start a");
  expect_ok(t, b->start(exit_with, static_cast<uint64_t>(-7)), "start b");
  auto code_b = b->join();
  auto code_a = a->join();
  t.check(code_a.ok() && *code_a == 42, "thread a exited with %ld", code_a.ok() ? *code_a : -1);
  t.check(code_b.ok() && *code_b == -7, "thread b exited with %ld", code_b.ok() ? *code_b : -1);
  t.check(after_exit == 0, "code after exit_thread ran");
}

namespace {
struct TlsProbe {
  const sys::ThreadLocalKey* key;
  uint64_t value;
  uint64_t seen;  // what get() returned after other threads set theirs
  bool ok;
};
void probe_tls(uint64_t argument) {
  auto* p = reinterpret_cast<TlsProbe*>(argument);
  const uint64_t before = p->key->get();
  p->ok = before == 0 && p->key->set(p->value).ok();
  for (int i = 0; i < 10; ++i) (void)sys::yield();  // the others set their values meanwhile
  p->seen = p->key->get();
}
}  // namespace

TESSERA_USER_TEST(THREADS0003, pass, "thread-local keys give every thread its own value, starting at 0") {
  Env env(t);
  auto key = sys::ThreadLocalKey::create();
  if (!expect_ok(t, key, "create a key")) return;
  expect_ok(t, key->set(0x1234), "set in the root thread");
  TlsProbe probes[3] = {{&*key, 0xA1, 0, false}, {&*key, 0xB2, 0, false}, {&*key, 0xC3, 0, false}};
  {
    auto a = spawn_joinable(env, kWindows, 0),
         b = spawn_joinable(env, kWindows, 1), c = spawn_joinable(env, kWindows, 2);
    if (t.failed()) return;
    JoinableThread* threads[] = {&*a, &*b, &*c};
    for (uint32_t i = 0; i < 3; ++i) expect_ok(t, threads[i]->start(probe_tls, reinterpret_cast<uint64_t>(&probes[i])), "start");
    for (JoinableThread* thread : threads) expect_ok(t, thread->join(), "join");
  }
  for (const TlsProbe& p : probes) {
    t.check(p.ok && p.seen == p.value, "a thread set 0x%lx and read back 0x%lx (fresh 0: %d)", p.value, p.seen, p.ok);
  }
  t.check(key->get() == 0x1234, "the root's value became 0x%lx", key->get());
  (void)key->set(0);
}

namespace {
alignas(16) uint8_t heap_arena[64 * 1024];

uint8_t fill_of(uint32_t i) { return static_cast<uint8_t>(0x40 + i * 7); }
}  // namespace

TESSERA_USER_TEST(HEAP0001, pass, "the heap serves mixed sizes without overlap, coalesces on free and stays consistent") {
  sys::Heap heap;
  t.check(heap.allocate(16) == nullptr, "an uninitialised heap allocated");
  if (!t.check(heap.init(heap_arena, sizeof(heap_arena)).ok(), "init")) return;
  constexpr uint32_t kSlots = 64;
  uint8_t* live[kSlots] = {};
  uint32_t sizes[kSlots] = {};
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  for (uint32_t step = 0; step < 3000; ++step) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t i = static_cast<uint32_t>(seed >> 58);
    if (live[i] != nullptr) {
      for (uint32_t b = 0; b < sizes[i]; ++b) {
        if (live[i][b] != fill_of(i)) {
          t.check(false, "block %u byte %u overwritten (step %u)", i, b, step);
          return;
        }
      }
      heap.free(live[i]);
      live[i] = nullptr;
    } else {
      sizes[i] = 1 + static_cast<uint32_t>((seed >> 20) % 1500);
      const size_t alignment = (seed & 0x300) == 0x300 ? 256 : 16;
      live[i] = static_cast<uint8_t*>(heap.allocate(sizes[i], alignment));
      if (live[i] == nullptr) continue;  // full for the moment: fine
      t.check(tessera::is_aligned(reinterpret_cast<uint64_t>(live[i]), alignment), "misaligned payload");
      t.check(heap.contains(live[i]) && heap.contains(live[i] + sizes[i] - 1), "payload outside the heap");
      memset(live[i], fill_of(i), sizes[i]);
    }
    if (step % 100 == 0 && !t.check(heap.check_consistency(), "inconsistent at step %u", step)) return;
  }
  for (uint32_t i = 0; i < kSlots; ++i) heap.free(live[i]);
  t.check(heap.check_consistency() && heap.live_allocations() == 0 && heap.bytes_in_use() == 0, "leftovers: %zu live",
          heap.live_allocations());
  t.check(heap.largest_free() == heap.capacity() - sys::Heap::kHeaderBytes, "free space did not coalesce: %zu of %zu",
          heap.largest_free(), heap.capacity());
  t.check(heap.bad_frees() == 0, "%lu bad frees", heap.bad_frees());
}

TESSERA_USER_TEST(HEAP0002, pass, "an exhausted heap returns nullptr; absurd sizes, bad alignments and bad frees are refused") {
  sys::Heap heap;
  if (!t.check(heap.init(heap_arena, sizeof(heap_arena)).ok(), "init")) return;
  void* blocks[2048] = {};
  uint32_t count = 0;
  while (count < 2048 && (blocks[count] = heap.allocate(100)) != nullptr) ++count;
  t.check(count > 400 && count < 2048, "%u blocks of 100 bytes in 64 KiB", count);
  t.check(heap.allocate(100) == nullptr && heap.allocate(1) == nullptr, "allocation after exhaustion");
  heap.free(blocks[count / 2]);
  t.check(heap.allocate(100) == blocks[count / 2], "the freed block is reused");
  t.check(heap.allocate(0) == nullptr && heap.allocate(~size_t{0}) == nullptr && heap.allocate(~size_t{0} - 8, 16) == nullptr,
          "absurd sizes");
  t.check(heap.allocate(16, 24) == nullptr, "a non-power-of-two alignment");
  int outside = 0;
  heap.free(&outside);
  heap.free(static_cast<uint8_t*>(blocks[0]) + 8);
  heap.free(blocks[1]);
  heap.free(blocks[1]);  // double free
  t.check(heap.bad_frees() == 3, "%lu bad frees detected, expected 3", heap.bad_frees());
  for (uint32_t i = 0; i < count; ++i) {
    if (i != 1) heap.free(blocks[i]);
  }
  t.check(heap.check_consistency() && heap.live_allocations() == 0, "%zu left", heap.live_allocations());
}

namespace {
struct alignas(128) Wide {
  uint64_t words[20];
};
}  // namespace

TESSERA_USER_TEST(HEAP0003, pass, "operator new/delete use the root task's heap: arrays, over-aligned types, nothrow failure") {
  sys::Heap& heap = sys::process_heap();
  if (!t.check(heap.capacity() == sys::kRootHeapBytes, "process heap of %zu bytes", heap.capacity())) return;
  const size_t in_use = heap.bytes_in_use();
  auto* numbers = new uint64_t[1000];
  for (uint64_t i = 0; i < 1000; ++i) numbers[i] = i * i;
  auto* wide = new Wide{};
  t.check(tessera::is_aligned(reinterpret_cast<uint64_t>(wide), 128), "Wide at 0x%lx", reinterpret_cast<uint64_t>(wide));
  t.check(heap.contains(numbers) && heap.contains(wide), "allocations outside the process heap");
  uint64_t sum = 0;
  for (uint64_t i = 0; i < 1000; ++i) sum += numbers[i];
  t.check(sum == 332833500, "array contents %lu", sum);
  auto* huge = new (std::nothrow) uint8_t[sys::kRootHeapBytes * 2];
  t.check(huge == nullptr, "a nothrow new larger than the heap succeeded");
  delete wide;
  delete[] numbers;
  t.check(heap.bytes_in_use() == in_use && heap.check_consistency(), "%zu bytes in use, %zu before",
          heap.bytes_in_use(), in_use);
}

namespace {
struct Sample {
  uint64_t sequence;
  uint64_t square;
  uint32_t tag;
};
struct QueueJob {
  CPtr endpoint;
  uint32_t count;
  tessera::Error error;
};
void produce(uint64_t argument) {
  auto* job = reinterpret_cast<QueueJob*>(argument);
  sys::MessageQueue<Sample> queue(job->endpoint);
  for (uint64_t i = 0; i < job->count; ++i) {
    auto r = queue.send(Sample{i, i * i, 0x51});
    if (!r.ok()) {
      job->error = r.error();
      return;
    }
  }
}
// A message from `queue`: with `try_first`, non-blocking first, blocking when none is waiting.
tessera::Result<Sample> take_sample(sys::MessageQueue<Sample>& queue, bool try_first) {
  if (try_first) {
    auto r = queue.try_receive();
    if (r.ok() || r.error() != Error::WouldBlock) return r;
  }
  return queue.receive();
}
}  // namespace

TESSERA_USER_TEST(QUEUE0001, pass, "a MessageQueue carries fixed-size messages in order between threads; try_receive never blocks") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  sys::MessageQueue<Sample> queue(endpoint);
  auto empty = queue.try_receive();
  expect_error(t, empty, Error::WouldBlock, "try_receive on an empty queue");
  QueueJob jobs[2] = {{endpoint, 100, Error::Ok}, {endpoint, 100, Error::Ok}};
  auto a = spawn_joinable(env, kWindows, 0), b = spawn_joinable(env, kWindows, 1);
  if (t.failed()) return;
  expect_ok(t, a->start(produce, reinterpret_cast<uint64_t>(&jobs[0])), "start a");
  expect_ok(t, b->start(produce, reinterpret_cast<uint64_t>(&jobs[1])), "start b");
  uint64_t next[2] = {0, 0};  // two producers interleave, each in order: sequences alternate streams
  uint32_t received = 0;
  for (uint32_t i = 0; i < 200; ++i) {
    // Every other message non-blocking first.
    auto sample = take_sample(queue, i % 2 == 1);
    if (!expect_ok(t, sample, "receive")) break;
    const uint64_t s = sample->sequence;
    const uint32_t stream = next[0] == s ? 0 : 1;
    if (!t.check(s == next[stream] && sample->square == s * s && sample->tag == 0x51, "message %u: sequence %lu", i, s)) break;
    ++next[stream];
    ++received;
  }
  t.check(received == 200 && next[0] == 100 && next[1] == 100, "%u received", received);
  expect_ok(t, a->join(), "join a");
  expect_ok(t, b->join(), "join b");
  t.check(jobs[0].error == Error::Ok && jobs[1].error == Error::Ok, "send failed");
  // A message of another kind is consumed and reported.
  Job stranger;
  stranger.op = Job::Op::Send;
  stranger.cap = endpoint;
  stranger.info = MessageInfo{7, 1, 0, 0};
  Peer peer(env, 0);
  if (t.failed() || !peer.run(stranger)) return;
  expect_error(t, queue.receive(), Error::MalformedMessage, "a foreign message");
  t.check(wait_done(stranger), "the foreign sender was not released");
}

namespace {
struct PipeJob {
  CPtr endpoint;
  tessera::Error error;
};
uint8_t pipe_byte(uint32_t i) { return static_cast<uint8_t>(i * 31 + (i >> 8)); }
void write_stream(uint64_t argument) {
  auto* job = reinterpret_cast<PipeJob*>(argument);
  sys::PipeWriter writer(job->endpoint);
  uint8_t block[1500];
  uint32_t position = 0;
  const uint32_t pieces[] = {1, 7, 952, 953, 1500, 100, 487};  // 4000 bytes: odd sizes, chunk edges
  for (uint32_t piece : pieces) {
    for (uint32_t i = 0; i < piece; ++i) block[i] = pipe_byte(position + i);
    if (auto r = writer.write(block, piece); !r.ok()) {
      job->error = r.error();
      return;
    }
    position += piece;
  }
  if (auto r = writer.close(); !r.ok()) job->error = r.error();
}
}  // namespace

TESSERA_USER_TEST(PIPE0001, pass, "a Pipe delivers a byte stream in order across chunk boundaries, then end-of-stream") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  PipeJob job{endpoint, Error::Ok};
  auto writer = spawn_joinable(env, kWindows, 0);
  if (t.failed()) return;
  expect_ok(t, writer->start(write_stream, reinterpret_cast<uint64_t>(&job)), "start the writer");
  sys::PipeReader reader(endpoint);
  uint8_t got[100];
  uint32_t total = 0;
  for (;;) {
    auto n = reader.read(got, sizeof(got));
    if (!expect_ok(t, n, "read")) break;
    if (*n == 0) break;
    for (uint32_t i = 0; i < *n; ++i) {
      if (got[i] != pipe_byte(total + i)) {
        t.check(false, "byte %u is 0x%x", total + i, got[i]);
        return;
      }
    }
    total += static_cast<uint32_t>(*n);
  }
  t.check(total == 4000, "%u bytes read, expected 4000", total);
  auto again = reader.read(got, sizeof(got));
  t.check(again.ok() && *again == 0 && reader.at_end(), "a read after the end");
  expect_ok(t, writer->join(), "join");
  t.check(job.error == Error::Ok, "the writer failed: %s", error_name(job.error));
}
