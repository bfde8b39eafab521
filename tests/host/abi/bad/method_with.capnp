@0xb3354b9359c19e9c;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

interface Getter @0xa5c8e1d0f2b34c71 {
  get @0 (key :Text) -> (value :Data);
  getWith @1 (key :Text, flags :UInt32) -> (value :Data);
}
