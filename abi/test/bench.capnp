# A five-method interface whose generated client and server code `scripts/bench abi` measures.
@0xc7ef4665e13611a9;

using Abi = import "../base.capnp";
$Abi.namespace("tessera::abibench");

interface Bench @0xb30db449966114cf {
  read @0 (handle :UInt64, offset :UInt64, length :UInt32) -> (data :Data);
  write @1 (handle :UInt64, offset :UInt64, data :Data) -> (written :UInt32);
  open @2 (path :Text, flags :UInt32) -> (handle :UInt64);
  close @3 (handle :UInt64) -> ();
  stat @4 (handle :UInt64) -> (size :UInt64, mode :UInt32, name :Text);
}
