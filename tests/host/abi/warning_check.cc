// Compiles every generated freestanding header (and instantiates a client and a server) with
// the target's warning set, on the host: generated code must be warning-free in both worlds.
#include <tessera/abi/base.capnp.h>
#include <tessera/abi/bench.capnp.h>
#include <tessera/abi/features.capnp.h>
#include <tessera/abi/kernel.capnp.h>

namespace {
struct NullTransport {
  tessera::capnp::Word words[tessera::capnp::kMaxMessageWords];
  uint64_t caps[tessera::capnp::kMaxExtraCaps];
  tessera::capnp::Word* send_words() { return words; }
  uint64_t* send_caps() { return caps; }
  const tessera::capnp::Word* reply_words() const { return words; }
  tessera::Result<tessera::capnp::MessageInfo> call(uint64_t, uint64_t, uint32_t, uint32_t) {
    return tessera::Error::NotSupported;
  }
};
}  // namespace

template class tessera::abi::Tcb::Client<NullTransport>;
template class tessera::abi::CNode::Client<NullTransport>;
template class tessera::abitest::Store::Client<NullTransport>;
template class tessera::abibench::Bench::Client<NullTransport>;
