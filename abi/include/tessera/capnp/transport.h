// How typed messages travel over IPC: the message info word, labels, requests and replies, and
// the two small concepts the generated client stubs and server dispatchers are written against.
// The register and IPC-buffer mapping is described in docs/abi.md.
#pragma once

#include <tessera/capnp/builder.h>
#include <tessera/capnp/reader.h>

namespace tessera::capnp {

// Capacity of one IPC message: message words (the first four travel in registers) and extra caps.
constexpr uint32_t kMaxMessageWords = 120;
constexpr uint32_t kMaxExtraCaps = 3;

// The message info word, seL4 layout: label (52 bits) | caps unwrapped (3) | extra caps (2) |
// length in words (7).
struct MessageInfo {
  uint64_t label = 0;
  uint32_t length_words = 0;
  uint32_t extra_caps = 0;
  uint32_t caps_unwrapped = 0;

  static constexpr uint64_t kLabelBits = 52;

  // Packs the fields; fields wider than their slot are truncated, so callers check first.
  constexpr uint64_t encode() const {
    return (label << 12) | (static_cast<uint64_t>(caps_unwrapped & 7) << 9) |
           (static_cast<uint64_t>(extra_caps & 3) << 7) | (length_words & 0x7F);
  }
  static constexpr MessageInfo decode(uint64_t word) {
    return MessageInfo{word >> 12, static_cast<uint32_t>(word & 0x7F),
                       static_cast<uint32_t>((word >> 7) & 3), static_cast<uint32_t>((word >> 9) & 7)};
  }
};

// Invocation labels: the interface's code in the upper bits, the method ordinal in the low 16,
// so a receiver can reject a method of another interface before looking at the ordinal.
constexpr uint64_t make_label(uint32_t interface_code, uint16_t method) {
  return (static_cast<uint64_t>(interface_code) << 16) | method;
}
constexpr uint32_t label_interface(uint64_t label) { return static_cast<uint32_t>(label >> 16); }
constexpr uint16_t label_method(uint64_t label) { return static_cast<uint16_t>(label); }

// A reply label carries the Error of the call (0 = Ok). Anything out of the enum's range from a
// peer is reported as a malformed reply rather than cast blindly.
constexpr Error error_from_label(uint64_t label, uint16_t error_count) {
  return label < error_count ? static_cast<Error>(label) : Error::MalformedMessage;
}

// One received message: what a dispatcher or kernel decoder gets to look at.
struct Request {
  uint64_t label = 0;
  const Word* words = nullptr;
  uint32_t length_words = 0;
  uint32_t cap_count = 0;
};

// Where a dispatcher writes its reply, and what it wrote.
struct ReplyBuffer {
  Word* words = nullptr;
  uint32_t capacity_words = 0;
  uint64_t* caps = nullptr;
  uint32_t cap_capacity = 0;
};
struct Reply {
  Error error = Error::Ok;  // travels as the reply's label
  uint32_t length_words = 0;
  uint32_t cap_count = 0;
};

// What a generated client stub needs from a channel: a send buffer of kMaxMessageWords words and
// kMaxExtraCaps cap slots, a blocking call, and the buffer the reply lands in (the same one before
// and after the call). The generated Client<T> documents its requirement with this concept. A
// transport may also have `call_info(destination, info)`, the call with the message info word
// already encoded (its length and capability count in range); the stubs then use that instead.
template <typename T>
concept ClientTransport = requires(T& t, uint64_t destination, uint64_t label, uint32_t words,
                                   uint32_t caps) {
  { t.send_words() };                            // Word*
  { t.send_caps() };                             // uint64_t*
  { t.call(destination, label, words, caps) };   // Result<MessageInfo> of the reply
  { t.reply_words() };                           // const Word*
};

// What the server loop needs: receive the first request, then reply and receive the next.
template <typename T>
concept ServerTransport = requires(T& t, const Reply& reply) {
  { t.receive() };              // Request
  { t.reply_receive(reply) };   // Request
  { t.reply_buffer() };         // ReplyBuffer
};

// Serves requests forever: every request goes to `server.dispatch`, whose reply is sent with the
// next receive. A server written against the generated base class is one call to this.
template <ServerTransport T, typename Server>
[[noreturn]] void serve(T& transport, Server& server) {
  Request request = transport.receive();
  for (;;) {
    const Reply reply = server.dispatch(request, transport.reply_buffer());
    request = transport.reply_receive(reply);
  }
}

}  // namespace tessera::capnp
