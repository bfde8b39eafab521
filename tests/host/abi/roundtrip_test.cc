// Round trips between the generated freestanding code and libcapnp, for every struct of every
// schema in abi/: random values written by libcapnp are read by the generated readers, and the
// same values written by the generated builders are byte-identical to libcapnp's encoding
// (objects are allocated in the same order) and decode with libcapnp to equal values.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch.hpp>
#include <random>

#include "schema_env.h"

namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::schema::Type;
using tessera::capnp::Word;

constexpr uint32_t kBufferWords = 1u << 15;

class RandomFiller {
 public:
  explicit RandomFiller(uint32_t seed) : rng_(seed) {}

  // Sets every field (one member of each union) in schema order, as the generated shim copies them.
  void fill(DynamicStruct::Builder out, int depth) {
    auto schema = out.getSchema();
    auto union_fields = schema.getUnionFields();
    uint32_t chosen = union_fields.size() ? pick(union_fields.size()) : 0;
    for (auto field : schema.getFields()) {
      const bool in_union = field.getProto().getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT;
      if (in_union && field != union_fields[chosen]) continue;
      set_field(out, field, in_union, depth);
    }
  }

 private:
  uint32_t pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
  uint64_t bits() { return (static_cast<uint64_t>(rng_()) << 32) | rng_(); }
  bool coin(int in) { return pick(static_cast<uint32_t>(in)) == 0; }

  std::string random_text() {
    std::string s(pick(12), ' ');
    for (auto& c : s) c = static_cast<char>('a' + pick(26));
    return s;
  }

  capnp::DynamicValue::Reader scalar(capnp::Type type, std::string* storage, std::vector<uint8_t>* bytes) {
    switch (type.which()) {
      case Type::BOOL: return coin(2);
      case Type::INT8: return static_cast<int8_t>(bits());
      case Type::INT16: return static_cast<int16_t>(bits());
      case Type::INT32: return static_cast<int32_t>(bits());
      case Type::INT64: return static_cast<int64_t>(bits());
      case Type::UINT8: return static_cast<uint8_t>(bits());
      case Type::UINT16: return static_cast<uint16_t>(bits());
      case Type::UINT32: return static_cast<uint32_t>(bits());
      case Type::UINT64: return bits();
      case Type::FLOAT32: return static_cast<float>(static_cast<int32_t>(bits() % 20001) - 10000) / 8.0f;
      case Type::FLOAT64: return static_cast<double>(static_cast<int64_t>(bits() % 2000001) - 1000000) / 16.0;
      case Type::ENUM:
        return capnp::DynamicEnum(type.asEnum(), static_cast<uint16_t>(pick(type.asEnum().getEnumerants().size())));
      case Type::TEXT:
        *storage = random_text();
        return capnp::Text::Reader(*storage);
      case Type::DATA:
        bytes->resize(pick(20));
        for (auto& b : *bytes) b = static_cast<uint8_t>(bits());
        return capnp::Data::Reader(bytes->data(), bytes->size());
      default: return capnp::VOID;
    }
  }

  void set_field(DynamicStruct::Builder out, capnp::StructSchema::Field field, bool in_union, int depth) {
    if (field.getProto().isGroup()) {
      fill((in_union ? out.init(field) : out.get(field)).as<DynamicStruct>(), depth);
      return;
    }
    const auto type = field.getType();
    std::string text;
    std::vector<uint8_t> bytes;
    switch (type.which()) {
      case Type::VOID:
        out.set(field, capnp::VOID);
        return;
      case Type::INTERFACE: case Type::ANY_POINTER:
        return;  // capabilities: see features_test.cc
      case Type::STRUCT:
        if (depth < 3 && !coin(4)) fill(out.init(field).as<DynamicStruct>(), depth + 1);
        return;
      case Type::LIST: {
        if (depth >= 3 || coin(4)) return;
        const auto element = type.asList().getElementType();
        const uint32_t count = pick(5);
        auto list = out.init(field, count).as<DynamicList>();
        for (uint32_t i = 0; i < count; ++i) {
          if (element.isStruct()) fill(list[i].as<DynamicStruct>(), depth + 1);
          else list.set(i, scalar(element, &text, &bytes));
        }
        return;
      }
      case Type::TEXT: case Type::DATA:
        if (coin(4)) return;  // leave some pointers null
        [[fallthrough]];
      default:
        out.set(field, scalar(type, &text, &bytes));
    }
  }

  std::mt19937 rng_;
};

kj::ArrayPtr<const capnp::word> single_segment(capnp::MallocMessageBuilder& message) {
  auto segments = message.getSegmentsForOutput();
  REQUIRE(segments.size() == 1);
  return segments[0];
}

}  // namespace

TEST_CASE("every struct of every schema round-trips with libcapnp", "[abi][roundtrip]") {
  static Word native[kBufferWords];
  uint64_t caps[3];
  REQUIRE(abitest::all_entries().size() > 60);
  for (const auto& entry : abitest::all_entries()) {
    const auto schema = abitest::struct_schema(entry.id);
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      INFO(entry.schema << ": " << entry.name << " seed " << seed);
      capnp::MallocMessageBuilder original(kBufferWords, capnp::AllocationStrategy::FIXED_SIZE);
      RandomFiller(seed * 7919u + static_cast<uint32_t>(entry.id)).fill(original.initRoot<DynamicStruct>(schema), 0);
      const auto expected_segment = single_segment(original);
      const auto expected = original.getRoot<DynamicStruct>(schema).asReader();

      // Freestanding builder: the same bytes as libcapnp.
      tessera::capnp::MessageBuilder builder(native, kBufferWords, caps, 3);
      entry.build(expected, builder);
      const auto words = builder.finish();
      REQUIRE(words.ok());
      REQUIRE(words.value() == expected_segment.size());
      CHECK(abitest::bytes_of(native, words.value()) ==
            abitest::bytes_of(reinterpret_cast<const Word*>(expected_segment.begin()), words.value()));

      // libcapnp reads what the freestanding builder wrote.
      kj::ArrayPtr<const capnp::word> segments[1] = {
          kj::arrayPtr(reinterpret_cast<const capnp::word*>(native), words.value())};
      capnp::SegmentArrayMessageReader decoded(kj::arrayPtr(segments, 1));
      CHECK(abitest::text_of(decoded.getRoot<DynamicStruct>(schema)) == abitest::text_of(expected));

      // The freestanding reader reads what libcapnp wrote.
      tessera::capnp::MessageReader reader(reinterpret_cast<const Word*>(expected_segment.begin()),
                                           static_cast<uint32_t>(expected_segment.size()), 0);
      capnp::MallocMessageBuilder copy;
      REQUIRE(entry.read(reader, copy.initRoot<DynamicStruct>(schema)));
      CHECK(abitest::text_of(copy.getRoot<DynamicStruct>(schema).asReader()) == abitest::text_of(expected));
    }
  }
}

TEST_CASE("messages that libcapnp writes in canonical form stay canonical", "[abi][roundtrip]") {
  // A struct without trailing zero words, allocated depth-first: libcapnp's canonical form.
  const auto schema = abitest::struct_schema("test/features.capnp", "Point");
  capnp::MallocMessageBuilder original;
  auto point = original.initRoot<DynamicStruct>(schema);
  point.set("x", 5);
  point.set("y", -9);
  point.set("label", "north");
  REQUIRE(original.isCanonical());
  static Word native[64];
  tessera::capnp::MessageBuilder builder(native, 64);
  for (const auto& entry : abitest::all_entries()) {
    if (entry.id == schema.getProto().getId()) entry.build(point.asReader(), builder);
  }
  const auto words = builder.finish();
  REQUIRE(words.ok());
  kj::ArrayPtr<const capnp::word> segments[1] = {
      kj::arrayPtr(reinterpret_cast<const capnp::word*>(native), words.value())};
  capnp::SegmentArrayMessageReader decoded(kj::arrayPtr(segments, 1));
  CHECK(decoded.isCanonical());
}
