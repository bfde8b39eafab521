// Hostile messages: every malformation is an error from the reader, never a crash or an
// out-of-bounds read (this binary runs under ASan and UBSan).
#include <capnp/message.h>
#include <tessera/abi/features.capnp.h>

#include <catch.hpp>
#include <random>
#include <vector>

#include "schema_env.h"

using namespace tessera::abitest;  // NOLINT: test file
using tessera::Error;
using tessera::capnp::ElementSize;
using tessera::capnp::MessageReader;
using tessera::capnp::Word;
namespace wire = tessera::capnp::wire;

namespace {
// Copies `words` into an exactly-sized heap buffer so ASan catches any read past its end.
struct Message {
  explicit Message(std::vector<Word> words) : storage(std::move(words)) {}
  std::vector<Word> storage;
  const Word* data() const { return storage.empty() ? nullptr : storage.data(); }
  uint32_t size() const { return static_cast<uint32_t>(storage.size()); }
};

// Everything's pointer section starts right after the root pointer (it has no data words).
static_assert(Everything::kDataWords == 0);
constexpr uint32_t kNested = 16;   // Everything.nested
constexpr uint32_t kPoints = 2;    // Everything.points
constexpr uint32_t kName = 4;      // Everything.name
constexpr uint32_t kEmpties = 7;   // Everything.empties
constexpr uint32_t kBools = 8;     // Everything.bools

// A root Everything whose pointer `index` holds `pointer`, followed by `tail`.
std::vector<Word> everything_with(uint32_t index, Word pointer, std::vector<Word> tail = {}) {
  std::vector<Word> words(1 + Everything::kPointerCount, 0);
  words[0] = wire::make_struct(0, 0, Everything::kPointerCount);
  words[1 + index] = pointer;
  words.insert(words.end(), tail.begin(), tail.end());
  return words;
}
// Offset from pointer slot `index` of everything_with() to the first tail word.
int32_t to_tail(uint32_t index) { return static_cast<int32_t>(Everything::kPointerCount - index - 1); }
}  // namespace

TEST_CASE("empty and truncated messages", "[abi][malformed]") {
  MessageReader empty(nullptr, 0, 0);
  CHECK(empty.root().error() == Error::TruncatedMessage);

  // The root struct claims more words than the message has.
  Message truncated({wire::make_struct(0, 2, 1), 0});
  MessageReader reader(truncated.data(), truncated.size(), 0);
  CHECK(reader.root().error() == Error::MalformedMessage);

  // A valid message cut short at every length: the reader fails cleanly or reads defaults.
  Word buffer[64];
  tessera::capnp::MessageBuilder builder(buffer, 64);
  auto point = builder.init_root_as<Point>();
  point.set_x(1);
  point.set_label("truncate me please");
  const uint32_t full = builder.finish().value();
  for (uint32_t n = 0; n < full; ++n) {
    Message cut(std::vector<Word>(buffer, buffer + n));
    MessageReader partial(cut.data(), cut.size(), 0);
    auto root = partial.root_as<Point>();
    if (root.ok()) CHECK_FALSE(root->label().ok());
  }
}

TEST_CASE("out-of-bounds pointers", "[abi][malformed]") {
  for (int32_t offset : {100, -100, -19, 1 << 28, -(1 << 29)}) {
    Message m(everything_with(kNested, wire::make_struct(offset, 1, 0)));
    MessageReader reader(m.data(), m.size(), 0);
    CHECK(reader.root_as<Everything>().value().nested().error() == Error::MalformedMessage);
  }
  // A list whose elements run past the end.
  Message list(everything_with(kName, wire::make_list(to_tail(kName), ElementSize::Byte, 100), {0}));
  MessageReader reader(list.data(), list.size(), 0);
  CHECK(reader.root_as<Everything>().value().name().error() == Error::MalformedMessage);
  // Maximal section sizes and counts do not overflow the bounds arithmetic.
  Message huge(everything_with(kNested, wire::make_struct(0x1FFFFFFF, 0xFFFF, 0xFFFF)));
  MessageReader huge_reader(huge.data(), huge.size(), 0);
  CHECK(huge_reader.root_as<Everything>().value().nested().error() == Error::MalformedMessage);
  Message long_list(everything_with(kPoints, wire::make_list(to_tail(kPoints), ElementSize::InlineComposite, wire::kMaxListCount), {0}));
  MessageReader long_reader(long_list.data(), long_list.size(), 0);
  CHECK(long_reader.root_as<Everything>().value().points().error() == Error::MalformedMessage);
}

TEST_CASE("far pointers and other pointer kinds are rejected", "[abi][malformed]") {
  Message far_root({2 | (5ull << 32), 0, 0});
  MessageReader reader(far_root.data(), far_root.size(), 0);
  CHECK(reader.root().error() == Error::MalformedMessage);

  Message far_field(everything_with(kNested, 2 | (1ull << 3)));
  MessageReader field_reader(far_field.data(), far_field.size(), 0);
  const auto root = field_reader.root_as<Everything>().value();
  CHECK(root.nested().error() == Error::MalformedMessage);

  Message cap_for_struct(everything_with(kNested, wire::make_capability(0)));
  MessageReader cap_reader(cap_for_struct.data(), cap_for_struct.size(), 1);
  CHECK(cap_reader.root_as<Everything>().value().nested().error() == Error::MalformedMessage);

  Message list_for_struct(everything_with(kNested, wire::make_list(to_tail(kNested), ElementSize::Byte, 0)));
  MessageReader list_reader(list_for_struct.data(), list_for_struct.size(), 0);
  CHECK(list_reader.root_as<Everything>().value().nested().error() == Error::MalformedMessage);

  Message struct_for_cap(everything_with(18, wire::make_struct(to_tail(18), 0, 0)));
  MessageReader struct_reader(struct_for_cap.data(), struct_for_cap.size(), 0);
  CHECK(struct_reader.root_as<Everything>().value().service().error() == Error::MalformedMessage);
}

TEST_CASE("pointer loops end with an error", "[abi][malformed]") {
  // Everything.nested points back at the root struct: an infinite chain.
  Message loop(everything_with(kNested, wire::make_struct(-(static_cast<int32_t>(kNested) + 1), 0, Everything::kPointerCount)));
  MessageReader reader(loop.data(), loop.size(), 0);
  Everything::Reader node = reader.root_as<Everything>().value();
  int steps = 0;
  Error error = Error::Ok;
  while (steps < 100000) {
    const auto next = node.nested();
    if (!next.ok()) {
      error = next.error();
      break;
    }
    node = next.value();
    ++steps;
  }
  CHECK(error == Error::MalformedMessage);
  CHECK(steps < 1000);
}

TEST_CASE("deep nesting stops at the limit", "[abi][malformed]") {
  // 100 Points chained through Everything.nested, each link valid and in bounds.
  std::vector<Word> words;
  words.push_back(wire::make_struct(0, 0, Everything::kPointerCount));
  for (int depth = 0; depth < 100; ++depth) {
    std::vector<Word> node(Everything::kPointerCount, 0);
    node[kNested] = wire::make_struct(static_cast<int32_t>(Everything::kPointerCount - kNested - 1), 0, Everything::kPointerCount);
    words.insert(words.end(), node.begin(), node.end());
  }
  words.insert(words.end(), Everything::kPointerCount, 0);
  Message chain(words);
  MessageReader reader(chain.data(), chain.size(), 0, {.nesting = 64, .budget_words = 1u << 30});
  Everything::Reader node = reader.root_as<Everything>().value();
  int depth = 0;
  Error error = Error::Ok;
  while (depth < 200) {
    const auto next = node.nested();
    if (!next.ok()) {
      error = next.error();
      break;
    }
    node = next.value();
    ++depth;
  }
  CHECK(error == Error::MalformedMessage);
  CHECK(depth == 63);  // the root is the first of the 64 levels
}

TEST_CASE("list amplification is bounded by the traversal budget", "[abi][malformed]") {
  // 2^29-1 zero-sized structs in zero words: each element still costs a word.
  std::vector<Word> tail = {wire::make_struct(static_cast<int32_t>(wire::kMaxListCount), 0, 0)};
  Message empties(everything_with(kEmpties, wire::make_list(to_tail(kEmpties), ElementSize::InlineComposite, 0), tail));
  MessageReader reader(empties.data(), empties.size(), 0);
  CHECK(reader.root_as<Everything>().value().empties().error() == Error::MalformedMessage);

  // A void list of 2^29-1 elements read as a struct list, over and over: the budget runs out.
  Message voids(everything_with(kEmpties, wire::make_list(to_tail(kEmpties), ElementSize::Void, wire::kMaxListCount)));
  MessageReader void_reader(voids.data(), voids.size(), 0);
  CHECK(void_reader.root_as<Everything>().value().empties().error() == Error::MalformedMessage);

  // The same small list read repeatedly exhausts the budget too, after a few hundred reads (a
  // handler re-reading what it was sent a few dozen times stays well inside it).
  Message small(everything_with(kEmpties, wire::make_list(to_tail(kEmpties), ElementSize::Void, 10)));
  MessageReader small_reader(small.data(), small.size(), 0);
  const auto root = small_reader.root_as<Everything>().value();
  int reads = 0;
  while (root.empties().ok() && reads < 100000) ++reads;
  CHECK(reads >= 64);
  CHECK(reads < 1000);
}

TEST_CASE("lists of the wrong shape", "[abi][malformed]") {
  // Text without its NUL terminator.
  Message no_nul(everything_with(kName, wire::make_list(to_tail(kName), ElementSize::Byte, 3), {0x636261}));
  MessageReader reader(no_nul.data(), no_nul.size(), 0);
  CHECK(reader.root_as<Everything>().value().name().error() == Error::MalformedMessage);
  // Text of 16-bit elements.
  Message wide(everything_with(kName, wire::make_list(to_tail(kName), ElementSize::TwoBytes, 1), {0}));
  MessageReader wide_reader(wide.data(), wide.size(), 0);
  CHECK(wide_reader.root_as<Everything>().value().name().error() == Error::MalformedMessage);
  // A composite list whose tag is not a struct tag, or whose elements exceed its word count.
  Message bad_tag(everything_with(kPoints, wire::make_list(to_tail(kPoints), ElementSize::InlineComposite, 1), {1, 0}));
  MessageReader tag_reader(bad_tag.data(), bad_tag.size(), 0);
  CHECK(tag_reader.root_as<Everything>().value().points().error() == Error::MalformedMessage);
  Message overfull(everything_with(kPoints, wire::make_list(to_tail(kPoints), ElementSize::InlineComposite, 2),
                                   {wire::make_struct(3, 1, 1), 0, 0}));
  MessageReader overfull_reader(overfull.data(), overfull.size(), 0);
  CHECK(overfull_reader.root_as<Everything>().value().points().error() == Error::MalformedMessage);
  // A byte list where bools are expected, and a bit list where structs are.
  Message bytes_as_bools(everything_with(kBools, wire::make_list(to_tail(kBools), ElementSize::Byte, 1), {0}));
  MessageReader bools_reader(bytes_as_bools.data(), bytes_as_bools.size(), 0);
  CHECK(bools_reader.root_as<Everything>().value().bools().error() == Error::MalformedMessage);
  Message bits_as_structs(everything_with(kPoints, wire::make_list(to_tail(kPoints), ElementSize::Bit, 8), {0xff}));
  MessageReader bits_reader(bits_as_structs.data(), bits_as_structs.size(), 0);
  CHECK(bits_reader.root_as<Everything>().value().points().error() == Error::MalformedMessage);
}

TEST_CASE("random garbage never crashes the reader of any struct", "[abi][malformed]") {
  std::mt19937_64 rng(12345);
  for (const auto& entry : abitest::all_entries()) {
    const auto schema = abitest::struct_schema(entry.id);
    for (int round = 0; round < 200; ++round) {
      std::vector<Word> words(1 + rng() % 24);
      for (auto& w : words) {
        // Mostly small offsets and sizes, so that many pointers land in bounds.
        w = rng();
        if (rng() % 2) w &= 0x0003'0003'0000'00FFull;
      }
      words[0] = wire::make_struct(0, static_cast<uint16_t>(rng() % 3), static_cast<uint16_t>(rng() % 8));
      Message m(words);
      MessageReader reader(m.data(), m.size(), static_cast<uint32_t>(rng() % 4));
      capnp::MallocMessageBuilder copy;
      (void)entry.read(reader, copy.initRoot<capnp::DynamicStruct>(schema));
    }
  }
  SUCCEED("no crash");
}
