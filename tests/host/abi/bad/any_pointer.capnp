@0xbb7f27f262fba100;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

struct Holder @0xb98fde5500ba11ef {
  id @0 :UInt32;
  anything @1 :AnyPointer;
}
