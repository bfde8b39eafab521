// I/O ports: IoPortControl issues IoPort capabilities for ranges no one else holds (and never for
// the ports the kernel drives itself); an IoPort cap lets its holder do port I/O inside its range.
// The kernel performs the access on the caller's behalf, as seL4 does on x86.
#include <tessera/abi/kernel.capnp.h>

#include "arch/x86_64/cpu.h"
#include "cap/cnode_ops.h"
#include "cap/cspace.h"
#include "generic/invocation.h"
#include "generic/kernel_layout.h"
#include "object/kernel_objects.h"

namespace tessera::kernel {
namespace {
using namespace tessera::abi;  // the generated invocation interfaces

constexpr uint32_t kPortCount = 65536;
uint64_t issued[kPortCount / 64];  // one bit per port: held by some IoPort cap

struct PortRange {
  uint16_t first, last;
};
// Ports the kernel itself uses: the PICs, the PIT's channel 2 and its gate (the stopwatch the LAPIC
// timer is calibrated with), the debug-exit device, fw_cfg. The PIT's channel 0 (0x40) and mode
// port (0x43) are free: the kernel programs them only while it boots, before any IoPort exists;
// the timer server (servers/timer) drives channel 0 afterwards. COM1 may be issued: the console
// driver (servers/console) owns it; the kernel's debug output still writes its transmit register
// directly (polled), for early boot and panics.
constexpr PortRange kKernelPorts[] = {{0x20, 0x21}, {0x42, 0x42}, {0x61, 0x61}, {0xA0, 0xA1},
                                      {0xF4, 0xF7}, {0x510, 0x511}};

bool overlaps_kernel(uint16_t first, uint16_t last) {
  for (const PortRange& r : kKernelPorts) {
    if (first <= r.last && r.first <= last) return true;
  }
  return false;
}

bool any_issued(uint16_t first, uint16_t last) {
  for (uint32_t p = first; p <= last; ++p) {
    if ((issued[p / 64] >> (p % 64)) & 1) return true;
  }
  return false;
}

void mark(uint16_t first, uint16_t last, bool value) {
  for (uint32_t p = first; p <= last; ++p) {
    if (value) issued[p / 64] |= 1ull << (p % 64);
    else issued[p / 64] &= ~(1ull << (p % 64));
  }
}

// Port `port` accessed with `bytes` width lies inside the cap's range.
Result<uint16_t> checked_port(const cap::Capability& c, uint16_t port, uint32_t bytes) {
  if (port < c.first_port() || static_cast<uint32_t>(port) + bytes - 1 > c.last_port()) return Error::RangeError;
  return port;
}
}  // namespace

void release_io_ports(const cap::Capability& c) { mark(c.first_port(), c.last_port(), false); }

Result<void> invoke_io_port_control(Invocation& inv) {
  if (TRY(IoPortControl::method_of(inv.request.label)) != IoPortControl::Method::Issue) return Error::IllegalOperation;
  const auto a = TRY(IoPortControl::IssueArgs::decode(inv.request));
  if (a.first > a.last || overlaps_kernel(a.first, a.last)) return Error::RangeError;
  const auto root = TRY(inv.typed_param<cap::ObjectType::CNode>(a.root));
  cap::CapSlot* dest = TRY(cap::lookup_slot(capabilities(), root.cap(), a.index, a.depth));
  if (!dest->empty()) return Error::DeleteFirst;
  if (any_issued(a.first, a.last)) return Error::DeleteFirst;  // another cap holds some of these ports
  TRY(cap::issue_cap(capabilities(), inv.target, dest, cap::Capability::io_ports(a.first, a.last)));
  mark(a.first, a.last, true);
  return {};
}

Result<void> invoke_io_port(Invocation& inv) {
  const cap::Capability& c = inv.target->cap;
  switch (TRY(IoPort::method_of(inv.request.label))) {
    case IoPort::Method::In8: {
      const auto a = TRY(IoPort::In8Args::decode(inv.request));
      const IoPort::In8Return r{x86::inb(TRY(checked_port(c, a.port, 1)))};
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
    case IoPort::Method::In16: {
      const auto a = TRY(IoPort::In16Args::decode(inv.request));
      const IoPort::In16Return r{x86::inw(TRY(checked_port(c, a.port, 2)))};
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
    case IoPort::Method::In32: {
      const auto a = TRY(IoPort::In32Args::decode(inv.request));
      const IoPort::In32Return r{x86::inl(TRY(checked_port(c, a.port, 4)))};
      inv.reply_length = TRY(r.encode(inv.reply_buffer));
      return {};
    }
    case IoPort::Method::Out8: {
      const auto a = TRY(IoPort::Out8Args::decode(inv.request));
      x86::outb(TRY(checked_port(c, a.port, 1)), a.value);
      return {};
    }
    case IoPort::Method::Out16: {
      const auto a = TRY(IoPort::Out16Args::decode(inv.request));
      x86::outw(TRY(checked_port(c, a.port, 2)), a.value);
      return {};
    }
    case IoPort::Method::Out32: {
      const auto a = TRY(IoPort::Out32Args::decode(inv.request));
      x86::outl(TRY(checked_port(c, a.port, 4)), a.value);
      return {};
    }
    case IoPort::Method::WriteFrame: {
      const auto a = TRY(IoPort::WriteFrameArgs::decode(inv.request));
      const uint16_t port = TRY(checked_port(c, a.port, 1));
      cap::CapSlot* slot = TRY(inv.cap_param(a.frame));
      const cap::Capability& f = slot->cap;
      if (f.type() != cap::ObjectType::Frame4K && f.type() != cap::ObjectType::Frame2M) return Error::InvalidCapability;
      // Device memory is not read through the kernel's direct map (it may lie beyond it).
      if (f.is_device()) return Error::InvalidCapability;
      if (!f.rights().includes(cap::CapRights::read())) return Error::InsufficientRights;
      const uint64_t size = uint64_t{1} << f.memory_size_bits();
      if (a.length > kMaxWriteFrameBytes || a.offset > size || a.length > size - a.offset) return Error::RangeError;
      const auto* bytes = static_cast<const uint8_t*>(layout::phys_to_virt(f.phys() + a.offset));
      uint64_t count = a.length;
      asm volatile("rep outsb" : "+S"(bytes), "+c"(count) : "d"(port) : "memory");
      return {};
    }
  }
  return Error::IllegalOperation;
}

}  // namespace tessera::kernel
