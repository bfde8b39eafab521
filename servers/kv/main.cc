// kv: the example key-value server (protocol abi/kv.capnp). Started by init from the system
// description (boot/system.conf) with the endpoint it serves granted as "endpoint:kv".
//
// It shows the parts of a server: one class with one method per schema method (the generated
// CRTP dispatcher decodes every request without trusting it) and libsys's serve() loop, which
// receives a capability with a request (watch keeps it with current_request().keep_cap()) and
// deletes capabilities a client sends to methods that take none.
#include <stdint.h>

#include <tessera/abi/kv.capnp.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/server.h>

#include "table.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Result;
using tessera::kv::Store;
// The server: the table plus the notifications of watched keys.
class KvServer : public Store::Server<KvServer> {
 public:
  static constexpr uint32_t kMaxWatches = 4;


  Result<void> put(Store::PutParams::Reader params, Store::PutResults::Builder results) {
    const tessera::capnp::Text key = TRY(params.key());
    results.set_replaced(TRY(table_.put(key, TRY(params.value()))));
    notify_watchers(key);
    return {};
  }

  // A flat handler: the parameters as arguments (the dispatcher read and checked them), the
  // results as a plain struct (written straight into the reply words); value stays unset (nullptr)
  // when the key is not there.
  Result<Store::GetReply> get(tessera::capnp::Text key) {
    const tessera::capnp::Data value = table_.get(key);
    return Store::GetReply{value.data != nullptr, value};
  }

  Result<Store::DeleteReply> delete_(tessera::capnp::Text key) {
    const bool existed = table_.remove(key);
    if (existed) notify_watchers(key);
    return Store::DeleteReply{existed};
  }

  // Keeps the notification that came with the request (serve() received it; keep_cap moves it to
  // a slot of this server's own).
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
    watch->notification = TRY(sys::current_request().keep_cap());
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
};

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
  static KvServer server;
  sys::print("kv: serving\n");
  const Error e = sys::serve(server, *endpoint, sys::ServeOptions{&slots, sys::kProcessSlotCNode, "kv"});
  sys::print("kv: receive failed (error %s)\n", tessera::error_name(e));
  sys::exit_process(1);
}
