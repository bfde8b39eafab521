// Servers and typed clients of Cap'n Proto protocols over endpoints.
//
// A server is one class deriving from the generated `Protocol::Server<Impl>` with one method per
// schema method; `serve(impl, endpoint)` runs its loop: Recv, the generated dispatch (which
// decodes every request without trusting it), ReplyRecv with the result. A malformed request,
// a label of another interface or an unknown method is answered with an error label and the
// loop goes on; nothing a client sends can stop or crash it.
//
//   class Files : public abibench::Bench::Server<Files> { ... one method per schema method ... };
//   Files files;
//   Error why = tessera::sys::serve(files, endpoint);   // returns only when the endpoint fails
//
// A client is the generated `Protocol::Client` over an endpoint: Connection<Protocol>.
//
//   tessera::sys::Connection<abibench::Bench> files(endpoint);
//   auto handle = files->open("hello", 0);
#pragma once

#include <stdint.h>

#include <tessera/capnp/transport.h>
#include <tessera/error.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>

namespace tessera::sys {

// The server side of one endpoint in the calling thread. Requests are copied out of the IPC
// buffer (so the dispatcher reads them while it writes the reply into the buffer). Use it from
// one thread only.
class EndpointServerTransport {
 public:
  explicit EndpointServerTransport(CPtr endpoint) : endpoint_(endpoint) {}

  // Waits for the first request. The kernel's errors (bad endpoint, endpoint deleted).
  Error receive(capnp::Request* request);
  // Replies to the current request with `reply` (already in reply_buffer()) and waits for the
  // next one.
  Error reply_receive(const capnp::Reply& reply, capnp::Request* request);
  // Where the dispatcher writes the reply: this thread's IPC buffer.
  capnp::ReplyBuffer reply_buffer();
  // The badge of the capability the current request came through (tells clients apart).
  uint64_t badge() const { return badge_; }
  // Requests received so far.
  uint64_t requests() const { return requests_; }

 private:
  Error finish_receive(Error e, const Received& r, capnp::Request* request);

  CPtr endpoint_;
  uint64_t badge_ = 0;
  uint64_t requests_ = 0;
  capnp::Word words_[capnp::kMaxMessageWords] = {};
  // Replies are built here, not in the IPC buffer: a handler that makes a kernel call or IPC while
  // handling a request would overwrite a reply under construction there. Copied out at reply time.
  capnp::Word reply_words_[capnp::kMaxMessageWords] = {};
  uint64_t reply_caps_[capnp::kMaxExtraCaps] = {};
};

// Serves requests on `endpoint` with `server` (anything with the generated dispatch) until a
// receive fails, and returns that error (ObjectDeleted when the endpoint is deleted).
template <typename Server>
Error serve(Server& server, CPtr endpoint) {
  EndpointServerTransport transport(endpoint);
  capnp::Request request;
  Error e = transport.receive(&request);
  while (e == Error::Ok) {
    const capnp::Reply reply = server.dispatch(request, transport.reply_buffer());
    e = transport.reply_receive(reply, &request);
  }
  return e;
}

// A typed client of `Protocol` on `endpoint`, using the IPC buffer of the thread that made it
// (use it from that thread). `->` reaches the generated stubs; each returns Result<Results::Reader>
// valid until the next call.
template <typename Protocol>
class Connection {
 public:
  using Client = typename Protocol::template Client<CallTransport>;
  explicit Connection(CPtr endpoint) : transport_(ipc_buffer()), client_(transport_, endpoint) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Client* operator->() { return &client_; }
  Client& client() { return client_; }

 private:
  CallTransport transport_;
  Client client_;
};

}  // namespace tessera::sys
