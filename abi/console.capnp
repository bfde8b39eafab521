# The console driver (servers/console, docs/drivers.md): COM1 with interrupt-driven receive and
# transmit, and the keyboard (servers/kbd) merged into one input stream with line editing.
#
# Control plane: this interface. Data plane: one shared region per client, made by the driver,
# holding a ring pair and a data area (<tessera/ring.h>, docs/rings.md; layout
# ring_pair_layout(ringSlots, dataBytes)). The client owns the data area: it puts output in a
# buffer and pushes a request naming it, or names an empty buffer for input; the driver answers
# each request on the completion ring with the same cookie. Payload never travels in IPC words.
#
# Requests (RingDescriptor.opcode):
#   opWrite  offset/length: bytes to print; completed (length = bytes taken) once they are in the
#            driver's transmit buffer, in request order. The bytes of one request are never split
#            by another client's output.
#   opRead   offset/length: room for input; completed with length = bytes delivered. In line mode
#            (the default) it completes with one line, '\n' included, edited with echo and
#            backspace (or with `length` bytes when the line is longer); in raw mode with whatever
#            input is there, unechoed. Reads of all clients queue in arrival order: input goes to
#            the oldest one.
#   opFlush  completed once every byte written before it has left the driver for the UART.
# Unknown opcodes and descriptors outside the data area complete with status InvalidArgument and
# RangeError; an index that jumps or goes backwards ends the client's session (its region is
# revoked at its next call; every later call answers MalformedMessage).
#
# Signals: the client passes `notify` to open (signalled when completions are waiting and the
# client asked for it through its flag); doorbell() gives it a notification to signal the driver
# ("look at my ring"), badged for this client.
@0x9b071c395779d8f9;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
using Memory = import "memory.capnp";
$Abi.namespace("tessera::console");

const ringSlots :UInt32 = 32;
const dataBytes :UInt32 = 16384;
const maxClients :UInt32 = 8;

const opWrite :UInt16 = 1;
const opRead :UInt16 = 2;
const opFlush :UInt16 = 3;

enum Mode @0xaaa8f62a6c56e560 {
  line @0;  # edited lines with echo and backspace
  raw @1;   # bytes as they arrive, no echo
}

interface Console @0xf63c006a8ce866c3 {
  open @0 (notify :Kernel.Notification) -> (region :Memory.Region, ringSlots :UInt32, dataBytes :UInt32);
  # Opens this client's session (one per badge): the region (read/write) with both rings
  # formatted. Busy when the client has one already, NotEnoughMemory when maxClients are open,
  # InvalidArgument without a notification.
  doorbell @1 () -> (doorbell :Kernel.Notification);
  # A notification to signal after pushing requests (when push answered true). EmptySlot without
  # an open session.
  setMode @2 (mode :Mode) -> ();
  status @3 () -> (written :UInt64, read :UInt64, refused :UInt64, held :Bool);
  # Bytes this client wrote and read, its requests refused; `held`: the driver holds a
  # completion the client has no room for. MalformedMessage once the session was ended for a
  # corrupted ring.
  close @4 () -> ();
  # Ends the session: the driver stops using the region and revokes it.
  watch @5 () -> (notification :Kernel.Notification);
  # A notification of this driver instance (read right only) that is never signalled: a wait on
  # it ends with an error (ObjectDeleted, or EmptySlot once the capability is gone) when the
  # console has ended — how a client learns to open again on the restarted console (its calls
  # meanwhile wait on the endpoint, one in progress answers NoReply). No session needed.
  crash @6 () -> ();
  # Test hook: the console faults on purpose (a test of restarts). Only when started with
  # arg=test; IllegalOperation otherwise.
  keyboardStatus @7 () -> (subscribed :Bool, subscriptions :UInt64);
  # Whether the console holds a keyboard subscription now, and how many it has made since it
  # started (one more after each restart of kbd it noticed). No session needed.
}
