#include <tessera/sys/ipc.h>

namespace tessera::sys {
namespace {
// Every wrapper goes through ipc_syscall with this thread's IPC buffer.
Error ipc(Syscall number, uint64_t cap, uint64_t info_word, Received* out) {
  return ipc_syscall(ipc_buffer(), number, cap, info_word, out);
}
}  // namespace

// Per thread: the first word of the thread-local block at %fs:0 (tessera/sys/thread.h).
IpcBuffer* ipc_buffer() {
  IpcBuffer* buffer;
  asm volatile("movq %%fs:0, %0" : "=r"(buffer) : : "memory");
  return buffer;
}
void set_ipc_buffer(IpcBuffer* buffer) { asm volatile("movq %0, %%fs:0" : : "r"(buffer) : "memory"); }

Error send(uint64_t endpoint, MessageInfo info) { return ipc(Syscall::Send, endpoint, info.encode(), nullptr); }
Error nb_send(uint64_t endpoint, MessageInfo info) { return ipc(Syscall::NBSend, endpoint, info.encode(), nullptr); }
Error recv(uint64_t endpoint, Received* out) { return ipc(Syscall::Recv, endpoint, 0, out); }
Error nb_recv(uint64_t endpoint, Received* out) { return ipc(Syscall::NBRecv, endpoint, 0, out); }
Error call(uint64_t endpoint, MessageInfo info, Received* reply_out) {
  return ipc(Syscall::Call, endpoint, info.encode(), reply_out);
}
Error reply(MessageInfo info) { return ipc(Syscall::Reply, 0, info.encode(), nullptr); }
Error reply_recv(uint64_t endpoint, MessageInfo reply_info, Received* out) {
  return ipc(Syscall::ReplyRecv, endpoint, reply_info.encode(), out);
}

Error signal(uint64_t notification) { return ipc(Syscall::Send, notification, 0, nullptr); }
Error wait(uint64_t notification, uint64_t* word) {
  Received r{};
  const Error e = ipc(Syscall::Recv, notification, 0, &r);
  if (e == Error::Ok && word != nullptr) *word = r.badge;
  return e;
}
Error poll(uint64_t notification, uint64_t* word) {
  Received r{};
  const Error e = ipc(Syscall::NBRecv, notification, 0, &r);
  if (word != nullptr) *word = e == Error::Ok ? r.badge : 0;
  return e == Error::WouldBlock ? Error::Ok : e;
}

}  // namespace tessera::sys
