// Typed use of the generated code for the feature schema (abi/test/features.capnp): defaults,
// unions, groups, zero-sized structs, lists, Text/Data and capabilities, checked against
// libcapnp where the encoding matters.
#include <capnp/any.h>
#include <capnp/serialize.h>
#include <capnp/message.h>
#include <tessera/abi/features.capnp.h>

#include <algorithm>
#include <catch.hpp>
#include <cstring>
#include <string>

#include "schema_env.h"

using namespace tessera::abitest;  // NOLINT: test file
using tessera::capnp::CapIndex;
using tessera::capnp::CapRef;
using tessera::capnp::Data;
using tessera::capnp::MessageBuilder;
using tessera::capnp::MessageReader;
using tessera::capnp::Text;
using tessera::capnp::Word;

namespace {
capnp::DynamicStruct::Reader decode_with_libcapnp(const Word* words, uint32_t count, const char* type,
                                                  kj::Own<capnp::SegmentArrayMessageReader>* keep,
                                                  kj::ArrayPtr<const capnp::word>* segment) {
  *segment = kj::arrayPtr(reinterpret_cast<const capnp::word*>(words), count);
  *keep = kj::heap<capnp::SegmentArrayMessageReader>(kj::arrayPtr(segment, 1));
  return (*keep)->getRoot<capnp::DynamicStruct>(abitest::struct_schema("test/features.capnp", type));
}
}  // namespace

TEST_CASE("defaults read back when fields are unset, and are XOR'd on the wire", "[abi][features]") {
  Word buffer[32];
  MessageBuilder builder(buffer, 32);
  auto defaults = builder.init_root_as<Defaults>();
  {
    MessageReader reader(buffer, builder.size_words(), 0);
    const auto root = reader.root_as<Defaults>();
    REQUIRE(root.ok());
    CHECK(root->enabled());
    CHECK(root->count() == 7);
    CHECK(root->delta() == -3);
    CHECK(root->ratio() == 1.5);
    CHECK(root->color() == Color::Blue);
    CHECK(root->small() == -0.25f);
    CHECK(root->name().value() == Text("anonymous"));
    const Data blob = root->blob().value();
    REQUIRE(blob.size == 3);
    CHECK(blob.data[0] == 0xc0);
  }
  defaults.set_count(7);  // the default: stored as zero
  CHECK(buffer[2] == 0);
  defaults.set_enabled(false);
  defaults.set_count(0);
  MessageReader reader(buffer, builder.size_words(), 0);
  const auto root = reader.root_as<Defaults>().value();
  CHECK_FALSE(root.enabled());
  CHECK(root.count() == 0);

  kj::Own<capnp::SegmentArrayMessageReader> keep;
  kj::ArrayPtr<const capnp::word> segment;
  auto decoded = decode_with_libcapnp(buffer, builder.size_words(), "Defaults", &keep, &segment);
  CHECK(decoded.get("enabled").as<bool>() == false);
  CHECK(decoded.get("count").as<uint32_t>() == 0);
  CHECK(decoded.get("delta").as<int16_t>() == -3);
}

TEST_CASE("unions, named unions and groups", "[abi][features]") {
  Word buffer[64];
  MessageBuilder builder(buffer, 64);
  auto shape = builder.init_root_as<Shape>();
  shape.set_id(9);
  auto rectangle = shape.init_rectangle();
  rectangle.set_x(1);
  rectangle.set_y(2);
  shape.style().set_dashed(4);
  shape.position().set_x(-10);
  shape.position().set_y(20);
  REQUIRE(builder.finish().ok());

  MessageReader reader(buffer, builder.size_words(), 0);
  const auto root = reader.root_as<Shape>().value();
  CHECK(root.which() == Shape::Which::Rectangle);
  CHECK(root.is_rectangle());
  CHECK_FALSE(root.is_circle());
  CHECK(root.rectangle().value().y() == 2);
  CHECK(root.style().which() == Shape::Style::Which::Dashed);
  CHECK(root.style().dashed() == 4);
  CHECK(root.position().x() == -10);

  kj::Own<capnp::SegmentArrayMessageReader> keep;
  kj::ArrayPtr<const capnp::word> segment;
  auto decoded = decode_with_libcapnp(buffer, builder.size_words(), "Shape", &keep, &segment);
  CHECK(abitest::text_of(decoded) ==
        "(id = 9, rectangle = (x = 1, y = 2), style = (dashed = 4), position = (x = -10, y = 20))");

  shape.set_nothing();
  MessageReader again(buffer, builder.size_words(), 0);
  CHECK(again.root_as<Shape>().value().which() == Shape::Which::Nothing);
}

namespace {
// libcapnp's bytes for the message `build` writes through the dynamic API (one segment).
template <typename Build>
std::vector<uint8_t> libcapnp_bytes(const char* type, Build&& build) {
  capnp::MallocMessageBuilder message;
  build(message.initRoot<capnp::DynamicStruct>(abitest::struct_schema("test/features.capnp", type)));
  const auto segments = message.getSegmentsForOutput();
  REQUIRE(segments.size() == 1);
  return abitest::bytes_of(reinterpret_cast<const Word*>(segments[0].begin()),
                           static_cast<uint32_t>(segments[0].size()));
}

bool contains(const std::vector<uint8_t>& bytes, const std::string& needle) {
  return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end();
}
}  // namespace

TEST_CASE("init_<group>() of a union member resets the group, like libcapnp's initGroup", "[abi][features]") {
  Word buffer[32] = {};
  MessageBuilder builder(buffer, 32);
  auto variant = builder.init_root_as<Variant>();
  variant.set_plain(0xFFFF'FFFF'FFFF'FFFFull);  // covers pair.left and pair.right
  auto pair = variant.init_pair();
  {
    MessageReader reader(buffer, builder.size_words(), 0);
    const auto root = reader.root_as<Variant>().value();
    CHECK(root.is_pair());
    CHECK(root.pair().left() == 0);
    CHECK(root.pair().right());  // the default, as libcapnp reads it
    CHECK_FALSE(root.pair().has_name());
  }
  pair.set_left(5);
  const std::vector<uint8_t> expected = libcapnp_bytes("Variant", [](capnp::DynamicStruct::Builder root) {
    root.set("plain", 0xFFFF'FFFF'FFFF'FFFFull);
    root.init("pair").as<capnp::DynamicStruct>().set("left", 5u);
  });
  CHECK(abitest::bytes_of(buffer, builder.size_words()) == expected);

  // A Data member of the union shares the group's pointer: init_pair() clears it and zeroes its bytes.
  MessageBuilder again(buffer, 32);
  auto other = again.init_root_as<Variant>();
  const uint8_t secret[] = {'s', 'e', 'c', 'r', 'e', 't', '!'};
  other.set_blob(Data{secret, sizeof secret});
  other.init_pair().set_name("n");
  const std::vector<uint8_t> expected_blob = libcapnp_bytes("Variant", [&](capnp::DynamicStruct::Builder root) {
    root.set("blob", capnp::Data::Reader(secret, sizeof secret));
    root.init("pair").as<capnp::DynamicStruct>().set("name", "n");
  });
  const auto bytes = abitest::bytes_of(buffer, again.size_words());
  CHECK(bytes == expected_blob);
  CHECK_FALSE(contains(bytes, "secret"));
}

TEST_CASE("overwritten Text, Data, structs and lists are zeroed, like libcapnp's", "[abi][features]") {
  Word buffer[64] = {};
  MessageBuilder builder(buffer, 64);
  auto variant = builder.init_root_as<Variant>();
  variant.set_note("password=hunter2");
  variant.set_note("x");
  variant.init_point().set_label("hidden label");
  variant.init_point().set_x(3);
  auto items = variant.init_items(2);
  items[1].set_label("inner secret");
  variant.init_items(1)[0].set_y(4);
  const uint8_t secret[] = {'k', 'e', 'y', 'k', 'e', 'y'};
  variant.set_blob(Data{secret, sizeof secret});
  const uint8_t shorter[] = {1};
  variant.set_blob(Data{shorter, 1});
  REQUIRE(builder.finish().ok());

  const std::vector<uint8_t> expected = libcapnp_bytes("Variant", [&](capnp::DynamicStruct::Builder root) {
    root.set("note", "password=hunter2");
    root.set("note", "x");
    root.init("point").as<capnp::DynamicStruct>().set("label", "hidden label");
    root.init("point").as<capnp::DynamicStruct>().set("x", 3);
    root.init("items", 2).as<capnp::DynamicList>()[1].as<capnp::DynamicStruct>().set("label", "inner secret");
    root.init("items", 1).as<capnp::DynamicList>()[0].as<capnp::DynamicStruct>().set("y", 4);
    root.set("blob", capnp::Data::Reader(secret, sizeof secret));
    root.set("blob", capnp::Data::Reader(shorter, 1));
  });
  const auto bytes = abitest::bytes_of(buffer, builder.size_words());
  CHECK(bytes == expected);
  for (const char* leaked : {"hunter2", "hidden", "inner", "keykey"}) {
    INFO(leaked);
    CHECK_FALSE(contains(bytes, leaked));
  }
  MessageReader reader(buffer, builder.size_words(), 0);
  const auto root = reader.root_as<Variant>().value();
  CHECK(root.note().value() == Text("x"));
  CHECK(root.point().value().x() == 3);
  CHECK_FALSE(root.point().value().has_label());
  CHECK(root.items().value().size() == 1);
}

TEST_CASE("zero-sized structs use offset -1, never a null pointer", "[abi][features]") {
  Word buffer[128];
  MessageBuilder builder(buffer, 128);
  auto everything = builder.init_root_as<Everything>();
  everything.init_empty();
  auto empties = everything.init_empties(3000);
  REQUIRE(builder.finish().ok());
  CHECK(empties.size() == 3000);
  CHECK(builder.size_words() == 1 + Everything::kPointerCount + 1);  // 3000 elements, one tag word
  const Word pointer = buffer[1 + Everything::kDataWords + 6];
  CHECK(pointer == 0xFFFFFFFCull);

  // Each zero-sized element costs a word of traversal budget: the default budget (64x the
  // message size + 1024) refuses 3000 of them in a 23-word message; a caller may allow more.
  MessageReader strict(buffer, builder.size_words(), 0);
  CHECK(strict.root_as<Everything>().value().empties().error() == tessera::Error::MalformedMessage);
  MessageReader reader(buffer, builder.size_words(), 0, {.nesting = 64, .budget_words = 8192});
  const auto root = reader.root_as<Everything>().value();
  CHECK(root.has_empty());
  REQUIRE(root.empties().ok());
  CHECK(root.empties().value().size() == 3000);

  kj::Own<capnp::SegmentArrayMessageReader> keep;
  kj::ArrayPtr<const capnp::word> segment;
  auto decoded = decode_with_libcapnp(buffer, builder.size_words(), "Everything", &keep, &segment);
  CHECK(decoded.has("empty"));
  CHECK(decoded.get("empties").as<capnp::DynamicList>().size() == 3000);
}

TEST_CASE("lists, Text and Data", "[abi][features]") {
  Word buffer[256];
  MessageBuilder builder(buffer, 256);
  auto root = builder.init_root_as<Everything>();
  auto bools = root.init_bools(10);
  for (uint32_t i = 0; i < 10; ++i) bools.set(i, i % 3 == 0);
  auto names = root.init_names(2);
  names.set(0, "alpha");
  names.set(1, "");
  auto points = root.init_points(2);
  points[1].set_x(7);
  points[1].set_label("seven");
  const uint8_t raw[] = {1, 2, 3};
  root.set_payload(Data{raw, 3});
  auto colors = root.init_colors(2);
  colors.set(1, Color::Green);
  REQUIRE(builder.finish().ok());

  MessageReader reader(buffer, builder.size_words(), 0);
  const auto everything = reader.root_as<Everything>().value();
  const auto read_bools = everything.bools().value();
  CHECK(read_bools.size() == 10);
  CHECK(read_bools[3]);
  CHECK_FALSE(read_bools[4]);
  CHECK_FALSE(read_bools[99]);  // past the end: default, no out-of-bounds read
  CHECK(everything.names().value()[0].value() == Text("alpha"));
  CHECK(everything.names().value()[1].value().size == 0);
  CHECK(everything.points().value()[1].label().value() == Text("seven"));
  CHECK(everything.payload().value().size == 3);
  CHECK(everything.colors().value()[1] == Color::Green);
  CHECK_FALSE(everything.has_name());
  CHECK(everything.name().value().size == 0);
}

TEST_CASE("capability fields index the message's capability table", "[abi][features]") {
  Word buffer[64];
  uint64_t caps[3] = {};
  MessageBuilder builder(buffer, 64, caps, 3);
  auto root = builder.init_root_as<Everything>();
  root.set_service(CapRef{0x55});
  root.set_any_cap(CapRef{0x66});
  REQUIRE(builder.finish().ok());
  CHECK(builder.cap_count() == 2);
  CHECK(caps[0] == 0x55);
  CHECK(caps[1] == 0x66);

  MessageReader reader(buffer, builder.size_words(), 2);
  const auto everything = reader.root_as<Everything>().value();
  CHECK(everything.service().value().value == 0);
  CHECK(everything.any_cap().value().value == 1);
  CHECK(everything.nested().value().service().error() == tessera::Error::InvalidCapability);

  // Fewer capabilities arrived than the message names: rejected, not trusted, with an error that
  // names the cause (the sender's cap lacked Grant, or the receiver took no capabilities).
  MessageReader short_of_caps(buffer, builder.size_words(), 1);
  CHECK(short_of_caps.root_as<Everything>().value().any_cap().error() == tessera::Error::MissingCapability);

  // libcapnp sees capability pointers in the same slots.
  kj::ArrayPtr<const capnp::word> segment = kj::arrayPtr(reinterpret_cast<const capnp::word*>(buffer), builder.size_words());
  capnp::SegmentArrayMessageReader decoded(kj::arrayPtr(&segment, 1));
  auto pointers = decoded.getRoot<capnp::AnyStruct>().getPointerSection();
  CHECK(pointers[18].getPointerType() == capnp::PointerType::CAPABILITY);
  CHECK(pointers[19].getPointerType() == capnp::PointerType::CAPABILITY);

  // A fourth capability does not fit in the table: a sticky error, nothing written past it.
  MessageBuilder crowded(buffer, 64, caps, 3);
  auto list = crowded.init_root_as<Everything>();
  for (int i = 0; i < 4; ++i) list.set_service(CapRef{static_cast<uint64_t>(i)});
  CHECK(crowded.finish().error() == tessera::Error::RangeError);
}

TEST_CASE("a full buffer makes the message fail, never overflow", "[abi][features]") {
  Word buffer[8] = {};
  MessageBuilder builder(buffer, 4);
  auto root = builder.init_root_as<Point>();
  root.set_label("a label far longer than the four words this buffer has");
  root.set_x(3);
  CHECK(builder.finish().error() == tessera::Error::RangeError);
  CHECK(buffer[4] == 0);
}

TEST_CASE("constants are generated", "[abi][features]") {
  STATIC_REQUIRE(kAnswer == 42);
  CHECK(kGreeting == Text("hello"));
  STATIC_REQUIRE(static_cast<uint16_t>(tessera::Error::Busy) == 19);
  STATIC_REQUIRE(static_cast<uint16_t>(tessera::Error::NoReply) == 20);
  STATIC_REQUIRE(static_cast<uint16_t>(tessera::Error::MissingCapability) == 21);
  STATIC_REQUIRE(static_cast<uint16_t>(tessera::Error::IoError) == 23);
  STATIC_REQUIRE(tessera::kErrorCount == 35);
}
