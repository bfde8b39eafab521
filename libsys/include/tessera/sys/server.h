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
#include <tessera/meta.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>

namespace tessera::sys {

// A process's own CNode (tessera/sys/process.h: kProcessSlotCNode).
constexpr CPtr kServeDefaultCNode = kProcessSlotCNode;

// What serve() needs to accept capabilities: where the server's own CSpace root is (a cptr in
// it) and an allocator of free slots in that CNode. Without `slots`, requests that carry a
// capability are still answered, but the capability is not received.
struct ServeOptions {
  SlotAllocator* slots = nullptr;
  CPtr cnode = kServeDefaultCNode;   // the CNode the slots belong to (a process's own: slot 1)
  const char* name = "server";      // for the one-line log of unknown methods
};

// The request a method is handling (current_request()): who sent it and the capability that
// came with it. A capability arrives in a receive slot serve() owns; the method keeps it with
// keep_cap() (moved into a slot of its own), otherwise serve() deletes it after the method
// returns, so a capability sent to a method that does not want it cannot pile up or block the
// next request.
class RequestContext {
 public:
  // The badge of the capability the request came through: init gives every client its own
  // (docs/writing-a-server.md), so it identifies the client.
  uint64_t badge() const { return badge_; }
  // Whether a capability arrived with the request (not unwrapped: a cap naming this very
  // endpoint arrives as its badge, see docs/ipc.md).
  bool has_cap() const { return cap_slot_ != 0; }
  // Moves the capability that came with the request into a free slot of the server's CNode and
  // returns that slot, which the method now owns (delete it when done). EmptySlot when none came,
  // NotEnoughMemory when the server has no free slot.
  Result<CPtr> keep_cap();
  // The badge of the capability that came with the request when it names this server's own
  // endpoint (the kernel unwraps it: docs/ipc.md) — how a server recognises its own objects
  // passed back to it (the memory server's regions). MissingCapability when none came unwrapped.
  Result<uint64_t> unwrapped_badge() const {
    if (!has_unwrapped_) return Error::MissingCapability;
    return unwrapped_badge_;
  }

 private:
  friend class EndpointServerTransport;
  uint64_t badge_ = 0;
  uint64_t unwrapped_badge_ = 0;
  bool has_unwrapped_ = false;
  CPtr cap_slot_ = 0;             // the receive slot while it holds this request's capability
  bool came_with_caps_ = false;   // whether capabilities (moved or unwrapped) came with this request
  SlotAllocator* slots_ = nullptr;
  CPtr cnode_ = 0;
};

// The request being handled by a method that serve() called on this thread (valid inside the
// method only).
RequestContext& current_request();

// The server side of one endpoint in the calling thread (its IPC buffer is the one of the thread
// that made the transport). A request's words 0-3 arrive in registers and are stored straight
// into the request words the dispatcher reads; a reply's words 0-3 leave in registers straight
// from the reply words it was built in: a message of at most four words (kMessageRegisters)
// never touches the IPC buffer. Only longer messages go through it (words 4 and up), copied in
// and out, since a method making a kernel call or IPC of its own overwrites the buffer while it
// still reads its request or builds its reply. Use it from one thread only.
class EndpointServerTransport {
 public:
  explicit EndpointServerTransport(CPtr endpoint, const ServeOptions& options = {});
  ~EndpointServerTransport();
  EndpointServerTransport(const EndpointServerTransport&) = delete;
  EndpointServerTransport& operator=(const EndpointServerTransport&) = delete;

  // Waits for the first request. The kernel's errors (bad endpoint, endpoint deleted); NotEnoughMemory
  // when capabilities were asked for (options.slots) but no slot is free for receiving them.
  Error receive(capnp::Request* request);
  // Replies to the current request with `reply` (already in reply_buffer()) and waits for the
  // next one. A capability of the current request that the method did not keep is deleted first.
  Error reply_receive(const capnp::Reply& reply, capnp::Request* request);
  // Where every request's words are (Request::words of each request received).
  const capnp::Word* request_words() const { return words_; }
  // Where the dispatcher writes the reply (the words it is sent from).
  capnp::ReplyBuffer reply_buffer() {
    return capnp::ReplyBuffer{reply_words_, capnp::kMaxMessageWords, reply_caps_, capnp::kMaxExtraCaps};
  }
  // The badge of the capability the current request came through (tells clients apart).
  uint64_t badge() const { return context_.badge(); }
  // The current request's context (what current_request() returns while a method runs).
  RequestContext& context() { return context_; }
  // Logs once (the first time) that `label` was answered IllegalOperation: a stale client calling a
  // method this server does not have, most likely.
  void note_refused(uint64_t label);

 private:
  Error finish_receive(Error e, const SyscallRegisters& regs, capnp::Request* request);
  void receive_rest(uint64_t info_word, uint32_t length);
  void send_rest(uint32_t length, uint32_t caps);
  void note_caps(const MessageInfo& info);
  void arm_receive_slot();
  void end_caps();

  IpcBuffer* buffer_;
  CPtr endpoint_;
  ServeOptions options_;
  // What arm_receive_slot writes into the IPC buffer's receive fields: the receive slot (index 0:
  // none) with its CNode and depth.
  ReceiveFields receive_;
  // What the fields held before (put back when the transport goes, with its receive slot).
  ReceiveFields saved_fields_;
  bool logged_refusal_ = false;
  RequestContext context_;
  capnp::Word words_[capnp::kMaxMessageWords] = {};
  // Replies are built here, not in the IPC buffer: a handler that makes a kernel call or IPC while
  // handling a request would overwrite a reply under construction there. Copied out at reply time.
  capnp::Word reply_words_[capnp::kMaxMessageWords] = {};
  uint64_t reply_caps_[capnp::kMaxExtraCaps] = {};
};

// The kernel reads the receive fields of the IPC buffer at every receive. They are set once, before
// the first: every libsys call that sets them for itself puts them back after (ReceiveFieldsScope,
// tessera/sys/ipc.h), and so must a method that sets them by hand.
inline void EndpointServerTransport::arm_receive_slot() { receive_.put(buffer_); }

// The request's words 0-3 are the registers the system call returned: they go straight into the
// request words (whatever the registers hold past the message's length is never read: the
// reader is bounded by the length). Words 4 and up are copied out of the IPC buffer. Inline in
// both receives (and reply_receive in the serve loop): a request of at most four words without
// capabilities (the usual one) costs the four stores, the badge and the request.
__attribute__((always_inline)) inline Error EndpointServerTransport::finish_receive(Error e, const SyscallRegisters& regs, capnp::Request* request) {
  if (e != Error::Ok) [[unlikely]] return e;
  const MessageInfo info = MessageInfo::decode(regs.info);
  uint32_t length = info.length_words;
  for (uint32_t i = 0; i < kMessageRegisters; ++i) words_[i] = capnp::Word{regs.mr[i]};
  context_.badge_ = regs.cap;
  // Words past the registers or capabilities: the info word's length (bits 0-6) and capability
  // count (bits 7-8) read together as one number, over kMessageRegisters if either is.
  uint32_t caps = 0;
  if ((regs.info & 0x1FF) > kMessageRegisters) [[unlikely]] {
    length = min(length, kMessageWords);  // the info word's 7 bits can say more than the buffer holds
    caps = info.extra_caps;
    receive_rest(regs.info, length);
  }
  *request = capnp::Request{info.label, words_, length, caps};
  return Error::Ok;
}

// The reply's words 0-3 leave in registers straight from reply_words_; only words 4 and up and
// the capabilities are copied into the IPC buffer (send_rest, out of the usual path). Inline: in
// serve()'s loop the reply and the next request stay in registers between the dispatcher and the
// system call.
__attribute__((always_inline)) inline Error EndpointServerTransport::reply_receive(const capnp::Reply& reply, capnp::Request* request) {
  // A capability the method did not keep must not block the next request, nor an unwrapped badge
  // be read as the next request's (set apart from the usual request, so that one needs no reset).
  if (context_.came_with_caps_) [[unlikely]] end_caps();
  // The info word, built apart on each path: an error is its label alone, a usual reply its length.
  uint64_t info = 0;
  if (reply.error == Error::Ok) [[likely]] {
    info = reply.length_words;
    if ((reply.length_words > kMessageRegisters) | (reply.cap_count != 0)) [[unlikely]] {
      const uint32_t length = min(reply.length_words, kMessageWords);
      const uint32_t caps = min(reply.cap_count, kMaxTransferCaps);
      send_rest(length, caps);
      info = MessageInfo{0, length, caps, 0}.encode();
    }
  } else {
    info = MessageInfo{static_cast<uint64_t>(reply.error), 0, 0, 0}.encode();
  }
  SyscallRegisters regs{endpoint_, info, {reply_words_[0], reply_words_[1], reply_words_[2], reply_words_[3]}};
  const Error e = raw_syscall(Syscall::ReplyRecv, regs);
  return finish_receive(e, regs, request);
}

namespace detail {
// Makes `context` what current_request() returns while it lives.
class CurrentRequest {
 public:
  explicit CurrentRequest(RequestContext& context);
  ~CurrentRequest();
  CurrentRequest(const CurrentRequest&) = delete;
  CurrentRequest& operator=(const CurrentRequest&) = delete;

 private:
  RequestContext* previous_;
};
}  // namespace detail

// Serves requests on `endpoint` with `server` (anything with the generated dispatch) until a
// receive fails, and returns that error (ObjectDeleted when the endpoint is deleted). With
// options.slots it accepts one capability per request (current_request().keep_cap()); every
// method can read the caller's badge with current_request().badge().
template <typename Server>
Error serve(Server& server, CPtr endpoint, const ServeOptions& options = {}) {
  EndpointServerTransport transport(endpoint, options);
  // current_request() is this transport's context for as long as the loop runs (its fields are
  // those of the request being handled).
  detail::CurrentRequest current(transport.context());
  // The first request is received into a copy, so that `request` never has its address taken and
  // stays in registers between reply_receive and the dispatcher.
  capnp::Request first;
  Error e = transport.receive(&first);
  capnp::Request request = first;
  while (e == Error::Ok) {
    // Every request's words are the transport's: said here, the dispatcher sees the words it reads
    // as the ones reply_receive just stored the registers into, not a pointer from the loop before.
    request.words = transport.request_words();
    const capnp::Reply reply = server.dispatch(request, transport.reply_buffer());
    if (reply.error == Error::IllegalOperation) [[unlikely]] transport.note_refused(request.label);
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
