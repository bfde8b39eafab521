@0xedd6729f7907c4e9;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

struct Box @0xb8ce6cd123cd2f84 (T) {
  value @0 :T;
}
