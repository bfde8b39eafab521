// The generated client stubs of the five-method Bench interface, instantiated for a transport
// whose system calls live elsewhere, so that `scripts/bench abi` can measure their code size.
#include <tessera/abi/bench.capnp.h>

namespace {
using tessera::capnp::MessageInfo;
using tessera::capnp::Word;
}  // namespace

// A transport as libsys provides it: the bodies are the system calls, outside this measurement.
struct BenchTransport {
  Word* send_words();
  uint64_t* send_caps();
  tessera::Result<MessageInfo> call(uint64_t destination, uint64_t label, uint32_t words, uint32_t caps);
  tessera::Result<MessageInfo> call_info(uint64_t destination, uint64_t info);
  const Word* reply_words();
};

template class tessera::abibench::Bench::Client<BenchTransport>;
