# Tessera's base schema: the system-wide Error enum and the annotations the code generator reads.
# Every id in abi/ is pinned: ids are part of the ABI and must not change when things are renamed.
@0xd4e819dc18dc4979;

using Abi = import "base.capnp";
$Abi.namespace("tessera");

annotation namespace @0xb96715e031c926d7 (file) :Text;
# C++ namespace for everything generated from the file, e.g. "tessera::kernel".

annotation kernelObject @0xc7c4bd71e6399d6a (interface) :Void;
# The interface is a kernel object type, invoked with a Call on its capability. The generator
# additionally emits the kernel's decoder (typed, flat argument structs read straight from the
# message words) and the result encoder; parameters and results must then be flat: scalars,
# enums, bools and capabilities only.

annotation interfaceCode @0xc98bd05444eca72b (interface) :UInt32;
# The upper bits of every invocation label of the interface (label = code << 16 | method).
# Required on kernel objects; other interfaces default to the low 32 bits of their id.

enum Error @0x962502b90c06a334 {
  # The one error enum of the system, shared by kernel and user space. A reply's label carries it.
  ok @0;
  invalidArgument @1;       # an argument is out of its domain
  invalidCapability @2;     # the capability does not name a usable object
  illegalOperation @3;      # the object does not support this operation now
  rangeError @4;            # a numeric argument is outside the allowed range
  alignmentError @5;        # an address or size is not suitably aligned
  failedLookup @6;          # CSpace addressing failed (guard, depth, missing CNode)
  truncatedMessage @7;      # the message is shorter than the invocation needs
  deleteFirst @8;           # destination slot is occupied
  revokeFirst @9;           # the object still has derived children
  notEnoughMemory @10;      # the untyped region has no room
  insufficientRights @11;   # the capability lacks a right the operation needs
  wrongObjectType @12;      # the capability names an object of another type
  emptySlot @13;            # the source slot holds no capability
  malformedMessage @14;     # a message failed validation
  objectDeleted @15;        # the object was deleted while the caller waited on it
  wouldBlock @16;           # a non-blocking operation found no partner
  timedOut @17;             # a timeout expired before the operation completed
  notSupported @18;         # the operation is not implemented on this object or build
  busy @19;                 # the object is in use and cannot be changed now
  noReply @20;              # the thread that owed this Call its reply will not send it: it was
                            # destroyed (a server that faulted or exited and was restarted), or it
                            # gave the reply up by receiving again. The call may be retried.
  missingCapability @21;    # the message names a capability that did not arrive: the sender's
                            # endpoint cap lacks Grant, or the receiver accepts no capabilities
  outOfMemory @22;          # the caller's memory quota (servers/memory) cannot pay for the request
  ioError @23;              # the device reported that it could not do the transfer (e.g. virtio-blk's
                            # IOERR status)
  notFound @24;             # no file or directory of that name
  exists @25;               # the name is taken
  notDirectory @26;         # a path component (or the operand) is not a directory
  isDirectory @27;          # the operation needs a non-directory and the operand is a directory
  notEmpty @28;             # the directory still has entries
  nameTooLong @29;          # a path component is longer than 255 bytes, or a path than its limit
  noSpace @30;              # the file system has no free block or inode left for the request
  corrupted @31;            # an on-disk structure failed validation
  tooLarge @32;             # the file would exceed the largest size the format can hold
  symlinkLoop @33;          # following symbolic links did not end within the limit
  readOnly @34;             # the file system is mounted read-only
}
