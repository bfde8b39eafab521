// Client stubs and server dispatch of a user-space protocol (features.capnp Store), connected
// back to back through an in-memory transport, plus the serve() loop.
#include <tessera/abi/features.capnp.h>

#include <catch.hpp>
#include <map>
#include <string>

using namespace tessera::abitest;  // NOLINT: test file
using tessera::Error;
using tessera::Result;
using tessera::capnp::Data;
using tessera::capnp::MessageInfo;
using tessera::capnp::Reply;
using tessera::capnp::ReplyBuffer;
using tessera::capnp::Request;
using tessera::capnp::Text;
using tessera::capnp::Word;

namespace {

std::string str(Text t) { return std::string(t.data, t.size); }

class StoreImpl : public Store::Server<StoreImpl> {
 public:
  Result<void> put(Store::PutParams::Reader params, Store::PutResults::Builder results) {
    const Text key = TRY(params.key());
    const Data value = TRY(params.value());
    const auto point = TRY(params.point());
    last_point_x = point.x();
    results.set_replaced(values.count(str(key)) > 0);
    values[str(key)] = std::string(reinterpret_cast<const char*>(value.data), value.size);
    return {};
  }
  Result<void> get(Store::GetParams::Reader params, Store::GetResults::Builder results) {
    const auto found = values.find(str(TRY(params.key())));
    results.set_found(found != values.end());
    if (found != values.end()) {
      results.set_value(Data{reinterpret_cast<const uint8_t*>(found->second.data()),
                             static_cast<uint32_t>(found->second.size())});
    }
    return {};
  }
  Result<void> list(Store::ListParams::Reader params, Store::ListResults::Builder results) {
    const std::string prefix = str(TRY(params.prefix()));
    std::vector<std::string> keys;
    for (const auto& [key, value] : values) {
      if (key.rfind(prefix, 0) == 0 && keys.size() < params.limit()) keys.push_back(key);
    }
    auto out = results.init_keys(static_cast<uint32_t>(keys.size()));
    for (uint32_t i = 0; i < keys.size(); ++i) out.set(i, Text(keys[i].data(), static_cast<uint32_t>(keys[i].size())));
    return {};
  }
  Result<void> share(Store::ShareParams::Reader params, Store::ShareResults::Builder results) {
    const auto peer = TRY(params.peer());
    results.set_token(0x1000 + peer.value);
    return {};
  }
  Result<void> ping(Store::PingParams::Reader, Store::PingResults::Builder) {
    ++pings;
    if (pings > 2) return Error::Busy;
    return {};
  }

  std::map<std::string, std::string> values;
  int32_t last_point_x = 0;
  int pings = 0;
};

// Delivers each call straight to a server's dispatch, like a Call/ReplyRecv pair would.
struct Loopback {
  StoreImpl* server;
  Word send[tessera::capnp::kMaxMessageWords] = {};
  uint64_t caps[tessera::capnp::kMaxExtraCaps] = {};
  Word reply[tessera::capnp::kMaxMessageWords] = {};
  uint64_t reply_caps[tessera::capnp::kMaxExtraCaps] = {};
  uint64_t last_destination = 0;

  Word* send_words() { return send; }
  uint64_t* send_caps() { return caps; }
  const Word* reply_words() const { return reply; }
  Result<MessageInfo> call(uint64_t destination, uint64_t label, uint32_t words, uint32_t cap_count) {
    last_destination = destination;
    const Reply r = server->dispatch(Request{label, send, words, cap_count},
                                     ReplyBuffer{reply, tessera::capnp::kMaxMessageWords, reply_caps, 3});
    return MessageInfo{static_cast<uint64_t>(r.error), r.length_words, r.cap_count, 0};
  }
};
static_assert(tessera::capnp::ClientTransport<Loopback>);

}  // namespace

TEST_CASE("client stubs reach the server's methods and return typed results", "[abi][dispatch]") {
  StoreImpl server;
  Loopback transport{&server};
  Store::Client<Loopback> client(transport, 77);

  const uint8_t bytes[] = {'v', '1'};
  auto put = client.put_with([&](Store::PutParams::Builder params) {
    params.set_key("k1");
    params.set_value(Data{bytes, 2});
    params.init_point().set_x(-5);
  });
  REQUIRE(put.ok());
  CHECK_FALSE(put->replaced());
  CHECK(server.last_point_x == -5);
  CHECK(transport.last_destination == 77);

  auto got = client.get("k1");
  REQUIRE(got.ok());
  CHECK(got->found());
  CHECK(got->value().value().size == 2);

  REQUIRE(client.put_with([&](Store::PutParams::Builder params) { params.set_key("k2"); }).ok());
  auto listed = client.list("k", 10);
  REQUIRE(listed.ok());
  const auto keys = listed->keys().value();
  REQUIRE(keys.size() == 2);
  CHECK(str(keys[1].value()) == "k2");

  auto shared = client.share(tessera::capnp::CapRef{0xABC}, "note");
  REQUIRE(shared.ok());
  CHECK(shared->token() == 0x1000);  // the capability arrived as table index 0
  CHECK(transport.caps[0] == 0xABC);

  CHECK(client.ping().ok());
  CHECK(client.ping().ok());
  CHECK(client.ping().error() == Error::Busy);  // the server's error travels in the reply label
}

TEST_CASE("dispatch rejects other interfaces, unknown methods and malformed requests", "[abi][dispatch]") {
  StoreImpl server;
  Word reply[16];
  const ReplyBuffer out{reply, 16, nullptr, 0};
  Word params[4] = {tessera::capnp::wire::make_struct(0, 0, 0)};

  const uint64_t other_interface = tessera::capnp::make_label(Store::kInterfaceCode + 1, 4);
  CHECK(server.dispatch(Request{other_interface, params, 1, 0}, out).error == Error::IllegalOperation);
  const uint64_t unknown_method = tessera::capnp::make_label(Store::kInterfaceCode, Store::kMethodCount);
  CHECK(server.dispatch(Request{unknown_method, params, 1, 0}, out).error == Error::IllegalOperation);

  // Far pointer as the root: never reaches StoreImpl::ping.
  Word far[1] = {2};
  CHECK(server.dispatch(Request{Store::label(Store::Method::Ping), far, 1, 0}, out).error == Error::MalformedMessage);
  CHECK(server.dispatch(Request{Store::label(Store::Method::Ping), nullptr, 0, 0}, out).error == Error::TruncatedMessage);
  CHECK(server.pings == 0);

  // A malformed field is the method's to see, as an error it can return.
  Word bad_key[2] = {tessera::capnp::wire::make_struct(0, 0, 1), 2 | (9ull << 3)};
  CHECK(server.dispatch(Request{Store::label(Store::Method::Get), bad_key, 2, 0}, out).error == Error::MalformedMessage);

  // A reply that does not fit the reply buffer is an error, not an overflow.
  const ReplyBuffer tiny{reply, 1, nullptr, 0};
  server.values["k"] = std::string(100, 'x');
  Word get_k[4];
  tessera::capnp::MessageBuilder request(get_k, 4);
  request.init_root_as<Store::GetParams>().set_key("k");
  CHECK(server.dispatch(Request{Store::label(Store::Method::Get), get_k, request.size_words(), 0}, tiny).error ==
        Error::RangeError);
}

namespace {
struct StopServing {};

// Feeds a fixed list of requests to serve() and records the replies.
struct ScriptedServerTransport {
  std::vector<std::vector<Word>> requests;
  std::vector<Reply> replies;
  size_t next = 0;
  Word reply_words[32];

  Request take() {
    if (next == requests.size()) throw StopServing{};
    const auto& words = requests[next++];
    return Request{Store::label(Store::Method::Ping), words.data(), static_cast<uint32_t>(words.size()), 0};
  }
  Request receive() { return take(); }
  Request reply_receive(const Reply& reply) {
    replies.push_back(reply);
    return take();
  }
  ReplyBuffer reply_buffer() { return ReplyBuffer{reply_words, 32, nullptr, 0}; }
};
}  // namespace

TEST_CASE("serve() dispatches every request and sends every reply", "[abi][dispatch]") {
  StoreImpl server;
  ScriptedServerTransport transport;
  for (int i = 0; i < 3; ++i) transport.requests.push_back({tessera::capnp::wire::make_struct(0, 0, 0)});
  CHECK_THROWS_AS(tessera::capnp::serve(transport, server), StopServing);
  REQUIRE(transport.replies.size() == 3);
  CHECK(transport.replies[0].error == Error::Ok);
  CHECK(transport.replies[0].length_words == 1);
  CHECK(transport.replies[2].error == Error::Busy);
}
