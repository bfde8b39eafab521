// libFuzzer target over the ABI's hostile-input paths: the generic reader (every struct of the
// feature and kernel schemas, walked completely through the generated readers), the server
// dispatch of a user-space protocol, and the kernel's invocation decoders.
//
// Input: byte 0 selects the path, byte 1 the transferred-capability count, bytes 2..9 a label,
// the rest the message words (up to 512). Run by `meson test --suite fuzz` for a bounded time.
#include <capnp/message.h>
#include <tessera/abi/features.capnp.dyn.h>
#include <tessera/abi/kernel.capnp.dyn.h>

#include <cstring>
#include <vector>

#include "schema_env.h"

namespace {

using tessera::capnp::Word;

class FuzzStore : public tessera::abitest::Store::Server<FuzzStore> {
 public:
  using Store = tessera::abitest::Store;
  tessera::Result<void> put(Store::PutParams::Reader params, Store::PutResults::Builder results) {
    const auto key = TRY(params.key());
    const auto value = TRY(params.value());
    const auto point = TRY(params.point());
    results.set_replaced(key.size + value.size + static_cast<uint32_t>(point.x()) % 2 == 0);
    return {};
  }
  tessera::Result<void> get(Store::GetParams::Reader params, Store::GetResults::Builder results) {
    const auto key = TRY(params.key());
    results.set_value(tessera::capnp::Data{reinterpret_cast<const uint8_t*>(key.data), key.size});
    return {};
  }
  tessera::Result<void> list(Store::ListParams::Reader params, Store::ListResults::Builder results) {
    const auto prefix = TRY(params.prefix());
    auto keys = results.init_keys(params.limit() % 8);
    for (uint32_t i = 0; i < keys.size(); ++i) keys.set(i, prefix);
    return {};
  }
  tessera::Result<void> share(Store::ShareParams::Reader params, Store::ShareResults::Builder results) {
    results.set_token(TRY(params.peer()).value);
    return {};
  }
  tessera::Result<void> ping(Store::PingParams::Reader, Store::PingResults::Builder) { return {}; }
};

template <typename Args>
void decode(const tessera::capnp::Request& request) {
  (void)Args::decode(request);
}

void kernel_decoders(const tessera::capnp::Request& request) {
  using namespace tessera::abi;  // NOLINT: local to this function
  decode<Untyped::RetypeArgs>(request);
  decode<CNode::CopyArgs>(request);
  decode<CNode::MintArgs>(request);
  decode<CNode::RotateArgs>(request);
  decode<Tcb::ConfigureArgs>(request);
  decode<Tcb::WriteRegistersArgs>(request);
  decode<Tcb::SetSchedParamsArgs>(request);
  decode<IrqControl::GetMsiArgs>(request);
  decode<IoPortControl::IssueArgs>(request);
  decode<Frame::MapArgs>(request);
  decode<SchedControl::ConfigureArgs>(request);
  decode<SchedContext::BindArgs>(request);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  const uint8_t selector = data[0];
  const uint32_t cap_count = data[1] % 4;
  uint64_t label;
  std::memcpy(&label, data + 2, 8);
  std::vector<Word> words(std::min<size_t>((size - 10) / 8, 512));
  if (!words.empty()) std::memcpy(words.data(), data + 10, words.size() * 8);
  const Word* message = words.empty() ? nullptr : words.data();
  const auto length = static_cast<uint32_t>(words.size());

  if (selector % 3 == 0) {
    // Walk a whole message as one struct type through every generated accessor.
    const auto& feature_entries = tessera::abitest::dyn::kEntries;
    const auto& kernel_entries = tessera::abi::dyn::kEntries;
    const size_t total = std::size(feature_entries) + std::size(kernel_entries);
    const size_t which = (selector / 3) % total;
    const uint64_t id = which < std::size(feature_entries) ? feature_entries[which].id
                                                           : kernel_entries[which - std::size(feature_entries)].id;
    auto read = which < std::size(feature_entries) ? feature_entries[which].read
                                                   : kernel_entries[which - std::size(feature_entries)].read;
    tessera::capnp::MessageReader reader(message, length, cap_count);
    capnp::MallocMessageBuilder copy;
    (void)read(reader, copy.initRoot<capnp::DynamicStruct>(abitest::struct_schema(id)));
  } else if (selector % 3 == 1) {
    FuzzStore server;
    Word reply[tessera::capnp::kMaxMessageWords];
    uint64_t caps[tessera::capnp::kMaxExtraCaps];
    const uint64_t store_label = tessera::capnp::make_label(FuzzStore::Store::kInterfaceCode,
                                                            static_cast<uint16_t>(label % 6));
    (void)server.dispatch(tessera::capnp::Request{(label & 1) ? label : store_label, message, length, cap_count},
                          tessera::capnp::ReplyBuffer{reply, tessera::capnp::kMaxMessageWords, caps, 3});
  } else {
    kernel_decoders(tessera::capnp::Request{label, message, length, cap_count});
  }
  return 0;
}
