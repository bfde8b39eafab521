// The endpoint server transport (tessera/sys/server.h).
#include <tessera/meta.h>
#include <tessera/sys/server.h>

namespace tessera::sys {

Error EndpointServerTransport::finish_receive(Error e, const Received& r, capnp::Request* request) {
  if (e != Error::Ok) return e;
  const IpcBuffer* buffer = ipc_buffer();
  const uint32_t length = min(r.info.length_words, kMessageWords);
  for (uint32_t i = 0; i < length; ++i) words_[i] = capnp::Word{buffer->msg[i]};
  badge_ = r.badge;
  ++requests_;
  *request = capnp::Request{r.info.label, words_, length, r.info.extra_caps};
  return Error::Ok;
}

Error EndpointServerTransport::receive(capnp::Request* request) {
  IpcBuffer* buffer = ipc_buffer();
  buffer->receive_cnode = buffer->receive_index = buffer->receive_depth = 0;  // no caps accepted
  Received r{};
  const Error e = recv(endpoint_, &r);
  return finish_receive(e, r, request);
}

Error EndpointServerTransport::reply_receive(const capnp::Reply& reply, capnp::Request* request) {
  const MessageInfo info{static_cast<uint64_t>(reply.error), reply.error == Error::Ok ? reply.length_words : 0,
                         reply.error == Error::Ok ? reply.cap_count : 0, 0};
  IpcBuffer* buffer = ipc_buffer();
  for (uint32_t i = 0; i < info.length_words && i < kMessageWords; ++i) buffer->msg[i] = reply_words_[i];
  for (uint32_t i = 0; i < info.extra_caps && i < kMaxTransferCaps; ++i) buffer->caps_or_badges[i] = reply_caps_[i];
  Received r{};
  const Error e = reply_recv(endpoint_, info, &r);
  return finish_receive(e, r, request);
}

capnp::ReplyBuffer EndpointServerTransport::reply_buffer() {
  return capnp::ReplyBuffer{reply_words_, capnp::kMaxMessageWords, reply_caps_, capnp::kMaxExtraCaps};
}

}  // namespace tessera::sys
