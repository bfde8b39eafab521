// kvfloor: kv's get written by hand, the floor under the typed kv bench. It serves Store.get on
// "endpoint:kv" from the same table as servers/kv (kv::Table, holding "bench" -> 1..8 from the
// start) with the raw system calls: the request is read and checked in the registers it arrived
// in, and the reply leaves in registers. It makes the checks the generated dispatcher makes on a
// canonical request (the label, no capabilities, the root, the key's pointer kind, bounds and NUL)
// and answers anything else with an error, where the generated dispatcher would go on to its
// general reader: it is a yardstick for the usual path (tests/runner/bench_ipc.cc,
// `kv_get_floor_cross_as`), not a server to build on.
#include <stdint.h>

#include <tessera/abi/kv.capnp.h>
#include <tessera/ipc_buffer.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/syscall.h>

#include "layout.h"
#include "table.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Syscall;

using kvfloor::kByteList;
using kvfloor::kByteListMask;
using kvfloor::kGetLabel;
using kvfloor::kParamsRoot;
using kvfloor::kResultsRoot;

kv::Table table;

// Answers the get request in `r` (its info word and message registers), leaving the reply's info
// word and registers in `r`.
[[gnu::always_inline]] inline void answer(sys::SyscallRegisters& r, tessera::IpcBuffer* buffer) {
  const uint64_t info = r.info;
  const uint64_t length = info & 0x7F;
  // The label, then no capabilities and at most the four register words (one test on bits 0-8).
  if ((info >> 12) != kGetLabel) [[unlikely]] {
    r.info = static_cast<uint64_t>(Error::IllegalOperation) << 12;
    return;
  }
  const uint64_t key_pointer = r.mr[1];
  if ((info & 0x1FF) > 4 || length < 2 || r.mr[0] != kParamsRoot || (key_pointer & kByteListMask) != kByteList)
      [[unlikely]] {
    r.info = static_cast<uint64_t>(Error::MalformedMessage) << 12;
    return;
  }
  // The key's bytes: from word 2 + offset, count of them with the NUL last, inside the message.
  const int64_t first = 2 + (static_cast<int32_t>(key_pointer) >> 2);
  const uint64_t count = key_pointer >> 35;
  uint64_t words[4] = {r.mr[0], r.mr[1], r.mr[2], r.mr[3]};
  if (first < 0 || count == 0 || static_cast<uint64_t>(first) * 8 + count > length * 8) [[unlikely]] {
    r.info = static_cast<uint64_t>(Error::MalformedMessage) << 12;
    return;
  }
  const char* bytes = reinterpret_cast<const char*>(words) + first * 8;
  if (bytes[count - 1] != 0) [[unlikely]] {
    r.info = static_cast<uint64_t>(Error::MalformedMessage) << 12;
    return;
  }
  const tessera::capnp::Data value = table.get(tessera::capnp::Text(bytes, static_cast<uint32_t>(count - 1)));
  r.mr[0] = kResultsRoot;
  if (value.data == nullptr) {
    r.mr[1] = 0;
    r.mr[2] = 0;
    r.info = 3;
    return;
  }
  // found, and the value as a byte list right after the struct: words 3 and on, 4 and on in the
  // IPC buffer.
  r.mr[1] = 1;
  r.mr[2] = kvfloor::wire::make_list(0, tessera::capnp::ElementSize::Byte, value.size);
  const uint64_t value_words = (value.size + 7) / 8;
  // The first eight bytes in one load (a table entry holds kMaxValueBytes of value whatever its
  // size, so they are there to read), those past the value cleared.
  uint64_t first_word;
  __builtin_memcpy(&first_word, value.data, 8);
  if (value.size < 8) first_word &= (1ull << (value.size * 8)) - 1;
  r.mr[3] = first_word;
  for (uint64_t i = 1; i < value_words; ++i) {
    uint64_t word = 0;
    const uint64_t n = value.size - i * 8 < 8 ? value.size - i * 8 : 8;
    __builtin_memcpy(&word, value.data + i * 8, n);
    buffer->msg[3 + i] = word;
  }
  r.info = 3 + value_words;
}
}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 1;
  auto endpoint = sys::find_grant(*block, "endpoint:kv");
  if (!endpoint.ok()) {
    sys::print("kvfloor: no endpoint:kv granted\n");
    sys::exit_process(1);
  }
  const uint8_t value[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  if (!table.put("bench", tessera::capnp::Data{value, 8}).ok()) sys::exit_process(1);
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  sys::SyscallRegisters r{*endpoint, 0, {0, 0, 0, 0}};
  Error e = sys::raw_syscall(Syscall::Recv, r);
  while (e == Error::Ok) {
    answer(r, buffer);
    r.cap = *endpoint;
    e = sys::raw_syscall(Syscall::ReplyRecv, r);
  }
  sys::print("kvfloor: receive failed (error %s)\n", tessera::error_name(e));
  sys::exit_process(1);
}
