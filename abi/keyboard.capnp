# The PS/2 keyboard driver (servers/kbd, docs/drivers.md): key events from the i8042 to every
# subscriber (the console is one) through a ring per subscriber.
#
# Data plane: one shared region per subscriber, made by the driver, holding one ring
# (<tessera/ring.h>, docs/rings.md) of ringSlots descriptors at offset 0 in which the driver is
# the producer and the subscriber the consumer. A descriptor is one event:
#   opcode    eventPress or eventRelease
#   argument  bits 0-15 the key (keyCode), 16-23 the modifiers after the event (mod* bits),
#             32-39 the character the press types (ASCII, shift and caps lock applied; 0: none)
#   cookie    the event's number (from 1, counted for every subscriber alike: a gap means events
#             were dropped because the subscriber's ring was full)
#   offset, length, status: 0
# The driver never waits for a subscriber: a full ring drops the event for that subscriber only.
# The driver signals `notify` after pushing when the subscriber asked for it (its wake flag).
# A subscriber that corrupts its ring's indices is dropped.
@0xf881ceecc4785e39;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
using Memory = import "memory.capnp";
$Abi.namespace("tessera::keyboard");

const ringSlots :UInt32 = 64;
const maxSubscribers :UInt32 = 4;

const eventPress :UInt16 = 1;
const eventRelease :UInt16 = 2;

const modShift :UInt8 = 1;
const modCtrl :UInt8 = 2;
const modAlt :UInt8 = 4;
const modCapsLock :UInt8 = 8;

# Key codes: the scancode set 1 make code (what the i8042 delivers with translation on); keys
# with the 0xE0 prefix add extendedKey (e.g. right ctrl = 0x11D).
const extendedKey :UInt16 = 0x100;
const keyEscape :UInt16 = 0x01;
const keyBackspace :UInt16 = 0x0E;
const keyEnter :UInt16 = 0x1C;
const keyLeftCtrl :UInt16 = 0x1D;
const keyLeftShift :UInt16 = 0x2A;
const keyRightShift :UInt16 = 0x36;
const keyLeftAlt :UInt16 = 0x38;
const keyCapsLock :UInt16 = 0x3A;
const keyA :UInt16 = 0x1E;

interface Keyboard @0xe1967a88a2b0c211 {
  subscribe @0 (notify :Kernel.Notification) -> (region :Memory.Region, ringSlots :UInt32);
  # Events from now on reach this subscriber (one subscription per badge: Busy for a second while
  # the first one's notification lives; a restarted subscriber, whose predecessor's is gone,
  # replaces it),
  # NotEnoughMemory when maxSubscribers are subscribed, InvalidArgument without a notification.
  status @1 () -> (events :UInt64, dropped :UInt64, leds :UInt8);
  # Events seen since start, events dropped for this subscriber; the LEDs set (bit 2 caps lock).
  unsubscribe @2 () -> ();
  watch @3 () -> (notification :Kernel.Notification);
  # A notification of this driver instance (read right only) that is never signalled: a wait on
  # it ends with an error (ObjectDeleted, or EmptySlot once the capability is gone) when the
  # driver has ended, its objects deleted — how a subscriber learns to subscribe again to the
  # restarted driver. The same capability for every caller.
  crash @4 () -> ();
  # Test hook: the driver faults on purpose (a test of restarts). Only when started with
  # arg=test; IllegalOperation otherwise.
}
