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

}  // namespace tessera::sys
