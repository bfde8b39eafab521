#include <tessera/abi/kernel.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/kernel_transport.h>
#include <tessera/sys/testing.h>

namespace {
using namespace tessera;
const BootInfo* boot() { return reinterpret_cast<const BootInfo*>(kRootBootInfoAddress); }
}

TESSERA_USER_TEST(SMOKE0001, pass, "retype a frame, read its address, map it, use it, delete it") {
  sys::KernelTransport transport(reinterpret_cast<IpcBuffer*>(boot()->ipc_buffer));
  const uint64_t slot = boot()->empty.start;
  const uint64_t untyped = boot()->untyped.end - 1;
  abi::Untyped::Client<sys::KernelTransport> ut(transport, untyped);
  auto r = ut.retype(abi::ObjectType::Frame4k, 0, capnp::CapRef{kSlotRootCNode}, 0, 0, slot, 1);
  if (!t.check(r.ok(), "retype: error %u", static_cast<unsigned>(r.error()))) return;
  abi::Frame::Client<sys::KernelTransport> frame(transport, slot);
  auto addr = frame.get_address();
  t.check(addr.ok(), "getAddress: error %u", static_cast<unsigned>(addr.error()));
  if (addr.ok()) t.note("frame at 0x%lx (untyped at 0x%lx)", addr->paddr(), boot()->untyped_list[untyped - boot()->untyped.start].phys);
}
