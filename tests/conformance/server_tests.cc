// libsys server tests (suite `user`): a Bench server (abi/test/bench.capnp) written as one class
// and run by tessera::sys::serve in a thread, called through the generated client stubs, and
// kept alive through a storm of malformed messages; and a typed client answered by a hostile server.
#include <stdint.h>

#include <tessera/abi/bench.capnp.h>
#include <tessera/abi/kv.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/channel.h>
#include <tessera/sys/server.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/thread_runtime.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;
using sys::JoinableThread;
using tessera::Result;
using tessera::abibench::Bench;

constexpr uint64_t kWindows = 0x3A000000;

// A one-file "file server": the file "notes" of up to 256 bytes, opened as handle 7.
class NotesServer : public Bench::Server<NotesServer> {
 public:
  static constexpr uint64_t kHandle = 7;

  Result<void> open(Bench::OpenParams::Reader params, Bench::OpenResults::Builder results) {
    const tessera::capnp::Text path = TRY(params.path());
    if (!(path == tessera::capnp::Text("notes"))) return Error::InvalidArgument;
    results.set_handle(kHandle);
    return {};
  }
  Result<void> read(Bench::ReadParams::Reader params, Bench::ReadResults::Builder results) {
    TRY(check(params.handle()));
    if (params.offset() > size_) return Error::RangeError;
    const uint64_t n = tessera::min<uint64_t>(params.length(), size_ - params.offset());
    results.set_data(tessera::capnp::Data{bytes_ + params.offset(), static_cast<uint32_t>(n)});
    return {};
  }
  Result<void> write(Bench::WriteParams::Reader params, Bench::WriteResults::Builder results) {
    TRY(check(params.handle()));
    const tessera::capnp::Data data = TRY(params.data());
    uint64_t end = 0;
    if (tessera::add_overflows(params.offset(), data.size, &end) || end > sizeof(bytes_)) return Error::RangeError;
    memcpy(bytes_ + params.offset(), data.data, data.size);
    size_ = tessera::max(size_, end);
    results.set_written(data.size);
    return {};
  }
  Result<void> close(Bench::CloseParams::Reader params, Bench::CloseResults::Builder) { return check(params.handle()); }
  Result<void> stat(Bench::StatParams::Reader params, Bench::StatResults::Builder results) {
    TRY(check(params.handle()));
    results.set_size(size_);
    results.set_mode(0644);
    results.set_name("notes");
    return {};
  }

 private:
  static Result<void> check(uint64_t handle) {
    if (handle != kHandle) return Error::InvalidCapability;
    return {};
  }
  uint8_t bytes_[256] = {};
  uint64_t size_ = 0;
};

// The same file server written with flat handlers (docs/writing-a-server.md): the parameters as
// arguments, the results as the generated XReply structs.
class FlatNotesServer : public Bench::Server<FlatNotesServer> {
 public:
  Result<Bench::OpenReply> open(tessera::capnp::Text path, uint32_t) {
    if (!(path == tessera::capnp::Text("notes"))) return Error::InvalidArgument;
    return Bench::OpenReply{NotesServer::kHandle};
  }
  Result<Bench::ReadReply> read(uint64_t handle, uint64_t offset, uint32_t length) {
    TRY(check(handle));
    if (offset > size_) return Error::RangeError;
    const uint64_t n = tessera::min<uint64_t>(length, size_ - offset);
    return Bench::ReadReply{tessera::capnp::Data{bytes_ + offset, static_cast<uint32_t>(n)}};
  }
  Result<Bench::WriteReply> write(uint64_t handle, uint64_t offset, tessera::capnp::Data data) {
    TRY(check(handle));
    uint64_t end = 0;
    if (tessera::add_overflows(offset, data.size, &end) || end > sizeof(bytes_)) return Error::RangeError;
    memcpy(bytes_ + offset, data.data, data.size);
    size_ = tessera::max(size_, end);
    return Bench::WriteReply{data.size};
  }
  Result<void> close(uint64_t handle) { return check(handle); }
  Result<Bench::StatReply> stat(uint64_t handle) {
    TRY(check(handle));
    Bench::StatReply reply;
    reply.size = size_;
    reply.mode = 0644;
    reply.name = "notes";
    return reply;
  }

 private:
  static Result<void> check(uint64_t handle) {
    if (handle != NotesServer::kHandle) return Error::InvalidCapability;
    return {};
  }
  uint8_t bytes_[256] = {};
  uint64_t size_ = 0;
};

struct ServerJob {
  CPtr endpoint;
  Error stopped_with;
};

template <typename Server>
void run_notes_server(uint64_t argument) {
  auto* job = reinterpret_cast<ServerJob*>(argument);
  Server server;
  job->stopped_with = sys::serve(server, job->endpoint);
}

sys::ThreadOptions server_options() {
  sys::ThreadOptions options;
  options.window = kWindows;
  return options;
}

// Starts a NotesServer (or a FlatNotesServer) thread on a fresh endpoint; the test deletes the
// endpoint to stop it.
template <typename Server = NotesServer>
struct ServerFixture {
  explicit ServerFixture(Env& env)
      : endpoint(env, env.make(ObjectType::Endpoint)),
        job{endpoint, Error::Ok},
        thread(JoinableThread::create(env.memory, &env.tables, server_options())) {
    expect_ok(env.t, thread, "create the server thread");
  }
  OwnedCap endpoint;
  ServerJob job;
  tessera::Result<JoinableThread> thread;

  bool start(Context& t) {
    return thread.ok() && expect_ok(t, thread->start(run_notes_server<Server>, reinterpret_cast<uint64_t>(&job)), "start the server");
  }
  // Deletes the endpoint: the server's receive fails with ObjectDeleted and serve() returns.
  void stop(Context& t) {
    endpoint.drop();
    expect_ok(t, thread->join(), "join the server");
    t.check(job.stopped_with == Error::ObjectDeleted, "serve() returned %s", error_name(job.stopped_with));
  }
};


void exercise(Context& t, CPtr endpoint) {
  sys::Connection<Bench> notes(endpoint);
  auto handle = notes->open("notes", 0);
  if (!expect_ok(t, handle, "open") || !t.check(handle->handle() == NotesServer::kHandle, "handle %lu", handle->handle())) return;
  expect_error(t, notes->open("other", 0), Error::InvalidArgument, "open an unknown file");
  const uint8_t text[] = "hello, typed world";
  auto written = notes->write(NotesServer::kHandle, 4, tessera::capnp::Data{text, sizeof(text)});
  if (expect_ok(t, written, "write")) t.check(written->written() == sizeof(text), "wrote %u", written->written());
  auto read = notes->read(NotesServer::kHandle, 4, 100);
  if (expect_ok(t, read, "read")) {
    auto data = read->data();
    t.check(data.ok() && data->size == sizeof(text) && memcmp(data->data, text, sizeof(text)) == 0, "read back %u bytes",
            data.ok() ? data->size : 0);
  }
  auto stat = notes->stat(NotesServer::kHandle);
  if (expect_ok(t, stat, "stat")) {
    auto name = stat->name();
    t.check(stat->size() == 4 + sizeof(text) && stat->mode() == 0644 && name.ok() &&
                *name == tessera::capnp::Text("notes"),
            "stat: size %lu mode %o", stat->size(), stat->mode());
  }
  expect_error(t, notes->read(99, 0, 1), Error::InvalidCapability, "read a bad handle");
  expect_ok(t, notes->close(NotesServer::kHandle), "close");
}
}  // namespace

namespace {
// The next number of a xorshift sequence: the tests' malformed and hostile messages, the same in
// every run.
uint64_t xorshift(uint64_t* seed) {
  *seed ^= *seed << 13;
  *seed ^= *seed >> 7;
  *seed ^= *seed << 17;
  return *seed;
}

// Sends 1,200 random, truncated and wrong-label messages; every one must be answered with an error.
void storm(Context& t, CPtr endpoint) {
  uint64_t seed = 0xC0FFEE1234567ull;
  auto next = [&seed] { return xorshift(&seed); };
  uint32_t answered_with_error = 0, kinds[4] = {};
  for (uint32_t i = 0; i < 1200; ++i) {
    IpcBuffer& b = buffer();
    const uint32_t length = static_cast<uint32_t>(next() % (kMessageWords + 1));
    for (uint32_t w = 0; w < length; ++w) b.msg[w] = next();
    uint64_t label = 0;
    const uint32_t kind = i % 4;
    ++kinds[kind];
    switch (kind) {
      case 0:  // another interface (or garbage in the label's upper bits)
        label = (next() & ((uint64_t{1} << 52) - 1)) | (uint64_t{1} << 40);
        break;
      case 1:  // this interface, a method that does not exist
        label = Bench::label(Bench::Method::Stat) + 1 + (next() % 1000);
        break;
      case 2:  // a real method, a root pointer that is a far pointer (never valid in one segment)
        label = Bench::label(static_cast<Bench::Method>(next() % Bench::kMethodCount));
        if (length == 0) b.msg[0] = 0;
        b.msg[0] = (b.msg[0] & ~uint64_t{3}) | 2;
        break;
      default:  // a real method, a root struct that claims more words than the message has
        label = Bench::label(static_cast<Bench::Method>(next() % Bench::kMethodCount));
        b.msg[0] = (uint64_t{static_cast<uint16_t>(length + 1 + next() % 50)} << 32);  // offset 0, data words > length
        break;
    }
    const uint32_t sent_length = kind >= 2 ? tessera::max<uint32_t>(length, 1) : length;
    Received reply{};
    const Error e = tessera::sys::call(endpoint, MessageInfo{label, sent_length, 0, 0}, &reply);
    if (!expect_is(t, e, Error::Ok, "call with a malformed message")) break;
    if (reply.info.label != 0 && reply.info.length_words == 0) {
      ++answered_with_error;
    } else {
      t.check(false, "message %u (kind %u, label 0x%lx, %u words) got reply label %lu with %u words", i, kind, label,
              sent_length, reply.info.label, reply.info.length_words);
      break;
    }
  }
  t.check(answered_with_error == 1200, "%u of 1200 malformed messages answered with an error", answered_with_error);
  t.note("kinds sent: %u wrong interface, %u unknown method, %u far root, %u truncated", kinds[0], kinds[1], kinds[2], kinds[3]);
}
}  // namespace

TESSERA_USER_TEST(SERVER0001, pass, "a typed client calls a Server<Bench> thread through the generated stubs") {
  Env env(t);
  ServerFixture<> server(env);
  if (t.failed() || !server.start(t)) return;
  exercise(t, server.endpoint);
  server.stop(t);
}

TESSERA_USER_TEST(SERVER0002, pass, "serve() answers 1,200 random, truncated and wrong-label messages with errors and keeps serving") {
  Env env(t);
  ServerFixture<> server(env);
  if (t.failed() || !server.start(t)) return;
  storm(t, server.endpoint);
  exercise(t, server.endpoint);  // still serving, state intact
  server.stop(t);
}

TESSERA_USER_TEST(SERVER0005, pass, "a server of flat handlers (arguments in, XReply out) answers as the reader/builder one, and the 1,200 malformed messages with errors") {
  Env env(t);
  ServerFixture<FlatNotesServer> server(env);
  if (t.failed() || !server.start(t)) return;
  exercise(t, server.endpoint);
  storm(t, server.endpoint);
  exercise(t, server.endpoint);  // still serving, state intact
  server.stop(t);
}

namespace {
using tessera::kv::Store;

// A Store server that records who called and keeps the notification of a watch; put/get/delete
// answer nothing useful. A watch with an empty key fails before keeping its capability.
class WatchServer : public Store::Server<WatchServer> {
 public:
  Result<void> put(Store::PutParams::Reader, Store::PutResults::Builder) { return {}; }
  Result<void> get(Store::GetParams::Reader, Store::GetResults::Builder) {
    note_unwrapped();
    return {};
  }
  // Makes the libsys calls that set the IPC buffer's receive fields for themselves (each fails at
  // once on the null capability): they must put back the receive slot serve() armed.
  Result<void> delete_(Store::DeleteParams::Reader, Store::DeleteResults::Builder) {
    sys::ReceivingCallTransport receiving(sys::ipc_buffer(), tessera::kSlotRootCNode, 0xF0F);
    (void)receiving.call(0, 1, 0, 0);
    (void)sys::channel_receive(0, false);
    return {};
  }
  Result<void> watch(Store::WatchParams::Reader params, Store::WatchResults::Builder) {
    last_badge = sys::current_request().badge();
    note_unwrapped();
    const tessera::capnp::Text key = TRY(params.key());
    (void)TRY(params.notify());
    if (key.size == 0) return Error::RangeError;  // the capability is not kept: serve() deletes it
    kept[kept_count++] = TRY(sys::current_request().keep_cap());
    return {};
  }
  uint64_t last_badge = 0;
  // What unwrapped_badge() said in the last get or watch.
  Error unwrapped_error = Error::EmptySlot;
  uint64_t unwrapped = 0;
  void note_unwrapped() {
    const Result<uint64_t> badge = sys::current_request().unwrapped_badge();
    unwrapped_error = badge.ok() ? Error::Ok : badge.error();
    unwrapped = badge.ok() ? *badge : 0;
  }
  CPtr kept[4] = {};
  uint32_t kept_count = 0;
};

// Slots at the top of the root CNode that Env never hands out: the server's receive slot and the
// slots it keeps capabilities in.
constexpr tessera::SlotRegion kServerSlots{0xF00, 0xF08};

struct WatchJob {
  CPtr endpoint;
  WatchServer* server;
  Error stopped_with;
};

void run_watch_server(uint64_t argument) {
  auto* job = reinterpret_cast<WatchJob*>(argument);
  static sys::SlotAllocator slots(kServerSlots);
  job->stopped_with = sys::serve(*job->server, job->endpoint,
                                 sys::ServeOptions{&slots, tessera::kSlotRootCNode, "watch-server"});
}
}  // namespace

// Issue: serve() could neither receive capabilities nor tell a method who called; every server
// that took a capability copied kv's loop by hand.
TESSERA_USER_TEST(SERVER0003, pass, "serve() hands a method the caller's badge and a capability it may keep; one it does not keep is deleted") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  OwnedCap client_cap{env, mint(env, endpoint, kAllRights, 0x33)};
  OwnedCap own{env, mint(env, endpoint, kAllRights, 0x44)};  // sent back to the server: unwrapped
  static WatchServer server;  // one test per process: it starts fresh
  WatchJob job{endpoint, &server, Error::Ok};
  auto thread = JoinableThread::create(env.memory, &env.tables, server_options());
  if (t.failed() || !expect_ok(t, thread, "create the server thread")) return;
  if (!expect_ok(t, thread->start(run_watch_server, reinterpret_cast<uint64_t>(&job)), "start the server")) return;
  {
    sys::Connection<Store> store(client_cap);
    expect_ok(t, store->watch("k", CapRef{notification}), "watch: the server keeps the notification");
    t.check(server.last_badge == 0x33, "the method saw badge 0x%lx, expected 0x33", server.last_badge);
    t.check(server.kept_count == 1 && server.kept[0] >= kServerSlots.start && server.kept[0] < kServerSlots.end,
            "kept %u capabilities (slot %lu)", server.kept_count, server.kept[0]);
    if (server.kept_count == 1) {
      t.check(sys::signal(server.kept[0]) == Error::Ok, "the kept capability does not work");
      uint64_t word = ~uint64_t{0};
      t.check(sys::poll(notification, &word) == Error::Ok, "poll the notification");
    }
    // Not kept: deleted after the method, so the receive slot is free for the next one.
    expect_error(t, store->watch("", CapRef{notification}), Error::RangeError, "a watch the server refuses");
    for (CPtr slot = kServerSlots.start; slot < kServerSlots.end; ++slot) {
      const bool kept = server.kept_count == 1 && slot == server.kept[0];
      if (!kept) t.check(env.is_empty(slot), "slot %lu still holds a capability nobody kept", slot);
    }
    expect_ok(t, store->watch("k2", CapRef{notification}), "a second capability arrives after the refused one");
    t.check(server.kept_count == 2, "kept %u capabilities", server.kept_count);
    // serve() arms its receive slot once: a method's own receiving calls leave it armed.
    expect_ok(t, store->delete_("k"), "a method making receiving calls of its own");
    expect_ok(t, store->watch("k3", CapRef{notification}), "a capability arrives after that method");
    t.check(server.kept_count == 3, "kept %u capabilities", server.kept_count);
    // A capability naming the server's own endpoint arrives unwrapped, as its badge, for that
    // request only: the next request, without one, has none.
    (void)store->watch("u", CapRef{own});
    t.check(server.unwrapped_error == Error::Ok && server.unwrapped == 0x44, "the watch saw unwrapped badge %s 0x%lx",
            error_name(server.unwrapped_error), server.unwrapped);
    expect_ok(t, store->get("k"), "a get after it");
    t.check(server.unwrapped_error == Error::MissingCapability, "the next request saw unwrapped badge %s 0x%lx",
            error_name(server.unwrapped_error), server.unwrapped);
  }
  client_cap.drop();  // the last caps to the endpoint go: the server's receive fails, serve() returns
  own.drop();
  endpoint.drop();
  expect_ok(t, thread->join(), "join the server");
  t.check(job.stopped_with == Error::ObjectDeleted, "serve() returned %s", error_name(job.stopped_with));
  for (uint32_t i = 0; i < server.kept_count; ++i) expect_ok(t, env.root().delete_(server.kept[i], kSlotDepth), "delete a kept cap");
}

namespace {
// A server loop of its own, as the memory server's: it receives again without replying.
struct ReceiveAgainJob {
  CPtr endpoint;
  Error first_unwrapped_error, second_unwrapped_error, third_unwrapped_error;
  uint64_t first_unwrapped;
  bool second_has_cap, third_has_cap;
  bool done;
};

void receive_again(uint64_t argument) {
  auto* job = reinterpret_cast<ReceiveAgainJob*>(argument);
  static sys::SlotAllocator slots(kServerSlots);
  sys::EndpointServerTransport transport(job->endpoint, sys::ServeOptions{&slots, tessera::kSlotRootCNode, "again"});
  tessera::capnp::Request request;
  const auto unwrapped = [&](Error* e) {
    const Result<uint64_t> badge = transport.context().unwrapped_badge();
    *e = badge.ok() ? Error::Ok : badge.error();
    return badge.ok() ? *badge : 0;
  };
  if (transport.receive(&request) == Error::Ok) job->first_unwrapped = unwrapped(&job->first_unwrapped_error);
  if (transport.receive(&request) == Error::Ok) {  // no reply to the first
    (void)unwrapped(&job->second_unwrapped_error);
    job->second_has_cap = transport.context().has_cap();
  }
  if (transport.receive(&request) == Error::Ok) {  // nor to the second, whose capability nobody kept
    (void)unwrapped(&job->third_unwrapped_error);
    job->third_has_cap = transport.context().has_cap();
  }
  __atomic_store_n(&job->done, true, __ATOMIC_RELEASE);
}
}  // namespace

// The review of issue 18's serve() loop: a request's unwrapped badge was forgotten only when it
// was replied to, so a server receiving again without a reply (the memory server, after a fault
// it cannot resolve) handed the next client the last one's region badge.
TESSERA_USER_TEST(SERVER0007, pass, "a server that receives again without replying shows the next request neither the last one's unwrapped badge nor its capability") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  OwnedCap own{env, mint(env, endpoint, kAllRights, 0x55)};  // sent to its own endpoint: unwrapped
  OwnedCap notification{env, env.make(ObjectType::Notification)};
  static ReceiveAgainJob job;
  job = ReceiveAgainJob{endpoint, Error::EmptySlot, Error::EmptySlot, Error::EmptySlot, 0, false, true, false};
  auto thread = JoinableThread::create(env.memory, &env.tables, server_options());
  if (t.failed() || !expect_ok(t, thread, "create the server thread")) return;
  if (!expect_ok(t, thread->start(receive_again, reinterpret_cast<uint64_t>(&job)), "start the server")) return;
  ipctest::let_run();
  buffer().caps_or_badges[0] = own;
  expect_is(t, sys::send(endpoint, MessageInfo{1, 0, 1, 0}), Error::Ok, "send the endpoint's own capability");
  ipctest::let_run();
  buffer().caps_or_badges[0] = notification;
  expect_is(t, sys::send(endpoint, MessageInfo{1, 0, 1, 0}), Error::Ok, "send a capability it moves");
  ipctest::let_run();
  expect_is(t, sys::send(endpoint, MessageInfo{1, 0, 0, 0}), Error::Ok, "send nothing");
  expect_ok(t, thread->join(), "join the server");
  t.check(job.first_unwrapped_error == Error::Ok && job.first_unwrapped == 0x55, "the first request's badge: %s 0x%lx",
          error_name(job.first_unwrapped_error), job.first_unwrapped);
  t.check(job.second_unwrapped_error == Error::MissingCapability, "the second request saw an unwrapped badge (%s)",
          error_name(job.second_unwrapped_error));
  t.check(job.second_has_cap, "the second request's capability did not arrive");
  t.check(job.third_unwrapped_error == Error::MissingCapability && !job.third_has_cap,
          "the third request saw the second's capability (%s, has_cap %d)", error_name(job.third_unwrapped_error),
          job.third_has_cap);
  for (CPtr slot = kServerSlots.start; slot < kServerSlots.end; ++slot) {
    t.check(env.is_empty(slot), "slot %lu still holds a capability nobody kept", slot);
  }
}

namespace {
constexpr uint64_t kCanary = 0xCA4A'7155'0000'0000ull;  // | word index

void fill_canary(IpcBuffer& b, uint32_t from) {
  for (uint32_t i = from; i < kMessageWords; ++i) b.msg[i] = kCanary | i;
}
// The first message word at or after `from` that is no longer the canary, or kMessageWords.
uint32_t first_touched(const IpcBuffer& b, uint32_t from) {
  for (uint32_t i = from; i < kMessageWords; ++i) {
    if (b.msg[i] != (kCanary | i)) return i;
  }
  return kMessageWords;
}

struct CanaryJob {
  CPtr endpoint;
  IpcBuffer* buffer;  // the server thread's IPC buffer, canary in every message word
  Error stopped_with;
};

void run_canary_server(uint64_t argument) {
  auto* job = reinterpret_cast<CanaryJob*>(argument);
  job->buffer = sys::ipc_buffer();
  fill_canary(*job->buffer, 0);
  NotesServer server;
  job->stopped_with = sys::serve(server, job->endpoint);
}
}  // namespace

// Issue 18: a typed request and reply of at most four words travel in the message registers only.
// serve() reads the request from the registers and sends the reply from where it was built, and
// the client stub writes nothing past the words it sends: a regression that copies small messages
// through the IPC buffer again (the copies the typed path used to make) changes the canaries.
TESSERA_USER_TEST(SERVER0004, pass, "typed calls of at most four words leave the server's IPC buffer and the client's words past 4 alone") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  CanaryJob job{endpoint, nullptr, Error::Ok};
  auto thread = JoinableThread::create(env.memory, &env.tables, server_options());
  if (t.failed() || !expect_ok(t, thread, "create the server thread")) return;
  if (!expect_ok(t, thread->start(run_canary_server, reinterpret_cast<uint64_t>(&job)), "start the server")) return;
  {
    sys::Connection<Bench> notes(endpoint);
    IpcBuffer& mine = buffer();
    fill_canary(mine, 0);
    // open: 4 request words (root, flags, the path's pointer, "notes\0"), 2 reply words.
    auto handle = notes->open("notes", 0);
    if (expect_ok(t, handle, "open") && t.check(handle->handle() == NotesServer::kHandle, "handle %lu", handle->handle())) {
      // close: 2 request words, an empty reply; a refused one: an error label, no words.
      expect_ok(t, notes->close(NotesServer::kHandle), "close");
      expect_error(t, notes->close(99), Error::InvalidCapability, "close a bad handle");
      t.check(first_touched(mine, tessera::kMessageRegisters) == kMessageWords,
              "the client stub wrote message word %u of its IPC buffer for a message of at most 4 words",
              first_touched(mine, tessera::kMessageRegisters));
      t.check(job.buffer != nullptr && first_touched(*job.buffer, 0) == kMessageWords,
              "serve() touched message word %u of its IPC buffer for messages of at most 4 words",
              job.buffer != nullptr ? first_touched(*job.buffer, 0) : 0);
      // The control: a longer reply does go through the buffer from word 4 on (so the check
      // above can see a copy).
      auto stat = notes->stat(NotesServer::kHandle);
      if (expect_ok(t, stat, "stat: a reply of 5 words")) {
        t.check(job.buffer != nullptr && first_touched(*job.buffer, 0) == tessera::kMessageRegisters,
                "a 5-word reply left its words 4 and up out of the server's IPC buffer (first touched: %u)",
                job.buffer != nullptr ? first_touched(*job.buffer, 0) : 0);
      }
    }
  }
  endpoint.drop();
  expect_ok(t, thread->join(), "join the server");
  t.check(job.stopped_with == Error::ObjectDeleted, "serve() returned %s", error_name(job.stopped_with));
}

namespace {
// A hostile server: answers the i-th call with reply i of a fixed script, written with the raw
// system calls. Every fourth reply is a well-formed Bench.stat reply (size i, mode 0644, name "n"
// and i's low byte as a letter); the others are random words of a random length (0-120), with
// the usual root word or a neighbour of it, sometimes an error label or one out of the Error enum.
struct HostileJob {
  CPtr endpoint;
  Error stopped_with;
};

constexpr uint32_t kHostileReplies = 1200;

// Reply `i` of the script into `words`, its length and label; `seed` carries the script from one
// reply to the next (the server and the client each run it).
void hostile_reply(uint32_t i, uint64_t* seed, uint64_t* words, uint32_t* length, uint64_t* label) {
  *label = 0;
  if (i % 4 == 0) {
    // size, mode, then the name: a byte list of 3 (two letters and the NUL) right after.
    words[0] = tessera::capnp::wire::make_struct(0, 2, 1);
    words[1] = i;
    words[2] = 0644;
    words[3] = (uint64_t{3} << 35) | (uint64_t{2} << 32) | 1;
    words[4] = 'n' | (uint64_t{'a' + i % 26} << 8);
    *length = 5;
    return;
  }
  *length = static_cast<uint32_t>(xorshift(seed) % (kMessageWords + 1));
  for (uint32_t w = 0; w < *length; ++w) words[w] = xorshift(seed) >> (xorshift(seed) % 64);
  const uint64_t pick = xorshift(seed) % 8;
  if (*length > 0 && pick < 4) {
    words[0] = tessera::capnp::wire::make_struct(static_cast<int32_t>(pick) - 1, static_cast<uint16_t>(1 + pick % 3),
                                                 static_cast<uint16_t>(pick % 2));
  }
  if (pick == 5) *label = 1 + xorshift(seed) % 200;  // an Error, or a number no Error has
}

constexpr uint64_t kHostileSeed = 0x5EED0F5E12E11ull;

void run_hostile_server(uint64_t argument) {
  auto* job = reinterpret_cast<HostileJob*>(argument);
  uint64_t seed = kHostileSeed;
  Received request{};
  Error e = tessera::sys::recv(job->endpoint, &request);
  for (uint32_t i = 0; e == Error::Ok; ++i) {
    uint32_t length = 0;
    uint64_t label = 0;
    hostile_reply(i, &seed, buffer().msg, &length, &label);
    e = tessera::sys::reply_recv(job->endpoint, MessageInfo{label, length, 0, 0}, &request);
  }
  job->stopped_with = e;
}
}  // namespace

TESSERA_USER_TEST(SERVER0006, pass, "a typed client reads 1,200 hostile replies (random words and lengths, bent roots, bad labels) as a reader of the same words does, and well-formed ones exactly") {
  Env env(t);
  OwnedCap endpoint{env, env.make(ObjectType::Endpoint)};
  HostileJob job{endpoint, Error::Ok};
  auto thread = JoinableThread::create(env.memory, &env.tables, server_options());
  if (t.failed() || !expect_ok(t, thread, "create the server thread")) return;
  if (!expect_ok(t, thread->start(run_hostile_server, reinterpret_cast<uint64_t>(&job)), "start the server")) return;
  {
    sys::Connection<Bench> client(endpoint);
    uint32_t exact = 0, refused = 0, read = 0, bad_fields = 0;
    uint64_t seed = kHostileSeed;  // the server's script, run alongside: what reply i is
    static uint64_t expected[kMessageWords];
    for (uint32_t i = 0; i < kHostileReplies && !t.failed(); ++i) {
      uint32_t length = 0;
      uint64_t label = 0;
      hostile_reply(i, &seed, expected, &length, &label);
      auto stat = client->stat(NotesServer::kHandle);
      if (i % 4 == 0) {
        if (!expect_ok(t, stat, "well-formed stat reply")) break;
        const char letters[] = {'n', static_cast<char>('a' + i % 26)};
        auto name = stat->name();
        t.check(stat->size() == i && stat->mode() == 0644 && name.ok() && *name == tessera::capnp::Text(letters, 2),
                "reply %u: size %lu mode %o", i, stat->size(), stat->mode());
        ++exact;
        continue;
      }
      // What a reader of the same words says (libcapnp's checks, tests/host/abi): the stub must
      // agree on the error, or on every field.
      if (label != 0) {
        t.check(stat.error() == tessera::capnp::error_from_label(label, tessera::kErrorCount),
                "reply %u: label %lu read as %s", i, label, error_name(stat.error()));
        ++refused;
        continue;
      }
      if (length == 0) {
        t.check(stat.ok() && stat->size() == 0 && stat->mode() == 0 && stat->name().ok() && stat->name()->size == 0,
                "reply %u: an empty reply is the all-default results", i);
        ++read;
        continue;
      }
      tessera::capnp::MessageReader reference(expected, length, 0);
      const auto root = reference.root();
      if (!t.check(stat.ok() == root.ok(), "reply %u (%u words): the stub says %s, a reader %s", i, length,
                   error_name(stat.error()), error_name(root.error()))) {
        break;
      }
      if (!root.ok()) {
        t.check(stat.error() == root.error(), "reply %u: %s, a reader %s", i, error_name(stat.error()), error_name(root.error()));
        ++refused;
        continue;
      }
      const Bench::StatResults::Reader want(*root);
      auto name = stat->name();
      auto want_name = want.name();
      t.check(stat->size() == want.size() && stat->mode() == want.mode() && name.ok() == want_name.ok() &&
                  (!name.ok() || *name == *want_name),
              "reply %u: fields differ from a reader's", i);
      bad_fields += !name.ok();
      ++read;
    }
    t.check(exact == kHostileReplies / 4, "%u well-formed replies read exactly", exact);
    t.check(refused > 100 && read > 100, "hostile replies: %u refused, %u read (%u with a bad name)", refused, read, bad_fields);
    t.note("%u exact, %u refused, %u read (%u with a bad name)", exact, refused, read, bad_fields);
  }
  endpoint.drop();
  expect_ok(t, thread->join(), "join the server");
  t.check(job.stopped_with == Error::ObjectDeleted, "the hostile server stopped with %s", error_name(job.stopped_with));
}
