// Reading single-segment Cap'n Proto messages that may be hostile.
//
// Every pointer is resolved lazily and bounds-checked when it is followed; each dereference is
// charged against the message's traversal budget (which bounds pointer loops and list
// amplification) and consumes one level of the nesting limit. Far pointers and capability
// pointers where data is expected are errors. Nothing here allocates, asserts or traps.
//
// Readers are small views that point at their MessageReader: they stay valid while the
// MessageReader and the message words live and are not modified.
#pragma once

#include <tessera/capnp/wire.h>
#include <tessera/result.h>

namespace tessera::capnp {

// Limits applied to one message. The defaults follow libcapnp: 64 levels of nesting and a
// budget of eight times the message size (plus a little for tiny messages).
struct ReadLimits {
  static constexpr uint32_t kDefaultNesting = 64;
  uint32_t nesting = kDefaultNesting;
  // 0: 64 * size + 1024 words for the whole message, every reader of it together: a handler may
  // re-read what it was sent dozens of times, while a hostile message still costs the receiver at
  // most a small, linear multiple of its size.
  uint64_t budget_words = 0;

  // No budget: for a reader whose every pointer is followed at most once (the generated flat
  // handlers' parameters), so that the traversal is bounded by the message itself. Nesting still
  // applies.
  static constexpr ReadLimits once() { return ReadLimits{kDefaultNesting, ~uint64_t{0}}; }
};

// Per-message state shared by every reader of that message.
struct ReadContext {
  const Word* segment = nullptr;
  uint32_t size_words = 0;
  uint32_t cap_count = 0;
  uint64_t budget_left = 0;

  // Charges `words` against the traversal budget; false once it is exhausted.
  bool charge(uint64_t words) {
    if (words > budget_left) {
      budget_left = 0;
      return false;
    }
    budget_left -= words;
    return true;
  }

  // The target of the struct or list pointer `pointer` stored at `at` (a word of this segment),
  // `words` long, or nullptr when it is not entirely inside the segment. The start is computed on
  // integers (no pointer is formed outside the segment): a start before the segment wraps to a
  // value larger than the segment, so two comparisons bound it on both sides.
  const Word* resolve(const Word* at, Word pointer, uint64_t words) const {
    const uint64_t start = (reinterpret_cast<uintptr_t>(at + 1) - reinterpret_cast<uintptr_t>(segment)) / sizeof(Word) +
                           static_cast<uint64_t>(static_cast<int64_t>(wire::offset(pointer)));
    if (start > size_words || words > size_words - start) return nullptr;
    return segment + start;
  }
};

class ListReader;

// A view of one struct: its data section (read with the schema defaults XOR'd in) and its
// pointer section. Reads past the end of either section yield the default, as the encoding's
// evolution rules require.
class StructReader {
 public:
  constexpr StructReader() = default;
  StructReader(ReadContext* context, const uint8_t* data, uint32_t data_bytes, const Word* pointers,
               uint16_t pointer_count, uint32_t nesting)
      : context_(context), data_(data), pointers_(pointers), data_bytes_(data_bytes),
        pointer_count_(pointer_count), nesting_(nesting) {}

  // The value at `offset` (in units of sizeof(T)) XOR `mask` (the field's default bits).
  template <typename T>
  T read(uint32_t offset, T mask = T{}) const {
    static_assert(sizeof(T) <= 8 && __is_trivially_copyable(T));
    T value{};
    if ((static_cast<uint64_t>(offset) + 1) * sizeof(T) <= data_bytes_) {
      __builtin_memcpy(&value, data_ + static_cast<uint64_t>(offset) * sizeof(T), sizeof(T));
    }
    return xor_bits(value, mask);
  }
  // The bool at bit `offset` XOR `mask`.
  bool read_bool(uint32_t offset, bool mask = false) const {
    bool bit = false;
    if (offset / 8 < data_bytes_) bit = ((data_[offset / 8] >> (offset % 8)) & 1) != 0;
    return bit != mask;
  }

  // True when pointer `index` is present and non-null.
  bool has_pointer(uint32_t index) const { return index < pointer_count_ && pointers_[index] != 0; }

  // Follows struct pointer `index`. A null or absent pointer yields an empty struct (all defaults).
  Result<StructReader> read_struct(uint32_t index) const;
  // Follows list pointer `index` for a list whose elements hold at least `data_bits` of data
  // and `pointers` pointers each (`data_bits` = 1 demands a bit list). Null yields an empty list.
  Result<ListReader> read_list(uint32_t index, uint32_t data_bits, uint16_t pointers) const;
  // Follows a Text pointer: a NUL-terminated byte list. Null yields `fallback`.
  Result<Text> read_text(uint32_t index, Text fallback = Text{}) const {
    const uint8_t* bytes = nullptr;
    uint32_t count = 0;
    const Error e = byte_list(index, &bytes, &count);
    if (e != Error::Ok) return e;
    // One Text made from either: returned from two places, the compiler would merge the two
    // through the Result's storage, a pointer in pieces.
    const char* data = fallback.data;
    uint32_t size = fallback.size;
    if (bytes != nullptr) {
      if (count == 0 || bytes[count - 1] != 0) return Error::MalformedMessage;
      data = reinterpret_cast<const char*>(bytes);
      size = count - 1;
    }
    return Text(data, size);
  }
  // Follows a Data pointer: a byte list. Null yields `fallback`.
  Result<Data> read_data(uint32_t index, Data fallback = Data{}) const {
    const uint8_t* bytes = nullptr;
    uint32_t count = 0;
    const Error e = byte_list(index, &bytes, &count);
    if (e != Error::Ok) return e;
    if (bytes == nullptr) return fallback;
    return Data{bytes, count};
  }
  // Reads capability pointer `index`; errors if it is null, not a capability or out of the table.
  Result<CapIndex> read_capability(uint32_t index) const;

  uint32_t data_bytes() const { return data_bytes_; }
  uint16_t pointer_count() const { return pointer_count_; }

 private:
  template <typename T>
  static T xor_bits(T value, T mask) {
    if constexpr (sizeof(T) == 1) return __builtin_bit_cast(T, static_cast<uint8_t>(__builtin_bit_cast(uint8_t, value) ^ __builtin_bit_cast(uint8_t, mask)));
    else if constexpr (sizeof(T) == 2) return __builtin_bit_cast(T, static_cast<uint16_t>(__builtin_bit_cast(uint16_t, value) ^ __builtin_bit_cast(uint16_t, mask)));
    else if constexpr (sizeof(T) == 4) return __builtin_bit_cast(T, __builtin_bit_cast(uint32_t, value) ^ __builtin_bit_cast(uint32_t, mask));
    else return __builtin_bit_cast(T, __builtin_bit_cast(uint64_t, value) ^ __builtin_bit_cast(uint64_t, mask));
  }

  // The byte list (Text or Data) pointer `index` points to, into `*bytes` and `*count`, with every
  // check a pointer gets (kind, element size, inside the segment, charged to the budget): Ok, and
  // *bytes left nullptr for a null or absent pointer; MalformedMessage. Inline: the Text and Data
  // fields of every request and reply are read here, without a call or a Result in memory.
  Error byte_list(uint32_t index, const uint8_t** bytes, uint32_t* count) const {
    if (index >= pointer_count_) return Error::Ok;
    const Word* at = pointers_ + index;
    const Word pointer = *at;
    if (pointer == 0) return Error::Ok;
    // A list pointer (kind 1) of bytes (element size 2).
    constexpr Word kKindAndSize = (Word{7} << 32) | 3;
    if ((pointer & kKindAndSize) != ((Word{static_cast<uint8_t>(ElementSize::Byte)} << 32) | 1)) {
      return Error::MalformedMessage;
    }
    const uint32_t n = wire::list_count(pointer);
    const uint64_t words = (static_cast<uint64_t>(n) + 7) / 8;
    const Word* target = context_->resolve(at, pointer, words);
    if (target == nullptr) return Error::MalformedMessage;
    if (!context_->charge(words == 0 ? 1 : words)) return Error::MalformedMessage;
    *bytes = reinterpret_cast<const uint8_t*>(target);
    *count = n;
    return Error::Ok;
  }

  ReadContext* context_ = nullptr;
  const uint8_t* data_ = nullptr;
  const Word* pointers_ = nullptr;
  uint32_t data_bytes_ = 0;
  uint16_t pointer_count_ = 0;
  uint32_t nesting_ = 0;
};

// A view of one list. Element accessors take an index below size(); an index past the end
// yields a default value rather than reading out of bounds.
class ListReader {
 public:
  constexpr ListReader() = default;
  ListReader(ReadContext* context, const uint8_t* elements, uint32_t count, uint64_t step_bits,
             uint32_t element_data_bits, uint16_t element_pointers, uint32_t nesting)
      : context_(context), elements_(elements), count_(count), step_bits_(step_bits),
        element_data_bits_(element_data_bits), element_pointers_(element_pointers),
        nesting_(nesting) {}

  uint32_t size() const { return count_; }

  // Element `i` of a list of primitives (of sizeof(T) bytes each).
  template <typename T>
  T read(uint32_t i) const {
    T value{};
    if (i < count_ && element_data_bits_ >= sizeof(T) * 8) {
      __builtin_memcpy(&value, elements_ + i * (step_bits_ / 8), sizeof(T));
    }
    return value;
  }
  // Element `i` of a bit list.
  bool read_bool(uint32_t i) const {
    if (i >= count_ || step_bits_ != 1) return false;
    return ((elements_[i / 8] >> (i % 8)) & 1) != 0;
  }
  // Element `i` viewed as a struct (struct lists, and pointer lists as one-pointer structs).
  StructReader struct_at(uint32_t i) const;

 private:
  ReadContext* context_ = nullptr;
  const uint8_t* elements_ = nullptr;
  uint32_t count_ = 0;
  uint64_t step_bits_ = 0;
  uint32_t element_data_bits_ = 0;
  uint16_t element_pointers_ = 0;
  uint32_t nesting_ = 0;
};

// Typed list views used by the generated code.
template <typename T>
class PrimitiveList {
 public:
  PrimitiveList() = default;
  explicit PrimitiveList(ListReader raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  T operator[](uint32_t i) const {
    if constexpr (__is_same(T, bool)) return raw_.read_bool(i);
    else return raw_.template read<T>(i);
  }
 private:
  ListReader raw_;
};

template <typename Reader>
class StructList {
 public:
  StructList() = default;
  explicit StructList(ListReader raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  Reader operator[](uint32_t i) const { return Reader(raw_.struct_at(i)); }
 private:
  ListReader raw_;
};

class TextList {
 public:
  TextList() = default;
  explicit TextList(ListReader raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  Result<Text> operator[](uint32_t i) const { return raw_.struct_at(i).read_text(0); }
 private:
  ListReader raw_;
};

class DataList {
 public:
  DataList() = default;
  explicit DataList(ListReader raw) : raw_(raw) {}
  uint32_t size() const { return raw_.size(); }
  Result<Data> operator[](uint32_t i) const { return raw_.struct_at(i).read_data(0); }
 private:
  ListReader raw_;
};

// The entry point for reading one message: a segment of `size_words` words (no stream header)
// and `cap_count` capabilities that arrived with it. Not copyable: readers point into it.
class MessageReader {
 public:
  MessageReader() = default;
  MessageReader(const Word* words, uint32_t size_words, uint32_t cap_count, ReadLimits limits = {}) {
    reset(words, size_words, cap_count, limits);
  }
  MessageReader(const MessageReader&) = delete;
  MessageReader& operator=(const MessageReader&) = delete;

  // Points the reader at a new message and restores the full budget. Views of the previous
  // message must not be used afterwards.
  void reset(const Word* words, uint32_t size_words, uint32_t cap_count, ReadLimits limits = {}) {
    context_.segment = words;
    context_.size_words = words == nullptr ? 0 : size_words;
    context_.cap_count = cap_count;
    context_.budget_left = limits.budget_words != 0 ? limits.budget_words
                                                    : static_cast<uint64_t>(size_words) * 64 + 1024;
    nesting_ = limits.nesting;
  }

  // The root struct. An empty message is TruncatedMessage; a malformed root is MalformedMessage.
  Result<StructReader> root();

  // The root into `*out`, for a struct of `data_words` and `pointer_count` (the schema's layout):
  // Ok or root()'s error. The usual root, a pointer in word 0 to exactly that layout in the words
  // right after it, is read in place with the checks root() makes of it (in the segment, nesting,
  // budget); anything else is root()'s. Always inline (even at -Os, and in a large serve loop) so
  // that the generated dispatchers and stubs fold the layout in.
  __attribute__((always_inline)) Error read_root(uint16_t data_words, uint16_t pointer_count, StructReader* out) {
    if (take_usual_root(wire::make_struct(0, data_words, pointer_count))) {
      *out = struct_of(context_.segment + 1, data_words, pointer_count);
      return Error::Ok;
    }
    return read_any_root(out);
  }
  // Where the root struct is, with read_root's checks and charges, in a value of two registers:
  // an out-of-line caller (a client stub's shared call) returns it, and the inline caller builds
  // the reader with struct_at only where the results are read.
  struct Place {
    const Word* target;  // nullptr: `layout` is the Error
    Word layout;         // a struct pointer word giving the data words and pointers (0: a null root)

    static Place failed(Error e) { return Place{nullptr, static_cast<Word>(e)}; }
    Error error() const { return target == nullptr ? static_cast<Error>(layout) : Error::Ok; }
  };
  // The root, expected as `root` (wire::make_struct(0, data words, pointers) of the schema's
  // layout: the usual root is that word followed by the struct).
  __attribute__((always_inline)) Place place_root(Word root) {
    if (take_usual_root(root)) return Place{context_.segment + 1, root};
    return place_any_root();
  }
  // The reader of a root place_root found (Ok), valid as long as this reader's message.
  __attribute__((always_inline)) StructReader struct_at(const Place& place) {
    return struct_of(place.target, wire::struct_data_words(place.layout), wire::struct_pointer_count(place.layout));
  }

  // read_root as a Result.
  __attribute__((always_inline)) Result<StructReader> root_of(uint16_t data_words, uint16_t pointer_count) {
    StructReader out;
    const Error e = read_root(data_words, pointer_count, &out);
    if (e != Error::Ok) return e;
    return out;
  }

  // The root viewed as the generated struct type T.
  template <typename T>
  Result<typename T::Reader> root_as() {
    return typename T::Reader(TRY(root_of(T::kDataWords, T::kPointerCount)));
  }

  uint64_t budget_left() const { return context_.budget_left; }

 private:
  // Where the root struct of the `size_words` words at `segment` is, with root()'s checks but
  // without charging anything (read_root's general case, out of line): Ok with place->target
  // nullptr for a null root; TruncatedMessage; MalformedMessage.
  struct RootPlace {
    const Word* target;
    uint16_t data_words;
    uint16_t pointer_count;
  };
  static Error locate_root(const Word* segment, uint32_t size_words, uint32_t nesting, RootPlace* place);
  // place_root's general case (out of line): any root, with root()'s checks and charge.
  Place place_any_root();
  // Whether word 0 is `root` (a struct pointer of offset 0) and the struct it names fits in the
  // words right after it, with root()'s other checks (nesting, budget); charged when it is. The
  // usual root of read_root and place_root.
  __attribute__((always_inline)) bool take_usual_root(Word root) {
    const uint64_t words = static_cast<uint64_t>(wire::struct_data_words(root)) + wire::struct_pointer_count(root);
    if (words == 0 || context_.size_words <= words || nesting_ == 0 || context_.budget_left < words ||
        context_.segment[0] != root) {
      return false;
    }
    context_.budget_left -= words;
    return true;
  }
  // The reader of a struct of this message at `target` (one level below the root's parent).
  __attribute__((always_inline)) StructReader struct_of(const Word* target, uint16_t data_words, uint16_t pointer_count) {
    return StructReader(&context_, reinterpret_cast<const uint8_t*>(target), data_words * 8u, target + data_words,
                        pointer_count, nesting_ - 1);
  }
  // Any root, with root()'s checks (read_root's general case and root() itself): locate_root is
  // told the segment by value, so neither this reader's state nor `out` (a dispatcher's params)
  // ever has its address taken and a dispatcher keeps both in registers. The budget and nesting
  // are applied here.
  __attribute__((always_inline)) Error read_any_root(StructReader* out) {
    RootPlace place;
    const Error e = locate_root(context_.segment, context_.size_words, nesting_, &place);
    if (e != Error::Ok) return e;
    if (place.target == nullptr) {
      *out = StructReader(&context_, nullptr, 0, nullptr, 0, nesting_);
      return Error::Ok;
    }
    if (!charge_root(place)) return Error::MalformedMessage;
    *out = struct_of(place.target, place.data_words, place.pointer_count);
    return Error::Ok;
  }
  // Charges the root struct locate_root found (at least one word, as for an empty struct).
  bool charge_root(const RootPlace& place) {
    const uint64_t charged = static_cast<uint64_t>(place.data_words) + place.pointer_count;
    return context_.charge(charged == 0 ? 1 : charged);
  }

  ReadContext context_;
  uint32_t nesting_ = ReadLimits::kDefaultNesting;
};

}  // namespace tessera::capnp
