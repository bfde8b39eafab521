@0xd2b7a7f1f3c3a2e1;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

interface Device @0x9a3c6e2d1b0f4e5a $Abi.kernelObject $Abi.interfaceCode(99) {
  reset @0 () -> ();
  configure @1 (name :Text) -> ();
}
