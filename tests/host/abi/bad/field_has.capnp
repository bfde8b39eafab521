@0xd7c1b2a3f4e59687;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

struct Entry @0xe8d2c3b4a5f69788 {
  key @0 :Text;
  hasKey @1 :Bool;
}
