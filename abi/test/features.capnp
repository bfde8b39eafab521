# Test schema exercising every feature the generator supports (tests/host/abi). Not part of the
# system ABI, but generated, golden-checked and round-tripped against libcapnp like the rest.
@0xb533bb53e13e1f51;

using Abi = import "../base.capnp";
$Abi.namespace("tessera::abitest");

enum Color @0xc87bd31d14835080 {
  red @0;
  green @1;
  blue @2;
}

const answer :UInt32 = 42;
const greeting :Text = "hello";

struct Empty @0xaa89b2b52b92f60d {
  # A zero-sized struct: encoded with offset -1, never as a null pointer.
}

struct Point @0x86b763bf0d9045ef {
  x @0 :Int32;
  y @1 :Int32;
  label @2 :Text;
}

struct Scalars @0xd0fee1012c3f3b4d {
  flag @0 :Bool;
  i8 @1 :Int8;
  i16 @2 :Int16;
  i32 @3 :Int32;
  i64 @4 :Int64;
  u8 @5 :UInt8;
  u16 @6 :UInt16;
  u32 @7 :UInt32;
  u64 @8 :UInt64;
  f32 @9 :Float32;
  f64 @10 :Float64;
  color @11 :Color;
  other @12 :Bool;
}

struct Defaults @0xf7ae1e516f3e4ed1 {
  # Data fields travel XOR'd with these defaults.
  enabled @0 :Bool = true;
  count @1 :UInt32 = 7;
  delta @2 :Int16 = -3;
  ratio @3 :Float64 = 1.5;
  color @4 :Color = blue;
  name @5 :Text = "anonymous";
  blob @6 :Data = 0x"c0ffee";
  small @7 :Float32 = -0.25;
}

struct Shape @0xd63093953eec6471 {
  # An unnamed union beside ordinary fields, and a named union (a group).
  id @0 :UInt16;
  union {
    circle @1 :Float64;
    rectangle @2 :Point;
    nothing @3 :Void;
    polygon @4 :List(Point);
  }
  style :union {
    solid @5 :Color;
    dashed @6 :UInt8;
  }
  position :group {
    x @7 :Int64;
    y @8 :Int64;
  }
}

struct Everything @0xb02ad8db511d31cc {
  scalars @0 :Scalars;
  defaults @1 :Defaults;
  points @2 :List(Point);
  shapes @3 :List(Shape);
  name @4 :Text;
  payload @5 :Data;
  empty @6 :Empty;
  empties @7 :List(Empty);
  bools @8 :List(Bool);
  bytes @9 :List(UInt8);
  words @10 :List(UInt64);
  signed @11 :List(Int32);
  floats @12 :List(Float32);
  colors @13 :List(Color);
  names @14 :List(Text);
  blobs @15 :List(Data);
  nested @16 :Everything;
  shape @17 :Shape;
  service @18 :Store;
  anyCap @19 :Capability;
}

interface Store @0xaeb38592d10fe5dd {
  # A user-space protocol: server dispatch, client stubs, non-flat parameters and results.
  put @0 (key :Text, value :Data, point :Point) -> (replaced :Bool);
  get @1 (key :Text) -> (value :Data, found :Bool);
  list @2 (prefix :Text, limit :UInt32) -> (keys :List(Text));
  share @3 (peer :Store, note :Text) -> (token :UInt64);
  ping @4 () -> ();
}

struct Variant @0xe4f0c2d1b3a59786 {
  # A group inside a union: init_pair() resets the group's slots (libcapnp's initGroup), so a
  # member set before it cannot show through; pointer fields whose objects get replaced.
  union {
    plain @0 :UInt64;
    pair :group {
      left @1 :UInt32;
      right @2 :Bool = true;
      name @3 :Text;
    }
    blob @4 :Data;
  }
  note @5 :Text;
  point @6 :Point;
  items @7 :List(Point);
}
