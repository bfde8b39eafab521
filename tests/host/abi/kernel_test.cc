// Kernel invocations: the libsys-side client stub encodes, the kernel-side decoder reads typed
// arguments straight from the words, and results travel back; labels separate interfaces.
#include <tessera/abi/kernel.capnp.h>

#include <catch.hpp>
#include <set>

#include "schema_env.h"

using namespace tessera::abi;  // NOLINT: test file
using tessera::Error;
using tessera::Result;
using tessera::capnp::CapRef;
using tessera::capnp::MessageInfo;
using tessera::capnp::ReplyBuffer;
using tessera::capnp::Request;
using tessera::capnp::Word;

namespace {
// Captures what a libsys stub would pass to the Call system call and plays the kernel's reply.
struct CapturingTransport {
  Word send[tessera::capnp::kMaxMessageWords] = {};
  uint64_t caps[tessera::capnp::kMaxExtraCaps] = {};
  Word reply[tessera::capnp::kMaxMessageWords] = {};
  uint64_t destination = 0;
  MessageInfo sent;
  MessageInfo answer;

  Word* send_words() { return send; }
  uint64_t* send_caps() { return caps; }
  const Word* reply_words() const { return reply; }
  Result<MessageInfo> call(uint64_t dest, uint64_t label, uint32_t words, uint32_t cap_count) {
    destination = dest;
    sent = MessageInfo{label, words, cap_count, 0};
    return answer;
  }
  Request request() const { return Request{sent.label, send, sent.length_words, sent.extra_caps}; }
};
}  // namespace

TEST_CASE("Untyped.retype: stub to kernel decoder", "[abi][kernel]") {
  CapturingTransport transport;
  Untyped::Client<CapturingTransport> untyped(transport, 0x10);
  REQUIRE(untyped.retype(ObjectType::Frame4k, 12, CapRef{0x2}, 40, 64, 3, 5).ok());
  CHECK(transport.destination == 0x10);
  CHECK(transport.sent.extra_caps == 1);
  CHECK(transport.caps[0] == 0x2);
  CHECK(transport.sent.length_words == 1 + Untyped::RetypeParams::kDataWords + Untyped::RetypeParams::kPointerCount);

  const Request request = transport.request();
  REQUIRE(Untyped::method_of(request.label).value() == Untyped::Method::Retype);
  const auto args = Untyped::RetypeArgs::decode(request);
  REQUIRE(args.ok());
  CHECK(args->type == ObjectType::Frame4k);
  CHECK(args->size_bits == 12);
  CHECK(args->root.value == 0);
  CHECK(args->index == 40);
  CHECK(args->depth == 64);
  CHECK(args->offset == 3);
  CHECK(args->count == 5);

  // The kernel must not trust the capability count or the length: a capability parameter that did
  // not come with the request is MissingCapability.
  CHECK(Untyped::RetypeArgs::decode(Request{request.label, request.words, request.length_words, 0}).error() ==
        Error::MissingCapability);
  CHECK(Untyped::RetypeArgs::decode(Request{request.label, request.words, 0, 1}).error() == Error::TruncatedMessage);
  // A label of another object type is refused before decoding.
  CHECK(CNode::method_of(request.label).error() == Error::IllegalOperation);
  CHECK(Untyped::method_of(request.label | (1ull << 50)).error() == Error::IllegalOperation);
}

TEST_CASE("missing capability parameters are InvalidCapability", "[abi][kernel]") {
  Word words[8];
  tessera::capnp::MessageBuilder builder(words, 8);
  builder.init_root_as<CNode::CopyParams>().set_dest_index(1);
  const auto args = CNode::CopyArgs::decode(Request{CNode::label(CNode::Method::Copy), words, builder.size_words(), 0});
  CHECK(args.error() == Error::InvalidCapability);
}

TEST_CASE("results travel back: kernel encoder to stub reader", "[abi][kernel]") {
  CapturingTransport transport;
  const Frame::GetAddressReturn kernel_result{0x1234'5000};
  const auto words = kernel_result.encode(ReplyBuffer{transport.reply, tessera::capnp::kMaxMessageWords, nullptr, 0});
  REQUIRE(words.ok());
  transport.answer = MessageInfo{0, words.value(), 0, 0};
  Frame::Client<CapturingTransport> frame(transport, 0x20);
  const auto address = frame.get_address();
  REQUIRE(address.ok());
  CHECK(address->paddr() == 0x1234'5000);

  Tcb::ReadRegistersReturn registers{};
  registers.rip = 0x401000;
  registers.gs_base = 7;
  const auto reg_words = registers.encode(ReplyBuffer{transport.reply, tessera::capnp::kMaxMessageWords, nullptr, 0});
  REQUIRE(reg_words.ok());
  transport.answer = MessageInfo{0, reg_words.value(), 0, 0};
  Tcb::Client<CapturingTransport> tcb(transport, 0x30);
  const auto read = tcb.read_registers(true, 20);
  REQUIRE(read.ok());
  CHECK(read->rip() == 0x401000);
  CHECK(read->gs_base() == 7);

  // An error reply: the label is the Error; an out-of-range label is a malformed reply.
  transport.answer = MessageInfo{static_cast<uint64_t>(Error::RevokeFirst), 0, 0, 0};
  CHECK(tcb.suspend().error() == Error::RevokeFirst);
  transport.answer = MessageInfo{9999, 0, 0, 0};
  CHECK(tcb.suspend().error() == Error::MalformedMessage);
}

TEST_CASE("every kernel invocation fits one IPC message", "[abi][kernel]") {
  std::set<uint64_t> labels;
  for (const auto& entry : abitest::all_entries()) {
    if (entry.schema != "kernel") continue;
    const auto s = abitest::struct_schema(entry.id).getProto().getStruct();
    INFO(entry.name);
    CHECK(1u + s.getDataWordCount() + s.getPointerCount() <= tessera::capnp::kMaxMessageWords);
  }
  for (uint64_t label : {Untyped::label(Untyped::Method::Retype), CNode::label(CNode::Method::Copy),
                         Tcb::label(Tcb::Method::Configure), IrqControl::label(IrqControl::Method::GetIoapic),
                         IrqHandler::label(IrqHandler::Method::Ack), IoPortControl::label(IoPortControl::Method::Issue),
                         IoPort::label(IoPort::Method::In8), Pdpt::label(Pdpt::Method::Map),
                         PageDirectory::label(PageDirectory::Method::Map), PageTable::label(PageTable::Method::Map),
                         Frame::label(Frame::Method::Map), SchedControl::label(SchedControl::Method::Configure),
                         SchedContext::label(SchedContext::Method::Bind)}) {
    CHECK(labels.insert(label).second);
    CHECK(label < (1ull << MessageInfo::kLabelBits));
  }
  STATIC_REQUIRE(Tcb::kMethodCount == 16);
  STATIC_REQUIRE(CNode::kMethodCount == 8);
}

TEST_CASE("message info packs like seL4's", "[abi][kernel]") {
  const MessageInfo info{CNode::label(CNode::Method::Mint), 17, 2, 1};
  const MessageInfo back = MessageInfo::decode(info.encode());
  CHECK(back.label == info.label);
  CHECK(back.length_words == 17);
  CHECK(back.extra_caps == 2);
  CHECK(back.caps_unwrapped == 1);
}
