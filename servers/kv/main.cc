// kv: the example key-value server (protocol abi/kv.capnp). Started by init from the system
// description (boot/system.conf) with the endpoint it serves granted as "endpoint:kv".
//
// It shows the parts of a server: one class with one method per schema method (the generated
// CRTP dispatcher decodes every request without trusting it), a loop that accepts a capability
// with a request (watch) and moves it out of the receive slot, and clean-up of capabilities a
// client sends to methods that take none.
#include <stdint.h>

#include <tessera/abi/kv.capnp.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>

#include "table.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Result;
using tessera::kv::Store;
using CNodeClient = tessera::abi::CNode::Client<sys::CallTransport>;

// Kernel invocations from the server's (only) thread.
sys::CallTransport& kernel() {
  static sys::CallTransport transport(sys::ipc_buffer());
  return transport;
}

// The server: the table plus the notifications of watched keys.
class KvServer : public Store::Server<KvServer> {
 public:
  static constexpr uint32_t kMaxWatches = 4;

  // `slots` hands out free slots of this process's CNode; a received cap arrives in `receive_slot`.
  KvServer(sys::SlotAllocator& slots, sys::CPtr receive_slot) : slots_(slots), receive_slot_(receive_slot) {}

  Result<void> put(Store::PutParams::Reader params, Store::PutResults::Builder results) {
    const tessera::capnp::Text key = TRY(params.key());
    results.set_replaced(TRY(table_.put(key, TRY(params.value()))));
    notify_watchers(key);
    return {};
  }

  Result<void> get(Store::GetParams::Reader params, Store::GetResults::Builder results) {
    bool found = false;
    const tessera::capnp::Data value = table_.get(TRY(params.key()), &found);
    results.set_found(found);
    if (found) results.set_value(value);
    return {};
  }

  Result<void> delete_(Store::DeleteParams::Reader params, Store::DeleteResults::Builder results) {
    const tessera::capnp::Text key = TRY(params.key());
    const bool existed = table_.remove(key);
    results.set_existed(existed);
    if (existed) notify_watchers(key);
    return {};
  }

  // Keeps the notification that came with the request (it is in the receive slot).
  Result<void> watch(Store::WatchParams::Reader params, Store::WatchResults::Builder) {
    const tessera::capnp::Text key = TRY(params.key());
    if (!params.has_notify()) return Error::InvalidArgument;
    (void)TRY(params.notify());  // the reader checked that the capability really arrived
    if (key.size == 0 || key.size > tessera::kv::kMaxKeyBytes) return Error::RangeError;
    Watch* watch = nullptr;
    for (Watch& w : watches_) {
      if (w.notification == 0) watch = &w;
    }
    if (watch == nullptr) return Error::NotEnoughMemory;
    const sys::CPtr slot = TRY(slots_.alloc());
    CNodeClient cnode(kernel(), sys::kProcessSlotCNode);
    if (Result<void> moved = cnode.move(slot, sys::kSlotDepth, {sys::kProcessSlotCNode}, receive_slot_, sys::kSlotDepth);
        !moved.ok()) {
      (void)slots_.free(slot);
      return moved;
    }
    watch->notification = slot;
    watch->key_size = static_cast<uint8_t>(key.size);
    for (uint32_t i = 0; i < key.size; ++i) watch->key[i] = key.data[i];
    return {};
  }

 private:
  struct Watch {
    sys::CPtr notification = 0;
    uint8_t key_size = 0;
    char key[tessera::kv::kMaxKeyBytes] = {};
  };

  void notify_watchers(tessera::capnp::Text key) {
    for (const Watch& w : watches_) {
      if (w.notification != 0 && tessera::capnp::Text(w.key, w.key_size) == key) (void)sys::signal(w.notification);
    }
  }

  kv::Table table_;
  Watch watches_[kMaxWatches];
  sys::SlotAllocator& slots_;
  sys::CPtr receive_slot_;
};

// Recv, dispatch, ReplyRecv; accepts one capability per request into `receive_slot` and empties
// that slot after every request, so a cap sent to a method that takes none cannot block the next.
// Requests and replies are built outside the IPC buffer: a handler that invokes the kernel (watch
// moves a capability) reuses the buffer for that call.
[[noreturn]] void serve(KvServer& server, sys::CPtr endpoint, sys::CPtr receive_slot) {
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  buffer->receive_cnode = sys::kProcessSlotCNode;
  buffer->receive_index = receive_slot;
  buffer->receive_depth = sys::kSlotDepth;
  static tessera::capnp::Word request_words[tessera::kMessageWords];
  static tessera::capnp::Word reply_words[tessera::kMessageWords];
  static uint64_t reply_caps[tessera::kMaxTransferCaps];
  sys::Received received{};
  Error e = sys::recv(endpoint, &received);
  for (;;) {
    if (e != Error::Ok) {  // the endpoint is gone or unusable: nothing more to serve
      sys::print("kv: receive failed (error %u)\n", static_cast<unsigned>(e));
      sys::exit_process(1);
    }
    const uint32_t length = tessera::min(received.info.length_words, tessera::kMessageWords);
    for (uint32_t i = 0; i < length; ++i) request_words[i] = buffer->msg[i];
    const tessera::capnp::Request request{received.info.label, request_words, length, received.info.extra_caps};
    const tessera::capnp::ReplyBuffer out{reply_words, tessera::capnp::kMaxMessageWords, reply_caps,
                                          tessera::capnp::kMaxExtraCaps};
    const tessera::capnp::Reply reply = server.dispatch(request, out);
    if (received.info.extra_caps > 0) {
      (void)CNodeClient(kernel(), sys::kProcessSlotCNode).delete_(receive_slot, sys::kSlotDepth);
    }
    const bool ok = reply.error == Error::Ok;
    const sys::MessageInfo info{static_cast<uint64_t>(reply.error), ok ? reply.length_words : 0,
                                ok ? reply.cap_count : 0, 0};
    for (uint32_t i = 0; i < info.length_words; ++i) buffer->msg[i] = reply_words[i];
    for (uint32_t i = 0; i < info.extra_caps; ++i) buffer->caps_or_badges[i] = reply_caps[i];
    e = sys::reply_recv(endpoint, info, &received);
  }
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) {
    sys::print("kv: not started as a process\n");
    return 1;
  }
  auto endpoint = sys::find_grant(*block, "endpoint:kv");
  if (!endpoint.ok()) {
    sys::print("kv: no endpoint:kv granted\n");
    sys::exit_process(1);
  }
  static sys::SlotAllocator slots(block->empty);
  auto receive_slot = slots.alloc();
  if (!receive_slot.ok()) sys::exit_process(1);
  static KvServer server(slots, *receive_slot);
  sys::print("kv: serving\n");
  serve(server, *endpoint, *receive_slot);
}
