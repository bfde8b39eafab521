// The typed path's shortcuts against the generic code they stand in for, on random inputs:
// flat client stubs (request written straight into the send words) against the same call through
// `x_with` and the MessageBuilder, MessageReader::root_of (the params/results reader built in place)
// against root(), MessageBuilder::init_root_of against init_root, put_text/put_data and the
// builder's byte copy, the dispatcher's label check, and the kv server's word-wise key compare.
#include <tessera/abi/bench.capnp.h>
#include <tessera/abi/features.capnp.h>
#include <tessera/abi/kernel.capnp.h>

#include <catch.hpp>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "table.h"

using tessera::Error;
using tessera::Result;
using tessera::capnp::CapRef;
using tessera::capnp::Data;
using tessera::capnp::MessageBuilder;
using tessera::capnp::MessageInfo;
using tessera::capnp::MessageReader;
using tessera::capnp::ReadLimits;
using tessera::capnp::StructReader;
using tessera::capnp::Text;
using tessera::capnp::Word;

namespace {

// Records what a stub sends; every call answers with an empty Ok reply.
struct Recorder {
  Word send[tessera::capnp::kMaxMessageWords];
  uint64_t caps[tessera::capnp::kMaxExtraCaps];
  Word reply[tessera::capnp::kMaxMessageWords] = {};
  std::vector<Word> words;
  std::vector<uint64_t> sent_caps;
  uint64_t label = ~0ull;
  int calls = 0;

  explicit Recorder(uint8_t fill) {
    std::memset(send, fill, sizeof send);
    std::memset(caps, fill, sizeof caps);
  }
  Word* send_words() { return send; }
  uint64_t* send_caps() { return caps; }
  const Word* reply_words() const { return reply; }
  Result<MessageInfo> call(uint64_t, uint64_t l, uint32_t n, uint32_t c) {
    ++calls;
    label = l;
    words.assign(send, send + n);
    sent_caps.assign(caps, caps + c);
    return MessageInfo{0, 0, 0, 0};
  }
};

// Runs `flat(client)` and `generic(client)` on two recorders (send buffers prefilled with different
// garbage, so a word the flat stub forgets shows) and requires identical messages and outcomes.
template <typename Client, typename Flat, typename Generic>
void same_request(Flat&& flat, Generic&& generic) {
  Recorder a(0xA5), b(0x5A);
  Client fast(a, 1), slow(b, 1);
  const bool fast_ok = flat(fast);
  const bool slow_ok = generic(slow);
  REQUIRE(fast_ok == slow_ok);
  REQUIRE(a.calls == b.calls);
  REQUIRE(a.label == b.label);
  REQUIRE(a.words == b.words);
  REQUIRE(a.sent_caps == b.sent_caps);
}

std::mt19937_64& rng() {
  static std::mt19937_64 engine(0x7e55e4a);
  return engine;
}
uint64_t any() { return rng()(); }
uint32_t below(uint32_t n) { return static_cast<uint32_t>(rng()() % n); }

// A byte string of a random length: mostly short, sometimes long enough not to fit a message.
std::string bytes() {
  const uint32_t pick = below(10);
  const uint32_t size = pick < 6 ? below(40) : pick < 9 ? below(1000) : below(2) + 900;
  std::string s(size, '\0');
  for (auto& c : s) c = static_cast<char>(any());
  return s;
}
Text text_of(const std::string& s) { return Text(s.data(), static_cast<uint32_t>(s.size())); }
Data data_of(const std::string& s) {
  return Data{reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size())};
}

}  // namespace

TEST_CASE("flat client stubs write what the builder writes", "[fastpath]") {
  using tessera::abibench::Bench;
  using BenchClient = Bench::Client<Recorder>;
  using Store = tessera::abitest::Store;
  using StoreClient = Store::Client<Recorder>;
  for (int round = 0; round < 2000; ++round) {
    const uint64_t h = any(), o = any();
    const uint32_t n = static_cast<uint32_t>(any());
    const std::string s = bytes(), t = bytes();
    same_request<BenchClient>([&](BenchClient& c) { return c.read(h, o, n).ok(); },
                              [&](BenchClient& c) {
                                return c.read_with([&](Bench::ReadParams::Builder p) {
                                          p.set_handle(h);
                                          p.set_offset(o);
                                          p.set_length(n);
                                        }).ok();
                              });
    same_request<BenchClient>([&](BenchClient& c) { return c.write(h, o, data_of(s)).ok(); },
                              [&](BenchClient& c) {
                                return c.write_with([&](Bench::WriteParams::Builder p) {
                                          p.set_handle(h);
                                          p.set_offset(o);
                                          p.set_data(data_of(s));
                                        }).ok();
                              });
    same_request<BenchClient>([&](BenchClient& c) { return c.open(text_of(s), n).ok(); },
                              [&](BenchClient& c) {
                                return c.open_with([&](Bench::OpenParams::Builder p) {
                                          p.set_path(text_of(s));
                                          p.set_flags(n);
                                        }).ok();
                              });
    same_request<BenchClient>([&](BenchClient& c) { return c.close(h).ok(); },
                              [&](BenchClient& c) {
                                return c.close_with([&](Bench::CloseParams::Builder p) { p.set_handle(h); }).ok();
                              });
    same_request<StoreClient>([&](StoreClient& c) { return c.share(CapRef{h}, text_of(t)).ok(); },
                              [&](StoreClient& c) {
                                return c.share_with([&](Store::ShareParams::Builder p) {
                                          p.set_peer(CapRef{h});
                                          p.set_note(text_of(t));
                                        }).ok();
                              });
    same_request<StoreClient>([&](StoreClient& c) { return c.list(text_of(t), n).ok(); },
                              [&](StoreClient& c) {
                                return c.list_with([&](Store::ListParams::Builder p) {
                                          p.set_prefix(text_of(t));
                                          p.set_limit(n);
                                        }).ok();
                              });
    same_request<StoreClient>([&](StoreClient& c) { return c.ping().ok(); },
                              [&](StoreClient& c) { return c.ping_with([](Store::PingParams::Builder) {}).ok(); });
  }
}

TEST_CASE("flat kernel stubs (capabilities, bools, many data words) write what the builder writes", "[fastpath]") {
  namespace abi = tessera::abi;
  using UntypedClient = abi::Untyped::Client<Recorder>;
  using CNodeClient = abi::CNode::Client<Recorder>;
  using TcbClient = abi::Tcb::Client<Recorder>;
  for (int round = 0; round < 500; ++round) {
    uint64_t v[24];
    for (auto& x : v) x = any();
    const auto type = static_cast<abi::ObjectType>(below(20));
    same_request<UntypedClient>(
        [&](UntypedClient& c) {
          return c.retype(type, static_cast<uint8_t>(v[0]), CapRef{v[1]}, v[2], static_cast<uint8_t>(v[3]), v[4],
                          static_cast<uint32_t>(v[5])).ok();
        },
        [&](UntypedClient& c) {
          return c.retype_with([&](abi::Untyped::RetypeParams::Builder p) {
                    p.set_type(type);
                    p.set_size_bits(static_cast<uint8_t>(v[0]));
                    p.set_root(CapRef{v[1]});
                    p.set_index(v[2]);
                    p.set_depth(static_cast<uint8_t>(v[3]));
                    p.set_offset(v[4]);
                    p.set_count(static_cast<uint32_t>(v[5]));
                  }).ok();
        });
    same_request<CNodeClient>(
        [&](CNodeClient& c) {
          return c.mint(v[0], static_cast<uint8_t>(v[1]), CapRef{v[2]}, v[3], static_cast<uint8_t>(v[4]),
                        static_cast<uint8_t>(v[5]), v[6]).ok();
        },
        [&](CNodeClient& c) {
          return c.mint_with([&](abi::CNode::MintParams::Builder p) {
                    p.set_dest_index(v[0]);
                    p.set_dest_depth(static_cast<uint8_t>(v[1]));
                    p.set_src_root(CapRef{v[2]});
                    p.set_src_index(v[3]);
                    p.set_src_depth(static_cast<uint8_t>(v[4]));
                    p.set_rights(static_cast<uint8_t>(v[5]));
                    p.set_badge(v[6]);
                  }).ok();
        });
    same_request<TcbClient>(
        [&](TcbClient& c) {
          return c.write_registers((v[0] & 1) != 0, static_cast<uint8_t>(v[1]), v[2], v[3], v[4], v[5], v[6], v[7],
                                   v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19],
                                   v[20], v[21]).ok();
        },
        [&](TcbClient& c) {
          return c.write_registers_with([&](abi::Tcb::WriteRegistersParams::Builder p) {
                    p.set_resume_target((v[0] & 1) != 0);
                    p.set_count(static_cast<uint8_t>(v[1]));
                    p.set_rip(v[2]);
                    p.set_rsp(v[3]);
                    p.set_rflags(v[4]);
                    p.set_rax(v[5]);
                    p.set_rbx(v[6]);
                    p.set_rcx(v[7]);
                    p.set_rdx(v[8]);
                    p.set_rsi(v[9]);
                    p.set_rdi(v[10]);
                    p.set_rbp(v[11]);
                    p.set_r8(v[12]);
                    p.set_r9(v[13]);
                    p.set_r10(v[14]);
                    p.set_r11(v[15]);
                    p.set_r12(v[16]);
                    p.set_r13(v[17]);
                    p.set_r14(v[18]);
                    p.set_r15(v[19]);
                    p.set_fs_base(v[20]);
                    p.set_gs_base(v[21]);
                  }).ok();
        });
  }
}

namespace {
// Everything a StructReader lets a caller see, for comparing two of them.
std::vector<uint64_t> view(const StructReader& r, uint32_t data_words, uint32_t pointers) {
  std::vector<uint64_t> out{r.data_bytes(), r.pointer_count()};
  for (uint32_t i = 0; i <= data_words; ++i) out.push_back(r.read<uint64_t>(i));
  for (uint32_t i = 0; i <= pointers; ++i) out.push_back(r.has_pointer(i) ? 1 : 0);
  if (r.pointer_count() > 0) {
    const auto nested = r.read_struct(0);  // nesting passed on
    out.push_back(nested.ok() ? 1000 : static_cast<uint64_t>(nested.error()));
  }
  return out;
}
}  // namespace

TEST_CASE("root_of reads what root() reads, at the same cost", "[fastpath]") {
  for (int round = 0; round < 20000; ++round) {
    const auto data = static_cast<uint16_t>(below(4));
    const auto pointers = static_cast<uint16_t>(below(4));
    Word words[12];
    for (auto& w : words) w = below(3) == 0 ? 0 : any();
    // Mostly the canonical root, sometimes one of its neighbours or garbage.
    const uint32_t pick = below(8);
    const uint16_t d = pick == 5 ? static_cast<uint16_t>(data + 1) : data;
    const uint16_t p = pick == 6 ? static_cast<uint16_t>(pointers ^ 1) : pointers;
    const int32_t offset = pick == 7 ? static_cast<int32_t>(below(5)) - 2 : 0;
    if (pick != 4) words[0] = tessera::capnp::wire::make_struct(offset, d, p);
    words[1] = tessera::capnp::wire::make_struct(static_cast<int32_t>(below(4)) - 1, 1, 0);  // a nested pointer
    const uint32_t length = below(10);
    const ReadLimits limits{below(3) == 0 ? below(2) : 64u, below(3) == 0 ? below(8) + 1 : 0u};
    MessageReader fast(words, length, 0, limits), slow(words, length, 0, limits), placed(words, length, 0, limits);
    const Result<StructReader> a = fast.root_of(data, pointers);
    const Result<StructReader> b = slow.root();
    // The client stubs' form: the place in two words, the reader built from it.
    const MessageReader::Place place = placed.place_root(tessera::capnp::wire::make_struct(0, data, pointers));
    REQUIRE(a.ok() == b.ok());
    REQUIRE((place.target != nullptr) == b.ok());
    if (!a.ok()) {
      REQUIRE(a.error() == b.error());
      REQUIRE(place.error() == b.error());
      continue;
    }
    REQUIRE(place.error() == Error::Ok);
    REQUIRE(fast.budget_left() == slow.budget_left());
    REQUIRE(placed.budget_left() == slow.budget_left());
    const auto seen = view(*b, data, pointers);
    REQUIRE(view(*a, data, pointers) == seen);
    REQUIRE(view(placed.struct_at(place), data, pointers) == seen);
    REQUIRE(fast.budget_left() == slow.budget_left());
    REQUIRE(placed.budget_left() == slow.budget_left());
  }
}

namespace {
// Answers every call with a scripted reply: its label, length and words.
struct Scripted {
  Word send[tessera::capnp::kMaxMessageWords];
  uint64_t caps[tessera::capnp::kMaxExtraCaps];
  Word reply[tessera::capnp::kMaxMessageWords] = {};
  MessageInfo answer;
  Error fails = Error::Ok;  // the call's own error
  Word* send_words() { return send; }
  uint64_t* send_caps() { return caps; }
  const Word* reply_words() const { return reply; }
  Result<MessageInfo> call(uint64_t, uint64_t, uint32_t, uint32_t) {
    if (fails != Error::Ok) return fails;
    return answer;
  }
};
}  // namespace

TEST_CASE("client stubs read every reply as root() reads it", "[fastpath]") {
  using tessera::abibench::Bench;
  Scripted transport;
  Bench::Client<Scripted> client(transport, 1);
  int named = 0;
  for (int round = 0; round < 20000; ++round) {
    // Mostly a well-formed stat reply, else one of its neighbours, garbage, an error label, a
    // failed call or an empty reply.
    for (auto& w : transport.reply) w = below(3) == 0 ? 0 : any();
    const uint32_t pick = below(12);
    const uint16_t data = pick == 5 ? 1 : pick == 6 ? 3 : 2;
    const uint16_t pointers = pick == 7 ? 0 : pick == 8 ? 2 : 1;
    if (pick != 4) transport.reply[0] = tessera::capnp::wire::make_struct(pick == 9 ? 1 : 0, data, pointers);
    if (pick < 4) {  // a well-formed name of 0-7 bytes right after the struct
      const uint32_t size = below(8);
      transport.reply[3] = (Word{size + 1} << 35) | (Word{2} << 32) | 1;  // byte list, offset 0
      for (uint32_t i = size; i < 8; ++i) transport.reply[4] &= ~(Word{0xFF} << (8 * i));
    }
    const uint32_t length = below(8);
    const uint64_t label = pick == 10 ? below(40) : 0;
    transport.fails = pick == 11 ? Error::InvalidCapability : Error::Ok;
    transport.answer = MessageInfo{label, length, below(2), 0};

    const Result<Bench::StatResults::Reader> got = client.stat(7);
    if (pick == 11) {
      REQUIRE(got.error() == Error::InvalidCapability);
      continue;
    }
    if (label != 0) {
      REQUIRE(got.error() == tessera::capnp::error_from_label(label, tessera::kErrorCount));
      continue;
    }
    if (length == 0) {  // the all-default results
      REQUIRE(got.ok());
      REQUIRE(got->size() == 0);
      REQUIRE(got->mode() == 0);
      REQUIRE(got->name().ok());
      REQUIRE(got->name()->size == 0);
      continue;
    }
    MessageReader expected(transport.reply, length, 0);
    const Result<StructReader> root = expected.root();
    REQUIRE(got.ok() == root.ok());
    if (!root.ok()) {
      REQUIRE(got.error() == root.error());
      continue;
    }
    const Bench::StatResults::Reader want(*root);
    REQUIRE(got->size() == want.size());
    REQUIRE(got->mode() == want.mode());
    const auto a = got->name();
    const auto b = want.name();
    REQUIRE(a.ok() == b.ok());
    if (a.ok()) REQUIRE(*a == *b);
    named += a.ok() && a->size > 0;
  }
  REQUIRE(named > 1000);  // the well-formed replies were read as such, not only refused
}

TEST_CASE("init_root_of lays out what init_root lays out", "[fastpath]") {
  for (uint16_t data = 0; data < 5; ++data) {
    for (uint16_t pointers = 0; pointers < 5; ++pointers) {
      for (uint32_t capacity = 0; capacity < 8; ++capacity) {
        Word a[8], b[8];
        std::memset(a, 0xA5, sizeof a);
        std::memset(b, 0xA5, sizeof b);
        MessageBuilder fast(a, capacity), slow(b, capacity);
        auto x = fast.init_root_of(data, pointers);
        auto y = slow.init_root(data, pointers);
        REQUIRE(x.valid() == y.valid());
        x.write<uint64_t>(0, 0x1122334455667788ull);
        y.write<uint64_t>(0, 0x1122334455667788ull);
        x.write_bool(70, true);
        y.write_bool(70, true);
        x.write_data(0, Data{reinterpret_cast<const uint8_t*>("abc"), 3});
        y.write_data(0, Data{reinterpret_cast<const uint8_t*>("abc"), 3});
        REQUIRE(fast.finish().ok() == slow.finish().ok());
        REQUIRE(fast.size_words() == slow.size_words());
        REQUIRE(std::memcmp(a, b, sizeof a) == 0);
      }
    }
  }
}

TEST_CASE("Text and Data of every short length: bytes, NUL and zero padding", "[fastpath]") {
  for (uint32_t size = 0; size < 140; ++size) {
    std::string s(size, '\0');
    for (auto& c : s) c = static_cast<char>(below(255) + 1);
    for (int text = 0; text < 2; ++text) {
      Word words[40];
      std::memset(words, 0xFF, sizeof words);
      MessageBuilder message(words, 40);
      auto root = message.init_root(0, 1);
      if (text) root.write_text(0, text_of(s));
      else root.write_data(0, data_of(s));
      const uint32_t count = size + static_cast<uint32_t>(text);
      const uint32_t list_words = (count + 7) / 8;
      REQUIRE(message.finish().ok());
      REQUIRE(message.size_words() == 2 + list_words);
      REQUIRE(words[1] == tessera::capnp::wire::make_list(0, tessera::capnp::ElementSize::Byte, count));
      const auto* bytes = reinterpret_cast<const uint8_t*>(words + 2);
      REQUIRE(std::memcmp(bytes, s.data(), size) == 0);
      for (uint32_t i = size; i < list_words * 8; ++i) REQUIRE(bytes[i] == 0);
      REQUIRE(words[2 + list_words] == ~0ull);  // nothing written past the list
    }
  }
}

TEST_CASE("dispatch: only the interface's own labels reach a method", "[fastpath]") {
  using tessera::abibench::Bench;
  struct Server : Bench::Server<Server> {
    int calls = 0;
    Result<void> read(Bench::ReadParams::Reader, Bench::ReadResults::Builder) { return ++calls, Result<void>{}; }
    Result<void> write(Bench::WriteParams::Reader, Bench::WriteResults::Builder) { return ++calls, Result<void>{}; }
    Result<void> open(Bench::OpenParams::Reader, Bench::OpenResults::Builder) { return ++calls, Result<void>{}; }
    Result<void> close(Bench::CloseParams::Reader, Bench::CloseResults::Builder) { return ++calls, Result<void>{}; }
    Result<void> stat(Bench::StatParams::Reader, Bench::StatResults::Builder) { return ++calls, Result<void>{}; }
  } server;
  Word request[1] = {tessera::capnp::wire::make_struct(-1, 0, 0)};
  Word reply[16];
  const tessera::capnp::ReplyBuffer out{reply, 16, nullptr, 0};
  const uint64_t base = Bench::label(Bench::Method::Read);
  const uint64_t labels[] = {0, base - 1, base + Bench::kMethodCount, base | (1ull << 48), base | (1ull << 51),
                             base + 0x10000, base - 0x10000, ~0ull};
  for (uint64_t label : labels) {
    const auto r = server.dispatch({label, request, 1, 0}, out);
    REQUIRE(r.error == Error::IllegalOperation);
  }
  REQUIRE(server.calls == 0);
  for (uint16_t m = 0; m < Bench::kMethodCount; ++m) {
    const auto r = server.dispatch({base + m, request, 1, 0}, out);
    REQUIRE(r.error == Error::Ok);
  }
  REQUIRE(server.calls == Bench::kMethodCount);
}

TEST_CASE("kv table: word-wise key compare finds exactly the equal keys", "[fastpath][kv]") {
  kv::Table table;
  std::map<std::string, std::string> model;
  char buffer[64];
  for (int round = 0; round < 20000; ++round) {
    // Keys from a small alphabet and nearby lengths collide often; an odd offset in the buffer
    // makes the loads unaligned.
    const uint32_t size = below(34);
    const uint32_t at = below(8);
    for (uint32_t i = 0; i < size; ++i) buffer[at + i] = static_cast<char>('a' + below(2));
    const std::string key(buffer + at, size);
    const Text text(buffer + at, size);
    const uint32_t op = below(3);
    if (op == 0) {
      const std::string value = bytes().substr(0, 40);
      const auto put = table.put(text, data_of(value));
      if (size == 0 || size > tessera::kv::kMaxKeyBytes) {
        REQUIRE(!put.ok());
        continue;
      }
      if (!put.ok()) {
        REQUIRE(model.count(key) == 0);
        REQUIRE(model.size() == kv::Table::kCapacity);
        continue;
      }
      REQUIRE(*put == (model.count(key) > 0));
      model[key] = value;
    } else if (op == 1) {
      const Data value = table.get(text);
      const bool found = value.data != nullptr;
      REQUIRE(found == (model.count(key) > 0));
      if (found) REQUIRE(std::string(reinterpret_cast<const char*>(value.data), value.size) == model[key]);
    } else {
      REQUIRE(table.remove(text) == (model.erase(key) > 0));
    }
    REQUIRE(table.size() == model.size());
  }
}
