# The block protocol (servers/blk, the virtio-blk driver; docs/drivers.md): the control plane.
#
# The data plane is a ring pair of <tessera/ring.h> (docs/rings.md) in a region the driver makes
# and shares with the client: the request ring (client -> driver), the completion ring and the
# data area, laid out by ring_pair_layout(slots, dataBytes). A request descriptor is
#   {offset, length, opcode, status = 0, cookie, argument = first sector}
# naming `length` bytes at `offset` of the data area (both multiples of sectorBytes, length at
# most maxTransfer); its completion echoes offset, opcode and cookie with status = the Error and
# length = the bytes transferred. Notifications both ways, each sent only when the other side's
# wake-me flag asks for it (docs/rings.md).
# Ids are pinned (`capnp id`).
@0xe349d28efdb7a179;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
using Memory = import "memory.capnp";
$Abi.namespace("tessera::block");

const sectorBytes :UInt32 = 512;
const maxRingPairs :UInt32 = 15;   # ring pairs the driver serves at once, all clients together
const maxDataBytes :UInt64 = 1048576;  # the largest data area of its own (connect's dataBytes)

# Request opcodes (RingDescriptor.opcode).
const opRead :UInt16 = 1;    # device -> data area: `length` bytes from sector `argument`
const opWrite :UInt16 = 2;   # data area -> device; completed only once the device has it
const opFlush :UInt16 = 3;   # everything completed before is on stable storage (offset, length 0)

interface Block @0xca29f295fb73ce8f {
  connect @0 (channel :UInt8, dataBytes :UInt64) -> (ring :Memory.Region, capacity :UInt64, sectorBytes :UInt32, slots :UInt32,
                    dataBytes :UInt64, maxTransfer :UInt32, flush :Bool, readOnly :Bool,
                    generation :UInt64);
  # A fresh ring pair for the caller on `channel` (one per client badge and channel: connecting
  # again drops the previous one and every request still in it; a client with several channels
  # has that many independent ring pairs, e.g. the filesystem server one per client of its own,
  # so payload can land where that client reads it). `ring`: read/write capability to the region, laid out by
  # ring_pair_layout(slots, dataBytes), rings formatted; `capacity` in sectors; `generation`
  # differs between driver instances (a restarted driver has a new one). NotEnoughMemory when
  # every ring pair (maxRingPairs in all clients together) is taken, OutOfMemory when the driver's quota cannot pay for the region.
  # `dataBytes` 0: the data area is in `ring`, after the rings (dataBytes in the reply says how
  # large). Otherwise (a multiple of 4096, at most maxDataBytes: RangeError) the data area is a
  # region of its own of that size (dataArea hands it out) and `ring` holds only the rings, so the
  # caller can pass the data area on without the rings (the filesystem server shares it with its
  # client, whose reads the device then writes in place). The driver made it and only the driver
  # can revoke it: it does when the ring pair is dropped (disconnect, connect again); when the
  # driver ends, whoever still holds it keeps it (and pays for it).
  wakeDriver @1 (channel :UInt8) -> (notification :Kernel.Notification);
  # The caller's capability to signal the driver ("look at the request ring"; write right only).
  # IllegalOperation before connect.
  wakeClient @2 (channel :UInt8) -> (notification :Kernel.Notification);
  # The notification the driver signals ("look at the completion ring"; read right only: wait on
  # it). It belongs to the driver: when the driver ends, the notification goes and a wait on it
  # answers ObjectDeleted, which is how a client learns to reconnect.
  disconnect @3 (channel :UInt8) -> ();
  # Drops the caller's ring pair (requests in flight complete on the device first).
  status @4 () -> (capacity :UInt64, clients :UInt32, requests :UInt64, errors :UInt64,
                   refused :UInt64, interrupts :UInt64, signalsIn :UInt64, signalsOut :UInt64,
                   deviceNotifies :UInt64, generation :UInt64, peakInFlight :UInt32,
                   workTicks :UInt64, systemCallTicks :UInt64);
  # Counters since the driver started: requests completed, of them with an error, descriptors
  # refused (outside the data area, bad opcode or size), interrupts taken, notifications received
  # from and sent to clients, doorbell writes to the device, and the most requests that were on
  # the device at once. `workTicks`: TSC ticks (guest instructions under -icount shift=0) the
  # driver spent on the data path — from each wake-up (a client's signal, the interrupt) until it
  # waits again, without the system calls it made meanwhile (interrupt ack, signals to clients),
  # which `systemCallTicks` counts (scripts/bench blk splits a request's cost with them).
  crash @5 () -> ();
  # Test hook: the driver faults on purpose (a test of restarts). Only when started with
  # arg=test; IllegalOperation otherwise.
  dataArea @6 (channel :UInt8) -> (region :Memory.Region);
  # Read/write capability to the channel's data area of its own (connect with dataBytes);
  # IllegalOperation before connect or when the data area is inside `ring`.
}
