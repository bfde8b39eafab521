// The ClientTransport (tessera/capnp/transport.h) for kernel invocations and synchronous IPC:
// generated client stubs write their message into this thread's IPC buffer, `call` performs the
// Call system call and the reply is read from the same buffer.
#pragma once

#include <stdint.h>

#include <tessera/capnp/transport.h>
#include <tessera/ipc_buffer.h>
#include <tessera/result.h>
#include <tessera/sys/syscall.h>

namespace tessera::sys {

class KernelTransport {
 public:
  explicit KernelTransport(IpcBuffer* buffer) : buffer_(buffer) {}

  capnp::Word* send_words() { return reinterpret_cast<capnp::Word*>(buffer_->msg); }
  uint64_t* send_caps() { return buffer_->caps_or_badges; }
  const capnp::Word* reply_words() const { return reinterpret_cast<const capnp::Word*>(buffer_->msg); }

  // Calls `destination` (a capability pointer) with `words` message words and `caps` extra caps
  // (already in the buffer). The system call's own error (e.g. a bad destination) and the reply's
  // label both come back: the first as the Result's error, the second in MessageInfo::label.
  Result<capnp::MessageInfo> call(uint64_t destination, uint64_t label, uint32_t words, uint32_t caps) {
    if (words > kMessageWords || caps > kMaxTransferCaps) return Error::RangeError;
    SyscallRegisters regs{};
    regs.cap = destination;
    regs.info = capnp::MessageInfo{label, words, caps, 0}.encode();
    for (uint32_t i = 0; i < kMessageRegisters; ++i) regs.mr[i] = buffer_->msg[i];
    const Error e = raw_syscall(Syscall::Call, regs);
    if (e != Error::Ok) return e;
    const capnp::MessageInfo reply = capnp::MessageInfo::decode(regs.info);
    for (uint32_t i = 0; i < kMessageRegisters && i < reply.length_words; ++i) buffer_->msg[i] = regs.mr[i];
    return reply;
  }

 private:
  IpcBuffer* buffer_;
};

}  // namespace tessera::sys
