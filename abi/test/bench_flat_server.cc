// The generated server dispatch of the five-method Bench interface for flat handlers (every
// method takes its parameters as arguments and returns a plain Reply struct), with the method
// bodies outside the measurement, so that `scripts/bench abi` can measure its code size next to
// the reader/builder form's.
#include <tessera/abi/bench.capnp.h>

using tessera::Result;
using tessera::abibench::Bench;
using tessera::capnp::Data;
using tessera::capnp::Text;

class BenchFlatServer : public Bench::Server<BenchFlatServer> {
 public:
  Result<Bench::ReadReply> read(uint64_t handle, uint64_t offset, uint32_t length);
  Result<Bench::WriteReply> write(uint64_t handle, uint64_t offset, Data data);
  Result<Bench::OpenReply> open(Text path, uint32_t flags);
  Result<void> close(uint64_t handle);
  Result<Bench::StatReply> stat(uint64_t handle);
};

// Entry point that keeps the dispatcher alive in the object file.
tessera::capnp::Reply bench_flat_dispatch(BenchFlatServer& server, const tessera::capnp::Request& request,
                                          const tessera::capnp::ReplyBuffer& out) {
  return server.dispatch(request, out);
}
