// The system description (boot/system.conf): which kernel objects init creates and which programs
// it starts with which capabilities. One declaration per line; `#` starts a comment:
//
//   endpoint NAME
//   notification NAME
//   irq NAME line=N [trigger=edge|level] [polarity=high|low]
//   ioports NAME first=PORT last=PORT
//   pci NAME vendor=ID device=ID [index=N] | pci NAME slot=BB:DD.F
//   control NAME
//   program NAME [image=IMAGE] [prio=N] [mcp=N] [budget=US period=US] [restart=yes|no]
//                [arg=WORD] [grants=KIND:OBJECT[:RIGHTS[:BADGE]],...]
//
// NAME: 1-23 of [a-z0-9_-]; a program runs the embedded image IMAGE (default: its NAME), so one
// image can run as several programs; arg is a word it finds in its start-up block. KIND is `endpoint`,
// `notification`, `control`, `irq`, `ioports` or `pci`, and OBJECT must be declared on an earlier line.
// `control` is init's control protocol (abi/init.capnp): the program gets a copy of init's
// supervision endpoint (call only) badged with init's control bit and its own number; like hardware
// grants it takes no RIGHTS or BADGE.
//
// Hardware (docs/drivers.md): `irq` is an IOAPIC line 0-23 (default edge-triggered, active high:
// ISA; PCI lines are level-triggered); `ioports` a range of I/O ports (numbers decimal or 0x hex;
// never the PCI configuration ports 0xCF8-0xCFF, which only init uses); `pci` one PCI function,
// by vendor and device id (the index-th such function, counting from 0, in bus order) or by its
// address (hex, as lspci prints it). init creates the capabilities at start: an IRQHandler, an
// IOPort, and for a PCI function the device untypeds covering its memory BARs, served to the
// program through a `pci:NAME` capability to init (config space and BARs of that function only).
// Hardware grants take no RIGHTS or BADGE. RIGHTS: any of r w g p (read,
// write, grant, grant-reply), all four when omitted, and `m` (endpoints only, no BADGE): the
// program gets the endpoint unbadged, so it can mint badged capabilities of its own (a server
// whose clients hold capabilities to its objects, like the filesystem server's Files; never give
// it to a client: it could pass for any other). BADGE (1 to 2^48-1): the badge of the cap the
// program gets. Otherwise every endpoint cap init hands out is badged, by default with the program's own
// badge: its position in the description (1 for the first program, 2 for the second, ...), the
// number its fault endpoint carries too. So a client can neither mint a badge of its choice nor
// pass for another client. Notification caps are badged only when BADGE is given. The child
// finds a grant under "KIND:OBJECT"
// (tessera::sys::find_grant), which must fit 23 characters. prio: 0-255 (default 100); budget and
// period in microseconds, both or neither (docs/ipc.md: Scheduling). restart=yes: init restarts the
// program after a fault or a non-zero exit, at most kMaxRestarts times.
//
// Parsing is pure logic over untrusted text: every error names its line.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>
#include <tessera/sys/process.h>

namespace init {

constexpr uint32_t kMaxSystemObjects = 24;
constexpr uint32_t kMaxSystemPrograms = 10;
constexpr size_t kNameBytes = tessera::sys::kProcessNameBytes;

enum class ObjectKind : uint8_t { Endpoint, Notification, Control, Irq, IoPorts, Pci, Trace };

// "endpoint", "notification", "control", "irq", "ioports", "pci" or "trace".
const char* kind_name(ObjectKind kind);
constexpr bool is_hardware(ObjectKind kind) { return kind >= ObjectKind::Irq; }

constexpr uint8_t kMaxIrqLine = 23;  // the IOAPIC's lines

struct ObjectDeclaration {
  ObjectKind kind = ObjectKind::Endpoint;
  char name[kNameBytes] = {};
  // irq
  uint8_t line = 0;
  bool level = false;       // trigger=level
  bool active_low = false;  // polarity=low
  // ioports
  uint16_t first = 0, last = 0;
  // pci: by id (by_slot false) or by address
  bool by_slot = false;
  uint16_t vendor = 0, device = 0;
  uint8_t index = 0;
  uint8_t bus = 0, slot = 0, function = 0;
  // trace: the kernel's TraceControl cap, or (ring=CPU) that CPU's trace ring, a read-only frame
  bool ring = false;
  uint8_t cpu = 0;
};

struct GrantDeclaration {
  uint32_t object = 0;                         // index into SystemDescription::objects
  uint8_t rights = tessera::abi::kRightsAll;
  uint64_t badge = 0;                          // 0: the default (see above)
  bool unbadged = false;                       // RIGHTS had `m`: the endpoint's own, unbadged cap
};

// The largest badge a description may give.
constexpr uint64_t kMaxGrantBadge = (uint64_t{1} << 48) - 1;

// The badge program `program` (its index in the description) gets on the grant `g` of an object
// of `kind`: every endpoint grant is badged, by default with the program's number.
constexpr uint64_t grant_badge(ObjectKind kind, const GrantDeclaration& g, uint32_t program) {
  if (g.unbadged) return 0;
  if (g.badge != 0) return g.badge;
  return kind == ObjectKind::Endpoint ? uint64_t{program} + 1 : 0;
}

// A program's memory quota when its declaration gives none (mem=), and the largest it may give.
constexpr uint64_t kDefaultMemoryQuota = uint64_t{16} << 20;
constexpr uint64_t kMaxMemoryQuotaMiB = 4096;

struct ProgramDeclaration {
  char name[kNameBytes] = {};
  char image[kNameBytes] = {};
  char argument[tessera::sys::kProcessArgumentBytes] = {};
  uint8_t priority = 100;
  uint8_t mcp = 0;
  uint64_t budget_us = 0;
  uint64_t period_us = 0;
  bool restart = false;
  uint64_t memory_bytes = kDefaultMemoryQuota;  // mem=NM: the program's memory quota (docs/memory.md)
  // cmdline=KEY[,KEY...]: started only when the kernel command line has the first KEY; its
  // argument is then those words of the kernel command line ("KEY=VALUE ...").
  char cmdline_keys[tessera::sys::kProcessArgumentBytes] = {};
  GrantDeclaration grants[tessera::sys::kMaxProcessGrants] = {};
  uint32_t grant_count = 0;
};

struct SystemDescription {
  ObjectDeclaration objects[kMaxSystemObjects] = {};
  uint32_t object_count = 0;
  ProgramDeclaration programs[kMaxSystemPrograms] = {};
  uint32_t program_count = 0;

  // The index of the object `name` of `kind`, or object_count when there is none.
  uint32_t find_object(ObjectKind kind, const char* name, size_t length) const;
};

// Where parsing stopped and why (for the log).
struct ParseError {
  uint32_t line = 0;
  const char* reason = "";
  char subject[kNameBytes + 8] = {};  // what it is about (an object, program, grant or option), or ""
};

// Parses `length` bytes of `text` into `out`. On error returns InvalidArgument (RangeError for
// too many objects, programs or grants) and fills `error`; `out` is then unspecified.
tessera::Result<void> parse_system_description(const char* text, size_t length, SystemDescription* out,
                                               ParseError* error);

}  // namespace init
