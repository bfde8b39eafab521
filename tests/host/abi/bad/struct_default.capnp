@0xf1e2d3c4b5a69788;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

struct Inner @0xc1d2e3f4a5b69788 {
  x @0 :UInt8;
}

struct Outer @0xa1b2c3d4e5f60718 {
  inner @0 :Inner = (x = 3);
}
