@0xfa2fdd964a847de3;
# Names that collide with what the generator emits around them: a method `label` (the
# interface's label()), `dispatch` (Server<Impl>::dispatch), `call` (the client's helper), and a
# field `raw` (the readers' raw()). The generated header must compile (tools_test.cc).
using Abi = import "/base.capnp";
$Abi.namespace("names");

struct Holder @0x95384d4e17902a61 {
  raw @0 :UInt32;
  which @1 :Text;
  union {
    label @2 :UInt8;
    dispatch @3 :Void;
  }
}

interface Clash @0xded3087e8d25043a {
  label @0 (raw :UInt32) -> (raw :UInt32);
  dispatch @1 (which :Text) -> ();
  call @2 (holder :Holder) -> (holder :Holder);
  methodOf @3 () -> ();
}
