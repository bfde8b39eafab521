// The words of kv's get on its usual path as the hand-written floor writes and checks them (the
// kvfloor server, and floor_get in tests/runner/bench_ipc.cc): from the schema's layouts and the
// wire format's helpers, as the generated code has them.
#pragma once

#include <stdint.h>

#include <tessera/abi/kv.capnp.h>
#include <tessera/capnp/wire.h>

namespace kvfloor {

using tessera::kv::Store;
namespace wire = tessera::capnp::wire;

constexpr uint64_t kGetLabel = Store::label(Store::Method::Get);
// The usual roots: a struct pointer of offset 0 to the struct right after it.
constexpr uint64_t kParamsRoot = wire::make_struct(0, Store::GetParams::kDataWords, Store::GetParams::kPointerCount);
constexpr uint64_t kResultsRoot = wire::make_struct(0, Store::GetResults::kDataWords, Store::GetResults::kPointerCount);
// A byte list pointer of offset 0, and the bits that say so: the pointer's kind (bits 0-1) and
// element size (bits 32-34).
constexpr uint64_t kByteList = wire::make_list(0, tessera::capnp::ElementSize::Byte, 0);
constexpr uint64_t kByteListMask = 0x7'0000'0003ull;
static_assert((kByteList & kByteListMask) == kByteList);

}  // namespace kvfloor
