// Message building: bump allocation in the caller's buffer and pointer encoding.
#include <tessera/capnp/builder.h>

namespace tessera::capnp {
namespace {
// Offset (in words) from the end of the pointer at `at` to `target`.
int32_t offset_to(const Word* at, const Word* target) {
  return static_cast<int32_t>(target - (at + 1));
}
}  // namespace

Word* MessageBuilder::reserve(uint64_t words) {
  if (error_ != Error::Ok) return nullptr;
  if (words > capacity_ - used_) {
    fail(Error::RangeError);
    return nullptr;
  }
  Word* start = buffer_ + used_;
  used_ += static_cast<uint32_t>(words);
  return start;
}

Word* MessageBuilder::allocate(uint64_t words) {
  Word* start = reserve(words);
  if (start != nullptr) {
    for (uint64_t i = 0; i < words; ++i) start[i] = 0;
  }
  return start;
}

Result<uint32_t> MessageBuilder::add_capability(CapRef cap) {
  if (cap_count_ >= cap_capacity_) {
    fail(Error::RangeError);
    return Error::RangeError;
  }
  cap_table_[cap_count_] = cap.cptr;
  return cap_count_++;
}

void MessageBuilder::zero_object(const Word* pointer, uint32_t depth) {
  // Only this builder wrote the message, so pointers lead forward to objects it allocated; the
  // bounds checks and the depth limit guard against a caller's raw() writes all the same.
  constexpr uint32_t kMaxDepth = 64;
  const Word w = *pointer;
  if (w == 0 || depth > kMaxDepth || wire::kind(w) == PointerKind::Far) return;
  if (wire::kind(w) == PointerKind::Other) return;  // a capability: nothing to zero
  Word* target = const_cast<Word*>(pointer) + 1 + wire::offset(w);
  if (wire::kind(w) == PointerKind::Struct) {
    const uint16_t data = wire::struct_data_words(w);
    const uint16_t pointers = wire::struct_pointer_count(w);
    if (!in_message(target, static_cast<uint64_t>(data) + pointers)) return;
    for (uint16_t i = 0; i < pointers; ++i) zero_object(target + data + i, depth + 1);
    zero_words(target, static_cast<uint64_t>(data) + pointers);
    return;
  }
  const ElementSize size = wire::list_element_size(w);
  const uint32_t count = wire::list_count(w);
  if (size == ElementSize::Pointer) {
    if (!in_message(target, count)) return;
    for (uint32_t i = 0; i < count; ++i) zero_object(target + i, depth + 1);
    zero_words(target, count);
  } else if (size == ElementSize::InlineComposite) {
    if (!in_message(target, static_cast<uint64_t>(count) + 1)) return;
    const Word tag = *target;
    const uint16_t data = wire::struct_data_words(tag);
    const uint16_t pointers = wire::struct_pointer_count(tag);
    const uint32_t elements = static_cast<uint32_t>(wire::offset(tag));
    const uint64_t step = static_cast<uint64_t>(data) + pointers;
    if (step * elements > count) return;
    for (uint32_t e = 0; e < elements; ++e) {
      for (uint16_t i = 0; i < pointers; ++i) zero_object(target + 1 + e * step + data + i, depth + 1);
    }
    zero_words(target, static_cast<uint64_t>(count) + 1);
  } else {
    zero_words(target, (static_cast<uint64_t>(count) * wire::element_bits(size) + 63) / 64);
  }
}

void StructBuilder::release(const Word* at) {
  if (*at != 0) message_->zero_object(at);
}

StructBuilder MessageBuilder::init_root(uint16_t data_words, uint16_t pointer_count) {
  // The root pointer and the root struct in one allocation (what allocate(1) and init_struct
  // would lay out, without their generic checks): the hot path of every message.
  const uint32_t words = 1u + data_words + pointer_count;
  used_ = 0;
  cap_count_ = 0;
  error_ = Error::Ok;
  if (words > capacity_) {
    fail(Error::RangeError);
    return {};
  }
  used_ = words;
  Word* root = buffer_;
  // A zero-sized struct points just past itself with offset -1, never all-zero (null): libcapnp.
  root[0] = wire::make_struct(words == 1 ? -1 : 0, data_words, pointer_count);
  for (uint32_t i = 1; i < words; ++i) root[i] = 0;
  return StructBuilder(this, reinterpret_cast<uint8_t*>(root + 1), data_words * 8u, root + 1 + data_words,
                       pointer_count);
}

StructBuilder StructBuilder::init_struct(uint32_t index, uint16_t data_words,
                                         uint16_t pointer_count) {
  Word* at = pointer_slot(index);
  if (at == nullptr) return {};
  release(at);
  Word* target = message_->allocate(static_cast<uint64_t>(data_words) + pointer_count);
  if (target == nullptr) return {};
  // A zero-sized struct points just past itself (offset -1 would be the same as "at"): libcapnp
  // encodes it with offset -1, so the pointer is never all-zero (null).
  const int32_t offset = data_words + pointer_count == 0 ? -1 : offset_to(at, target);
  *at = wire::make_struct(offset, data_words, pointer_count);
  return StructBuilder(message_, reinterpret_cast<uint8_t*>(target), data_words * 8u,
                       target + data_words, pointer_count);
}

ListBuilder StructBuilder::init_list(uint32_t index, ElementSize size, uint32_t count) {
  Word* at = pointer_slot(index);
  if (at == nullptr || size == ElementSize::InlineComposite) return {};
  if (count > wire::kMaxListCount) {
    message_->fail(Error::RangeError);
    return {};
  }
  const uint32_t bits = wire::element_bits(size);
  release(at);
  Word* target = message_->allocate((static_cast<uint64_t>(count) * bits + 63) / 64);
  if (target == nullptr) return {};
  *at = wire::make_list(offset_to(at, target), size, count);
  const bool pointers = size == ElementSize::Pointer;
  return ListBuilder(message_, reinterpret_cast<uint8_t*>(target), count, bits,
                     pointers ? 0 : bits / 8, pointers ? 1 : 0);
}

ListBuilder StructBuilder::init_struct_list(uint32_t index, uint32_t count, uint16_t data_words,
                                            uint16_t pointer_count) {
  Word* at = pointer_slot(index);
  if (at == nullptr) return {};
  const uint64_t per_element = static_cast<uint64_t>(data_words) + pointer_count;
  const uint64_t words = per_element * count;
  if (count > (1u << 30) - 1 || words > wire::kMaxListCount) {
    message_->fail(Error::RangeError);
    return {};
  }
  release(at);
  Word* tag = message_->allocate(words + 1);
  if (tag == nullptr) return {};
  *at = wire::make_list(offset_to(at, tag), ElementSize::InlineComposite,
                        static_cast<uint32_t>(words));
  // The tag is formatted like a struct pointer whose offset field holds the element count.
  *tag = wire::make_struct(static_cast<int32_t>(count), data_words, pointer_count);
  return ListBuilder(message_, reinterpret_cast<uint8_t*>(tag + 1), count,
                     static_cast<uint32_t>(per_element * 64), data_words * 8u, pointer_count);
}


// A byte list of `count` elements holding `size` bytes of `bytes` (Text: count = size + 1, the
// NUL terminator being the zero byte after them).
void StructBuilder::write_bytes(uint32_t index, const void* bytes, uint32_t size, uint32_t count) {
  Word* at = pointer_slot(index);
  if (at == nullptr) return;
  if (count > wire::kMaxListCount) {
    message_->fail(Error::RangeError);
    return;
  }
  release(at);
  Word* target = message_->reserve((static_cast<uint64_t>(count) + 7) / 8);
  if (target == nullptr) return;
  put_bytes(at, target, bytes, size, count);
}

namespace {
template <typename T>
void move_bytes(uint8_t* to, const uint8_t* from) {
  T value;
  __builtin_memcpy(&value, from, sizeof(T));
  __builtin_memcpy(to, &value, sizeof(T));
}

// memcpy for the byte strings of 8 to 64 bytes put_bytes_long gets (shorter ones are put_bytes's,
// inline): whole words, the last one overlapping the one before; reads and writes
// only bytes [0, n) of either side.
void copy_short(uint8_t* to, const uint8_t* from, uint32_t n) {
  for (uint32_t i = 0; i + 8 < n; i += 8) move_bytes<uint64_t>(to + i, from + i);
  move_bytes<uint64_t>(to + n - 8, from + n - 8);
}

// Strings outside copy_short's 8 to 64 bytes go to memcpy, out of line (put_bytes_long then needs
// no registers saved): returns `end`.
[[gnu::noinline]] Word* copy_long(Word* target, const void* bytes, uint32_t size, Word* end) {
  __builtin_memcpy(target, bytes, size);
  return end;
}
}  // namespace

Word* put_bytes_long(Word* at, Word* target, const void* bytes, uint32_t size, uint32_t count) {
  const uint64_t words = (static_cast<uint64_t>(count) + 7) / 8;
  // Only the last word needs zeroing (the padding, and Text's NUL): the bytes cover the rest.
  if (words > 0) target[words - 1] = 0;
  *at = wire::make_list(offset_to(at, target), ElementSize::Byte, count);
  if (size < 8 || size > 64) return copy_long(target, bytes, size, target + words);  // (put_bytes: never < 8)
  copy_short(reinterpret_cast<uint8_t*>(target), static_cast<const uint8_t*>(bytes), size);
  return target + words;
}

void StructBuilder::write_text_general(uint32_t index, Text text) {
  if (text.size >= wire::kMaxListCount) {
    if (pointer_slot(index) != nullptr) message_->fail(Error::RangeError);
    return;
  }
  write_bytes(index, text.data, text.size, text.size + 1);
}

void StructBuilder::write_data_general(uint32_t index, Data data) { write_bytes(index, data.data, data.size, data.size); }

void StructBuilder::write_capability(uint32_t index, CapRef cap) {
  Word* at = pointer_slot(index);
  if (at == nullptr) return;
  release(at);
  const Result<uint32_t> slot = message_->add_capability(cap);
  if (slot.ok()) *at = wire::make_capability(slot.value());
}

void StructBuilder::write_capability_index(uint32_t index, CapIndex cap) {
  Word* at = pointer_slot(index);
  if (at == nullptr) return;
  release(at);
  *at = wire::make_capability(cap.value);
}

void StructBuilder::clear_pointer(uint32_t index) {
  Word* at = pointer_slot(index);
  if (at == nullptr) return;
  release(at);
  *at = 0;
}

StructBuilder ListBuilder::struct_at(uint32_t i) {
  if (i >= count_ || step_bits_ % 8 != 0) return {};
  uint8_t* element = elements_ + static_cast<uint64_t>(step_bits_ / 8) * i;
  return StructBuilder(message_, element, element_data_bytes_,
                       reinterpret_cast<Word*>(element + element_data_bytes_), element_pointers_);
}

}  // namespace tessera::capnp
