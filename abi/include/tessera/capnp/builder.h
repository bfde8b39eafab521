// Writing single-segment Cap'n Proto messages into a caller's buffer (an IPC buffer's message
// words), without allocation. Objects are laid out in the order they are initialised, exactly
// as libcapnp does, so a message built in the same order is byte-identical.
//
// Errors are sticky: when the buffer or the capability table is full, the MessageBuilder
// records the error and hands out empty builders whose setters do nothing; finish() reports it.
// Builders are views into their MessageBuilder and the buffer.
#pragma once

#include <tessera/capnp/wire.h>
#include <tessera/result.h>

namespace tessera::capnp {

class MessageBuilder;
class ListBuilder;

// A view of one struct under construction.
class StructBuilder {
 public:
  constexpr StructBuilder() = default;
  StructBuilder(MessageBuilder* message, uint8_t* data, uint32_t data_bytes, Word* pointers,
                uint16_t pointer_count)
      : message_(message), data_(data), pointers_(pointers), data_bytes_(data_bytes),
        pointer_count_(pointer_count) {}

  // Stores `value` XOR `mask` at `offset` (in units of sizeof(T)).
  template <typename T>
  void write(uint32_t offset, T value, T mask = T{}) {
    static_assert(sizeof(T) <= 8 && __is_trivially_copyable(T));
    if ((static_cast<uint64_t>(offset) + 1) * sizeof(T) > data_bytes_) return;
    const T stored = xor_bits(value, mask);
    __builtin_memcpy(data_ + static_cast<uint64_t>(offset) * sizeof(T), &stored, sizeof(T));
  }
  // Stores bool `value` XOR `mask` at bit `offset`.
  void write_bool(uint32_t offset, bool value, bool mask = false) {
    if (offset / 8 >= data_bytes_) return;
    const auto bit = static_cast<uint8_t>(1u << (offset % 8));
    if (value != mask) data_[offset / 8] = static_cast<uint8_t>(data_[offset / 8] | bit);
    else data_[offset / 8] = static_cast<uint8_t>(data_[offset / 8] & ~bit);
  }
  // Reads back a data field (useful for union discriminants and read-modify-write).
  template <typename T>
  T read(uint32_t offset, T mask = T{}) const {
    T value{};
    if ((static_cast<uint64_t>(offset) + 1) * sizeof(T) <= data_bytes_) {
      __builtin_memcpy(&value, data_ + static_cast<uint64_t>(offset) * sizeof(T), sizeof(T));
    }
    return xor_bits(value, mask);
  }

  // Allocates a zeroed struct and points pointer `index` at it.
  StructBuilder init_struct(uint32_t index, uint16_t data_words, uint16_t pointer_count);
  // Allocates a list of `count` non-composite elements of `size` (not InlineComposite).
  ListBuilder init_list(uint32_t index, ElementSize size, uint32_t count);
  // Allocates a composite list of `count` structs of the given section sizes.
  ListBuilder init_struct_list(uint32_t index, uint32_t count, uint16_t data_words,
                               uint16_t pointer_count);
  // Copies `text` (plus a NUL terminator) into the message.
  // (The general case is called on a copy of this view, the same struct: the builder itself never
  // has its address taken, so a dispatcher keeps it in registers.)
  __attribute__((always_inline)) void write_text(uint32_t index, Text text) {
    if (!put_bytes_at(index, text.data, text.size, text.size + 1)) StructBuilder(*this).write_text_general(index, text);
  }
  // Copies `data` into the message.
  __attribute__((always_inline)) void write_data(uint32_t index, Data data) {
    if (!put_bytes_at(index, data.data, data.size, data.size)) StructBuilder(*this).write_data_general(index, data);
  }
  // Appends `cap` to the outgoing capability table and stores a capability pointer to it.
  void write_capability(uint32_t index, CapRef cap);
  // Stores a capability pointer to an existing table index (e.g. a capability being forwarded).
  void write_capability_index(uint32_t index, CapIndex cap);
  // Makes pointer `index` null, zeroing the object it pointed to (libcapnp's clear()).
  void clear_pointer(uint32_t index);

  bool valid() const { return message_ != nullptr; }

 private:
  template <typename T>
  static T xor_bits(T value, T mask) {
    if constexpr (sizeof(T) == 1) return __builtin_bit_cast(T, static_cast<uint8_t>(__builtin_bit_cast(uint8_t, value) ^ __builtin_bit_cast(uint8_t, mask)));
    else if constexpr (sizeof(T) == 2) return __builtin_bit_cast(T, static_cast<uint16_t>(__builtin_bit_cast(uint16_t, value) ^ __builtin_bit_cast(uint16_t, mask)));
    else if constexpr (sizeof(T) == 4) return __builtin_bit_cast(T, __builtin_bit_cast(uint32_t, value) ^ __builtin_bit_cast(uint32_t, mask));
    else return __builtin_bit_cast(T, __builtin_bit_cast(uint64_t, value) ^ __builtin_bit_cast(uint64_t, mask));
  }
  Word* pointer_slot(uint32_t index) { return index < pointer_count_ ? pointers_ + index : nullptr; }
  // write_text/write_data's usual case, inline: a null pointer (nothing to release) in range and
  // room for the bytes. False, having written nothing, for write_bytes to handle (and report).
  __attribute__((always_inline)) inline bool put_bytes_at(uint32_t index, const void* bytes, uint32_t size, uint32_t count);
  void write_text_general(uint32_t index, Text text);
  void write_data_general(uint32_t index, Data data);
  // Stores a byte list of `count` elements holding `size` bytes (Text and Data).
  void write_bytes(uint32_t index, const void* bytes, uint32_t size, uint32_t count);
  // Zeroes the object a pointer about to be overwritten points to (libcapnp's zeroObject).
  void release(const Word* at);

  MessageBuilder* message_ = nullptr;
  uint8_t* data_ = nullptr;
  Word* pointers_ = nullptr;
  uint32_t data_bytes_ = 0;
  uint16_t pointer_count_ = 0;
};

// A view of one list under construction.
class ListBuilder {
 public:
  constexpr ListBuilder() = default;
  ListBuilder(MessageBuilder* message, uint8_t* elements, uint32_t count, uint32_t step_bits,
              uint32_t element_data_bytes, uint16_t element_pointers)
      : message_(message), elements_(elements), count_(count), step_bits_(step_bits),
        element_data_bytes_(element_data_bytes), element_pointers_(element_pointers) {}

  uint32_t size() const { return count_; }
  // Stores primitive element `i` (ignored when out of range).
  template <typename T>
  void write(uint32_t i, T value) {
    if (i >= count_ || element_data_bytes_ < sizeof(T)) return;
    __builtin_memcpy(elements_ + static_cast<uint64_t>(i) * (step_bits_ / 8), &value, sizeof(T));
  }
  // Stores bit-list element `i`.
  void write_bool(uint32_t i, bool value) {
    if (i >= count_ || step_bits_ != 1) return;
    const auto bit = static_cast<uint8_t>(1u << (i % 8));
    elements_[i / 8] = static_cast<uint8_t>(value ? (elements_[i / 8] | bit) : (elements_[i / 8] & ~bit));
  }
  // Element `i` as a struct (composite lists; pointer lists as one-pointer structs).
  StructBuilder struct_at(uint32_t i);

 private:
  MessageBuilder* message_ = nullptr;
  uint8_t* elements_ = nullptr;
  uint32_t count_ = 0;
  uint32_t step_bits_ = 0;
  uint32_t element_data_bytes_ = 0;
  uint16_t element_pointers_ = 0;
};

// Typed list builders used by the generated code.
template <typename T>
class PrimitiveListBuilder {
 public:
  PrimitiveListBuilder() = default;
  explicit PrimitiveListBuilder(ListBuilder raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  void set(uint32_t i, T value) {
    if constexpr (__is_same(T, bool)) raw_.write_bool(i, value);
    else raw_.template write<T>(i, value);
  }
 private:
  ListBuilder raw_;
};

template <typename Builder>
class StructListBuilder {
 public:
  StructListBuilder() = default;
  explicit StructListBuilder(ListBuilder raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  Builder operator[](uint32_t i) { return Builder(raw_.struct_at(i)); }
 private:
  ListBuilder raw_;
};

class TextListBuilder {
 public:
  TextListBuilder() = default;
  explicit TextListBuilder(ListBuilder raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  void set(uint32_t i, Text value) { raw_.struct_at(i).write_text(0, value); }
 private:
  ListBuilder raw_;
};

class DataListBuilder {
 public:
  DataListBuilder() = default;
  explicit DataListBuilder(ListBuilder raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  void set(uint32_t i, Data value) { raw_.struct_at(i).write_data(0, value); }
 private:
  ListBuilder raw_;
};

// Writing a message whose size is known in advance (the flat parameters of a generated client
// stub: data fields, Text, Data and capabilities), straight into its words, in the layout a
// MessageBuilder makes for the same calls in the same order.
//
// The words a Text or Data of this size takes in a message, or more than kMaxMessageWords when it
// is too long for a list (the MessageBuilder's RangeError): sums of these cannot overflow.
constexpr uint64_t text_words(Text text) {
  return text.size >= wire::kMaxListCount ? uint64_t{1} << 32 : (static_cast<uint64_t>(text.size) + 8) / 8;
}
constexpr uint64_t data_words(Data data) {
  return data.size > wire::kMaxListCount ? uint64_t{1} << 32 : (static_cast<uint64_t>(data.size) + 7) / 8;
}
// Writes the byte list of `count` elements holding `size` bytes at `bytes` into the words at
// `target` (the last one zeroed first: padding, and Text's NUL) and the list pointer to it into
// `*at`; returns the word after the list. The caller checked the size (text_words/data_words).
//
// A list of at most one word (the usual key, name or small value) is written inline: its bytes
// gathered into one word with at most two loads, no loop and no call. Longer ones (count > 8) are
// put_bytes_long's.
Word* put_bytes_long(Word* at, Word* target, const void* bytes, uint32_t size, uint32_t count);
inline Word* put_bytes(Word* at, Word* target, const void* bytes, uint32_t size, uint32_t count) {
  if (count > 8) return put_bytes_long(at, target, bytes, size, count);
  const auto* from = static_cast<const uint8_t*>(bytes);
  Word word = 0;  // the padding, and Text's NUL (size < count), stay zero
  if (size >= 4) {
    // Two four-byte loads that overlap when size < 8: the overlapping bytes are the same bytes.
    uint32_t low;
    uint32_t high;
    __builtin_memcpy(&low, from, 4);
    __builtin_memcpy(&high, from + size - 4, 4);
    word = low | (static_cast<Word>(high) << ((size - 4) * 8));
  } else if (size > 0) {
    word = from[0] | (static_cast<Word>(from[size / 2]) << (size / 2 * 8)) |
           (static_cast<Word>(from[size - 1]) << ((size - 1) * 8));
  }
  const uint64_t words = count == 0 ? 0 : 1;
  if (words != 0) *target = word;
  *at = wire::make_list(static_cast<int32_t>(target - (at + 1)), ElementSize::Byte, count);
  return target + words;
}
inline Word* put_text(Word* at, Word* target, Text text) { return put_bytes(at, target, text.data, text.size, text.size + 1); }
inline Word* put_data(Word* at, Word* target, Data data) { return put_bytes(at, target, data.data, data.size, data.size); }

// Owns the allocation state of one message in `buffer` (capacity in words) and its outgoing
// capability table. Word 0 is the root pointer; objects follow in allocation order.
class MessageBuilder {
 public:
  MessageBuilder(Word* buffer, uint32_t capacity_words, uint64_t* cap_table = nullptr,
                 uint32_t cap_capacity = 0)
      : buffer_(buffer), capacity_(buffer == nullptr ? 0 : capacity_words), cap_table_(cap_table),
        cap_capacity_(cap_table == nullptr ? 0 : cap_capacity) {}
  MessageBuilder(const MessageBuilder&) = delete;
  MessageBuilder& operator=(const MessageBuilder&) = delete;

  // Allocates the root struct (at most once; a second call starts the message over).
  StructBuilder init_root(uint16_t data_words, uint16_t pointer_count);

  // init_root for a root of at most kInlineRootWords words in all (the pointer and the struct):
  // inline, so that the generated code writes its layout as constant words and the setters of
  // its data fields need no bounds check. Larger roots are init_root's.
  static constexpr uint32_t kInlineRootWords = 4;
  StructBuilder init_root_of(uint16_t data_words, uint16_t pointer_count) {
    const uint32_t words = 1u + data_words + pointer_count;
    if (words > kInlineRootWords || words > capacity_) return init_root(data_words, pointer_count);
    used_ = words;
    cap_count_ = 0;
    error_ = Error::Ok;
    buffer_[0] = wire::make_struct(words == 1 ? -1 : 0, data_words, pointer_count);
    for (uint32_t i = 1; i < words; ++i) buffer_[i] = 0;
    return StructBuilder(this, reinterpret_cast<uint8_t*>(buffer_ + 1), data_words * 8u, buffer_ + 1 + data_words,
                         pointer_count);
  }

  // The root as the generated struct type T.
  template <typename T>
  typename T::Builder init_root_as() {
    return typename T::Builder(init_root_of(T::kDataWords, T::kPointerCount));
  }

  // Zeroed, word-aligned space for `words` words, or nullptr (and a sticky error) when full.
  Word* allocate(uint64_t words);
  // The same space not zeroed, for a caller that writes every word of it.
  Word* reserve(uint64_t words);
  // reserve() into `*start` when there is room and no error, else false without recording anything.
  bool try_reserve(uint64_t words, Word** start) {
    if (error_ != Error::Ok || words > capacity_ - used_) return false;
    *start = buffer_ + used_;
    used_ += static_cast<uint32_t>(words);
    return true;
  }
  // Appends a capability to the table; its index, or nothing (and a sticky error) when full.
  Result<uint32_t> add_capability(CapRef cap);
  // Zeroes the object `*pointer` points to, and everything it owns, as libcapnp does with an
  // object whose pointer is about to be overwritten: abandoned bytes never travel. The space is
  // not reused (libcapnp does not either, so the layout stays byte-identical). The pointer word
  // itself is left to the caller.
  void zero_object(const Word* pointer) { zero_object(pointer, 0); }
  // Records `error` unless an earlier error is already recorded.
  void fail(Error error) {
    if (error_ == Error::Ok) error_ = error;
  }

  // The message length in words, or the first error met while building.
  Result<uint32_t> finish() const {
    if (error_ != Error::Ok) return error_;
    return used_;
  }
  uint32_t size_words() const { return used_; }
  uint32_t cap_count() const { return cap_count_; }
  const Word* words() const { return buffer_; }
  Error error() const { return error_; }

 private:
  void zero_object(const Word* pointer, uint32_t depth);
  // The `words` words at `target`, when they lie inside the message written so far.
  bool in_message(const Word* target, uint64_t words) const {
    return target >= buffer_ && target <= buffer_ + used_ && words <= static_cast<uint64_t>(buffer_ + used_ - target);
  }
  void zero_words(Word* target, uint64_t words) {
    if (in_message(target, words)) {
      for (uint64_t i = 0; i < words; ++i) target[i] = 0;
    }
  }

  Word* buffer_;
  uint32_t capacity_;
  uint64_t* cap_table_;
  uint32_t cap_capacity_;
  uint32_t used_ = 0;
  uint32_t cap_count_ = 0;
  Error error_ = Error::Ok;
};

__attribute__((always_inline)) inline bool StructBuilder::put_bytes_at(uint32_t index, const void* bytes, uint32_t size, uint32_t count) {
  if (index >= pointer_count_ || pointers_[index] != 0 || size >= wire::kMaxListCount) return false;
  Word* target;
  if (!message_->try_reserve((static_cast<uint64_t>(count) + 7) / 8, &target)) return false;
  put_bytes(pointers_ + index, target, bytes, size, count);
  return true;
}

}  // namespace tessera::capnp
