# The example key-value store (servers/kv, used by servers/kvclient): a server of small byte
# values under short text keys, and the reference for writing a protocol (docs/writing-a-server.md).
# Ids are pinned (`capnp id`): renaming the interface must not change its labels.
@0xaf7552c748f29652;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
$Abi.namespace("tessera::kv");

const maxKeyBytes :UInt32 = 32;
const maxValueBytes :UInt32 = 256;

interface Store @0x99db401a0856390e {
  put @0 (key :Text, value :Data) -> (replaced :Bool);
  # Stores `value` under `key` (1..maxKeyBytes bytes; values up to maxValueBytes). RangeError
  # when either is too long or the key empty, NotEnoughMemory when the store is full.
  get @1 (key :Text) -> (found :Bool, value :Data);
  delete @2 (key :Text) -> (existed :Bool);
  watch @3 (key :Text, notify :Kernel.Notification) -> ();
  # Passes a capability: the server keeps `notify` and signals it whenever `key` is put or
  # deleted. NotEnoughMemory when it watches too many keys already, InvalidArgument without a
  # capability.
}
