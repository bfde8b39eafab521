// Flat handlers (docs/writing-a-server.md): a server method written as
// `Result<XReply> x(args...)` against the same method written with the params Reader and the
// results Builder. Both servers compute the same answers; the generated dispatcher must turn every
// request — well formed, mutated at random, truncated — into the same reply words and the same
// error, and write nothing past the reply it reports.
#include <tessera/abi/bench.capnp.h>

#include <catch.hpp>
#include <cstring>
#include <random>
#include <string>

using tessera::Error;
using tessera::Result;
using tessera::abibench::Bench;
using tessera::capnp::Data;
using tessera::capnp::MessageBuilder;
using tessera::capnp::Reply;
using tessera::capnp::ReplyBuffer;
using tessera::capnp::Request;
using tessera::capnp::Text;
using tessera::capnp::Word;

namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 engine(0xf1a7);
  return engine;
}
uint64_t any() { return rng()(); }
uint32_t below(uint32_t n) { return static_cast<uint32_t>(rng()() % n); }

// The answers both servers give, as plain functions of the arguments.
uint8_t pattern[1200];
struct Answers {
  static Error read_error(uint64_t handle) { return handle % 11 == 3 ? Error::NotFound : Error::Ok; }
  // nullptr data: the field stays unset.
  static Data read_data(uint64_t handle, uint32_t length) {
    if (handle % 7 == 0) return Data{};
    return Data{pattern + handle % 64, length % 1100};  // above ~950 bytes the reply does not fit
  }
  static uint32_t written(uint64_t handle, Data data) { return data.size + static_cast<uint32_t>(handle & 0xFF); }
  static uint64_t handle_of(Text path, uint32_t flags) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < path.size; ++i) h = (h ^ static_cast<uint8_t>(path.data[i])) * 1099511628211ull;
    return h ^ flags;
  }
  static Text name_of(uint64_t handle) {
    if (handle % 5 == 0) return Text();  // unset
    return Text(reinterpret_cast<const char*>(pattern) + handle % 32, static_cast<uint32_t>(handle % 40));
  }
};

class ReaderServer : public Bench::Server<ReaderServer> {
 public:
  Result<void> read(Bench::ReadParams::Reader params, Bench::ReadResults::Builder results) {
    if (Answers::read_error(params.handle()) != Error::Ok) return Answers::read_error(params.handle());
    const Data data = Answers::read_data(params.handle(), params.length());
    if (data.data != nullptr) results.set_data(data);
    return {};
  }
  Result<void> write(Bench::WriteParams::Reader params, Bench::WriteResults::Builder results) {
    const Data data = TRY(params.data());
    results.set_written(Answers::written(params.handle(), data));
    return {};
  }
  Result<void> open(Bench::OpenParams::Reader params, Bench::OpenResults::Builder results) {
    const Text path = TRY(params.path());
    results.set_handle(Answers::handle_of(path, params.flags()));
    return {};
  }
  Result<void> close(Bench::CloseParams::Reader params, Bench::CloseResults::Builder) {
    if (params.handle() == 0) return Error::InvalidArgument;
    return {};
  }
  Result<void> stat(Bench::StatParams::Reader params, Bench::StatResults::Builder results) {
    results.set_size(params.handle() * 3);
    results.set_mode(static_cast<uint32_t>(params.handle() >> 7));
    const Text name = Answers::name_of(params.handle());
    if (name.data != nullptr) results.set_name(name);
    return {};
  }
};

class FlatServer : public Bench::Server<FlatServer> {
 public:
  int calls = 0;
  Result<Bench::ReadReply> read(uint64_t handle, uint64_t, uint32_t length) {
    ++calls;
    if (Answers::read_error(handle) != Error::Ok) return Answers::read_error(handle);
    return Bench::ReadReply{Answers::read_data(handle, length)};
  }
  Result<Bench::WriteReply> write(uint64_t handle, uint64_t, Data data) {
    ++calls;
    return Bench::WriteReply{Answers::written(handle, data)};
  }
  Result<Bench::OpenReply> open(Text path, uint32_t flags) {
    ++calls;
    return Bench::OpenReply{Answers::handle_of(path, flags)};
  }
  Result<void> close(uint64_t handle) {
    ++calls;
    if (handle == 0) return Error::InvalidArgument;
    return {};
  }
  Result<Bench::StatReply> stat(uint64_t handle) {
    ++calls;
    Bench::StatReply reply;
    reply.size = handle * 3;
    reply.mode = static_cast<uint32_t>(handle >> 7);
    reply.name = Answers::name_of(handle);
    return reply;
  }
};

// A well-formed request of a random method, built with the MessageBuilder.
uint32_t make_request(Word* words, uint32_t capacity, uint16_t* method) {
  MessageBuilder message(words, capacity);
  *method = static_cast<uint16_t>(below(Bench::kMethodCount));
  const uint64_t handle = below(4) == 0 ? below(3) : any();
  std::string bytes(below(3) == 0 ? below(1000) : below(40), 'x');
  for (auto& c : bytes) c = static_cast<char>(any());
  switch (static_cast<Bench::Method>(*method)) {
    case Bench::Method::Read: {
      auto p = message.init_root_as<Bench::ReadParams>();
      p.set_handle(handle);
      p.set_offset(any());
      p.set_length(static_cast<uint32_t>(any()));
      break;
    }
    case Bench::Method::Write: {
      auto p = message.init_root_as<Bench::WriteParams>();
      p.set_handle(handle);
      if (below(5) != 0) p.set_data(Data{reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<uint32_t>(bytes.size())});
      break;
    }
    case Bench::Method::Open: {
      auto p = message.init_root_as<Bench::OpenParams>();
      if (below(5) != 0) p.set_path(Text(bytes.data(), static_cast<uint32_t>(bytes.size())));
      p.set_flags(static_cast<uint32_t>(any()));
      break;
    }
    case Bench::Method::Close:
      message.init_root_as<Bench::CloseParams>().set_handle(handle);
      break;
    case Bench::Method::Stat:
      message.init_root_as<Bench::StatParams>().set_handle(handle);
      break;
  }
  const auto n = message.finish();
  return n.ok() ? *n : 0;
}

// Dispatches `request` to both servers with reply buffers full of different garbage.
void same_reply(const Request& request, uint32_t capacity, FlatServer& flat) {
  ReaderServer reference;
  Word a[tessera::capnp::kMaxMessageWords + 1];
  Word b[tessera::capnp::kMaxMessageWords + 1];
  std::memset(a, 0xA5, sizeof a);
  std::memset(b, 0x5A, sizeof b);
  const Reply expected = reference.dispatch(request, ReplyBuffer{a, capacity, nullptr, 0});
  const Reply got = flat.dispatch(request, ReplyBuffer{b, capacity, nullptr, 0});
  INFO("label " << request.label << ", " << request.length_words << " words, capacity " << capacity);
  REQUIRE(static_cast<int>(got.error) == static_cast<int>(expected.error));
  REQUIRE(got.cap_count == expected.cap_count);
  if (expected.error != Error::Ok) return;
  REQUIRE(got.length_words == expected.length_words);
  REQUIRE(std::memcmp(a, b, expected.length_words * sizeof(Word)) == 0);
  for (uint32_t i = got.length_words; i <= capacity; ++i) REQUIRE(b[i] == 0x5A5A5A5A5A5A5A5Aull);
}

}  // namespace

TEST_CASE("flat handlers answer what reader/builder handlers answer", "[flat]") {
  for (auto& byte : pattern) byte = static_cast<uint8_t>(any());
  FlatServer flat;
  for (int round = 0; round < 20000; ++round) {
    Word words[tessera::capnp::kMaxMessageWords];
    uint16_t method = 0;
    uint32_t length = make_request(words, tessera::capnp::kMaxMessageWords, &method);
    if (length == 0) continue;
    // Half the requests are damaged: random words rewritten, random bits flipped, cut short.
    const uint32_t damage = below(6);
    if (damage == 1) words[below(length)] = any();
    if (damage == 2) words[below(length)] ^= uint64_t{1} << below(64);
    if (damage == 3) length = below(length + 1);
    if (damage == 4 && length > 1) words[1 + below(length - 1)] ^= uint64_t{1} << (32 + below(32));
    const uint32_t capacity = below(4) == 0 ? below(8) : tessera::capnp::kMaxMessageWords;
    same_reply(Request{Bench::label(static_cast<Bench::Method>(method)), words, length, 0}, capacity, flat);
  }
  REQUIRE(flat.calls > 10000);
}

TEST_CASE("flat handlers: the usual answers, byte for byte", "[flat]") {
  FlatServer flat;
  Word request[8];
  MessageBuilder message(request, 8);
  message.init_root_as<Bench::StatParams>().set_handle(9);
  const uint32_t n = *message.finish();
  Word reply[16] = {};
  const Reply r = flat.dispatch(Request{Bench::label(Bench::Method::Stat), request, n, 0}, ReplyBuffer{reply, 16, nullptr, 0});
  REQUIRE(r.error == Error::Ok);
  // Stat's results: one root pointer, two data words (size, mode), one pointer (name: 9 bytes + NUL).
  REQUIRE(r.length_words == 1 + 2 + 1 + 2);
  REQUIRE(reply[0] == tessera::capnp::wire::make_struct(0, 2, 1));
  REQUIRE(reply[1] == 27);
  REQUIRE(reply[3] == tessera::capnp::wire::make_list(0, tessera::capnp::ElementSize::Byte, 10));
  // A capability with a method that takes none never reaches the handler.
  const int before = flat.calls;
  const Reply refused = flat.dispatch(Request{Bench::label(Bench::Method::Stat), request, n, 1}, ReplyBuffer{reply, 16, nullptr, 0});
  REQUIRE(refused.error == Error::MalformedMessage);
  REQUIRE(flat.calls == before);
}
