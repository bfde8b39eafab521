// The generated server dispatch of the five-method Bench interface, with the method bodies
// outside the measurement, so that `scripts/bench abi` can measure its code size.
#include <tessera/abi/bench.capnp.h>

using tessera::Result;
using tessera::abibench::Bench;

class BenchServer : public Bench::Server<BenchServer> {
 public:
  Result<void> read(Bench::ReadParams::Reader params, Bench::ReadResults::Builder results);
  Result<void> write(Bench::WriteParams::Reader params, Bench::WriteResults::Builder results);
  Result<void> open(Bench::OpenParams::Reader params, Bench::OpenResults::Builder results);
  Result<void> close(Bench::CloseParams::Reader params, Bench::CloseResults::Builder results);
  Result<void> stat(Bench::StatParams::Reader params, Bench::StatResults::Builder results);
};

// Entry point that keeps the dispatcher alive in the object file.
tessera::capnp::Reply bench_dispatch(BenchServer& server, const tessera::capnp::Request& request,
                                     const tessera::capnp::ReplyBuffer& out) {
  return server.dispatch(request, out);
}
