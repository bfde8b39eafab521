// Message queues and pipes over endpoints (tessera/sys/channel.h).
#include <tessera/meta.h>
#include <tessera/sys/channel.h>

namespace tessera::sys {

Result<void> channel_send(CPtr endpoint, uint64_t label, uint32_t words) {
  if (words > kMessageWords) return Error::RangeError;
  const Error e = send(endpoint, MessageInfo{label, words, 0, 0});
  if (e != Error::Ok) return e;
  return {};
}

Result<MessageInfo> channel_receive(CPtr endpoint, bool blocking) {
  Received r{};
  Error e = Error::Ok;
  {
    const ReceiveFieldsScope none(ipc_buffer(), ReceiveFields{});  // channels carry no caps
    e = blocking ? recv(endpoint, &r) : nb_recv(endpoint, &r);
  }
  if (e != Error::Ok) return e;
  return r.info;
}

Result<void> PipeWriter::write(const void* data, size_t length) {
  if (closed_) return Error::IllegalOperation;
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (length > 0) {
    const size_t chunk = min(length, kPipeChunkBytes);
    IpcBuffer* buffer = ipc_buffer();
    buffer->msg[0] = chunk;
    memcpy(&buffer->msg[1], bytes, chunk);
    TRY(channel_send(endpoint_, kPipeDataLabel, static_cast<uint32_t>(1 + (chunk + 7) / 8)));
    bytes += chunk;
    length -= chunk;
  }
  return {};
}

Result<void> PipeWriter::close() {
  if (closed_) return Error::IllegalOperation;
  TRY(channel_send(endpoint_, kPipeEndLabel, 0));
  closed_ = true;
  return {};
}

Result<size_t> PipeReader::read(void* out, size_t capacity) {
  if (capacity == 0 || out == nullptr) return Error::InvalidArgument;
  while (pending_ == 0) {
    if (ended_) return size_t{0};
    const MessageInfo info = TRY(channel_receive(endpoint_, true));
    if (info.label == kPipeEndLabel && info.length_words == 0) {
      ended_ = true;
      continue;
    }
    const uint64_t count = ipc_buffer()->msg[0];
    if (info.label != kPipeDataLabel || info.length_words == 0 || count > kPipeChunkBytes ||
        (count + 7) / 8 + 1 != info.length_words) {
      return Error::MalformedMessage;
    }
    memcpy(chunk_, &ipc_buffer()->msg[1], count);
    pending_ = count;
    offset_ = 0;
  }
  const size_t n = min(capacity, pending_);
  memcpy(out, chunk_ + offset_, n);
  offset_ += n;
  pending_ -= n;
  return n;
}

}  // namespace tessera::sys
