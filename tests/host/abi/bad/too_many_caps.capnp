@0xb037534f8a768e32;
using Abi = import "/base.capnp";
$Abi.namespace("bad");

interface Greedy @0x9cd845a59cbdbb67 {
  ping @0 () -> ();
  grab @1 (a :Greedy, b :Greedy, c :Greedy, d :Greedy) -> ();
}
