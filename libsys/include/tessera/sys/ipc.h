// Synchronous IPC on endpoints and signalling on notifications (seL4 semantics; docs/ipc.md).
//
// A message is a MessageInfo (label, length in words, extra caps) plus words: words 0-3 travel in
// registers, all of them are also in the thread's IPC buffer (`msg`), which is where these wrappers
// read and write them. Extra capabilities to send are cptrs in `caps_or_badges`; a received cap
// lands in the slot named by `receive_cnode/index/depth`; badges of unwrapped caps come back in
// `caps_or_badges` with `caps_unwrapped` bits set.
#pragma once

#include <stdint.h>

#include <tessera/capnp/transport.h>
#include <tessera/error.h>
#include <tessera/ipc_buffer.h>
#include <tessera/result.h>
#include <tessera/sys/syscall.h>

namespace tessera::sys {

using capnp::MessageInfo;

// What a receive returns: the message info and the sender's badge.
struct Received {
  MessageInfo info;
  uint64_t badge;
};

// This thread's IPC buffer (set by the start-up code from BootInfo or by the thread library).
IpcBuffer* ipc_buffer();
void set_ipc_buffer(IpcBuffer* buffer);

// The receive fields of an IPC buffer: where a capability that comes with a message lands (the
// CNode, the slot and the depth, in their order there). All zero: nowhere, none is received.
struct ReceiveFields {
  uint64_t cnode = 0;
  uint64_t index = 0;
  uint64_t depth = 0;

  static ReceiveFields of(const IpcBuffer* buffer) {
    return ReceiveFields{buffer->receive_cnode, buffer->receive_index, buffer->receive_depth};
  }
  void put(IpcBuffer* buffer) const {
    buffer->receive_cnode = cnode;
    buffer->receive_index = index;
    buffer->receive_depth = depth;
  }
};

// The receive fields of an IPC buffer set for as long as this lives, and put back as they were
// after: every libsys call that receives does so, so that the fields a caller armed (serve() arms
// its receive slot once, before its first request) stay armed across it. Code that sets the
// fields itself must put them back as well.
class ReceiveFieldsScope {
 public:
  ReceiveFieldsScope(IpcBuffer* buffer, ReceiveFields fields) : buffer_(buffer), saved_(ReceiveFields::of(buffer)) {
    fields.put(buffer);
  }
  ~ReceiveFieldsScope() { saved_.put(buffer_); }
  ReceiveFieldsScope(const ReceiveFieldsScope&) = delete;
  ReceiveFieldsScope& operator=(const ReceiveFieldsScope&) = delete;

 private:
  IpcBuffer* buffer_;
  ReceiveFields saved_;
};

// The one path of every IPC system call in user space (the wrappers below and CallTransport):
// loads message registers 0-3 from `buffer`'s words, makes the system call `number` on `cap` with
// the message info word `info`, and when `out` is given stores the reply's info and badge there
// and the received registers back into `buffer` (up to the received length). A null `buffer`
// passes and keeps no words (signals and waits on notifications).
inline Error ipc_syscall(IpcBuffer* buffer, Syscall number, uint64_t cap, uint64_t info, Received* out) {
  SyscallRegisters regs{};
  regs.cap = cap;
  regs.info = info;
  if (buffer != nullptr) {
    for (uint32_t i = 0; i < kMessageRegisters; ++i) regs.mr[i] = buffer->msg[i];
  }
  const Error e = raw_syscall(number, regs);
  if (e != Error::Ok) return e;
  if (out != nullptr) {
    out->info = MessageInfo::decode(regs.info);
    out->badge = regs.cap;
    if (buffer != nullptr) {
      for (uint32_t i = 0; i < kMessageRegisters && i < out->info.length_words; ++i) buffer->msg[i] = regs.mr[i];
    }
  }
  return Error::Ok;
}

// Endpoint operations. `Error` results are the system call's own (bad cptr, missing right, the
// endpoint was deleted while waiting: ObjectDeleted; non-blocking with no partner: WouldBlock).
Error send(uint64_t endpoint, MessageInfo info);
Error nb_send(uint64_t endpoint, MessageInfo info);
Error recv(uint64_t endpoint, Received* out);
Error nb_recv(uint64_t endpoint, Received* out);
Error call(uint64_t endpoint, MessageInfo info, Received* reply);
Error reply(MessageInfo info);
Error reply_recv(uint64_t endpoint, MessageInfo reply_info, Received* out);

// Notification operations: signal ORs the capability's badge into the word; wait blocks until the
// word is non-zero and returns (and clears) it; poll returns it without blocking (0 if none).
Error signal(uint64_t notification);
Error wait(uint64_t notification, uint64_t* word);
Error poll(uint64_t notification, uint64_t* word);

// The client transport of user space: the ClientTransport (tessera/capnp/transport.h) under every
// generated client stub, for kernel objects and server protocols alike
// (`abi::Tcb::Client<CallTransport>`, Connection<Protocol> in tessera/sys/server.h). The stub
// writes its message into the IPC buffer, `call` invokes the capability with the Call system call
// through ipc_syscall, and the reply is read from the same buffer.
class CallTransport {
 public:
  explicit CallTransport(IpcBuffer* buffer) : buffer_(buffer) {}

  capnp::Word* send_words() { return reinterpret_cast<capnp::Word*>(buffer_->msg); }
  uint64_t* send_caps() { return buffer_->caps_or_badges; }
  const capnp::Word* reply_words() const { return reinterpret_cast<const capnp::Word*>(buffer_->msg); }

  // Calls `destination` (a capability pointer) with `words` message words and `caps` extra caps
  // (already in the buffer). The system call's own error (e.g. a bad destination) and the reply's
  // label both come back: the first as the Result's error, the second in MessageInfo::label.
  //
  // Message words 0-3 go from the buffer straight into the message registers and the reply's
  // registers straight back (all four: what lies past the reply's length is never read), with no
  // loop over the length: a message of up to four words makes no other memory access.
  Result<capnp::MessageInfo> call(uint64_t destination, uint64_t label, uint32_t words, uint32_t caps) {
    if (words > kMessageWords || caps > kMaxTransferCaps) return Error::RangeError;
    return call_info(destination, MessageInfo{label, words, caps, 0}.encode());
  }
  // call() with the message info already encoded, its length and capability count already in range
  // (at most kMessageWords and kMaxTransferCaps): the generated stubs', which check both where they
  // are known, mostly at compile time. (Out of range, MessageInfo's encoding has already cut the
  // numbers to their fields: nothing unsafe, only not the message meant.)
  Result<capnp::MessageInfo> call_info(uint64_t destination, uint64_t info) {
    uint64_t* msg = buffer_->msg;
    SyscallRegisters regs{destination, info, {msg[0], msg[1], msg[2], msg[3]}};
    const Error e = raw_syscall(Syscall::Call, regs);
    if (e != Error::Ok) return e;
    msg[0] = regs.mr[0];
    msg[1] = regs.mr[1];
    msg[2] = regs.mr[2];
    msg[3] = regs.mr[3];
    return MessageInfo::decode(regs.info);
  }

 private:
  IpcBuffer* buffer_;
};

// CallTransport for methods whose reply carries a capability (a server handing out a new
// capability, e.g. the memory server's createRegion): before the call it arms the receive fields
// of the IPC buffer with `slot` (an empty slot of the CNode `cnode`, both cptrs of the calling
// thread's CSpace, depth kSlotDepth), after it puts back what they held (ReceiveFieldsScope), so
// no later IPC of this thread drops a capability into a slot the caller may have given back, and a
// server's own receive slot stays armed. `received()` says whether the
// last reply delivered a capability into the slot (the kernel counts it in extra_caps; a reply
// never unwraps). The generated stub's reader then finds it at capability index 0; a reply that
// names a capability the kernel did not deliver (no Grant on the server's side, slot not empty)
// reads as MissingCapability.
class ReceivingCallTransport {
 public:
  ReceivingCallTransport(IpcBuffer* buffer, uint64_t cnode, uint64_t slot)
      : buffer_(buffer), cnode_(cnode), slot_(slot) {}

  capnp::Word* send_words() { return reinterpret_cast<capnp::Word*>(buffer_->msg); }
  uint64_t* send_caps() { return buffer_->caps_or_badges; }
  const capnp::Word* reply_words() const { return reinterpret_cast<const capnp::Word*>(buffer_->msg); }

  Result<capnp::MessageInfo> call(uint64_t destination, uint64_t label, uint32_t words, uint32_t caps) {
    if (words > kMessageWords || caps > kMaxTransferCaps) return Error::RangeError;
    return call_info(destination, MessageInfo{label, words, caps, 0}.encode());
  }
  // As CallTransport::call_info.
  Result<capnp::MessageInfo> call_info(uint64_t destination, uint64_t info) {
    received_ = false;
    Received reply{};
    Error e = Error::Ok;
    {
      const ReceiveFieldsScope armed(buffer_, {cnode_, slot_, 64});  // kSlotDepth (tessera/sys/cspace.h): cptr = slot index
      e = ipc_syscall(buffer_, Syscall::Call, destination, info, &reply);
    }
    if (e != Error::Ok) return e;
    received_ = reply.info.extra_caps > 0 && (reply.info.caps_unwrapped & 1u) == 0;
    return reply.info;
  }

  bool received() const { return received_; }

 private:
  IpcBuffer* buffer_;
  uint64_t cnode_;
  uint64_t slot_;
  bool received_ = false;
};

}  // namespace tessera::sys
