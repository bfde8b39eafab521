// libsys server tests (suite `user`): a Bench server (abi/test/bench.capnp) written as one class
// and run by tessera::sys::serve in a thread, called through the generated client stubs, and
// kept alive through a storm of malformed messages.
#include <stdint.h>

#include <tessera/abi/bench.capnp.h>
#include <tessera/string.h>
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

struct ServerJob {
  CPtr endpoint;
  Error stopped_with;
};

void run_notes_server(uint64_t argument) {
  auto* job = reinterpret_cast<ServerJob*>(argument);
  NotesServer server;
  job->stopped_with = sys::serve(server, job->endpoint);
}

sys::ThreadOptions server_options() {
  sys::ThreadOptions options;
  options.window = kWindows;
  return options;
}

// Starts a NotesServer thread on a fresh endpoint; the test deletes the endpoint to stop it.
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
    return thread.ok() && expect_ok(t, thread->start(run_notes_server, reinterpret_cast<uint64_t>(&job)), "start the server");
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

TESSERA_USER_TEST(SERVER0001, pass, "a typed client calls a Server<Bench> thread through the generated stubs") {
  Env env(t);
  ServerFixture server(env);
  if (t.failed() || !server.start(t)) return;
  exercise(t, server.endpoint);
  server.stop(t);
}

TESSERA_USER_TEST(SERVER0002, pass, "serve() answers 1,200 random, truncated and wrong-label messages with errors and keeps serving") {
  Env env(t);
  ServerFixture server(env);
  if (t.failed() || !server.start(t)) return;
  uint64_t seed = 0xC0FFEE1234567ull;
  auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
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
    const Error e = tessera::sys::call(server.endpoint, MessageInfo{label, sent_length, 0, 0}, &reply);
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
  exercise(t, server.endpoint);  // still serving, state intact
  server.stop(t);
}
