@0xe21e1f1cb0f5d51c;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

struct Matrix @0x8c1e3b0f0e6a2b7d {
  rows @0 :List(List(Float64));
}
