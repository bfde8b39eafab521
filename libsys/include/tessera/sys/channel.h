// Message queues and byte pipes over an endpoint (between threads or processes that hold caps to
// the same endpoint).
//
// Both are rendezvous channels: a message travels from the sender's IPC buffer to the
// receiver's, and a sender that finds no receiver waits, in FIFO order, in the endpoint's queue
// (blocking Send). Nothing is buffered in between, so a channel never allocates and holds at
// most one pending message per sending thread: the bound is the number of senders. There is no
// non-blocking send: the kernel's NBSend drops a message silently when no receiver waits (seL4
// semantics), so a sender could not be told. Receiving has a blocking and a non-blocking form.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/ipc_buffer.h>
#include <tessera/result.h>
#include <tessera/string.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/ipc.h>

namespace tessera::sys {

// Labels of channel messages (kept out of the range of generated interface labels, whose low 16
// bits are a method and whose upper bits an interface code).
constexpr uint64_t kQueueMessageLabel = 0x5155455545;  // "QUEUE"
constexpr uint64_t kPipeDataLabel = 0x5049504544;      // "PIPED"
constexpr uint64_t kPipeEndLabel = 0x504950450A;       // "PIPE\n"

// Sends `words` message words already in the caller's IPC buffer with `label`.
Result<void> channel_send(CPtr endpoint, uint64_t label, uint32_t words);
// Receives one message into the caller's IPC buffer (blocking or not); WouldBlock when
// non-blocking and no sender waits. The message's label and length come back.
Result<MessageInfo> channel_receive(CPtr endpoint, bool blocking);

// A queue of fixed-size messages of type T (trivially copyable, at most 119 words).
template <typename T>
class MessageQueue {
 public:
  static constexpr uint32_t kWords = static_cast<uint32_t>((sizeof(T) + 7) / 8);
  static_assert(kWords >= 1 && kWords <= kMessageWords - 1, "a message must fit one IPC message");
  static_assert(__is_trivially_copyable(T), "messages are copied as bytes");

  explicit MessageQueue(CPtr endpoint) : endpoint_(endpoint) {}

  // Sends `message`, waiting until a receiver takes it. The kernel's errors (a bad or deleted
  // endpoint, missing Write right).
  Result<void> send(const T& message) {
    memcpy(ipc_buffer()->msg, &message, sizeof(T));
    return channel_send(endpoint_, kQueueMessageLabel, kWords);
  }
  // Waits for the next message. A message of another kind or size on the endpoint is consumed
  // and reported as MalformedMessage.
  Result<T> receive() { return take(true); }
  // The next message if a sender is waiting; WouldBlock otherwise.
  Result<T> try_receive() { return take(false); }

 private:
  Result<T> take(bool blocking) {
    const MessageInfo info = TRY(channel_receive(endpoint_, blocking));
    if (info.label != kQueueMessageLabel || info.length_words != kWords) return Error::MalformedMessage;
    T message;
    memcpy(&message, ipc_buffer()->msg, sizeof(T));
    return message;
  }

  CPtr endpoint_;
};

// The largest chunk one pipe message carries: word 0 is the byte count, the bytes follow.
constexpr size_t kPipeChunkBytes = (kMessageWords - 1) * 8;

// The writing end of a byte pipe.
class PipeWriter {
 public:
  explicit PipeWriter(CPtr endpoint) : endpoint_(endpoint) {}
  // Writes all `length` bytes in chunks of at most kPipeChunkBytes, each waiting for the reader.
  // IllegalOperation after close(); the kernel's errors (bytes sent before an error stay sent).
  Result<void> write(const void* data, size_t length);
  // Sends end-of-stream: the reader's next read after the data returns 0. Writes then fail.
  Result<void> close();

 private:
  CPtr endpoint_;
  bool closed_ = false;
};

// The reading end of a byte pipe. Keeps the rest of a chunk that did not fit a read.
class PipeReader {
 public:
  explicit PipeReader(CPtr endpoint) : endpoint_(endpoint) {}
  // Copies up to `capacity` bytes (> 0) into `out`, waiting for data when none is pending.
  // Returns the number of bytes, 0 at end of stream (and on every read after it);
  // MalformedMessage (the message dropped) for a message that is not a well-formed pipe chunk.
  Result<size_t> read(void* out, size_t capacity);
  bool at_end() const { return ended_ && pending_ == 0; }

 private:
  CPtr endpoint_;
  bool ended_ = false;
  size_t pending_ = 0;   // bytes of chunk_ not yet read
  size_t offset_ = 0;    // where they start
  uint8_t chunk_[kPipeChunkBytes] = {};
};

}  // namespace tessera::sys
